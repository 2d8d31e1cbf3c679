#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints (also with loom's types), tests,
# doctests, and the loom models.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage says when it starts (seconds since the suite started), so a slow stage shows.
stage() { echo "== [${SECONDS} s] $*"; }

stage "cargo fmt --check"
cargo fmt --all --check

stage "the runtime crate's layers: no upward import, no import circle (scripts/check-layers.py)"
python3 scripts/check-layers.py

stage "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p ringtrace -p ringtrace-loom-tests --all-targets --features loom -- -D warnings

stage "cargo doc (broken links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q

stage "no async runtime in the dependency tree"
scripts/check-no-async.sh

stage "cross-platform: cargo check for Linux aarch64, macOS (x86_64, aarch64), Windows x86_64"
# Only `cargo check` (no linker or SDK for these targets here), of the libraries and binaries:
# the tests and the benches use Linux-only APIs (ringtrace-benches is Linux-only, see
# docs/platforms.md). Each target adds about a minute the first time, seconds after.
scripts/check-targets.sh

stage "cargo test"
# ringtrace-benches has no tests; excluding it keeps the peer crates (tracing-subscriber, slog,
# spdlog, ...) from being compiled a third time in the test profile. Clippy checks its code and
# the bench stage below builds and runs it.
cargo test --workspace --exclude ringtrace-benches

stage "the runtime's tests with the portable clock (Instant, what every non-x86_64 machine uses)"
# --lib --tests: the doctests do not depend on the clock and already ran above.
cargo test -p ringtrace --features portable-clock --lib --tests

stage "sinks against real peers: a PostgreSQL server, an OTLP receiver decoding with opentelemetry-proto"
# These tests are #[ignore]d in a plain `cargo test` (they need the server and the Python
# package .ci/run installs); here they run, and fail if what they need is missing.
scripts/pg-server.sh start
# The server's settings go to this one command only: exported, they would stay in the
# environment of every later stage.
(
    eval "$(scripts/pg-server.sh env)"
    cargo test -p ringtrace-postgres -- --ignored
)
cargo test -p ringtrace-otlp -- --ignored
scripts/pg-server.sh stop

stage "timeline exports read by real viewers' parsers (babeltrace2, the DevTools trace engine)"
scripts/check-ctf.sh
scripts/check-perfetto.sh

stage "benchmarks build (criterion and the harness binaries, release)"
cargo bench -p ringtrace-benches --no-run
scripts/bench-smoke.sh

stage "loom models, and each model failing with its deliberate bug (loom-tests/tests/weakened.rs)"
scripts/loom.sh

stage "miri (where a nightly toolchain with miri exists; says so when it skips)"
scripts/miri.sh

stage "done"
