//! Human text and JSON lines: how an [`Event`] becomes one line of output.
//!
//! Used by the text and JSON sinks and by `ringtrace decode`, so a live run and a decoded
//! trace file print the same bytes.
//!
//! # Text
//!
//! ```text
//! 2026-11-22T14:04:05.123456789Z  INFO [worker-3] {request_id=42} demo::orders: order 7 filled qty=10 side="buy"
//! ```
//!
//! Timestamp (UTC, nanoseconds), level right-aligned to 5, `[thread name]`, the bound context
//! in braces if any, `target: `, the message, then ` key=value` per field. Values: numbers and
//! `bool` as `Display`, strings, chars and byte strings as `Debug` (quoted), `%x`/`?x`
//! captures verbatim, errors as their message with ` key.sources=[…]` when they have a
//! source chain. A cut-short event ends with ` [truncated]`.
//!
//! # JSON lines
//!
//! ```text
//! {"ts":"2026-11-22T14:04:05.123456789Z","level":"INFO","thread":"worker-3","thread_id":3,"target":"demo::orders","message":"order 7 filled","fields":{"qty":10,"side":"buy"},"ctx":{"request_id":42}}
//! ```
//!
//! `fields` and `ctx` are omitted when empty, `"truncated":true` appears only when true.
//! Integers are JSON numbers, finite floats are numbers (Rust's shortest round-trip form),
//! NaN and infinities are the strings `"NaN"`, `"inf"`, `"-inf"`, bytes are arrays of numbers,
//! an undecodable value is `null`. Raw records carry `"kind":"raw"`, `"event_id"` and the
//! payload in hex; loss records carry `"kind":"loss"` and the counts.

use crate::event::Event;
use crate::record::RecordKind;
use crate::value::Value;
use std::fmt::Write;

/// Appends `unix_ns` as an RFC 3339 UTC timestamp with nanoseconds
/// (`2026-11-22T14:04:05.123456789Z`).
pub fn write_timestamp(out: &mut String, unix_ns: u64) {
    let secs = unix_ns / 1_000_000_000;
    let nanos = unix_ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem / 60 % 60, rem % 60);
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Appends a value as a text field value (see the module doc).
pub fn write_text_value(out: &mut String, v: &Value<'_>) {
    let _ = match v {
        Value::Str(_) | Value::Char(_) | Value::Bytes(_) => write!(out, "{v:?}"),
        Value::Invalid => {
            out.push_str("<invalid>");
            Ok(())
        }
        _ => write!(out, "{v}"),
    };
}

/// Appends ` key=value` for one field, plus ` key.sources=[…]` for errors with a chain.
fn write_text_field(out: &mut String, key: &str, v: &Value<'_>) {
    out.push(' ');
    out.push_str(key);
    out.push('=');
    write_text_value(out, v);
    if let Value::Error(e) = v {
        let mut sources = e.sources().peekable();
        if sources.peek().is_some() {
            out.push(' ');
            out.push_str(key);
            out.push_str(".sources=[");
            for (i, s) in sources.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(s);
            }
            out.push(']');
        }
    }
}

/// Appends one event as a line of human-readable text, newline included.
pub fn render_text(ev: &Event<'_>, out: &mut String) {
    write_timestamp(out, ev.unix_nanos());
    let level = match ev.kind() {
        RecordKind::Event => ev.level().map_or("?", |l| l.as_str()),
        RecordKind::Raw => "RAW",
        RecordKind::Loss => "LOSS",
        RecordKind::Pad => "PAD",
    };
    let _ = write!(out, " {level:>5} [{}]", ev.thread().name);
    let mut ctx = ev.context().peekable();
    if ctx.peek().is_some() {
        out.push_str(" {");
        for (i, (k, v)) in ctx.enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(k);
            out.push('=');
            write_text_value(out, &v);
        }
        out.push('}');
    }
    out.push(' ');
    match ev.kind() {
        RecordKind::Event => {
            out.push_str(ev.target());
            out.push_str(": ");
            ev.write_message(out);
            for (k, v) in ev.fields() {
                write_text_field(out, k, &v);
            }
        }
        RecordKind::Raw => {
            let _ = write!(out, "event_id={} payload=", ev.id());
            write_hex(out, ev.payload());
        }
        RecordKind::Loss => {
            let l = ev.loss().unwrap_or_default();
            let _ = write!(out, "ringtrace: lost {} events ({} bytes) from ", l.events, l.bytes);
            write_timestamp(out, ev.clock().to_unix_ns(l.first_ticks));
            out.push_str(" to ");
            write_timestamp(out, ev.clock().to_unix_ns(l.last_ticks));
        }
        RecordKind::Pad => {}
    }
    if ev.is_truncated() {
        out.push_str(" [truncated]");
    }
    out.push('\n');
}

fn write_hex(out: &mut String, b: &[u8]) {
    for byte in b {
        let _ = write!(out, "{byte:02x}");
    }
}

/// Appends `s` as a JSON string literal (quotes included).
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(esc);
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends a value as JSON (see the module doc).
pub fn write_json_value(out: &mut String, v: &Value<'_>) {
    fn float(out: &mut String, f: f64, text: std::fmt::Arguments<'_>) {
        if f.is_finite() {
            let _ = out.write_fmt(text);
        } else if f.is_nan() {
            out.push_str("\"NaN\"");
        } else if f > 0.0 {
            out.push_str("\"inf\"");
        } else {
            out.push_str("\"-inf\"");
        }
    }
    let _ = match v {
        Value::F32(f) => {
            float(out, *f as f64, format_args!("{f}"));
            Ok(())
        }
        Value::F64(f) => {
            float(out, *f, format_args!("{f}"));
            Ok(())
        }
        Value::Bool(b) => write!(out, "{b}"),
        Value::Char(c) => {
            let mut buf = [0u8; 4];
            write_json_str(out, c.encode_utf8(&mut buf));
            Ok(())
        }
        Value::Str(s) | Value::Display(s) | Value::Debug(s) => {
            write_json_str(out, s);
            Ok(())
        }
        Value::Error(e) => {
            write_json_str(out, e.message());
            Ok(())
        }
        Value::Bytes(b) => {
            out.push('[');
            for (i, byte) in b.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{byte}");
            }
            out.push(']');
            Ok(())
        }
        Value::Invalid => {
            out.push_str("null");
            Ok(())
        }
        _ => write!(out, "{v}"),
    };
}

fn write_json_field(out: &mut String, first: &mut bool, key: &str, v: &Value<'_>) {
    if !std::mem::take(first) {
        out.push(',');
    }
    write_json_str(out, key);
    out.push(':');
    write_json_value(out, v);
    if let Value::Error(e) = v {
        let mut sources = e.sources().peekable();
        if sources.peek().is_some() {
            out.push(',');
            write_json_str(out, &format!("{key}.sources"));
            out.push_str(":[");
            for (i, s) in sources.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(out, s);
            }
            out.push(']');
        }
    }
}

/// Appends one event as a JSON object on one line, newline included.
pub fn render_json(ev: &Event<'_>, out: &mut String) {
    out.push_str("{\"ts\":\"");
    write_timestamp(out, ev.unix_nanos());
    out.push('"');
    match ev.kind() {
        RecordKind::Event => {
            let _ = write!(out, ",\"level\":\"{}\"", ev.level().map_or("?", |l| l.as_str()));
        }
        kind => {
            let _ = write!(out, ",\"kind\":\"{}\"", kind.as_str());
        }
    }
    out.push_str(",\"thread\":");
    write_json_str(out, &ev.thread().name);
    let _ = write!(out, ",\"thread_id\":{}", ev.thread().id);
    match ev.kind() {
        RecordKind::Event => {
            out.push_str(",\"target\":");
            write_json_str(out, ev.target());
            out.push_str(",\"message\":");
            let mut msg = String::new();
            ev.write_message(&mut msg);
            write_json_str(out, &msg);
            let mut fields = ev.fields().peekable();
            if fields.peek().is_some() {
                out.push_str(",\"fields\":{");
                let mut first = true;
                for (k, v) in fields {
                    write_json_field(out, &mut first, k, &v);
                }
                out.push('}');
            }
        }
        RecordKind::Raw => {
            let _ = write!(out, ",\"event_id\":{},\"payload\":\"", ev.id());
            write_hex(out, ev.payload());
            out.push('"');
        }
        RecordKind::Loss => {
            let l = ev.loss().unwrap_or_default();
            let _ = write!(out, ",\"lost_events\":{},\"lost_bytes\":{},\"first_ts\":\"", l.events, l.bytes);
            write_timestamp(out, ev.clock().to_unix_ns(l.first_ticks));
            out.push_str("\",\"last_ts\":\"");
            write_timestamp(out, ev.clock().to_unix_ns(l.last_ticks));
            out.push('"');
        }
        RecordKind::Pad => {}
    }
    let mut ctx = ev.context().peekable();
    if ctx.peek().is_some() {
        out.push_str(",\"ctx\":{");
        let mut first = true;
        for (k, v) in ctx {
            write_json_field(out, &mut first, k, &v);
        }
        out.push('}');
    }
    if ev.is_truncated() {
        out.push_str(",\"truncated\":true");
    }
    out.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let mut s = String::new();
        write_timestamp(&mut s, 0);
        assert_eq!(s, "1970-01-01T00:00:00.000000000Z");
        s.clear();
        // 2024-02-29T23:59:59.000000001Z (leap day)
        write_timestamp(&mut s, 1_709_251_199_000_000_001);
        assert_eq!(s, "2024-02-29T23:59:59.000000001Z");
        s.clear();
        write_timestamp(&mut s, 4_102_444_800_000_000_000);
        assert_eq!(s, "2100-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn json_strings_escape_controls_and_quotes() {
        let mut s = String::new();
        write_json_str(&mut s, "a\"b\\c\n\u{1}é");
        assert_eq!(s, r#""a\"b\\c\n\u0001é""#);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v, "a\"b\\c\n\u{1}é");
    }

    #[test]
    fn json_values_parse_back() {
        let cases = [
            (Value::U64(u64::MAX), "18446744073709551615"),
            (Value::I8(-5), "-5"),
            (Value::F64(0.1), "0.1"),
            (Value::F64(f64::NAN), "\"NaN\""),
            (Value::F32(f32::NEG_INFINITY), "\"-inf\""),
            (Value::Bool(true), "true"),
            (Value::Char('"'), "\"\\\"\""),
            (Value::Bytes(&[1, 2]), "[1,2]"),
            (Value::Invalid, "null"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            write_json_value(&mut s, &v);
            assert_eq!(s, want);
            serde_json::from_str::<serde_json::Value>(&s).unwrap();
        }
    }

    #[test]
    fn text_values_quote_strings_only() {
        let mut s = String::new();
        write_text_value(&mut s, &Value::Str("a b"));
        s.push(' ');
        write_text_value(&mut s, &Value::Display("a b"));
        s.push(' ');
        write_text_value(&mut s, &Value::F64(1.5));
        assert_eq!(s, "\"a b\" a b 1.5");
    }
}
