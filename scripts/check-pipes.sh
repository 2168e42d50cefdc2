#!/usr/bin/env bash
# Fails when a test entry point pipes a command into a reader that may exit early (`| head`, `| grep -q`,
# `| grep -m`, `| sed ...q`). Under `set -o pipefail` the writer then dies of SIGPIPE and the script exits
# 141 at random (issue 9: `kubectl version --client | head -n 1` failed about one run in four).
set -euo pipefail
cd "$(dirname "$0")/.."
files=(.ci/run scripts/*.sh scripts/action/*.sh ci/gitlab/*.sh)
bad=0
for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    # Comments are not code.
    if out="$(grep -nE '^[^#]*\|[[:space:]]*(head|grep[[:space:]]+(-[a-zA-Z]*[qm])|sed[^|]*q[[:space:]]*$)' "$f")"; then
        printf '%s\n' "$out" | sed "s|^|$f:|" >&2
        bad=1
    fi
done
if [ "$bad" -ne 0 ]; then
    echo "check-pipes: a pipe into a reader that exits early fails with SIGPIPE under pipefail; read the whole output instead" >&2
    exit 1
fi
echo "check-pipes: no early-exit pipes in ${#files[@]} entry points"
