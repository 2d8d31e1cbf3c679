//! Acceptance: load scenarios as tests — counts and states, not timings (R-BP-1, R-BP-2,
//! R-BP-6). The drain is held inside a sink ("gate") to drive the pool dry deterministically.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::{DiagnosticSink, DropReason, RecordKind, ThreadState, Value};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
enum Got {
    /// sequence number, checksum field as recorded
    Event(u64, u64),
    Loss(u64),
}

type Gate = common::Gate<Got>;

/// A gate that checks every event's fields against its message as it keeps it.
fn gate(open: bool) -> Gate {
    Gate::new(open, |ev| match ev.kind() {
        RecordKind::Loss => Got::Loss(ev.loss().unwrap().events),
        _ => {
            let f: Vec<Value<'_>> = ev.fields().map(|(_, v)| v).collect();
            let (Some(Value::U64(seq)), Some(Value::U64(sum))) = (f.first().copied(), f.get(1).copied()) else {
                panic!("corrupted fields: {}", ev.message());
            };
            assert_eq!(ev.message(), format!("payload {} {}", seq, seq * 3), "corrupted message");
            Got::Event(seq, sum)
        }
    })
}

fn record(seq: u64) {
    ringtrace::info!(seq = seq, sum = seq.wrapping_mul(31).wrapping_add(7), "payload {} {}", seq, seq * 3);
}

fn me(g: &ringtrace::Guard) -> ringtrace::ThreadMetrics {
    let name = std::thread::current().name().unwrap().to_string();
    g.metrics().threads.into_iter().find(|t| t.name == name).unwrap()
}

/// 8 rings of 4 KiB, quota 8: PRESSURE below 2 free rings, RECOVERY from 4.
fn pool(gate: &Gate) -> ringtrace::Guard {
    ringtrace::Builder::new()
        .ring_size(4096)
        .ring_count(8)
        .max_rings_per_thread(8)
        .max_record_size(256)
        .stability_period(Duration::from_millis(20))
        .diagnostics(DiagnosticSink::Off)
        .sink(gate.clone())
        .install()
        .unwrap()
}

/// Checks the delivered stream: checksums intact, sequence numbers increasing, and every gap
/// announced by a loss record of exactly its size, right where the gap is. Returns the number
/// of loss records.
fn check_stream(got: &[Got]) -> u64 {
    let mut next = 0u64;
    let mut losses = 0;
    let mut pending_loss = 0u64;
    for g in got {
        match *g {
            Got::Loss(n) => {
                pending_loss += n;
                losses += 1;
            }
            Got::Event(seq, sum) => {
                assert_eq!(sum, seq.wrapping_mul(31).wrapping_add(7), "checksum of {seq}");
                assert_eq!(seq, next + pending_loss, "gap before {seq} not announced exactly (loss {pending_loss})");
                next = seq + 1;
                pending_loss = 0;
            }
        }
    }
    losses
}

#[test]
fn burst_dries_the_pool_then_recovers_to_normal() {
    let _s = common::serial();
    let gate = gate(false);
    let guard = pool(&gate);
    record(0);
    assert!(common::eventually(|| gate.entered() >= 1));
    for seq in 1..2_000 {
        record(seq);
    }
    let during = me(&guard);
    assert_eq!(during.state, ThreadState::Dropping);
    assert_eq!(guard.metrics().pool.free, 0, "the burst drove the pool dry");
    gate.set(true);
    assert!(common::eventually(|| me(&guard).state == ThreadState::Normal), "back to NORMAL: {:?}", me(&guard));
    record(2_000);
    let report = guard.shutdown(Duration::from_secs(10));

    let t = report.transitions;
    use ThreadState::*;
    for (a, b) in [(Normal, Pressure), (Pressure, Dropping), (Dropping, Recovery), (Recovery, Normal)] {
        assert_eq!(t.get(a, b), 1, "{a}->{b}: {t}");
    }
    assert_eq!(t.total(), 4);
    let got = gate.got();
    assert_eq!(check_stream(&got), 1);
    assert_eq!(report.dropped.total(), report.dropped.get(DropReason::QuotaExceeded));
    assert_eq!(report.recorded + report.dropped.total(), 2_001);
}

#[test]
fn sustained_overload_stays_dropping_and_corrupts_nothing() {
    let _s = common::serial();
    let gate = gate(false);
    let guard = pool(&gate);
    record(0);
    assert!(common::eventually(|| gate.entered() >= 1));
    let mut seq = 1;
    for _wave in 0..5 {
        for _ in 0..4_000 {
            record(seq);
            seq += 1;
        }
        assert_eq!(me(&guard).state, ThreadState::Dropping, "still DROPPING while overloaded");
    }
    let stuck = me(&guard);
    assert!(stuck.dropped.total() > 15_000);
    gate.set(true);
    assert!(common::eventually(|| guard.metrics().recorded + guard.metrics().dropped.total() == seq));
    record(seq);
    let report = guard.shutdown(Duration::from_secs(10));
    let got = gate.got();
    assert_eq!(check_stream(&got), 1, "one episode, one loss record");
    assert_eq!(report.recorded + report.dropped.total(), seq + 1);
    assert_eq!(report.transitions.get(ThreadState::Pressure, ThreadState::Dropping), 1);
}

#[test]
fn oscillating_load_every_dropping_episode_ends_with_a_loss_record() {
    let _s = common::serial();
    let gate = gate(true);
    let guard = pool(&gate);
    let mut seq = 0;
    const CYCLES: u64 = 5;
    for cycle in 0..CYCLES {
        // Hold the drain in the sink, overflow the pool, release it, wait for NORMAL.
        gate.set(false);
        let entered = gate.entered();
        record(seq);
        seq += 1;
        assert!(common::eventually(|| gate.entered() > entered), "cycle {cycle}: drain held");
        for _ in 0..1_500 {
            record(seq);
            seq += 1;
        }
        assert_eq!(me(&guard).state, ThreadState::Dropping, "cycle {cycle}");
        gate.set(true);
        assert!(common::eventually(|| me(&guard).state == ThreadState::Normal), "cycle {cycle}: recovered");
        // Quiet recording closes the gap with a loss record.
        for _ in 0..10 {
            record(seq);
            seq += 1;
        }
    }
    let spent = me(&guard).time_in_state;
    let report = guard.shutdown(Duration::from_secs(10));
    let t = report.transitions;
    use ThreadState::*;
    let episodes = t.get(Pressure, Dropping) + t.get(Recovery, Dropping);
    assert_eq!(episodes, CYCLES, "{t}");
    assert_eq!(t.get(Normal, Pressure), CYCLES);
    assert_eq!(t.get(Dropping, Recovery), CYCLES);
    assert_eq!(t.get(Recovery, Normal), CYCLES);
    let got = gate.got();
    assert_eq!(check_stream(&got), CYCLES, "one loss record per DROPPING episode");
    assert_eq!(report.loss_records, CYCLES);
    assert_eq!(report.recorded + report.dropped.total(), seq);
    // Time was spent in every state, and metrics see it.
    assert!(report.dropped.total() > 0);
    for s in ThreadState::ALL {
        assert!(spent[s as usize] > Duration::ZERO, "no time in {s}: {spent:?}");
    }
}

#[test]
fn metrics_and_prometheus_exposition_show_the_episode() {
    let _s = common::serial();
    let gate = gate(false);
    let guard = pool(&gate);
    record(0);
    assert!(common::eventually(|| gate.entered() >= 1));
    for seq in 1..2_000 {
        record(seq);
    }
    let m = guard.metrics();
    let t = m.threads.iter().find(|t| t.name == std::thread::current().name().unwrap()).unwrap();
    assert_eq!(t.state, ThreadState::Dropping);
    assert!(t.time_in_state[ThreadState::Normal as usize] > Duration::ZERO);
    let text = m.to_prometheus();
    gate.set(true);
    drop(guard);

    // Every line is a comment or `name{labels} value` with a numeric value.
    let mut samples = std::collections::HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            assert!(line.starts_with("# HELP ringtrace_") || line.starts_with("# TYPE ringtrace_"), "{line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        assert!(series.starts_with("ringtrace_"));
        samples.insert(series.to_string(), v);
    }
    let me = std::thread::current().name().unwrap().to_string();
    assert_eq!(samples[&format!("ringtrace_thread_state{{thread=\"{me}\",state=\"DROPPING\"}}")], 1.0);
    assert_eq!(samples[&format!("ringtrace_thread_state{{thread=\"{me}\",state=\"NORMAL\"}}")], 0.0);
    assert_eq!(samples["ringtrace_state_transitions_total{from=\"NORMAL\",to=\"PRESSURE\"}"], 1.0);
    assert_eq!(
        samples["ringtrace_events_dropped_total{reason=\"quota_exceeded\"}"],
        m.dropped.get(DropReason::QuotaExceeded) as f64
    );
    assert_eq!(samples["ringtrace_pool_free_rings"], 0.0);
    assert_eq!(samples["ringtrace_pool_rings"], 8.0);
    assert!(samples.contains_key("ringtrace_sink_events_written_total{sink=\"gate\"}"));
}
