//! `log` records that reach ringtrace through `tracing-log`'s bridge.
//!
//! `tracing-subscriber`'s `init()` (with its default features) installs
//! `tracing_log::LogTracer` as `log`'s logger, which turns every `log` record into a `tracing`
//! event of one of five callsites (one per level) with target `log` and the record's real
//! target, module, file and line as the fields `log.target`, `log.module_path`, `log.file` and
//! `log.line`. The layer recognises those callsites (`site.rs`) and records such an event as
//! [`RingtraceLogger`] records a `log` record: under an interned callsite with the real
//! target, module, file and line, the message as its one argument. So a program's `log`
//! records come out alike whichever way they arrive.
//!
//! It also answers the question [`RingtraceLogger::init`] asks when another logger is already
//! installed: does `log` already reach a ringtrace layer? It asks `log`'s logger whether a
//! record of a private target ([`PROBE_TARGET`]) is enabled; `LogTracer` hands the question to
//! the `tracing` dispatcher, whose ringtrace layer (or subscriber) notes that it saw the probe
//! (`saw_probe`) and answers no. Nothing is recorded or printed.

use crate::log::RingtraceLogger;
use std::cell::Cell;
use std::fmt;
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Metadata};
use tracing_log::NormalizeEvent;

/// The target of the probe record (compared by address: only this static has it).
pub(crate) static PROBE_TARGET: &str = "ringtrace_tracing::log_bridge_probe";

thread_local! {
    /// A ringtrace layer or subscriber saw the probe on this thread.
    static PROBE_SEEN: Cell<bool> = const { Cell::new(false) };
}

/// Whether `meta` is the probe's (a pointer comparison); notes it if so.
#[inline]
pub(crate) fn is_probe(meta: &Metadata<'_>) -> bool {
    let t = meta.target();
    if t.as_ptr() == PROBE_TARGET.as_ptr() && t.len() == PROBE_TARGET.len() {
        let _ = PROBE_SEEN.try_with(|s| s.set(true));
        return true;
    }
    false
}

/// Whether `log`'s installed logger hands records to a ringtrace layer or subscriber (see the
/// module doc).
pub(crate) fn log_reaches_ringtrace() -> bool {
    let _ = PROBE_SEEN.try_with(|s| s.set(false));
    let meta = log::Metadata::builder().level(log::Level::Error).target(PROBE_TARGET).build();
    let _ = log::logger().enabled(&meta);
    PROBE_SEEN.try_with(|s| s.replace(false)).unwrap_or(false)
}

fn log_level(l: &tracing_core::Level) -> log::Level {
    match *l {
        tracing_core::Level::ERROR => log::Level::Error,
        tracing_core::Level::WARN => log::Level::Warn,
        tracing_core::Level::INFO => log::Level::Info,
        tracing_core::Level::DEBUG => log::Level::Debug,
        _ => log::Level::Trace,
    }
}

/// Records `event`, one of `tracing-log`'s, with its real target, module, file and line.
/// `false` if it is not a bridged `log` record after all.
pub(crate) fn record(logger: &RingtraceLogger, event: &Event<'_>) -> bool {
    let Some(meta) = event.normalized_metadata() else { return false };
    let mut v = Message { logger, meta: &meta, done: false };
    event.record(&mut v);
    if !v.done {
        v.log(format_args!(""));
    }
    true
}

/// Finds the message and records the `log` record it belongs to.
struct Message<'a, 'm> {
    logger: &'a RingtraceLogger,
    meta: &'a Metadata<'m>,
    done: bool,
}

impl Message<'_, '_> {
    fn log(&mut self, args: fmt::Arguments<'_>) {
        let m = self.meta;
        self.done = true;
        self.logger.record(
            &log::Record::builder()
                .args(args)
                .level(log_level(m.level()))
                .target(m.target())
                .module_path(m.module_path())
                .file(m.file())
                .line(m.line())
                .build(),
        );
    }
}

impl Visit for Message<'_, '_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.done && field.name() == "message" {
            self.log(format_args!("{value:?}"));
        }
    }
}
