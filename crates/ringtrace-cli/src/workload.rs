//! `ringtrace workload OUT.rtrace` (hidden): a test workload for the timeline exports. It
//! writes a binary trace with several named threads, nested spans and a DROPPING episode,
//! checks its own numbers, and prints them as JSON for the CLI tests and the viewer checks
//! (`scripts/check-ctf.sh`, `scripts/check-perfetto.sh`).
//!
//! What it records:
//!
//! - `main`: one event at the start (which the drain then holds, see below) and one at the end.
//! - `worker-1` … `worker-3`: [`ITERATIONS`] requests each, every one a span tree
//!   `request{id}` ⊃ (`parse`, `handle{user}` ⊃ `db query{table}`) with an event inside each
//!   span. Spans are recorded the way an integration records them: leaked [`Metadata`] of kind
//!   `SpanBegin`/`SpanEnd` and `__private::record_event`.
//! - `flood`: [`FLOOD`] events while the drain is held inside a sink (the "gate"), so its two
//!   4 KiB rings (the per-thread quota) fill up and the rest is dropped: the thread goes
//!   DROPPING. Once the gate opens and the drain has caught up it records [`AFTER`] more
//!   events, the first of which is preceded by the loss record for the gap.
//!
//! Worker threads stay far below one ring, so nothing of theirs is dropped: every span
//! survives. The workload checks that (from what the gate sink saw, per thread) and that every
//! dropped event is accounted for by a loss record, then prints, as one JSON object:
//! `written` (events in the file: recorded + loss records), `recorded`, `loss_records`,
//! `lost_events`, `dropped`, `into_dropping` (transitions into DROPPING), `threads`, `spans`
//! and `span_forest` (per worker thread, the expected tree of span names). It fails (exit
//! status 1) if a check fails, after printing the numbers.

use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::BinarySink;
use ringtrace::{
    Batch, Callsite, CallsiteKind, DiagnosticSink, Level, Metadata, Policy, RecordKind, Sink, SinkError, ThreadState,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests per worker thread.
const ITERATIONS: u64 = 4;
/// Worker threads.
const WORKERS: usize = 3;
/// Events the flood thread records while the drain is held.
const FLOOD: u64 = 1_000;
/// Events the flood thread records after it recovered.
const AFTER: u64 = 10;

/// Per thread: events (records of kind event) and lost events reported by loss records.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    events: u64,
    loss_records: u64,
    lost: u64,
}

/// Holds the drain while closed (so the pool state is deterministic, not a matter of timing)
/// and tallies what it is given per thread.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<AtomicBool>,
    entered: Arc<AtomicU64>,
    tally: Arc<Mutex<BTreeMap<String, Tally>>>,
}

impl Sink for Gate {
    fn name(&self) -> &str {
        "gate"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("gate", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.entered.fetch_add(1, Ordering::AcqRel);
        while !self.open.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        for ev in batch.iter() {
            let t = tally.entry(ev.thread().name.clone()).or_default();
            match ev.kind() {
                RecordKind::Loss => {
                    t.loss_records += 1;
                    t.lost += ev.loss().map_or(0, |l| l.events);
                }
                _ => t.events += 1,
            }
        }
        Ok(())
    }
}

/// A span's two callsites, leaked as an integration's are.
struct Span {
    begin: &'static Callsite,
    end: &'static Callsite,
}

fn span(name: &'static str, fields: &'static [&'static str]) -> Span {
    let meta = |kind, fields| {
        let m: &'static Metadata = Box::leak(Box::new(Metadata {
            level: Level::Info,
            target: "workload",
            module_path: module_path!(),
            file: file!(),
            line: line!(),
            format: name,
            fields,
            kind,
        }));
        &*Box::leak(Box::new(Callsite::new(m)))
    };
    Span { begin: meta(CallsiteKind::SpanBegin, fields), end: meta(CallsiteKind::SpanEnd, &[]) }
}

fn end(s: &Span) {
    ringtrace::__private::record_event(s.end, &((), ()));
}

/// Polls `cond` for up to 20 s (a liveness bound, not a timing assumption).
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

fn worker(request: &Span, parse: &Span, handle: &Span, query: &Span, w: u64) {
    for i in 0..ITERATIONS {
        let id = w * 100 + i;
        ringtrace::__private::record_event(request.begin, &((&id,), ()));
        ringtrace::info!(target: "workload", "request {} received", id);
        ringtrace::__private::record_event(parse.begin, &((), ()));
        ringtrace::debug!(target: "workload", bytes = 512u32 + i as u32, "parsed");
        end(parse);
        let user = "ada";
        ringtrace::__private::record_event(handle.begin, &((&user,), ()));
        let table = "orders";
        ringtrace::__private::record_event(query.begin, &((&table,), ()));
        ringtrace::trace!(target: "workload", "{} rows", i * 3);
        end(query);
        ringtrace::info!(target: "workload", ok = true, "handled");
        end(handle);
        end(request);
    }
}

/// Runs the workload, writing the trace to `out` (replaced if it exists).
pub(crate) fn run(out: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(out);
    let binary = BinarySink::file(out, Rotation { max_bytes: u64::MAX, max_files: 1 })
        .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let gate = Gate::default();
    let guard = ringtrace::Builder::new()
        .ring_size(4096)
        .ring_count(64)
        .max_rings_per_thread(2)
        .max_record_size(256)
        .policy(Policy::DropNewest)
        .diagnostics(DiagnosticSink::Off)
        .ignore_env()
        .sink(gate.clone())
        .sink(binary)
        .install()
        .map_err(|e| format!("cannot install ringtrace: {e}"))?;

    // Hold the drain in the gate.
    ringtrace::info!(target: "workload", "workload start");
    if !eventually(|| gate.entered.load(Ordering::Acquire) >= 1) {
        gate.open.store(true, Ordering::Release);
        return Err("the drain never reached the gate".into());
    }

    let spans: &'static [Span; 4] = Box::leak(Box::new([
        span("request", &["id"]),
        span("parse", &[]),
        span("handle", &["user"]),
        span("db query", &["table"]),
    ]));
    let (go_on_tx, go_on_rx) = std::sync::mpsc::channel::<()>();
    let (flooded_tx, flooded_rx) = std::sync::mpsc::channel::<()>();
    let flood = std::thread::Builder::new()
        .name("flood".into())
        .spawn(move || {
            for i in 0..FLOOD {
                ringtrace::info!(target: "workload", "flood {}", i);
            }
            let _ = flooded_tx.send(());
            let _ = go_on_rx.recv();
            for i in 0..AFTER {
                ringtrace::warn!(target: "workload", "after the flood {}", i);
            }
        })
        .expect("spawn flood");
    let workers: Vec<_> = (1..=WORKERS as u64)
        .map(|w| {
            std::thread::Builder::new()
                .name(format!("worker-{w}"))
                .spawn(move || worker(&spans[0], &spans[1], &spans[2], &spans[3], w))
                .expect("spawn worker")
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let _ = flooded_rx.recv();
    let flood_state = |g: &ringtrace::Guard| g.metrics().threads.iter().find(|t| t.name == "flood").map(|t| t.state);
    let was_dropping = flood_state(&guard) == Some(ThreadState::Dropping);

    // Let the drain go, wait until the flood thread may record again, and let it.
    gate.open.store(true, Ordering::Release);
    eventually(|| !matches!(flood_state(&guard), Some(ThreadState::Dropping)));
    let _ = go_on_tx.send(());
    let _ = flood.join();
    ringtrace::info!(target: "workload", "workload end");
    let report = guard.shutdown(Duration::from_secs(30));

    let tally = gate.tally.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut failures = Vec::new();
    let per_worker = ITERATIONS * 12;
    for w in 1..=WORKERS {
        let t = tally.get(&format!("worker-{w}")).copied().unwrap_or_default();
        if t.events != per_worker || t.loss_records != 0 {
            failures.push(format!(
                "worker-{w}: {} events (expected {per_worker}), {} loss records",
                t.events, t.loss_records
            ));
        }
    }
    let lost: u64 = tally.values().map(|t| t.lost).sum();
    let loss_records: u64 = tally.values().map(|t| t.loss_records).sum();
    let binary = report.sink("binary").map_or(0, |s| s.written);
    if report.dropped.total() == 0 || !was_dropping {
        failures.push(format!(
            "no DROPPING episode: dropped {}, flood was dropping: {was_dropping}",
            report.dropped.total()
        ));
    }
    if lost != report.dropped.total() {
        failures.push(format!("loss records report {lost} events, the runtime dropped {}", report.dropped.total()));
    }
    if loss_records != report.loss_records || binary != report.recorded + report.loss_records {
        failures.push(format!(
            "binary sink wrote {binary}, recorded {} + loss records {} ({loss_records} seen)",
            report.recorded, report.loss_records
        ));
    }
    if report.sink("binary").is_none_or(|s| s.dropped != 0) || !report.sink_errors.is_empty() || report.timed_out {
        failures.push(format!("sink trouble: {}", report.summary_line()));
    }
    let into_dropping: u64 =
        ThreadState::ALL.iter().map(|&from| report.transitions.get(from, ThreadState::Dropping)).sum();

    let tree = serde_json::json!([{
        "name": "request",
        "children": [
            {"name": "parse", "children": []},
            {"name": "handle", "children": [{"name": "db query", "children": []}]},
        ],
    }]);
    let forest: serde_json::Map<String, serde_json::Value> = (1..=WORKERS)
        .map(|w| {
            let roots: Vec<serde_json::Value> =
                (0..ITERATIONS).map(|_| tree.as_array().expect("an array")[0].clone()).collect();
            (format!("worker-{w}"), serde_json::Value::Array(roots))
        })
        .collect();
    let mut threads = vec!["main".to_string(), "flood".to_string()];
    threads.extend((1..=WORKERS).map(|w| format!("worker-{w}")));
    let summary = serde_json::json!({
        "trace": out.display().to_string(),
        "written": binary,
        "recorded": report.recorded,
        "loss_records": report.loss_records,
        "lost_events": lost,
        "dropped": report.dropped.total(),
        "into_dropping": into_dropping,
        "threads": threads,
        "spans": WORKERS as u64 * ITERATIONS * 4,
        "span_forest": forest,
    });
    println!("{summary}");
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
