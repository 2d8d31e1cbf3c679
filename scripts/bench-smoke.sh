#!/usr/bin/env bash
# The benchmark commands work as documented (CI runs this): the quick runs of the peers,
# latency and drain harnesses finish, print one JSON object each, and every row has its
# figures. The figures themselves are not checked: timing belongs in benchmarks, not tests.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for bin in peers latency drain; do
    start=$SECONDS
    cargo run --release -q -p ringtrace-benches --bin "$bin" -- --quick --json >"$out/$bin.json" 2>"$out/$bin.err" || {
        cat "$out/$bin.err" >&2
        echo "bench-smoke: $bin --quick failed" >&2
        exit 1
    }
    echo "bench-smoke: $bin --quick: $((SECONDS - start)) s"
done
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
load = lambda n: json.loads(open(f"{d}/{n}.json").read().strip().splitlines()[-1])
bad = []
peers = load("peers")["peers"]
for name, row in peers.items():
    if row.get("status") != "ok" or not isinstance(row.get("p50_ns"), int):
        bad.append(f"peers/{name}: {row.get('status')}")
for name in ("ringtrace", "tracing_appender_lossy", "slog_async", "spdlog_async", "ftlog", "fast_log", "rtrb", "tsc_read"):
    if name not in peers:
        bad.append(f"peers: no {name} row")
rows = load("latency")["rows"]
for name in ("tsc_read", "threads_1", "threads_4", "threads_16", "threads_64"):
    if not isinstance(rows.get(name, {}).get("p50_ns"), int):
        bad.append(f"latency: no figures for {name}")
drain = load("drain")
for key in ("throughput_binary", "throughput_null", "throughput_json", "wake_latency", "idle"):
    if key not in drain:
        bad.append(f"drain: no {key}")
if bad:
    sys.exit("bench-smoke: " + "; ".join(bad))
print(f"bench-smoke: {len(peers)} peers rows, {len(rows)} latency rows, drain complete")
PY
