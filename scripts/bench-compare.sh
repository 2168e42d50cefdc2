#!/usr/bin/env bash
# Time of the prediction comparison phase for 1,000 requests against a local MLServer pair (two
# MLServer 1.7.1 processes serving scikit-learn pipelines, see tests/support/mlserver): the
# release `mlcanary run` on the Kubernetes test API server, unthrottled rate, N in flight per
# version (default 8; BENCH_CONCURRENCY=4 bash scripts/bench-compare.sh to change it).
# Needs the test virtualenv: bash scripts/test-venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-venv.sh >/dev/null
cargo test --release -q --test e2e -- --ignored --nocapture compare_mlserver::bench_compare_1000_requests
