//! Issue 19, item 8: `ringtrace demo --preset flight_recorder` shows the flight recorder. It
//! writes its pool file under `--out`, takes a snapshot there while the workers record, prints
//! the `ringtrace recover` and `ringtrace decode` commands, and those commands work as printed
//! (run here through `sh -c`) on what a finished run and a SIGKILLed run leave behind. It stops
//! at `--duration` (`--duration 1` used to run 11 s: the demo waited up to 10 s for workers
//! that never return to NORMAL in this mode).
//!
//! No test measures time with a clock of its own: they check the demo's reported columns and
//! elapsed time, and a child that does not finish within a generous liveness limit is killed
//! and fails the test.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a demo child may take before it is taken for hung (it needs about 1 s).
const LIVENESS: Duration = Duration::from_secs(120);

/// `ringtrace` with no `RINGTRACE_*` variable of ours (they would change the demo's set-up).
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ringtrace"));
    for (k, _) in std::env::vars() {
        if k.starts_with("RINGTRACE_") {
            c.env_remove(k);
        }
    }
    c
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringtrace-cli-demo-flight-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Reads a child's pipe to its end on a thread of its own.
fn drain_pipe(mut p: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        p.read_to_end(&mut v).unwrap();
        v
    })
}

/// Runs `c` to its end, killing it (and failing) if it outlives [`LIVENESS`].
fn run_live(mut c: Command) -> Output {
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = drain_pipe(child.stdout.take().unwrap());
    let stderr = drain_pipe(child.stderr.take().unwrap());
    let limit = Instant::now() + LIVENESS;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the demo did not finish within {LIVENESS:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

fn demo(out: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["demo", "--preset", "flight_recorder", "--threads", "4", "--out"]).arg(out).args(extra);
    c
}

/// Runs one printed command line as a user would, through the shell.
fn sh(line: &str) -> Output {
    let o = Command::new("sh").arg("-c").arg(line).output().unwrap();
    assert!(o.status.success(), "`{line}` failed: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// The printed lines that run this binary with `what` (`recover`, `decode`).
fn commands<'a>(text: &'a str, what: &str) -> Vec<&'a str> {
    let program = env!("CARGO_BIN_EXE_ringtrace");
    text.lines().map(str::trim).filter(|l| l.starts_with(&format!("{program} {what} "))).collect()
}

/// `ringtrace stats --json` of a trace.
fn stats(trace: &str) -> Value {
    let o = bin().args(["stats", "--json", trace]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_one_second_flight_recorder_demo_stops_on_time_and_its_commands_read_its_files() {
    let dir = tempdir("json");
    let o = run_live(demo(&dir, &["--duration", "1", "--json"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();

    // On time: every timeline column sleeps 100 ms first, and the loop ends at the first column
    // past the duration, so a 1 s run has at most 10 (it had 110: 10 s of waiting for NORMAL).
    let columns = v["timeline_samples"].as_u64().unwrap();
    assert!((1..=10).contains(&columns), "{columns} timeline columns for --duration 1");
    let ran = v["duration_s"].as_f64().unwrap();
    assert!(ran < 6.0, "the demo reports {ran} s for --duration 1");

    // The accounting: nothing went to sinks (there are none); what was not overwritten is in
    // the pool file.
    let attempted = v["attempted"].as_u64().unwrap();
    let retained = v["retained"].as_u64().unwrap();
    let dropped: u64 = v["dropped"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert!(retained > 0 && v["dropped"]["overwritten"].as_u64() > Some(0), "{v}");
    let not_losses = v["rate_limited"].as_u64().unwrap() + v["sampled"].as_u64().unwrap();
    assert_eq!(attempted, v["recorded"].as_u64().unwrap() + dropped + not_losses + retained, "{v}");
    assert_eq!(v["written"].as_object().unwrap().len(), 0, "no sinks: {v}");
    for stale in ["demo.jsonl", "demo.log", "demo.rtrace"] {
        assert!(!dir.join(stale).exists(), "{stale}");
    }

    // The pool file and the snapshot, under --out, private.
    let f = &v["flight"];
    let pool = dir.join("ringtrace.flight");
    assert_eq!(f["pool_file"], pool.display().to_string());
    let snapshot = &f["snapshot"];
    assert_eq!(snapshot["path"], dir.join("snapshot.rtrace").display().to_string(), "{f}");
    assert!(snapshot["records"].as_u64() > Some(0) && snapshot["threads"] == 4, "{f}");
    let outputs: Vec<&str> = v["outputs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(outputs, [f["pool_file"].as_str().unwrap(), snapshot["path"].as_str().unwrap()]);
    assert_eq!((mode(&pool), mode(&dir.join("snapshot.rtrace"))), (0o600, 0o600));

    // The printed commands, run as printed: the recovered trace holds exactly the retained
    // events (plus the loss records that count the overwritten ones).
    let recover = sh(f["recover_command"].as_str().unwrap());
    let summary = String::from_utf8_lossy(&recover.stderr);
    assert!(summary.contains("(shut down cleanly)") && summary.contains("\"worker-3\""), "{summary}");
    let recovered = dir.join("recovered.rtrace");
    let s = stats(recovered.to_str().unwrap());
    assert_eq!(s["complete"], true);
    assert_eq!(s["records"].as_u64().unwrap() - s["loss_records"].as_u64().unwrap(), retained, "{s}");
    assert_eq!(s["lost_events"].as_u64().unwrap(), dropped, "the loss records report every overwritten event");
    let decoded = sh(f["decode_command"].as_str().unwrap()).stdout;
    assert_eq!(decoded.iter().filter(|&&b| b == b'\n').count() as u64, s["records"].as_u64().unwrap());
    assert!(String::from_utf8_lossy(&decoded).contains("demo::orders: order "));
    let decoded = sh(f["decode_snapshot_command"].as_str().unwrap()).stdout;
    assert_eq!(decoded.iter().filter(|&&b| b == b'\n').count() as u64, snapshot["records"].as_u64().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_human_summary_prints_the_commands_and_they_work_as_printed() {
    // A directory whose name needs quoting in a shell.
    let dir = tempdir("text").join("it's a demo");
    let o = run_live(demo(&dir, &["--duration", "1"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        text.contains("flight-recorder mode")
            && text.contains("attempted == recorded + dropped + rate_limited + sampled + retained: exact")
    );
    assert!(text.contains(&format!("pool file   {}", dir.join("ringtrace.flight").display())), "{text}");
    // The same commands at the start (on stderr, for whoever kills the demo) and at the end.
    let [recover] = commands(&text, "recover")[..] else { panic!("one recover command in {text}") };
    assert_eq!(commands(&err, "recover"), [recover], "{err}");
    assert!(recover.contains(r"'\''"), "the path is quoted: {recover}");
    sh(recover);
    let decodes = commands(&text, "decode");
    assert_eq!(decodes.len(), 2, "the recovered trace and the snapshot: {text}");
    for d in decodes {
        assert!(!sh(d).stdout.is_empty(), "{d}");
    }
    assert!(err.contains("snapshot taken"), "{err}");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn a_sigkilled_flight_recorder_demo_leaves_a_pool_file_that_the_printed_commands_recover() {
    let dir = tempdir("kill");
    // Long enough that the kill comes well before the end: the snapshot is taken once the
    // workers' floods (from 35 % of the duration) are done.
    let mut child = demo(&dir, &["--duration", "8"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = String::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        err += &line;
        err.push('\n');
        // The snapshot's line, then the command that reads it.
        if err.contains("snapshot taken") && line.trim_end().ends_with("snapshot.rtrace") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "killed mid-run, not finished: {err}");

    let [recover] = commands(&err, "recover")[..] else { panic!("one recover command in {err}") };
    let summary = String::from_utf8(sh(recover).stderr).unwrap();
    assert!(summary.contains("(did not shut down cleanly)"), "{summary}");
    for w in 0..4 {
        assert!(summary.contains(&format!("\"worker-{w}\"")), "{summary}");
    }
    let [decode, snapshot] = commands(&err, "decode")[..] else { panic!("two decode commands in {err}") };
    assert!(decode.ends_with("recovered.rtrace"), "{decode}");
    let text = String::from_utf8(sh(decode).stdout).unwrap();
    assert!(text.contains("demo::orders: order ") && text.contains(" LOSS "), "{}", &text[..text.len().min(2000)]);
    // The snapshot the demo announced before it was killed is whole (it has its end marker).
    assert!(snapshot.ends_with("snapshot.rtrace"), "{snapshot}");
    assert!(!sh(snapshot).stdout.is_empty());
    assert_eq!(stats(dir.join("snapshot.rtrace").to_str().unwrap())["complete"], true);
    let _ = std::fs::remove_dir_all(&dir);
}
