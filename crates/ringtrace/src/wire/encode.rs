//! Encoding arguments on the recording thread: the [`Encode`] trait and the [`Encoder`].
//!
//! A recording macro builds a tuple of references to its field values and message arguments
//! and calls the hot path with it; the tuple's [`Encode`] implementation computes the exact
//! encoded size (so the ring reservation is exact) and then writes each value as a tag and its
//! bytes (`wire/value.rs` has the wire format). Scalars and strings are copied; nothing is
//! formatted.
//!
//! Two kinds of argument are *eager* by the user's choice, formatted at the call site:
//! `%x` (captured with `Display`), `?x` (captured with `Debug`) and errors (`Display` text plus
//! the `source()` chain, R-CORE-6). Their size is not known in advance ([`Encode::DYNAMIC`]),
//! so such records reserve `max_record_size` and write the text straight into the ring through
//! a bounded [`fmt::Write`] — no allocation either way.
//!
//! # Cutting a record to fit (best effort, R-LIFE-3)
//!
//! A record's values are *fixed* parts — every tag and length prefix, and the bytes of every
//! integer, float, `bool` and `char` — and *variable* parts: the body of each string and byte
//! string, the text of each capture, and an error's chain (its message, then each source
//! with its 2-byte length prefix). When the values do not fit the room a record has
//! ([`fit`]), the fixed parts are all kept and the variable parts share what is left, the
//! longest cut first: there is one length `c` such that every variable part longer than `c`
//! bytes is cut to at most `c` bytes and every other one is kept whole; `c` is the largest
//! length for which the record fits. A cut text keeps its longest prefix that ends on a
//! character boundary and leaves room for [`CUT_MARK`] (`…`, 3 bytes), and ends with the mark;
//! a cut byte string keeps its first `c` bytes (no mark: the bytes are data). An error's chain
//! is cut as one text: the message and the sources are kept in order while they fit, the first
//! that does not is cut and marked, and later sources are left out (if fewer than 3 bytes are
//! left for that source's text, it is left out too and the mark goes on the one before). If
//! even the fixed parts plus 3 bytes of every variable part (its whole body if shorter) do not
//! fit, [`fit`] writes no value at all and says so, and the recording path stores a
//! placeholder record.
//!
//! This takes up to three passes over the values, all writing into the record's own
//! reservation (no allocation): a *whole* pass (eager records only, which usually fit), a
//! *measuring* pass that counts the fixed bytes and stores each variable part's length in the
//! reservation as scratch, and a *cut* pass with the computed `c`. The cut pass also keeps room
//! for the fixed bytes still to come before it writes a variable part, so a capture whose text
//! came out longer than it measured is cut further instead of pushing a later value out.
//!
//! Every write is bounds-checked against the reservation. A value that does not fit ends the
//! writing: nothing after it is written, so the bytes written are always a prefix of whole
//! values, and a wrong `encoded_len` in a hand-written [`Encode`] implementation loses values,
//! it never writes out of bounds or leaves unwritten bytes inside the record.

use crate::wire::value::tag;
use std::error::Error;
use std::fmt::{self, Write as _};

/// The mark at the end of a string or captured text that was cut to fit `max_record_size`
/// (best-effort serialization): `…`, U+2026, 3 bytes of UTF-8. The value as stored and shown
/// is the kept prefix followed by this mark; the event is flagged truncated too.
pub const CUT_MARK: &str = "\u{2026}";

/// Bytes of [`CUT_MARK`].
const MARK_LEN: usize = CUT_MARK.len();

/// The longest body a value can have: lengths are `u16`.
const MAX_BODY: usize = u16::MAX as usize;

/// A value the recording macros can store without formatting it.
///
/// Implemented for the integer and float types, `bool`, `char`, `str`, `String`, `[u8]`,
/// references to any of these, and the eager capture wrappers ([`display`](crate::display),
/// [`debug`](crate::debug()), `%x`, `?x`). Implement it for your own types by writing their
/// parts with the [`Encoder`]'s `put_*` methods (the drain sees the parts, not your type: to
/// keep lazy formatting byte-identical, encode a single value of a supported type).
///
/// [`Encode::encode`] may run more than once for one record (up to three times when a record
/// must be cut to fit `max_record_size`: whole, measuring, cut; docs/configuration.md,
/// "Best-effort truncation"): it must write the same values each time.
pub trait Encode {
    /// True if the size is only known after writing (eager text captures).
    const DYNAMIC: bool = false;

    /// The exact number of bytes [`Encode::encode`] writes (tags included). For `DYNAMIC`
    /// types, the minimum.
    fn encoded_len(&self) -> usize;

    /// Bytes of string bodies in the value (the part a cut may shorten). Informational: a
    /// record that must be cut measures what [`Encode::encode`] writes instead.
    fn shrinkable_len(&self) -> usize {
        0
    }

    /// Writes the value.
    fn encode(&self, enc: &mut Encoder<'_>);
}

/// Writes tagged values into a reserved region of a ring. Handed to [`Encode::encode`].
///
/// Every write is bounds-checked: a value that does not fit ends the writing (nothing after
/// it is written). When a record must be cut to fit `max_record_size`, strings and captured
/// text come out shortened and ending with [`CUT_MARK`].
#[derive(Debug)]
pub struct Encoder<'a> {
    /// Where values go. Empty while measuring, so every write takes the slow path.
    buf: &'a mut [u8],
    /// Measuring: the variable parts' lengths as `u16`s (the reservation).
    scratch: &'a mut [u8],
    st: State,
}

/// The [`Encoder`]'s counters and mode, apart from its buffers so that the cold paths can
/// take them by value: the hot path's encoder then never has its address taken and stays in
/// registers.
#[derive(Debug, Clone, Copy)]
struct State {
    /// Bytes written.
    pos: usize,
    /// The longest body a variable part keeps: `MAX_BODY` unless cutting.
    cap: usize,
    /// Cut pass: the fixed bytes of all the values (as measured), so that a variable part
    /// leaves room for those still to come. Measuring: the fixed bytes counted so far.
    fixed: usize,
    /// Cut pass: bytes of variable parts written so far (`pos - var` fixed bytes are written).
    var: usize,
    /// Measuring: how many variable parts were counted.
    parts: usize,
    measuring: bool,
    truncated: bool,
    /// A captured `Display`/`Debug` implementation returned an error.
    invalid: bool,
}

/// What [`fit`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fitted {
    /// Bytes written: whole values, every one written for this record.
    pub(crate) len: usize,
    /// A value was cut or left out (`placeholder` implies it).
    pub(crate) truncated: bool,
    /// An eagerly captured value failed to format.
    pub(crate) invalid: bool,
    /// Not even the fixed parts fit: no value was written.
    pub(crate) placeholder: bool,
}

impl Fitted {
    /// No value written: the event is stored as a placeholder.
    pub(crate) const PLACEHOLDER: Fitted = Fitted { len: 0, truncated: true, invalid: false, placeholder: true };
}

/// Encodes `args` into `buf`, the room a record has for its values. With `cut` (best
/// effort), values that do not fit whole are cut by the rule in the module documentation, or,
/// if even their fixed parts cannot fit, nothing is written ([`Fitted::placeholder`]).
/// Without `cut` (strict), one whole pass: `truncated` says the values did not fit, and what
/// was written is not to be committed.
pub(crate) fn fit<T: Encode + ?Sized>(buf: &mut [u8], args: &T, cut: bool) -> Fitted {
    // A fixed-size record got here because it is too large: skip the whole pass.
    if T::DYNAMIC || !cut {
        let mut enc = Encoder::new(buf);
        args.encode(&mut enc);
        if !enc.st.truncated || !cut {
            return Fitted {
                len: enc.st.pos,
                truncated: enc.st.truncated,
                invalid: enc.st.invalid,
                placeholder: false,
            };
        }
    }
    let plan = {
        let mut m = Encoder::measuring(buf);
        args.encode(&mut m);
        m.plan()
    };
    let Some((cap, fixed)) = plan else { return Fitted::PLACEHOLDER };
    let mut enc = Encoder::new(buf);
    enc.st.cap = cap;
    enc.st.fixed = fixed;
    args.encode(&mut enc);
    Fitted { len: enc.st.pos, truncated: enc.st.truncated, invalid: enc.st.invalid, placeholder: false }
}

impl<'a> Encoder<'a> {
    /// A whole-mode encoder over `buf` (cutting, when a record does not fit, is [`fit`]'s).
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        let st = State {
            pos: 0,
            cap: MAX_BODY,
            fixed: 0,
            var: 0,
            parts: 0,
            measuring: false,
            truncated: false,
            invalid: false,
        };
        Self { buf, scratch: &mut [], st }
    }

    /// A measuring encoder using `scratch` for the lengths.
    fn measuring(scratch: &'a mut [u8]) -> Self {
        let mut e = Self::new(&mut []);
        e.scratch = scratch;
        e.st.measuring = true;
        e
    }

    /// Bytes written so far.
    pub(crate) fn position(&self) -> usize {
        self.st.pos
    }

    /// Whether any value was cut short or left out.
    pub(crate) fn truncated(&self) -> bool {
        self.st.truncated
    }

    /// After a measuring pass: `(c, fixed bytes)` for the cut pass, `c` being the largest
    /// length with Σ min(len, c) ≤ the room left by the fixed bytes (`MAX_BODY` if every part
    /// fits whole); `None` if not even the fixed bytes and 3 bytes of every part fit.
    fn plan(&self) -> Option<(usize, usize)> {
        let room = self.scratch.len();
        if self.st.fixed > room || 2 * self.st.parts > room {
            return None;
        }
        let budget = room - self.st.fixed;
        let lens = self.scratch[..2 * self.st.parts].chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
        let within = |c: usize| lens.clone().map(|l| l.min(c)).sum::<usize>();
        if within(MARK_LEN) > budget {
            return None;
        }
        let longest = lens.clone().max().unwrap_or(0);
        if within(longest) <= budget {
            return Some((MAX_BODY, self.st.fixed));
        }
        // within(lo) ≤ budget < within(hi); within is monotonic.
        let (mut lo, mut hi) = (MARK_LEN, longest);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if within(mid) <= budget {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some((lo, self.st.fixed))
    }

    /// Measuring: one variable part of `len` bytes (lengths past the room are all alike).
    fn measured(&mut self, own_fixed: usize, len: usize) {
        self.st.fixed += own_fixed;
        let at = 2 * self.st.parts;
        self.st.parts += 1;
        if let Some(slot) = self.scratch.get_mut(at..at + 2) {
            let len = len.min(MAX_BODY);
            slot.copy_from_slice(&(len as u16).to_le_bytes());
        }
    }

    /// Measuring: the longest text worth counting (one byte past the whole room).
    fn measure_limit(&self) -> usize {
        self.scratch.len() + 1
    }

    /// A value did not fit: nothing more is written (every later write finds no room).
    /// Inline and call-free: the hot path reaches it.
    #[inline(always)]
    fn stop(&mut self) {
        self.st.truncated = true;
        let buf = std::mem::take(&mut self.buf);
        self.buf = &mut buf[..self.st.pos];
    }

    /// Fixed bytes the values after the current one still need (cut pass; 0 otherwise).
    #[inline(always)]
    fn reserve(&self, own_fixed: usize) -> usize {
        self.st.fixed.saturating_sub(self.st.pos - self.st.var + own_fixed)
    }

    /// Whether a value with `own_fixed` fixed bytes and an `n`-byte body is written whole.
    #[inline(always)]
    fn fits_whole(&self, own_fixed: usize, n: usize) -> bool {
        n <= self.st.cap && own_fixed + n + self.reserve(own_fixed) <= self.buf.len() - self.st.pos
    }

    /// Room for the body of a variable part after its `own_fixed` bytes, or `None` (and the
    /// writing stops) if not even those fit.
    fn body_room(&mut self, own_fixed: usize) -> Option<usize> {
        let need = own_fixed + self.reserve(own_fixed);
        let left = self.buf.len() - self.st.pos;
        if need > left {
            self.stop();
            return None;
        }
        Some((left - need).min(self.st.cap))
    }

    #[inline(always)]
    fn put_tagged<const N: usize>(&mut self, t: u8, bytes: [u8; N]) {
        let end = self.st.pos + 1 + N;
        if end <= self.buf.len() {
            self.buf[self.st.pos] = t;
            self.buf[self.st.pos + 1..end].copy_from_slice(&bytes);
            self.st.pos = end;
        } else if self.st.measuring {
            self.st.fixed += 1 + N;
        } else {
            self.stop();
        }
    }

    /// Writes a `u64`.
    #[inline(always)]
    pub fn put_u64(&mut self, v: u64) {
        self.put_tagged(tag::U64, v.to_le_bytes());
    }

    /// Writes an `i64`.
    #[inline(always)]
    pub fn put_i64(&mut self, v: i64) {
        self.put_tagged(tag::I64, v.to_le_bytes());
    }

    /// Writes an `f64`.
    #[inline(always)]
    pub fn put_f64(&mut self, v: f64) {
        self.put_tagged(tag::F64, v.to_le_bytes());
    }

    /// Writes a `bool`.
    #[inline(always)]
    pub fn put_bool(&mut self, v: bool) {
        self.put_tagged(tag::BOOL, [v as u8]);
    }

    /// Writes a string (copied; when the record must be cut, ends with [`CUT_MARK`]).
    #[inline(always)]
    pub fn put_str(&mut self, s: &str) {
        if self.fits_whole(3, s.len()) {
            self.put_whole(tag::STR, s.as_bytes());
        } else {
            self.put_cut(tag::STR, s.as_bytes(), true);
        }
    }

    /// Writes a byte string (copied; when the record must be cut, its first bytes).
    #[inline(always)]
    pub fn put_bytes(&mut self, b: &[u8]) {
        if self.fits_whole(3, b.len()) {
            self.put_whole(tag::BYTES, b);
        } else {
            self.put_cut(tag::BYTES, b, false);
        }
    }

    /// Writes tag, `u16` length and body; the caller checked that they fit.
    #[inline(always)]
    fn put_whole(&mut self, t: u8, body: &[u8]) {
        let at = self.st.pos;
        let end = at + 3 + body.len();
        self.buf[at] = t;
        self.buf[at + 1..at + 3].copy_from_slice(&(body.len() as u16).to_le_bytes());
        self.buf[at + 3..end].copy_from_slice(body);
        self.st.pos = end;
        self.st.var += body.len();
    }

    /// A string or byte string that is not written whole: measured, cut, or the end. The work
    /// is out of line, on a copy of the state, so that this encoder's address is not taken.
    #[inline(always)]
    fn put_cut(&mut self, t: u8, body: &[u8], text: bool) {
        let (st, end) = cut_out_of_line(self.buf, self.scratch, self.st, t, body, text);
        self.st = st;
        if end < self.buf.len() {
            self.stop();
        }
    }

    fn put_cut_here(&mut self, t: u8, body: &[u8], text: bool) {
        if self.st.measuring {
            return self.measured(3, body.len());
        }
        let Some(room) = self.body_room(3) else { return };
        let at = self.st.pos + 3;
        let len = if !text {
            self.buf[at..at + room].copy_from_slice(&body[..room]);
            room
        } else if room >= MARK_LEN {
            let keep = utf8_floor(body, room - MARK_LEN);
            self.buf[at..at + keep].copy_from_slice(&body[..keep]);
            self.buf[at + keep..at + keep + MARK_LEN].copy_from_slice(CUT_MARK.as_bytes());
            keep + MARK_LEN
        } else {
            // Only when a value came out longer than it measured: no room for the mark.
            let keep = utf8_floor(body, room);
            self.buf[at..at + keep].copy_from_slice(&body[..keep]);
            keep
        };
        self.buf[at - 3] = t;
        self.buf[at - 2..at].copy_from_slice(&(len as u16).to_le_bytes());
        self.st.pos = at + len;
        self.st.var += len;
        self.st.truncated = true;
    }

    /// Formats `f` into `buf[at..at + room]`; a text longer than `room` is cut and marked.
    /// Returns (length, cut, `f` failed by itself).
    fn write_text(
        &mut self,
        at: usize,
        room: usize,
        f: impl FnOnce(&mut TextWriter<'_>) -> fmt::Result,
    ) -> (usize, bool, bool) {
        let mut w = TextWriter { buf: &mut self.buf[at..at + room], len: 0, full: false };
        let failed = f(&mut w).is_err();
        let (len, full) = (w.len, w.full);
        if !full {
            return (len, false, failed);
        }
        (self.mark_cut(at, len, room), true, false)
    }

    /// The text at `buf[at..at + len]` was cut: make it end with the mark within `room`
    /// bytes (`room ≥ len`); returns its new length.
    fn mark_cut(&mut self, at: usize, len: usize, room: usize) -> usize {
        if room < MARK_LEN {
            return len;
        }
        let keep = utf8_floor(&self.buf[at..at + len], room - MARK_LEN);
        self.buf[at + keep..at + keep + MARK_LEN].copy_from_slice(CUT_MARK.as_bytes());
        keep + MARK_LEN
    }

    /// Writes text produced by `f` (eager capture), bounded as the mode says.
    fn put_text(&mut self, t: u8, f: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result) {
        if self.st.measuring {
            let len = measure_text(self.measure_limit(), f);
            return self.measured(3, len);
        }
        let Some(room) = self.body_room(3) else { return };
        let at = self.st.pos;
        // A Display impl that returns an error ends the text where it stopped; if that was not
        // our bound cutting it short, the value is invalid (strict mode drops the event).
        let (len, cut, failed) = self.write_text(at + 3, room, |w| f(w));
        self.st.invalid |= failed;
        self.st.truncated |= cut;
        self.buf[at] = t;
        self.buf[at + 1..at + 3].copy_from_slice(&(len as u16).to_le_bytes());
        self.st.pos = at + 3 + len;
        self.st.var += len;
    }

    /// Writes `v`'s `Display` text (eager capture, `%v`).
    pub fn put_display(&mut self, v: &(impl fmt::Display + ?Sized)) {
        self.put_text(tag::DISPLAY, |w| write!(w, "{v}"));
    }

    /// Writes `v`'s `Debug` text (eager capture, `?v`).
    pub fn put_debug(&mut self, v: &(impl fmt::Debug + ?Sized)) {
        self.put_text(tag::DEBUG, |w| write!(w, "{v:?}"));
    }

    /// Writes an error's `Display` text and the text of each error in its `source()` chain
    /// (at most 255 levels; when the record must be cut, the chain is cut as one text).
    pub fn put_error(&mut self, e: &(dyn Error + 'static)) {
        let levels = error_chain(e).take(u8::MAX as usize);
        if self.st.measuring {
            // Fixed: tag, count and the message's length; variable: the message, then each
            // source with its length.
            let limit = self.measure_limit();
            let mut len = 0;
            for (i, err) in levels.enumerate() {
                len += if i == 0 { 0 } else { 2 } + measure_text(limit.saturating_sub(len), |w| write!(w, "{err}"));
                if len > limit {
                    break;
                }
            }
            return self.measured(4, len);
        }
        let Some(mut left) = self.body_room(4) else { return };
        let start = self.st.pos;
        self.buf[start] = tag::ERROR;
        self.st.pos = start + 2;
        let mut count = 0u8;
        let mut cut_before = false;
        for (i, err) in levels.enumerate() {
            let prefix = if i == 0 { 0 } else { 2 };
            if left < prefix {
                cut_before = true;
                break;
            }
            let at = self.st.pos + 2;
            let room = (left - prefix).min(MAX_BODY);
            let (len, cut, failed) = self.write_text(at, room, |w| write!(w, "{err}"));
            if cut && room < MARK_LEN && i > 0 {
                // No room to mark this source: leave it out and mark the one before.
                cut_before = true;
                break;
            }
            self.st.invalid |= failed;
            self.buf[at - 2..at].copy_from_slice(&(len as u16).to_le_bytes());
            self.st.pos = at + len;
            self.st.var += prefix + len;
            left -= prefix + len;
            count += 1;
            if cut {
                self.st.truncated = true;
                break;
            }
        }
        if cut_before {
            // The chain ends, cut, after the last level written: mark that one. If it and the
            // room after it are fewer than 3 bytes, leave it out too, and so on back to the
            // message (which a cut pass always gives 3 bytes).
            loop {
                let (at, len) = self.level(start, count - 1);
                if len + left >= MARK_LEN || count == 1 {
                    let new_len = self.mark_cut(at, len, len + left);
                    self.buf[at - 2..at].copy_from_slice(&(new_len as u16).to_le_bytes());
                    self.st.pos = at + new_len;
                    self.st.var = self.st.var + new_len - len;
                    break;
                }
                count -= 1;
                left += 2 + len;
                self.st.pos = at - 2;
                self.st.var -= 2 + len;
            }
            self.st.truncated = true;
        } else if e_chain_longer(e, count) {
            self.st.truncated = true;
        }
        self.buf[start + 1] = count;
    }
}

/// [`Encoder::put_cut`] on an encoder made of the given parts: its new state, and the end of
/// its buffer (shorter if the writing stopped).
#[cold]
#[inline(never)]
fn cut_out_of_line(buf: &mut [u8], scratch: &mut [u8], st: State, t: u8, body: &[u8], text: bool) -> (State, usize) {
    let mut e = Encoder { buf, scratch, st };
    e.put_cut_here(t, body, text);
    (e.st, e.buf.len())
}

impl Encoder<'_> {
    /// Where the text of level `k` of the error written at `start` begins, and its length.
    fn level(&self, start: usize, k: u8) -> (usize, usize) {
        let len_at = |p: usize| u16::from_le_bytes([self.buf[p], self.buf[p + 1]]) as usize;
        let mut p = start + 2;
        for _ in 0..k {
            p += 2 + len_at(p);
        }
        (p + 2, len_at(p))
    }
}

/// `e` and its `source()` chain.
fn error_chain<'e>(e: &'e (dyn Error + 'static)) -> impl Iterator<Item = &'e (dyn Error + 'static)> + Clone {
    std::iter::successors(Some(e), |&e: &&'e (dyn Error + 'static)| e.source())
}

/// Whether `e`'s chain has more than `count` levels (the 255-level limit left some out).
fn e_chain_longer(e: &(dyn Error + 'static), count: u8) -> bool {
    count == u8::MAX && error_chain(e).nth(u8::MAX as usize).is_some()
}

/// The length of the text `f` writes, counted up to `limit + 1` bytes (no allocation).
fn measure_text(limit: usize, f: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result) -> usize {
    struct Count {
        n: usize,
        limit: usize,
    }
    impl fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.n += s.len();
            if self.n > self.limit {
                return Err(fmt::Error);
            }
            Ok(())
        }
    }
    let mut c = Count { n: 0, limit };
    let _ = f(&mut c);
    c.n.min(limit + 1)
}

/// The largest `i <= n` that is a character boundary of the UTF-8 text `b` (for bytes that
/// are not text, any `i` is as good: callers only use it on text).
fn utf8_floor(b: &[u8], n: usize) -> usize {
    if n >= b.len() {
        return b.len();
    }
    let mut i = n;
    // Continuation bytes are 0b10xx_xxxx.
    while i > 0 && (b[i] & 0xc0) == 0x80 {
        i -= 1;
    }
    i
}

/// A bounded `fmt::Write` into a record: text past the end is cut at a character boundary.
struct TextWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    full: bool,
}

impl fmt::Write for TextWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.full {
            return Err(fmt::Error);
        }
        let room = self.buf.len() - self.len;
        let n = if s.len() <= room { s.len() } else { utf8_floor(s.as_bytes(), room) };
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() {
            self.full = true;
            return Err(fmt::Error);
        }
        Ok(())
    }
}

macro_rules! impl_scalar {
    ($($ty:ty => $tag:ident),* $(,)?) => {$(
        impl Encode for $ty {
            #[inline(always)]
            fn encoded_len(&self) -> usize { 1 + std::mem::size_of::<$ty>() }
            #[inline(always)]
            fn encode(&self, enc: &mut Encoder<'_>) { enc.put_tagged(tag::$tag, self.to_le_bytes()); }
        }
    )*};
}

impl_scalar!(u8 => U8, u16 => U16, u32 => U32, u64 => U64, u128 => U128,
             i8 => I8, i16 => I16, i32 => I32, i64 => I64, i128 => I128,
             f32 => F32, f64 => F64);

impl Encode for usize {
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        9
    }
    #[inline(always)]
    fn encode(&self, enc: &mut Encoder<'_>) {
        enc.put_u64(*self as u64);
    }
}

impl Encode for isize {
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        9
    }
    #[inline(always)]
    fn encode(&self, enc: &mut Encoder<'_>) {
        enc.put_i64(*self as i64);
    }
}

impl Encode for bool {
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        2
    }
    #[inline(always)]
    fn encode(&self, enc: &mut Encoder<'_>) {
        enc.put_bool(*self);
    }
}

impl Encode for char {
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        5
    }
    #[inline(always)]
    fn encode(&self, enc: &mut Encoder<'_>) {
        enc.put_tagged(tag::CHAR, (*self as u32).to_le_bytes());
    }
}

impl Encode for str {
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        3 + self.len().min(u16::MAX as usize)
    }
    #[inline(always)]
    fn shrinkable_len(&self) -> usize {
        self.len().min(u16::MAX as usize)
    }
    #[inline(always)]
    fn encode(&self, enc: &mut Encoder<'_>) {
        enc.put_str(self);
    }
}

impl Encode for String {
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        self.as_str().encoded_len()
    }
    #[inline(always)]
    fn shrinkable_len(&self) -> usize {
        self.as_str().shrinkable_len()
    }
    #[inline(always)]
    fn encode(&self, enc: &mut Encoder<'_>) {
        enc.put_str(self);
    }
}

impl Encode for [u8] {
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        3 + self.len().min(u16::MAX as usize)
    }
    #[inline(always)]
    fn shrinkable_len(&self) -> usize {
        self.len().min(u16::MAX as usize)
    }
    #[inline(always)]
    fn encode(&self, enc: &mut Encoder<'_>) {
        enc.put_bytes(self);
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    const DYNAMIC: bool = T::DYNAMIC;
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
    #[inline(always)]
    fn shrinkable_len(&self) -> usize {
        (**self).shrinkable_len()
    }
    #[inline(always)]
    fn encode(&self, enc: &mut Encoder<'_>) {
        (**self).encode(enc)
    }
}

macro_rules! impl_tuple {
    ($($name:ident)*) => {
        impl<$($name: Encode),*> Encode for ($($name,)*) {
            const DYNAMIC: bool = false $(|| $name::DYNAMIC)*;
            #[inline(always)]
            #[allow(non_snake_case)]
            fn encoded_len(&self) -> usize {
                let ($($name,)*) = self;
                0 $(+ $name.encoded_len())*
            }
            #[inline(always)]
            #[allow(non_snake_case)]
            fn shrinkable_len(&self) -> usize {
                let ($($name,)*) = self;
                0 $(+ $name.shrinkable_len())*
            }
            #[inline(always)]
            #[allow(non_snake_case, unused_variables)]
            fn encode(&self, enc: &mut Encoder<'_>) {
                let ($($name,)*) = self;
                $($name.encode(enc);)*
            }
        }
    };
}

impl_tuple!();
impl_tuple!(A);
impl_tuple!(A B);
impl_tuple!(A B C);
impl_tuple!(A B C D);
impl_tuple!(A B C D E);
impl_tuple!(A B C D E F);
impl_tuple!(A B C D E F G);
impl_tuple!(A B C D E F G H);
impl_tuple!(A B C D E F G H I);
impl_tuple!(A B C D E F G H I J);
impl_tuple!(A B C D E F G H I J K);
impl_tuple!(A B C D E F G H I J K L);
impl_tuple!(A B C D E F G H I J K L M);
impl_tuple!(A B C D E F G H I J K L M N);
impl_tuple!(A B C D E F G H I J K L M N O);
impl_tuple!(A B C D E F G H I J K L M N O P);

/// An argument captured eagerly with its `Display` implementation (`%x` in field position,
/// [`display`](crate::display) in message position).
///
/// Deliberately not `Debug`: the macros' compile-time format check then rejects `"{:?}"` with
/// a `display(..)` argument, whose lazy output (the `Display` text) would differ from the
/// eager one.
#[allow(missing_debug_implementations)]
#[derive(Clone, Copy)]
pub struct DisplayArg<'a, T: ?Sized>(pub &'a T);

impl<T: fmt::Display + ?Sized> Encode for DisplayArg<'_, T> {
    const DYNAMIC: bool = true;
    fn encoded_len(&self) -> usize {
        3
    }
    fn encode(&self, enc: &mut Encoder<'_>) {
        enc.put_display(self.0);
    }
}

impl<T: fmt::Display + ?Sized> fmt::Display for DisplayArg<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

/// An argument captured eagerly with its `Debug` implementation (`?x` in field position,
/// [`debug`](crate::debug()) in message position).
#[derive(Clone, Copy)]
pub struct DebugArg<'a, T: ?Sized>(pub &'a T);

impl<T: fmt::Debug + ?Sized> Encode for DebugArg<'_, T> {
    const DYNAMIC: bool = true;
    fn encoded_len(&self) -> usize {
        3
    }
    fn encode(&self, enc: &mut Encoder<'_>) {
        enc.put_debug(self.0);
    }
}

impl<T: fmt::Debug + ?Sized> fmt::Debug for DebugArg<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

/// An error captured eagerly: its `Display` text and its `source()` chain.
#[derive(Debug, Clone, Copy)]
pub struct ErrorArg<'a>(pub &'a (dyn Error + 'static));

impl Encode for ErrorArg<'_> {
    const DYNAMIC: bool = true;
    /// Tag, level count and the message's length (an error has at least its own message).
    fn encoded_len(&self) -> usize {
        4
    }
    fn encode(&self, enc: &mut Encoder<'_>) {
        enc.put_error(self.0);
    }
}

impl fmt::Display for ErrorArg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

/// Autoref dispatch for `%x`: errors (`T: Error + 'static`) are captured with their source
/// chain, everything else with `Display`. Used by the macros as `(&&&Capture(&x)).__capture()`: the
/// error impl is on `&&Capture` (receiver `&&&Capture`, found first), the display impl on
/// `&Capture` (found after one auto-deref).
#[doc(hidden)]
#[derive(Debug)]
pub struct Capture<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub trait CaptureError<'a> {
    fn __capture(&self) -> ErrorArg<'a>;
}

impl<'a, T: Error + 'static> CaptureError<'a> for &&Capture<'a, T> {
    fn __capture(&self) -> ErrorArg<'a> {
        ErrorArg(self.0)
    }
}

#[doc(hidden)]
pub trait CaptureDisplay<'a, T: ?Sized> {
    fn __capture(&self) -> DisplayArg<'a, T>;
}

impl<'a, T: fmt::Display + ?Sized> CaptureDisplay<'a, T> for &Capture<'a, T> {
    fn __capture(&self) -> DisplayArg<'a, T> {
        DisplayArg(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::value::{Value, Values};

    /// One whole pass into `cap` bytes: what was written and whether a value was cut.
    fn encode_all<T: Encode + ?Sized>(v: &T, cap: usize) -> (Vec<u8>, bool) {
        let mut buf = vec![0xa5u8; cap];
        let mut e = Encoder::new(&mut buf);
        v.encode(&mut e);
        let (n, t) = (e.position(), e.truncated());
        buf.truncate(n);
        (buf, t)
    }

    /// `fit` into `room` bytes (best effort) over stale bytes: the written bytes and the result.
    fn fit_into<T: Encode + ?Sized>(v: &T, room: usize) -> (Vec<u8>, Fitted) {
        let mut buf = vec![0xa5u8; room];
        let f = fit(&mut buf, v, true);
        buf.truncate(f.len);
        (buf, f)
    }

    fn values(b: &[u8]) -> Vec<Value<'_>> {
        Values::new(b, usize::MAX).collect()
    }

    #[test]
    fn exact_lengths_match_written_bytes() {
        let s = String::from("héllo");
        let args = (
            (1u8, -2i16, 3u32, 4u64, 5u128, -6i8, 7i32, -8i64, 9i128, 1.5f32, 2.5f64, true, 'x'),
            ("abc", &s, 10usize, -11isize),
        );
        let (b, t) = encode_all(&args, 1024);
        assert!(!t);
        assert_eq!(b.len(), args.encoded_len());
        let vals: Vec<_> = Values::new(&b, 100).collect();
        assert_eq!(vals.len(), 17);
        assert_eq!(vals[1], Value::I16(-2));
        assert_eq!(vals[13], Value::Str("abc"));
        assert_eq!(vals[14], Value::Str("héllo"));
        assert_eq!(vals[15], Value::U64(10));
        assert_eq!(vals[16], Value::I64(-11));
    }

    #[test]
    fn fit_keeps_every_fixed_value_and_cuts_the_longest_first() {
        let (a, b) = ("a".repeat(10), "b".repeat(40));
        let args = (a.as_str(), 7u32, b.as_str(), 9u64);
        // Fixed: 3 + 5 + 3 + 9 = 20; 60 bytes leave 40 for 10 + 40: c = 30.
        let (bytes, f) = fit_into(&args, 60);
        assert!(f.truncated && !f.placeholder);
        let cut_b = format!("{}{CUT_MARK}", "b".repeat(27));
        assert_eq!(values(&bytes), [Value::Str(&a), Value::U32(7), Value::Str(&cut_b), Value::U64(9)]);
        assert_eq!(f.len, 60);
        // Both long: they share alike.
        let args = (b.as_str(), 1u8, b.as_str());
        let (bytes, f) = fit_into(&args, 40); // fixed 8, 32 left: c = 16
        let cut = format!("{}{CUT_MARK}", "b".repeat(13));
        assert_eq!(values(&bytes), [Value::Str(&cut), Value::U8(1), Value::Str(&cut)]);
        assert_eq!(f.len, 40);
    }

    #[test]
    fn a_cut_text_ends_on_a_character_boundary_with_the_mark() {
        let s = "ééééé"; // 10 bytes
        let (bytes, f) = fit_into(&(s, 1u8), 3 + 8 + 2); // room 8 for the body: 5 + mark
        assert!(f.truncated);
        assert_eq!(values(&bytes), [Value::Str("éé…"), Value::U8(1)]);
        assert_eq!(f.len, 3 + 7 + 2, "a byte short of the room: the next boundary");
        // Byte strings keep their first c bytes, unmarked.
        let raw = [7u8; 20];
        let (bytes, _) = fit_into(&(&raw[..], 'x'), 3 + 10 + 5);
        assert_eq!(values(&bytes), [Value::Bytes(&[7; 10]), Value::Char('x')]);
    }

    #[test]
    fn captures_keep_the_values_after_them() {
        let long = "x".repeat(100);
        let args = (DisplayArg(&long), 7u32, 123_456u64);
        let (bytes, f) = fit_into(&args, 48);
        assert!(f.truncated);
        let cut = format!("{}{CUT_MARK}", "x".repeat(28)); // 48 - 17 fixed = 31
        assert_eq!(values(&bytes), [Value::Display(&cut), Value::U32(7), Value::U64(123_456)]);
        assert_eq!(f.len, 48);
        // A whole pass bounds a capture by the space left, and marks the cut.
        let (b, t) = encode_all(&DisplayArg(&long), 20);
        assert!(t);
        assert_eq!(values(&b), [Value::Display(&format!("{}{CUT_MARK}", "x".repeat(14)))]);
        let (b, t) = encode_all(&DebugArg(&Some(1)), 64);
        assert!(!t);
        assert_eq!(values(&b), [Value::Debug("Some(1)")]);
    }

    #[test]
    fn what_fits_whole_is_written_once_and_not_cut() {
        let args = (DisplayArg(&"abc"), 1u8, "de");
        let (bytes, f) = fit_into(&args, 64);
        assert_eq!(f, Fitted { len: 13, truncated: false, invalid: false, placeholder: false });
        assert_eq!(values(&bytes), [Value::Display("abc"), Value::U8(1), Value::Str("de")]);
    }

    #[test]
    fn a_placeholder_when_not_even_the_fixed_parts_fit() {
        let args = (1u64, 2u64, "abcdef");
        // Fixed 21; 3 bytes of the string would make 24.
        assert_eq!(fit_into(&args, 23).1, Fitted::PLACEHOLDER);
        let (bytes, f) = fit_into(&args, 24);
        assert!(!f.placeholder);
        assert_eq!(values(&bytes), [Value::U64(1), Value::U64(2), Value::Str(CUT_MARK)]);
        // Short strings need only their own length.
        let (bytes, f) = fit_into(&(1u64, "ab", "abcdefgh"), 15 + 2 + 6);
        assert!(!f.placeholder);
        assert_eq!(values(&bytes), [Value::U64(1), Value::Str("ab"), Value::Str("abc…")]);
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer failed")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    // The triple reference is the autoref dispatch the macros use, not a needless borrow.
    #[allow(clippy::needless_borrow)]
    fn errors_capture_their_chain_and_display_types_do_not() {
        let e = Outer(std::io::Error::other("disk full"));
        let arg = (&&&Capture(&e)).__capture();
        let (b, _) = encode_all(&arg, 128);
        let Some(Value::Error(chain)) = Values::new(&b, 1).next() else { panic!() };
        assert_eq!(chain.iter().collect::<Vec<_>>(), ["outer failed", "disk full"]);
        let n = 42;
        let arg = (&&&Capture(&n)).__capture();
        let (b, _) = encode_all(&arg, 128);
        assert_eq!(Values::new(&b, 1).next(), Some(Value::Display("42")));
    }

    fn chain(v: &Value<'_>) -> Vec<String> {
        let Value::Error(c) = v else { panic!("{v:?}") };
        c.iter().map(str::to_string).collect()
    }

    #[test]
    fn an_error_chain_is_cut_as_one_text() {
        let e = Outer(std::io::Error::other("disk full"));
        // Fixed 4 + 2; variable 12 + 2 + 9 = 23.
        for (room, want) in [
            (6 + 23, vec!["outer failed", "disk full"]),
            (6 + 22, vec!["outer failed", "disk …"]),
            (6 + 17, vec!["outer failed", "…"]),
            // 16: the source's text would get 2 bytes: it is left out, the message marked.
            (6 + 16, vec!["outer failed…"]),
            (6 + 14, vec!["outer faile…"]),
            (6 + 3, vec!["…"]),
        ] {
            let (b, f) = fit_into(&(ErrorArg(&e), 1u8), room);
            assert!(f.truncated == (room < 29), "{room}");
            let v = values(&b);
            assert_eq!(chain(&v[0]), want, "room {room}");
            assert_eq!(v[1], Value::U8(1), "room {room}");
            assert!(f.len <= room);
        }
        assert!(fit_into(&(ErrorArg(&e), 1u8), 6 + 2).1.placeholder);
        // A source too short to hold the mark goes too: the mark moves back to the message.
        #[derive(Debug)]
        struct Level(&'static str, Option<Box<Level>>);
        impl fmt::Display for Level {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl Error for Level {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                self.1.as_deref().map(|l| l as _)
            }
        }
        let e = Level("ab", Some(Box::new(Level("x", Some(Box::new(Level("zzzzzz", None)))))));
        // 6 bytes for 2 + (2 + 1) + (2 + 6): "x" fits with 1 byte left, which is not enough to
        // mark it, so it goes and the message takes the mark.
        let (b, f) = fit_into(&(ErrorArg(&e), 1u8), 6 + 6);
        assert!(f.truncated);
        assert_eq!(chain(&values(&b)[0]), ["ab…"]);
        let (b, _) = fit_into(&(ErrorArg(&e), 1u8), 6 + 7);
        assert_eq!(chain(&values(&b)[0]), ["ab", "…"]);
    }

    /// A `Display` whose text grows each time it runs (a clock, a counter).
    struct Growing(std::cell::Cell<usize>);
    impl fmt::Display for Growing {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.set(self.0.get() + 10);
            f.write_str(&"g".repeat(self.0.get()))
        }
    }

    #[test]
    fn a_capture_longer_than_it_measured_is_cut_further_not_the_values_after_it() {
        let g = Growing(std::cell::Cell::new(0));
        let long = "l".repeat(100);
        let args = (DisplayArg(&g), long.as_str(), 5u64);
        // Fixed 15, 50 bytes for the rest. The whole pass sees 10 bytes of capture, the
        // measuring pass 20 (so c = 30, the capture uncut), the cut pass 30: the string after it
        // gets what is left, the u64 keeps its room.
        let (bytes, f) = fit_into(&args, 65);
        assert!(f.truncated);
        let (gs, ls) = ("g".repeat(30), format!("{}{CUT_MARK}", "l".repeat(17)));
        assert_eq!(values(&bytes), [Value::Display(&gs), Value::Str(&ls), Value::U64(5)]);
        assert_eq!(f.len, 65);
    }

    #[test]
    fn wrong_length_never_writes_out_of_bounds_or_leaves_a_gap() {
        struct Liar;
        impl Encode for Liar {
            fn encoded_len(&self) -> usize {
                1
            }
            fn encode(&self, enc: &mut Encoder<'_>) {
                enc.put_u64(1);
                enc.put_u64(2);
                enc.put_bool(true);
            }
        }
        let (b, t) = encode_all(&Liar, 12);
        assert!(t);
        assert_eq!(b.len(), 9, "the second u64 does not fit, the bool after it is not written");
        assert_eq!(values(&b), [Value::U64(1)]);
    }
}
