#!/usr/bin/env bash
# Shows that the loom models can catch a bug: builds the runtime with the ring's publishing
# store weakened from Release to Relaxed (cfg ringtrace_weaken_ring_publish, see ring.rs) and
# runs the ring model, which must FAIL (loom reports the unsynchronised read of ring bytes).
# Exits 0 when the model fails as expected, 1 if the weakened build passes.
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-5}"
log=$(mktemp)
if RUSTFLAGS="--cfg ringtrace_weaken_ring_publish" CARGO_TARGET_DIR=target/loom-weakened \
    cargo test -p ringtrace-loom-tests --features loom --test models ring_publish_consume_with_wraparound >"$log" 2>&1; then
    cat "$log"
    echo "loom-weakened: FAIL — the model passed with a Relaxed publish; it should have caught it" >&2
    exit 1
fi
if ! grep -qE "Causality violation|data race" "$log"; then
    cat "$log"
    echo "loom-weakened: FAIL — the weakened build failed for another reason" >&2
    exit 1
fi
grep -E -m1 "Causality violation|data race" "$log" | sed 's/^/loom-weakened: model failed as expected: /'
rm -f "$log"
