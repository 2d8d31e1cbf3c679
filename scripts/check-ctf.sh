#!/usr/bin/env bash
# The CTF export, read by babeltrace2 (Debian package `babeltrace2`; .ci/run installs it):
# runs the test workload (`ringtrace workload`: threads, nested spans, a DROPPING episode),
# converts its trace with `ringtrace convert --to ctf`, reads the directory with
# `babeltrace2 DIR` (the pretty text sink) and checks that
#   - babeltrace2 exits with status 0 and prints no error;
#   - it prints exactly `written` events (one line each: every record of the trace, loss
#     records included), `2 × spans` of them span edges and `loss_records` loss events;
#   - it reports the discarded events: its "WARNING: Tracer discarded N events between … within
#     stream …" lines add up to exactly `lost_events`, and the stream they name is the flood
#     thread's.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v babeltrace2 >/dev/null; then
    echo "check-ctf: babeltrace2 is not installed (apt-get install -y babeltrace2)" >&2
    exit 1
fi

# The test profile (its output is target/debug too): after `cargo test` this builds nothing.
cargo build -q --profile test -p ringtrace-cli
bin="${CARGO_TARGET_DIR:-target}/debug/ringtrace"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$bin" workload "$out/trace.rtrace" > "$out/expected.json"
"$bin" convert "$out/trace.rtrace" --to ctf -o "$out/ctf"

expect() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$out/expected.json" "$1"; }
written=$(expect written)
spans=$(expect spans)
loss_records=$(expect loss_records)
lost=$(expect lost_events)

fail() {
    echo "check-ctf: FAIL: $*" >&2
    echo "--- babeltrace2 stderr:" >&2
    cat "$out/stderr" >&2 || true
    exit 1
}

status=0
babeltrace2 "$out/ctf" > "$out/stdout" 2> "$out/stderr" || status=$?
[ "$status" -eq 0 ] || fail "babeltrace2 exited with status $status"
if grep -q "ERROR" "$out/stderr"; then
    fail "babeltrace2 reported an error"
fi

lines=$(wc -l < "$out/stdout")
events=$(grep -c '^\[.*\] (.*) ringtrace:' "$out/stdout" || true)
[ "$lines" -eq "$written" ] || fail "babeltrace2 printed $lines lines, expected $written events"
[ "$events" -eq "$written" ] || fail "babeltrace2 printed $events ringtrace events, expected $written"
edges=$(grep -c ' ringtrace:span_\(begin\|end\): ' "$out/stdout" || true)
[ "$edges" -eq $((2 * spans)) ] || fail "$edges span edges, expected $((2 * spans))"
losses=$(grep -c ' ringtrace:loss: ' "$out/stdout" || true)
[ "$losses" -eq "$loss_records" ] || fail "$losses loss events, expected $loss_records"

# WARNING: Tracer discarded 744 events between [T1] and [T2] in trace "" (UUID: …) within
# stream "DIR/stream-2" (stream class ID: 0, stream ID: 2).
grep 'Tracer discarded' "$out/stderr" > "$out/discarded" || fail "babeltrace2 reported no discarded events (expected $lost)"
reported=$(sed -n 's/.*Tracer discarded \([0-9]*\) events.*/\1/p' "$out/discarded" | awk '{ s += $1 } END { print s + 0 }')
[ "$reported" -eq "$lost" ] || fail "babeltrace2 reported $reported discarded events, expected $lost"
stream_ids=$(sed -n 's/.*stream ID: \([0-9]*\)).*/\1/p' "$out/discarded" | sort -u)
for id in $stream_ids; do
    grep -q "{ thread_id = $id, os_tid = [0-9]*, thread_name = \"flood\" }" "$out/stdout" \
        || fail "discarded events reported in stream $id, which is not the flood thread's"
done

echo "check-ctf: ok: babeltrace2 exit 0, $events events ($edges span edges, $losses loss), discarded events reported: $reported (stream ID $stream_ids: flood)"
sed 's/^/check-ctf:   /' "$out/discarded"
