//! A `tracing` callsite as ringtrace sees it: the ringtrace callsite(s) built for it once, at
//! `register_callsite` (or at its first event), and interned by the address of its
//! `&'static Metadata`.
//!
//! # Record layouts
//!
//! A ringtrace callsite lists its field names; a record carries the values in that order,
//! then the message arguments. For a `tracing` callsite:
//!
//! - **Events**: the `FieldSet` minus `message`, in `FieldSet` order, then (layer only, for an
//!   event inside a span) [`SPAN_ID`], and the format `"{}"` with the message as its argument
//!   (`""` without a message field). So an event site has two ringtrace callsites, `record`
//!   and `in_span`, and the event picks one by whether it has a current span.
//! - **Spans** (layer): a begin and an end callsite per *set of fields that have a value*
//!   (`field::Empty` fields not yet recorded are left out, as `tracing-subscriber` leaves them
//!   out), each followed by [`SPAN_ID`]; see [`Variants`]. An end record carries the span's
//!   fields only if a value was recorded after the span was created (`Span::record`);
//!   otherwise it carries [`SPAN_ID`] alone (`plain_end`).
//! - **Spans** (bare subscriber): begin and end records without fields.
//! - **`log` records bridged by `tracing-log`** (`bridge`): not recorded under this site at
//!   all; the layer restores their real target, file and line (`bridge.rs`).

use crate::intern::Table;
use ringtrace::{Callsite, CallsiteKind, Level, Metadata};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;
use tracing_core::Metadata as TMetadata;

/// The field that carries a span's id: on its begin and end records, and on every event
/// recorded while it is the current span (the layer only). Ids are unique for the process's
/// life (`span.rs`).
pub(crate) const SPAN_ID: &str = "span.id";

/// The ringtrace side of one `tracing` callsite.
#[derive(Debug)]
pub(crate) struct Site {
    /// Events: the event outside any span. Bare subscriber's spans: the begin edge.
    pub(crate) record: &'static Callsite,
    /// Events (layer): the event inside a span, with [`SPAN_ID`] before the message.
    pub(crate) in_span: Option<&'static Callsite>,
    /// Spans: the end edge without the span's fields ([`SPAN_ID`] only, or nothing for the bare
    /// subscriber).
    pub(crate) plain_end: Option<&'static Callsite>,
    /// Events: field values a record carries before the message arguments.
    pub(crate) fields: usize,
    /// `FieldSet` index of the `message` field (events only).
    pub(crate) message: Option<usize>,
    /// One of `tracing-log`'s callsites for `log` records (target `log`, name `log event`).
    pub(crate) bridge: bool,
    /// Spans (layer): begin and end callsites per set of fields with values.
    pub(crate) variants: Option<Variants>,
}

/// ringtrace's level for a `tracing` level.
pub(crate) fn level(l: &tracing_core::Level) -> Level {
    match *l {
        tracing_core::Level::ERROR => Level::Error,
        tracing_core::Level::WARN => Level::Warn,
        tracing_core::Level::INFO => Level::Info,
        tracing_core::Level::DEBUG => Level::Debug,
        _ => Level::Trace,
    }
}

/// `name` as a format string that renders as `name` (braces doubled).
pub(crate) fn escape_format(name: &str) -> String {
    name.replace('{', "{{").replace('}', "}}")
}

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn leak_names(names: Vec<&'static str>) -> &'static [&'static str] {
    Box::leak(names.into_boxed_slice())
}

fn callsite(meta: Metadata) -> &'static Callsite {
    let meta: &'static Metadata = Box::leak(Box::new(meta));
    Box::leak(Box::new(Callsite::new(meta)))
}

/// ringtrace metadata for `meta` with another format, field list and kind.
fn base(
    meta: &'static TMetadata<'static>,
    format: &'static str,
    fields: &'static [&'static str],
    kind: CallsiteKind,
) -> Metadata {
    Metadata {
        level: level(meta.level()),
        target: meta.target(),
        module_path: meta.module_path().unwrap_or(""),
        file: meta.file().unwrap_or(""),
        line: meta.line().unwrap_or(0),
        format,
        fields,
        kind,
    }
}

/// Whether `meta` is one of `tracing-log`'s callsites, which carry a `log` record's real
/// target, module, file and line as fields.
fn is_bridge(meta: &TMetadata<'_>) -> bool {
    meta.target() == "log" && meta.name() == "log event" && meta.fields().field("log.target").is_some()
}

/// Builds the ringtrace callsite(s) for a `tracing` callsite. `layer`: for the layer (span
/// fields and ids) or for the bare subscriber (neither).
pub(crate) fn build(meta: &'static TMetadata<'static>, layer: bool) -> Site {
    if meta.is_span() {
        let name = leak_str(&escape_format(meta.name()));
        return if layer {
            let id_only = leak_names(vec![SPAN_ID]);
            Site {
                record: callsite(base(meta, name, id_only, CallsiteKind::SpanBegin)),
                in_span: None,
                plain_end: Some(callsite(base(meta, name, id_only, CallsiteKind::SpanEnd))),
                fields: 0,
                message: None,
                bridge: false,
                variants: Some(Variants::new(meta, name)),
            }
        } else {
            Site {
                record: callsite(base(meta, name, &[], CallsiteKind::SpanBegin)),
                in_span: None,
                plain_end: Some(callsite(base(meta, name, &[], CallsiteKind::SpanEnd))),
                fields: 0,
                message: None,
                bridge: false,
                variants: None,
            }
        };
    }
    let message = meta.fields().iter().position(|f| f.name() == "message");
    let names: Vec<&'static str> =
        meta.fields().iter().enumerate().filter(|(i, _)| Some(*i) != message).map(|(_, f)| f.name()).collect();
    let fields = names.len();
    let format = if message.is_some() { "{}" } else { "" };
    let in_span = layer.then(|| {
        let mut with_id = names.clone();
        with_id.push(SPAN_ID);
        callsite(base(meta, format, leak_names(with_id), CallsiteKind::Event))
    });
    Site {
        record: callsite(base(meta, format, leak_names(names), CallsiteKind::Event)),
        in_span,
        plain_end: None,
        fields,
        message,
        bridge: is_bridge(meta),
        variants: None,
    }
}

/// A span's begin and end callsites for one set of fields with values (`mask`, bit `i` for
/// `FieldSet` index `i`), each listing those fields and then [`SPAN_ID`].
#[derive(Debug)]
pub(crate) struct Edges {
    pub(crate) mask: u64,
    pub(crate) begin: &'static Callsite,
    pub(crate) end: &'static Callsite,
}

/// Distinct field sets a span callsite gets its own callsites for; later ones use the
/// callsites of all fields (and write an empty placeholder for each field without a value).
/// Most spans have one or two (created with every value, or with some `field::Empty` that is
/// recorded later).
const VARIANTS: usize = 8;

/// The [`Edges`] of one span callsite, by field set: an append-only array of leaked entries,
/// read without a lock (a span looks its edges up when it is created and when a value is
/// recorded, never when it is entered or exited: it keeps them, `span.rs`).
///
/// Slot 0 holds the set of all fields, built with the site. Further slots are filled under
/// [`ADD`]: the entry is leaked, then published with a Release store that pairs with the
/// Acquire load in [`get`](Self::get).
#[derive(Debug)]
pub(crate) struct Variants {
    meta: &'static TMetadata<'static>,
    name: &'static str,
    slots: [AtomicPtr<Edges>; VARIANTS],
}

/// Serialises additions to every [`Variants`] (cold: once per span callsite and field set).
static ADD: Mutex<()> = Mutex::new(());

impl Variants {
    fn new(meta: &'static TMetadata<'static>, name: &'static str) -> Self {
        let v = Self { meta, name, slots: Default::default() };
        let all = if meta.fields().len() >= 64 { u64::MAX } else { (1u64 << meta.fields().len()) - 1 };
        v.slots[0].store(v.make(all), Ordering::Release);
        v
    }

    /// The edges for `mask`, built on first use; the edges of all fields when the slots are
    /// full (their `mask` says which fields they list).
    pub(crate) fn get(&self, mask: u64) -> &'static Edges {
        if let Some(e) = self.find(mask) {
            return e;
        }
        self.add(mask)
    }

    fn find(&self, mask: u64) -> Option<&'static Edges> {
        for slot in &self.slots {
            // Acquire: pairs with the Release store in `add`/`new`: the entry is visible.
            let p = slot.load(Ordering::Acquire);
            // SAFETY: non-null slots hold leaked `Edges`, never freed.
            match unsafe { p.as_ref() } {
                Some(e) if e.mask == mask => return Some(e),
                Some(_) => {}
                None => return None,
            }
        }
        None
    }

    #[cold]
    fn add(&self, mask: u64) -> &'static Edges {
        let _lock = ADD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = self.find(mask) {
            return e;
        }
        for slot in &self.slots {
            // Relaxed: slots change only under `ADD`, which we hold.
            if slot.load(Ordering::Relaxed).is_null() {
                let e = self.make(mask);
                // Release: pairs with the Acquire load in `find`.
                slot.store(e, Ordering::Release);
                // SAFETY: just leaked.
                return unsafe { &*e };
            }
        }
        // SAFETY: slot 0 is set in `new` (leaked `Edges` of all fields).
        unsafe { &*self.slots[0].load(Ordering::Acquire) }
    }

    fn make(&self, mask: u64) -> *mut Edges {
        let mut names: Vec<&'static str> =
            self.meta.fields().iter().enumerate().filter(|(i, _)| in_mask(mask, *i)).map(|(_, f)| f.name()).collect();
        names.push(SPAN_ID);
        let names = leak_names(names);
        Box::leak(Box::new(Edges {
            mask,
            begin: callsite(base(self.meta, self.name, names, CallsiteKind::SpanBegin)),
            end: callsite(base(self.meta, self.name, names, CallsiteKind::SpanEnd)),
        }))
    }
}

/// Whether `FieldSet` index `i` is in `mask`.
#[inline]
pub(crate) fn in_mask(mask: u64, i: usize) -> bool {
    i < 64 && mask & (1 << i) != 0
}

/// The interned sites of one layer or subscriber.
#[derive(Debug)]
pub(crate) struct Sites {
    table: Table<Site>,
    layer: bool,
}

impl Sites {
    pub(crate) fn new(layer: bool) -> Self {
        Self { table: Table::new(), layer }
    }

    #[inline]
    fn key(meta: &'static TMetadata<'static>) -> usize {
        meta as *const TMetadata<'static> as usize
    }

    /// The site of `meta`, built on first use.
    #[inline]
    pub(crate) fn get(&self, meta: &'static TMetadata<'static>) -> &'static Site {
        self.table.get_or_insert_with(Self::key(meta), || build(meta, self.layer))
    }

    /// The site of `meta` and its stable index (the bare subscriber's span ids).
    pub(crate) fn get_indexed(&self, meta: &'static TMetadata<'static>) -> (usize, &'static Site) {
        self.table.index_or_insert_with(Self::key(meta), || build(meta, self.layer))
    }

    /// The site with index `index`.
    pub(crate) fn by_index(&self, index: usize) -> Option<&'static Site> {
        self.table.by_index(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_names_are_escaped_for_the_format_parser() {
        assert_eq!(escape_format("a{b}c"), "a{{b}}c");
        assert_eq!(escape_format("plain"), "plain");
    }

    #[test]
    fn masks_select_fields_by_index() {
        assert!(in_mask(0b101, 0) && !in_mask(0b101, 1) && in_mask(0b101, 2));
        assert!(!in_mask(u64::MAX, 64));
    }
}
