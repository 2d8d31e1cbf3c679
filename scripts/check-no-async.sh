#!/usr/bin/env bash
# No crate of the workspace may bring in an async runtime (issue 7): ringtrace's sinks do
# blocking I/O on the drain thread. Fails if `cargo tree` lists tokio, async-std or smol (or
# their executors) among the normal dependencies of any member.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(cargo tree --workspace -e normal --prefix none --format '{p}')
found=$(grep -E '^(tokio|async-std|smol|async-executor|async-global-executor) ' <<<"$tree" | sort -u || true)
if [ -n "$found" ]; then
    echo "an async runtime is in the dependency tree:" >&2
    echo "$found" >&2
    cargo tree --workspace -e normal -i "$(head -1 <<<"$found" | cut -d' ' -f1)" >&2 || true
    exit 1
fi
echo "no async runtime among the normal dependencies ($(sort -u <<<"$tree" | wc -l) packages, workspace members included)"
