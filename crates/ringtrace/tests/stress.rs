//! Stress (MISSION §8): 64 recording threads at a time, threads continuously starting and
//! exiting, records of mixed sizes up to `max_record_size`, all three policies side by side,
//! and a pool small enough that every backpressure path runs. A verifying sink checks every
//! delivered record: its per-thread sequence number (no duplicate, no reordering within a
//! thread), its checksum and its byte pattern (no corruption), and the text of formatted
//! events. At the end the accounting must be exact per thread: every record a thread made was
//! delivered or reported lost by a loss record of that thread, and the totals match the
//! `DrainReport`.
//!
//! The assertions are on counts and contents only; the run is bounded by work (threads ×
//! records), not by a clock. `scripts/stress-loop.sh` runs this file repeatedly.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::{Batch, DiagnosticSink, Policy, RecordKind, Sink, SinkError, ThreadState};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Header bytes of a record (ringtrace's record layout: size, flags, id, timestamp).
const HEADER: usize = 16;
/// The largest record of the runtime under test.
const MAX_RECORD: usize = 1024;
/// Bytes before the pattern in a raw payload: uid u32, seq u32, checksum u64.
const PREFIX: usize = 16;
/// `record_bytes` event id used by the stress threads.
const EVENT_ID: u32 = 0x5757;

/// One stress run's shape.
#[derive(Clone, Copy)]
struct Shape {
    lanes: u32,
    threads_per_lane: u32,
    records_per_thread: u32,
    rings: u32,
    ring_size: usize,
    quota: usize,
    /// Microseconds the sink sleeps per batch (a slow sink keeps the pool under pressure).
    sink_delay_us: u64,
}

/// The deterministic content of record `seq` of thread `uid`: mostly small records, every
/// 16th one large, some exactly at the limit.
fn payload_len(uid: u32, seq: u32) -> usize {
    let h = mix(uid, seq);
    let max = MAX_RECORD - HEADER;
    match seq % 16 {
        0 => max,
        1 | 9 => PREFIX + (h as usize % (max - PREFIX + 1)),
        _ => PREFIX + (h as usize % 64),
    }
}

fn mix(uid: u32, seq: u32) -> u64 {
    let mut x = (u64::from(uid) << 32 | u64::from(seq)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ (x >> 32)
}

fn pattern_byte(uid: u32, seq: u32, i: usize) -> u8 {
    (uid.wrapping_mul(7).wrapping_add(seq.wrapping_mul(13)) as usize).wrapping_add(i) as u8
}

/// FNV-1a over the identity and the pattern.
fn checksum(uid: u32, seq: u32, body: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in uid.to_le_bytes().iter().chain(&seq.to_le_bytes()).chain(body) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The text argument of formatted event `seq` (a borrowed string copied at call time).
fn text_arg(uid: u32, seq: u32) -> String {
    let n = (mix(uid, seq) % 300) as usize;
    (0..n).map(|i| (b'a' + pattern_byte(uid, seq, i) % 26) as char).collect()
}

/// Every 5th record is a formatted event, the rest raw payloads.
fn is_formatted(seq: u32) -> bool {
    seq % 5 == 4
}

fn policy_of(uid: u32) -> Policy {
    match uid % 3 {
        0 => Policy::DropNewest,
        1 => Policy::DropOldest,
        _ => Policy::Block { timeout: Duration::from_millis(1) },
    }
}

/// What the verifier knows about one thread.
#[derive(Default, Clone, Debug)]
struct PerThread {
    /// The last sequence number delivered (`None` before the first).
    last: Option<u32>,
    delivered: u64,
    lost: u64,
    loss_records: u64,
}

#[derive(Default)]
struct Verdict {
    threads: HashMap<u32, PerThread>,
    errors: Vec<String>,
    error_count: u64,
}

impl Verdict {
    fn fail(&mut self, e: String) {
        self.error_count += 1;
        if self.errors.len() < 20 {
            self.errors.push(e);
        }
    }
}

/// Checks every record as it arrives; collects errors instead of panicking (a panic would be
/// contained by the runtime and only counted).
#[derive(Clone, Default)]
struct Verifier {
    verdict: Arc<Mutex<Verdict>>,
    delay: Duration,
}

fn uid_of_thread(name: &str) -> Option<u32> {
    name.strip_prefix("stress-")?.parse().ok()
}

impl Verifier {
    fn check_raw(v: &mut Verdict, thread_uid: u32, p: &[u8]) -> Option<u32> {
        if p.len() < PREFIX {
            v.fail(format!("thread {thread_uid}: raw payload of {} bytes", p.len()));
            return None;
        }
        let uid = u32::from_le_bytes(p[0..4].try_into().unwrap());
        let seq = u32::from_le_bytes(p[4..8].try_into().unwrap());
        let sum = u64::from_le_bytes(p[8..16].try_into().unwrap());
        if uid != thread_uid {
            v.fail(format!("record of uid {uid} delivered as thread {thread_uid}'s"));
            return None;
        }
        let body = &p[PREFIX..];
        if p.len() != payload_len(uid, seq) {
            v.fail(format!("thread {uid} seq {seq}: {} bytes, expected {}", p.len(), payload_len(uid, seq)));
        } else if checksum(uid, seq, body) != sum {
            v.fail(format!("thread {uid} seq {seq}: checksum mismatch"));
        } else if let Some(i) = (0..body.len()).find(|&i| body[i] != pattern_byte(uid, seq, i)) {
            v.fail(format!("thread {uid} seq {seq}: byte {i} corrupted"));
        }
        Some(seq)
    }

    fn check_formatted(v: &mut Verdict, thread_uid: u32, msg: &str) -> Option<u32> {
        let mut it = msg.splitn(4, ' ');
        let (Some("stress"), Some(uid), Some(seq), text) = (it.next(), it.next(), it.next(), it.next()) else {
            v.fail(format!("thread {thread_uid}: unexpected message {msg:?}"));
            return None;
        };
        let (Ok(uid), Ok(seq)) = (uid.parse::<u32>(), seq.parse::<u32>()) else {
            v.fail(format!("thread {thread_uid}: unparsable message {msg:?}"));
            return None;
        };
        if uid != thread_uid {
            v.fail(format!("event of uid {uid} delivered as thread {thread_uid}'s"));
            return None;
        }
        if text.unwrap_or("") != text_arg(uid, seq) {
            v.fail(format!("thread {uid} seq {seq}: text argument differs"));
        }
        Some(seq)
    }
}

impl Sink for Verifier {
    fn name(&self) -> &str {
        "verifier"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("verifier", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut guard = self.verdict.lock().unwrap();
        let v = &mut *guard;
        for ev in batch.iter() {
            let Some(uid) = uid_of_thread(&ev.thread().name) else {
                v.fail(format!("record from an unknown thread {:?}", ev.thread().name));
                continue;
            };
            let seq = match ev.kind() {
                RecordKind::Loss => {
                    let t = v.threads.entry(uid).or_default();
                    t.lost += ev.loss().map_or(0, |l| l.events);
                    t.loss_records += 1;
                    continue;
                }
                RecordKind::Raw if ev.id() == EVENT_ID => {
                    if ev.is_truncated() {
                        v.fail(format!("thread {uid}: raw record truncated"));
                    }
                    Self::check_raw(v, uid, ev.payload())
                }
                RecordKind::Event => Self::check_formatted(v, uid, &ev.message()),
                other => {
                    v.fail(format!("thread {uid}: unexpected record kind {other:?}"));
                    None
                }
            };
            let Some(seq) = seq else { continue };
            let t = v.threads.entry(uid).or_default();
            if t.last.is_some_and(|last| seq <= last) {
                let last = t.last;
                v.fail(format!("thread {uid}: seq {seq} after {last:?} (duplicate or reordered)"));
            } else {
                let t = v.threads.get_mut(&uid).unwrap();
                t.last = Some(seq);
                t.delivered += 1;
            }
        }
        drop(guard);
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        Ok(())
    }
}

/// One stress thread: `records` records, raw and formatted, under its policy.
fn stress_thread(uid: u32, records: u32) {
    ringtrace::set_thread_policy(Some(policy_of(uid)));
    let mut buf = vec![0u8; MAX_RECORD];
    for seq in 0..records {
        if is_formatted(seq) {
            let text = text_arg(uid, seq);
            ringtrace::info!("stress {} {} {}", uid, seq, text.as_str());
            continue;
        }
        let len = payload_len(uid, seq);
        let p = &mut buf[..len];
        for (i, b) in p[PREFIX..].iter_mut().enumerate() {
            *b = pattern_byte(uid, seq, i);
        }
        let sum = checksum(uid, seq, &p[PREFIX..]);
        p[0..4].copy_from_slice(&uid.to_le_bytes());
        p[4..8].copy_from_slice(&seq.to_le_bytes());
        p[8..16].copy_from_slice(&sum.to_le_bytes());
        ringtrace::record_bytes(EVENT_ID, p);
        // The caller reuses its buffer at once: what was recorded must not change.
        p.fill(0xEE);
    }
}

/// `STRESS_QUICK=1` (set by `scripts/sanitize.sh` for memcheck, which runs ~50x
/// slower): one thread per lane and at most 600 records each. Every check still runs.
fn quick() -> bool {
    std::env::var_os("STRESS_QUICK").is_some_and(|v| v != "0")
}

/// Runs a shape and checks the verdict; returns the report for shape-specific checks.
fn run(mut shape: Shape) -> ringtrace::DrainReport {
    if quick() {
        shape.threads_per_lane = 1;
        // Enough for a thread to fill more than its quota of 8 KiB rings (DropOldest reclaims).
        shape.records_per_thread = shape.records_per_thread.min(600);
    }
    let verifier = Verifier { delay: Duration::from_micros(shape.sink_delay_us), ..Default::default() };
    let guard = ringtrace::Builder::new()
        .ring_size(shape.ring_size)
        .ring_count(shape.rings)
        .max_rings_per_thread(shape.quota)
        .max_record_size(MAX_RECORD)
        .stability_period(Duration::from_millis(5))
        .diagnostics(DiagnosticSink::Off)
        .sink(verifier.clone())
        .ignore_env()
        .install()
        .unwrap();

    // Lanes keep `lanes` stress threads alive at all times: each lane starts a thread, waits
    // for it to exit, starts the next.
    let lanes: Vec<_> = (0..shape.lanes)
        .map(|lane| {
            std::thread::spawn(move || {
                for k in 0..shape.threads_per_lane {
                    let uid = k * shape.lanes + lane;
                    std::thread::Builder::new()
                        .name(format!("stress-{uid}"))
                        .spawn(move || stress_thread(uid, shape.records_per_thread))
                        .unwrap()
                        .join()
                        .unwrap();
                }
            })
        })
        .collect();
    for l in lanes {
        l.join().unwrap();
    }
    let report = guard.shutdown(Duration::from_secs(60));
    assert!(!report.timed_out, "{}", report.summary_line());
    assert!(report.drain_panic.is_none(), "{:?}", report.drain_panic);
    assert!(report.sink_errors.is_empty(), "{:?}", report.sink_errors);

    let v = verifier.verdict.lock().unwrap();
    assert_eq!(v.error_count, 0, "verifier errors ({} in all), first ones:\n{}", v.error_count, v.errors.join("\n"));
    let threads = shape.lanes * shape.threads_per_lane;
    let per_thread = u64::from(shape.records_per_thread);
    let (mut delivered, mut lost) = (0, 0);
    for uid in 0..threads {
        let t = v.threads.get(&uid).cloned().unwrap_or_default();
        assert_eq!(
            t.delivered + t.lost,
            per_thread,
            "thread {uid} ({}): delivered {} + lost {} != recorded {per_thread}",
            policy_of(uid),
            t.delivered,
            t.lost
        );
        delivered += t.delivered;
        lost += t.lost;
    }
    assert_eq!(v.threads.len() as u32, threads, "records from threads that were never started");
    assert_eq!(report.recorded, delivered, "report.recorded vs delivered");
    assert_eq!(report.dropped.total(), lost, "report.dropped vs loss records: {}", report.summary_line());
    assert_eq!(report.recorded + report.dropped.total(), u64::from(threads) * per_thread);
    assert_eq!(report.undelivered, 0);
    report
}

/// 64 threads at a time, 512 in all, a pool with room for most of what they record: the
/// common paths (swaps, thread exit with a partly filled ring, registry slot reuse) under
/// churn, with some pressure.
#[test]
fn sixty_four_threads_churn_mixed_sizes_all_policies() {
    let _s = common::serial();
    let report = run(Shape {
        lanes: 64,
        threads_per_lane: 8,
        records_per_thread: 3_000,
        rings: 160,
        ring_size: 16 * 1024,
        quota: 4,
        sink_delay_us: 0,
    });
    assert_eq!(report.threads, if quick() { 64 } else { 512 });
}

/// A pool far too small for 64 threads and a slow sink: every thread spends time in
/// DROPPING, DropOldest reclaims race the drain, Block threads time out, and the accounting
/// must still be exact.
#[test]
fn sixty_four_threads_overload_every_drop_path() {
    let _s = common::serial();
    let report = run(Shape {
        lanes: 64,
        threads_per_lane: 4,
        records_per_thread: 2_000,
        // Quick runs record far less (one thread per lane, 600 records): a smaller pool keeps
        // every drop path busy.
        rings: if quick() { 24 } else { 48 },
        ring_size: 8 * 1024,
        quota: 2,
        sink_delay_us: 200,
    });
    use ringtrace::DropReason::*;
    for reason in [PoolExhausted, QuotaExceeded, Overwritten, BlockTimeout] {
        assert!(report.dropped.get(reason) > 0, "no {reason:?} drops: {}", report.summary_line());
    }
    assert!(report.transitions.get(ThreadState::Pressure, ThreadState::Dropping) > 0);
    assert!(report.loss_records > 0);
}
