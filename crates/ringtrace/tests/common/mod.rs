//! Shared helpers for the integration tests: a sink that keeps everything it receives, a gate
//! sink that holds the drain, one provoked loss gap ([`gap`]), and a lock that serialises tests
//! touching the process-global runtime.

#![allow(dead_code)]

pub mod gap;

use ringtrace::render::{render_json, render_text};
use ringtrace::{Batch, RecordKind, Sink, SinkError};
use std::sync::{Arc, Mutex, MutexGuard};

/// Only one runtime can be installed per process: tests in one binary take this lock.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// One event as the drain delivered it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub kind: RecordKind,
    pub thread: String,
    pub thread_id: u64,
    pub ticks: u64,
    pub message: String,
    pub text: String,
    pub json: String,
    pub raw: Vec<u8>,
}

/// Keeps every event (rendered as text and JSON) and the batch sizes.
#[derive(Clone, Default)]
pub struct Collect {
    pub name: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub batches: Arc<Mutex<Vec<usize>>>,
}

impl Collect {
    pub fn new(name: &str) -> Self {
        Self { name: name.into(), ..Default::default() }
    }

    pub fn events(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Sink for Collect {
    fn name(&self) -> &str {
        &self.name
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new(self.name().to_string(), env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut seen = self.seen.lock().unwrap();
        for ev in batch.iter() {
            let mut text = String::new();
            render_text(&ev, &mut text);
            let mut json = String::new();
            render_json(&ev, &mut json);
            seen.push(Seen {
                kind: ev.kind(),
                thread: ev.thread().name.clone(),
                thread_id: ev.thread().id,
                ticks: ev.ticks(),
                message: ev.message(),
                text,
                json,
                raw: ev.payload().to_vec(),
            });
        }
        self.batches.lock().unwrap().push(batch.len());
        Ok(())
    }
}

/// Polls `cond` for up to 20 s (a liveness bound, not a timing assertion).
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(20) {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    cond()
}

/// A sink that can hold the drain: while closed, `write_batch` waits (and counts that it was
/// entered), which makes "the pool is dry" deterministic. Keeps `map(event)` for every event.
pub struct Gate<T> {
    pub open: Arc<std::sync::atomic::AtomicBool>,
    pub entered: Arc<std::sync::atomic::AtomicU64>,
    pub got: Arc<Mutex<Vec<T>>>,
    map: fn(&ringtrace::Event<'_>) -> T,
}

impl<T> Clone for Gate<T> {
    fn clone(&self) -> Self {
        Self { open: self.open.clone(), entered: self.entered.clone(), got: self.got.clone(), map: self.map }
    }
}

impl<T: Clone> Gate<T> {
    pub fn new(open: bool, map: fn(&ringtrace::Event<'_>) -> T) -> Self {
        Self { open: Arc::new(open.into()), entered: Default::default(), got: Default::default(), map }
    }

    /// Opens (lets the drain through) or closes the gate.
    pub fn set(&self, open: bool) {
        self.open.store(open, std::sync::atomic::Ordering::Release);
    }

    /// How many times the drain entered `write_batch`.
    pub fn entered(&self) -> u64 {
        self.entered.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Everything kept so far.
    pub fn got(&self) -> Vec<T> {
        self.got.lock().unwrap().clone()
    }
}

impl<T: Send + 'static> Sink for Gate<T> {
    fn name(&self) -> &str {
        "gate"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("gate", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.entered.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        while !self.open.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let mut got = self.got.lock().unwrap();
        got.extend(batch.iter().map(|ev| (self.map)(&ev)));
        Ok(())
    }
}

/// Spawns a thread "flood" that records as fast as it can until the returned flag is set;
/// joining it gives the number of events it attempted.
pub fn spawn_flood() -> (Arc<std::sync::atomic::AtomicBool>, std::thread::JoinHandle<u64>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let flood = std::thread::Builder::new()
        .name("flood".into())
        .spawn(move || {
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                ringtrace::info!("flood {} {} {}", n, 1.5f64, "padding to make records bigger");
                n += 1;
            }
            n
        })
        .unwrap();
    (stop, flood)
}
