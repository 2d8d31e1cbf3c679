//! Issue 15, item 4: readers with bounded memory. Every command runs as a child process
//! limited to 512 MiB of address space (`RLIMIT_AS`), so reading without a bound shows up as
//! an allocation failure (an abort, SIGABRT) instead of a machine out of memory. Each case
//! must end with a clear error (status 1) or a bounded result (status 0), never a signal:
//!
//! - `recover` of `/dev/zero` and `/dev/urandom` (never-ending inputs), and of a 3 GiB sparse
//!   file whose header declares a few MiB;
//! - `demo --config /dev/zero` and `RINGTRACE_CONFIG=/dev/zero`;
//! - `decode` and every `convert` target of a well-formed trace whose callsite format string is
//!   `"{0:65535}"` × 7000 (each record asks for 458 MB of padding);
//! - `decode` of a trace whose chunk claims 1 GiB inside a 3 GiB sparse file.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

use ringtrace::trace_file::{file_header, write_callsite, write_thread, RecordsWriter};
use ringtrace::{CallsiteInfo, ClockCalibration, Level, ThreadInfo};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The address-space limit of every child.
const LIMIT: u64 = 512 << 20;

/// `ringtrace` limited to [`LIMIT`] bytes of address space, with no `RINGTRACE_*` variable
/// of ours.
fn limited() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ringtrace"));
    for (k, _) in std::env::vars() {
        if k.starts_with("RINGTRACE_") {
            c.env_remove(k);
        }
    }
    // SAFETY: the closure runs in the child between fork and exec and only calls setrlimit,
    // which is async-signal-safe, on a local struct.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: LIMIT as libc::rlim_t, rlim_max: LIMIT as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringtrace-cli-bounded-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The child ended by itself with `code`, not by a signal; its stderr never shows a panic.
fn assert_exit(o: &Output, code: i32, what: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.signal(), None, "{what} was killed by a signal: {err}");
    assert_eq!(o.status.code(), Some(code), "{what}: {err}");
    assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{what}: {err}");
    err
}

#[test]
fn recover_of_endless_devices_fails_on_the_magic() {
    let dir = tempdir("devices");
    for dev in ["/dev/zero", "/dev/urandom"] {
        let o = limited().args(["recover", dev, "-o"]).arg(dir.join("out.rtrace")).output().unwrap();
        let err = assert_exit(&o, 1, &format!("recover {dev}"));
        assert!(err.contains("not a ringtrace pool file"), "{dev}: {err}");
        // The trace readers stop on the magic too.
        for cmd in [&["decode"][..], &["stats"], &["convert", "--to", "jsonl", "-o", "/dev/null"]] {
            let o = limited().args(&cmd[..1]).arg(dev).args(&cmd[1..]).output().unwrap();
            let err = assert_exit(&o, 1, &format!("{cmd:?} {dev}"));
            assert!(err.contains("not a ringtrace trace file"), "{cmd:?} {dev}: {err}");
        }
    }
    assert!(!dir.join("out.rtrace").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn recover_reads_only_what_the_header_declares_of_a_huge_sparse_file() {
    let dir = tempdir("sparse");
    let pool = dir.join("p.pool");
    // A real pool file, from the demo (the issue's own command).
    let o = limited()
        .env("RINGTRACE_POOL_FILE", &pool)
        .args(["demo", "--duration", "0.1", "--threads", "1", "--out"])
        .arg(dir.join("demo"))
        .output()
        .unwrap();
    assert_exit(&o, 0, "demo with a pool file");
    let declared = std::fs::metadata(&pool).unwrap().len();
    assert!(declared < 64 << 20, "{declared}");
    std::fs::OpenOptions::new().write(true).open(&pool).unwrap().set_len(3 << 30).unwrap();
    let out = dir.join("out.rtrace");
    let o = limited().args(["recover", "--json"]).arg(&pool).arg("-o").arg(&out).output().unwrap();
    assert_exit(&o, 0, "recover of a 3 GiB sparse pool file");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["clean_shutdown"], true, "{v}");
    let o = limited().args(["decode", "--strict"]).arg(&out).output().unwrap();
    assert_exit(&o, 0, "decode of the recovered trace");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_config_file_that_never_ends_is_refused() {
    let o = limited().args(["demo", "--config", "/dev/zero"]).output().unwrap();
    let err = assert_exit(&o, 1, "demo --config /dev/zero");
    assert!(err.contains("/dev/zero") && err.contains("at most 1048576 bytes"), "{err}");
    let o = limited().env("RINGTRACE_CONFIG", "/dev/zero").arg("demo").output().unwrap();
    let err = assert_exit(&o, 1, "RINGTRACE_CONFIG=/dev/zero demo");
    assert!(err.contains("/dev/zero") && err.contains("RINGTRACE_CONFIG"), "{err}");
}

/// The END chunk (kind 4) of a trace of `records` records, one callsite and one thread, at
/// offset `bytes`, spelt out here (as trace_file.rs documents it) so that this file also
/// builds against readers without it.
fn end_chunk(records: u64, bytes: u64) -> Vec<u8> {
    let mut c = vec![4, 0, 0, 0, 40, 0, 0, 0];
    for v in [records, 0, 1, 1, bytes] {
        c.extend_from_slice(&v.to_le_bytes());
    }
    c
}

/// A small, well-formed trace: one callsite with format `fmt` (one u64 argument) and
/// `records` events; with its end marker if `end`.
fn trace_with_format(fmt: &str, records: u64, end: bool) -> Vec<u8> {
    let clock = ClockCalibration::new(0, 1_700_000_000_000_000_000, 1_000_000_000);
    let mut out = file_header(&clock).to_vec();
    write_callsite(&mut out, &CallsiteInfo::new(1, Level::Info, "app", "m", "f.rs", 1, fmt, vec![]));
    write_thread(&mut out, &ThreadInfo { id: 1, name: "main".into(), os_tid: 1 });
    let mut w = RecordsWriter::default();
    for i in 0..records {
        // Header (size, flags = event, callsite id, timestamp), then the u64 argument.
        let mut rec = Vec::new();
        rec.extend_from_slice(&25u16.to_le_bytes());
        rec.extend_from_slice(&1u16.to_le_bytes());
        rec.extend_from_slice(&1u32.to_le_bytes());
        rec.extend_from_slice(&i.to_le_bytes());
        rec.push(4);
        rec.extend_from_slice(&i.to_le_bytes());
        w.push(&mut out, 1, &rec);
    }
    w.finish(&mut out);
    if end {
        let at = out.len() as u64;
        out.extend_from_slice(&end_chunk(records, at));
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn an_absurd_format_string_renders_bounded_lines_marked_as_cut() {
    let dir = tempdir("widths");
    let bytes = trace_with_format(&"{0:65535}".repeat(7000), 8, true);
    assert!(bytes.len() < 64 << 10, "{}", bytes.len());
    let trace = write(&dir, "wide.rtrace", &bytes);
    // ringtrace::render::MAX_LINE_LEN, the documented 1 MiB.
    let limit = 1 << 20;
    for format in ["text", "jsonl"] {
        let o = limited().args(["decode", "--format", format]).arg(&trace).output().unwrap();
        let err = assert_exit(&o, 0, &format!("decode --format {format}"));
        assert!(err.is_empty(), "a complete trace: {err}");
        let lines: Vec<&[u8]> = o.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 8, "{format}");
        for l in lines {
            assert!(l.len() <= limit + 256, "{format}: a line of {} bytes", l.len());
            let l = String::from_utf8_lossy(l);
            if format == "text" {
                assert!(l.ends_with(" [truncated]"), "the cut is marked");
            } else {
                let v: serde_json::Value = serde_json::from_str(&l).unwrap();
                assert_eq!(v["truncated"], true);
            }
        }
    }
    for to in ["jsonl", "perfetto", "ctf"] {
        let out = dir.join(format!("out-{to}"));
        let o = limited().args(["convert", "--to", to, "-o"]).arg(&out).arg(&trace).output().unwrap();
        let err = assert_exit(&o, 0, &format!("convert --to {to}"));
        assert!(err.is_empty(), "{to}: {err}");
        assert!(out.exists());
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("out-perfetto")).unwrap()).unwrap();
    assert!(v["traceEvents"].as_array().unwrap().len() >= 8);
    let o = limited().arg("stats").arg(&trace).output().unwrap();
    assert_exit(&o, 0, "stats");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_chunk_claiming_a_gigabyte_is_an_error_not_an_abort() {
    let dir = tempdir("chunk");
    let mut bytes = trace_with_format("x {}", 1, false);
    let at = bytes.len();
    bytes.extend_from_slice(&[3, 0, 0, 0]);
    bytes.extend_from_slice(&(1u32 << 30).to_le_bytes());
    let trace = write(&dir, "big-chunk.rtrace", &bytes);
    // A short file: the chunk is truncated where the file ends.
    let o = limited().arg("decode").arg(&trace).output().unwrap();
    let err = assert_exit(&o, 1, "decode of a short file with a 1 GiB chunk");
    assert!(err.contains(&format!("truncated at byte {}", at + 8)), "{err}");
    // Sparse, 3 GiB long: the gigabyte is there (zeros); under the limit it cannot be held.
    std::fs::OpenOptions::new().write(true).open(&trace).unwrap().set_len(3 << 30).unwrap();
    for cmd in [&["decode"][..], &["stats"], &["convert", "--to", "jsonl", "-o", "/dev/null"]] {
        let o = limited().args(&cmd[..1]).arg(&trace).args(&cmd[1..]).output().unwrap();
        let err = assert_exit(&o, 1, &format!("{cmd:?} of a 1 GiB chunk in a sparse file"));
        let want = format!("cannot allocate {} bytes for the chunk at byte {}", 1u32 << 30, at + 8);
        assert!(err.contains(&want), "{cmd:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
