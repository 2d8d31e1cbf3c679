//! Acceptance: what the drain formats lazily equals what formatting the same arguments at the
//! call site produces, for text and JSON (R-CORE-6). The expected lines are built here with
//! `format!` on the original values and `serde_json` — a path independent of ringtrace's
//! encoder, decoder and formatter.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use serde_json::{json, Value as J};
use std::fmt;
use std::time::Duration;

/// An event formatted eagerly, at the call site.
struct Eager {
    level: &'static str,
    target: &'static str,
    message: String,
    /// (key, text rendering, JSON value)
    fields: Vec<(&'static str, String, J)>,
    ctx: Vec<(&'static str, String, J)>,
}

impl Eager {
    fn text_after_timestamp(&self, thread: &str) -> String {
        let mut s = format!("{:>5} [{thread}]", self.level);
        if !self.ctx.is_empty() {
            let c: Vec<String> = self.ctx.iter().map(|(k, t, _)| format!("{k}={t}")).collect();
            s.push_str(&format!(" {{{}}}", c.join(" ")));
        }
        s.push_str(&format!(" {}: {}", self.target, self.message));
        for (k, t, _) in &self.fields {
            s.push_str(&format!(" {k}={t}"));
        }
        s.push('\n');
        s
    }
}

/// Field renderings, eagerly: numbers and bools by Display, strings and chars by Debug.
fn num<T: fmt::Display + serde::Serialize>(v: T) -> (String, J) {
    (format!("{v}"), json!(v))
}
fn string(v: &str) -> (String, J) {
    (format!("{v:?}"), json!(v))
}

#[derive(Debug)]
struct Root;
impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("disk full")
    }
}
impl std::error::Error for Root {}

#[derive(Debug)]
struct Mid(Root);
impl fmt::Display for Mid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot write segment 7")
    }
}
impl std::error::Error for Mid {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[derive(Debug)]
struct Top(Mid);
impl fmt::Display for Top {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("commit failed")
    }
}
impl std::error::Error for Top {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

struct Point {
    x: i32,
    y: i32,
}
impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.x, self.y)
    }
}

#[test]
fn lazy_output_equals_eager_formatting() {
    let _s = common::serial();
    let sink = common::Collect::new("mem");
    let guard = ringtrace::Builder::new().sink(sink.clone()).install().unwrap();
    let mut expected: Vec<Eager> = Vec::new();
    let tgt = module_path!();

    // Every argument kind, with format specs.
    let (a, b, c, d, e) = (200u8, 60_000u16, 4_000_000_000u32, u64::MAX, u128::MAX);
    let (f, g, h, i, j) = (-100i8, -30_000i16, i32::MIN, -9_000_000_000i64, i128::MIN);
    let (k, l) = (3.5f32, -0.1f64);
    ringtrace::info!("{} {} {} {} {} | {} {} {} {} {} | {} {}", a, b, c, d, e, f, g, h, i, j, k, l);
    expected.push(Eager {
        level: "INFO",
        target: tgt,
        message: format!("{} {} {} {} {} | {} {} {} {} {} | {} {}", a, b, c, d, e, f, g, h, i, j, k, l),
        fields: vec![],
        ctx: vec![],
    });

    ringtrace::warn!(
        "{:>8.3}|{:<+10.2e}|{:^9}|{:#010x}|{:#b}|{:o}|{:X}|{:08.1}|{:.0}",
        4.07365f64,
        1234.5f32,
        "mid",
        255u32,
        -3i8,
        64u16,
        0xbeefu64,
        -2.25f64,
        2.5f64
    );
    expected.push(Eager {
        level: "WARN",
        target: tgt,
        message: format!(
            "{:>8.3}|{:<+10.2e}|{:^9}|{:#010x}|{:#b}|{:o}|{:X}|{:08.1}|{:.0}",
            4.07365f64, 1234.5f32, "mid", 255u32, -3i8, 64u16, 0xbeefu64, -2.25f64, 2.5f64
        ),
        fields: vec![],
        ctx: vec![],
    });

    let s = String::from("quote \" backslash \\ newline \n tab \t é ☃");
    let bytes: &[u8] = &[0, 1, 255];
    ringtrace::error!("{:?} {} {:?} {:?} {} {:?} {:5}|{:.3}", s, s, 'x', '\n', true, bytes, 'é', "truncated");
    expected.push(Eager {
        level: "ERROR",
        target: tgt,
        message: format!("{:?} {} {:?} {:?} {} {:?} {:5}|{:.3}", s, s, 'x', '\n', true, bytes, 'é', "truncated"),
        fields: vec![],
        ctx: vec![],
    });

    // Positional and repeated arguments, escaped braces, float edge cases.
    ringtrace::debug!("{1} {0} {1} {{literal}} {2} {3:?} {:?} {4}", 1u8, 2u8, f64::NAN, -0.0f64, f64::INFINITY);
    expected.push(Eager {
        level: "DEBUG",
        target: tgt,
        message: format!("{1} {0} {1} {{literal}} {2} {3:?} {:?} {4}", 1u8, 2u8, f64::NAN, -0.0f64, f64::INFINITY),
        fields: vec![],
        ctx: vec![],
    });

    // Fields of every rendering kind, a custom target, and eager captures.
    let p = Point { x: 3, y: -4 };
    let err = Top(Mid(Root));
    ringtrace::info!(target: "orders", qty = 10u32, side = "buy", price = 99.5f64, ok = false, pt = %p, dbg = ?vec![1, 2], error = %err, "order {} at {}", 42u64, ringtrace::display(&p));
    let (q1, q2) = num(10u32);
    let (s1, s2) = string("buy");
    let (p1, p2) = num(99.5f64);
    let (b1, b2) = num(false);
    expected.push(Eager {
        level: "INFO",
        target: "orders",
        message: format!("order {} at {}", 42u64, p),
        fields: vec![
            ("qty", q1, q2),
            ("side", s1, s2),
            ("price", p1, p2),
            ("ok", b1, b2),
            ("pt", p.to_string(), json!(p.to_string())),
            ("dbg", format!("{:?}", vec![1, 2]), json!(format!("{:?}", vec![1, 2]))),
            ("error", format!("{err} error.sources=[{}, {}]", err.0, err.0 .0), json!(err.to_string())),
        ],
        ctx: vec![],
    });

    // Arguments are copied at the call: mutating them afterwards changes nothing.
    let mut name = String::from("before");
    let mut n = 1u64;
    ringtrace::info!(who = name.as_str(), "name={} n={}", name, n);
    expected.push(Eager {
        level: "INFO",
        target: tgt,
        message: format!("name={} n={}", name, n),
        fields: vec![("who", format!("{:?}", name), json!(name))],
        ctx: vec![],
    });
    name.push_str(" and after");
    n += 1;
    assert_eq!((name.as_str(), n), ("before and after", 2));

    // Context is captured as bound at the call; unbinding affects later events only.
    {
        let user = String::from("ada");
        let _c = ringtrace::with_context!(request_id = 7u64, user = user);
        ringtrace::info!("in context");
        expected.push(Eager {
            level: "INFO",
            target: tgt,
            message: "in context".into(),
            fields: vec![],
            ctx: vec![("request_id", "7".into(), json!(7)), ("user", "\"ada\"".into(), json!("ada"))],
        });
        {
            let _inner = ringtrace::with_context!(step = 2u8);
            ringtrace::info!(k = 1u8, "nested");
            expected.push(Eager {
                level: "INFO",
                target: tgt,
                message: "nested".into(),
                fields: vec![("k", "1".into(), json!(1))],
                ctx: vec![
                    ("request_id", "7".into(), json!(7)),
                    ("user", "\"ada\"".into(), json!("ada")),
                    ("step", "2".into(), json!(2)),
                ],
            });
        }
        ringtrace::info!("inner unbound");
        expected.push(Eager {
            level: "INFO",
            target: tgt,
            message: "inner unbound".into(),
            fields: vec![],
            ctx: vec![("request_id", "7".into(), json!(7)), ("user", "\"ada\"".into(), json!("ada"))],
        });
    }
    ringtrace::info!("after context");
    expected.push(Eager { level: "INFO", target: tgt, message: "after context".into(), fields: vec![], ctx: vec![] });

    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, expected.len() as u64);
    let got = sink.events();
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        // Text: everything after the 30-character timestamp and its space.
        assert_eq!(&g.text[31..], e.text_after_timestamp(&g.thread), "text of {:?}", e.message);
        assert!(g.text[..30].ends_with('Z'));
        // JSON: parsed by serde_json and compared with values built from the originals.
        let v: J = serde_json::from_str(&g.json).unwrap_or_else(|err| panic!("{err}: {}", g.json));
        assert_eq!(v["level"], e.level);
        assert_eq!(v["target"], e.target);
        assert_eq!(v["message"], J::String(e.message.clone()), "json message");
        for (k, _, jv) in &e.fields {
            assert_eq!(&v["fields"][k], jv, "json field {k} of {:?}", e.message);
        }
        if e.fields.is_empty() {
            assert!(v.get("fields").is_none());
        }
        for (k, _, jv) in &e.ctx {
            assert_eq!(&v["ctx"][k], jv, "json ctx {k}");
        }
        if e.ctx.is_empty() {
            assert!(v.get("ctx").is_none(), "no context on {:?}", e.message);
        }
    }
    // The error's chain also appears in JSON.
    let with_err: J = serde_json::from_str(&got[4].json).unwrap();
    assert_eq!(with_err["fields"]["error.sources"], json!(["cannot write segment 7", "disk full"]));
}
