//! The binary trace's bulk path (issue 17 item 2, R-OUT-2): a [`BinarySink`] fed raw batches
//! (each thread's ring bytes, unmerged) writes RUN chunks with the bytes unchanged, and the
//! reader gives them back merged: by merge key (a record's ticks raised to its thread's
//! previous key), ties to the thread described first, each thread's records in order. Also:
//! rotation keeps every file self-contained, runs over the chunk limit are split, the end
//! marker counts, and a trace of format 1 (written by ringtrace before the bulk path: the
//! checked-in fixture) reads exactly as the old reader printed it.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::render::{render_json, render_text};
use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::BinarySink;
use ringtrace::trace_file::{TraceReader, FILE_HEADER_LEN, MAX_RECORDS_CHUNK, RUN_HEADER_LEN};
use ringtrace::{
    Batch, Builder, CallsiteInfo, CallsiteTable, ClockCalibration, Config, DiagnosticSink, Level, Policy, RawBatch,
    RawRun, RecordKind, Sink, SinkContext, SinkError, ThreadInfo, Value,
};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

const EVENT: u16 = 1;
const LOSS: u16 = 3;
/// The value tag of a `u64` argument.
const TAG_U64: u8 = 4;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringtrace-binary-trace-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A record as it lies in a ring: header, payload, zero padding to 8 bytes. Events carry
/// one u64 argument `v`; loss records report `v` lost events.
fn record(kind: u16, ts: u64, v: u64) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&0u16.to_le_bytes());
    r.extend_from_slice(&kind.to_le_bytes());
    r.extend_from_slice(&(if kind == EVENT { 1u32 } else { 0 }).to_le_bytes());
    r.extend_from_slice(&ts.to_le_bytes());
    if kind == LOSS {
        for w in [v, 32 * v, ts, ts] {
            r.extend_from_slice(&w.to_le_bytes());
        }
    } else {
        r.push(TAG_U64);
        r.extend_from_slice(&v.to_le_bytes());
    }
    let size = r.len() as u16;
    r[0..2].copy_from_slice(&size.to_le_bytes());
    r.resize(r.len().div_ceil(8) * 8, 0);
    r
}

fn clock() -> ClockCalibration {
    ClockCalibration::new(0, 1_700_000_000_000_000_000, 1_000_000_000)
}

fn callsites() -> CallsiteTable {
    let mut t = CallsiteTable::new();
    t.insert(CallsiteInfo::new(1, Level::Info, "app", "m", "f.rs", 1, "v {}", vec![]));
    t
}

fn thread(id: u64) -> ThreadInfo {
    ThreadInfo { id, name: format!("t{id}"), os_tid: 100 + id }
}

/// A started binary sink writing to `path`.
fn sink(path: &Path, rotation: Rotation) -> BinarySink {
    let mut s = BinarySink::file(path, rotation).unwrap();
    s.start(&SinkContext::new(&clock(), &Config::default())).unwrap();
    assert!(s.takes_raw());
    s
}

/// What the reader handed out: (thread id, ticks, value) per record, and the statistics.
fn read(path: &Path) -> (Vec<(u64, u64, u64)>, ringtrace::trace_file::ReadStats) {
    let mut r = TraceReader::open(path).unwrap();
    assert_eq!(r.version(), ringtrace::trace_file::FORMAT_VERSION);
    let mut out = Vec::new();
    let stats = r
        .for_each_batch(|b| {
            for ev in b.iter() {
                let v = match ev.kind() {
                    RecordKind::Loss => ev.loss().unwrap().events,
                    _ => match ev.args().next() {
                        Some(Value::U64(v)) => v,
                        other => panic!("{other:?} in {}", ev.message()),
                    },
                };
                out.push((ev.thread().id, ev.ticks(), v));
            }
        })
        .unwrap();
    (out, stats)
}

/// `got == want`, reporting the first difference instead of both lists.
#[track_caller]
fn same(got: &[(u64, u64, u64)], want: &[(u64, u64, u64)]) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        let lo = i.saturating_sub(3);
        panic!(
            "first difference at {i}: got {:?}, want {:?}",
            &got[lo..(i + 4).min(got.len())],
            &want[lo..(i + 4).min(want.len())]
        );
    }
    assert_eq!(got.len(), want.len(), "lengths");
}

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One thread's id and records: (ticks, kind, value).
type ThreadWork = (u64, Vec<(u64, u16, u64)>);
/// Every thread's.
type Work = Vec<ThreadWork>;

/// One thread's records: (ticks, kind, value), ticks advancing by 0..=5 (so threads tie
/// often), one step back in thread 2, a loss record now and then.
fn workload(threads: u64, per_thread: u64, rng: &mut Rng) -> Work {
    (1..=threads)
        .map(|id| {
            let mut ts = 10_000;
            let recs = (0..per_thread)
                .map(|i| {
                    ts += rng.next() % 6;
                    if id == 2 && i == per_thread / 2 {
                        ts -= 50;
                    }
                    let kind = if rng.next() % 97 == 0 { LOSS } else { EVENT };
                    (ts, kind, id * 1_000_000 + i)
                })
                .collect();
            (id, recs)
        })
        .collect()
}

/// The merge order the format defines, for threads described in `rank` order.
fn merged(work: &[ThreadWork], rank: &[u64]) -> Vec<(u64, u64, u64)> {
    let mut all = Vec::new();
    for (id, recs) in work {
        let r = rank.iter().position(|t| t == id).unwrap();
        let mut key = 0;
        for (i, &(ts, kind, v)) in recs.iter().enumerate() {
            key = key.max(ts);
            let _ = kind;
            all.push(((key, r, i), (*id, ts, v)));
        }
    }
    all.sort_by_key(|a| a.0);
    all.into_iter().map(|a| a.1).collect()
}

/// Feeds `work` to `sink` as raw batches: per pass, each thread's next few records as one or
/// two runs (a ring's wrap), threads in a different order each pass, some threads absent.
/// Returns the order threads first appeared in and the records and loss records written.
fn feed(sink: &mut BinarySink, work: &[ThreadWork], rng: &mut Rng) -> (Vec<u64>, u64, u64) {
    let table = callsites();
    let clock = clock();
    let infos: HashMap<u64, ThreadInfo> = work.iter().map(|(id, _)| (*id, thread(*id))).collect();
    let mut at = vec![0usize; work.len()];
    let mut first_seen = Vec::new();
    let (mut records, mut losses) = (0, 0);
    let mut announced = false;
    while at.iter().zip(work).any(|(a, w)| *a < w.1.len()) {
        // The runs' bytes of this pass, then the runs.
        let mut order: Vec<usize> = (0..work.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        let mut pieces: Vec<(u64, Vec<u8>, u32, u32)> = Vec::new();
        for &t in &order {
            let (id, recs) = &work[t];
            let take = (rng.next() % 40) as usize;
            let end = (at[t] + take).min(recs.len());
            let split = at[t] + (end - at[t]) / 2;
            for range in [at[t]..split, split..end] {
                if range.is_empty() {
                    continue;
                }
                let mut bytes = Vec::new();
                let (mut ev, mut lo) = (0, 0);
                for &(ts, kind, v) in &recs[range] {
                    bytes.extend(record(kind, ts, v));
                    if kind == LOSS {
                        lo += 1;
                    } else {
                        ev += 1;
                    }
                }
                records += u64::from(ev + lo);
                losses += u64::from(lo);
                if !first_seen.contains(id) {
                    first_seen.push(*id);
                }
                pieces.push((*id, bytes, ev, lo));
            }
            at[t] = end;
        }
        let runs: Vec<RawRun<'_>> = pieces
            .iter()
            .map(|(id, bytes, events, losses)| RawRun {
                thread: &infos[id],
                records: bytes,
                events: *events,
                losses: *losses,
            })
            .collect();
        let new: &[u32] = if announced { &[] } else { &[1] };
        announced = true;
        sink.write_raw(&RawBatch::new(&runs, &table, new, &clock)).unwrap();
    }
    (first_seen, records, losses)
}

#[test]
fn raw_batches_of_interleaved_threads_decode_merged_by_key_then_first_described_thread() {
    let dir = tempdir("merge");
    let path = dir.join("t.rtrace");
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let work = workload(4, 2000, &mut rng);
    let mut s = sink(&path, Rotation { max_bytes: 0, max_files: 0 });
    let (rank, records, losses) = feed(&mut s, &work, &mut rng);
    s.stop().unwrap();
    let (got, stats) = read(&path);
    let end = stats.end.expect("finished: an end marker");
    assert_eq!((end.records, end.loss_records, end.threads, end.callsites), (records, losses, 4, 1));
    assert_eq!(stats.records, 8000);
    let want = merged(&work, &rank);
    assert_eq!(got.len(), want.len());
    // Ties happen (steps of 0 ticks across threads), so this checks the tie rule too.
    let ties = want.windows(2).filter(|w| w[0].1 == w[1].1 && w[0].0 != w[1].0).count();
    assert!(ties > 100, "{ties} ties");
    same(&got, &want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_chunks_hold_the_ring_bytes_unchanged() {
    let dir = tempdir("verbatim");
    let path = dir.join("t.rtrace");
    let mut rng = Rng(42);
    let work = workload(3, 500, &mut rng);
    let mut s = sink(&path, Rotation { max_bytes: 0, max_files: 0 });
    feed(&mut s, &work, &mut rng);
    s.stop().unwrap();
    // Walk the chunks: the RUN payloads of a thread, after their 24-byte header, are its
    // records exactly as a ring holds them.
    let bytes = std::fs::read(&path).unwrap();
    let mut per_thread: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut at = FILE_HEADER_LEN;
    let mut kinds = HashSet::new();
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        kinds.insert(bytes[at]);
        if bytes[at] == 5 {
            let body = &bytes[at + 8..at + 8 + len];
            let t = u64::from_le_bytes(body[0..8].try_into().unwrap());
            per_thread.entry(t).or_default().extend_from_slice(&body[RUN_HEADER_LEN..]);
        }
        at += 8 + len;
    }
    assert_eq!(kinds, HashSet::from([1, 2, 4, 5]), "callsite, thread, end and run chunks only");
    for (id, recs) in &work {
        let ring: Vec<u8> = recs.iter().flat_map(|&(ts, kind, v)| record(kind, ts, v)).collect();
        assert_eq!(per_thread[id], ring, "thread {id}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_horizon_from_the_drain_changes_nothing_but_how_long_records_wait() {
    let dir = tempdir("horizon");
    let mut rng = Rng(7);
    let work = workload(3, 600, &mut rng);
    let table = callsites();
    let clock = clock();
    let infos: Vec<ThreadInfo> = (1..=3).map(thread).collect();
    let per_pass = 25;
    let write = |path: &Path, horizons: bool| {
        let mut s = sink(path, Rotation { max_bytes: 0, max_files: 0 });
        for p in 0..600 / per_pass {
            let bytes: Vec<Vec<u8>> = work
                .iter()
                .map(|(_, recs)| {
                    recs[p * per_pass..(p + 1) * per_pass].iter().flat_map(|&(ts, k, v)| record(k, ts, v)).collect()
                })
                .collect();
            let runs: Vec<RawRun<'_>> = (0..3)
                .map(|t| {
                    let lost = work[t].1[p * per_pass..(p + 1) * per_pass].iter().filter(|r| r.1 == LOSS).count();
                    RawRun {
                        thread: &infos[t],
                        records: &bytes[t],
                        events: (per_pass - lost) as u32,
                        losses: lost as u32,
                    }
                })
                .collect();
            // The true promise: the smallest merge key a later pass holds.
            let promise = work
                .iter()
                .filter(|(_, r)| (p + 1) * per_pass < r.len())
                .map(|(_, r)| r[..=(p + 1) * per_pass].iter().map(|x| x.0).max().unwrap())
                .min()
                .unwrap_or(u64::MAX);
            let new: &[u32] = if p == 0 { &[1] } else { &[] };
            let batch = RawBatch::new(&runs, &table, new, &clock);
            let batch = if horizons { batch.with_horizon(promise) } else { batch };
            s.write_raw(&batch).unwrap();
        }
        s.stop().unwrap();
    };
    let (a, b) = (dir.join("with.rtrace"), dir.join("without.rtrace"));
    write(&a, true);
    write(&b, false);
    let count_batches = |p: &Path| {
        let mut n = 0;
        TraceReader::open(p).unwrap().for_each_batch(|_| n += 1).unwrap();
        n
    };
    same(&read(&a).0, &merged(&work, &[1, 2, 3]));
    same(&read(&b).0, &read(&a).0);
    assert!(count_batches(&a) >= 20, "handed out pass by pass");
    assert_eq!(count_batches(&b), 1, "without a promise: at the end (small file)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A merging drain, as today's: each pass collects every thread's new records (threads in a
/// fixed collection order, first-seen order = rank), sorts what it holds by (key, rank), hands
/// its merged sinks what is not above the pass's cutoff (now minus the merge window) and holds
/// the rest back; the final pass hands out everything. A thread that leaves a dropping
/// episode records a loss record dated to when its gap opened: it arrives late. The raw batch
/// of each pass carries the cutoff + 1 as its horizon; the file must decode to the
/// concatenation of what the merged sinks were handed. (Fails if a horizon is carried on to
/// later chunks.)
#[test]
fn a_file_written_with_the_drains_cutoffs_decodes_as_the_drain_merged() {
    let dir = tempdir("drain-order");
    let path = dir.join("t.rtrace");
    let mut rng = Rng(0xfeed_beef);
    let table = callsites();
    let clock = clock();
    let infos: Vec<ThreadInfo> = (1..=3).map(thread).collect();
    let mut s = sink(&path, Rotation { max_bytes: 0, max_files: 0 });
    let window = 30;
    let mut now = 1000u64;
    let mut last_key = [0u64; 3];
    let mut held: Vec<(u64, usize, (u64, u64, u64))> = Vec::new();
    let mut handed = Vec::new();
    let mut v = 0;
    for pass in 0..400 {
        // Pass 200 hands out everything, as a flush (the panic hook's) does mid-run.
        let last = pass == 399 || pass == 200;
        let mut runs_bytes: Vec<(usize, Vec<u8>, u32, u32)> = Vec::new();
        for (t, key) in last_key.iter_mut().enumerate() {
            let mut bytes = Vec::new();
            let (mut ev, mut lo) = (0, 0);
            for _ in 0..rng.next() % 6 {
                // A record read some ticks before `now` (within the window, mostly).
                let ts = now - rng.next() % (window + 5);
                let late_loss = rng.next() % 20 == 0;
                let (kind, ts) = if late_loss { (LOSS, ts - 200) } else { (EVENT, ts) };
                v += 1;
                bytes.extend(record(kind, ts, v));
                if kind == LOSS {
                    lo += 1;
                } else {
                    ev += 1;
                }
                *key = (*key).max(ts);
                held.push((*key, t, (t as u64 + 1, ts, v)));
            }
            if !bytes.is_empty() {
                runs_bytes.push((t, bytes, ev, lo));
            }
        }
        let cutoff = if last { u64::MAX } else { now - window };
        held.sort_by_key(|h| (h.0, h.1));
        let ready = held.partition_point(|h| h.0 <= cutoff);
        handed.extend(held.drain(..ready).map(|h| h.2));
        let runs: Vec<RawRun<'_>> = runs_bytes
            .iter()
            .map(|(t, b, e, l)| RawRun { thread: &infos[*t], records: b, events: *e, losses: *l })
            .collect();
        let new: &[u32] = if pass == 0 { &[1] } else { &[] };
        let batch = RawBatch::new(&runs, &table, new, &clock).with_horizon(cutoff.saturating_add(1));
        s.write_raw(&batch).unwrap();
        now += 1 + rng.next() % 20;
    }
    s.stop().unwrap();
    let want: Vec<(u64, u64, u64)> = handed;
    let (got, _) = read(&path);
    let late = want.windows(2).filter(|w| w[1].1 < w[0].1).count();
    assert!(late > 5, "{late} records handed out after newer ones");
    same(&got, &want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rotation_of_a_raw_trace_keeps_every_file_self_contained_and_counted() {
    let dir = tempdir("rotate");
    let path = dir.join("t.rtrace");
    let mut rng = Rng(99);
    let work = workload(3, 3000, &mut rng);
    let mut s = sink(&path, Rotation { max_bytes: 16 << 10, max_files: 1000 });
    let (_, records, losses) = feed(&mut s, &work, &mut rng);
    s.stop().unwrap();
    let files = s.outputs();
    assert!(files.len() > 10, "{} files", files.len());
    let (mut total, mut lost, mut all) = (0, 0, Vec::new());
    for f in &files {
        let mut r = TraceReader::open(f).unwrap();
        let mut named = true;
        let stats = r
            .for_each_batch(|b| {
                for ev in b.iter() {
                    named &= ev.thread().name.starts_with('t');
                    if ev.kind() == RecordKind::Event {
                        named &= ev.callsite().is_some();
                        if let Some(Value::U64(v)) = ev.args().next() {
                            all.push(v);
                        }
                    }
                }
            })
            .unwrap();
        assert!(named, "{f:?}: every thread and callsite is described in the file itself");
        let end = stats.end.unwrap_or_else(|| panic!("{f:?}: no end marker"));
        assert_eq!(end.bytes + ringtrace::trace_file::END_CHUNK_LEN as u64, std::fs::metadata(f).unwrap().len());
        assert_eq!((end.callsites, end.threads), (1, 3), "{f:?}: the whole dictionary");
        total += end.records;
        lost += end.loss_records;
    }
    assert_eq!((total, lost), (records, losses));
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len() as u64, records - losses, "every event once");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_over_the_chunk_limit_is_cut_at_record_boundaries() {
    let dir = tempdir("big");
    let path = dir.join("t.rtrace");
    let mut s = sink(&path, Rotation { max_bytes: 0, max_files: 0 });
    let big: Vec<u8> = (0..50_000u64).flat_map(|i| record(EVENT, 2 * i, i)).collect();
    assert!(big.len() > MAX_RECORDS_CHUNK);
    let small: Vec<u8> = (0..10u64).flat_map(|i| record(EVENT, 20_000 * i + 1, 1_000_000 + i)).collect();
    let (t1, t2) = (thread(1), thread(2));
    let runs = [
        RawRun { thread: &t1, records: &big, events: 50_000, losses: 0 },
        RawRun { thread: &t2, records: &small, events: 10, losses: 0 },
    ];
    let table = callsites();
    s.write_raw(&RawBatch::new(&runs, &table, &[1], &clock())).unwrap();
    s.stop().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut at = FILE_HEADER_LEN;
    let mut run_chunks = 0;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if bytes[at] == 5 {
            run_chunks += 1;
            assert!(len <= RUN_HEADER_LEN + MAX_RECORDS_CHUNK, "{len}");
        }
        at += 8 + len;
    }
    assert_eq!(run_chunks, 3);
    let (got, stats) = read(&path);
    assert_eq!(stats.records, 50_010);
    assert!(got.windows(2).all(|w| w[0].1 <= w[1].1), "merged");
    assert_eq!(got.iter().filter(|r| r.0 == 2).count(), 10);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_raw_batch_that_could_not_be_written_describes_nothing_and_its_descriptions_come_again() {
    let dir = tempdir("retry");
    let path = dir.join("t.rtrace");
    let mut table = callsites();
    table.insert(CallsiteInfo::new(2, Level::Warn, "app", "m", "f.rs", 2, "w {}", vec![]));
    let clock = clock();
    let (t1, t2) = (thread(1), thread(2));
    let with_callsite = |id: u32, ts: u64, v: u64| {
        let mut r = record(EVENT, ts, v);
        r[4..8].copy_from_slice(&id.to_le_bytes());
        r
    };
    let a: Vec<u8> = (0..20).flat_map(|i| with_callsite(1, i, i)).collect();
    let b: Vec<u8> = (0..20).flat_map(|i| with_callsite(2, 100 + i, 100 + i)).collect();
    let mut s = sink(&path, Rotation { max_bytes: 1000, max_files: 1 });
    s.write_raw(&RawBatch::new(&[RawRun { thread: &t1, records: &a, events: 20, losses: 0 }], &table, &[1], &clock))
        .unwrap();
    // The next unit rotates; deleting `t.rtrace.1` (a non-empty directory) fails.
    std::fs::create_dir(dir.join("t.rtrace.1")).unwrap();
    std::fs::write(dir.join("t.rtrace.1").join("x"), b"").unwrap();
    let run2 = [RawRun { thread: &t2, records: &b, events: 20, losses: 0 }];
    assert!(s.write_raw(&RawBatch::new(&run2, &table, &[2], &clock)).is_err());
    std::fs::remove_dir_all(dir.join("t.rtrace.1")).unwrap();
    // Callsite 2 is not announced again, thread 2 is not new to the drain: both are described.
    s.write_raw(&RawBatch::new(&run2, &table, &[], &clock)).unwrap();
    s.stop().unwrap();
    let mut r = TraceReader::open(&path).unwrap();
    let mut lines = Vec::new();
    let stats = r
        .for_each_batch(|b| {
            for ev in b.iter() {
                lines.push(format!("{} {} {:?}", ev.thread().name, ev.message(), ev.level()));
            }
        })
        .unwrap();
    assert_eq!(lines.len(), 20);
    assert_eq!(lines[0], "t2 w 100 Some(Warn)");
    let end = stats.end.unwrap();
    assert_eq!((end.callsites, end.threads, end.records), (2, 2, 20), "the whole dictionary, this file's records");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The format-1 fixture: the CLI's test workload (threads, nested spans, a loss record),
/// written by `ringtrace workload` at bb04934, before the bulk path; and what that version's
/// `ringtrace decode --format jsonl` printed for it.
const FORMAT1_TRACE: &[u8] = include_bytes!("fixtures/format1-workload.rtrace");
const FORMAT1_JSONL: &str = include_str!("fixtures/format1-workload.jsonl");

#[test]
fn a_format_1_trace_reads_exactly_as_the_old_reader_printed_it() {
    assert_eq!(u16::from_le_bytes([FORMAT1_TRACE[8], FORMAT1_TRACE[9]]), 1);
    let mut r = TraceReader::new(FORMAT1_TRACE).unwrap();
    assert_eq!(r.version(), 1);
    let mut json = String::new();
    let mut text = String::new();
    let stats = r
        .for_each_batch(|b| {
            for ev in b.iter() {
                render_json(&ev, &mut json);
                render_text(&ev, &mut text);
            }
        })
        .unwrap();
    assert_eq!(json, FORMAT1_JSONL);
    assert_eq!(text.lines().count(), 413);
    let end = stats.end.expect("complete");
    assert_eq!((end.records, end.loss_records, end.callsites, end.threads), (413, 1, 16, 5));
}

/// Simulates the drain's raw path with real records: the drain hands this sink decoded
/// batches; it regroups each batch per thread, in order, into ring-shaped runs and gives them
/// to a binary sink as one raw batch.
struct RawFromBatches {
    inner: BinarySink,
    announced: HashSet<u32>,
}

impl Sink for RawFromBatches {
    fn name(&self) -> &str {
        "raw-binary"
    }
    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("raw-binary", env!("CARGO_PKG_VERSION"))
    }
    fn start(&mut self, ctx: &SinkContext<'_>) -> Result<(), SinkError> {
        self.inner.start(ctx)
    }
    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut order: Vec<u64> = Vec::new();
        let mut per: HashMap<u64, (ThreadInfo, Vec<u8>, u32, u32)> = HashMap::new();
        let mut new = Vec::new();
        for ev in batch.iter() {
            let t = ev.thread();
            let e = per.entry(t.id).or_insert_with(|| {
                order.push(t.id);
                (t.clone(), Vec::new(), 0, 0)
            });
            let rec = ev.record_bytes();
            e.1.extend_from_slice(rec);
            e.1.resize(e.1.len().div_ceil(8) * 8, 0);
            if ev.kind() == RecordKind::Loss {
                e.3 += 1;
            } else {
                e.2 += 1;
            }
            if ev.kind() == RecordKind::Event && self.announced.insert(ev.id()) {
                new.push(ev.id());
            }
        }
        let runs: Vec<RawRun<'_>> = order
            .iter()
            .map(|id| {
                let (t, bytes, events, losses) = &per[id];
                RawRun { thread: t, records: bytes, events: *events, losses: *losses }
            })
            .collect();
        self.inner.write_raw(&RawBatch::new(&runs, batch.callsites(), &new, batch.clock()))
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }
    fn stop(&mut self) -> Result<(), SinkError> {
        self.inner.stop()
    }
}

#[test]
fn live_records_written_raw_decode_to_what_the_drain_delivered() {
    let _serial = common::serial();
    let dir = tempdir("live");
    let path = dir.join("live.rtrace");
    let collect = common::Collect::new("mem");
    let guard = Builder::new()
        .ignore_env()
        .ring_size(4096)
        .ring_count(64)
        .max_record_size(1024)
        .policy(Policy::Block { timeout: Duration::from_secs(30) })
        .diagnostics(DiagnosticSink::Off)
        .sink(collect.clone())
        .sink(RawFromBatches {
            inner: BinarySink::file(&path, Rotation { max_bytes: 0, max_files: 0 }).unwrap(),
            announced: HashSet::new(),
        })
        .install()
        .unwrap();
    let workers: Vec<_> = (0..3u64)
        .map(|w| {
            std::thread::Builder::new()
                .name(format!("w{w}"))
                .spawn(move || {
                    for i in 0..2000u64 {
                        let _ctx = ringtrace::with_context!(req = i);
                        ringtrace::info!(worker = w, "step {} of {}", i, "two thousand");
                        if i % 500 == 0 {
                            ringtrace::record_bytes(7, &i.to_le_bytes());
                        }
                    }
                })
                .unwrap()
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let report = guard.shutdown(Duration::from_secs(30));
    assert!(!report.timed_out);
    let seen = collect.events();
    let mut texts = Vec::new();
    let mut keys = Vec::new();
    let mut last_key: HashMap<String, u64> = HashMap::new();
    TraceReader::open(&path)
        .unwrap()
        .for_each_batch(|b| {
            for ev in b.iter() {
                let mut s = String::new();
                render_text(&ev, &mut s);
                texts.push((ev.thread().name.clone(), s));
                let k = last_key.entry(ev.thread().name.clone()).or_insert(0);
                *k = (*k).max(ev.ticks());
                keys.push(*k);
            }
        })
        .unwrap();
    assert_eq!(texts.len(), seen.len());
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "merged by key");
    // Each thread's records as the drain delivered them; across threads the same multiset
    // (the drain breaks ties its own way).
    for name in ["w0", "w1", "w2"] {
        let file: Vec<&String> = texts.iter().filter(|t| t.0 == name).map(|t| &t.1).collect();
        let live: Vec<&String> = seen.iter().filter(|s| s.thread == name).map(|s| &s.text).collect();
        assert_eq!(file.len(), 2004);
        assert_eq!(file, live, "thread {name}");
    }
    let mut a: Vec<&String> = texts.iter().map(|t| &t.1).collect();
    let mut b: Vec<&String> = seen.iter().map(|s| &s.text).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let _ = std::fs::remove_dir_all(&dir);
}
