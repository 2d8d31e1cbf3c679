//! Shared pieces of the ringtrace benchmarks (`benches/`): sinks that cost nothing or stall
//! the drain on purpose, and a helper that waits until the drain has caught up, so timed
//! regions measure only the recording thread.

use ringtrace::{Batch, Guard, Sink, SinkError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts events and discards them.
#[derive(Debug, Clone, Default)]
pub struct NullSink {
    /// Events received.
    pub events: Arc<AtomicU64>,
}

impl Sink for NullSink {
    fn name(&self) -> &str {
        "null"
    }
    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.events.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Blocks the drain inside `write_batch` while `stalled` is set, so rings are not freed and
/// recording threads stay out of room (for measuring the dropping path).
#[derive(Debug, Clone, Default)]
pub struct StallSink {
    /// While true, `write_batch` waits.
    pub stalled: Arc<AtomicBool>,
}

impl Sink for StallSink {
    fn name(&self) -> &str {
        "stall"
    }
    fn write_batch(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        while self.stalled.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_micros(100));
        }
        Ok(())
    }
}

/// Waits (up to 10 s) until the drain has taken `events` records plus drops out of the rings.
pub fn wait_drained(guard: &Guard, events: u64) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let m = guard.metrics();
        if m.recorded + m.dropped.total() >= events {
            return;
        }
        std::thread::yield_now();
    }
}
