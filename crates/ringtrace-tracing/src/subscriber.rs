//! [`RingtraceSubscriber`]: a bare `tracing` subscriber, without `tracing-subscriber`'s
//! registry, for programs that only want ringtrace and want the cheapest events.
//!
//! It keeps no per-span state: a span's id is the index of its callsite in the intern table
//! (so `enter` knows which callsite to record without a lookup), span begin records carry no
//! fields, end records never carry values recorded later (`Span::record` is ignored),
//! events carry no span id, and `current_span` is unknown. Events are otherwise recorded
//! exactly as the layer records them (`log` records bridged by `tracing-log` included), up
//! to ringtrace's configured level. `docs/benchmarks.md` compares the two; use the layer
//! unless you need the difference.

use crate::log::RingtraceLogger;
use crate::site::Sites;
use std::sync::OnceLock;
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
    /// The maximum set with `with_max_level`, if any.
    max: Option<ringtrace::Level>,
    /// Records `log` records bridged by `tracing-log` (built on the first one).
    bridge: OnceLock<RingtraceLogger>,
}

impl Default for RingtraceSubscriber {
    fn default() -> Self {
        Self::new()
    }
}

impl RingtraceSubscriber {
    /// A subscriber recording up to ringtrace's configured level: the current
    /// [`max_level`](ringtrace::max_level), and the level of a runtime installed later.
    pub fn new() -> Self {
        crate::level::follow();
        Self { sites: Sites::new(false), max: None, bridge: OnceLock::new() }
    }

    /// Records events up to `level` at most; never above ringtrace's configured level.
    pub fn with_max_level(mut self, level: ringtrace::Level) -> Self {
        self.max = Some(level);
        self
    }

    #[inline]
    fn level(&self) -> LevelFilter {
        crate::level_filter(crate::level::effective(self.max))
    }
}

impl Subscriber for RingtraceSubscriber {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if *meta.level() > self.level() {
            return Interest::never();
        }
        self.sites.get(meta);
        Interest::always()
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() <= self.level() && !crate::bridge::is_probe(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.level())
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let (index, _) = self.sites.get_indexed(span.metadata());
        Id::from_u64(index as u64 + 1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let site = self.sites.get(event.metadata());
        if site.bridge && crate::bridge::record(self.bridge.get_or_init(RingtraceLogger::new), event) {
            return;
        }
        crate::capture::record(site.record, site, event, None);
    }

    fn enter(&self, span: &Id) {
        if let Some(site) = self.sites.by_index(span.into_u64() as usize - 1) {
            ringtrace::__private::record_event(site.record, &());
        }
    }

    fn exit(&self, span: &Id) {
        if let Some(end) = self.sites.by_index(span.into_u64() as usize - 1).and_then(|s| s.plain_end) {
            ringtrace::__private::record_event(end, &());
        }
    }
}
