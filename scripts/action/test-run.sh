#!/usr/bin/env bash
# Offline tests of scripts/action/run.sh against a stub mlcanary: inputs become an argument vector
# without evaluation or globbing, bad inputs exit 2 before the binary runs, the exit code is
# mlcanary's, and `exec` makes the signalled process mlcanary itself (cancellation reaches it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
run_sh="$here/run.sh"
tmp_prefix=test-run
# shellcheck source-path=SCRIPTDIR source=../../scripts/test-lib.sh disable=SC2034
. "$here/../../scripts/test-lib.sh"

# The stub records its pid, argv (one per line) and MLCANARY_CONFIG; on SIGTERM it records that.
cat >"$tmp/mlcanary" <<'EOF'
#!/usr/bin/env bash
echo "$$" >"$STUB_DIR/pid"
printf '%s\n' "$@" >"$STUB_DIR/argv"
printf '%s\n' "${MLCANARY_CONFIG-<unset>}" >"$STUB_DIR/config"
printf '%s\n' "${MLCANARY_REPORT-<unset>}" >"$STUB_DIR/report"
if [[ -n "${STUB_WAIT:-}" ]]; then
	trap 'echo TERM >"$STUB_DIR/signal"; exit 130' TERM
	touch "$STUB_DIR/ready"
	for _ in $(seq 1 600); do sleep 0.1; done
	exit 99
fi
exit "${STUB_EXIT:-0}"
EOF
chmod 755 "$tmp/mlcanary"

# run_action [VAR=value...]: runs run.sh with a clean environment. Sets $rc; argv in $tmp/argv.
run_action() {
	rm -f "$tmp/argv" "$tmp/pid" "$tmp/config"
	set +e
	(cd "$tmp" && env -i PATH="$PATH" STUB_DIR="$tmp" MLCANARY_BIN="$tmp/mlcanary" "$@" "$BASH" "$run_sh" >"$tmp/out" 2>"$tmp/err")
	rc=$?
	set -e
}
argv_is() { [[ -f "$tmp/argv" && "$(cat "$tmp/argv")" == "$(printf '%s\n' "$@")" ]]; }

t="default command is run, no extra flags, config left to the binary"
run_action
if [[ $rc -eq 0 ]] && argv_is run && [[ "$(cat "$tmp/config")" == "<unset>" ]]; then ok "$t"; else not_ok "$t"; fi

t="config input is exported as MLCANARY_CONFIG, dry-run adds --dry-run, args split on blanks"
run_action ACTION_INPUT_COMMAND=run ACTION_INPUT_CONFIG="deploy/canary.yaml" ACTION_INPUT_DRY_RUN=true \
	ACTION_INPUT_ARGS=$'--junit  out.xml\t-v'
if [[ $rc -eq 0 ]] && argv_is run --dry-run --junit out.xml -v &&
	[[ "$(cat "$tmp/config")" == "deploy/canary.yaml" ]]; then ok "$t"; else not_ok "$t"; fi

t="run writes the decision record by default (RUNNER_TEMP), an explicit path, or none"
run_action RUNNER_TEMP=/runner/tmp
r1="$(cat "$tmp/report")"
run_action ACTION_INPUT_REPORT=out/r.json MLCANARY_REPORT=ignored.json
r2="$(cat "$tmp/report")"
run_action ACTION_INPUT_REPORT=none MLCANARY_REPORT=ignored.json
r3="$(cat "$tmp/report")"
run_action ACTION_INPUT_COMMAND=status RUNNER_TEMP=/runner/tmp
r4="$(cat "$tmp/report")"
if [[ "$r1" == /runner/tmp/mlcanary-report.json && "$r2" == out/r.json && "$r3" == "<unset>" && "$r4" == "<unset>" ]]; then
	ok "$t"
else not_ok "$t ($r1 | $r2 | $r3 | $r4)"; fi

t="empty config input keeps an existing MLCANARY_CONFIG"
run_action ACTION_INPUT_COMMAND=validate MLCANARY_CONFIG=from-env.yaml
if [[ $rc -eq 0 ]] && argv_is validate && [[ "$(cat "$tmp/config")" == "from-env.yaml" ]]; then ok "$t"; else not_ok "$t"; fi

t="args are never evaluated or globbed"
touch "$tmp/some-file"
# shellcheck disable=SC2016 # the $( ) is the payload and must stay literal
run_action ACTION_INPUT_ARGS='$(touch pwned) `touch pwned2` * ;rm'
# shellcheck disable=SC2016 # literal payloads expected back unchanged
if [[ $rc -eq 0 && ! -e "$tmp/pwned" && ! -e "$tmp/pwned2" ]] &&
	argv_is run '$(touch' 'pwned)' '`touch' 'pwned2`' '*' ';rm'; then ok "$t"; else not_ok "$t"; fi

t="multi-line args: one argument per line, spaces kept, blank lines dropped"
run_action ACTION_INPUT_COMMAND=render ACTION_INPUT_ARGS=$'--set\n  name=fraud detector v2  \n\n--output\r\nout dir/\n'
if [[ $rc -eq 0 ]] && argv_is render --set 'name=fraud detector v2' --output 'out dir/'; then ok "$t"; else not_ok "$t"; fi

t="unknown command exits 2 without running the binary"
run_action ACTION_INPUT_COMMAND='run; id'
if [[ $rc -eq 2 && ! -f "$tmp/argv" ]] && grep -q "input 'command'" "$tmp/err"; then ok "$t"; else not_ok "$t"; fi

t="dry-run with a command other than run exits 2"
run_action ACTION_INPUT_COMMAND=promote ACTION_INPUT_DRY_RUN=true
if [[ $rc -eq 2 && ! -f "$tmp/argv" ]]; then ok "$t"; else not_ok "$t"; fi

t="dry-run must be true or false"
run_action ACTION_INPUT_DRY_RUN=yes
if [[ $rc -eq 2 && ! -f "$tmp/argv" ]]; then ok "$t"; else not_ok "$t"; fi

t="missing binary path exits non-zero with a message"
run_action MLCANARY_BIN="$tmp/does-not-exist"
if [[ $rc -eq 2 ]] && grep -q "not an executable" "$tmp/err"; then ok "$t"; else not_ok "$t"; fi

t="mlcanary's exit codes pass through (1 rolled back, 4 inconclusive)"
run_action STUB_EXIT=1
rc1=$rc
run_action STUB_EXIT=4
if [[ $rc1 -eq 1 && $rc -eq 4 ]]; then ok "$t"; else not_ok "$t"; fi

t="exec: the process the runner signals is mlcanary itself (same pid, SIGTERM received)"
rm -f "$tmp/ready" "$tmp/signal" "$tmp/pid"
(cd "$tmp" && exec env -i PATH="$PATH" STUB_DIR="$tmp" STUB_WAIT=1 MLCANARY_BIN="$tmp/mlcanary" "$BASH" "$run_sh" >"$tmp/out" 2>"$tmp/err") &
child=$!
for _ in $(seq 1 100); do
	[[ -e "$tmp/ready" ]] && break
	sleep 0.1
done
kill -TERM "$child" 2>/dev/null || true
set +e
wait "$child"
rc=$?
set -e
if [[ -e "$tmp/ready" && "$(cat "$tmp/pid")" == "$child" && "$(cat "$tmp/signal" 2>/dev/null)" == TERM && $rc -eq 130 ]]; then
	ok "$t"
else not_ok "$t"; fi

printf '%d passed, %d failed\n' "$passed" "$failed"
[[ $failed -eq 0 ]]
