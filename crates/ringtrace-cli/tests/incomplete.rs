//! Issue 15, item 5: a cut trace does not read as complete. The binary sink closes a trace
//! with an end marker; `decode`, `convert` and `stats` warn about a trace without one (status
//! 0, the offset of the last good chunk), `--strict` makes it status 3, and `stats` shows it.
//! A cut inside a chunk stays an error (status 1). Every chunk boundary of a real trace is
//! tried, and a sample of the offsets inside chunks.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringtrace"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringtrace-cli-incomplete-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The test workload's trace (threads, spans, a loss record), written by a binary sink.
fn workload(dir: &Path) -> Vec<u8> {
    let trace = dir.join("workload.rtrace");
    let o = bin().arg("workload").arg(&trace).output().unwrap();
    assert!(o.status.success(), "workload failed: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(&trace).unwrap()
}

/// The offsets where a chunk ends (the header's end first), by walking the chunk headers.
fn chunk_ends(b: &[u8]) -> Vec<usize> {
    let mut at = ringtrace::trace_file::FILE_HEADER_LEN;
    let mut ends = vec![at];
    while at + 8 <= b.len() {
        at += 8 + u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        ends.push(at);
    }
    assert_eq!(at, b.len(), "the chunks tile the file");
    ends
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_finished_trace_is_complete_and_says_so() {
    let dir = tempdir("complete");
    let good = workload(&dir);
    let path = dir.join("good.rtrace");
    std::fs::write(&path, &good).unwrap();
    assert_eq!(good[good.len() - 48], 4, "the last chunk is the end marker");
    for args in [&["decode", "--strict"][..], &["stats", "--strict"], &["stats", "--json"]] {
        let o = bin().args(args).arg(&path).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(o.stderr.is_empty(), "{args:?}: {}", stderr(&o));
    }
    let o = bin().arg("stats").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("complete: end marker at byte {}", good.len() - 48)), "{text}");
    let o = bin().args(["stats", "--json"]).arg(&path).output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["complete"], true);
    assert_eq!(v["end_marker"]["records"], v["records"]);
    assert_eq!(v["end_marker"]["loss_records"], v["loss_records"]);
    assert_eq!(v["file_bytes"].as_u64(), Some(good.len() as u64));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_trace_cut_at_any_chunk_boundary_is_reported_incomplete() {
    let dir = tempdir("boundaries");
    let good = workload(&dir);
    let ends = chunk_ends(&good);
    let cut_file = dir.join("cut.rtrace");
    // Every boundary but the end of the file: the header alone, and after every chunk
    // (the last of these cuts exactly the end marker off).
    for &cut in &ends[..ends.len() - 1] {
        std::fs::write(&cut_file, &good[..cut]).unwrap();
        let o = bin().arg("decode").arg(&cut_file).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "cut at {cut}: {err}");
        assert!(err.contains("warning") && err.contains("incomplete trace"), "cut at {cut}: {err}");
        assert!(err.contains(&format!("up to byte {cut},")), "cut at {cut}: the last good offset: {err}");
        let o = bin().args(["decode", "--strict"]).arg(&cut_file).output().unwrap();
        assert_eq!(o.status.code(), Some(3), "--strict, cut at {cut}: {}", stderr(&o));
        assert!(stderr(&o).contains("incomplete trace"), "{}", stderr(&o));
    }
    // The header alone prints nothing, but is not taken for an empty, finished trace.
    std::fs::write(&cut_file, &good[..ends[0]]).unwrap();
    let o = bin().arg("decode").arg(&cut_file).output().unwrap();
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("read 0 records up to byte 48,"), "{}", stderr(&o));

    // stats and convert say the same about a trace whose writer died mid-run.
    let cut = ends[ends.len() / 2];
    std::fs::write(&cut_file, &good[..cut]).unwrap();
    let o = bin().arg("stats").arg(&cut_file).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("INCOMPLETE: no end marker; the last complete chunk ends at byte {cut}")), "{text}");
    assert!(stderr(&o).contains("incomplete trace"));
    let o = bin().args(["stats", "--json", "--strict"]).arg(&cut_file).output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["complete"], false);
    assert_eq!(v["end_marker"], Value::Null);
    assert_eq!(v["file_bytes"].as_u64(), Some(cut as u64));
    for to in ["jsonl", "perfetto", "ctf"] {
        let out = dir.join(format!("out-{to}"));
        let o = bin().arg("convert").arg(&cut_file).args(["--to", to, "-o"]).arg(&out).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{to}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("up to byte {cut},")), "{to}: {}", stderr(&o));
        let out = dir.join(format!("strict-{to}"));
        let o = bin().arg("convert").arg(&cut_file).args(["--strict", "--to", to, "-o"]).arg(&out).output().unwrap();
        assert_eq!(o.status.code(), Some(3), "{to} --strict: {}", stderr(&o));
        assert!(out.exists(), "{to} --strict still converts what the trace holds");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_trace_cut_inside_a_chunk_is_an_error_with_its_offset() {
    let dir = tempdir("inside");
    let good = workload(&dir);
    let ends = chunk_ends(&good);
    let cut_file = dir.join("cut.rtrace");
    // 150 offsets spread over the file, boundaries left out (tested above).
    let step = (good.len() / 150).max(1);
    let mut tried = 0;
    for cut in (1..good.len()).step_by(step).filter(|c| !ends.contains(c)) {
        std::fs::write(&cut_file, &good[..cut]).unwrap();
        let o = bin().arg("decode").arg(&cut_file).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "cut at {cut}: {err}");
        assert!(err.contains("truncated at byte"), "cut at {cut}: {err}");
        assert!(!err.contains("panicked"), "cut at {cut}: {err}");
        tried += 1;
    }
    assert!(tried >= 100, "{tried}");
    let _ = std::fs::remove_dir_all(&dir);
}
