//! The benchmark's event, `tracing::info!` with three fields, `N` times on the main thread
//! through `registry()` + the layer, into a sink that discards: for instruction counts
//! (`docs/benchmarks.md`, "`tracing` through ringtrace"):
//!
//! ```text
//! cargo build --release -p ringtrace-tracing --example hot_event
//! valgrind --tool=callgrind --separate-threads=yes target/release/examples/hot_event 200000
//! ```
//!
//! The difference between the main thread's totals for two values of `N`, divided by their
//! difference, is the cost of one event. `N` defaults to 100 000; a second argument `span`
//! records the events inside an entered span.

use ringtrace::{Batch, Sink, SinkError};
use std::hint::black_box;
use std::time::Duration;
use tracing_subscriber::prelude::*;

struct Discard;

impl Sink for Discard {
    fn name(&self) -> &str {
        "discard"
    }
    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("discard", env!("CARGO_PKG_VERSION"))
    }
    fn write_batch(&mut self, _batch: &Batch<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let in_span = args.next().is_some_and(|a| a == "span");
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_count(1024)
        .max_rings_per_thread(1024)
        .sink(Discard)
        .install()
        .expect("install");
    let subscriber = tracing_subscriber::registry().with(ringtrace_tracing::RingtraceLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", id = 7u64);
        let _e = in_span.then(|| span.enter());
        for i in 0..n {
            tracing::info!(order = black_box(i), price = black_box(1.5f64), qty = black_box(7u32), "filled");
        }
    });
    let report = guard.shutdown(Duration::from_secs(30));
    assert_eq!(report.dropped.total(), 0, "{report:?}");
}
