//! Small text helpers shared by the writers: relative microsecond timestamps, hex, and the
//! `key=value` text of fields.

use ringtrace::render::write_text_value;
use ringtrace::{Event, Value};
use std::fmt::Write;

/// Appends `ns - origin` nanoseconds as microseconds with exactly three decimals
/// (`12.345`, `-0.001`), computed in integers so no nanosecond is lost to `f64` rounding.
pub(crate) fn write_micros(out: &mut String, ns: u64, origin: u64) {
    let (neg, d) = if ns >= origin { (false, ns - origin) } else { (true, origin - ns) };
    if neg {
        out.push('-');
    }
    let _ = write!(out, "{}.{:03}", d / 1000, d % 1000);
}

/// Appends a nanosecond interval as microseconds with three decimals.
pub(crate) fn write_duration_micros(out: &mut String, ns: u64) {
    let _ = write!(out, "{}.{:03}", ns / 1000, ns % 1000);
}

/// Appends `bytes` as lowercase hex.
pub(crate) fn write_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
}

/// Appends `key=value` pairs separated by spaces, values as the text renderer writes them
/// (strings quoted, numbers bare).
pub(crate) fn write_pairs<'a>(out: &mut String, pairs: impl Iterator<Item = (&'a str, Value<'a>)>) {
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push('=');
        write_text_value(out, &v);
    }
}

/// The name a viewer shows for an event or span edge: its message, or failing that the
/// callsite's format string, target, or `"event"`.
pub(crate) fn event_name(ev: &Event<'_>, out: &mut String) {
    let start = out.len();
    ev.write_message(out);
    if out.len() > start {
        return;
    }
    let fallback = ev.callsite().map(|c| c.format.as_str()).filter(|f| !f.is_empty()).unwrap_or(ev.target());
    out.push_str(if fallback.is_empty() { "event" } else { fallback });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_keep_every_nanosecond() {
        let mut s = String::new();
        write_micros(&mut s, 1_700_000_000_012_345_678, 1_700_000_000_000_000_000);
        assert_eq!(s, "12345.678");
        s.clear();
        write_micros(&mut s, 5, 6);
        assert_eq!(s, "-0.001");
        s.clear();
        write_micros(&mut s, 7, 7);
        assert_eq!(s, "0.000");
        s.clear();
        write_micros(&mut s, u64::MAX, 0);
        assert_eq!(s, "18446744073709551.615");
        s.clear();
        write_duration_micros(&mut s, 1_000_001);
        assert_eq!(s, "1000.001");
    }

    #[test]
    fn hex_and_pairs() {
        let mut s = String::new();
        write_hex(&mut s, &[0, 0xab, 0x7f]);
        assert_eq!(s, "00ab7f");
        s.clear();
        write_pairs(&mut s, [("a", Value::U32(3)), ("b", Value::Str("x y"))].into_iter());
        assert_eq!(s, "a=3 b=\"x y\"");
    }
}
