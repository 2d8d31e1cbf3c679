#!/usr/bin/env bash
# The loom models (loom-tests/): every interleaving of the runtime's atomic protocols up to
# LOOM_MAX_PREEMPTIONS preemptions (the models of the real compositions cap themselves at 2,
# see docs/testing.md), and the weakened runs that show each model can fail
# (loom-tests/tests/weakened.rs). Bounded so the whole run fits comfortably in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
# Only the runtime and the models: the other members (CLI, benchmarks and their peer crates)
# have nothing loom-specific and would only be compiled again with loom's feature set.
cargo test --features loom -p ringtrace -p ringtrace-loom-tests "$@"
