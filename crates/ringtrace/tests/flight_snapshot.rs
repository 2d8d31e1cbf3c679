//! Flight-recorder snapshots (issue 8, acceptance 3): a snapshot taken while four threads flood
//! a `DropOldest` flight recorder holds every thread's newest events, in order, without
//! stopping recording; and every event is delivered, dropped with a reason, or retained.
#![cfg(not(feature = "loom"))]

use ringtrace::trace_file::TraceReader;
use ringtrace::{DropReason, Policy, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One runtime per process at a time: the tests of this file take turns.
static ONE_RUNTIME: Mutex<()> = Mutex::new(());

/// A small `DropOldest` flight recorder (4 KiB rings), configured in code only.
fn flight_recorder(rings: u32, per_thread: usize) -> ringtrace::Builder {
    ringtrace::Builder::new()
        .ignore_env()
        .ring_size(4096)
        .max_record_size(1024)
        .ring_count(rings)
        .max_rings_per_thread(per_thread)
        .policy(Policy::DropOldest)
        .flight_recorder(true)
}

const THREADS: usize = 4;

fn u64_field(ev: &ringtrace::Event<'_>, name: &str) -> Option<u64> {
    ev.fields().find(|(n, _)| *n == name).and_then(|(_, v)| match v {
        Value::U64(x) => Some(x),
        Value::U32(x) => Some(x as u64),
        _ => None,
    })
}

/// Per logical thread (the `t` field), the `seq` values of a trace in the order read.
fn seqs_by_thread(trace: &[u8]) -> BTreeMap<u64, Vec<u64>> {
    read(trace).0
}

/// `seqs_by_thread`, and the number of loss records.
fn read(trace: &[u8]) -> (BTreeMap<u64, Vec<u64>>, u64) {
    let mut reader = TraceReader::new(trace).expect("the snapshot is a trace");
    let mut out: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut losses = 0;
    reader
        .for_each_batch(|batch| {
            for ev in batch.iter() {
                if ev.kind() == ringtrace::RecordKind::Loss {
                    losses += 1;
                    continue;
                }
                let (Some(t), Some(seq)) = (u64_field(&ev, "t"), u64_field(&ev, "seq")) else {
                    panic!("an event without its fields: {}", ev.message());
                };
                assert_eq!(ev.message(), format!("flood {seq}"), "the record decodes whole");
                out.entry(t).or_default().push(seq);
            }
        })
        .expect("the snapshot reads to the end");
    (out, losses)
}

#[test]
fn snapshot_during_a_drop_oldest_flood_has_every_threads_newest_events() {
    let _one = ONE_RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("rt-flight-snap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let guard = flight_recorder(32, 4).pool_file(dir.join("pool.flight")).install().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    // Per thread: how many events it has recorded (the last one is `done - 1`).
    let done: Arc<Vec<AtomicU64>> = Arc::new((0..THREADS).map(|_| AtomicU64::new(0)).collect());
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::Builder::new()
                .name(format!("flood-{t}"))
                .spawn(move || {
                    let mut seq = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        ringtrace::info!(t = t as u64, seq = seq, "flood {}", seq);
                        seq += 1;
                        // Release: the snapshot taken after reading this must contain event
                        // `seq - 1` or newer ones of this thread.
                        done[t].store(seq, Ordering::Release);
                    }
                })
                .unwrap()
        })
        .collect();

    // Let every thread overwrite its rings several times over (4 rings of ~4 KiB hold about
    // 300 of these events).
    while done.iter().any(|d| d.load(Ordering::Acquire) < 20_000) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let before: Vec<u64> = done.iter().map(|d| d.load(Ordering::Acquire)).collect();
    let snap = dir.join("now.rtrace");
    // A file already at the path (here world-readable) is replaced by a private one.
    std::fs::write(&snap, b"old").unwrap();
    let report = ringtrace::snapshot(&snap).expect("snapshot");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&snap).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!dir.join("now.rtrace.partial").exists());
    }
    // Recording did not stop: the threads went on during and after the snapshot.
    let after_snapshot: Vec<u64> = done.iter().map(|d| d.load(Ordering::Acquire)).collect();
    std::thread::sleep(Duration::from_millis(5));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let total: u64 = done.iter().map(|d| d.load(Ordering::Relaxed)).sum();
    assert!(done.iter().zip(&after_snapshot).any(|(d, a)| d.load(Ordering::Relaxed) > *a));

    let trace = std::fs::read(&snap).unwrap();
    assert_eq!(report.bytes, trace.len() as u64);
    let (seqs, losses) = read(&trace);
    assert!(losses > 0, "the overwritten events are reported by loss records");
    assert_eq!(seqs.len(), THREADS, "every thread is in the snapshot: {:?}", seqs.keys());
    let mut in_snapshot = 0;
    for (t, s) in &seqs {
        let t = *t as usize;
        in_snapshot += s.len() as u64;
        assert!(s.windows(2).all(|w| w[0] < w[1]), "thread {t}: its events in recording order, each once");
        let newest = *s.last().unwrap();
        assert!(
            newest + 1 >= before[t],
            "thread {t}: the snapshot's newest event is {newest}, but {} had been recorded before it was asked for",
            before[t] - 1
        );
        assert!(
            s[0] > 0,
            "thread {t}: its oldest events were overwritten (DropOldest), the snapshot starts at {}",
            s[0]
        );
        // The newest events: a thread's events in the snapshot lie within its last few rings.
        assert!(newest - s[0] < 2_000, "thread {t}: {} .. {newest} is not the newest window", s[0]);
    }
    assert_eq!(report.records, in_snapshot + losses);
    assert_eq!(report.threads, THREADS as u64);

    let r = guard.shutdown(Duration::from_secs(10));
    assert!(r.dropped.get(DropReason::Overwritten) > 0, "the flood overwrote old events");
    // Exact accounting: each event was delivered (the threads exited, so their rings went to
    // the sinks, of which there are none), dropped with a reason, or retained in the pool.
    assert_eq!(r.recorded + r.dropped.total() + r.retained, total, "{r:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn flight_recorder_without_sinks_keeps_live_threads_records_in_the_pool_at_shutdown() {
    let _one = ONE_RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("rt-flight-keep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pool = dir.join("pool.flight");
    let guard = flight_recorder(16, 4).pool_file(&pool).install().unwrap();
    for seq in 0..100u64 {
        ringtrace::info!(t = 0u64, seq = seq, "flood {}", seq);
    }
    // The drain leaves them alone: a snapshot taken twice has them both times.
    for name in ["a.rtrace", "b.rtrace"] {
        let r = ringtrace::snapshot(dir.join(name)).unwrap();
        assert_eq!(r.records, 100);
    }
    let r = guard.shutdown(Duration::from_secs(5));
    assert_eq!((r.recorded, r.dropped.total(), r.retained), (0, 0, 100), "{r:?}");
    // ... and the pool file still holds them after the clean shutdown.
    let (trace, found) = ringtrace::flight::recover(&std::fs::read(&pool).unwrap()).unwrap();
    assert!(found.clean_shutdown);
    assert_eq!(seqs_by_thread(&trace)[&0], (0..100).collect::<Vec<_>>());
    // The earlier file is moved aside, not overwritten, when the next run starts.
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_size(4096)
        .max_record_size(1024)
        .ring_count(4)
        .max_rings_per_thread(2)
        .pool_file(&pool)
        .install()
        .unwrap();
    drop(guard);
    let mut prev = pool.clone().into_os_string();
    prev.push(".prev");
    let (trace, _) = ringtrace::flight::recover(&std::fs::read(&prev).unwrap()).unwrap();
    assert_eq!(seqs_by_thread(&trace)[&0].len(), 100);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn snapshot_without_a_runtime_says_so() {
    let _one = ONE_RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    let err = ringtrace::snapshot(std::env::temp_dir().join("never-written.rtrace")).unwrap_err();
    assert!(matches!(err, ringtrace::flight::SnapshotError::NotInstalled), "{err}");
}

#[test]
fn the_panic_hook_records_the_panic_with_its_location() {
    let _one = ONE_RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("rt-flight-panic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let guard = flight_recorder(8, 2).install().unwrap();
    ringtrace::flight::install_panic_hook();
    // The panicking thread stays alive until the snapshot is taken (the hook's record is what
    // is checked here, not how long an exited thread's rings are kept).
    let (snapped, wait) = std::sync::mpsc::channel::<()>();
    let (panicked, caught) = std::sync::mpsc::channel::<bool>();
    let line = line!() + 4;
    let doomed = std::thread::Builder::new()
        .name("doomed".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(|| panic!("the reactor is on fire"));
            panicked.send(r.is_err()).unwrap();
            let _ = wait.recv();
        })
        .unwrap();
    assert!(caught.recv().unwrap());
    ringtrace::snapshot(dir.join("after.rtrace")).unwrap();
    snapped.send(()).unwrap();
    doomed.join().unwrap();
    let trace = std::fs::read(dir.join("after.rtrace")).unwrap();
    let mut found = Vec::new();
    TraceReader::new(&trace[..])
        .unwrap()
        .for_each_batch(|b| {
            for ev in b.iter() {
                if ev.target() == "ringtrace::panic" {
                    found.push((ev.level(), ev.thread().name.clone(), ev.message()));
                }
            }
        })
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let (level, thread, message) = &found[0];
    assert_eq!(*level, Some(ringtrace::Level::Error));
    assert_eq!(thread, "doomed");
    assert!(message.contains("the reactor is on fire"), "{message}");
    assert!(message.contains(&format!("flight_snapshot.rs:{line}:")), "{message}");
    drop(guard);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `snapshot_on_signal`: a `SIGUSR2` sent to the process makes the drain write a snapshot into
/// the directory, and say so in the diagnostics; signals that are not for this, or already
/// handled by the program, are refused.
#[test]
fn a_signal_triggers_a_snapshot() {
    use ringtrace::flight::{snapshot_on_signal, SignalError};
    let _one = ONE_RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("rt-flight-signal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    assert!(matches!(snapshot_on_signal(libc::SIGTERM, &dir), Err(SignalError::Unsupported(n)) if n == libc::SIGTERM));
    assert!(matches!(snapshot_on_signal(libc::SIGUSR2, dir.join("missing")), Err(SignalError::NotADirectory(_))));
    // A program's own handler is left alone.
    extern "C" fn own(_: libc::c_int) {}
    // SAFETY: installs a handler that does nothing, on a signal no other test uses.
    let previous = unsafe { libc::signal(libc::SIGUSR1, own as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    let e = snapshot_on_signal(libc::SIGUSR1, &dir).unwrap_err();
    assert!(matches!(e, SignalError::HandlerInstalled(n) if n == libc::SIGUSR1), "{e}");
    assert!(e.to_string().contains("already has a handler"), "{e}");
    // SAFETY: puts back what was there.
    unsafe { libc::signal(libc::SIGUSR1, previous) };

    let (tx, rx) = std::sync::mpsc::channel::<ringtrace::Diagnostic>();
    let tx = Mutex::new(tx);
    let guard = flight_recorder(16, 4)
        .diagnostics(ringtrace::DiagnosticSink::Hook(Arc::new(move |d: &ringtrace::Diagnostic| {
            let _ = tx.lock().unwrap().send(d.clone());
        })))
        .install()
        .unwrap();
    snapshot_on_signal(libc::SIGUSR2, &dir).unwrap();
    // Twice is fine (the handler is ringtrace's own).
    snapshot_on_signal(libc::SIGUSR2, &dir).unwrap();
    for seq in 0..10u64 {
        ringtrace::info!(t = 0u64, seq = seq, "flood {}", seq);
    }
    // SAFETY: `kill` on our own pid with a signal whose handler is ringtrace's flag store.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) }, 0);
    let diag = loop {
        let d = rx.recv_timeout(Duration::from_secs(30)).expect("a Snapshot diagnostic");
        if d.kind == ringtrace::DiagnosticKind::Snapshot {
            break d;
        }
    };
    assert!(diag.message.contains("snapshot of 10 records from 1 threads"), "{}", diag.message);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("snapshot-") && name.ends_with("-1.rtrace"), "{name}");
    assert!(diag.message.contains(&name), "{}", diag.message);
    let by_thread = seqs_by_thread(&std::fs::read(&files[0]).unwrap());
    assert_eq!(by_thread[&0], (0..10).collect::<Vec<_>>());
    drop(guard);
    std::fs::remove_dir_all(&dir).unwrap();
}
