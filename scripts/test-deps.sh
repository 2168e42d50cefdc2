#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, idempotently.
# Called by .ci/run before `cargo test`. Safe to run again: it only touches apt when a tool is missing.
#
# - prometheus + promtool (Debian package `prometheus`): a REAL Prometheus server for the metrics
#   provider tests (tests/prometheus_*.rs start their own instance on a free port; the service the
#   package may start on :9090 is neither relied on nor stopped).
# - kubectl: a real client the Kubernetes API test server is checked against (in the machine image;
#   from apt otherwise).
# - openssl: the Azure tests make a throw-away CA for their HTTPS token endpoint.
# - shellcheck: actionlint (scripts/lint-actions.sh) checks every `run:` script of the workflows and
#   the docs' workflow snippets with it.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
# Debian's `prometheus` package ships both the server and promtool.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    missing+=(prometheus)
fi

command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
if ! command -v kubectl >/dev/null 2>&1; then
    if apt-cache show kubectl >/dev/null 2>&1; then missing+=(kubectl); else missing+=(kubernetes-client); fi
fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "test-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PyYAML for the GitLab template test (it reads the job script out of the YAML).
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
    echo "test-deps: installing PyYAML" >&2
    python3 -m pip install --quiet pyyaml
fi

# Print the versions without a pipe: `cmd | head -n 1` under pipefail fails with 141 whenever head exits
# before cmd finishes writing (kubectl gets SIGPIPE in about one run of four).
first_line() { local out; out="$("$@" 2>&1)" || true; printf '%s\n' "${out%%$'\n'*}"; }
first_line prometheus --version
first_line kubectl version --client
first_line shellcheck --version
