//! What the recording threads, the drain and `metrics()` share for one installed runtime
//! ([`Shared`], reached through [`CURRENT`]), and the requests other threads post to the drain.
//! Read on every thread; written by the drain (its stats) and by shutdown.

use crate::backpressure::Waiters;
use crate::clock::ClockCalibration;
use crate::config::Config;
use crate::diag::{DiagnosticKind, DiagnosticSink, Diagnostics};
use crate::output::event::ThreadInfo;
use crate::output::sink::{SinkErrorReport, SinkPhase, SinkReport};
use crate::rings::pool::Pool;
use crate::rings::registry::Registry;
use crate::sync::wake::DrainSignal;
use crate::sync::{AtomicBool, Ordering};
use arc_swap::ArcSwapOption;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering as StdOrdering};
use std::sync::Mutex;
use std::time::Instant;

/// The installed runtime, if any. Read on cold paths only.
pub(crate) static CURRENT: ArcSwapOption<Shared> = ArcSwapOption::const_empty();

/// The next runtime's [`Shared::generation`]. Generations start at 1; 0 means "none installed".
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// Work asked of the drain thread by another thread: a snapshot or a flush, built by the
/// layer that knows what it means (the flight recorder) and run on the drain thread.
pub(crate) struct DrainRequest(Box<dyn DrainWork>);

/// The work of a [`DrainRequest`].
trait DrainWork: FnOnce(&mut dyn DrainAccess) + Send {}

impl<F: FnOnce(&mut dyn DrainAccess) + Send> DrainWork for F {}

impl DrainRequest {
    /// A request that runs `work` on the drain thread.
    pub(crate) fn new(work: impl FnOnce(&mut dyn DrainAccess) + Send + 'static) -> Self {
        Self(Box::new(work))
    }

    /// Runs it (the drain thread).
    pub(crate) fn run(self, drain: &mut dyn DrainAccess) {
        (self.0)(drain)
    }
}

impl std::fmt::Debug for DrainRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DrainRequest")
    }
}

/// What a [`DrainRequest`] may do on the drain thread.
pub(crate) trait DrainAccess {
    /// The runtime.
    fn shared(&self) -> &Shared;
    /// Copies every live thread's committed records, oldest first and each padded to 8 bytes
    /// as in a ring, without taking its rings; threads with none are left out.
    fn peek_threads(&mut self) -> Vec<(ThreadInfo, Vec<u8>)>;
    /// Delivers everything recorded so far to the sinks and flushes them.
    fn flush_now(&mut self);
    /// Shuts the runtime down from the drain thread, as `Guard::shutdown` does: intake closed,
    /// final passes, loss records, the sinks flushed and stopped in reverse order. Returns
    /// the events kept in the rings (flight-recorder mode without sinks). The drain must not
    /// run on afterwards: the caller ends the process.
    fn shut_down(&mut self) -> u64;
}

/// Everything the producers, the drain and `metrics()` share for one runtime.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Unique per installed runtime (a producer made for another one is replaced).
    pub(crate) generation: u64,
    /// Set once by `shutdown`: the runtime takes no more records. Read by every recording
    /// call after it entered (`rings::slot::Presence`: the close handshake); on its own cache
    /// line, which nothing else writes.
    pub(crate) closed: crate::sync::CachePadded<AtomicBool>,
    pub(crate) config: Config,
    pub(crate) pool: Pool,
    pub(crate) registry: Registry,
    pub(crate) signal: DrainSignal,
    /// Set by `shutdown`; the drain finishes after seeing it (SeqCst store, Acquire load).
    pub(crate) stop: AtomicBool,
    pub(crate) clock: ClockCalibration,
    pub(crate) diag: Diagnostics,
    pub(crate) drain_stats: DrainStats,
    pub(crate) sink_stats: Vec<SinkStats>,
    pub(crate) sink_errors: Mutex<Vec<SinkErrorReport>>,
    pub(crate) started: Instant,
    /// Fewer free rings than this: PRESSURE (`pressure_watermark` × rings, rounded up).
    pub(crate) pressure_below: usize,
    /// At least this many free rings: RECOVERY (`recovery_watermark` × rings, rounded up).
    pub(crate) recovery_at: usize,
    /// Producers waiting under `Policy::Block`.
    pub(crate) waiters: Waiters,
    /// The same-thread-rule diagnostic was emitted (once per runtime; the count is in the
    /// report).
    pub(crate) drain_context_reported: std::sync::atomic::AtomicBool,
    /// Work other threads asked of the drain (snapshots, flushes: [`Shared::post_request`]).
    pub(crate) requests: Mutex<Vec<DrainRequest>>,
    /// `requests` is not empty (SeqCst store by the asker, Acquire load by the drain).
    pub(crate) request_pending: AtomicBool,
    /// Asked by the drain on every turn of its loop for work that arrived without a thread to
    /// post it (a snapshot asked for by an OS signal: the flight recorder's poll).
    pub(crate) poll_request: Option<fn() -> Option<DrainRequest>>,
    /// The drain thread has ended (returned or unwound). Set by the drain thread last (Release);
    /// read by producers waiting on a drain read (Acquire), as a way out.
    pub(crate) drain_exited: AtomicBool,
}

/// Drain-side counters (written by the drain thread, read by `metrics()`; Relaxed counts).
#[derive(Debug, Default)]
pub(crate) struct DrainStats {
    /// Turns of the drain loop (passes plus idle checks).
    pub iterations: AtomicU64,
    /// Passes over the registry that found records.
    pub busy_passes: AtomicU64,
    /// Times the drain parked.
    pub sleeps: AtomicU64,
    /// Times it parked deeply (producers wake it on their next record).
    pub deep_sleeps: AtomicU64,
    /// Batches dispatched.
    pub batches: AtomicU64,
    /// Loss records delivered.
    pub loss_records: AtomicU64,
    /// Rings whose content could not be read.
    pub corrupt_rings: AtomicU64,
    /// Heap bytes the drain holds for records now (its copy buffers and merge buffers), and
    /// the most it ever held (`DrainMetrics::buffer_bytes`).
    pub buffer_bytes: AtomicU64,
    pub buffer_bytes_high_water: AtomicU64,
    /// Rings the drain holds now (taken from chains, records not all handed out yet).
    pub held_rings: AtomicU64,
}

/// Per-sink counters (written by the drain thread).
#[derive(Debug)]
pub(crate) struct SinkStats {
    pub name: String,
    pub batches: AtomicU64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub errors: AtomicU64,
    pub panics: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    pub outputs: Mutex<Vec<PathBuf>>,
}

impl SinkStats {
    fn new(name: String) -> Self {
        Self {
            name,
            batches: AtomicU64::new(0),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            last_error: Mutex::new(None),
            outputs: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn report(&self) -> SinkReport {
        SinkReport {
            name: self.name.clone(),
            written: self.written.load(StdOrdering::Relaxed),
            dropped: self.dropped.load(StdOrdering::Relaxed),
            batches: self.batches.load(StdOrdering::Relaxed),
            errors: self.errors.load(StdOrdering::Relaxed),
            panics: self.panics.load(StdOrdering::Relaxed),
            last_error: self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            outputs: self.outputs.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }
}

/// Most sink errors kept for the report (later ones are still counted per sink).
const MAX_SINK_ERRORS: usize = 256;

impl Shared {
    /// Queues work for the drain thread and wakes it; the drain runs it on its next turn (or
    /// in its final passes), handing it a [`DrainAccess`]. The request answers its asker
    /// itself (a channel it carries).
    pub(crate) fn post_request(&self, request: DrainRequest) {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).push(request);
        // SeqCst store and fence, then the wake: a Dekker pair with the drain's fence between
        // announcing a sleep and its re-check (`has_work`): either the drain sees the flag, or
        // the wake sees it sleeping and unparks it.
        self.request_pending.store(true, Ordering::SeqCst);
        crate::sync::fence(Ordering::SeqCst);
        self.signal.wake_now();
    }

    /// The state of a new runtime (nothing is started: no drain, not installed).
    pub(crate) fn new(
        config: Config,
        pool: Pool,
        clock: ClockCalibration,
        diagnostics: DiagnosticSink,
        sink_names: Vec<String>,
        poll_request: Option<fn() -> Option<DrainRequest>>,
    ) -> Self {
        let generation = NEXT_GENERATION.fetch_add(1, StdOrdering::Relaxed);
        let rings = config.ring_count as f64;
        let pressure_below = (config.pressure_watermark * rings).ceil() as usize;
        let recovery_at = (config.recovery_watermark * rings).ceil() as usize;
        Shared {
            generation,
            closed: crate::sync::CachePadded::new(AtomicBool::new(false)),
            registry: Registry::new(config.max_rings_per_thread),
            config,
            pool,
            signal: DrainSignal::new(),
            stop: AtomicBool::new(false),
            clock,
            diag: Diagnostics::new(diagnostics),
            drain_stats: DrainStats::default(),
            sink_stats: sink_names.into_iter().map(SinkStats::new).collect(),
            sink_errors: Mutex::new(Vec::new()),
            started: Instant::now(),
            pressure_below,
            recovery_at,
            waiters: Waiters::default(),
            drain_context_reported: std::sync::atomic::AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            request_pending: AtomicBool::new(false),
            poll_request,
            drain_exited: AtomicBool::new(false),
        }
    }

    /// Closes the runtime to new records: the closer's half of the close handshake
    /// (`rings::slot::Presence`). Sets `closed`, fences (the heavy half), wakes producers blocked
    /// under `Block` so they see it, and waits — until `deadline`, if one is given — until no
    /// producer is inside a call. Returns whether none is. From then on nothing is written
    /// into the rings and no producer-side count moves.
    pub(crate) fn close(&self, deadline: Option<Instant>) -> bool {
        // Relaxed store: ordered before the loads of the producers' presence by the fence
        // pair (`rings::slot::Presence`).
        self.closed.store(true, Ordering::Relaxed);
        if !crate::sync::asymmetric_heavy() {
            crate::sync::fence(Ordering::SeqCst);
        }
        self.waiters.wake_all();
        self.wait_producers_outside(deadline)
    }

    /// Tells the drain to finish (final passes, stop the sinks) and wakes it.
    pub(crate) fn stop_drain(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // SeqCst fence: a Dekker pair with the drain's fence between announcing a sleep and
        // re-checking `stop` (drain/mod.rs): either the drain sees `stop`, or the wake below sees
        // it sleeping and unparks it.
        crate::sync::fence(Ordering::SeqCst);
        self.signal.wake_now();
    }

    /// The closer's wait of the close handshake (`rings::slot::Presence`), after the caller's heavy
    /// fence: waits until no producer is inside a call on this runtime, or until `deadline`.
    /// Returns whether none is.
    pub(crate) fn wait_producers_outside(&self, deadline: Option<Instant>) -> bool {
        if crate::sync::weaken::active(crate::sync::Mutation::NoCloseWait) {
            return true;
        }
        for entry in self.registry.iter() {
            match deadline {
                None => {
                    entry.presence.wait_outside();
                }
                Some(d) => {
                    let mut i = 0u32;
                    while entry.presence.is_inside() {
                        if Instant::now() >= d {
                            return false;
                        }
                        crate::sync::spin_wait(i);
                        i = i.saturating_add(1);
                    }
                }
            }
        }
        true
    }

    /// Events committed to rings and not taken out by the drain: every thread's committed
    /// count (`rings::slot::Presence`) minus what the drain delivered and what `DropOldest`
    /// overwrote (committed, then reclaimed). Exact once no producer is inside a call (after
    /// the close handshake); a snapshot before.
    pub(crate) fn undelivered_events(&self) -> u64 {
        let reg = &self.registry;
        let overwritten = crate::backpressure::drops::DropReason::Overwritten.index();
        // Relaxed: counters, read after the handshake's Acquire loads.
        let gone = |c: &crate::backpressure::drops::Counters| {
            c.delivered.load(StdOrdering::Relaxed) + c.dropped[overwritten].load(StdOrdering::Relaxed)
        };
        let mut committed = reg.retired.committed.load(StdOrdering::Relaxed);
        let mut out = gone(&reg.retired);
        for e in reg.iter() {
            if e.is_occupied() {
                committed += e.presence.committed();
                out += gone(&e.counters);
            }
        }
        committed.saturating_sub(out)
    }

    /// Records a sink failure: counters, the error list and a diagnostic.
    pub(crate) fn sink_failed(&self, sink: usize, phase: SinkPhase, message: String, panicked: bool) {
        let stats = &self.sink_stats[sink];
        stats.errors.fetch_add(1, StdOrdering::Relaxed);
        if panicked {
            stats.panics.fetch_add(1, StdOrdering::Relaxed);
        }
        *stats.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.clone());
        let kind = match (panicked, phase) {
            (true, _) => DiagnosticKind::SinkPanic,
            (false, SinkPhase::Start) => DiagnosticKind::SinkStart,
            (false, SinkPhase::Stop) => DiagnosticKind::SinkStop,
            (false, _) => DiagnosticKind::SinkWrite,
        };
        self.diag.emit(kind, Some(&stats.name), format!("{phase} failed: {message}"));
        let mut errs = self.sink_errors.lock().unwrap_or_else(|e| e.into_inner());
        if errs.len() < MAX_SINK_ERRORS {
            errs.push(SinkErrorReport { sink: stats.name.clone(), phase, message });
        }
    }
}
