#!/usr/bin/env bash
# The loom models (loom-tests/): every interleaving of the runtime's atomic protocols up to
# LOOM_MAX_PREEMPTIONS preemptions. Bounded so the whole run fits comfortably in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-5}"
cargo test --features loom "$@"
