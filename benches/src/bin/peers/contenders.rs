//! The contenders: ringtrace and the peers a latency-sensitive user would otherwise pick, each
//! set up as such a user would (a background thread does the I/O, output goes to a file), plus
//! two floors.
//!
//! Every contender runs alone in its own child process (see `main.rs`), so the ones that take
//! a process-wide logger (`tracing`'s global dispatcher, the `log` crate's logger used by
//! ftlog and fast_log, ringtrace's one runtime) are installed exactly once, the fast way
//! (global dispatch, not a scoped one), and nothing left over from one contender — a
//! background thread still writing, a full allocator cache — disturbs the next.
//!
//! Queues are sized alike: [`QUEUE_EVENTS`] events (tracing-appender's default) for every peer
//! that takes a size. ringtrace keeps its defaults (64 rings of 64 KiB, about 80 k of these
//! events). Files are written through a `BufWriter` where the set-up is ours to choose; the
//! peers that ship a file appender use their own.

use crate::harness::{self, Contender, Finished, Settings};
use ringtrace_benches::clock::Stopwatch;
use serde_json::Value;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Capacity of every peer's queue to its background thread, in events.
pub const QUEUE_EVENTS: usize = 128_000;

/// How long ringtrace's lossless variant waits for a free ring before dropping.
pub const BLOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// One row of the comparison.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Key in the JSON output and the `--only` argument.
    pub name: &'static str,
    /// How it is set up, for the table.
    pub setup: &'static str,
    /// Whether it has an end-to-end run (the floors write no file).
    pub e2e: bool,
}

/// Every row, in table order.
pub const ALL: &[Spec] = &[
    Spec { name: "ringtrace", setup: "FmtSink text file, default config (drop_newest, 64×64 KiB rings)", e2e: true },
    Spec { name: "ringtrace_block", setup: "same, Policy::Block { timeout: 1 s } (lossless)", e2e: true },
    Spec { name: "ringtrace_json", setup: "FmtSink JSON lines file, default config", e2e: true },
    Spec {
        name: "ringtrace_binary",
        setup: "BinarySink trace file, default config (events counted by the sink)",
        e2e: true,
    },
    Spec {
        name: "ringtrace_json_block",
        setup: "FmtSink JSON lines file, Policy::Block { timeout: 1 s } (lossless)",
        e2e: true,
    },
    Spec {
        name: "tracing_appender_lossy",
        setup: "tracing-subscriber fmt → tracing-appender non_blocking, lossy, 128k lines",
        e2e: true,
    },
    Spec {
        name: "tracing_appender_lossless",
        setup: "tracing-subscriber fmt → tracing-appender non_blocking, lossless, 128k lines",
        e2e: true,
    },
    Spec { name: "slog_async", setup: "slog-term FullFormat ← slog-async, 128k, DropAndReport (default)", e2e: true },
    Spec { name: "spdlog_async", setup: "spdlog-rs FileSink ← AsyncPoolSink, 128k, Block (default)", e2e: true },
    Spec { name: "ftlog", setup: "ftlog FileAppender, bounded 128k, drop when full (default), tsc clock", e2e: true },
    Spec { name: "fast_log", setup: "fast_log file appender, chan_len 128k (blocks when full)", e2e: true },
    Spec { name: "rtrb", setup: "floor: rtrb push of a 32-byte record, consumer thread", e2e: false },
    Spec { name: "tsc_read", setup: "floor: the measurement itself (two fenced TSC reads)", e2e: false },
];

/// Which of the two measurements a child process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Per-call latency.
    Latency,
    /// End-to-end throughput.
    E2e,
}

impl Phase {
    /// The `--phase` argument.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Latency => "latency",
            Phase::E2e => "e2e",
        }
    }
}

/// Sets up contender `name` writing into `dir`, runs `phase` and returns its figures.
pub fn run(name: &str, phase: Phase, s: &Settings, sw: &Stopwatch, dir: &Path) -> Result<Value, String> {
    let path = harness::output_path(dir, name, phase.as_str());
    let out = match name {
        "ringtrace" => measure(Ringtrace::new(&path, ringtrace::Policy::DropNewest, Out::Text)?, phase, s, sw, &path),
        "ringtrace_block" => measure(
            Ringtrace::new(&path, ringtrace::Policy::Block { timeout: BLOCK_TIMEOUT }, Out::Text)?,
            phase,
            s,
            sw,
            &path,
        ),
        "ringtrace_json" => {
            measure(Ringtrace::new(&path, ringtrace::Policy::DropNewest, Out::Json)?, phase, s, sw, &path)
        }
        "ringtrace_json_block" => measure(
            Ringtrace::new(&path, ringtrace::Policy::Block { timeout: BLOCK_TIMEOUT }, Out::Json)?,
            phase,
            s,
            sw,
            &path,
        ),
        "ringtrace_binary" => {
            measure(Ringtrace::new(&path, ringtrace::Policy::DropNewest, Out::Binary)?, phase, s, sw, &path)
        }
        "tracing_appender_lossy" => measure(TracingAppender::new(&path, true)?, phase, s, sw, &path),
        "tracing_appender_lossless" => measure(TracingAppender::new(&path, false)?, phase, s, sw, &path),
        "slog_async" => measure(SlogAsync::new(&path)?, phase, s, sw, &path),
        "spdlog_async" => measure(SpdlogAsync::new(&path)?, phase, s, sw, &path),
        "ftlog" => measure(Ftlog::new(&path)?, phase, s, sw, &path),
        "fast_log" => measure(FastLog::new(&path)?, phase, s, sw, &path),
        "rtrb" => harness::latency(Rtrb::new(), sw, s, None),
        "tsc_read" => harness::latency(TscRead, sw, s, None),
        other => return Err(format!("unknown contender {other:?}")),
    };
    let _ = std::fs::remove_file(&path);
    Ok(out)
}

/// Runs `phase` on a contender that writes to `path`.
fn measure<C: Contender>(c: C, phase: Phase, s: &Settings, sw: &Stopwatch, path: &Path) -> Value {
    match phase {
        Phase::Latency => harness::latency(c, sw, s, Some(path)),
        Phase::E2e => harness::end_to_end(c, s, path),
    }
}

/// Creates `path` behind a 64 KiB buffer (the worker threads flush it when their queue runs dry).
fn buffered_file(path: &Path) -> Result<BufWriter<File>, String> {
    File::create(path).map(|f| BufWriter::with_capacity(64 * 1024, f)).map_err(|e| format!("{}: {e}", path.display()))
}

/// Which ringtrace sink a row uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Text,
    Json,
    Binary,
}

/// ringtrace with a file sink.
#[derive(Debug)]
struct Ringtrace {
    /// The installed runtime.
    guard: ringtrace::Guard,
    /// The sink kind (a binary trace is not counted by lines: the sink's own count is used).
    out: Out,
}

impl Ringtrace {
    /// Installs the runtime (environment variables ignored) with a never-rotated file.
    fn new(path: &Path, policy: ringtrace::Policy, out: Out) -> Result<Self, String> {
        use ringtrace::sinks::{rotate::Rotation, BinarySink, FmtSink, Format};
        let never = Rotation { max_bytes: 0, max_files: 0 };
        let sink: Box<dyn ringtrace::Sink> = match out {
            Out::Text => Box::new(FmtSink::file(path, Format::Text, never).map_err(|e| e.to_string())?),
            Out::Json => Box::new(FmtSink::file(path, Format::Json, never).map_err(|e| e.to_string())?),
            Out::Binary => Box::new(BinarySink::file(path, never).map_err(|e| e.to_string())?),
        };
        let guard = ringtrace::Builder::new()
            .ignore_env()
            .policy(policy)
            .boxed_sink(sink)
            .install()
            .map_err(|e| e.to_string())?;
        Ok(Self { guard, out })
    }
}

impl Contender for Ringtrace {
    #[inline(always)]
    fn log(&mut self, id: u64, price: f64, qty: u32) {
        ringtrace::info!("order {} filled at {} qty {}", id, price, qty);
    }

    fn finish(self) -> Finished {
        let report = self.guard.shutdown(Duration::from_secs(60));
        // A binary trace holds records, not lines: what the sink wrote, less loss records.
        let written = (self.out == Out::Binary)
            .then(|| report.sinks.first().map_or(0, |s| s.written.saturating_sub(report.loss_records)));
        Finished { reported_lost: Some(report.dropped.total()), written }
    }
}

/// `tracing` with the fmt subscriber as the global dispatcher, writing through
/// tracing-appender's non-blocking writer.
struct TracingAppender {
    /// Flushes and stops the worker when dropped.
    guard: tracing_appender::non_blocking::WorkerGuard,
    /// Lines dropped because the queue was full (lossy mode).
    dropped: tracing_appender::non_blocking::ErrorCounter,
}

impl std::fmt::Debug for TracingAppender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracingAppender").field("dropped", &self.dropped.dropped_lines()).finish_non_exhaustive()
    }
}

impl TracingAppender {
    /// Installs the global subscriber (once per process).
    fn new(path: &Path, lossy: bool) -> Result<Self, String> {
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(lossy)
            .buffered_lines_limit(QUEUE_EVENTS)
            .finish(buffered_file(path)?);
        let dropped = writer.error_counter();
        let subscriber = tracing_subscriber::fmt().with_writer(writer).with_ansi(false).finish();
        tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())?;
        Ok(Self { guard, dropped })
    }
}

impl Contender for TracingAppender {
    #[inline(always)]
    fn log(&mut self, id: u64, price: f64, qty: u32) {
        tracing::info!("order {} filled at {} qty {}", id, price, qty);
    }

    fn finish(self) -> Finished {
        let Self { guard, dropped } = self;
        // Waits (up to 1.1 s, tracing-appender's own limit) for the worker to write everything.
        drop(guard);
        Finished { reported_lost: Some(dropped.dropped_lines() as u64), written: None }
    }
}

/// slog with slog-term's full format behind slog-async.
#[derive(Debug)]
struct SlogAsync {
    /// The root logger; dropping the last clone stops and joins the worker.
    logger: slog::Logger,
}

impl SlogAsync {
    /// Builds the logger (no global state).
    fn new(path: &Path) -> Result<Self, String> {
        use slog::Drain;
        let decorator = slog_term::PlainDecorator::new(buffered_file(path)?);
        let format = slog_term::FullFormat::new(decorator).build().fuse();
        let drain = slog_async::Async::new(format).chan_size(QUEUE_EVENTS).build().fuse();
        Ok(Self { logger: slog::Logger::root(drain, slog::o!()) })
    }
}

impl Contender for SlogAsync {
    #[inline(always)]
    fn log(&mut self, id: u64, price: f64, qty: u32) {
        slog::info!(self.logger, "order {} filled at {} qty {}", id, price, qty);
    }

    fn finish(self) -> Finished {
        // The drain's drop sends `Finish` to the worker and joins it.
        drop(self.logger);
        Finished::default()
    }
}

/// spdlog-rs with a file sink behind an asynchronous pool sink on its own thread pool.
struct SpdlogAsync {
    /// The logger.
    logger: Arc<spdlog::Logger>,
    /// The worker; dropping the last reference processes the queue and joins it.
    pool: Arc<spdlog::ThreadPool>,
}

impl std::fmt::Debug for SpdlogAsync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpdlogAsync").finish_non_exhaustive()
    }
}

impl SpdlogAsync {
    /// Builds the logger and its thread pool (no global state).
    fn new(path: &Path) -> Result<Self, String> {
        use spdlog::sink::{AsyncPoolSink, FileSink};
        let err = |e: spdlog::Error| e.to_string();
        let file = FileSink::builder().path(path).truncate(true).build_arc().map_err(err)?;
        let capacity = std::num::NonZeroUsize::new(QUEUE_EVENTS).expect("non-zero");
        let pool = Arc::new(spdlog::ThreadPool::builder().capacity(capacity).build().map_err(err)?);
        let sink = AsyncPoolSink::builder().sink(file).thread_pool(pool.clone()).build_arc().map_err(err)?;
        let logger = spdlog::Logger::builder().sink(sink).build_arc().map_err(err)?;
        Ok(Self { logger, pool })
    }
}

impl Contender for SpdlogAsync {
    #[inline(always)]
    fn log(&mut self, id: u64, price: f64, qty: u32) {
        spdlog::info!(logger: self.logger, "order {} filled at {} qty {}", id, price, qty);
    }

    fn finish(self) -> Finished {
        // Queues a flush behind the records; the pool's drop runs the queue dry and joins.
        self.logger.flush();
        drop(self.logger);
        drop(self.pool);
        Finished::default()
    }
}

/// ftlog as the `log` crate's global logger.
struct Ftlog {
    /// Flushes (and waits) when dropped.
    guard: ftlog::LoggerGuard,
}

impl std::fmt::Debug for Ftlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ftlog").finish_non_exhaustive()
    }
}

impl Ftlog {
    /// Installs the global logger (once per process).
    fn new(path: &Path) -> Result<Self, String> {
        let guard = ftlog::builder()
            .bounded(QUEUE_EVENTS, false)
            .utc()
            .root(ftlog::appender::FileAppender::new(path))
            .try_init()
            .map_err(|e| e.to_string())?;
        Ok(Self { guard })
    }
}

impl Contender for Ftlog {
    #[inline(always)]
    fn log(&mut self, id: u64, price: f64, qty: u32) {
        log::info!("order {} filled at {} qty {}", id, price, qty);
    }

    fn finish(self) -> Finished {
        // Sends a flush behind the records and waits for the log thread to do it.
        drop(self.guard);
        Finished::default()
    }
}

/// fast_log as the `log` crate's global logger.
#[derive(Debug)]
struct FastLog;

impl FastLog {
    /// Installs the global logger (once per process).
    fn new(path: &Path) -> Result<Self, String> {
        let path = path.to_str().ok_or("temporary path is not UTF-8")?;
        fast_log::init(fast_log::Config::new().file(path).chan_len(Some(QUEUE_EVENTS))).map_err(|e| e.to_string())?;
        Ok(Self)
    }
}

impl Contender for FastLog {
    #[inline(always)]
    fn log(&mut self, id: u64, price: f64, qty: u32) {
        log::info!("order {} filled at {} qty {}", id, price, qty);
    }

    fn finish(self) -> Finished {
        // Sends a flush command behind the records and waits until the appender did it.
        log::logger().flush();
        Finished::default()
    }
}

/// The record the rtrb floor pushes: the event's arguments and a call-site id, 32 bytes.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Record32 {
    /// A timestamp-sized word (the call number here).
    seq: u64,
    /// The order id.
    id: u64,
    /// The price.
    price: f64,
    /// The quantity.
    qty: u32,
    /// Which call site recorded it.
    callsite: u32,
}

/// A bare single-producer ring of 32-byte records with a consumer thread: the cost of handing
/// a fixed-size record to another thread, with no timestamp, encoding or formatting.
#[derive(Debug)]
struct Rtrb {
    /// The producer half.
    producer: rtrb::Producer<Record32>,
    /// Calls so far.
    seq: u64,
    /// The consumer thread; returns how many records it popped.
    consumer: std::thread::JoinHandle<u64>,
    /// Tells the consumer to stop once the ring is empty.
    stop: Arc<AtomicBool>,
}

impl Rtrb {
    /// Creates a 64 Ki-slot ring (2 MiB), touches every slot once so first-touch page faults
    /// are not counted as push cost, and starts the consumer.
    fn new() -> Self {
        const SLOTS: usize = 1 << 16;
        let (mut producer, mut consumer) = rtrb::RingBuffer::<Record32>::new(SLOTS);
        for i in 0..SLOTS as u64 {
            let _ = producer.push(Record32 { seq: i, id: i, price: 0.0, qty: 0, callsite: 0 });
        }
        while consumer.pop().is_ok() {}
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let consumer = std::thread::spawn(move || {
            let mut n = 0u64;
            loop {
                while let Ok(r) = consumer.pop() {
                    std::hint::black_box(r);
                    n += 1;
                }
                // Acquire pairs with the Release in `finish`: every push before it is visible
                // to the pass below.
                if stop2.load(Ordering::Acquire) {
                    n += std::iter::from_fn(|| consumer.pop().ok()).count() as u64;
                    return n;
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        });
        Self { producer, seq: 0, consumer, stop }
    }
}

impl Contender for Rtrb {
    #[inline(always)]
    fn log(&mut self, id: u64, price: f64, qty: u32) {
        self.seq += 1;
        // A full ring drops the record; it is then counted as lost in `finish`.
        let _ = self.producer.push(Record32 { seq: self.seq, id, price, qty, callsite: 1 });
    }

    fn finish(self) -> Finished {
        // Release pairs with the consumer's Acquire load of `stop`.
        self.stop.store(true, Ordering::Release);
        let popped = self.consumer.join().unwrap_or(0);
        Finished { reported_lost: Some(self.seq - popped.min(self.seq)), written: None }
    }
}

/// Records nothing: what remains is the cost of the two clock reads around the call.
#[derive(Debug)]
struct TscRead;

impl Contender for TscRead {
    #[inline(always)]
    fn log(&mut self, _: u64, _: f64, _: u32) {}

    fn finish(self) -> Finished {
        Finished { reported_lost: Some(0), written: None }
    }
}
