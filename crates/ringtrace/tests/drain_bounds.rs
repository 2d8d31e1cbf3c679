//! The drain keeps up and stays bounded (issue 17): with a slow sink the drain's memory does
//! not grow and a flooding thread gets its rings back between the batches of one dispatch; a
//! quiet thread loses nothing beside a flood into a text file; a shutdown during a flood is
//! exact. Every assertion is on counts and states; waits are liveness bounds, not timings.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::{FmtSink, Format};
use ringtrace::{Batch, Policy, Sink, SinkError, ThreadState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A sink the test lets through one batch at a time: batch `n` (from 1) waits in
/// `write_batch` until `allowed >= n`.
#[derive(Clone, Default)]
struct Turnstile {
    entered: Arc<AtomicU64>,
    allowed: Arc<AtomicU64>,
    events: Arc<AtomicU64>,
}

impl Sink for Turnstile {
    fn name(&self) -> &str {
        "turnstile"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("turnstile", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let n = self.entered.fetch_add(1, Ordering::SeqCst) + 1;
        while self.allowed.load(Ordering::SeqCst) < n {
            std::thread::sleep(Duration::from_micros(100));
        }
        self.events.fetch_add(batch.len() as u64, Ordering::SeqCst);
        Ok(())
    }
}

const RING: usize = 4096;
const RINGS: u32 = 16;
const BATCH: usize = 16;

#[test]
fn a_slow_sink_gets_the_flooding_thread_its_rings_back_between_batches_and_the_drain_stays_bounded() {
    let _s = common::serial();
    let sink = Turnstile::default();
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_size(RING)
        .ring_count(RINGS)
        .max_rings_per_thread(RINGS as usize)
        .max_record_size(256)
        .batch_size(BATCH)
        .merge_window(Duration::ZERO)
        .policy(Policy::Block { timeout: Duration::from_secs(60) })
        .diagnostics(ringtrace::DiagnosticSink::Off)
        .sink(sink.clone())
        .install()
        .unwrap();
    // A first record holds the drain in its first batch while the flooder fills the pool: the
    // drain's next pass then takes all of the flooder's rings, and its dispatch is long.
    ringtrace::info!("prime");
    assert!(common::eventually(|| sink.entered.load(Ordering::SeqCst) == 1), "the drain reached the sink");
    let calls = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (c2, s2) = (calls.clone(), stop.clone());
    let flood = std::thread::Builder::new()
        .name("flood".into())
        .spawn(move || {
            let mut n = 0u64;
            while !s2.load(Ordering::Relaxed) {
                ringtrace::info!("flood {} at {} qty {}", n, 1.5f64, 7u32);
                n += 1;
                c2.store(n, Ordering::SeqCst);
            }
            n
        })
        .unwrap();
    let flood_state = || guard.metrics().threads.iter().find(|t| t.name == "flood").map(|t| t.state);
    // The flooder fills the pool and waits for a ring; then the drain's second pass takes its
    // rings and sits in its first batch.
    assert!(common::eventually(|| flood_state() == Some(ThreadState::Dropping)), "the flooder waits for room");
    sink.allowed.store(1, Ordering::SeqCst);
    assert!(common::eventually(|| sink.entered.load(Ordering::SeqCst) == 2), "the second pass dispatches");
    let waiting_at = calls.load(Ordering::SeqCst);
    let pass = guard.metrics().drain.iterations;
    // Let batches through one by one: the same dispatch (the drain loop does not turn) hands
    // rings back, and the flooder records on while the drain still dispatches.
    let mut let_through = 1;
    while calls.load(Ordering::SeqCst) == waiting_at {
        let_through += 1;
        assert!(let_through < 200, "no ring came back within 200 batches of one dispatch");
        sink.allowed.store(let_through, Ordering::SeqCst);
        assert!(common::eventually(
            || sink.entered.load(Ordering::SeqCst) > let_through || calls.load(Ordering::SeqCst) > waiting_at
        ));
    }
    assert_eq!(guard.metrics().drain.iterations, pass, "still the first dispatch");
    let m = guard.metrics();
    assert!(m.drain.held_rings <= RINGS as u64);
    // The drain's heap is bounded by its formula (one thread here), however slow the sink.
    let bound = (RING as u64 + 64) + BATCH as u64 * 48 + u64::from(RINGS) * 64 + 4096;
    assert!(m.drain.buffer_bytes_high_water <= bound, "{} > {bound}", m.drain.buffer_bytes_high_water);

    sink.allowed.store(u64::MAX, Ordering::SeqCst);
    stop.store(true, Ordering::Relaxed);
    let recorded = flood.join().unwrap();
    let report = guard.shutdown(Duration::from_secs(60));
    assert_eq!(report.dropped.total(), 0, "Block: nothing dropped: {}", report.summary_line());
    assert_eq!(report.recorded, recorded + 1);
    assert_eq!(sink.events.load(Ordering::SeqCst), recorded + 1 + report.loss_records);
}

fn text_file(dir: &std::path::Path) -> (FmtSink, std::path::PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("out.log");
    let _ = std::fs::remove_file(&path);
    (FmtSink::file(&path, Format::Text, Rotation { max_bytes: 0, max_files: 0 }).unwrap(), path)
}

fn tempdir(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ringtrace-drain-bounds-{what}-{}", std::process::id()))
}

#[test]
fn a_quiet_thread_loses_nothing_beside_a_flood_into_a_text_file() {
    let _s = common::serial();
    let dir = tempdir("quiet");
    let (sink, path) = text_file(&dir);
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_count(16)
        .ring_size(1 << 16)
        .max_rings_per_thread(4)
        .diagnostics(ringtrace::DiagnosticSink::Off)
        .sink(sink)
        .install()
        .unwrap();
    let (stop, flood) = common::spawn_flood();
    let quiet = std::thread::Builder::new()
        .name("quiet".into())
        .spawn(|| {
            for i in 0..2_000u64 {
                ringtrace::info!("quiet {}", i);
                // A quiet thread: a record now and then, far below what the drain can take.
                std::thread::sleep(Duration::from_micros(500));
            }
        })
        .unwrap();
    quiet.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let flooded = flood.join().unwrap();
    let report = guard.shutdown(Duration::from_secs(60));
    let text = std::fs::read_to_string(&path).unwrap();
    let quiet: Vec<u64> =
        text.lines().filter_map(|l| l.split_once(": quiet ").map(|(_, n)| n.trim().parse().unwrap())).collect();
    assert_eq!(quiet, (0..2_000).collect::<Vec<_>>(), "the quiet thread lost nothing, in order");
    assert_eq!(report.recorded + report.dropped.total(), flooded + 2_000);
    assert_eq!(report.sink("text").unwrap().written, text.lines().count() as u64);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_shutdown_during_a_flood_into_a_text_file_is_exact() {
    let _s = common::serial();
    let dir = tempdir("shutdown");
    let (sink, path) = text_file(&dir);
    let before = ringtrace::unrecorded_events();
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_count(8)
        .ring_size(1 << 14)
        .max_rings_per_thread(2)
        .diagnostics(ringtrace::DiagnosticSink::Off)
        .sink(sink)
        .install()
        .unwrap();
    let go = Arc::new(AtomicBool::new(true));
    let written = Arc::new(AtomicU64::new(0));
    let floods: Vec<_> = (0..4u64)
        .map(|t| {
            let (go, written) = (go.clone(), written.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while go.load(Ordering::Relaxed) {
                    ringtrace::info!("flood {} of {}", n, t);
                    n += 1;
                    if n == 50_000 {
                        written.fetch_add(1, Ordering::SeqCst);
                    }
                }
                n
            })
        })
        .collect();
    // Shut down in the middle of the flood, while every thread still records.
    assert!(common::eventually(|| written.load(Ordering::SeqCst) == 4));
    let report = guard.shutdown(Duration::from_secs(60));
    go.store(false, Ordering::Relaxed);
    let attempted: u64 = floods.into_iter().map(|f| f.join().unwrap()).sum();
    let unrecorded = ringtrace::unrecorded_events() - before;
    assert!(!report.timed_out);
    assert_eq!(report.undelivered, 0);
    assert_eq!(report.recorded + report.dropped.total() + unrecorded, attempted, "{}", report.summary_line());
    let lines = std::fs::read_to_string(&path).unwrap().lines().count() as u64;
    assert_eq!(report.sink("text").unwrap().written, lines);
    assert_eq!(lines, report.recorded + report.loss_records, "every recorded event and loss record is a line");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A runtime whose only sink takes records raw (no merge at all): every record reaches the
/// trace file, the active ring's partly filled stretches included, pass after pass.
#[test]
fn a_binary_sink_alone_gets_every_record() {
    use ringtrace::sinks::BinarySink;
    let _s = common::serial();
    let dir = tempdir("binary-alone");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.rtrace");
    let _ = std::fs::remove_file(&path);
    let sink = BinarySink::file(&path, Rotation { max_bytes: 0, max_files: 0 }).unwrap();
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_size(4096)
        .ring_count(8)
        .max_record_size(256)
        .policy(Policy::Block { timeout: Duration::from_secs(60) })
        .diagnostics(ringtrace::DiagnosticSink::Off)
        .sink(sink)
        .install()
        .unwrap();
    const N: u64 = 50_000;
    for i in 0..N {
        ringtrace::info!("order {} filled at {} qty {}", i, 1.5f64, 7u32);
        if i % 5_000 == 0 {
            // Let the drain read a partly filled active ring now and then.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let report = guard.shutdown(Duration::from_secs(60));
    assert_eq!(report.recorded, N);
    assert_eq!(report.sinks[0].written, N + report.loss_records, "{}", report.summary_line());
    let mut n = 0u64;
    let mut next = 0u64;
    ringtrace::trace_file::TraceReader::open(&path)
        .unwrap()
        .for_each_batch(|b| {
            for ev in b.iter() {
                if let Some(ringtrace::Value::U64(i)) = ev.args().next() {
                    assert_eq!(i, next, "in order, none missing");
                    next += 1;
                }
                n += 1;
            }
        })
        .unwrap();
    assert_eq!(n, N);
    let _ = std::fs::remove_dir_all(&dir);
}
