#!/usr/bin/env bash
# Shows that the loom models can catch bugs: loom-tests/tests/weakened.rs runs each model with
# one deliberate bug switched on (a weakened ordering or a removed step, `Mutation` in
# crates/ringtrace/src/sync/mod.rs) in a child process, and passes only if every such model FAILS.
# scripts/loom.sh runs these checks too; this runs them alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
cargo test -p ringtrace-loom-tests --features loom --test weakened -- --nocapture "$@" 2>&1 | grep -E "caught \(|test result|FAILED|passed with"
