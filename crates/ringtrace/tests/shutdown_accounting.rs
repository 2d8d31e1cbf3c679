//! Exact accounting across install and shutdown: threads that never stop recording, while
//! runtimes are installed and shut down again and again under load. Every attempt must end in
//! exactly one of recorded, dropped (with a reason) or unrecorded (no runtime installed), in
//! every interleaving of the shutdown with the recording threads (issue 15, item 2: a record
//! that raced with the shutdown used to be written into the old runtime's rings after its
//! final pass, and was counted nowhere).
//!
//! Its own test binary: it reads the process-wide unrecorded count, which no other test may
//! move meanwhile.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::{Batch, Policy, Sink, SinkError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts what it is given, and nothing else.
#[derive(Clone, Default)]
struct Count(Arc<AtomicU64>);

impl Sink for Count {
    fn name(&self) -> &str {
        "count"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("count".to_string(), env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

const CYCLES: u32 = 150;
const THREADS: usize = 4;

#[test]
fn every_attempt_is_recorded_dropped_or_unrecorded_across_shutdowns() {
    let _s = common::serial();
    let stop = Arc::new(AtomicBool::new(false));
    let unrecorded_before = ringtrace::unrecorded_events();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                // Half the threads block for room (a shutdown must end their wait), half drop.
                if t % 2 == 1 {
                    ringtrace::set_thread_policy(Some(Policy::Block { timeout: Duration::from_secs(30) }));
                }
                let mut attempts = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    ringtrace::info!(n = attempts, "worker {} event {}", t as u64, attempts);
                    attempts += 1;
                }
                attempts
            })
        })
        .collect();

    let (mut recorded, mut dropped) = (0u64, 0u64);
    for cycle in 0..CYCLES {
        let seen = Count::default();
        // A small pool, so the runtime is under pressure and dropping when it shuts down.
        let guard = ringtrace::Builder::new()
            .ignore_env()
            .ring_size(4096)
            .max_record_size(256)
            .ring_count(8)
            .max_rings_per_thread(2)
            .diagnostics(ringtrace::DiagnosticSink::Off)
            .sink(seen.clone())
            .install()
            .unwrap();
        // Let some records through before shutting down (a count, not a clock).
        let want = 200 + u64::from(cycle % 7) * 300;
        assert!(common::eventually(|| seen.0.load(Ordering::Relaxed) >= want), "cycle {cycle}: drain stalled");
        let report = guard.shutdown(Duration::from_secs(60));
        assert!(!report.timed_out, "cycle {cycle}: {}", report.summary_line());
        assert_eq!(report.undelivered, 0, "cycle {cycle}: {}", report.summary_line());
        recorded += report.recorded;
        dropped += report.dropped.total();
    }
    stop.store(true, Ordering::Relaxed);
    let attempts: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let unrecorded = ringtrace::unrecorded_events() - unrecorded_before;
    assert_eq!(
        recorded + dropped + unrecorded,
        attempts,
        "attempted {attempts}; recorded {recorded} + dropped {dropped} + unrecorded {unrecorded}"
    );
}
