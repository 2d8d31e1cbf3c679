//! Encoding `tracing` field values into a ringtrace record, the general way: straight into
//! the record's reservation, in two passes over the event's fields.
//!
//! Most events are captured in one pass and recorded at their exact size instead
//! (`capture.rs`); this is the fallback for the rest (an event with more fields or more text
//! than the capture holds, or an error value, whose `source()` chain only
//! [`Encoder::put_error`] keeps), and the home of the span field values ([`SpanFields`]).
//!
//! A `tracing` event reaches us as a set of fields visited through [`Visit`]. Integers,
//! floats, booleans, strings and byte slices are written raw with the [`Encoder`]'s `put_*`
//! methods, exactly as the ringtrace macros write them, so the drain formats them later. Only
//! `record_debug` formats on the caller — it is the only way `tracing` hands over a
//! non-primitive value, and the `message` of `info!("… {}", x)` arrives that way — and it
//! formats straight into the ring, with no allocation.
//!
//! # Layout of a record
//!
//! See `site.rs`: the fields (the `FieldSet` minus `message`, in `FieldSet` order), the span
//! id if the event has a current span, then the message. Values are placed by field index, so
//! a field the visitor does not deliver leaves an empty placeholder in its position rather
//! than shifting the rest. Since `tracing` visits the message first and the record carries it
//! last, the fields are visited once for the fields and once for the message.
//!
//! Spans keep their field values on the span (they are recorded when the span is created and
//! may be updated by `Span::record`) and write them into the begin record each time the span
//! is entered (`span.rs`).

use ringtrace::{Encode, Encoder};
use std::fmt;
use tracing_core::field::{Field, Visit};

/// Where field `index` of a callsite's `FieldSet` goes in the record: `None` for the message.
#[inline]
fn position(index: usize, message: Option<usize>) -> Option<usize> {
    match message {
        Some(m) if index == m => None,
        Some(m) if index > m => Some(index - 1),
        _ => Some(index),
    }
}

/// Writes an empty placeholder for a field without a value.
#[inline]
pub(crate) fn placeholder(enc: &mut Encoder<'_>) {
    enc.put_display("");
}

/// The visitor of one pass over an event's fields: either every field but the message, in
/// record order, or the message alone.
struct Writer<'e, 'b> {
    enc: &'e mut Encoder<'b>,
    message: Option<usize>,
    /// Next field position to write (fields pass).
    next: usize,
    /// The message pass: write only the message field.
    message_pass: bool,
    /// The message pass wrote it.
    wrote_message: bool,
}

impl Writer<'_, '_> {
    /// Whether to write `field` now; fills the positions skipped before it.
    #[inline]
    fn take(&mut self, field: &Field) -> bool {
        let pos = position(field.index(), self.message);
        if self.message_pass {
            let is_message = pos.is_none() && !self.wrote_message;
            self.wrote_message |= is_message;
            return is_message;
        }
        let Some(p) = pos else { return false };
        if p < self.next {
            return false; // delivered twice or out of order: the first value stands
        }
        while self.next < p {
            placeholder(self.enc);
            self.next += 1;
        }
        self.next = p + 1;
        true
    }
}

impl Visit for Writer<'_, '_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.take(field) {
            self.enc.put_f64(value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.take(field) {
            self.enc.put_i64(value);
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.take(field) {
            self.enc.put_u64(value);
        }
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        if self.take(field) {
            self.enc.put_display(&value);
        }
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        if self.take(field) {
            self.enc.put_display(&value);
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.take(field) {
            self.enc.put_bool(value);
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.take(field) {
            self.enc.put_str(value);
        }
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        if self.take(field) {
            self.enc.put_bytes(value);
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.take(field) {
            self.enc.put_error(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.take(field) {
            self.enc.put_debug(value);
        }
    }
}

/// An event's values as one ringtrace record body: the fields, the span id, the message.
pub(crate) struct EventValues<'a> {
    pub(crate) event: &'a tracing_core::Event<'a>,
    /// Field positions in the record (the `FieldSet` without `message`).
    pub(crate) fields: usize,
    /// `FieldSet` index of `message`, if the callsite has one.
    pub(crate) message: Option<usize>,
    /// The current span's id (the event's `in_span` callsite), or none.
    pub(crate) span: Option<u64>,
    /// Bytes the values take at least (what a failed capture had counted): what a dropped
    /// record is counted as (`Encode::encoded_len` of a dynamic record).
    pub(crate) at_least: usize,
}

impl Encode for EventValues<'_> {
    /// Debug values are formatted while writing, so the size is known only afterwards.
    const DYNAMIC: bool = true;

    fn encoded_len(&self) -> usize {
        self.at_least
    }

    fn encode(&self, enc: &mut Encoder<'_>) {
        let mut w = Writer { enc, message: self.message, next: 0, message_pass: false, wrote_message: false };
        self.event.record(&mut w);
        while w.next < self.fields {
            placeholder(w.enc);
            w.next += 1;
        }
        if let Some(id) = self.span {
            w.enc.put_u64(id);
        }
        if self.message.is_some() {
            w.message_pass = true;
            self.event.record(&mut w);
            if !w.wrote_message {
                placeholder(w.enc);
            }
        }
    }
}

/// One span field value, kept on the span between its creation and its entries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Owned {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
    Bytes(Vec<u8>),
    /// `Debug` text (also `i128`/`u128`, and errors with their `Display` text).
    Text(String),
}

/// A span's field values by `FieldSet` index, stored in the span's extensions by the layer.
#[derive(Debug, Default, Clone)]
pub(crate) struct SpanFields {
    pub(crate) values: Vec<Option<Owned>>,
}

impl SpanFields {
    pub(crate) fn new(len: usize) -> Self {
        Self { values: vec![None; len] }
    }

    fn set(&mut self, field: &Field, v: Owned) {
        if let Some(slot) = self.values.get_mut(field.index()) {
            *slot = Some(v);
        }
    }

    /// The fields that have a value, bit `i` for `FieldSet` index `i` (a `tracing` callsite
    /// has at most 32 fields; indices from 64 on would never be in a mask).
    pub(crate) fn mask(&self) -> u64 {
        self.values.iter().take(64).enumerate().filter(|(_, v)| v.is_some()).fold(0, |m, (i, _)| m | 1 << i)
    }
}

/// Writes one span field value (a placeholder for none).
pub(crate) fn put_owned(enc: &mut Encoder<'_>, v: Option<&Owned>) {
    match v {
        None => placeholder(enc),
        Some(Owned::U64(v)) => enc.put_u64(*v),
        Some(Owned::I64(v)) => enc.put_i64(*v),
        Some(Owned::F64(v)) => enc.put_f64(*v),
        Some(Owned::Bool(v)) => enc.put_bool(*v),
        Some(Owned::Str(v)) => enc.put_str(v),
        Some(Owned::Bytes(v)) => enc.put_bytes(v),
        Some(Owned::Text(v)) => enc.put_display(v.as_str()),
    }
}

impl Visit for SpanFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, Owned::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, Owned::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, Owned::U64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Owned::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, Owned::Str(value.to_owned()));
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.set(field, Owned::Bytes(value.to_vec()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field, Owned::Text(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, Owned::Text(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::position;

    #[test]
    fn the_message_is_taken_out_of_the_field_positions() {
        assert_eq!(position(0, Some(0)), None);
        assert_eq!(position(1, Some(0)), Some(0));
        assert_eq!(position(0, Some(2)), Some(0));
        assert_eq!(position(3, Some(2)), Some(2));
        assert_eq!(position(3, None), Some(3));
    }
}
