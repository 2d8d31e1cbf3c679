#!/usr/bin/env bash
# Runs the criterion benchmark of `tracing::info!` through ringtrace and its peers
# (benches/benches/tracing.rs) N times (default 3) and prints the medians of criterion's
# per-benchmark medians. Raw results go to benches/results/DATE/tracing-runN.json.
#
#   scripts/bench-tracing.sh [N]
#
# scripts/bench.sh runs the same benchmark as part of its criterion stage; this script is for
# measuring the integration alone. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
out="benches/results/$(date -u +%Y-%m-%d)"
mkdir -p "$out"
cargo bench -q -p ringtrace-benches --bench tracing --no-run
for i in $(seq 1 "$runs"); do
    echo "== run $i of $runs"
    rm -rf target/criterion
    cargo bench -q -p ringtrace-benches --bench tracing >"$out/tracing-run$i.log" 2>&1
    python3 scripts/bench-medians.py --criterion target/criterion >"$out/tracing-run$i.json"
done
python3 - "$out" "$runs" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
runs = [json.load(open(f"{d}/tracing-run{i}.json")) for i in range(1, n + 1)]
print(f"Medians of {n} runs of criterion's per-benchmark median (ns per call).\n")
print("| tracing_info_3_fields | ns per call |")
print("|---|--:|")
for k in sorted(runs[0]):
    print(f"| {k.split('/')[-1]} | {statistics.median(r[k]['median_ns'] for r in runs):.1f} |")
PY
