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
//! A program that uses both can follow both set-ups, in this order: `tracing-subscriber`'s
//! `init()` also installs `tracing-log`'s bridge for `log` records, and
//! [`RingtraceLogger::init`] then returns `Ok(())`, as `log` already reaches the layer (which
//! records bridged records with their real target, file and line). Or it calls [`init`], which
//! sets up both at once. (The other order fails inside `tracing-subscriber`: its `init()`
//! panics when `log` already has a logger; use `set_global_default` then.)
//!
//! # What is recorded, and what it costs
//!
//! - **Callsites are interned once.** `register_callsite` builds a ringtrace callsite from the
//!   `&'static Metadata` (level, target, module, file, line, field names) and stores it in a
//!   lock-free table keyed by the metadata's address; each event costs one table probe.
//!   Levels above ringtrace's configured level get `Interest::never()`, so a disabled level
//!   costs what it costs with no subscriber at all — also when the layer was built before the
//!   runtime was installed: `tracing`'s interest cache is rebuilt when a runtime sets the level.
//! - **Fields are copied raw, in one pass, at their exact size.** `u64`/`i64`/`f64`/`bool`/
//!   `str`/bytes become ringtrace values; only `Debug` values (`?x`, and the message of
//!   `info!("… {}", x)`, which `tracing` hands over as `fmt::Arguments`) are formatted. The
//!   event is visited once into a small buffer on the stack and recorded at its exact size, so
//!   a dropped event counts the bytes it would have taken. Errors keep their `source()` chain.
//! - **Spans** become [`SpanBegin`](ringtrace::CallsiteKind::SpanBegin) records (with the
//!   span's fields that have a value) on every entry and
//!   [`SpanEnd`](ringtrace::CallsiteKind::SpanEnd) records on every exit — with the span's
//!   current values if any was recorded after creation (`Span::record`). Both carry the span's
//!   id as the field `span.id` (unique in the process), and so does every event recorded
//!   inside the span, so every output (text, JSON lines, trace files, Chrome/Perfetto, CTF,
//!   OTLP, PostgreSQL) can attribute events to spans. The JSON lines show
//!   `"span":"begin"`/`"end"` and the span name as message, and the timeline exports draw
//!   nested slices.
//! - `log` records: see [`RingtraceLogger`].
//!
//! [`RingtraceLayer`] composes with other layers; [`RingtraceSubscriber`] is a bare subscriber
//! without the registry (span records carry no fields and events no span id there).
//! `docs/integrations.md` and `docs/benchmarks.md` have the measured costs.

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

use std::fmt;

/// Sets `tracing_subscriber::registry().with(RingtraceLayer::new())` as the global default
/// `tracing` subscriber and a [`RingtraceLogger`] as `log`'s logger (or finds that `log`
/// already reaches a ringtrace layer, see [`RingtraceLogger::init`]): both kinds of records
/// go to ringtrace, up to its configured level.
///
/// ```no_run
/// let guard = ringtrace::Builder::new().install()?;
/// ringtrace_tracing::init().expect("no other subscriber or logger");
/// tracing::info!(user = "ada", "logged in");
/// log::info!("ready");
/// # drop(guard);
/// # Ok::<(), ringtrace::BuildError>(())
/// ```
pub fn init() -> Result<(), InitError> {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(RingtraceLayer::new());
    tracing_core::dispatcher::set_global_default(subscriber.into()).map_err(InitError::Tracing)?;
    RingtraceLogger::init().map_err(InitError::Log)
}

/// Why [`init`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// A global default `tracing` subscriber was already set (nothing was changed).
    Tracing(tracing_core::dispatcher::SetGlobalDefaultError),
    /// `log` already had a logger that does not reach ringtrace (the `tracing` subscriber is
    /// set).
    Log(::log::SetLoggerError),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Tracing(e) => write!(f, "setting the tracing subscriber: {e}"),
            InitError::Log(e) => write!(f, "setting the log logger: {e}"),
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InitError::Tracing(e) => Some(e),
            InitError::Log(e) => Some(e),
        }
    }
}

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
