#!/usr/bin/env bash
# `cargo check` of every workspace crate but the (Linux-only) benches for the other platforms
# ringtrace supports (docs/platforms.md): installs each target's standard library with rustup,
# and skips with a message where rustup is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(aarch64-unknown-linux-gnu x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-msvc)

if ! command -v rustup >/dev/null 2>&1; then
    echo "check-targets: skipped — rustup is not installed, so the targets' standard libraries cannot be added"
    exit 0
fi
rustup target add "${TARGETS[@]}"
for t in "${TARGETS[@]}"; do
    echo "check-targets: $t"
    cargo check -q --workspace --exclude ringtrace-benches --target "$t"
done
