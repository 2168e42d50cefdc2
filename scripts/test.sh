#!/usr/bin/env bash
# The test command (README): installs what the tests need (real Prometheus, kubectl, openssl, shellcheck) on a
# fresh Debian machine, then runs every test: unit, integration, end-to-end, doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/check-pipes.sh
bash scripts/test-deps.sh
# Python packages the tests run (real model servers, the Azure SDK's models, linters), in a virtualenv.
bash scripts/test-venv.sh
export MLCANARY_TEST_VENV="${MLCANARY_TEST_VENV:-$PWD/${CARGO_TARGET_DIR:-target}/test-venv}"
# The Azure REST models the Azure fake checks every request body against.
bash scripts/azure-arm-spec.sh
# Packaging scripts (action install, run wrapper, GitLab template) are tested offline too.
bash scripts/action/test-install.sh
bash scripts/action/test-run.sh
bash ci/gitlab/test-template.sh
# GitHub Actions security lint (zizmor) of action.yml, the workflows and the docs' workflow snippets.
bash scripts/lint-actions.sh
cargo test --all-targets "$@"
cargo test --doc
