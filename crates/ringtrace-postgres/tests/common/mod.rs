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

/// The test server's connection settings (`TEST_RINGTRACE_PG`).
pub fn conninfo() -> String {
    env("TEST_RINGTRACE_PG")
}

/// The test server's password (taken from `TEST_RINGTRACE_PG`).
pub fn password() -> String {
    base().password.expect("TEST_RINGTRACE_PG has a password").expose().to_string()
}

/// Connection settings for the test server, with the default table.
pub fn base() -> PostgresConfig {
    PostgresConfig::from_conninfo(&conninfo()).expect("TEST_RINGTRACE_PG parses")
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

/// Runs `scripts/pg-server.sh <cmd>` (the path is in `TEST_RINGTRACE_PG_CTL`).
pub fn server(cmd: &str) {
    let ctl = env("TEST_RINGTRACE_PG_CTL");
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

/// Where a [`Proxy`] cuts the next `COPY`'s connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Forward `CopyDone` to the server, then cut the client off before the answer arrives
    /// (the server commits; the client cannot know).
    AfterCopyDone,
    /// Swallow `CopyDone` and cut the client off (the server waits in the COPY with an open
    /// transaction; the client cannot know it never arrived).
    SwallowCopyDone,
}

/// A TCP proxy in front of the test server that can cut a connection right at `CopyDone`,
/// leaving the server's side of it open, as a network failure would: the "outcome unknown"
/// case, made deterministic.
#[derive(Clone)]
pub struct Proxy {
    pub port: u16,
    armed: Arc<Mutex<Option<Cut>>>,
    /// Cuts made.
    pub fired: Arc<AtomicU64>,
    /// Server connections of cut sessions that the server has since closed.
    pub server_closed_after_cut: Arc<AtomicU64>,
}

impl Proxy {
    /// Listens on an ephemeral port of 127.0.0.1 and forwards to the test server.
    pub fn start() -> Proxy {
        let cfg = base();
        let ringtrace_postgres::Endpoint::Tcp(host) = &cfg.endpoint else { panic!("TEST_RINGTRACE_PG must use TCP") };
        let upstream = format!("{host}:{}", cfg.port);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            armed: Default::default(),
            fired: Default::default(),
            server_closed_after_cut: Default::default(),
        };
        let p = proxy.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = std::net::TcpStream::connect(&upstream).unwrap();
                let p = p.clone();
                std::thread::spawn(move || p.session(client, server));
            }
        });
        proxy
    }

    /// Cuts the next `COPY` as `cut` says (once).
    pub fn arm(&self, cut: Cut) {
        *self.armed.lock().unwrap() = Some(cut);
    }

    fn session(&self, mut client: std::net::TcpStream, mut server: std::net::TcpStream) {
        use std::io::{Read, Write};
        let muted = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(AtomicBool::new(false));
        {
            // Server to client, until muted by a cut; then drain until the server closes.
            let (mut from, mut to) = (server.try_clone().unwrap(), client.try_clone().unwrap());
            let (muted, cut, closed) = (muted.clone(), cut.clone(), self.server_closed_after_cut.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                loop {
                    match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) if !muted.load(Ordering::Acquire) => {
                            if to.write_all(&buf[..n]).is_err() && !muted.load(Ordering::Acquire) {
                                break;
                            }
                        }
                        Ok(_) => {}
                    }
                }
                if cut.load(Ordering::Acquire) {
                    closed.fetch_add(1, Ordering::AcqRel);
                }
                let _ = to.shutdown(std::net::Shutdown::Both);
            });
        }
        // Client to server, message by message (the start-up message has no tag byte).
        let mut buf: Vec<u8> = Vec::new();
        let mut startup = true;
        let mut chunk = [0u8; 65536];
        loop {
            loop {
                let at = if startup { 0 } else { 1 };
                if buf.len() < at + 4 {
                    break;
                }
                let total = at + i32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
                if buf.len() < total {
                    break;
                }
                let msg: Vec<u8> = buf.drain(..total).collect();
                let copy_done = !startup && msg[0] == b'c';
                startup = false;
                if copy_done {
                    if let Some(how) = self.armed.lock().unwrap().take() {
                        // Answers from here on never reach the client.
                        muted.store(true, Ordering::Release);
                        cut.store(true, Ordering::Release);
                        if how == Cut::AfterCopyDone {
                            let _ = server.write_all(&msg);
                        }
                        self.fired.fetch_add(1, Ordering::AcqRel);
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        // The server side stays open (the other thread holds it) until the
                        // server ends the session.
                        return;
                    }
                }
                if server.write_all(&msg).is_err() {
                    return;
                }
            }
            match client.read(&mut chunk) {
                Ok(0) | Err(_) => {
                    let _ = server.shutdown(std::net::Shutdown::Both);
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}
