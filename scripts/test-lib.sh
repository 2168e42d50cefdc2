# shellcheck shell=bash
# Shared by the offline shell test scripts: a temp dir removed on exit, and ok/not_ok counters
# closed by `finish` with the plain "N passed, N failed" line CI reads.
# Usage: tmp_prefix=name; . "$(dirname "${BASH_SOURCE[0]}")/../../scripts/test-lib.sh"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/mlcanary-${tmp_prefix:-test}.XXXXXX")"
trap 'rm -rf -- "$tmp"' EXIT

passed=0
failed=0
ok() {
	passed=$((passed + 1))
	printf 'ok   %s\n' "$1"
}
not_ok() {
	failed=$((failed + 1))
	printf 'FAIL %s\n' "$1"
	[[ -f "$tmp/err" ]] && sed 's/^/     stderr: /' "$tmp/err"
	return 0
}
