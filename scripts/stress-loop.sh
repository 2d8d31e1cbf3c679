#!/usr/bin/env bash
# Runs the stress tests (crates/ringtrace/tests/stress.rs) N times in a row (default 20) and
# stops at the first failure. Usage: scripts/stress-loop.sh [N] [extra cargo args, e.g. --release]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20}"
shift || true
cargo test -q -p ringtrace --test stress "$@" --no-run
for i in $(seq 1 "$n"); do
    start=$(date +%s)
    if ! out=$(cargo test -q -p ringtrace --test stress "$@" 2>&1); then
        echo "$out"
        echo "stress-loop: run $i of $n FAILED" >&2
        exit 1
    fi
    echo "stress-loop: run $i of $n passed ($(( $(date +%s) - start )) s)"
done
echo "stress-loop: $n of $n runs passed"
