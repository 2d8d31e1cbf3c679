//! [`RingtraceSubscriber`]: a bare `tracing` subscriber, without `tracing-subscriber`'s
//! registry, for programs that only want ringtrace and want the cheapest events.
//!
//! It keeps no per-span state: a span's id is the index of its callsite in the intern table
//! (so `enter` knows which callsite to record without a lookup), span begin records carry no
//! fields, and `current_span` is unknown. Events are recorded exactly as the layer records
//! them. `docs/benchmarks.md` compares the two; use the layer unless you need the difference.

use crate::fields::EventValues;
use crate::site::Sites;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, LevelFilter, Metadata, Subscriber};

/// A [`Subscriber`] that records into the installed ringtrace runtime and nothing else.
///
/// ```
/// # #[cfg(not(feature = "loom"))] {
/// let guard = ringtrace::Builder::new().ignore_env().install().unwrap();
/// tracing::subscriber::with_default(ringtrace_tracing::RingtraceSubscriber::new(), || {
///     tracing::info!(qty = 3u32, "filled {}", 42);
/// });
/// assert_eq!(guard.shutdown(std::time::Duration::from_secs(5)).recorded, 1);
/// # }
/// ```
#[derive(Debug)]
pub struct RingtraceSubscriber {
    sites: Sites,
    max: LevelFilter,
}

impl Default for RingtraceSubscriber {
    fn default() -> Self {
        Self::new()
    }
}

impl RingtraceSubscriber {
    /// A subscriber recording up to ringtrace's current [`max_level`](ringtrace::max_level).
    pub fn new() -> Self {
        Self { sites: Sites::new(false), max: crate::level_filter(ringtrace::max_level()) }
    }

    /// Records events up to `level`.
    pub fn with_max_level(mut self, level: ringtrace::Level) -> Self {
        self.max = crate::level_filter(level);
        self
    }
}

impl Subscriber for RingtraceSubscriber {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if *meta.level() > self.max {
            return Interest::never();
        }
        self.sites.get(meta);
        Interest::always()
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let (index, _) = self.sites.get_indexed(span.metadata());
        Id::from_u64(index as u64 + 1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let site = self.sites.get(event.metadata());
        let values = EventValues { event, fields: site.fields, message: site.message };
        ringtrace::__private::record_event(site.record, &values);
    }

    fn enter(&self, span: &Id) {
        if let Some(site) = self.sites.by_index(span.into_u64() as usize - 1) {
            ringtrace::__private::record_event(site.record, &());
        }
    }

    fn exit(&self, span: &Id) {
        if let Some(end) = self.sites.by_index(span.into_u64() as usize - 1).and_then(|s| s.end) {
            ringtrace::__private::record_event(end, &());
        }
    }
}
