//! One loss gap, provoked deterministically (R-BP-6 as issue 18 decided it): a gate sink holds
//! the drain on its first batch, the calling thread floods a pool of two 4 KiB rings under
//! `DropNewest` until it is DROPPING, the gate opens, the thread records `after` (the record
//! that closes the gap) and the runtime shuts down.
//!
//! The gate keeps the accessor values of every event ([`Mark`]) and whatever else the caller's
//! `keep` takes of it; [`provoke`] checks the accessors (one loss record, opened after the
//! record before it and before the drops ended, closed after them and no later than `after`).
//! A test of an output format then reads that format's loss record and neighbours and hands
//! their times to [`Gap::check`], which wants exactly the accessors' values in the format's
//! unit. Also used by the other crates' tests (`#[path]` to this directory).

use ringtrace::render::render_text;
use ringtrace::{DrainReport, Event, LossInfo, Policy, RecordKind, Sink, ThreadState};
use std::time::Duration;

/// The message of the record that closes the gap.
pub const AFTER: &str = "after";

/// What the gate kept of an event: its accessor values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub kind: RecordKind,
    pub ticks: u64,
    /// `ev.unix_nanos()`.
    pub unix_ns: u64,
    pub message: String,
    /// The text renderer's line.
    pub text: String,
    pub loss: Option<LossInfo>,
    /// The loss record's first and last time as Unix ns (`ev.clock().to_unix_ns(..)`).
    pub loss_ns: Option<(u64, u64)>,
}

impl Mark {
    pub fn of(ev: &Event<'_>) -> Mark {
        let mut text = String::new();
        render_text(ev, &mut text);
        let loss = ev.loss();
        Mark {
            kind: ev.kind(),
            ticks: ev.ticks(),
            unix_ns: ev.unix_nanos(),
            message: ev.message(),
            text,
            loss,
            loss_ns: loss.map(|l| (ev.clock().to_unix_ns(l.first_ticks), ev.clock().to_unix_ns(l.last_ticks))),
        }
    }
}

/// A loss record's time and its two times, and the times of the records around it, in one
/// format's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    /// The loss record's own timestamp.
    pub at: i64,
    pub first: i64,
    pub last: i64,
    /// The record before it (the last one that fitted before the gap opened).
    pub prev: i64,
    /// The record after it (the one that closed the gap).
    pub next: i64,
}

/// What a provoked gap delivered.
#[derive(Debug)]
pub struct Gap<X> {
    pub report: DrainReport,
    /// Every event as the gate saw it, in delivery order.
    pub kept: Vec<(Mark, X)>,
    /// Where the loss record is in `kept`.
    pub loss_at: usize,
}

impl<X> Gap<X> {
    pub fn marks(&self) -> impl Iterator<Item = &Mark> {
        self.kept.iter().map(|k| &k.0)
    }

    pub fn loss(&self) -> &Mark {
        &self.kept[self.loss_at].0
    }

    pub fn info(&self) -> LossInfo {
        self.loss().loss.unwrap()
    }

    /// The record before the loss record.
    pub fn prev(&self) -> &Mark {
        &self.kept[self.loss_at - 1].0
    }

    /// The record that closed the gap.
    pub fn next(&self) -> &Mark {
        &self.kept[self.loss_at + 1].0
    }

    /// The times a format converting Unix ns with `unit` must show.
    pub fn expected(&self, unit: impl Fn(u64) -> i64) -> Times {
        let (first, last) = self.loss().loss_ns.unwrap();
        Times {
            at: unit(self.loss().unix_ns),
            first: unit(first),
            last: unit(last),
            prev: unit(self.prev().unix_ns),
            next: unit(self.next().unix_ns),
        }
    }

    /// Checks a format's times of the gap: the accessors' values converted with `unit`, so the
    /// gap runs from its opening (the loss record's own time) to its closing, after the record
    /// before it and no later than the record that closed it.
    pub fn check(&self, format: &str, got: Times, unit: impl Fn(u64) -> i64) {
        assert_eq!(got, self.expected(unit), "{format}: the loss record's times (got vs the accessors')");
        assert_eq!(got.at, got.first, "{format}: the loss record is timestamped with the gap's opening");
        assert!(got.prev <= got.first, "{format}: the gap opened after the record before it: {got:?}");
        assert!(got.first < got.last, "{format}: the gap closed after it opened: {got:?}");
        assert!(got.last <= got.next, "{format}: no later than the record that closed it: {got:?}");
    }
}

/// Provokes one gap with `sinks` beside the gate; `keep` maps every event the gate gets.
pub fn provoke<X: Clone + Send + 'static>(sinks: Vec<Box<dyn Sink>>, keep: fn(&Event<'_>) -> (Mark, X)) -> Gap<X> {
    let _s = super::serial();
    let gate = super::Gate::new(false, keep);
    let mut b = ringtrace::Builder::new()
        .ignore_env()
        .ring_size(4096)
        .ring_count(2)
        .max_rings_per_thread(2)
        .max_record_size(256)
        .policy(Policy::DropNewest)
        .diagnostics(ringtrace::DiagnosticSink::Off)
        .sink(gate.clone());
    for s in sinks {
        b = b.boxed_sink(s);
    }
    let guard = b.install().unwrap();
    ringtrace::info!("before");
    assert!(super::eventually(|| gate.entered() > 0), "the drain holds the first batch");
    let state = || guard.metrics().threads.first().map(|t| t.state);
    let mut n = 0u64;
    while state() != Some(ThreadState::Dropping) || n < 1_000 {
        ringtrace::info!("flood {}", n);
        n += 1;
    }
    // Every drop is done: a loss record's last time read per drop would be before this.
    let after_drops = ringtrace::now_ticks();
    gate.set(true);
    assert!(super::eventually(|| state() != Some(ThreadState::Dropping)));
    ringtrace::info!("after");
    let report = guard.shutdown(Duration::from_secs(10));
    assert!(!report.timed_out && report.sink_errors.is_empty(), "{report:?}");
    assert!(report.dropped.total() > 0, "{}", report.summary_line());
    let kept = gate.got();
    assert_eq!(kept.iter().filter(|k| k.0.kind == RecordKind::Loss).count(), 1, "one gap");
    let loss_at = kept.iter().position(|k| k.0.kind == RecordKind::Loss).unwrap();
    let gap = Gap { report, kept, loss_at };
    let l = gap.info();
    assert_eq!(l.events, gap.report.dropped.total());
    assert_eq!(gap.next().message, AFTER, "the record after the loss record closed the gap");
    assert!(gap.prev().message.starts_with("flood "), "{:?}", gap.prev());
    assert!(gap.prev().ticks <= l.first_ticks, "the gap opened after the record before it");
    assert!(l.first_ticks <= after_drops, "and before the drops ended");
    assert!(l.last_ticks >= after_drops, "it closed after the last drop: {} < {after_drops}", l.last_ticks);
    assert!(l.last_ticks <= gap.next().ticks, "no later than the record that closed it");
    assert_eq!(gap.loss().ticks, l.first_ticks, "the loss record is timestamped with the gap's opening");
    gap
}
