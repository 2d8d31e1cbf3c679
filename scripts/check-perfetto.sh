#!/usr/bin/env bash
# The trace-event JSON export, read by an independent parser: runs the test workload
# (`ringtrace workload`: threads, nested spans, a DROPPING episode), converts its trace with
# `ringtrace convert --to perfetto`, and has the Chrome DevTools trace engine
# (@paulirish/trace_engine, installed by `npm ci --prefix scripts`) check thread names, the
# number of slices, their nesting, the instants and the loss marker (scripts/check-perfetto.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d scripts/node_modules/@paulirish/trace_engine ]; then
    echo "check-perfetto: the trace engine is not installed; run: npm ci --prefix scripts" >&2
    exit 1
fi

# The test profile (its output is target/debug too): after `cargo test` this builds nothing.
cargo build -q --profile test -p ringtrace-cli
bin="${CARGO_TARGET_DIR:-target}/debug/ringtrace"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$bin" workload "$out/trace.rtrace" > "$out/expected.json"
"$bin" convert "$out/trace.rtrace" --to perfetto -o "$out/trace.json"
node scripts/check-perfetto.mjs "$out/trace.json" "$out/expected.json"
