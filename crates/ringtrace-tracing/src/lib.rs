//! Record `tracing` events and spans, and `log` records, into ringtrace's per-thread rings —
//! without formatting on the calling thread.
//!
//! An existing `tracing`-instrumented program switches to ringtrace by changing only its
//! subscriber set-up:
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! let guard = ringtrace::Builder::new().sink(ringtrace::sinks::FmtSink::stderr_json()).install()?;
//! tracing_subscriber::registry().with(ringtrace_tracing::RingtraceLayer::new()).init();
//! tracing::info!(user = "ada", "logged in");
//! guard.shutdown(std::time::Duration::from_secs(5));
//! # Ok::<(), ringtrace::BuildError>(())
//! ```
//!
//! and a `log` user with one line:
//!
//! ```no_run
//! let guard = ringtrace::Builder::new().install()?;
//! ringtrace_tracing::RingtraceLogger::init().expect("no other logger");
//! log::info!("ready");
//! # drop(guard);
//! # Ok::<(), ringtrace::BuildError>(())
//! ```
//!
//! # What is recorded, and what it costs
//!
//! - **Callsites are interned once.** `register_callsite` builds a ringtrace callsite from the
//!   `&'static Metadata` (level, target, module, file, line, field names) and stores it in a
//!   lock-free table keyed by the metadata's address; each event costs one table probe.
//!   Levels above the maximum get `Interest::never()`, so a disabled level costs what it
//!   costs with no subscriber at all.
//! - **Fields are copied raw.** `u64`/`i64`/`f64`/`bool`/`str`/bytes go into the ring as
//!   ringtrace values; only `Debug` values (`?x`, and the message of `info!("… {}", x)`, which
//!   `tracing` hands over as `fmt::Arguments`) are formatted — straight into the ring, without
//!   allocating. Errors keep their `source()` chain.
//! - **Spans** become [`SpanBegin`](ringtrace::CallsiteKind::SpanBegin) records (with the
//!   span's fields) on every entry and [`SpanEnd`](ringtrace::CallsiteKind::SpanEnd) records on
//!   every exit; the JSON lines show `"span":"begin"`/`"end"` and the span name as message, and
//!   the timeline exports draw nested slices.
//! - `log` records: see [`RingtraceLogger`].
//!
//! [`RingtraceLayer`] composes with other layers; [`RingtraceSubscriber`] is a bare subscriber
//! without the registry (span begin records carry no fields there). `docs/integrations.md`
//! and `docs/benchmarks.md` have the measured costs.

mod bridge;
mod capture;
mod fields;
mod intern;
mod layer;
mod level;
mod log;
mod site;
mod span;
mod subscriber;

pub use crate::layer::RingtraceLayer;
pub use crate::log::RingtraceLogger;
pub use crate::subscriber::RingtraceSubscriber;

/// `tracing`'s level filter for a ringtrace maximum level.
fn level_filter(l: ringtrace::Level) -> tracing_core::LevelFilter {
    use ringtrace::Level;
    match l {
        Level::Error => tracing_core::LevelFilter::ERROR,
        Level::Warn => tracing_core::LevelFilter::WARN,
        Level::Info => tracing_core::LevelFilter::INFO,
        Level::Debug => tracing_core::LevelFilter::DEBUG,
        Level::Trace => tracing_core::LevelFilter::TRACE,
    }
}
