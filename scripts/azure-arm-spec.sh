#!/usr/bin/env bash
# Builds ${CARGO_TARGET_DIR:-target}/azure-spec/arm-2025-12-01.json: the ARM request-body definitions
# (properties, read-only flags, required keys) of Microsoft.MachineLearningServices, taken from the
# models azure-ai-ml generates from the REST specification (pinned with its hash in
# scripts/requirements/azure-spec.lock). tests/support/azure validates every body it receives
# against it. Idempotent: nothing is downloaded when the file is there for the same lock.
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir="${CARGO_TARGET_DIR:-target}/azure-spec"
out="$out_dir/arm-2025-12-01.json"
lock=scripts/requirements/azure-spec.lock
sum="$(cat "$lock" scripts/azure_arm_schema.py | sha256sum)"
sum="${sum%% *}"
if [ -s "$out" ] && [ "$(cat "$out_dir/.stamp" 2>/dev/null || true)" = "$sum" ]; then
    echo "azure-arm-spec: $out is up to date"
    exit 0
fi
mkdir -p "$out_dir/wheels"
# pip of the test virtualenv (scripts/test-venv.sh) when there is one, else the system's.
py="${MLCANARY_TEST_VENV:-${CARGO_TARGET_DIR:-target}/test-venv}/bin/python"
[ -x "$py" ] || py=python3
if ! "$py" -m pip --version >/dev/null 2>&1; then
    # No pip at hand (a fresh machine without the test virtualenv): a small venv of our own.
    if ! python3 -m venv "$out_dir/venv" 2>/dev/null; then
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
        python3 -m venv "$out_dir/venv"
    fi
    py="$out_dir/venv/bin/python"
fi
"$py" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$lock" -d "$out_dir/wheels"
wheel=("$out_dir"/wheels/azure_ai_ml-*.whl)
python3 scripts/azure_arm_schema.py "${wheel[0]}" "$out.tmp"
mv "$out.tmp" "$out"
printf '%s\n' "$sum" > "$out_dir/.stamp"
echo "azure-arm-spec: ready ($out)"
