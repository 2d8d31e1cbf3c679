#!/usr/bin/env bash
# The stress tests under ThreadSanitizer (nightly toolchain, when present) and a short run of
# them under valgrind memcheck (no leaks, no invalid reads or writes). See docs/testing.md.
#
# ThreadSanitizer needs `-Zsanitizer=thread` and an instrumented standard library
# (`-Zbuild-std`, from the nightly `rust-src` component). Without nightly it prints
# "skipped: no nightly" and goes on; the exit status is non-zero only if a tool ran and
# reported a problem.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
target=$(rustc -vV | sed -n 's/^host: //p')

echo "== ThreadSanitizer"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "tsan: skipped: no nightly toolchain (rustup toolchain install nightly to enable)"
else
    sysroot=$(rustup run nightly rustc --print sysroot)
    if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
        rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || true
    fi
    if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
        echo "tsan: skipped: nightly has no rust-src component (needed for -Zbuild-std)"
    else
        # The stress tests, plus the backpressure and thread-exit tests, instrumented with
        # the standard library. halt_on_error: the first report fails the run.
        log=$(mktemp)
        if RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=target/tsan \
            TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
            rustup run nightly cargo test -Zbuild-std --target "$target" -p ringtrace \
            --test stress --test backpressure --test threads 2>&1 | tee "$log" | grep -E "^test |test result|WARNING: ThreadSanitizer|SUMMARY"; then :; fi
        if grep -q "WARNING: ThreadSanitizer" "$log" || ! grep -q "test result: ok" "$log" || grep -q "test result: FAILED" "$log"; then
            echo "tsan: FAILED (full log: $log)"
            status=1
        else
            echo "tsan: clean: $(grep -c '^test .* ok$' "$log") tests, no ThreadSanitizer report"
            rm -f "$log"
        fi
    fi
fi

echo "== valgrind memcheck"
if ! command -v valgrind >/dev/null; then
    echo "memcheck: skipped: valgrind not installed (apt-get install -y valgrind)"
else
    exe=$(cargo test -p ringtrace --test stress --no-run 2>&1 | sed -n 's/.*Executable tests\/stress.rs (\(.*\))$/\1/p' | tail -1)
    if [ -z "$exe" ]; then
        echo "memcheck: FAILED: could not build the stress tests"
        status=1
    else
        log=$(mktemp)
        # A short run (STRESS_QUICK: one thread per lane, few records): memcheck
        # serialises threads and is ~50x slower. Definite and indirect leaks and every
        # invalid access are errors; memory still reachable from statics at exit is not.
        if STRESS_QUICK=1 valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
            --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
            --fair-sched=yes "$exe" --test-threads=1 >"$log" 2>&1; then
            grep -E "test result|ERROR SUMMARY|definitely lost|indirectly lost|in use at exit" "$log" | sed 's/^==[0-9]*== //'
            echo "memcheck: clean"
            rm -f "$log"
        else
            tail -60 "$log"
            echo "memcheck: FAILED (full log: $log)"
            status=1
        fi
    fi
fi
exit $status
