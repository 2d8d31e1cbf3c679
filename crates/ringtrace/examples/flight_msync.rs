//! What the flight recorder's pool file costs (docs/flight-recorder.md).
//!
//! ```text
//! cargo run --release -p ringtrace --example flight_msync [-- DIR]
//! cargo run --release -p ringtrace --example flight_msync -- --crash DIR
//! ```
//!
//! 1. **Recording**: CPU ns per event with an anonymous pool and with a pool file, in
//!    flight-recorder mode and in the normal mode (the drain takes the records), `DropOldest`,
//!    no sinks, on one and on four threads. Each round records exactly one quota of rings per
//!    thread, so the *first* round of a runtime touches every page of the thread's rings for
//!    the first time (page faults: zero-fill for anonymous memory, page-cache allocation for
//!    the file); *steady* rounds rewrite pages already mapped and dirty (in flight-recorder
//!    mode each ring swap reclaims the thread's oldest ring); *after sync* rounds follow a
//!    [`Guard::sync`](ringtrace::Guard::sync), which cleaned every page of the file, so the
//!    first write to each page takes a write fault again (for the anonymous pool `sync` does
//!    nothing: those rounds are a control). The cost is each recording thread's own CPU time
//!    (`CLOCK_THREAD_CPUTIME_ID`), so time spent waiting for a CPU on a busy machine does not
//!    count; the drain thread's CPU time per event and how often producers woke it are shown
//!    beside it. Medians over several rounds and three runtimes.
//! 2. **`Guard::sync`** (`msync(MS_SYNC)` of the whole file), wall time, after recording 0, 1, 4
//!    and 16 MiB of records, on the file system of DIR (default: the workspace's `target/`
//!    directory; a tmpfs directory would make it free and is reported).
//!
//! `--crash DIR` instead runs a small flight recorder (the preset, pool in
//! `DIR/ringtrace.flight`) with three named threads, takes a snapshot, has one thread catch a
//! panic (the panic hook records it), and aborts the process, leaving the pool file for
//! `ringtrace recover DIR/ringtrace.flight -o OUT`.

use ringtrace::{Builder, DiagnosticSink, Guard, Policy, Preset};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// The event every measurement records: two `u64` arguments (a typical small event).
#[inline(never)]
fn record(i: u64, thread: u64) {
    ringtrace::info!("tick {} on {}", i, thread);
}

const MIB: usize = 1 << 20;
/// Recording rounds: rings of 256 KiB, 16 per thread (4 MiB of records per thread per round:
/// long enough to time, and the page-fault share per event does not depend on the ring size).
const REC_RING_SIZE: usize = 256 * 1024;
const REC_QUOTA: usize = 16;
const REC_RING_COUNT: u32 = 128;
/// Runtimes per row; each gives one first round.
const INSTALLS: usize = 3;
const STEADY_ROUNDS: usize = 4;
const SYNC_ROUNDS: usize = 3;
/// The sync measurement's pool: 48 rings of 1 MiB, all available to one thread.
const SYNC_RING_SIZE: usize = MIB;
const SYNC_RING_COUNT: u32 = 48;
const SYNC_SIZES_MIB: [usize; 3] = [1, 4, 16];
const SYNC_REPS: usize = 5;

/// This thread's CPU time in ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Minor page faults this thread has taken (/proc/thread-self/stat, field 10).
fn thread_minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // After the command name (which may hold spaces): state, ppid, pgrp, session, tty_nr,
    // tpgid, flags, minflt.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(7)?.parse().ok()).unwrap_or(0)
}

/// CPU time (ns) of this process's thread named `name`, from /proc (exact unless the thread
/// is running right now, then up to a scheduler tick behind).
fn named_thread_cpu_ns(name: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            return stat.split(' ').next()?.parse().ok();
        }
    }
    None
}

/// CPU ns of one `ringtrace::now_ticks()` (the timestamp of every record; on a VM it can be
/// most of an event's cost).
fn clock_read_ns() -> f64 {
    const N: u64 = 1_000_000;
    let mut sink = 0u64;
    let c0 = thread_cpu_ns();
    for _ in 0..N {
        sink = sink.wrapping_add(ringtrace::now_ticks());
    }
    let ns = (thread_cpu_ns() - c0) as f64 / N as f64;
    std::hint::black_box(sink);
    ns
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The mount holding `dir`, from /proc/self/mountinfo: (mount point, fs type, source).
fn filesystem_of(dir: &Path) -> Option<(String, String, String)> {
    let dir = dir.canonicalize().ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(usize, String, String, String)> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else { continue };
        if f.len() < 5 || f.len() < sep + 3 {
            continue;
        }
        let mount = f[4].replace("\\040", " ");
        if dir.starts_with(&mount) {
            let depth = Path::new(&mount).components().count();
            // `>=`: a later mount over the same point hides the earlier one.
            if best.as_ref().is_none_or(|b| depth >= b.0) {
                best = Some((depth, mount, f[sep + 1].to_string(), f[sep + 2].to_string()));
            }
        }
    }
    best.map(|(_, m, t, s)| (m, t, s))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpus} CPUs ({cpu}), Linux {}", kernel.trim())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "?".into(), |l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
}

/// A runtime with the measurement's settings (`DropOldest`, no sinks); `pool` is the pool
/// file, if any; `flight`: flight-recorder mode (else the drain takes and discards records).
fn install(flight: bool, pool: Option<&Path>, ring_size: usize, ring_count: u32, quota: usize) -> Guard {
    let mut b = Builder::new()
        .ignore_env()
        .flight_recorder(flight)
        .policy(Policy::DropOldest)
        .ring_size(ring_size)
        .ring_count(ring_count)
        .max_rings_per_thread(quota)
        // DropOldest moves threads through DROPPING at every reclaim: not news here.
        .diagnostics(DiagnosticSink::Off);
    if let Some(p) = pool {
        b = b.pool_file(p);
    }
    b.install().unwrap_or_else(|e| panic!("install failed: {e}"))
}

/// Shuts down and checks the accounting: every event attempted is delivered (here: to no
/// sink), dropped with a reason (overwritten) or retained in the rings.
fn finish(guard: Guard, attempted: u64, what: &str) {
    let path = guard.pool_file().map(Path::to_path_buf);
    let r = guard.shutdown(Duration::from_secs(10));
    let accounted = r.recorded + r.dropped.total() + r.retained;
    if accounted != attempted {
        println!(
            "   ACCOUNTING MISMATCH ({what}): attempted {attempted}, recorded {} + dropped {} ({}) + retained {} = {accounted}",
            r.recorded,
            r.dropped.total(),
            r.dropped,
            r.retained
        );
    }
    if let Some(p) = path {
        // Unlinking drops the file's dirty pages without writing them back, so they do not
        // load the disk during the next measurements.
        let _ = std::fs::remove_file(&p);
    }
}

/// Bytes one `record` call takes in a ring (header, arguments, padding).
fn record_len() -> usize {
    let guard = install(true, None, REC_RING_SIZE, REC_RING_COUNT, REC_QUOTA);
    const N: u64 = 10_000;
    for i in 0..N {
        record(i, 0);
    }
    let used = guard.metrics().pool.used_bytes;
    finish(guard, N, "calibration");
    (used / N) as usize
}

#[derive(Default)]
struct Rounds {
    first: Vec<f64>,
    steady: Vec<f64>,
    after_sync: Vec<f64>,
    /// Minor faults per 1000 events of each kind of round.
    first_faults: Vec<f64>,
    steady_faults: Vec<f64>,
    sync_faults: Vec<f64>,
    /// Over all rounds: drain wake-ups by producers, drain CPU ns, events.
    wakeups: u64,
    drain_ns: u64,
    events: u64,
}

/// Recording rounds on `threads` threads, with `pool` as the pool file (or anonymous memory).
fn recording(flight: bool, pool: Option<&Path>, threads: usize, per_round: u64) -> Rounds {
    let mut out = Rounds::default();
    for _ in 0..INSTALLS {
        let guard = install(flight, pool, REC_RING_SIZE, REC_RING_COUNT, REC_QUOTA);
        let start = Barrier::new(threads + 1);
        let done = Barrier::new(threads + 1);
        let stop = AtomicBool::new(false);
        let cpu = Mutex::new(Vec::new());
        let mut rounds = 0u64;
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (start, done, stop, cpu) = (&start, &done, &stop, &cpu);
                    std::thread::Builder::new()
                        .name(format!("rec-{t}"))
                        .spawn_scoped(s, move || loop {
                            start.wait();
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            let (f0, c0) = (thread_minor_faults(), thread_cpu_ns());
                            for i in 0..per_round {
                                record(i, t as u64);
                            }
                            let (c1, f1) = (thread_cpu_ns(), thread_minor_faults());
                            cpu.lock().unwrap().push((c1 - c0, f1 - f0));
                            done.wait();
                        })
                        .expect("spawn")
                })
                .collect();
            // One round: start every thread, wait for all; CPU ns and minor faults (per 1000)
            // per event.
            let mut round = |sync_first: bool| -> (f64, f64) {
                if sync_first {
                    guard.sync().expect("msync");
                }
                cpu.lock().unwrap().clear();
                let wakes = guard.metrics().drain.wakeups_by_producers;
                let drain = named_thread_cpu_ns("ringtrace-drain").unwrap_or(0);
                start.wait();
                done.wait();
                out.drain_ns += named_thread_cpu_ns("ringtrace-drain").unwrap_or(0).saturating_sub(drain);
                out.wakeups += guard.metrics().drain.wakeups_by_producers - wakes;
                out.events += per_round * threads as u64;
                rounds += 1;
                let v = cpu.lock().unwrap();
                let events = (per_round * threads as u64) as f64;
                let ns: u64 = v.iter().map(|c| c.0).sum();
                let faults: u64 = v.iter().map(|c| c.1).sum();
                (ns as f64 / events, faults as f64 * 1000.0 / events)
            };
            let (ns, f) = round(false);
            out.first.push(ns);
            out.first_faults.push(f);
            for _ in 0..STEADY_ROUNDS {
                let (ns, f) = round(false);
                out.steady.push(ns);
                out.steady_faults.push(f);
            }
            for _ in 0..SYNC_ROUNDS {
                let (ns, f) = round(true);
                out.after_sync.push(ns);
                out.sync_faults.push(f);
            }
            stop.store(true, Ordering::Relaxed);
            start.wait();
            // An explicit join waits for the thread's end, thread-locals included (the
            // scope's implicit join only for its closure): the runtime sees it exit.
            for w in workers {
                w.join().expect("worker");
            }
        });
        let what = format!(
            "{} {} {threads} thread(s)",
            if flight { "flight" } else { "normal" },
            pool.map_or("anon", |_| "file")
        );
        finish(guard, rounds * per_round * threads as u64, &what);
    }
    out
}

struct SyncRow {
    label: String,
    /// CPU ns per event of the recording before the sync.
    record_ns: Vec<f64>,
    sync_ms: Vec<f64>,
    mib: usize,
}

/// `Guard::sync` after recording 0, 1, 4, 16 MiB on this thread.
fn sync_costs(pool: &Path, rec_len: usize) -> (u64, f64, Vec<SyncRow>) {
    let guard = install(true, Some(pool), SYNC_RING_SIZE, SYNC_RING_COUNT, SYNC_RING_COUNT as usize);
    let file_len = std::fs::metadata(pool).map_or(0, |m| m.len());
    let mut attempted = 0u64;
    let mut write = |mib: usize| -> f64 {
        let n = (mib * MIB / rec_len) as u64;
        let c0 = thread_cpu_ns();
        for i in 0..n {
            record(i, 0);
        }
        attempted += n;
        (thread_cpu_ns() - c0) as f64 / n as f64
    };
    let timed_sync = || {
        let t = Instant::now();
        guard.sync().expect("msync");
        ms(t.elapsed())
    };
    // Fill the whole pool once: its blocks go from reserved (unwritten extents) to written.
    // Later syncs rewrite blocks that exist, as in a flight recorder that runs for a while.
    write(SYNC_RING_SIZE * SYNC_RING_COUNT as usize / MIB);
    let initial = timed_sync();
    let mut rows = Vec::new();
    let mut idle = SyncRow { label: "nothing dirty".into(), record_ns: vec![], sync_ms: vec![], mib: 0 };
    for _ in 0..SYNC_REPS {
        idle.sync_ms.push(timed_sync());
    }
    rows.push(idle);
    for mib in SYNC_SIZES_MIB {
        let mut row = SyncRow { label: format!("{mib} MiB recorded"), record_ns: vec![], sync_ms: vec![], mib };
        for _ in 0..SYNC_REPS {
            row.record_ns.push(write(mib));
            row.sync_ms.push(timed_sync());
        }
        rows.push(row);
    }
    finish(guard, attempted, "sync");
    (file_len, initial, rows)
}

/// `--crash DIR`: a flight recorder that dies, for `ringtrace recover`.
fn crash(dir: &Path) -> ! {
    std::fs::create_dir_all(dir).expect("create the directory");
    let (builder, _) = Builder::new()
        .preset(Preset::FlightRecorder)
        .preset_sinks(Preset::FlightRecorder, dir)
        .expect("the preset's sinks");
    let guard = builder.install().unwrap_or_else(|e| panic!("install failed: {e}"));
    ringtrace::flight::install_panic_hook();
    let recorded = std::sync::Arc::new(Barrier::new(4));
    for (t, events) in [(0u64, 1_000u64), (1, 30_000), (2, 200_000)] {
        let recorded = recorded.clone();
        std::thread::Builder::new()
            .name(format!("worker-{t}"))
            .spawn(move || {
                for i in 0..events {
                    ringtrace::info!(order = i, "order {} filled by worker {}", i, t);
                }
                if t == 0 {
                    // A task that panics, caught as a thread pool would: the hook records it
                    // (and syncs the pool file) and the thread lives on.
                    let r = std::panic::catch_unwind(|| {
                        let v: Vec<u32> = Vec::new();
                        v[3]
                    });
                    ringtrace::warn!("task failed: {}", r.is_err());
                }
                recorded.wait();
                // Alive, with its records in the pool, until the process dies.
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn");
    }
    recorded.wait();
    let snap = ringtrace::snapshot(dir.join("before-crash.rtrace")).expect("snapshot");
    eprintln!(
        "snapshot: {} records of {} threads, {} bytes in {}",
        snap.records,
        snap.threads,
        snap.bytes,
        snap.path.display()
    );
    ringtrace::error!("aborting now");
    eprintln!("pool file {}; aborting", guard.pool_file().expect("a pool file").display());
    std::process::abort()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--crash") {
        crash(Path::new(&args.next().expect("--crash DIR")));
    }
    let dir = first
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/flight-msync"));
    std::fs::create_dir_all(&dir).expect("create the directory");
    println!("machine: {}; load average {}", machine(), load_average());
    match filesystem_of(&dir) {
        Some((mount, fstype, source)) => {
            println!("directory: {} on {fstype} ({source} mounted at {mount})", dir.display());
            if fstype == "tmpfs" || fstype == "ramfs" {
                println!("WARNING: {fstype} keeps the file in memory: msync costs nothing here; use a disk directory");
            }
        }
        None => println!("directory: {} (file system unknown)", dir.display()),
    }
    let pool = dir.join("bench.flight");
    let started = Instant::now();

    let rec_len = record_len();
    let per_round = (REC_RING_SIZE * REC_QUOTA / rec_len) as u64;
    println!(
        "\n1. recording `info!(\"tick {{}} on {{}}\", u64, u64)` ({rec_len} bytes a record), DropOldest, no sinks; \
         rounds of {per_round} events per thread (its {REC_QUOTA} rings of {} KiB once)",
        REC_RING_SIZE / 1024
    );
    println!(
        "   recording threads' CPU ns/event (and minor page faults per 1000 events): median of {INSTALLS} first \
         rounds, {} steady rounds, {} rounds right after Guard::sync;",
        INSTALLS * STEADY_ROUNDS,
        INSTALLS * SYNC_ROUNDS
    );
    println!("   drain: its CPU ns per event and producer wake-ups per 1000 events, over all rounds");
    println!(
        "   (one ringtrace::now_ticks() clock read, which every event makes, costs {:.1} ns here)",
        clock_read_ns()
    );
    println!(
        "   {:<7} {:>7} {:>5} {:>15} {:>15} {:>15} {:>9} {:>8}",
        "mode", "threads", "pool", "first", "steady", "after sync", "drain ns", "wake/1k"
    );
    for (mode, flight) in [("flight", true), ("normal", false)] {
        for threads in [1, 4] {
            for (name, file) in [("anon", None), ("file", Some(pool.as_path()))] {
                let mut r = recording(flight, file, threads, per_round);
                let cell = |ns: &mut Vec<f64>, f: &mut Vec<f64>| format!("{:.1} ({:.1})", median(ns), median(f));
                println!(
                    "   {:<7} {:>7} {:>5} {:>15} {:>15} {:>15} {:>9.1} {:>8.2}",
                    mode,
                    threads,
                    name,
                    cell(&mut r.first, &mut r.first_faults),
                    cell(&mut r.steady, &mut r.steady_faults),
                    cell(&mut r.after_sync, &mut r.sync_faults),
                    r.drain_ns as f64 / r.events as f64,
                    r.wakeups as f64 * 1000.0 / r.events as f64
                );
            }
        }
    }

    let (file_len, initial, rows) = sync_costs(&pool, rec_len);
    println!(
        "\n2. Guard::sync (msync MS_SYNC of the whole {:.1} MiB pool file), wall ms, one thread, flight-recorder mode; \
         median of {SYNC_REPS} (min–max)",
        file_len as f64 / MIB as f64
    );
    println!("   first sync after filling all {} MiB of fresh rings: {initial:.1} ms", SYNC_RING_COUNT as usize);
    println!("   {:<16} {:>14} {:>22} {:>9}", "", "record ns/ev", "sync ms", "MiB/s");
    for mut row in rows {
        let rec = if row.record_ns.is_empty() { "-".to_string() } else { format!("{:.1}", median(&mut row.record_ns)) };
        let med = median(&mut row.sync_ms);
        let (lo, hi) = (row.sync_ms[0], row.sync_ms[row.sync_ms.len() - 1]);
        let rate = if row.mib == 0 { "-".to_string() } else { format!("{:.0}", row.mib as f64 / (med / 1e3)) };
        println!("   {:<16} {:>14} {:>22} {:>9}", row.label, rec, format!("{med:.2} ({lo:.2}–{hi:.2})"), rate);
    }
    println!("\ntotal {:.1} s; load average {}", started.elapsed().as_secs_f64(), load_average());
}
