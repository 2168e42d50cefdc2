#!/usr/bin/env bash
# Creates (or refreshes) the Python virtualenv the tests use, under the build directory:
#   ${CARGO_TARGET_DIR:-target}/test-venv
# from every requirements file in scripts/requirements/ (one file per test area, so areas never collide).
# Idempotent: pip runs again only when a requirements file changed (a stamp holds their checksum).
# Tests find the venv through MLCANARY_TEST_VENV (exported by scripts/test.sh) or this default path.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${MLCANARY_TEST_VENV:-${CARGO_TARGET_DIR:-target}/test-venv}"
shopt -s nullglob
reqs=(scripts/requirements/*.txt)
if [ "${#reqs[@]}" -eq 0 ]; then
    echo "test-venv: no requirements files"
    exit 0
fi
sum="$(cat "${reqs[@]}" | sha256sum)"
sum="${sum%% *}"
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null || true)" = "$sum" ]; then
    echo "test-venv: $venv is up to date"
    exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
        echo "test-venv: installing python3-venv" >&2
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
fi
args=()
for r in "${reqs[@]}"; do args+=(-r "$r"); done
echo "test-venv: installing ${reqs[*]} into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}"
printf '%s\n' "$sum" > "$venv/.requirements.sha256"
echo "test-venv: ready ($venv)"
