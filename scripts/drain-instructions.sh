#!/usr/bin/env bash
# Instructions per event on the drain thread (callgrind), for the text and JSON FmtSink, the
# NullSink and the BinarySink: benches/examples/drainfmt.rs records N and 2N events under
# Policy::Block from one producer; per event = (Ir at 2N − Ir at N) / N, which cancels start-up
# and shutdown. Prints, per mode, the median over RUNS runs of the drain thread's total and of
# the sink's write_batch (inclusive), and every run's figures.
#
#   scripts/drain-instructions.sh [MODE...]        # modes: text json null binary (default: text json)
#   N=200000 RUNS=3 scripts/drain-instructions.sh text
set -euo pipefail
cd "$(dirname "$0")/.."
modes=("$@")
[ ${#modes[@]} -eq 0 ] && modes=(text json)
n="${N:-200000}"
runs="${RUNS:-3}"
cargo build --release -q -p ringtrace-benches --example drainfmt
bin=target/release/examples/drainfmt
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Prints "DRAIN_TOTAL WRITE_BATCH" for the callgrind output files $1-NN (one per thread).
drain_counts() {
    python3 - "$1" <<'EOF'
import glob, re, subprocess, sys
best = None
for f in sorted(glob.glob(sys.argv[1] + "-*")):
    text = open(f, errors="replace").read()
    if "Drain::pass" not in text:
        continue
    total = int(re.search(r"^totals: (\d+)", text, re.M).group(1))
    if best is None or total > best[0]:
        best = (total, f)
if best is None:
    sys.exit("no drain thread in " + sys.argv[1])
ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", best[1]],
                     capture_output=True, text=True).stdout
wb = 0
for line in ann.splitlines():
    if "as ringtrace::output::sink::Sink>::write_batch" in line or "as ringtrace::sink::Sink>::write_batch" in line:
        wb = max(wb, int(line.split()[0].replace(",", "")))
print(best[0], wb)
EOF
}

for mode in "${modes[@]}"; do
    per_total=()
    per_sink=()
    for r in $(seq 1 "$runs"); do
        for k in 1 2; do
            valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg.$mode.$r.$k" \
                "$bin" "$mode" $((n * k)) >/dev/null 2>&1
        done
        read -r t1 s1 < <(drain_counts "$out/cg.$mode.$r.1")
        read -r t2 s2 < <(drain_counts "$out/cg.$mode.$r.2")
        per_total+=("$(( (t2 - t1) / n ))")
        per_sink+=("$(( (s2 - s1) / n ))")
    done
    median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    echo "$mode: drain thread $(median "${per_total[@]}") instructions/event, write_batch $(median "${per_sink[@]}") (N=$n; runs: drain ${per_total[*]}; write_batch ${per_sink[*]})"
done
