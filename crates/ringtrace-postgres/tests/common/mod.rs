//! Helpers for the tests that need a PostgreSQL server (`scripts/pg-server.sh start`).

#![allow(dead_code)]

use ringtrace::{Batch, Sink, SinkError};
use ringtrace_postgres::PostgresConfig;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const NEEDS_PG: &str =
    "needs PostgreSQL: scripts/pg-server.sh start, then cargo test -p ringtrace-postgres -- --ignored";

/// Only one runtime can be installed per process: tests in one binary take this lock.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// An environment variable the tests cannot run without: a missing one fails the test.
pub fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("{name} is not set. Run `eval \"$(scripts/pg-server.sh start)\"` first ({NEEDS_PG})"),
    }
}

/// The test server's connection settings (`RINGTRACE_TEST_PG`).
pub fn conninfo() -> String {
    env("RINGTRACE_TEST_PG")
}

/// The test server's password (taken from `RINGTRACE_TEST_PG`).
pub fn password() -> String {
    base().password.expect("RINGTRACE_TEST_PG has a password").expose().to_string()
}

/// Connection settings for the test server, with the default table.
pub fn base() -> PostgresConfig {
    PostgresConfig::from_conninfo(&conninfo()).expect("RINGTRACE_TEST_PG parses")
}

/// Connection settings writing into `table` (dropped first, so every run starts clean).
pub fn fresh(table: &str) -> PostgresConfig {
    sql(&format!("DROP TABLE IF EXISTS \"{table}\""));
    base().table(table)
}

/// Runs SQL on the test server; the last result's rows as text.
pub fn sql(q: &str) -> Vec<Vec<Option<String>>> {
    ringtrace_postgres::testing::query(&base(), q).unwrap_or_else(|e| panic!("{q}: {e}")).0
}

/// One value.
pub fn scalar(q: &str) -> String {
    sql(q).first().and_then(|r| r.first().cloned()).flatten().unwrap_or_else(|| "NULL".into())
}

/// A count.
pub fn count(q: &str) -> u64 {
    scalar(q).parse().unwrap_or_else(|e| panic!("{q}: {e}"))
}

/// Runs `scripts/pg-server.sh <cmd>` (the path is in `RINGTRACE_TEST_PG_CTL`).
pub fn server(cmd: &str) {
    let ctl = env("RINGTRACE_TEST_PG_CTL");
    let out = std::process::Command::new(&ctl).arg(cmd).output().unwrap_or_else(|e| panic!("{ctl}: {e}"));
    assert!(out.status.success(), "{ctl} {cmd}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Polls `cond` for up to 30 s (a liveness bound, not a timing assertion).
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A sink that holds the drain inside its first `write_batch` until opened (to make "the pool
/// is dry" deterministic), then passes batches through.
#[derive(Clone, Default)]
pub struct Gate {
    pub open: Arc<AtomicBool>,
    pub entered: Arc<AtomicU64>,
}

impl Sink for Gate {
    fn name(&self) -> &str {
        "gate"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("gate", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, _batch: &Batch<'_>) -> Result<(), SinkError> {
        self.entered.fetch_add(1, Ordering::AcqRel);
        while !self.open.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }
}
