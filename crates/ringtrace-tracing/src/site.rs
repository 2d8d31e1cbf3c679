//! A `tracing` callsite as ringtrace sees it: the ringtrace callsite(s) built for it once, at
//! `register_callsite` (or at its first event), and interned by the address of its
//! `&'static Metadata`.

use crate::intern::Table;
use ringtrace::{Callsite, CallsiteKind, Level, Metadata};
use tracing_core::Metadata as TMetadata;

/// The ringtrace side of one `tracing` callsite.
#[derive(Debug)]
pub(crate) struct Site {
    /// Events: the event's callsite. Spans: the begin edge.
    pub(crate) record: &'static Callsite,
    /// Spans: the end edge.
    pub(crate) end: Option<&'static Callsite>,
    /// Field values a record carries before the message arguments.
    pub(crate) fields: usize,
    /// `FieldSet` index of the `message` field (events only).
    pub(crate) message: Option<usize>,
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

fn callsite(meta: Metadata) -> &'static Callsite {
    let meta: &'static Metadata = Box::leak(Box::new(meta));
    Box::leak(Box::new(Callsite::new(meta)))
}

/// Builds the ringtrace callsite(s) for a `tracing` callsite. `span_fields`: whether span
/// begin records carry the span's fields (the layer) or none (the bare subscriber).
pub(crate) fn build(meta: &'static TMetadata<'static>, span_fields: bool) -> Site {
    let is_span = meta.is_span();
    let message = if is_span { None } else { meta.fields().iter().position(|f| f.name() == "message") };
    let names: Vec<&'static str> = if is_span && !span_fields {
        Vec::new()
    } else {
        meta.fields().iter().enumerate().filter(|(i, _)| Some(*i) != message).map(|(_, f)| f.name()).collect()
    };
    let fields = names.len();
    let names: &'static [&'static str] = Box::leak(names.into_boxed_slice());
    let base = |format: &'static str, fields: &'static [&'static str], kind| Metadata {
        level: level(meta.level()),
        target: meta.target(),
        module_path: meta.module_path().unwrap_or(""),
        file: meta.file().unwrap_or(""),
        line: meta.line().unwrap_or(0),
        format,
        fields,
        kind,
    };
    if is_span {
        let name = leak_str(&escape_format(meta.name()));
        Site {
            record: callsite(base(name, names, CallsiteKind::SpanBegin)),
            end: Some(callsite(base(name, &[], CallsiteKind::SpanEnd))),
            fields,
            message: None,
        }
    } else {
        let format = if message.is_some() { "{}" } else { "" };
        Site { record: callsite(base(format, names, CallsiteKind::Event)), end: None, fields, message }
    }
}

/// The interned sites of one layer or subscriber.
#[derive(Debug)]
pub(crate) struct Sites {
    table: Table<Site>,
    span_fields: bool,
}

impl Sites {
    pub(crate) fn new(span_fields: bool) -> Self {
        Self { table: Table::new(), span_fields }
    }

    #[inline]
    fn key(meta: &'static TMetadata<'static>) -> usize {
        meta as *const TMetadata<'static> as usize
    }

    /// The site of `meta`, built on first use.
    #[inline]
    pub(crate) fn get(&self, meta: &'static TMetadata<'static>) -> &'static Site {
        self.table.get_or_insert_with(Self::key(meta), || build(meta, self.span_fields))
    }

    /// The site of `meta` and its stable index (the bare subscriber's span ids).
    pub(crate) fn get_indexed(&self, meta: &'static TMetadata<'static>) -> (usize, &'static Site) {
        self.table.index_or_insert_with(Self::key(meta), || build(meta, self.span_fields))
    }

    /// The site with index `index`.
    pub(crate) fn by_index(&self, index: usize) -> Option<&'static Site> {
        self.table.by_index(index)
    }
}

#[cfg(test)]
mod tests {
    use super::escape_format;

    #[test]
    fn span_names_are_escaped_for_the_format_parser() {
        assert_eq!(escape_format("a{b}c"), "a{{b}}c");
        assert_eq!(escape_format("plain"), "plain");
    }
}
