//! [`RingtraceLogger`]: a `log` backend that records into ringtrace.
//!
//! `log` has no callsite registration, so call sites are interned on their first record, by
//! (file, line, level, target, static message): a 64-bit hash of those finds the site in the
//! lock-free table, and the site's own copy of the key confirms it.
//!
//! - A static message (`info!("ready")`, `args().as_str()` is `Some`) becomes the callsite's
//!   format string: nothing is copied per record but the header.
//! - A formatted message (`info!("got {}", n)`) is written with its `Display` straight into the
//!   ring (no allocation) under the format `"{}"`.
//! - Should two distinct sites ever share a hash, the second is recorded under a generic
//!   per-level callsite that carries target, file and line as fields, so nothing is lost or
//!   mislabelled.
//!
//! The logger records up to ringtrace's configured level (and up to its own maximum, if one
//! was set), following the level when a runtime is installed later (`level.rs`). `log`
//! records bridged into `tracing` by `tracing-log` are recorded by the layer the same way
//! (`bridge.rs`).

use crate::intern::Table;
use ringtrace::{Callsite, CallsiteKind, Encode, Encoder, Level, Metadata};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// A [`log::Log`] that records into the installed ringtrace runtime.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// let guard = ringtrace::Builder::new().ignore_env().install().unwrap();
/// ringtrace_tracing::RingtraceLogger::init().unwrap();
/// log::info!("ready");
/// log::warn!("queue at {}%", 93);
/// assert_eq!(guard.shutdown(std::time::Duration::from_secs(5)).recorded, 2);
/// # }
/// ```
///
/// # With `tracing-subscriber`
///
/// `tracing-subscriber`'s `init()` (default features) installs `tracing-log`'s `LogTracer` as
/// `log`'s logger, which hands `log` records to the `tracing` subscriber. If that subscriber
/// records into ringtrace (a [`RingtraceLayer`](crate::RingtraceLayer) or
/// [`RingtraceSubscriber`](crate::RingtraceSubscriber)), [`init`](Self::init) and
/// [`install`](Self::install) find that out and return `Ok(())` without installing anything:
/// the records reach ringtrace through the bridge, and the layer records them with their real
/// target, file and line, as this logger would. In the other order (this logger first, then
/// `tracing-subscriber`'s `init()`), `init()` panics inside `tracing-subscriber`, which
/// insists on installing `LogTracer`: set the subscriber with
/// `tracing::subscriber::set_global_default` instead, or use [`crate::init`].
#[derive(Debug)]
pub struct RingtraceLogger {
    sites: Table<LogSite>,
    /// The maximum set with [`with_max_level`](Self::with_max_level), if any.
    max: Option<Level>,
    /// Per-level generic sites for hash collisions (see the module doc).
    generic: [OnceLock<&'static Callsite>; 5],
}

/// One interned `log` call site: its key and its ringtrace callsite.
#[derive(Debug)]
struct LogSite {
    file: &'static str,
    line: u32,
    level: log::Level,
    target: &'static str,
    /// The static message, when the site's message is static.
    message: Option<&'static str>,
    callsite: &'static Callsite,
}

impl Default for RingtraceLogger {
    fn default() -> Self {
        Self::new()
    }
}

fn level(l: log::Level) -> Level {
    match l {
        log::Level::Error => Level::Error,
        log::Level::Warn => Level::Warn,
        log::Level::Info => Level::Info,
        log::Level::Debug => Level::Debug,
        log::Level::Trace => Level::Trace,
    }
}

/// The installed logger's own maximum level (`Level as u8`; `Trace` if it has none), or 0 if
/// no `RingtraceLogger` is `log`'s logger. Read when ringtrace's level changes.
static INSTALLED_MAX: AtomicU8 = AtomicU8::new(0);

/// ringtrace's level changed: `log`'s maximum follows, if the installed logger is ours
/// (`level.rs`).
pub(crate) fn level_changed(level: Level) {
    // Relaxed: a flag and a level, read on a cold path.
    if let Some(own) = Level::from_u8(INSTALLED_MAX.load(Ordering::Relaxed)) {
        log::set_max_level(level_filter(own.min(level)));
    }
}

fn level_filter(l: Level) -> log::LevelFilter {
    match l {
        Level::Error => log::LevelFilter::Error,
        Level::Warn => log::LevelFilter::Warn,
        Level::Info => log::LevelFilter::Info,
        Level::Debug => log::LevelFilter::Debug,
        Level::Trace => log::LevelFilter::Trace,
    }
}

/// FxHash-style word-at-a-time mixing: fast on short strings, not for adversarial input (keys
/// are confirmed against the site's copy anyway).
struct Fx(u64);

impl Fx {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(Self::K);
    }

    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.word(u64::from_le_bytes(last) ^ (b.len() as u64) << 56);
    }
}

/// The message argument of a formatted record: its `Display` text, written into the ring.
struct Message<'a>(&'a std::fmt::Arguments<'a>);

impl Encode for Message<'_> {
    const DYNAMIC: bool = true;

    fn encoded_len(&self) -> usize {
        0
    }

    fn encode(&self, enc: &mut Encoder<'_>) {
        enc.put_display(self.0);
    }
}

/// A colliding record: target, file, line, then the message.
struct Generic<'a>(&'a log::Record<'a>);

impl Encode for Generic<'_> {
    const DYNAMIC: bool = true;

    fn encoded_len(&self) -> usize {
        0
    }

    fn encode(&self, enc: &mut Encoder<'_>) {
        let r = self.0;
        enc.put_str(r.target());
        enc.put_str(r.file().unwrap_or(""));
        enc.put_u64(r.line().unwrap_or(0) as u64);
        enc.put_display(r.args());
    }
}

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

impl RingtraceLogger {
    /// A logger recording up to ringtrace's configured level: the current
    /// [`max_level`](ringtrace::max_level), and the level of a runtime installed later.
    pub fn new() -> Self {
        crate::level::follow();
        Self { sites: Table::new(), max: None, generic: Default::default() }
    }

    /// Records up to `level` at most (and never above ringtrace's configured level).
    pub fn with_max_level(mut self, level: Level) -> Self {
        self.max = Some(level);
        self
    }

    /// The most verbose level recorded now.
    #[inline]
    fn level(&self) -> log::LevelFilter {
        level_filter(crate::level::effective(self.max))
    }

    /// Installs a logger as `log`'s global logger and sets `log::max_level` to match.
    /// Fails if another logger is already installed — unless that logger is a
    /// `RingtraceLogger` or hands `log` records to a ringtrace layer (`tracing-subscriber`'s
    /// `init()` installs such a bridge, see the [type docs](Self)): then there is nothing to
    /// do, and it returns `Ok(())`.
    pub fn init() -> Result<(), log::SetLoggerError> {
        Self::new().install()
    }

    /// Installs this logger as `log`'s global logger (leaking it) and sets `log::max_level`;
    /// as [`init`](Self::init), `Ok(())` without installing it if `log` already reaches a
    /// ringtrace layer.
    pub fn install(self) -> Result<(), log::SetLoggerError> {
        let own = self.max.unwrap_or(Level::Trace);
        let level = self.level();
        if let Err(e) = log::set_boxed_logger(Box::new(self)) {
            // Relaxed: set once, before this call could fail for it.
            let ours = INSTALLED_MAX.load(Ordering::Relaxed) != 0;
            return if ours || crate::bridge::log_reaches_ringtrace() { Ok(()) } else { Err(e) };
        }
        // Relaxed: read on the cold path of a level change.
        INSTALLED_MAX.store(own as u8, Ordering::Relaxed);
        log::set_max_level(level);
        Ok(())
    }

    fn key(r: &log::Record<'_>) -> (usize, Option<&'static str>) {
        let message = r.args().as_str();
        let mut h = Fx(r.level() as u64);
        h.word(r.line().unwrap_or(0) as u64);
        h.bytes(r.file().unwrap_or("").as_bytes());
        h.bytes(r.target().as_bytes());
        if let Some(m) = message {
            h.word(m.as_ptr() as u64 ^ (m.len() as u64) << 48);
        }
        ((h.0 as usize) | 1, message)
    }

    fn matches(site: &LogSite, r: &log::Record<'_>, message: Option<&'static str>) -> bool {
        site.line == r.line().unwrap_or(0)
            && site.level == r.level()
            && site.file == r.file().unwrap_or("")
            && site.target == r.target()
            && match (site.message, message) {
                (Some(a), Some(b)) => std::ptr::eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }

    #[cold]
    fn build(r: &log::Record<'_>, message: Option<&'static str>) -> LogSite {
        let format: &'static str = match message {
            Some(m) => leak_str(&crate::site::escape_format(m)),
            None => "{}",
        };
        let file = leak_str(r.file().unwrap_or(""));
        let target = leak_str(r.target());
        let meta: &'static Metadata = Box::leak(Box::new(Metadata {
            level: level(r.level()),
            target,
            module_path: leak_str(r.module_path().unwrap_or("")),
            file,
            line: r.line().unwrap_or(0),
            format,
            fields: &[],
            kind: CallsiteKind::Event,
        }));
        LogSite {
            file,
            line: r.line().unwrap_or(0),
            level: r.level(),
            target,
            message,
            callsite: Box::leak(Box::new(Callsite::new(meta))),
        }
    }

    #[cold]
    fn generic(&self, r: &log::Record<'_>) -> &'static Callsite {
        self.generic[r.level() as usize - 1].get_or_init(|| {
            let meta: &'static Metadata = Box::leak(Box::new(Metadata {
                level: level(r.level()),
                target: "log",
                module_path: "",
                file: "",
                line: 0,
                format: "{}",
                fields: &["log.target", "log.file", "log.line"],
                kind: CallsiteKind::Event,
            }));
            Box::leak(Box::new(Callsite::new(meta)))
        })
    }
}

impl RingtraceLogger {
    /// Records `r` (also for `log` records bridged into `tracing`, `bridge.rs`).
    pub(crate) fn record(&self, r: &log::Record<'_>) {
        if r.level() > self.level() {
            return;
        }
        let (key, message) = Self::key(r);
        let site = self.sites.get_or_insert_with(key, || Self::build(r, message));
        if !Self::matches(site, r, message) {
            return ringtrace::__private::record_event(self.generic(r), &Generic(r));
        }
        match message {
            Some(_) => ringtrace::__private::record_event(site.callsite, &()),
            None => ringtrace::__private::record_event(site.callsite, &Message(r.args())),
        }
    }
}

impl log::Log for RingtraceLogger {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        meta.level() <= self.level()
    }

    fn log(&self, r: &log::Record<'_>) {
        self.record(r);
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tell_sites_apart() {
        let a = log::Record::builder().file(Some("a.rs")).line(Some(1)).target("t").level(log::Level::Info).build();
        let b = log::Record::builder().file(Some("a.rs")).line(Some(2)).target("t").level(log::Level::Info).build();
        let c = log::Record::builder().file(Some("a.rs")).line(Some(1)).target("u").level(log::Level::Info).build();
        let ka = RingtraceLogger::key(&a).0;
        assert_ne!(ka, RingtraceLogger::key(&b).0);
        assert_ne!(ka, RingtraceLogger::key(&c).0);
        let site = RingtraceLogger::build(&a, None);
        assert!(RingtraceLogger::matches(&site, &a, None));
        assert!(!RingtraceLogger::matches(&site, &b, None));
        assert!(!RingtraceLogger::matches(&site, &c, None));
    }
}
