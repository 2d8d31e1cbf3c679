//! Drives [`BinarySink::write_raw`] outside a runtime with synthetic ring bytes, to measure
//! the binary sink's side of the drain's bulk path (issue 17 item 2).
//!
//! ```text
//! cargo run --release -p ringtrace --example binary_raw -- [PASSES] [PASS_BYTES] [THREADS]
//! cargo run --release -p ringtrace --example binary_raw -- --compare
//! ```
//!
//! The first form writes `PASSES` raw batches (default 2000) of `THREADS` runs (default 1)
//! of `PASS_BYTES` bytes each (default 65536, one default ring) of the benchmark event — three
//! u64 arguments, a 43-byte record padded to 48 — to a trace file in the temporary
//! directory, and prints the time per event. Under callgrind, count `write_raw` alone:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='*write_raw*' \
//!     target/release/examples/binary_raw 200 65536
//! ```
//!
//! and divide the instructions by the events it prints. `--compare` times, for batches of
//! 1–256 KiB, copying each batch into a 64 KiB or 1 MiB buffer written when full against one
//! `writev` per batch: where they cross is [`VECTORED_COPY_BELOW`](ringtrace::sinks::rotate::VECTORED_COPY_BELOW).

use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::BinarySink;
use ringtrace::{CallsiteInfo, CallsiteTable, ClockCalibration, Config, Level, RawBatch, RawRun, Sink, SinkContext};
use ringtrace::{ThreadInfo, HEADER_LEN};
use std::io::{IoSlice, Write};
use std::time::Instant;

/// The benchmark event as it lies in a ring: header, three tagged u64 values, padding.
fn record(ts: u64) -> [u8; 48] {
    let mut r = [0u8; 48];
    let size = (HEADER_LEN + 3 * 9) as u16;
    r[0..2].copy_from_slice(&size.to_le_bytes());
    r[2..4].copy_from_slice(&1u16.to_le_bytes());
    r[4..8].copy_from_slice(&1u32.to_le_bytes());
    r[8..16].copy_from_slice(&ts.to_le_bytes());
    for (i, v) in [7u64, 42, ts].iter().enumerate() {
        let at = HEADER_LEN + 9 * i;
        r[at] = 4;
        r[at + 1..at + 9].copy_from_slice(&v.to_le_bytes());
    }
    r
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--compare") {
        compare();
        return;
    }
    let num = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (passes, pass_bytes, threads) = (num(0, 2000), num(1, 65536), num(2, 1));
    let per_run = pass_bytes / 48;
    let runs_bytes: Vec<Vec<u8>> =
        (0..threads).map(|t| (0..per_run).flat_map(|i| record((i * threads + t) as u64)).collect()).collect();
    let infos: Vec<ThreadInfo> =
        (0..threads).map(|t| ThreadInfo { id: t as u64 + 1, name: format!("p{t}"), os_tid: 0 }).collect();
    let runs: Vec<RawRun<'_>> = (0..threads)
        .map(|t| RawRun { thread: &infos[t], records: &runs_bytes[t], events: per_run as u32, losses: 0 })
        .collect();
    let mut table = CallsiteTable::new();
    table.insert(CallsiteInfo::new(1, Level::Info, "bench", "m", "f.rs", 1, "a={} b={} c={}", vec![]));
    let clock = ClockCalibration::new(0, 0, 1_000_000_000);
    let path = std::env::temp_dir().join(format!("ringtrace-binary-raw-{}.rtrace", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut sink = BinarySink::file(&path, Rotation { max_bytes: 0, max_files: 0 }).expect("open");
    sink.start(&SinkContext::new(&clock, &Config::default())).expect("start");
    sink.write_raw(&RawBatch::new(&runs, &table, &[1], &clock)).expect("write");
    let start = Instant::now();
    for _ in 1..passes {
        sink.write_raw(&RawBatch::new(&runs, &table, &[], &clock)).expect("write");
    }
    let secs = start.elapsed().as_secs_f64();
    sink.stop().expect("stop");
    let events = ((passes - 1) * per_run * threads) as f64;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{passes} raw batches of {threads} x {per_run} events ({} bytes each): {:.2} ns/event, {:.0} MB/s, {bytes} bytes written",
        per_run * 48,
        secs * 1e9 / events,
        events * 48.0 / secs / 1e6
    );
    let _ = std::fs::remove_file(&path);
}

/// Copy into a 64 KiB buffer (written when full) against one `writev` per batch.
fn compare() {
    let path = std::env::temp_dir().join(format!("ringtrace-binary-raw-cmp-{}", std::process::id()));
    let total = 256usize << 20;
    for kib in [1usize, 4, 16, 64, 256, 512, 1024] {
        let batch = vec![5u8; kib << 10];
        let header = [0u8; 32];
        let n = total / batch.len();
        let mut best = [f64::MAX; 3];
        for _ in 0..3 {
            for (mode, best) in best.iter_mut().enumerate() {
                let mut f = std::fs::File::create(&path).expect("create");
                let cap = if mode == 0 { 64 << 10 } else { 1 << 20 };
                let mut buf: Vec<u8> = Vec::with_capacity(cap);
                let t = Instant::now();
                for _ in 0..n {
                    if mode < 2 {
                        if buf.len() + batch.len() + 32 > cap {
                            f.write_all(&buf).expect("write");
                            buf.clear();
                        }
                        buf.extend_from_slice(&header);
                        buf.extend_from_slice(&batch);
                    } else {
                        let mut iov = [IoSlice::new(&header), IoSlice::new(&batch)];
                        let mut iov = &mut iov[..];
                        while !iov.is_empty() {
                            let w = f.write_vectored(iov).expect("writev");
                            IoSlice::advance_slices(&mut iov, w);
                        }
                    }
                }
                f.write_all(&buf).expect("write");
                *best = best.min(t.elapsed().as_secs_f64() * 1e9 / n as f64);
            }
        }
        println!(
            "{kib:>3} KiB batches: copy into 64 KiB {:>8.0} ns/batch, into 1 MiB {:>8.0} ns/batch, writev {:>8.0} ns/batch",
            best[0], best[1], best[2]
        );
    }
    let _ = std::fs::remove_file(&path);
}
