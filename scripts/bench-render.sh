#!/usr/bin/env bash
# Render speed and memory for every shipped example with the release binary:
# mean wall time per `render` over N runs, and the peak RSS of one run (/usr/bin/time -v).
# Usage: bash scripts/bench-render.sh [N]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-200}"
cargo build --release -q
bin=target/release/mlcanary
printf '%-34s %10s %12s %12s\n' example "out bytes" "ms/render" "peak RSS KiB"
for f in examples/*.yaml; do
    bytes=$("$bin" render -c "$f" | wc -c)
    start=$(date +%s%N)
    for _ in $(seq "$n"); do "$bin" render -c "$f" >/dev/null; done
    end=$(date +%s%N)
    ms=$(awk -v a="$start" -v b="$end" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n / 1e6 }')
    rss=$( { /usr/bin/time -v "$bin" render -c "$f" >/dev/null; } 2>&1 | awk -F: '/Maximum resident/ { gsub(/ /, "", $2); print $2 }')
    printf '%-34s %10s %12s %12s\n' "$f" "$bytes" "$ms" "$rss"
done
printf '\nstripped release binary: %s bytes\n' "$(stat -c %s "$bin")"
