//! [`RingtraceLayer`]: a `tracing-subscriber` layer that records events and span entries into
//! ringtrace.
//!
//! - `register_callsite` builds the ringtrace callsite once per `tracing` callsite and answers
//!   `Interest::never()` for levels above the layer's maximum, so a disabled `debug!` costs what
//!   it costs without any subscriber: `tracing`'s own cached interest check.
//! - `on_event` finds the site (one lock-free table probe) and records the event's fields
//!   raw (see the `fields` module); nothing is formatted but `Debug` values.
//! - `on_new_span` / `on_record` keep the span's field values in its extensions;
//!   `on_enter` records a [`CallsiteKind::SpanBegin`](ringtrace::CallsiteKind) record with
//!   them, `on_exit` a `SpanEnd` record. Entries and exits on one thread nest like a stack, so
//!   the timeline exports draw them as nested slices.

use crate::fields::{EventValues, SpanFields};
use crate::site::Sites;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// A [`tracing_subscriber::Layer`] that records into the installed ringtrace runtime.
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// # #[cfg(not(feature = "loom"))] {
/// let guard = ringtrace::Builder::new().ignore_env().install().unwrap();
/// let subscriber = tracing_subscriber::registry().with(ringtrace_tracing::RingtraceLayer::new());
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("request", id = 7u64);
///     let _entered = span.enter();
///     tracing::info!(qty = 3u32, "filled {}", 42);
/// });
/// let report = guard.shutdown(std::time::Duration::from_secs(5));
/// assert_eq!(report.recorded, 3); // span begin, event, span end
/// # }
/// ```
#[derive(Debug)]
pub struct RingtraceLayer {
    sites: Sites,
    max: LevelFilter,
}

impl Default for RingtraceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl RingtraceLayer {
    /// A layer recording up to ringtrace's current [`max_level`](ringtrace::max_level) (set
    /// from the configuration when a runtime is installed).
    pub fn new() -> Self {
        Self { sites: Sites::new(true), max: crate::level_filter(ringtrace::max_level()) }
    }

    /// Records events up to `level` (more verbose ones are disabled at their callsite).
    pub fn with_max_level(mut self, level: ringtrace::Level) -> Self {
        self.max = crate::level_filter(level);
        self
    }
}

impl<S> tracing_subscriber::Layer<S> for RingtraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if *meta.level() > self.max {
            return Interest::never();
        }
        self.sites.get(meta);
        Interest::always()
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        *meta.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let site = self.sites.get(event.metadata());
        let values = EventValues { event, fields: site.fields, message: site.message };
        ringtrace::__private::record_event(site.record, &values);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::new(attrs.metadata().fields().len());
        attrs.record(&mut fields);
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(fields) = ext.get_mut::<SpanFields>() {
            values.record(fields);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let site = self.sites.get(span.metadata());
        let ext = span.extensions();
        match ext.get::<SpanFields>() {
            Some(fields) => ringtrace::__private::record_event(site.record, fields),
            None => ringtrace::__private::record_event(site.record, &SpanFields::new(site.fields)),
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(end) = self.sites.get(span.metadata()).end {
            ringtrace::__private::record_event(end, &());
        }
    }
}
