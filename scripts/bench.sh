#!/usr/bin/env bash
# Runs every benchmark N times (default 3) on this machine and writes the raw results and
# their medians (the tables of docs/benchmarks.md) to benches/results/DATE/.
#
#   scripts/bench.sh [N]
#
# Each run: the side-by-side peers run, the 1/4/16/64-thread latency harness, the drain
# benchmark (each with --json) and the criterion micro-benchmarks. About 8 minutes per run on
# a 2-vCPU machine. Run it on an otherwise idle machine: every figure is a median, but a
# compile beside it still moves the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
out="benches/results/$(date -u +%Y-%m-%d)"
mkdir -p "$out"
cargo build --release -q -p ringtrace-benches --bins
cargo bench -q -p ringtrace-benches --no-run
for i in $(seq 1 "$runs"); do
    echo "== run $i of $runs"
    cargo run --release -q -p ringtrace-benches --bin peers -- --json >"$out/peers-run$i.json"
    cargo run --release -q -p ringtrace-benches --bin latency -- --json >"$out/latency-run$i.json"
    cargo run --release -q -p ringtrace-benches --bin drain -- --json >"$out/drain-run$i.json"
    rm -rf target/criterion
    cargo bench -q -p ringtrace-benches --bench record --bench tracing >"$out/criterion-run$i.log" 2>&1
    python3 scripts/bench-medians.py --criterion target/criterion >"$out/criterion-run$i.json"
done
python3 scripts/bench-medians.py "$out" | tee "$out/medians.md"
