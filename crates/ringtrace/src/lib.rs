//! ringtrace records events from any thread in a few nanoseconds — into a per-thread ring drawn
//! from a shared, bounded pool, with no lock, allocation, system call or formatting on the
//! recording path — and formats them later on a drain thread that feeds sinks.
//!
//! ```no_run
//! use ringtrace::{info, warn, Builder, sinks::FmtSink};
//! use std::time::Duration;
//!
//! let guard = Builder::new().sink(FmtSink::stderr_text()).install()?;
//!
//! let (id, price) = (17u64, 101.25f64);
//! info!("order {} filled at {}", id, price);                  // copied raw, formatted later
//! let _ctx = ringtrace::with_context!(request_id = 42u64);    // carried by later events
//! warn!(side = "buy", qty = 10u32, "partial fill of {}", id); // fields, then the message
//!
//! let report = guard.shutdown(Duration::from_secs(5));        // drains everything
//! println!("{}", report.summary_line());
//! # Ok::<(), ringtrace::BuildError>(())
//! ```
//!
//! # How it fits together
//!
//! - Each recording thread owns one ring at a time ([`ring`](crate) module docs: an SPSC byte
//!   ring of 8-byte-aligned records, published by one Release store). Rings come from one
//!   memory mapping carved into equal rings with a lock-free free list.
//! - When a record does not fit, the thread hands its ring to the drain and takes a free one;
//!   when there is none it applies its [`Policy`] and counts what it drops under a
//!   [`DropReason`].
//! - The drain thread wakes when a ring is handed over (or a short while after records
//!   arrive), merges all threads' records by timestamp and gives them to the [`Sink`]s in
//!   batches. Formatting — message, fields, timestamps — happens there, from the raw bytes,
//!   and is byte-identical to formatting at the call site.
//! - [`Guard::shutdown`] drains every ring and returns a [`DrainReport`]: what was recorded,
//!   written per sink, and dropped per reason.
//!
//! `docs/architecture.md` in the repository explains the memory layout and every atomic
//! protocol; the module docs of the source files are the design notes.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(rust_2018_idioms)]

#[macro_use]
mod macros;

mod backpressure;
mod callsite;
mod clock;
mod config;
mod diag;
mod drain;
pub mod flight;
mod level;
mod output;
mod platform;
mod recording;
mod rings;
mod runtime;
mod shared;
mod sync;
mod wire;

// The public modules keep their paths (`ringtrace::render`, `ringtrace::trace_file`, ...).
pub use config::source as config_source;
pub use output::{render, sinks, trace_file};

#[cfg(feature = "loom")]
#[doc(hidden)]
pub mod loom_api;

pub use backpressure::{ThreadState, TransitionError};
pub use callsite::{lookup as lookup_callsite, register_metadata, Callsite, CallsiteKind, Limit, Metadata};
pub use clock::{now_ticks, ClockCalibration};
pub use config::{
    Config, ConfigError, Policy, Serialization, DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_RECORD_SIZE,
    DEFAULT_MAX_RINGS_PER_THREAD, DEFAULT_MERGE_WINDOW, DEFAULT_PRESSURE_WATERMARK, DEFAULT_RECOVERY_WATERMARK,
    DEFAULT_RING_COUNT, DEFAULT_RING_SIZE, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STABILITY_PERIOD,
};
pub use config_source::{apply_env, env_vars, resolve, Source, DEFAULT_BLOCK_TIMEOUT};
#[cfg(feature = "config-file")]
pub use config_source::{apply_file, apply_toml};
pub use diag::{Diagnostic, DiagnosticHook, DiagnosticKind, DiagnosticSink, RATE_LIMIT, RATE_WINDOW};
pub use flight::{flush_on_signals, snapshot};
pub use level::{Level, ParseLevelError};
pub use output::event::{Batch, CallsiteInfo, CallsiteTable, Event, ThreadInfo};
pub use output::preset::{PostgresSpec, Preset, SinkSpec};
pub use output::sink::{
    Incompatibility, IncompatibleSink, RawBatch, RawRun, Sink, SinkContext, SinkError, SinkMetadata,
};
pub use output::sink::{SinkErrorReport, SinkPhase, SinkReport};
pub use output::template::{Template, TemplateError};
pub use recording::context::{ContextGuard, CONTEXT_CAPACITY};
pub use recording::producer::{record_bytes, set_thread_policy, unrecorded_events};
pub use runtime::metrics::{metrics, DrainMetrics, DropCounts, Metrics, PoolMetrics, ThreadMetrics, TransitionCounts};
pub use runtime::{BuildError, Builder, DrainReport, Guard};
pub use wire::encode::{DebugArg, DisplayArg, Encode, Encoder, ErrorArg, CUT_MARK};
pub use wire::record::{LossInfo, RecordKind, HEADER_LEN, MAX_RECORD_LEN};

/// This ringtrace's version (checked against each sink's declared minimum, see
/// [`SinkMetadata`]).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub use backpressure::drops::DropReason;
pub use wire::value::{ErrorChain, Value};

use std::sync::atomic::{AtomicU8, Ordering};

/// The most verbose level recorded, process-wide (a relaxed load per event).
static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Trace as u8);

/// The most verbose level currently recorded.
pub fn max_level() -> Level {
    Level::from_u8(MAX_LEVEL.load(Ordering::Relaxed)).unwrap_or(Level::Trace)
}

/// Sets the most verbose level recorded. Events above it cost one load and a branch.
/// Installing a runtime sets it from the configuration. A change is reported to the hooks
/// registered with [`on_max_level_change`].
pub fn set_max_level(level: Level) {
    if MAX_LEVEL.swap(level as u8, Ordering::Relaxed) != level as u8 {
        let hooks = LEVEL_HOOKS.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for hook in hooks {
            hook(level);
        }
    }
}

/// Hooks called when the [`max_level`] changes.
static LEVEL_HOOKS: std::sync::Mutex<Vec<fn(Level)>> = std::sync::Mutex::new(Vec::new());

/// Registers `hook` to be called with the new level each time [`set_max_level`] changes it
/// (installing a runtime sets the configured level), on the thread that changed it, after the
/// change. For integrations that cache the level elsewhere (a `tracing` layer's callsite
/// interest, `log`'s maximum level). Registering the same hook twice calls it twice.
pub fn on_max_level_change(hook: fn(Level)) {
    LEVEL_HOOKS.lock().unwrap_or_else(|e| e.into_inner()).push(hook);
}

/// Wraps a message argument so that its `Display` text is captured at the call site (for
/// types that are not [`Encode`]).
///
/// ```
/// let addr: std::net::SocketAddr = "127.0.0.1:80".parse().unwrap();
/// ringtrace::info!("connected to {}", ringtrace::display(&addr));
/// ```
pub fn display<T: std::fmt::Display + ?Sized>(value: &T) -> DisplayArg<'_, T> {
    DisplayArg(value)
}

/// Wraps a message argument so that its `Debug` text is captured at the call site.
///
/// ```
/// ringtrace::info!("state {:?}", ringtrace::debug(&vec![1, 2]));
/// ```
pub fn debug<T: std::fmt::Debug + ?Sized>(value: &T) -> DebugArg<'_, T> {
    DebugArg(value)
}

/// Items the macros expand to. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::recording::limit::{__limit_clock_second, __set_limit_clock};
    pub use crate::recording::producer::{bench_swap_ring, record_event};
    pub use crate::wire::encode::{Capture, CaptureDisplay, CaptureError, DebugArg, DisplayArg};

    /// Whether events at `level` are recorded.
    #[inline(always)]
    pub fn enabled(level: crate::Level) -> bool {
        level as u8 <= crate::MAX_LEVEL.load(std::sync::atomic::Ordering::Relaxed)
    }
}
