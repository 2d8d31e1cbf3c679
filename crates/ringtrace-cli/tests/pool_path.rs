//! Issue 15, item 3, the issue's own command: `RINGTRACE_POOL_FILE=DIR ringtrace demo` with a
//! directory of the user's at the path fails (status 1) naming the path and what is there,
//! and leaves the directory and its files as they were (it used to rename the directory to
//! `DIR.prev` and put a 5 MiB pool file in its place, with status 0). The other kinds are
//! tested in `crates/ringtrace/tests/flight_pool_path.rs`.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

use std::process::Command;

#[test]
fn demo_with_a_directory_as_its_pool_file_fails_and_keeps_the_directory() {
    let v = std::env::temp_dir().join(format!("ringtrace-cli-pool-path-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&v);
    let logs = v.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("app.log"), "keep\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ringtrace"))
        .env("RINGTRACE_POOL_FILE", &logs)
        .args(["demo", "--duration", "0.1", "--threads", "1", "--out"])
        .arg(v.join("out"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{} is a directory, not a ringtrace pool file", logs.display())), "{err}");
    assert!(logs.is_dir());
    assert_eq!(std::fs::read_to_string(logs.join("app.log")).unwrap(), "keep\n");
    assert!(!v.join("logs.prev").exists());
    let _ = std::fs::remove_dir_all(&v);
}
