//! `flush_on_signals` (issue 20): a child process that receives SIGTERM mid-run leaves outputs
//! holding every event recorded before the signal, and exits with the signal's status; the
//! calls that cannot be honoured are refused.

// These tests use the real atomics and OS signals; under `--features loom` only the loom
// models run.
#![cfg(all(unix, not(feature = "loom")))]

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Set in the child's environment: the directory its binary trace goes to.
const CHILD_DIR: &str = "RINGTRACE_TEST_FLUSH_CHILD";
/// Events the child records before it says it is ready.
const EVENTS: u64 = 50_000;

/// The child's part (runs only with `CHILD_DIR` set): record, say so, wait for the signal.
#[test]
fn child_records_then_waits_for_its_signal() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let sink = ringtrace::sinks::BinarySink::file(
        std::path::Path::new(&dir).join("child.rtrace"),
        ringtrace::sinks::rotate::Rotation { max_bytes: 0, max_files: 0 },
    )
    .unwrap();
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .policy(ringtrace::Policy::Block { timeout: Duration::from_secs(10) })
        // A long flush interval and merge window: without the flush on SIGTERM, records would
        // still be in the rings or the sink's buffer when the signal arrives.
        .flush_interval(Duration::from_secs(60))
        .sink(sink)
        .install()
        .unwrap();
    ringtrace::flush_on_signals(&[libc::SIGTERM]).unwrap();
    for i in 0..EVENTS {
        ringtrace::info!(seq = i, "event {}", i);
    }
    println!("ready");
    // Held until the signal ends the process (a timeout so a broken flush cannot hang CI).
    std::thread::sleep(Duration::from_secs(30));
    drop(guard);
    panic!("the signal did not end the process");
}

#[test]
fn sigterm_mid_run_leaves_every_event_and_exits_with_the_signal() {
    if std::env::var(CHILD_DIR).is_ok() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rt-flush-signal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_records_then_waits_for_its_signal", "--nocapture", "--test-threads", "1"])
        .env(CHILD_DIR, &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.is_ok_and(|l| l.contains("ready"))), "the child never got ready");
    // SAFETY: `kill` with a child's pid and a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "exit status {status:?}; stderr:\n{err}");
    // The report went out as a diagnostic before the process ended.
    assert!(err.contains("signal 15: shut down before exiting"), "{err}");

    // The trace is complete (its END chunk written by the sink's stop) and holds every event.
    let file = std::fs::File::open(dir.join("child.rtrace")).unwrap();
    let mut reader = ringtrace::trace_file::TraceReader::new(std::io::BufReader::new(file)).unwrap();
    let mut seen = 0u64;
    let stats = reader.for_each_batch(|b| seen += b.len() as u64).unwrap();
    assert!(stats.is_complete(), "{stats:?}");
    assert_eq!(seen, EVENTS);
    assert_eq!(stats.loss_records, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn only_termination_signals_without_a_handler_are_taken() {
    if std::env::var(CHILD_DIR).is_ok() {
        return;
    }
    let e = ringtrace::flush_on_signals(&[libc::SIGUSR1]).unwrap_err();
    assert!(matches!(e, ringtrace::flight::SignalError::NotATermination(n) if n == libc::SIGUSR1), "{e}");
    // A signal the program handles itself is left alone.
    extern "C" fn own(_: libc::c_int) {}
    // SAFETY: installs a handler of the right signature that does nothing, for SIGHUP, which
    // nothing in this test binary sends.
    unsafe { libc::signal(libc::SIGHUP, own as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    let e = ringtrace::flush_on_signals(&[libc::SIGHUP]).unwrap_err();
    assert!(matches!(e, ringtrace::flight::SignalError::HandlerInstalled(n) if n == libc::SIGHUP), "{e}");
}
