#!/usr/bin/env bash
# Miri (Rust's interpreter with an aliasing model) over the unit tests of the modules that hold
# the runtime's raw-pointer and unsafe code: the ring, the pool, the registry slot (chain and
# reading announcement), the state word, the bound context, the encoder and the record and
# value formats. It reports undefined behaviour the hardware hides: a reference that outlives
# the memory's exclusive use (Stacked Borrows), an out-of-bounds or unaligned access, a data
# race between the test's threads, a leak.
#
# Needs a nightly toolchain with the miri component (`rustup component add miri --toolchain
# nightly`); without one it says so and exits 0, so scripts/test.sh can run it everywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri: skipped — no nightly toolchain with the miri component here (rustup component add miri --toolchain nightly)"
    exit 0
fi
# Stacked Borrows is Miri's default aliasing model; -Zmiri-tree-borrows would check Tree Borrows.
export MIRIFLAGS="${MIRIFLAGS:-}"
# Miri keeps its own target directory (target/miri) and builds only the runtime crate.
cargo +nightly miri test -p ringtrace --lib -- \
    ring:: pool:: slot:: backpressure:: context:: encode:: record:: value:: "$@"
