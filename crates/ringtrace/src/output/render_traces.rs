//! Tests of the renderer over whole traces: every event of traces built with the trace-file
//! writer is rendered with one [`Renderer`] and with the free functions, which must agree.
//! Test-only; here, above both output/render.rs and output/trace_file.rs, so neither imports the other.

use crate::callsite::CallsiteKind;
use crate::clock::ClockCalibration;
use crate::level::Level;
use crate::output::event::{CallsiteInfo, ThreadInfo};
use crate::output::render::{render_json, render_text, Renderer, MAX_LINE_LEN};
use crate::output::trace_file::{file_header, write_callsite, write_thread, RecordsWriter, TraceReader};
use crate::wire::record::{Header, LossInfo, RecordKind, FLAG_CONTEXT, FLAG_TRUNCATED};
use crate::wire::value::{tag, Value};

/// An encoded value: tag and bytes.
fn enc(v: &Value<'_>) -> Vec<u8> {
    let mut b = Vec::new();
    let str_like = |b: &mut Vec<u8>, t: u8, s: &[u8]| {
        b.push(t);
        b.extend_from_slice(&(s.len() as u16).to_le_bytes());
        b.extend_from_slice(s);
    };
    match *v {
        Value::U8(n) => b.extend([tag::U8, n]),
        Value::U32(n) => {
            b.push(tag::U32);
            b.extend_from_slice(&n.to_le_bytes());
        }
        Value::U64(n) => {
            b.push(tag::U64);
            b.extend_from_slice(&n.to_le_bytes());
        }
        Value::I128(n) => {
            b.push(tag::I128);
            b.extend_from_slice(&n.to_le_bytes());
        }
        Value::F32(f) => {
            b.push(tag::F32);
            b.extend_from_slice(&f.to_le_bytes());
        }
        Value::F64(f) => {
            b.push(tag::F64);
            b.extend_from_slice(&f.to_le_bytes());
        }
        Value::Bool(x) => b.extend([tag::BOOL, u8::from(x)]),
        Value::Char(c) => {
            b.push(tag::CHAR);
            b.extend_from_slice(&(c as u32).to_le_bytes());
        }
        Value::Str(s) => str_like(&mut b, tag::STR, s.as_bytes()),
        Value::Bytes(s) => str_like(&mut b, tag::BYTES, s),
        Value::Display(s) => str_like(&mut b, tag::DISPLAY, s.as_bytes()),
        Value::Debug(s) => str_like(&mut b, tag::DEBUG, s.as_bytes()),
        Value::Invalid => b.push(200),
        _ => unreachable!("not used here"),
    }
    b
}

/// A trace of these callsites and threads and `(thread, kind, callsite id, flags, context,
/// values)` records.
#[allow(clippy::type_complexity)]
fn trace(
    callsites: &[CallsiteInfo],
    threads: &[ThreadInfo],
    records: &[(u64, RecordKind, u32, u16, Vec<(&str, Value<'_>)>, Vec<u8>)],
) -> Vec<u8> {
    let clock = ClockCalibration::new(0, 0, 1_000_000_000);
    let mut out = file_header(&clock).to_vec();
    for c in callsites {
        write_callsite(&mut out, c);
    }
    for t in threads {
        write_thread(&mut out, t);
    }
    let mut w = RecordsWriter::default();
    for (i, (thread, kind, id, flags, ctx, payload)) in records.iter().enumerate() {
        let ts = 1_763_820_245_000_000_000 + i as u64 * 333_333_333;
        let mut rec = Header { size: 0, flags: kind.bits() | flags, id: *id, ts }.to_bytes().to_vec();
        if !ctx.is_empty() {
            let mut c = Vec::new();
            for (k, v) in ctx {
                c.push(k.len() as u8);
                c.extend_from_slice(k.as_bytes());
                c.extend(enc(v));
            }
            rec[2..4].copy_from_slice(&(kind.bits() | flags | FLAG_CONTEXT).to_le_bytes());
            rec.extend_from_slice(&(c.len() as u16).to_le_bytes());
            rec.extend(c);
        }
        rec.extend_from_slice(payload);
        let size = rec.len() as u16;
        rec[0..2].copy_from_slice(&size.to_le_bytes());
        w.push(&mut out, *thread, &rec);
    }
    w.finish(&mut out);
    out
}

fn values(vs: &[Value<'_>]) -> Vec<u8> {
    vs.iter().flat_map(enc).collect()
}

/// Renders every event of `traces` with one [`Renderer`] and with the free functions,
/// which must agree byte for byte; checks the message against the table path
/// (`Event::write_message_within`) and that JSON lines parse. Returns the text lines.
fn check_traces(traces: &[Vec<u8>]) -> Vec<String> {
    let mut r = Renderer::new();
    let mut lines = Vec::new();
    for bytes in traces {
        let mut reader = TraceReader::new(&bytes[..]).unwrap();
        reader
            .for_each_batch(|b| {
                for ev in b.iter() {
                    let (mut a, mut b) = (String::from("x"), String::from("x"));
                    r.text(&ev, &mut a);
                    render_text(&ev, &mut b);
                    assert_eq!(a, b);
                    let (mut ja, mut jb) = (String::new(), String::new());
                    r.json(&ev, &mut ja);
                    render_json(&ev, &mut jb);
                    assert_eq!(ja, jb);
                    let j: serde_json::Value = serde_json::from_str(&ja).unwrap_or_else(|e| panic!("{e}: {ja}"));
                    let mut msg = String::new();
                    let cut = ev.write_message_within(&mut msg, MAX_LINE_LEN - 300);
                    if ev.kind() == RecordKind::Event && !cut {
                        assert_eq!(j["message"], msg.as_str(), "{ja}");
                        assert!(a.contains(&msg), "{a:?} lacks {msg:?}");
                    }
                    lines.push(a[1..].to_string());
                }
            })
            .unwrap();
    }
    lines
}

#[test]
fn renderer_writes_what_the_free_functions_write() {
    let long_target = "t".repeat(Renderer::MAX_CACHED + 1);
    let cs = |id, level, target: &str, fmt: &str, fields: &[&str]| {
        CallsiteInfo::new(id, level, target, "m", "f.rs", 1, fmt, fields.iter().map(|f| f.to_string()).collect())
    };
    let callsites = vec![
        cs(1, Level::Info, "app", "order {} filled at {} qty {}", &[]),
        cs(2, Level::Warn, "app::db", "a \"quoted\" {}\n\\ {} {}", &["k", "s"]),
        cs(3, Level::Error, "x", "{:>8.2}|{:?}|{1}|{0:x}", &[]),
        cs(4, Level::Debug, &long_target, "long {}", &["e"]),
        cs(5, Level::Trace, "sp\"an", "handle {}", &[]).with_kind(CallsiteKind::SpanBegin),
        cs(6, Level::Trace, "sp\"an", "handle", &[]).with_kind(CallsiteKind::SpanEnd),
        cs(7, Level::Info, "cut", &"{:65535}".repeat(20), &[]),
        cs(8, Level::Info, "few", "{} {} {}", &[]),
    ];
    let threads = vec![
        ThreadInfo { id: 1, name: "main".into(), os_tid: 1 },
        ThreadInfo { id: 2, name: "wörker \"2\"".into(), os_tid: 2 },
        ThreadInfo { id: 3, name: "n".repeat(600), os_tid: 3 },
    ];
    let ev = RecordKind::Event;
    let no = Vec::new;
    let mut records = Vec::new();
    for t in 1..=3u64 {
        for i in 0..40u64 {
            let ctx = if i % 3 == 0 { vec![("req", Value::U64(i)), ("user", Value::Str("ada \"x\""))] } else { no() };
            let trunc = if i % 7 == 0 { FLAG_TRUNCATED } else { 0 };
            let price = 100.0 + i as f64 * 0.25;
            records.push((t, ev, 1, trunc, ctx.clone(), values(&[Value::U64(i), Value::F64(price), Value::U32(7)])));
            let args = [
                Value::U8(3),
                Value::Str("q\"uote\n"),
                Value::F32(f32::from_bits(0x474d_e910)),
                Value::Display("d\\"),
                Value::Char('\u{1}'),
            ];
            records.push((t, ev, 2, 0, ctx.clone(), values(&args)));
            let args = [Value::F64(-4.07365), Value::Str("s"), Value::Bool(true)];
            records.push((t, ev, 3, 0, no(), values(&args)));
            let args = [Value::Debug("dbg"), Value::I128(i128::MIN)];
            records.push((t, ev, 4, 0, ctx.clone(), values(&args)));
            records.push((t, ev, 5, 0, no(), values(&[Value::Bytes(&[1, 2])])));
            records.push((t, ev, 6, 0, no(), Vec::new()));
            if i % 10 == 0 {
                records.push((t, ev, 7, 0, no(), values(&[Value::U8(1)])));
            }
            // Too few values, an undecodable one, an unknown callsite, a loss, a raw record.
            records.push((t, ev, 8, 0, no(), values(&[Value::F64(1e21), Value::Invalid])));
            records.push((t, ev, 99, 0, ctx.clone(), Vec::new()));
            let loss = LossInfo { events: i, bytes: 40 * i, first_ticks: 5, last_ticks: 9 };
            records.push((t, RecordKind::Loss, 0, 0, no(), loss.to_bytes().to_vec()));
            records.push((t, RecordKind::Raw, 42, 0, no(), vec![0xde, 0xad]));
        }
    }
    let first = trace(&callsites, &threads, &records);
    // A second source that reuses the ids for other callsites and threads: nothing cached
    // from the first may show.
    let other: Vec<CallsiteInfo> = callsites
        .iter()
        .map(|c| cs(c.id, Level::Error, &format!("{}2", c.target), &c.format, &[]).with_kind(c.kind))
        .collect();
    let threads2: Vec<ThreadInfo> =
        threads.iter().map(|t| ThreadInfo { name: format!("{}-b", t.name), ..t.clone() }).collect();
    let second = trace(&other, &threads2, &records);
    let lines = check_traces(&[first.clone(), second, first]);
    assert!(lines.iter().any(|l| l.ends_with(" INFO [main] app: order 4 filled at 101 qty 7\n")));
    assert!(lines.iter().any(|l| l.ends_with("ERROR [main-b] app2: order 5 filled at 101.25 qty 7\n")));
    assert!(lines.iter().any(|l| l.contains("52713.063")));
    assert!(lines.iter().any(|l| l.contains("[truncated]")));

    // Many callsites on many threads: slots are shared and evicted, output never changes.
    let many: Vec<CallsiteInfo> = (1..=600).map(|id| cs(id, Level::Info, &format!("t{id}"), "v {} {}", &[])).collect();
    let threads: Vec<ThreadInfo> = (1..=5).map(|id| ThreadInfo { id, name: format!("th{id}"), os_tid: id }).collect();
    let recs: Vec<_> = (0..6000u32)
        .map(|i| {
            let args = [Value::U32(i), Value::Str("x")];
            (u64::from(i % 5 + 1), ev, i * 7 % 600 + 1, 0, Vec::new(), values(&args))
        })
        .collect();
    let lines = check_traces(&[trace(&many, &threads, &recs)]);
    assert!(lines[1].ends_with(" INFO [th2] t8: v 1 x\n"), "{}", lines[1]);
}
