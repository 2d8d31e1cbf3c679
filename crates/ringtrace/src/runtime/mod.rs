//! The runtime's public face: building and installing it ([`Builder`]), shutting it down
//! ([`Guard`], [`DrainReport`]) and its counters ([`metrics`]).
//! Runs on the application's threads that install, query and shut down the runtime.
//!
//! [`Builder::install`] validates the configuration, maps the pool, starts every sink (in
//! registration order, on the calling thread, so an unwritable output path is an error here
//! and not later), spawns the drain thread and makes the runtime the target of the recording
//! macros. It returns a [`Guard`]; [`Guard::shutdown`] (or dropping the guard) stops intake,
//! drains every ring, stops the sinks in reverse order, joins the drain thread and reports
//! what happened in a [`DrainReport`] (R-CORE-7).
//!
//! One runtime is installed at a time; after a shutdown another may be installed. Threads that
//! recorded into the old runtime re-register with the new one on their next record.

pub(crate) mod metrics;

use crate::clock::ClockCalibration;
use crate::config::{Config, ConfigError, Policy, Serialization};
use crate::diag::panic_message;
use crate::diag::{DiagnosticKind, DiagnosticSink};
use crate::drain::{Drain, DrainOutcome};
use crate::level::Level;
use crate::output::preset::{Preset, SinkSpec};
use crate::output::sink::{Sink, SinkContext};
use crate::output::sink::{SinkErrorReport, SinkReport};
use crate::rings::pool::Pool;
use crate::runtime::metrics::{DropCounts, Metrics, TransitionCounts};
use crate::shared::{Shared, CURRENT};
use crate::sync::Ordering;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering as StdOrdering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Why a runtime could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// A configuration value is invalid.
    Config(ConfigError),
    /// Another runtime is installed; shut it down first.
    AlreadyInstalled,
    /// The ring pool could not be mapped.
    Pool(std::io::Error),
    /// A sink failed to start (the sinks started before it were stopped again).
    SinkStart {
        /// The sink's name.
        sink: String,
        /// What went wrong.
        error: crate::SinkError,
    },
    /// The drain thread could not be spawned.
    Spawn(std::io::Error),
    /// A sink needs a newer ringtrace, or declared metadata that cannot be checked (no sink
    /// was started).
    IncompatibleSink(crate::IncompatibleSink),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(e) => e.fmt(f),
            BuildError::AlreadyInstalled => {
                f.write_str("a ringtrace runtime is already installed (shut it down first)")
            }
            BuildError::Pool(e) => write!(f, "cannot map the ring pool: {e}"),
            BuildError::SinkStart { sink, error } => {
                write!(f, "sink {sink:?} failed to start: {error}")
            }
            BuildError::Spawn(e) => write!(f, "cannot spawn the drain thread: {e}"),
            BuildError::IncompatibleSink(e) => write!(f, "refusing an incompatible sink: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            BuildError::Pool(e) | BuildError::Spawn(e) => Some(e),
            BuildError::SinkStart { error, .. } => Some(error),
            BuildError::IncompatibleSink(e) => Some(e),
            BuildError::AlreadyInstalled => None,
        }
    }
}

impl From<ConfigError> for BuildError {
    fn from(e: ConfigError) -> Self {
        BuildError::Config(e)
    }
}

/// Builds and installs a runtime. By-value, every setting optional; see [`Config`] for the
/// defaults and the allowed ranges.
///
/// ```no_run
/// use ringtrace::{Builder, sinks::FmtSink};
///
/// let guard = Builder::new()
///     .ring_size(64 * 1024)
///     .sink(FmtSink::stderr_text())
///     .install()
///     .expect("valid configuration");
/// ringtrace::info!("order {} filled at {}", 17u64, 101.25f64);
/// let report = guard.shutdown(std::time::Duration::from_secs(5));
/// assert_eq!(report.dropped.total(), 0);
/// ```
#[must_use = "a builder does nothing until `install` is called"]
pub struct Builder {
    config: Config,
    sinks: Vec<Box<dyn Sink>>,
    diagnostics: DiagnosticSink,
    /// A TOML file applied over the code's values (`config_file`); without it,
    /// `RINGTRACE_CONFIG` names one.
    config_file: Option<PathBuf>,
    /// Whether `RINGTRACE_*` environment variables are applied (the default).
    use_env: bool,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .field("sinks", &self.sinks.iter().map(|s| s.name().to_string()).collect::<Vec<_>>())
            .field("diagnostics", &self.diagnostics)
            .finish()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A builder with the default configuration and no sinks.
    pub fn new() -> Self {
        Self {
            config: Config::default(),
            sinks: Vec::new(),
            diagnostics: DiagnosticSink::Stderr,
            config_file: None,
            use_env: true,
        }
    }

    /// A builder starting from `config`.
    pub fn from_config(config: Config) -> Self {
        Self { config, ..Self::new() }
    }

    /// The configuration so far.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Bytes per ring (a power of two).
    pub fn ring_size(mut self, bytes: usize) -> Self {
        self.config.ring_size = bytes;
        self
    }

    /// Rings in the pool.
    pub fn ring_count(mut self, rings: u32) -> Self {
        self.config.ring_count = rings;
        self
    }

    /// Most rings one thread may hold.
    pub fn max_rings_per_thread(mut self, rings: usize) -> Self {
        self.config.max_rings_per_thread = rings;
        self
    }

    /// Largest record in bytes, header included.
    pub fn max_record_size(mut self, bytes: usize) -> Self {
        self.config.max_record_size = bytes;
        self
    }

    /// Longest a record waits in a partly filled ring.
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.config.flush_interval = d;
        self
    }

    /// How long records are held back to merge threads by timestamp.
    pub fn merge_window(mut self, d: Duration) -> Self {
        self.config.merge_window = d;
        self
    }

    /// Most events per sink batch.
    pub fn batch_size(mut self, events: usize) -> Self {
        self.config.batch_size = events;
        self
    }

    /// The backpressure policy.
    pub fn policy(mut self, p: Policy) -> Self {
        self.config.policy = p;
        self
    }

    /// Strict or best-effort serialization.
    pub fn serialization(mut self, s: Serialization) -> Self {
        self.config.serialization = s;
        self
    }

    /// Fraction of rings that must stay free before threads enter PRESSURE.
    pub fn pressure_watermark(mut self, fraction: f64) -> Self {
        self.config.pressure_watermark = fraction;
        self
    }

    /// Fraction of free rings at which PRESSURE and DROPPING threads enter RECOVERY.
    pub fn recovery_watermark(mut self, fraction: f64) -> Self {
        self.config.recovery_watermark = fraction;
        self
    }

    /// Time in RECOVERY without new pressure before a thread is NORMAL again.
    pub fn stability_period(mut self, d: Duration) -> Self {
        self.config.stability_period = d;
        self
    }

    /// Caps the callsites whose target is `prefix` (or starts with `prefix::`) at
    /// `per_second` events per second over all threads, unless their macro sets its own
    /// `rate:` or `sample:` ([`Config::target_rates`]). Suppressed events are counted as
    /// `rate_limited`, not as losses. A later call for the same prefix replaces the rate.
    ///
    /// ```
    /// let b = ringtrace::Builder::new().target_rate("hyper", 10).target_rate("my_app::db", 100);
    /// assert_eq!(b.config().target_rates.len(), 2);
    /// ```
    pub fn target_rate(mut self, prefix: impl Into<String>, per_second: u32) -> Self {
        let prefix = prefix.into();
        self.config.target_rates.retain(|(p, _)| *p != prefix);
        self.config.target_rates.push((prefix, per_second));
        self
    }

    /// The most verbose level recorded.
    pub fn level(mut self, l: Level) -> Self {
        self.config.level = l;
        self
    }

    /// How long dropping the guard waits for the drain.
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.config.shutdown_timeout = d;
        self
    }

    /// Adds a sink. Sinks get every batch in the order they were added.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Adds a boxed sink.
    pub fn boxed_sink(mut self, sink: Box<dyn Sink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Where runtime diagnostics go (stderr by default).
    pub fn diagnostics(mut self, to: DiagnosticSink) -> Self {
        self.diagnostics = to;
        self
    }

    /// Starts from a [`Preset`]'s settings (its sinks are added separately, with
    /// [`Builder::preset_sinks`]). Like every value set in code, a configuration file and the
    /// environment override them.
    pub fn preset(mut self, preset: Preset) -> Self {
        self.config = preset.config();
        self
    }

    /// Keeps the ring pool in the file at `path` (created with mode 0600, its space reserved
    /// up front; an earlier pool file there is moved to `PATH.prev`, and anything else at the
    /// path — a user's file, a directory, a device, a symlink — makes `install` fail without
    /// touching it), so that the records survive a crash of the process: `ringtrace recover PATH -o OUT` turns it into a trace. See
    /// [`flight`](crate::flight).
    pub fn pool_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.pool_file = Some(path.into());
        self
    }

    /// Flight-recorder mode (see [`Config::flight_recorder`]): live threads' records stay in
    /// the rings until a [`snapshot`](crate::snapshot), a crash or shutdown.
    pub fn flight_recorder(mut self, on: bool) -> Self {
        self.config.flight_recorder = on;
        self
    }

    /// Adds the sinks of a [`Preset`] that this crate provides, writing files under `dir`.
    /// For [`Preset::FlightRecorder`] it also puts the pool in `dir/ringtrace.flight`, unless
    /// a pool file was already chosen.
    /// Returns the specs it did not build (a PostgreSQL sink, provided by the
    /// `ringtrace-postgres` crate) so the caller can build them.
    pub fn preset_sinks(mut self, preset: Preset, dir: &std::path::Path) -> Result<(Self, Vec<SinkSpec>), BuildError> {
        let mut rest = Vec::new();
        if preset == Preset::FlightRecorder && self.config.pool_file.is_none() {
            self.config.pool_file = Some(dir.join(crate::output::preset::FLIGHT_POOL_FILE));
        }
        for spec in preset.sinks() {
            match spec.build(dir) {
                Some(Ok(sink)) => self.sinks.push(sink),
                Some(Err(error)) => return Err(BuildError::SinkStart { sink: spec.name().to_string(), error }),
                None => rest.push(spec),
            }
        }
        Ok((self, rest))
    }

    /// Applies a TOML configuration file over the values set in code (R-CONF-1; see
    /// [`config_source`](crate::config_source) for the keys and the precedence). Without
    /// this, the file named by `RINGTRACE_CONFIG`, if any, is used.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Does not apply `RINGTRACE_*` environment variables (they are applied by default, over
    /// the code's values and the file's).
    pub fn ignore_env(mut self) -> Self {
        self.use_env = false;
        self
    }

    /// The configuration `install` would use: the code's values, then the file, then the
    /// environment, validated.
    pub fn resolved_config(&self) -> Result<Config, ConfigError> {
        let vars = if self.use_env { crate::config::source::env_vars() } else { Vec::new() };
        crate::config::source::resolve(self.config.clone(), self.config_file.as_deref(), vars)
    }

    /// Validates the configuration (as resolved with the file and the environment) without
    /// installing anything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.resolved_config().map(|_| ())
    }

    /// Validates, starts the sinks and the drain thread, and installs the runtime as the
    /// target of the recording macros. A sink whose [`metadata`](crate::Sink::metadata)
    /// requires a newer ringtrace is refused ([`BuildError::IncompatibleSink`]) before any
    /// sink starts.
    pub fn install(mut self) -> Result<Guard, BuildError> {
        self.config = self.resolved_config()?;
        if INSTALLED.compare_exchange(false, true, StdOrdering::AcqRel, StdOrdering::Acquire).is_err() {
            return Err(BuildError::AlreadyInstalled);
        }
        let result = self.install_claimed();
        if result.is_err() {
            INSTALLED.store(false, StdOrdering::Release);
        }
        result
    }

    fn install_claimed(self) -> Result<Guard, BuildError> {
        let Builder { config, mut sinks, diagnostics, .. } = self;
        // R-CONF-4: refuse a sink built for a newer ringtrace before anything starts.
        for s in &sinks {
            s.metadata().check(crate::VERSION).map_err(BuildError::IncompatibleSink)?;
        }
        let clock = ClockCalibration::measure();
        // The pool file, for the runtime's own calls (activation, the clean-close mark); the
        // pool reaches it as a journal.
        #[cfg(not(feature = "loom"))]
        let mut pool_file = None;
        let pool = match &config.pool_file {
            None => Pool::new(config.ring_count, config.ring_size).map_err(BuildError::Pool)?,
            #[cfg(not(feature = "loom"))]
            Some(path) => {
                let file = crate::flight::PoolFile::create(
                    path,
                    config.ring_count,
                    config.ring_size,
                    config.max_record_size,
                    &clock,
                )
                .map_err(BuildError::Pool)?;
                let file = Arc::new(file);
                pool_file = Some(file.clone());
                Pool::in_file(config.ring_count, config.ring_size, file)
            }
            #[cfg(feature = "loom")]
            Some(_) => {
                return Err(BuildError::Pool(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "a pool file cannot be used with loom's atomics",
                )))
            }
        };

        // Start sinks in registration order; on failure stop the started ones in reverse.
        for i in 0..sinks.len() {
            let ctx = SinkContext::new(&clock, &config);
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sinks[i].start(&ctx)))
                .unwrap_or_else(|p| Err(crate::SinkError::new(panic_message(&p))));
            if let Err(error) = res {
                for s in sinks[..i].iter_mut().rev() {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.stop()));
                }
                return Err(BuildError::SinkStart { sink: sinks[i].name().to_string(), error });
            }
        }

        let sink_names = sinks.iter().map(|s| s.name().to_string()).collect();
        let poll_signals: fn() -> Option<crate::shared::DrainRequest> = poll_signals;
        let shared = Arc::new(Shared::new(config, pool, clock, diagnostics, sink_names, Some(poll_signals)));
        crate::set_max_level(shared.config.level);
        // Callsites registered from now on are described in the pool file (and those already
        // registered, right away).
        #[cfg(not(feature = "loom"))]
        if let Some(f) = &pool_file {
            f.activate();
        }

        let (tx, rx) = mpsc::channel();
        // Not in the drain thread: a signal between this spawn and its first step would be lost.
        crate::flight::clear_signalled();
        let drain = Drain::new(shared.clone(), sinks);
        let exited = shared.clone();
        let handle = std::thread::Builder::new()
            .name("ringtrace-drain".into())
            .spawn(move || {
                // Sink panics are caught around each call; this catches a bug in the drain
                // itself, so shutdown reports it instead of waiting for a timeout.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drain.run()))
                    .map_err(|p| panic_message(&p));
                // Release: pairs with the Acquire load of a producer waiting on a drain read.
                exited.drain_exited.store(true, Ordering::Release);
                let _ = tx.send(outcome);
            })
            .map_err(BuildError::Spawn)?;

        // A producer whose runtime is closed (or that has none) takes its cold path, whose
        // `CURRENT.load_full()` (ArcSwap, which orders itself) returns this runtime.
        crate::callsite::set_target_rates(crate::callsite::TargetRates::new(shared.config.target_rates.clone()));
        // From here a termination signal (`flush_on_signals`) is this drain's to act on.
        crate::flight::arm_flush(true);
        CURRENT.store(Some(shared.clone()));
        Ok(Guard {
            shared,
            #[cfg(not(feature = "loom"))]
            pool_file,
            handle: Some(handle),
            outcome: rx,
            done: false,
        })
    }
}

/// Whether a runtime is installed (and not yet shut down).
static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The drain's poll for work an OS signal asked for: a termination signal
/// ([`flush_on_signals`](crate::flight::flush_on_signals)) first, then a snapshot
/// ([`snapshot_on_signal`](crate::flight::snapshot_on_signal)).
fn poll_signals() -> Option<crate::shared::DrainRequest> {
    match crate::flight::flush_signal() {
        Some(signal) => Some(crate::shared::DrainRequest::new(move |drain| terminate(drain, signal))),
        None => crate::flight::signalled_request(),
    }
}

/// On the drain thread, for a termination signal: shut the runtime down as `Guard::shutdown`
/// does (in flight-recorder mode: sync the pool file), write the report as a diagnostic, and
/// end the process by the signal's default action.
fn terminate(drain: &mut dyn crate::shared::DrainAccess, signal: i32) {
    let flight = drain.shared().config.flight_recorder;
    let (retained, how) = if flight {
        #[cfg(not(feature = "loom"))]
        if let Some(f) = drain.shared().pool.journal() {
            let _ = f.sync();
        }
        (0, "the pool file synced")
    } else {
        (drain.shut_down(), "every ring drained, the sinks flushed and stopped")
    };
    let shared = drain.shared();
    let report = DrainReport::of(shared, retained);
    shared.diag.emit(
        DiagnosticKind::Summary,
        None,
        format!("signal {signal}: shut down before exiting ({how}): {}", report.summary_line()),
    );
    crate::flight::end_by_signal(signal);
}

/// The installed runtime. Shut it down with [`Guard::shutdown`] to get a [`DrainReport`];
/// dropping the guard shuts down with the configured `shutdown_timeout` and reports problems as
/// diagnostics.
#[must_use = "dropping the guard shuts the runtime down"]
#[derive(Debug)]
pub struct Guard {
    shared: Arc<Shared>,
    /// The pool file, if the pool lives in one (also reached through `shared.pool`).
    #[cfg(not(feature = "loom"))]
    pool_file: Option<Arc<crate::flight::PoolFile>>,
    handle: Option<std::thread::JoinHandle<()>>,
    outcome: mpsc::Receiver<Result<DrainOutcome, String>>,
    done: bool,
}

impl Guard {
    /// A snapshot of the runtime's counters.
    pub fn metrics(&self) -> Metrics {
        Metrics::collect(&self.shared)
    }

    /// Benchmarks only (`benches/benches/record.rs`): runs the drain's recovery check (R-BP-2)
    /// once over every registered thread, on the calling thread, and returns how many threads
    /// are not NORMAL. The drain runs the same check after each pass. Not part of the API.
    #[doc(hidden)]
    pub fn __recovery_check(&self) -> usize {
        crate::drain::Drain::recovery_check_all(&self.shared)
    }

    /// The clock calibration this runtime converts timestamps with.
    pub fn clock(&self) -> ClockCalibration {
        self.shared.clock
    }

    /// With a [pool file](Builder::pool_file): `msync(MS_SYNC)`s it, returning once the kernel
    /// has written every committed record to the device, so they survive a kernel crash or a
    /// power loss too (a process crash needs no sync: the page cache keeps the file). It
    /// costs a write of every dirty page (docs/flight-recorder.md has measurements); call it
    /// at moments that matter, not per event. Without a pool file it does nothing.
    pub fn sync(&self) -> std::io::Result<()> {
        #[cfg(not(feature = "loom"))]
        if let Some(f) = self.shared.pool.journal() {
            return f.sync();
        }
        Ok(())
    }

    /// The pool file, if the pool lives in one.
    pub fn pool_file(&self) -> Option<&std::path::Path> {
        #[cfg(not(feature = "loom"))]
        if let Some(f) = self.shared.pool.journal() {
            return Some(f.path());
        }
        None
    }

    /// Stops intake, drains every ring, flushes and stops the sinks (in reverse order), joins
    /// the drain thread and reports. If the drain does not finish within `timeout` (a sink
    /// hangs), returns with `timed_out` set and leaves the drain thread running detached.
    pub fn shutdown(mut self, timeout: Duration) -> DrainReport {
        self.shutdown_inner(timeout)
    }

    fn shutdown_inner(&mut self, timeout: Duration) -> DrainReport {
        let start = Instant::now();
        self.done = true;
        // Stop intake: no new producer finds this runtime, and every recording call either sees
        // it closed or is waited for (within the timeout), so that from here on no count moves
        // and nothing more is written into the rings.
        if CURRENT.load().as_ref().is_some_and(|c| Arc::ptr_eq(c, &self.shared)) {
            CURRENT.store(None);
        }
        self.shared.close(Some(start + timeout));
        self.shared.stop_drain();
        let (outcome, timed_out, drain_panic) = match self.outcome.recv_timeout(timeout) {
            Ok(Ok(o)) => (Some(o), false, None),
            Ok(Err(p)) => (None, false, Some(p)),
            Err(mpsc::RecvTimeoutError::Disconnected) => (None, false, Some("the drain thread exited".to_string())),
            Err(mpsc::RecvTimeoutError::Timeout) => (None, true, None),
        };
        if let (false, Some(h)) = (timed_out, self.handle.take()) {
            let _ = h.join();
        }
        #[cfg(not(feature = "loom"))]
        if let Some(f) = &self.pool_file {
            f.deactivate();
            if !timed_out && drain_panic.is_none() {
                f.mark_closed();
            }
        }
        crate::callsite::set_target_rates(crate::callsite::TargetRates::default());
        INSTALLED.store(false, StdOrdering::Release);
        let mut report = DrainReport::of(&self.shared, outcome.as_ref().map_or(0, |o| o.retained_events));
        report.duration = start.elapsed();
        report.timed_out = timed_out;
        report.drain_panic = drain_panic;
        if let Some(p) = &report.drain_panic {
            self.shared.diag.emit(
                DiagnosticKind::Summary,
                None,
                format!("the drain thread failed: {p}; {} events were not delivered", report.undelivered),
            );
        }
        if timed_out {
            self.shared.diag.emit(
                DiagnosticKind::ShutdownTimeout,
                None,
                format!(
                    "shutdown timed out after {:?}: the drain thread did not finish in time (a sink may be hanging); \
                     {} events had not been taken out of the rings",
                    timeout, report.undelivered
                ),
            );
        }
        // A termination signal that arrived while this runtime shut down (`flush_on_signals`):
        // the shutdown it asked for is done; now the process ends as the signal would have
        // ended it.
        crate::flight::arm_flush(false);
        crate::flight::raise_pending_flush_signal();
        report
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let timeout = self.shared.config.shutdown_timeout;
        let r = self.shutdown_inner(timeout);
        if r.dropped.total() > 0 || !r.sink_errors.is_empty() || r.drain_panic.is_some() {
            self.shared.diag.emit(DiagnosticKind::Summary, None, r.summary_line());
        }
    }
}

/// What a runtime did, returned by [`Guard::shutdown`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainReport {
    /// Events that made it into a ring (and were taken out by the drain).
    pub recorded: u64,
    /// Events dropped, per reason.
    pub dropped: DropCounts,
    /// Bytes of dropped events.
    pub dropped_bytes: u64,
    /// Events rate limits suppressed (not losses, not in `dropped`).
    pub rate_limited: u64,
    /// Events sampling left out (not losses, not in `dropped`).
    pub sampled: u64,
    /// Backpressure state transitions of all threads.
    pub transitions: TransitionCounts,
    /// Loss records delivered to the sinks.
    pub loss_records: u64,
    /// Per sink: what it wrote and lost.
    pub sinks: Vec<SinkReport>,
    /// Every sink failure (the first 256), with the sink's name.
    pub sink_errors: Vec<SinkErrorReport>,
    /// Threads that recorded.
    pub threads: u64,
    /// Events committed to rings and not taken out by the drain when the report was made:
    /// every recording thread's count of committed events minus `recorded`. Non-zero after a
    /// timeout (a detached drain may still deliver some of them later) or a drain panic, and
    /// in flight-recorder mode without sinks, where the rings are kept (then it equals
    /// `retained`). Once the shutdown's close handshake is done — always, unless a thread
    /// was still inside a recording call when the timeout fired — `recorded + undelivered +
    /// dropped` is every event recorded into this runtime.
    pub undelivered: u64,
    /// Flight-recorder mode without sinks: events left in the rings at shutdown, on purpose
    /// (in the pool file, for `ringtrace recover`). Each event is delivered, dropped with a
    /// reason, or retained.
    pub retained: u64,
    /// How long the shutdown took.
    pub duration: Duration,
    /// How long the runtime ran.
    pub uptime: Duration,
    /// The drain did not finish within the timeout.
    pub timed_out: bool,
    /// The drain thread itself panicked (a bug in ringtrace; sink panics are contained and
    /// reported per sink): the message.
    pub drain_panic: Option<String>,
}

impl DrainReport {
    /// The report of `shared` as its counters are now (`duration` zero, not timed out, no
    /// drain panic: the caller sets those).
    fn of(shared: &Shared, retained: u64) -> DrainReport {
        let m = Metrics::collect(shared);
        DrainReport {
            recorded: m.recorded,
            dropped: m.dropped,
            dropped_bytes: m.dropped_bytes,
            rate_limited: m.rate_limited,
            sampled: m.sampled,
            transitions: m.transitions,
            loss_records: m.drain.loss_records,
            sinks: m.sinks,
            sink_errors: shared.sink_errors.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            threads: m.threads_seen,
            undelivered: shared.undelivered_events(),
            retained,
            duration: Duration::ZERO,
            uptime: shared.started.elapsed(),
            timed_out: false,
            drain_panic: None,
        }
    }

    /// The report for one sink, by name.
    pub fn sink(&self, name: &str) -> Option<&SinkReport> {
        self.sinks.iter().find(|s| s.name == name)
    }

    /// A one-line summary.
    pub fn summary_line(&self) -> String {
        let mut s = format!("recorded {} events, dropped {}", self.recorded, self.dropped.total());
        for (r, n) in self.dropped.iter() {
            s.push_str(&format!(" {r}={n}"));
        }
        if self.rate_limited > 0 || self.sampled > 0 {
            s.push_str(&format!("; not losses: rate_limited={} sampled={}", self.rate_limited, self.sampled));
        }
        for k in &self.sinks {
            s.push_str(&format!("; sink {:?} wrote {} lost {}", k.name, k.written, k.dropped));
        }
        if self.timed_out {
            s.push_str("; TIMED OUT: the drain thread did not finish in time");
        }
        s
    }
}
