//! Argument values as they come back out of a ring: [`Value`], its wire tags, and decoding.
//!
//! On the hot path every argument is written as one tag byte followed by its bytes
//! (little-endian scalars; strings as a `u16` length and the UTF-8 bytes). The drain decodes
//! them into [`Value`]s that borrow from the record, and formats those. Because each variant
//! keeps the exact Rust type of the argument (an `i8` stays an `i8`, an `f32` an `f32`) and
//! every formatting trait of [`Value`] delegates to that type's own implementation with the
//! caller's `Formatter` untouched, formatting a decoded value is byte-identical to formatting
//! the original argument (R-CORE-6).
//!
//! The tag is stored per record, not per callsite: one callsite inside a generic function can
//! record different types, and a trace file can be decoded without knowing the program.

use std::fmt;

/// Wire tags: the first byte of every encoded value.
#[allow(missing_docs)]
pub(crate) mod tag {
    pub const U8: u8 = 1;
    pub const U16: u8 = 2;
    pub const U32: u8 = 3;
    pub const U64: u8 = 4;
    pub const U128: u8 = 5;
    pub const I8: u8 = 6;
    pub const I16: u8 = 7;
    pub const I32: u8 = 8;
    pub const I64: u8 = 9;
    pub const I128: u8 = 10;
    pub const F32: u8 = 11;
    pub const F64: u8 = 12;
    pub const BOOL: u8 = 13;
    pub const CHAR: u8 = 14;
    /// `u16` length, then UTF-8 bytes.
    pub const STR: u8 = 15;
    /// `u16` length, then raw bytes.
    pub const BYTES: u8 = 16;
    /// `u16` length, then UTF-8 text captured eagerly with `Display` (`%x`).
    pub const DISPLAY: u8 = 17;
    /// `u16` length, then UTF-8 text captured eagerly with `Debug` (`?x`).
    pub const DEBUG: u8 = 18;
    /// `u8` count `n ≥ 1`, then `n` × (`u16` length, UTF-8): an error's `Display` text and
    /// the `Display` text of each `source()` in order.
    pub const ERROR: u8 = 19;
}

/// A decoded argument, borrowing its bytes from the record it came from.
///
/// Every formatting trait ([`fmt::Display`], [`fmt::Debug`], [`fmt::LowerHex`],
/// [`fmt::UpperHex`], [`fmt::Octal`], [`fmt::Binary`], [`fmt::LowerExp`], [`fmt::UpperExp`])
/// delegates to the wrapped value's implementation, flags and all, so
/// `format!("{:>+8.2}", Value::F64(x)) == format!("{:>+8.2}", x)`. Where the wrapped type does
/// not implement a trait (hex of a string, say) the trait writes nothing and returns an error;
/// the recording macros check format strings against the real argument types at compile time,
/// so that only happens for hand-built templates.
///
/// ```
/// use ringtrace::Value;
/// assert_eq!(format!("{:>+8.2}", Value::F64(3.14159)), format!("{:>+8.2}", 3.14159f64));
/// assert_eq!(format!("{:#x}", Value::I8(-1)), "0xff");
/// assert_eq!(format!("{:?}", Value::Str("a\"b")), "\"a\\\"b\"");
/// ```
#[derive(Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// A `u8`.
    U8(u8),
    /// A `u16`.
    U16(u16),
    /// A `u32`.
    U32(u32),
    /// A `u64` (also `usize`).
    U64(u64),
    /// A `u128`.
    U128(u128),
    /// An `i8`.
    I8(i8),
    /// An `i16`.
    I16(i16),
    /// An `i32`.
    I32(i32),
    /// An `i64` (also `isize`).
    I64(i64),
    /// An `i128`.
    I128(i128),
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
    /// A `bool`.
    Bool(bool),
    /// A `char`.
    Char(char),
    /// A string, copied at the call site.
    Str(&'a str),
    /// A byte slice, copied at the call site.
    Bytes(&'a [u8]),
    /// Text produced eagerly by the argument's `Display` implementation (`%x`). Rendered
    /// verbatim by every formatting trait.
    Display(&'a str),
    /// Text produced eagerly by the argument's `Debug` implementation (`?x`). Rendered
    /// verbatim by every formatting trait.
    Debug(&'a str),
    /// An error captured eagerly: its `Display` text and its `source()` chain.
    Error(ErrorChain<'a>),
    /// Bytes that could not be decoded (a corrupt record or an unknown tag).
    Invalid,
}

/// An error captured at the call site: the error's own `Display` text followed by the text of
/// each error in its `source()` chain. `Display` writes the error's own text only (as
/// formatting the error itself would); sinks show the sources as a separate field.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ErrorChain<'a> {
    count: u8,
    /// `count` × (u16 length, bytes), already validated as UTF-8 by [`decode_value`].
    bytes: &'a [u8],
}

impl<'a> ErrorChain<'a> {
    /// The error's own message.
    pub fn message(&self) -> &'a str {
        self.iter().next().unwrap_or("")
    }

    /// The messages of the `source()` chain, outermost first.
    pub fn sources(&self) -> impl Iterator<Item = &'a str> {
        self.iter().skip(1)
    }

    /// The error's message followed by its sources.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> {
        let mut rest = self.bytes;
        (0..self.count).map_while(move |_| {
            let (s, r) = split_str(rest)?;
            rest = r;
            Some(s)
        })
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Splits a `u16`-length-prefixed UTF-8 string off the front of `b`.
fn split_str(b: &[u8]) -> Option<(&str, &[u8])> {
    let (s, rest) = split_bytes(b)?;
    Some((std::str::from_utf8(s).ok()?, rest))
}

/// Splits a `u16`-length-prefixed byte string off the front of `b`.
fn split_bytes(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u16::from_le_bytes(b.get(..2)?.try_into().ok()?) as usize;
    let body = b.get(2..2 + len)?;
    Some((body, &b[2 + len..]))
}

fn fixed<const N: usize>(b: &[u8]) -> Option<([u8; N], &[u8])> {
    let v: [u8; N] = b.get(..N)?.try_into().ok()?;
    Some((v, &b[N..]))
}

/// Decodes one tagged value from the front of `b`, returning it and the rest. `None` if the
/// bytes are truncated, the tag is unknown or a string is not UTF-8: the caller shows
/// [`Value::Invalid`] and stops decoding that record.
#[inline]
pub(crate) fn decode_value(b: &[u8]) -> Option<(Value<'_>, &[u8])> {
    let (&t, b) = b.split_first()?;
    macro_rules! num {
        ($ty:ty, $variant:ident) => {{
            let (v, rest) = fixed::<{ std::mem::size_of::<$ty>() }>(b)?;
            (Value::$variant(<$ty>::from_le_bytes(v)), rest)
        }};
    }
    Some(match t {
        tag::U8 => num!(u8, U8),
        tag::U16 => num!(u16, U16),
        tag::U32 => num!(u32, U32),
        tag::U64 => num!(u64, U64),
        tag::U128 => num!(u128, U128),
        tag::I8 => num!(i8, I8),
        tag::I16 => num!(i16, I16),
        tag::I32 => num!(i32, I32),
        tag::I64 => num!(i64, I64),
        tag::I128 => num!(i128, I128),
        tag::F32 => num!(f32, F32),
        tag::F64 => num!(f64, F64),
        tag::BOOL => {
            let (&v, rest) = b.split_first()?;
            (Value::Bool(v != 0), rest)
        }
        tag::CHAR => {
            let (v, rest) = fixed::<4>(b)?;
            (Value::Char(char::from_u32(u32::from_le_bytes(v))?), rest)
        }
        tag::STR => {
            let (s, rest) = split_str(b)?;
            (Value::Str(s), rest)
        }
        tag::BYTES => {
            let (s, rest) = split_bytes(b)?;
            (Value::Bytes(s), rest)
        }
        tag::DISPLAY => {
            let (s, rest) = split_str(b)?;
            (Value::Display(s), rest)
        }
        tag::DEBUG => {
            let (s, rest) = split_str(b)?;
            (Value::Debug(s), rest)
        }
        tag::ERROR => {
            let (&count, mut rest) = b.split_first()?;
            let start = rest;
            for _ in 0..count {
                rest = split_str(rest)?.1;
            }
            let used = start.len() - rest.len();
            (Value::Error(ErrorChain { count, bytes: &start[..used] }), rest)
        }
        _ => return None,
    })
}

/// The bytes after the first `n` tagged values of `b`, as [`Values`] would leave them: empty
/// when the bytes end first or a value does not decode (`Values` then stops too).
#[inline]
pub(crate) fn skip_values(mut b: &[u8], n: usize) -> &[u8] {
    for _ in 0..n {
        match decode_value(b) {
            Some((_, rest)) => b = rest,
            None => return &[],
        }
    }
    b
}

/// Iterates over the tagged values in a byte string; stops at the end of the bytes, and yields
/// [`Value::Invalid`] once (then stops) at a value that does not decode.
#[derive(Debug, Clone)]
pub(crate) struct Values<'a> {
    rest: &'a [u8],
    remaining: usize,
}

impl<'a> Values<'a> {
    /// Decodes at most `count` values from `bytes` (fewer if the bytes end first).
    pub(crate) fn new(bytes: &'a [u8], count: usize) -> Self {
        Self { rest: bytes, remaining: count }
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        if self.remaining == 0 || self.rest.is_empty() {
            return None;
        }
        self.remaining -= 1;
        match decode_value(self.rest) {
            Some((v, rest)) => {
                self.rest = rest;
                Some(v)
            }
            None => {
                self.remaining = 0;
                self.rest = &[];
                Some(Value::Invalid)
            }
        }
    }
}

impl Value<'_> {
    /// Whether this value is a number (integers and floats). Numbers are right-aligned by
    /// default when padded; everything else is left-aligned.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            Value::U8(_)
                | Value::U16(_)
                | Value::U32(_)
                | Value::U64(_)
                | Value::U128(_)
                | Value::I8(_)
                | Value::I16(_)
                | Value::I32(_)
                | Value::I64(_)
                | Value::I128(_)
                | Value::F32(_)
                | Value::F64(_)
        )
    }
}

/// Delegates a formatting trait to the wrapped value; variants without that trait fail.
macro_rules! delegate {
    ($trait:ident; $($variant:ident),*; verbatim) => {
        impl fmt::$trait for Value<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Value::$variant(v) => fmt::$trait::fmt(v, f),)*
                    Value::Display(s) | Value::Debug(s) => f.write_str(s),
                    Value::Error(e) => f.write_str(e.message()),
                    Value::Invalid => f.write_str("<invalid>"),
                    #[allow(unreachable_patterns)]
                    _ => Err(fmt::Error),
                }
            }
        }
    };
}

delegate!(Display; U8, U16, U32, U64, U128, I8, I16, I32, I64, I128, F32, F64, Bool, Char, Str; verbatim);
delegate!(Debug; U8, U16, U32, U64, U128, I8, I16, I32, I64, I128, F32, F64, Bool, Char, Str, Bytes; verbatim);
delegate!(LowerHex; U8, U16, U32, U64, U128, I8, I16, I32, I64, I128; verbatim);
delegate!(UpperHex; U8, U16, U32, U64, U128, I8, I16, I32, I64, I128; verbatim);
delegate!(Octal; U8, U16, U32, U64, U128, I8, I16, I32, I64, I128; verbatim);
delegate!(Binary; U8, U16, U32, U64, U128, I8, I16, I32, I64, I128; verbatim);
delegate!(LowerExp; U8, U16, U32, U64, U128, I8, I16, I32, I64, I128, F32, F64; verbatim);
delegate!(UpperExp; U8, U16, U32, U64, U128, I8, I16, I32, I64, I128, F32, F64; verbatim);

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(t: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![t];
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn scalars_decode_to_their_own_type() {
        let b = enc(tag::I8, &[0xff]);
        assert_eq!(decode_value(&b).unwrap().0, Value::I8(-1));
        let b = enc(tag::F32, &1.5f32.to_le_bytes());
        assert_eq!(decode_value(&b).unwrap().0, Value::F32(1.5));
        let b = enc(tag::CHAR, &('é' as u32).to_le_bytes());
        assert_eq!(decode_value(&b).unwrap().0, Value::Char('é'));
    }

    #[test]
    fn truncated_or_unknown_input_is_rejected_not_panicking() {
        assert!(decode_value(&[]).is_none());
        assert!(decode_value(&[tag::U64, 1, 2]).is_none());
        assert!(decode_value(&[200]).is_none());
        assert!(decode_value(&[tag::STR, 5, 0, b'a']).is_none());
        assert!(decode_value(&[tag::STR, 1, 0, 0xff]).is_none(), "invalid UTF-8");
        assert!(decode_value(&[tag::CHAR, 0, 0xd8, 0, 0]).is_none(), "surrogate");
        assert!(decode_value(&[tag::ERROR, 2, 1, 0, b'a']).is_none());
        assert_eq!(Values::new(&[tag::U8, 1], 5).count(), 1, "the bytes end first");
        let mut it = Values::new(&[tag::U8, 1, 99], 3);
        assert_eq!(it.next(), Some(Value::U8(1)));
        assert_eq!(it.next(), Some(Value::Invalid));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn error_chain_iterates_message_then_sources() {
        let mut b = vec![tag::ERROR, 3];
        for s in ["outer", "middle", "root"] {
            b.extend_from_slice(&(s.len() as u16).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        b.push(0xaa);
        let (v, rest) = decode_value(&b).unwrap();
        assert_eq!(rest, &[0xaa]);
        let Value::Error(e) = v else { panic!("{v:?}") };
        assert_eq!(e.message(), "outer");
        assert_eq!(e.sources().collect::<Vec<_>>(), ["middle", "root"]);
        assert_eq!(format!("{v}"), "outer");
    }

    #[test]
    fn formatting_delegates_with_flags() {
        assert_eq!(format!("{:08.3}", Value::F64(-2.5)), format!("{:08.3}", -2.5f64));
        assert_eq!(format!("{:#010b}", Value::U8(5)), format!("{:#010b}", 5u8));
        assert_eq!(format!("{:^7}", Value::Str("ab")), format!("{:^7}", "ab"));
        assert_eq!(format!("{:e}", Value::F32(1234.5)), format!("{:e}", 1234.5f32));
        assert_eq!(format!("{:?}", Value::Bytes(&[1, 2])), "[1, 2]");
        assert_eq!(format!("{:>9}", Value::Display("x")), "x", "captured text is verbatim");
        assert!(std::fmt::write(&mut String::new(), format_args!("{:x}", Value::Str("a"))).is_err());
    }
}
