//! Recording a `tracing` event in one pass over its fields, at its exact size.
//!
//! `tracing` hands an event's values over one at a time through [`Visit`], in `FieldSet`
//! order — the message first — while a ringtrace record carries the fields first and the
//! message last, and ringtrace reserves a record at its exact size only if that size is known
//! before anything is written. So [`Capture`] visits the fields once, on the stack: scalars
//! are kept as they are, and the bytes of strings and the text of `Debug` values (the message
//! of `info!("…")` among them, which `tracing` hands over as `fmt::Arguments`) are copied or
//! formatted into a small text buffer. The record is then written from the capture in record
//! order with ringtrace's sized recording path: one `Visit` pass, one formatting of each
//! `Debug` value, a reservation of exactly the record's size — so a record dropped for want of
//! room is counted at its true size too (R-BP-6).
//!
//! An event that does not fit the capture ([`MAX_FIELDS`] values, [`TEXT_CAP`] bytes of
//! text) or carries an error (whose `source()` chain only [`Encoder::put_error`] records) is
//! recorded the general way instead (`fields.rs`: two passes, straight into a reservation of
//! `max_record_size`). Either way the record is the same: the message is written as a string
//! rather than as `Debug` text, which renders alike in every output (it is the argument of
//! the format `"{}"`).
//!
//! Values cut to fit `max_record_size` are cut by ringtrace's best-effort rule as for any
//! record (the capture is encoded again for the measuring and cutting passes; it writes the
//! same values each time).

use crate::fields::{placeholder, EventValues};
use crate::site::Site;
use ringtrace::{Callsite, Encode, Encoder};
use std::fmt::{self, Write as _};
use std::mem::MaybeUninit;
use tracing_core::field::{Field, Visit};

/// Field values a capture holds (an event with more is recorded the general way).
pub(crate) const MAX_FIELDS: usize = 16;

/// Bytes of string and `Debug` text a capture holds.
pub(crate) const TEXT_CAP: usize = 512;

/// Where a captured text lies in the text buffer.
#[derive(Debug, Clone, Copy)]
struct Text {
    at: u16,
    len: u16,
}

/// One captured value, as the record will carry it.
#[derive(Debug, Clone, Copy)]
enum Val {
    /// Not delivered (yet): an empty placeholder.
    Empty,
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(Text),
    Bytes(Text),
    /// `Debug` text (`?x`, the message).
    Debug(Text),
    /// `Display` text (`i128`, `u128`).
    Display(Text),
}

impl Val {
    /// Encoded size.
    fn len(&self) -> usize {
        match self {
            Val::Empty => 3,
            Val::U64(_) | Val::I64(_) | Val::F64(_) => 9,
            Val::Bool(_) => 2,
            Val::Str(t) | Val::Bytes(t) | Val::Debug(t) | Val::Display(t) => 3 + t.len as usize,
        }
    }
}

/// One event's values, visited once (see the module doc).
///
/// Its buffers are left uninitialised but for what is written (the struct lives on the stack
/// of every event: zeroing 768 bytes would cost more than the rest of the capture):
/// `vals[..fields]` is initialised by [`clear_fields`](Self::clear_fields) when the capture is
/// made (`record`, which also makes sure that `fields` ≤ [`MAX_FIELDS`]), `text[..used]` by
/// [`copy`](Self::copy) and [`format`](Self::format), which only ever write whole `str`s and
/// move `used` only past what they wrote — so every [`Text`] of a string, `Debug` or
/// `Display` value is UTF-8.
pub(crate) struct Capture {
    vals: [MaybeUninit<Val>; MAX_FIELDS],
    /// Field positions in the record.
    fields: usize,
    /// `FieldSet` index of `message`.
    message_at: Option<usize>,
    message: Val,
    /// The current span's id, written after the fields.
    span: Option<u64>,
    /// Encoded bytes of the values set so far.
    len: usize,
    /// Values set so far (fields and message).
    set: usize,
    /// The event cannot be captured: record it the general way.
    failed: bool,
    text: [MaybeUninit<u8>; TEXT_CAP],
    used: usize,
}

/// Records `event` (at `site`) under `callsite`, with `span` as its current span's id
/// (`callsite` must list [`SPAN_ID`](crate::site::SPAN_ID) then).
#[inline]
pub(crate) fn record(callsite: &'static Callsite, site: &Site, event: &tracing_core::Event<'_>, span: Option<u64>) {
    if site.fields <= MAX_FIELDS {
        // Built here, not returned by a constructor: moving it would copy its 800 bytes (the
        // copy of uninitialised buffers is not elided).
        let mut c = Capture {
            vals: [const { MaybeUninit::uninit() }; MAX_FIELDS],
            fields: site.fields,
            message_at: site.message,
            message: Val::Empty,
            span,
            len: 0,
            set: 0,
            failed: false,
            text: [const { MaybeUninit::uninit() }; TEXT_CAP],
            used: 0,
        };
        c.clear_fields();
        event.record(&mut c);
        if !c.failed {
            return ringtrace::__private::record_event(callsite, &c);
        }
        return general(callsite, site, event, span, c.len);
    }
    general(callsite, site, event, span, 0)
}

#[cold]
#[inline(never)]
fn general(
    callsite: &'static Callsite,
    site: &Site,
    event: &tracing_core::Event<'_>,
    span: Option<u64>,
    at_least: usize,
) {
    let values = EventValues { event, fields: site.fields, message: site.message, span, at_least };
    ringtrace::__private::record_event(callsite, &values);
}

/// A `fmt::Write` into the rest of the text buffer that fails instead of cutting.
struct Bounded<'b> {
    buf: &'b mut [MaybeUninit<u8>],
    len: usize,
    /// When it failed: the text is at least this long.
    need: usize,
}

impl fmt::Write for Bounded<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            self.need = end;
            return Err(fmt::Error);
        }
        write_bytes(&mut self.buf[self.len..end], s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Copies `b` into `to` (of the same length).
#[inline(always)]
fn write_bytes(to: &mut [MaybeUninit<u8>], b: &[u8]) {
    debug_assert_eq!(to.len(), b.len());
    // SAFETY: `to` has `b.len()` writable bytes (`MaybeUninit<u8>` has `u8`'s layout), and a
    // `&mut` and a `&` never overlap.
    unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), to.as_mut_ptr().cast::<u8>(), b.len()) };
}

/// Writes its text as `Debug` output, verbatim.
struct Verbatim<'a>(&'a str);

impl fmt::Debug for Verbatim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Capture {
    /// Marks every field as not delivered yet (initialises `vals[..fields]`).
    #[inline(always)]
    fn clear_fields(&mut self) {
        for v in &mut self.vals[..self.fields] {
            v.write(Val::Empty);
        }
    }

    /// The field values (`vals[..fields]`).
    #[inline]
    fn vals(&self) -> &[Val] {
        // SAFETY: `new` initialised `vals[..fields]` (`MaybeUninit<Val>` has `Val`'s layout).
        unsafe { std::slice::from_raw_parts(self.vals.as_ptr().cast::<Val>(), self.fields) }
    }

    /// The field values, to set one.
    #[inline]
    fn vals_mut(&mut self) -> &mut [Val] {
        // SAFETY: as in `vals`.
        unsafe { std::slice::from_raw_parts_mut(self.vals.as_mut_ptr().cast::<Val>(), self.fields) }
    }

    /// Stores `v` for `field` (the first value of a field stands).
    #[inline]
    fn put(&mut self, field: &Field, v: Val) {
        let i = field.index();
        let pos = match self.message_at {
            Some(m) if i == m => None,
            Some(m) if i > m => Some(i - 1),
            _ => Some(i),
        };
        let slot = match pos {
            None => &mut self.message,
            Some(p) => match self.vals_mut().get_mut(p) {
                Some(slot) => slot,
                None => return,
            },
        };
        if let Val::Empty = slot {
            *slot = v;
            self.len += v.len();
            self.set += 1;
        }
    }

    /// Copies `b` into the text buffer; `None` (and the capture fails) if it is full.
    #[inline]
    fn copy(&mut self, b: &[u8]) -> Option<Text> {
        let at = self.used;
        let end = at + b.len();
        if end > TEXT_CAP {
            return self.fail(3 + b.len());
        }
        write_bytes(&mut self.text[at..end], b);
        self.used = end;
        Some(Text { at: at as u16, len: b.len() as u16 })
    }

    /// Formats `f` into the text buffer; `None` (and the capture fails) if it is full or the
    /// formatting fails.
    #[inline]
    fn format(&mut self, f: impl FnOnce(&mut Bounded<'_>) -> fmt::Result) -> Option<Text> {
        let at = self.used;
        let mut w = Bounded { buf: &mut self.text[at..], len: 0, need: 0 };
        let failed = f(&mut w).is_err();
        let (len, need) = (w.len, w.need);
        if failed {
            // Full: the text is at least `need` bytes; or the value's own formatting failed.
            return self.fail(3 + need);
        }
        self.used = at + len;
        Some(Text { at: at as u16, len: len as u16 })
    }

    /// The capture failed; the value that did not fit takes at least `at_least` bytes.
    #[cold]
    fn fail(&mut self, at_least: usize) -> Option<Text> {
        if !self.failed {
            self.failed = true;
            self.len += at_least;
        }
        None
    }

    /// The bytes of `t`.
    #[inline]
    fn text(&self, t: Text) -> &[u8] {
        let (at, len) = (t.at as usize, t.len as usize);
        assert!(at + len <= self.used);
        // SAFETY: `text[..used]` is initialised (type doc), and `[at, at + len)` lies in it.
        unsafe { std::slice::from_raw_parts(self.text.as_ptr().add(at).cast::<u8>(), len) }
    }

    /// The text of `t`, a string, `Debug` or `Display` value.
    #[inline]
    fn str(&self, t: Text) -> &str {
        // SAFETY: the bytes of such a value are whole `str`s copied one after another (type
        // doc), so they are UTF-8.
        unsafe { std::str::from_utf8_unchecked(self.text(t)) }
    }

    #[inline(always)]
    fn put_val(&self, enc: &mut Encoder<'_>, v: &Val) {
        match *v {
            Val::Empty => placeholder(enc),
            Val::U64(v) => enc.put_u64(v),
            Val::I64(v) => enc.put_i64(v),
            Val::F64(v) => enc.put_f64(v),
            Val::Bool(v) => enc.put_bool(v),
            Val::Str(t) => enc.put_str(self.str(t)),
            Val::Bytes(t) => enc.put_bytes(self.text(t)),
            Val::Debug(t) => enc.put_debug(&Verbatim(self.str(t))),
            Val::Display(t) => enc.put_display(self.str(t)),
        }
    }
}

impl Visit for Capture {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Val::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Val::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Val::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        if let Some(t) = self.format(|w| write!(w, "{value}")) {
            self.put(field, Val::Display(t));
        }
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        if let Some(t) = self.format(|w| write!(w, "{value}")) {
            self.put(field, Val::Display(t));
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Val::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(t) = self.copy(value.as_bytes()) {
            self.put(field, Val::Str(t));
        }
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        if let Some(t) = self.copy(value) {
            self.put(field, Val::Bytes(t));
        }
    }
    fn record_error(&mut self, _field: &Field, _value: &(dyn std::error::Error + 'static)) {
        // The general way records the error's source chain.
        self.fail(4);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(t) = self.format(|w| write!(w, "{value:?}")) {
            self.put(field, Val::Debug(t));
        }
    }
}

impl Encode for Capture {
    /// Exact: every value's size is known once it is captured.
    #[inline]
    fn encoded_len(&self) -> usize {
        let slots = self.fields + usize::from(self.message_at.is_some());
        self.len + 3 * (slots - self.set) + if self.span.is_some() { 9 } else { 0 }
    }

    #[inline]
    fn encode(&self, enc: &mut Encoder<'_>) {
        for v in self.vals() {
            self.put_val(enc, v);
        }
        if let Some(id) = self.span {
            enc.put_u64(id);
        }
        if self.message_at.is_some() {
            match self.message {
                // The argument of "{}": a string renders as its `Debug` text did.
                Val::Debug(t) | Val::Display(t) => enc.put_str(self.str(t)),
                ref v => self.put_val(enc, v),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_exact() {
        assert_eq!(Val::Empty.len(), 3);
        assert_eq!(Val::U64(1).len(), 9);
        assert_eq!(Val::Bool(true).len(), 2);
        assert_eq!(Val::Str(Text { at: 0, len: 5 }).len(), 8);
    }
}
