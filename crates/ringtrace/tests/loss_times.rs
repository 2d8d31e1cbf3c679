//! R-BP-6 as issue 18 decided it: a dropped event does not read the clock, so a loss record's
//! first time is when the gap opened (the first drop) and its last time when it closed (the
//! record that fitted after it), in the event accessors and in the text and JSON outputs.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::render::{render_json, render_text};
use ringtrace::{Policy, RecordKind, ThreadState};
use std::time::Duration;

/// What the test keeps of each event.
#[derive(Debug, Clone)]
struct Got {
    kind: RecordKind,
    ticks: u64,
    loss: Option<ringtrace::LossInfo>,
    text: String,
    json: String,
}

fn got(ev: &ringtrace::Event<'_>) -> Got {
    let (mut text, mut json) = (String::new(), String::new());
    render_text(ev, &mut text);
    render_json(ev, &mut json);
    Got { kind: ev.kind(), ticks: ev.ticks(), loss: ev.loss(), text, json }
}

#[test]
fn a_loss_record_spans_from_the_gap_opening_to_its_closing() {
    let _s = common::serial();
    let gate = common::Gate::new(false, got);
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_size(4096)
        .ring_count(2)
        .max_rings_per_thread(2)
        .max_record_size(256)
        .policy(Policy::DropNewest)
        .diagnostics(ringtrace::DiagnosticSink::Off)
        .sink(gate.clone())
        .install()
        .unwrap();
    ringtrace::info!("before");
    assert!(common::eventually(|| gate.entered() > 0), "the drain holds the first batch");
    let state = || guard.metrics().threads.first().map(|t| t.state);
    let mut n = 0u64;
    while state() != Some(ThreadState::Dropping) || n < 1_000 {
        ringtrace::info!("flood {}", n);
        n += 1;
    }
    // Every drop is done: a loss record's last time read per drop would be before this.
    let after_drops = ringtrace::now_ticks();
    gate.set(true);
    assert!(common::eventually(|| guard.metrics().threads.first().map(|t| t.state) != Some(ThreadState::Dropping)));
    ringtrace::info!("after");
    let report = guard.shutdown(Duration::from_secs(10));
    assert!(report.dropped.total() > 0, "{}", report.summary_line());
    let got = gate.got();
    let loss_at = got.iter().position(|g| g.kind == RecordKind::Loss).expect("a loss record");
    let loss = &got[loss_at];
    let l = loss.loss.expect("a loss payload");
    assert_eq!(l.events, report.dropped.total());
    let before = got.iter().find(|g| g.text.contains(" before")).expect("the first record");
    let next = &got[loss_at + 1];
    assert!(before.ticks <= l.first_ticks, "the gap opened after the record before it");
    assert!(l.first_ticks <= after_drops, "and before the drops ended");
    assert!(l.last_ticks >= after_drops, "it closed after the last drop: {} < {after_drops}", l.last_ticks);
    assert!(l.last_ticks <= next.ticks, "no later than the record that closed it");
    assert_eq!(loss.ticks, l.first_ticks, "the loss record is timestamped with the gap's opening");
    // Text and JSON show the same two times.
    let (from, to) = loss.text.split_once(" from ").unwrap().1.split_once(" to ").unwrap();
    let to = to.trim_end();
    assert!(loss.json.contains(&format!("\"first_ts\":\"{from}\"")), "{} vs {}", loss.text, loss.json);
    assert!(loss.json.contains(&format!("\"last_ts\":\"{to}\"")), "{} vs {}", loss.text, loss.json);
    assert_ne!(from, to, "opening and closing differ");
}
