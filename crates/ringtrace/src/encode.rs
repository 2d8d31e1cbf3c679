//! Encoding arguments on the recording thread: the [`Encode`] trait and the [`Encoder`].
//!
//! A recording macro builds a tuple of references to its field values and message arguments
//! and calls the hot path with it; the tuple's [`Encode`] implementation computes the exact
//! encoded size (so the ring reservation is exact) and then writes each value as a tag and its
//! bytes (`value.rs` has the wire format). Scalars and strings are copied; nothing is
//! formatted.
//!
//! Two kinds of argument are *eager* by the user's choice, formatted at the call site:
//! `%x` (captured with `Display`), `?x` (captured with `Debug`) and errors (`Display` text plus
//! the `source()` chain, R-CORE-6). Their size is not known in advance ([`Encode::DYNAMIC`]),
//! so such records reserve `max_record_size` and write the text straight into the ring through
//! a bounded [`fmt::Write`] — no allocation either way.
//!
//! Every write is bounds-checked against the reservation, so a wrong `encoded_len` in a
//! hand-written [`Encode`] implementation truncates a value, it never writes out of bounds.

use crate::value::tag;
use std::error::Error;
use std::fmt::{self, Write as _};

/// A value the recording macros can store without formatting it.
///
/// Implemented for the integer and float types, `bool`, `char`, `str`, `String`, `[u8]`,
/// references to any of these, and the eager capture wrappers ([`display`](crate::display),
/// [`debug`](crate::debug()), `%x`, `?x`). Implement it for your own types by writing their
/// parts with the [`Encoder`]'s `put_*` methods (the drain sees the parts, not your type: to
/// keep lazy formatting byte-identical, encode a single value of a supported type).
pub trait Encode {
    /// True if the size is only known after writing (eager text captures).
    const DYNAMIC: bool = false;

    /// The exact number of bytes [`Encode::encode`] writes (tags included). For `DYNAMIC`
    /// types, the minimum.
    fn encoded_len(&self) -> usize;

    /// Bytes that may be cut to make the record fit `max_record_size` (string bodies).
    fn shrinkable_len(&self) -> usize {
        0
    }

    /// Writes the value.
    fn encode(&self, enc: &mut Encoder<'_>);
}

/// Writes tagged values into a reserved region of a ring. Handed to [`Encode::encode`].
#[derive(Debug)]
pub struct Encoder<'a> {
    buf: &'a mut [u8],
    pos: usize,
    /// Bytes string bodies still have to give up so the record fits (best effort).
    shrink: usize,
    truncated: bool,
    /// A captured `Display`/`Debug` implementation returned an error.
    invalid: bool,
}

impl<'a> Encoder<'a> {
    pub(crate) fn new(buf: &'a mut [u8], shrink: usize) -> Self {
        Self { buf, pos: 0, shrink, truncated: false, invalid: false }
    }

    /// Bytes written so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Whether any value was cut short.
    pub(crate) fn truncated(&self) -> bool {
        self.truncated
    }

    /// Whether an eagerly captured value failed to format (its implementation returned an
    /// error before the text was complete).
    pub(crate) fn invalid(&self) -> bool {
        self.invalid
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline(always)]
    fn put_raw(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        if end <= self.buf.len() {
            self.buf[self.pos..end].copy_from_slice(bytes);
            self.pos = end;
        } else {
            // Only reachable with a wrong `encoded_len`: mark and stop writing.
            self.truncated = true;
            self.pos = self.buf.len();
        }
    }

    #[inline(always)]
    fn put_tagged<const N: usize>(&mut self, t: u8, bytes: [u8; N]) {
        let end = self.pos + 1 + N;
        if end <= self.buf.len() {
            self.buf[self.pos] = t;
            self.buf[self.pos + 1..end].copy_from_slice(&bytes);
            self.pos = end;
        } else {
            self.truncated = true;
            self.pos = self.buf.len();
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

    /// Writes a string (copied; cut at a character boundary if the record must shrink).
    #[inline(always)]
    pub fn put_str(&mut self, s: &str) {
        let keep = self.shrunk_len(s.len());
        let keep = floor_char_boundary(s, keep);
        self.put_len_prefixed(tag::STR, &s.as_bytes()[..keep]);
    }

    /// Writes a byte string (copied; cut if the record must shrink).
    #[inline(always)]
    pub fn put_bytes(&mut self, b: &[u8]) {
        let keep = self.shrunk_len(b.len());
        self.put_len_prefixed(tag::BYTES, &b[..keep]);
    }

    /// How much of a `len`-byte body to keep, taking the pending shrink and the `u16` length
    /// limit into account.
    #[inline(always)]
    fn shrunk_len(&mut self, len: usize) -> usize {
        let mut keep = len.min(u16::MAX as usize);
        if self.shrink > 0 {
            let cut = self.shrink.min(keep);
            self.shrink -= cut;
            keep -= cut;
        }
        if keep < len {
            self.truncated = true;
        }
        keep
    }

    #[inline(always)]
    fn put_len_prefixed(&mut self, t: u8, body: &[u8]) {
        self.put_tagged(t, (body.len() as u16).to_le_bytes());
        self.put_raw(body);
    }

    /// Writes text produced by `f` (eager capture), bounded by the space left in the record.
    fn put_text(&mut self, t: u8, f: impl FnOnce(&mut TextWriter<'_>) -> fmt::Result) {
        if self.remaining() < 3 {
            self.truncated = true;
            return;
        }
        let start = self.pos;
        self.buf[start] = t;
        let body_start = start + 3;
        let limit = (self.buf.len() - body_start).min(u16::MAX as usize);
        let mut w = TextWriter { buf: &mut self.buf[body_start..body_start + limit], len: 0, full: false };
        // A Display impl that returns an error ends the text where it stopped; if that was not
        // our bound cutting it short, the value is invalid (strict mode drops the event).
        let failed = f(&mut w).is_err();
        let (len, full) = (w.len, w.full);
        self.invalid |= failed && !full;
        self.buf[start + 1..start + 3].copy_from_slice(&(len as u16).to_le_bytes());
        self.pos = body_start + len;
        self.truncated |= full;
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
    /// (at most 255 levels).
    pub fn put_error(&mut self, e: &(dyn Error + 'static)) {
        if self.remaining() < 2 {
            self.truncated = true;
            return;
        }
        let count_at = self.pos;
        self.buf[count_at] = tag::ERROR;
        self.pos += 2;
        let mut count = 0u8;
        let mut cur: Option<&(dyn Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if count == u8::MAX || self.remaining() < 2 {
                self.truncated = true;
                break;
            }
            // Each level: u16 length + text, written like a capture without the tag byte.
            let start = self.pos;
            let limit = (self.buf.len() - start - 2).min(u16::MAX as usize);
            let mut w = TextWriter { buf: &mut self.buf[start + 2..start + 2 + limit], len: 0, full: false };
            let failed = write!(w, "{err}").is_err();
            let (len, full) = (w.len, w.full);
            self.invalid |= failed && !full;
            self.buf[start..start + 2].copy_from_slice(&(len as u16).to_le_bytes());
            self.pos = start + 2 + len;
            self.truncated |= full;
            count += 1;
            cur = err.source();
        }
        self.buf[count_at + 1] = count;
    }
}

/// The largest `i <= n` that is a character boundary of `s`.
fn floor_char_boundary(s: &str, n: usize) -> usize {
    if n >= s.len() {
        return s.len();
    }
    let mut i = n;
    while !s.is_char_boundary(i) {
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
        let n = if s.len() <= room { s.len() } else { floor_char_boundary(s, room) };
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
    fn encoded_len(&self) -> usize {
        2
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
    use crate::value::{Value, Values};

    fn encode_all<T: Encode + ?Sized>(v: &T, cap: usize, shrink: usize) -> (Vec<u8>, bool) {
        let mut buf = vec![0u8; cap];
        let mut e = Encoder::new(&mut buf, shrink);
        v.encode(&mut e);
        let (n, t) = (e.position(), e.truncated());
        buf.truncate(n);
        (buf, t)
    }

    #[test]
    fn exact_lengths_match_written_bytes() {
        let s = String::from("héllo");
        let args = (
            (1u8, -2i16, 3u32, 4u64, 5u128, -6i8, 7i32, -8i64, 9i128, 1.5f32, 2.5f64, true, 'x'),
            ("abc", &s, 10usize, -11isize),
        );
        let (b, t) = encode_all(&args, 1024, 0);
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
    fn shrink_cuts_strings_at_char_boundaries() {
        let args = ("ééé", 7u8); // 6 bytes of string
        let (b, t) = encode_all(&args, 64, 3);
        assert!(t);
        let vals: Vec<_> = Values::new(&b, 2).collect();
        assert_eq!(vals, vec![Value::Str("é"), Value::U8(7)], "3 bytes cut → 2 kept, rounded down to 'é'");
    }

    #[test]
    fn captures_are_bounded_by_the_reservation() {
        let long = "x".repeat(100);
        let (b, t) = encode_all(&DisplayArg(&long), 20, 0);
        assert!(t);
        assert_eq!(Values::new(&b, 1).next(), Some(Value::Display(&"x".repeat(17))));
        let (b, t) = encode_all(&DebugArg(&Some(1)), 64, 0);
        assert!(!t);
        assert_eq!(Values::new(&b, 1).next(), Some(Value::Debug("Some(1)")));
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
        let (b, _) = encode_all(&arg, 128, 0);
        let Some(Value::Error(chain)) = Values::new(&b, 1).next() else { panic!() };
        assert_eq!(chain.iter().collect::<Vec<_>>(), ["outer failed", "disk full"]);
        let n = 42;
        let arg = (&&&Capture(&n)).__capture();
        let (b, _) = encode_all(&arg, 128, 0);
        assert_eq!(Values::new(&b, 1).next(), Some(Value::Display("42")));
    }

    #[test]
    fn wrong_length_never_writes_out_of_bounds() {
        struct Liar;
        impl Encode for Liar {
            fn encoded_len(&self) -> usize {
                1
            }
            fn encode(&self, enc: &mut Encoder<'_>) {
                enc.put_u64(1);
                enc.put_u64(2);
            }
        }
        let (b, t) = encode_all(&Liar, 12, 0);
        assert!(t);
        assert_eq!(b.len(), 12);
    }
}
