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

use crate::intern::Table;
use ringtrace::{Callsite, CallsiteKind, Encode, Encoder, Level, Metadata};
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
#[derive(Debug)]
pub struct RingtraceLogger {
    sites: Table<LogSite>,
    max: log::LevelFilter,
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
    /// A logger recording up to ringtrace's current [`max_level`](ringtrace::max_level).
    pub fn new() -> Self {
        Self { sites: Table::new(), max: level_filter(ringtrace::max_level()), generic: Default::default() }
    }

    /// Records up to `level`.
    pub fn with_max_level(mut self, level: Level) -> Self {
        self.max = level_filter(level);
        self
    }

    /// Installs a logger as `log`'s global logger and sets `log::max_level` to match.
    /// Fails if another logger is already installed.
    pub fn init() -> Result<(), log::SetLoggerError> {
        Self::new().install()
    }

    /// Installs this logger as `log`'s global logger (leaking it) and sets `log::max_level`.
    pub fn install(self) -> Result<(), log::SetLoggerError> {
        let max = self.max;
        log::set_boxed_logger(Box::new(self))?;
        log::set_max_level(max);
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

impl log::Log for RingtraceLogger {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        meta.level() <= self.max
    }

    fn log(&self, r: &log::Record<'_>) {
        if r.level() > self.max {
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
