//! A driver for instruction counts of the recording path under callgrind, which counts
//! instructions exactly and is steady on a noisy machine where timings are not:
//!
//! ```text
//! cargo build --release -p ringtrace-benches --example hotpath
//! for n in 100000 200000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n target/release/examples/hotpath normal $n
//! done
//! # instructions per record = (Ir at 200000 − Ir at 100000) / 100000
//! ```
//!
//! `normal`: `info!` with the benchmark's three arguments, the drain keeping up (a 2000-call
//! burst, then a wait until it has taken them). `dropping`: the same call while the thread is
//! DROPPING (the drain held in a sink, the thread's rings full).
//! `rate_pass`, `rate_suppressed`, `sample_suppressed`: the same call with a rate limit that
//! always passes, a rate of 1/s (all suppressed but the first) and 1-in-a-million sampling.

use ringtrace_benches::{event_args, wait_drained, NullSink, StallSink};
use std::sync::atomic::Ordering;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let modes = ["normal", "dropping", "rate_pass", "rate_suppressed", "sample_suppressed"];
    if !modes.contains(&mode.as_str()) || n == 0 {
        eprintln!("usage: hotpath normal|dropping|rate_pass|rate_suppressed|sample_suppressed CALLS");
        std::process::exit(2);
    }
    let stall = StallSink::default();
    let b = ringtrace::Builder::new().ignore_env().diagnostics(ringtrace::DiagnosticSink::Off);
    let guard = if mode != "dropping" {
        b.ring_count(256).max_rings_per_thread(64).sink(NullSink::default()).install()
    } else {
        stall.stalled.store(true, Ordering::Release);
        b.ring_count(2).ring_size(8192).max_rings_per_thread(1).sink(stall.clone()).install()
    };
    let guard = match guard {
        Ok(g) => g,
        Err(e) => {
            eprintln!("hotpath: {e}");
            std::process::exit(1);
        }
    };
    if mode == "dropping" {
        for i in 0..10_000u64 {
            ringtrace::info!("fill {}", i);
        }
    }
    let mut done = 0;
    while done < n {
        let burst = 2_000.min(n - done);
        for i in done..done + burst {
            let (id, price, qty) = event_args(i);
            match mode.as_str() {
                // Issue 20: a limited callsite that always passes, one whose events are all
                // suppressed but the first, one that samples 1 of a million.
                "rate_pass" => ringtrace::info!(rate: 4_000_000_000, "order {} filled at {} qty {}", id, price, qty),
                "rate_suppressed" => ringtrace::info!(rate: 1, "order {} filled at {} qty {}", id, price, qty),
                "sample_suppressed" => {
                    ringtrace::info!(sample: 1_000_000, "order {} filled at {} qty {}", id, price, qty)
                }
                _ => ringtrace::info!("order {} filled at {} qty {}", id, price, qty),
            }
        }
        done += burst;
        if mode != "dropping" {
            wait_drained(&guard, done);
        }
    }
    stall.stalled.store(false, Ordering::Release);
    let report = guard.shutdown(Duration::from_secs(60));
    eprintln!("{}", report.summary_line());
}
