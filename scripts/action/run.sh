#!/usr/bin/env bash
# Run mlcanary for the GitHub Action (action.yml, last step).
#
# Why this script exists: the action inputs arrive here only through environment variables (never
# `${{ }}` pasted into shell code, which would let an input inject commands), are checked, and turned
# into an argument vector without eval or globbing. The script then `exec`s the binary, so the
# process the runner signals on cancellation (SIGINT, then SIGTERM) IS mlcanary, and the rollout's
# onCancel policy (roll back by default) runs before the job ends.
#
# Environment:
#   MLCANARY_BIN           the binary (from scripts/action/install.sh)
#   ACTION_INPUT_COMMAND   validate | plan | render | run | promote | rollback | status
#   ACTION_INPUT_CONFIG    config file; empty keeps $MLCANARY_CONFIG or the binary's default mlcanary.yaml
#   ACTION_INPUT_DRY_RUN   "true" adds --dry-run (command run only); "false" or empty does not
#   ACTION_INPUT_REPORT    command run: where to write the JSON decision record; empty keeps
#                          $MLCANARY_REPORT, else $RUNNER_TEMP/mlcanary-report.json; "none": no record
#   ACTION_INPUT_ARGS      extra arguments. One line: split on spaces/tabs. Several lines: one argument
#                          per line (so an argument may contain spaces). Quotes are NOT interpreted.
# Exit 2 (usage) on a bad input, as mlcanary itself does; otherwise mlcanary's own exit code.
set -euo pipefail

usage_error() {
	printf '::error title=mlcanary::%s\n' "$*" >&2
	exit 2
}

: "${MLCANARY_BIN:?MLCANARY_BIN is not set: the install step did not run}"
[[ -x "$MLCANARY_BIN" ]] || usage_error "MLCANARY_BIN '$MLCANARY_BIN' is not an executable file"

command="${ACTION_INPUT_COMMAND:-run}"
case "$command" in
validate | plan | render | run | promote | rollback | status) ;;
*) usage_error "input 'command' is '$command'; expected validate, plan, render, run, promote, rollback or status" ;;
esac

argv=("$command")

case "${ACTION_INPUT_DRY_RUN:-false}" in
true)
	[[ "$command" == run ]] || usage_error "input 'dry-run' applies to command 'run' only (command is '$command')"
	argv+=(--dry-run)
	;;
false | "") ;;
*) usage_error "input 'dry-run' is '${ACTION_INPUT_DRY_RUN}'; expected true or false" ;;
esac

if [[ -n "${ACTION_INPUT_CONFIG:-}" ]]; then
	# Through the binary's env fallback rather than a flag, so `-c FILE` in args still wins.
	export MLCANARY_CONFIG="$ACTION_INPUT_CONFIG"
fi

if [[ "$command" == run ]]; then
	case "${ACTION_INPUT_REPORT:-}" in
	none) unset MLCANARY_REPORT ;;
	"") export MLCANARY_REPORT="${MLCANARY_REPORT:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/mlcanary-report.json}" ;;
	*) export MLCANARY_REPORT="$ACTION_INPUT_REPORT" ;;
	esac
fi

extra="${ACTION_INPUT_ARGS:-}"
if [[ "$extra" == *$'\n'* ]]; then
	while IFS= read -r line || [[ -n "$line" ]]; do
		line="${line%$'\r'}"
		# trim surrounding blanks (YAML block scalars keep indentation-free lines, but be lenient)
		line="${line#"${line%%[![:blank:]]*}"}"
		line="${line%"${line##*[![:blank:]]}"}"
		[[ -n "$line" ]] && argv+=("$line")
	done <<<"$extra"
elif [[ -n "$extra" ]]; then
	IFS=$' \t' read -r -a words <<<"$extra"
	# ${a[@]+...}: an empty array is "unbound" under set -u in bash 3.2 (macOS)
	argv+=(${words[@]+"${words[@]}"})
fi

printf 'mlcanary:'
printf ' %q' "${argv[@]}"
printf ' (config: %s)\n' "${MLCANARY_CONFIG:-mlcanary.yaml}"
exec "$MLCANARY_BIN" "${argv[@]}"
