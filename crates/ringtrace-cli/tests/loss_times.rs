//! R-BP-6 (issue 18) through `ringtrace decode`: a binary trace holding a real gap decodes to
//! the lines the drain delivered, and the loss record's line (text and JSON lines) runs `from`
//! the gap's opening `to` its closing, between the lines around it. The gap is ringtrace's own
//! tests' (`common::gap`).

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

#[path = "../../ringtrace/tests/common/mod.rs"]
mod common;

use common::gap::{self, Mark, Times};
use ringtrace::render::render_json;
use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::BinarySink;
use serde_json::Value;
use std::process::Command;

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (what the renderers write) as Unix ns.
fn unix_ns(ts: &str) -> i64 {
    let b = ts.as_bytes();
    assert_eq!((b.len(), b[10], b[19], b[29]), (30, b'T', b'.', b'Z'), "{ts}");
    let n = |r: std::ops::Range<usize>| ts[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from 1970-01-01 to y-m-d (proleptic Gregorian), as in `civil_from_days` reversed.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    secs * 1_000_000_000 + n(20..29)
}

#[test]
fn decode_prints_the_gap_from_its_opening_to_its_closing() {
    assert_eq!(unix_ns("1970-01-01T00:00:00.000000001Z"), 1);
    assert_eq!(unix_ns("2026-11-22T17:47:05.394934237Z"), 1_795_369_625_394_934_237);
    let dir = std::env::temp_dir().join(format!("ringtrace-cli-loss-times-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("gap.rtrace");
    let sink = BinarySink::file(&trace, Rotation { max_bytes: 0, max_files: 0 }).unwrap();
    let g = gap::provoke(vec![Box::new(sink)], |ev| {
        let mut json = String::new();
        render_json(ev, &mut json);
        (Mark::of(ev), json)
    });
    let decode = |format: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_ringtrace")).args(["decode", "--format", format]).arg(&trace).output();
        let o = o.unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let at = g.loss_at;
    let ns = |n: u64| n as i64;

    let text = decode("text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), g.kept.len());
    for (i, (l, m)) in lines.iter().zip(g.marks()).enumerate() {
        assert_eq!(*l, m.text.trim_end(), "line {i}");
    }
    // Each line begins with its record's time.
    let time = |l: &str| unix_ns(l.split_whitespace().next().unwrap());
    let (from, to) = lines[at].split_once(" from ").unwrap().1.split_once(" to ").unwrap();
    let got = Times {
        at: time(lines[at]),
        first: unix_ns(from),
        last: unix_ns(to),
        prev: time(lines[at - 1]),
        next: time(lines[at + 1]),
    };
    g.check("decode text", got, ns);

    let jsonl = decode("jsonl");
    let objs: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(jsonl.lines().collect::<Vec<_>>(), g.kept.iter().map(|k| k.1.trim_end()).collect::<Vec<_>>());
    let t = |v: &Value, key: &str| unix_ns(v[key].as_str().unwrap());
    let loss = &objs[at];
    assert_eq!((loss["kind"].as_str(), loss["lost_events"].as_u64()), (Some("loss"), Some(g.info().events)));
    let got = Times {
        at: t(loss, "ts"),
        first: t(loss, "first_ts"),
        last: t(loss, "last_ts"),
        prev: t(&objs[at - 1], "ts"),
        next: t(&objs[at + 1], "ts"),
    };
    g.check("decode jsonl", got, ns);
    let _ = std::fs::remove_dir_all(&dir);
}
