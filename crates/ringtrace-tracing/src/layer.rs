//! [`RingtraceLayer`]: a `tracing-subscriber` layer that records events and span entries into
//! ringtrace.
//!
//! - `register_callsite` builds the ringtrace callsites once per `tracing` callsite and
//!   answers `Interest::never()` for levels above ringtrace's configured level (or the layer's
//!   own maximum), so a disabled `debug!` costs what it costs without any subscriber:
//!   `tracing`'s own cached interest check. The level is read when asked, and `tracing`'s
//!   cache is rebuilt when a runtime sets another (`level.rs`).
//! - `on_event` finds the site (one lock-free table probe) and records the event's fields
//!   raw, in one pass at their exact size (`capture.rs`); nothing is formatted but `Debug`
//!   values. An event inside a span carries the span's id (`span.rs`). `log` records bridged
//!   by `tracing-log` get their real target, file and line back (`bridge.rs`).
//! - `on_new_span` / `on_record` keep the span's id and field values in its extensions;
//!   `on_enter` records a [`CallsiteKind::SpanBegin`](ringtrace::CallsiteKind) record with
//!   them, `on_exit` a `SpanEnd` record — with the span's current values if any was recorded
//!   after creation (`Span::record`). Entries and exits on one thread nest like a stack, so the
//!   timeline exports draw them as nested slices.

use crate::log::RingtraceLogger;
use crate::site::Sites;
use crate::span::SpanData;
use std::sync::OnceLock;
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
///     let span = tracing::info_span!("request", id = 7u64, status = tracing::field::Empty);
///     let _entered = span.enter();
///     tracing::info!(qty = 3u32, "filled {}", 42); // carries the span's `span.id`
///     span.record("status", 200u64); // on the span's end record
/// });
/// let report = guard.shutdown(std::time::Duration::from_secs(5));
/// assert_eq!(report.recorded, 3); // span begin, event, span end
/// # }
/// ```
///
/// # Level
///
/// The layer records up to ringtrace's configured level (`RINGTRACE_LEVEL`,
/// `Builder::level`), also when the layer is built before the runtime is installed, and at
/// most up to the level given to [`with_max_level`](Self::with_max_level).
#[derive(Debug)]
pub struct RingtraceLayer {
    sites: Sites,
    /// The maximum set with `with_max_level`, if any.
    max: Option<ringtrace::Level>,
    /// Records `log` records bridged by `tracing-log` (built on the first one).
    bridge: OnceLock<RingtraceLogger>,
}

impl Default for RingtraceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl RingtraceLayer {
    /// A layer recording up to ringtrace's configured level: the current
    /// [`max_level`](ringtrace::max_level), and the level of a runtime installed later.
    pub fn new() -> Self {
        crate::level::follow();
        Self { sites: Sites::new(true), max: None, bridge: OnceLock::new() }
    }

    /// Records events and spans up to `level` at most (more verbose ones are disabled at
    /// their callsite); never above ringtrace's configured level.
    pub fn with_max_level(mut self, level: ringtrace::Level) -> Self {
        self.max = Some(level);
        self
    }

    #[inline]
    fn level(&self) -> LevelFilter {
        crate::level_filter(crate::level::effective(self.max))
    }

    fn bridge(&self) -> &RingtraceLogger {
        self.bridge.get_or_init(RingtraceLogger::new)
    }
}

/// The id the layer gave span `id`.
fn span_id<S>(ctx: &Context<'_, S>, id: &Id) -> Option<u64>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.span(id)?.extensions().get::<SpanData>().map(|d| d.id)
}

impl<S> tracing_subscriber::Layer<S> for RingtraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if *meta.level() > self.level() {
            return Interest::never();
        }
        self.sites.get(meta);
        Interest::always()
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        *meta.level() <= self.level() && !crate::bridge::is_probe(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.level())
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let site = self.sites.get(event.metadata());
        if site.bridge && crate::bridge::record(self.bridge(), event) {
            return;
        }
        let span = if event.is_contextual() {
            crate::span::current()
        } else {
            event.parent().and_then(|id| span_id(&ctx, id))
        };
        let callsite = match (span, site.in_span) {
            (Some(_), Some(in_span)) => in_span,
            _ => site.record,
        };
        crate::capture::record(callsite, site, event, span.filter(|_| site.in_span.is_some()));
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let site = self.sites.get(attrs.metadata());
        let mut fields = crate::fields::SpanFields::new(attrs.metadata().fields().len());
        attrs.record(&mut fields);
        if let Some(data) = SpanData::new(site, fields) {
            span.extensions_mut().insert(data);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let site = self.sites.get(span.metadata());
        let mut ext = span.extensions_mut();
        if let Some(data) = ext.get_mut::<SpanData>() {
            values.record(&mut data.values);
            data.updated(site);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let ext = span.extensions();
        if let Some(data) = ext.get::<SpanData>() {
            crate::span::entered(data.id);
            ringtrace::__private::record_event(data.edges.begin, &data.record_values());
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let ext = span.extensions();
        let Some(data) = ext.get::<SpanData>() else { return };
        crate::span::exited(data.id);
        if data.recorded {
            ringtrace::__private::record_event(data.edges.end, &data.record_values());
        } else if let Some(end) = self.sites.get(span.metadata()).plain_end {
            ringtrace::__private::record_event(end, &data.id);
        }
    }
}
