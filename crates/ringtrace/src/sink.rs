//! Sinks: where the drain sends events.
//!
//! A [`Sink`] is started once (by `install`, on the installing thread), receives batches of
//! events in timestamp order, is flushed when the drain goes idle, and is stopped once at
//! shutdown. Batches, flushes and `stop` run on the drain thread, sink after sink in
//! registration order; sinks are started in registration order and stopped in reverse
//! (R-LIFE-1).
//!
//! Failure is contained (R-LIFE-2): a `write_batch` that returns an error or panics loses that
//! batch *for that sink only* (its events are counted as dropped for the sink, the error is
//! recorded with the sink's name and reported as a diagnostic), the other sinks still get the
//! batch, and later batches go to the failing sink as usual. An error or panic in `stop` is
//! reported with the sink's name and does not keep the other sinks from stopping.
//!
//! A slow sink slows only the drain (records pile up in rings and backpressure applies to the
//! producers, never a wait for the sink); a sink that hangs makes
//! [`Guard::shutdown`](crate::Guard::shutdown) report a timeout instead of hanging (R-LIFE-5).
//!
//! Code in a sink may record events; such records never wait (the same-thread rule, see
//! [`Policy`](crate::Policy)).

use crate::clock::ClockCalibration;
use crate::config::Config;
use crate::event::Batch;
use std::error::Error;
use std::fmt;
use std::path::PathBuf;

/// What a sink is told when it starts.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SinkContext<'a> {
    /// How timestamps convert to wall-clock time for this runtime.
    pub clock: &'a ClockCalibration,
    /// The runtime's configuration.
    pub config: &'a Config,
}

impl<'a> SinkContext<'a> {
    /// A context (for driving a sink outside a runtime, e.g. in tests or converters).
    pub fn new(clock: &'a ClockCalibration, config: &'a Config) -> Self {
        Self { clock, config }
    }
}

/// A destination for events. See the module doc for the lifecycle and failure rules.
///
/// ```
/// use ringtrace::{Batch, Sink, SinkError};
///
/// #[derive(Default)]
/// struct Count(usize);
///
/// impl Sink for Count {
///     fn name(&self) -> &str { "count" }
///     fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
///         self.0 += batch.len();
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send + 'static {
    /// A short name used in reports, metrics and diagnostics. Should be unique per runtime.
    fn name(&self) -> &str;

    /// Called once before the first batch, on the thread that calls
    /// [`Builder::install`](crate::Builder::install): a failure makes `install` fail (and the
    /// sinks started before are stopped again).
    fn start(&mut self, _ctx: &SinkContext<'_>) -> Result<(), SinkError> {
        Ok(())
    }

    /// Writes a batch of events (in timestamp order).
    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError>;

    /// Pushes buffered output to its destination. Called when the drain goes idle, so output
    /// appears within `flush_interval` of being recorded.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Called once at shutdown after the last batch. Defaults to `flush`.
    fn stop(&mut self) -> Result<(), SinkError> {
        self.flush()
    }

    /// Files this sink wrote, for reports.
    fn outputs(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

/// An error from a sink: a message and, optionally, the underlying error.
#[derive(Debug)]
pub struct SinkError {
    message: String,
    source: Option<Box<dyn Error + Send + Sync>>,
}

impl SinkError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }

    /// An error with a message and a cause.
    pub fn with_source(message: impl Into<String>, source: impl Error + Send + Sync + 'static) -> Self {
        Self { message: message.into(), source: Some(Box::new(source)) }
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl Error for SinkError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl From<std::io::Error> for SinkError {
    fn from(e: std::io::Error) -> Self {
        SinkError::with_source("i/o error", e)
    }
}
