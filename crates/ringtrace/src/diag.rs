//! Diagnostics about the runtime itself (R-LIFE-4): sink failures, shutdown timeouts, state
//! changes, dropped records the user should hear about.
//!
//! Diagnostics go to stderr (one line, prefixed `ringtrace:`) or to a hook the user installs
//! with [`Builder::diagnostics`](crate::Builder::diagnostics). They are:
//!
//! - **rate-limited** per [`DiagnosticKind`]: at most [`RATE_LIMIT`] per kind in each
//!   [`RATE_WINDOW`]; the rest are counted, and the next one that gets through says how many
//!   were suppressed;
//! - **never recursive**: a diagnostic raised while a diagnostic is being delivered on the
//!   same thread (a hook that records an event that fails, say) is counted as suppressed, not
//!   delivered; and a panicking hook is caught;
//! - **off the recording path**: emitted by the drain thread or on cold paths, never while a
//!   record is being written.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most diagnostics of one kind delivered per [`RATE_WINDOW`].
pub const RATE_LIMIT: u32 = 10;
/// The rate-limiting window.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// What a diagnostic is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// A sink failed to start; it receives no events.
    SinkStart,
    /// A sink's `write_batch` or `flush` returned an error; the batch is lost for that sink.
    SinkWrite,
    /// A sink panicked; the panic was caught.
    SinkPanic,
    /// A sink's `stop` failed.
    SinkStop,
    /// Shutdown did not finish within its timeout.
    ShutdownTimeout,
    /// A ring held a record that could not be read; the rest of that ring was skipped.
    CorruptRing,
    /// A thread changed backpressure state.
    StateTransition,
    /// A record made on the drain thread was dropped although the policy is `Block`.
    DrainContextDrop,
    /// A record could not be serialized (strict mode) or was truncated (best effort).
    Serialization,
    /// A summary at shutdown (drops, errors).
    Summary,
    /// A snapshot asked for by a signal was written, or failed
    /// ([`snapshot_on_signal`](crate::flight::snapshot_on_signal)).
    Snapshot,
}

/// One diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What it is about.
    pub kind: DiagnosticKind,
    /// The sink concerned, if any.
    pub sink: Option<String>,
    /// A one-line, human-readable description.
    pub message: String,
    /// Diagnostics of this kind suppressed by rate limiting since the last one delivered.
    pub suppressed_before: u64,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.sink {
            write!(f, "sink {s:?}: ")?;
        }
        f.write_str(&self.message)?;
        if self.suppressed_before > 0 {
            write!(f, " ({} similar diagnostics suppressed)", self.suppressed_before)?;
        }
        Ok(())
    }
}

/// A user-supplied diagnostics handler.
pub type DiagnosticHook = Arc<dyn Fn(&Diagnostic) + Send + Sync>;

/// Where diagnostics go.
#[derive(Clone, Default)]
pub enum DiagnosticSink {
    /// Standard error (the default).
    #[default]
    Stderr,
    /// A hook.
    Hook(DiagnosticHook),
    /// Nowhere (still counted).
    Off,
}

impl fmt::Debug for DiagnosticSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiagnosticSink::Stderr => "Stderr",
            DiagnosticSink::Hook(_) => "Hook(..)",
            DiagnosticSink::Off => "Off",
        })
    }
}

#[derive(Debug)]
struct Window {
    start: Instant,
    delivered: u32,
    suppressed: u64,
}

/// The runtime's diagnostics channel.
#[derive(Debug)]
pub(crate) struct Diagnostics {
    to: DiagnosticSink,
    windows: Mutex<HashMap<DiagnosticKind, Window>>,
    delivered: AtomicU64,
    suppressed: AtomicU64,
}

thread_local! {
    static DELIVERING: Cell<bool> = const { Cell::new(false) };
}

impl Diagnostics {
    pub(crate) fn new(to: DiagnosticSink) -> Self {
        Self { to, windows: Mutex::new(HashMap::new()), delivered: AtomicU64::new(0), suppressed: AtomicU64::new(0) }
    }

    /// Emits a diagnostic, subject to rate limiting and the recursion guard.
    pub(crate) fn emit(&self, kind: DiagnosticKind, sink: Option<&str>, message: impl Into<String>) {
        if DELIVERING.try_with(|d| d.get()).unwrap_or(true) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let suppressed_before = {
            let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let win = w.entry(kind).or_insert(Window { start: now, delivered: 0, suppressed: 0 });
            if now.duration_since(win.start) >= RATE_WINDOW {
                win.start = now;
                win.delivered = 0;
            }
            if win.delivered >= RATE_LIMIT {
                win.suppressed += 1;
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            win.delivered += 1;
            std::mem::take(&mut win.suppressed)
        };
        let d = Diagnostic { kind, sink: sink.map(str::to_owned), message: message.into(), suppressed_before };
        self.delivered.fetch_add(1, Ordering::Relaxed);
        let _ = DELIVERING.try_with(|f| f.set(true));
        match &self.to {
            DiagnosticSink::Stderr => {
                let _ = writeln!(std::io::stderr().lock(), "ringtrace: {d}");
            }
            DiagnosticSink::Hook(h) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(&d)));
            }
            DiagnosticSink::Off => {}
        }
        let _ = DELIVERING.try_with(|f| f.set(false));
    }

    /// Diagnostics delivered.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Diagnostics suppressed (rate limit or recursion).
    pub(crate) fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }
}

/// A panic's message, when its payload is a string (what `panic!` with a message makes).
pub(crate) fn panic_payload(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// A caught panic as a sink error's message: `panicked: MESSAGE`, or `panicked`.
pub(crate) fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    panic_payload(p.as_ref()).map_or_else(|| "panicked".to_string(), |s| format!("panicked: {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collecting() -> (Diagnostics, Arc<Mutex<Vec<Diagnostic>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let d =
            Diagnostics::new(DiagnosticSink::Hook(Arc::new(move |d: &Diagnostic| s2.lock().unwrap().push(d.clone()))));
        (d, seen)
    }

    #[test]
    fn rate_limited_per_kind() {
        let (d, seen) = collecting();
        for i in 0..25 {
            d.emit(DiagnosticKind::SinkWrite, Some("s"), format!("e{i}"));
        }
        d.emit(DiagnosticKind::SinkPanic, None, "other kind");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.iter().filter(|x| x.kind == DiagnosticKind::SinkWrite).count(), RATE_LIMIT as usize);
        assert_eq!(seen.last().unwrap().kind, DiagnosticKind::SinkPanic);
        assert_eq!(d.suppressed(), 15);
        assert_eq!(d.delivered(), RATE_LIMIT as u64 + 1);
        assert_eq!(seen[0].to_string(), "sink \"s\": e0");
    }

    #[test]
    fn hook_that_emits_does_not_recurse_and_panics_are_caught() {
        let d: Arc<Mutex<Option<Arc<Diagnostics>>>> = Arc::new(Mutex::new(None));
        let d2 = d.clone();
        let calls = Arc::new(AtomicU64::new(0));
        let c2 = calls.clone();
        let diags = Arc::new(Diagnostics::new(DiagnosticSink::Hook(Arc::new(move |_d: &Diagnostic| {
            c2.fetch_add(1, Ordering::SeqCst);
            let inner = d2.lock().unwrap().clone();
            if let Some(inner) = inner {
                inner.emit(DiagnosticKind::SinkWrite, None, "from inside the hook");
            }
            panic!("hook panics");
        }))));
        *d.lock().unwrap() = Some(diags.clone());
        diags.emit(DiagnosticKind::SinkStop, None, "outer");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(diags.suppressed(), 1);
        *d.lock().unwrap() = None;
    }
}
