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
use crate::output::event::{Batch, CallsiteInfo, CallsiteTable, ThreadInfo};
use std::borrow::Cow;
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
/// use ringtrace::{Batch, Sink, SinkError, SinkMetadata};
///
/// #[derive(Default)]
/// struct Count(usize);
///
/// impl Sink for Count {
///     fn name(&self) -> &str { "count" }
///     fn metadata(&self) -> SinkMetadata { SinkMetadata::new("count", "1.0.0") }
///     fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
///         self.0 += batch.len();
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send + 'static {
    /// This sink's instance name, used in reports, metrics and diagnostics (`"json"`,
    /// `"audit-log"`). Should be unique per runtime. Not the sink's kind: that is the name in
    /// its [`metadata`](Self::metadata) (`"fmt"` for every [`FmtSink`](crate::sinks::FmtSink)).
    fn name(&self) -> &str;

    /// What the sink is and which runtime it works with (R-CONF-4): its name, its own
    /// version and the oldest ringtrace version it supports.
    /// [`Builder::install`](crate::Builder::install) refuses a sink whose minimum is newer
    /// than the running ringtrace ([`VERSION`](crate::VERSION)), before any sink is started.
    /// Usually `SinkMetadata::new("my-sink", env!("CARGO_PKG_VERSION"))`.
    fn metadata(&self) -> SinkMetadata;

    /// Called once before the first batch, on the thread that calls
    /// [`Builder::install`](crate::Builder::install): a failure makes `install` fail (and the
    /// sinks started before are stopped again).
    fn start(&mut self, _ctx: &SinkContext<'_>) -> Result<(), SinkError> {
        Ok(())
    }

    /// Writes a batch of events (in timestamp order).
    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError>;

    /// Whether this sink takes records raw ([`write_raw`](Self::write_raw)) instead of as
    /// decoded, merged batches ([`write_batch`](Self::write_batch)). Asked once, at install.
    /// A raw sink gets each thread's committed ring bytes unchanged, in per-thread order and
    /// without the cross-thread merge — what a binary trace stores (its readers merge) — and
    /// costs the drain a walk over the record headers and nothing else.
    fn takes_raw(&self) -> bool {
        false
    }

    /// Writes the records the drain took out of the rings in one pass, raw (see
    /// [`RawBatch`]); only called if [`takes_raw`](Self::takes_raw) said so. The rings'
    /// space is released only after this returns, so the records must be copied or written
    /// before returning. Failure is contained as for `write_batch`: the batch's events count
    /// as dropped for this sink.
    fn write_raw(&mut self, _batch: &RawBatch<'_>) -> Result<(), SinkError> {
        Err(SinkError::new("this sink does not take raw records"))
    }

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

/// A run of one thread's records exactly as they lie in its ring: whole records, in recording
/// order, each one a 16-byte header ([`Header`](crate::HEADER_LEN): size, flags, callsite id,
/// ticks) and its payload, padded with zeros to a multiple of 8 bytes. Ring padding (`Pad`
/// records and the implicit skip at a ring's end) is not part of a run.
#[derive(Debug, Clone, Copy)]
pub struct RawRun<'a> {
    /// The thread that recorded them.
    pub thread: &'a ThreadInfo,
    /// The records.
    pub records: &'a [u8],
    /// How many of them are events (every kind but loss records).
    pub events: u32,
    /// How many are loss records.
    pub losses: u32,
}

/// What the drain hands a raw sink ([`Sink::write_raw`]) after one pass: every thread's runs
/// (a thread's runs in recording order; threads in no particular order relative to each
/// other), and the callsites the records refer to — all of them, and those first seen in this
/// batch, so a sink writes each description once.
#[derive(Debug, Clone, Copy)]
pub struct RawBatch<'a> {
    pub(crate) runs: &'a [RawRun<'a>],
    pub(crate) callsites: &'a CallsiteTable,
    pub(crate) new_callsites: &'a [u32],
    pub(crate) clock: &'a ClockCalibration,
    pub(crate) horizon: Option<u64>,
}

impl<'a> RawBatch<'a> {
    /// A batch over `runs`, for driving a raw sink outside a runtime (tests, converters).
    /// `new_callsites` lists the ids of `callsites` not handed to the sink before.
    pub fn new(
        runs: &'a [RawRun<'a>],
        callsites: &'a CallsiteTable,
        new_callsites: &'a [u32],
        clock: &'a ClockCalibration,
    ) -> Self {
        Self { runs, callsites, new_callsites, clock, horizon: None }
    }

    /// The same batch with the drain's *horizon*, its merge point: `ticks` is one more than
    /// the cutoff of the pass's merge (`u64::MAX` when it handed out everything), so every
    /// record the drain handed its merged sinks has a merge key (its timestamp raised to the
    /// previous key of its thread) below it and every record it held back does not. The
    /// binary sink writes it into the trace, and readers hand records out at the same points,
    /// so a decoded trace comes out in the order the merged sinks saw (see
    /// [`trace_file`](crate::trace_file), "Order"); without one they merge within their merge
    /// limit.
    pub fn with_horizon(mut self, ticks: u64) -> Self {
        self.horizon = Some(ticks);
        self
    }

    /// The horizon, if the drain gave one (see [`with_horizon`](Self::with_horizon)).
    pub fn horizon(&self) -> Option<u64> {
        self.horizon
    }

    /// The runs.
    pub fn runs(&self) -> &'a [RawRun<'a>] {
        self.runs
    }

    /// Every callsite known to the drain so far.
    pub fn callsites(&self) -> &'a CallsiteTable {
        self.callsites
    }

    /// The callsites first seen in this batch (their ids are in `callsites`).
    pub fn new_callsites(&self) -> impl Iterator<Item = &'a CallsiteInfo> + 'a {
        let table = self.callsites;
        self.new_callsites.iter().filter_map(move |&id| table.get(id))
    }

    /// How the records' ticks convert to wall-clock time.
    pub fn clock(&self) -> &'a ClockCalibration {
        self.clock
    }

    /// Events in the batch (loss records excluded), over all runs.
    pub fn events(&self) -> u64 {
        self.runs.iter().map(|r| u64::from(r.events)).sum()
    }

    /// Loss records in the batch.
    pub fn losses(&self) -> u64 {
        self.runs.iter().map(|r| u64::from(r.losses)).sum()
    }
}

/// What a sink declares about itself (R-CONF-4): name, version, and the minimum ringtrace
/// version it supports.
///
/// [`SinkMetadata::new`] sets the minimum to [`SinkMetadata::DEFAULT_MIN_RINGTRACE`]
/// (`0.1.0`, the first ringtrace release); a sink that needs a newer runtime says so with
/// [`SinkMetadata::min_ringtrace`]. Versions are semantic versions (`MAJOR.MINOR.PATCH`,
/// optionally with a pre-release); an unparsable one makes `install` refuse the sink too.
///
/// ```
/// use ringtrace::SinkMetadata;
///
/// let m = SinkMetadata::new("kafka", "2.3.1");
/// assert_eq!(m.min_ringtrace_version(), "0.1.0");
/// assert!(m.check(ringtrace::VERSION).is_ok());
///
/// let future = SinkMetadata::new("kafka", "3.0.0").min_ringtrace("9.0.0");
/// let e = future.check("0.1.0").unwrap_err();
/// assert_eq!(
///     e.to_string(),
///     "sink \"kafka\" 3.0.0 requires ringtrace >= 9.0.0, but this is ringtrace 0.1.0"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkMetadata {
    name: Cow<'static, str>,
    version: Cow<'static, str>,
    min_ringtrace: Cow<'static, str>,
}

impl SinkMetadata {
    /// The minimum ringtrace version [`SinkMetadata::new`] declares: the first release.
    pub const DEFAULT_MIN_RINGTRACE: &'static str = "0.1.0";

    /// A sink's name and version (usually `env!("CARGO_PKG_VERSION")` of the sink's crate),
    /// supporting every ringtrace release from [`Self::DEFAULT_MIN_RINGTRACE`] on.
    pub fn new(name: impl Into<Cow<'static, str>>, version: impl Into<Cow<'static, str>>) -> Self {
        Self { name: name.into(), version: version.into(), min_ringtrace: Cow::Borrowed(Self::DEFAULT_MIN_RINGTRACE) }
    }

    /// Declares the oldest ringtrace version the sink works with.
    pub fn min_ringtrace(mut self, version: impl Into<Cow<'static, str>>) -> Self {
        self.min_ringtrace = version.into();
        self
    }

    /// The sink's kind, as its crate names it (`"fmt"`, `"binary"`, `"otlp"`): the same for
    /// every instance, unlike [`Sink::name`], which tells instances apart in reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sink's own version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The oldest ringtrace version the sink supports.
    pub fn min_ringtrace_version(&self) -> &str {
        &self.min_ringtrace
    }

    /// Whether the sink works with ringtrace `running` (normally [`crate::VERSION`]): both
    /// of the sink's versions parse, and its minimum is not newer than `running`.
    pub fn check(&self, running: &str) -> Result<(), IncompatibleSink> {
        let fail = |problem| IncompatibleSink {
            sink: self.name.to_string(),
            sink_version: self.version.to_string(),
            requires: self.min_ringtrace.to_string(),
            running: running.to_string(),
            problem,
        };
        if semver::Version::parse(&self.version).is_err() {
            return Err(fail(Incompatibility::BadVersion));
        }
        let Ok(min) = semver::Version::parse(&self.min_ringtrace) else {
            return Err(fail(Incompatibility::BadMinimum));
        };
        let Ok(run) = semver::Version::parse(running) else {
            return Err(fail(Incompatibility::BadRunning));
        };
        if min > run {
            return Err(fail(Incompatibility::TooOld));
        }
        Ok(())
    }
}

/// Why a sink was refused: see [`SinkMetadata::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompatibleSink {
    /// The sink's declared name.
    pub sink: String,
    /// The sink's declared version.
    pub sink_version: String,
    /// The minimum ringtrace version the sink declared.
    pub requires: String,
    /// The ringtrace version it was checked against.
    pub running: String,
    /// What is wrong.
    pub problem: Incompatibility,
}

/// What is wrong with a sink's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incompatibility {
    /// The sink needs a newer ringtrace than the running one.
    TooOld,
    /// The sink's own version is not a semantic version.
    BadVersion,
    /// The sink's minimum ringtrace version is not a semantic version.
    BadMinimum,
    /// The running version given to [`SinkMetadata::check`] is not a semantic version.
    BadRunning,
}

impl fmt::Display for IncompatibleSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sink, version, requires, running) = (&self.sink, &self.sink_version, &self.requires, &self.running);
        match self.problem {
            Incompatibility::TooOld => {
                write!(f, "sink {sink:?} {version} requires ringtrace >= {requires}, but this is ringtrace {running}")
            }
            Incompatibility::BadVersion => write!(
                f,
                "sink {sink:?} declares version {version:?}, which is not a semantic version (MAJOR.MINOR.PATCH)"
            ),
            Incompatibility::BadMinimum => write!(
                f,
                "sink {sink:?} {version} declares minimum ringtrace version {requires:?}, which is not a semantic \
                 version (MAJOR.MINOR.PATCH)"
            ),
            Incompatibility::BadRunning => {
                write!(f, "cannot check sink {sink:?} against ringtrace {running:?}: not a semantic version")
            }
        }
    }
}

impl Error for IncompatibleSink {}

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

/// When a sink failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkPhase {
    /// In `start`.
    Start,
    /// In `write_batch`.
    Write,
    /// In `flush`.
    Flush,
    /// In `stop`.
    Stop,
}

impl fmt::Display for SinkPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SinkPhase::Start => "start",
            SinkPhase::Write => "write",
            SinkPhase::Flush => "flush",
            SinkPhase::Stop => "stop",
        })
    }
}

/// A sink failure, with the sink's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkErrorReport {
    /// The sink's name.
    pub sink: String,
    /// When it failed.
    pub phase: SinkPhase,
    /// The error (or panic message).
    pub message: String,
}

impl fmt::Display for SinkErrorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sink {:?} failed in {}: {}", self.sink, self.phase, self.message)
    }
}

/// What one sink received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkReport {
    /// The sink's name.
    pub name: String,
    /// Events written (in batches that succeeded; loss records included).
    pub written: u64,
    /// Events lost for this sink because their batch failed.
    pub dropped: u64,
    /// Batches that succeeded.
    pub batches: u64,
    /// Failed batches, flushes and stops.
    pub errors: u64,
    /// Panics caught (counted in `errors` too).
    pub panics: u64,
    /// The last error message.
    pub last_error: Option<String>,
    /// Files the sink wrote.
    pub outputs: Vec<PathBuf>,
}
