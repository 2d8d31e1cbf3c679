//! Shared helpers for the integration tests: a sink that keeps everything it receives, and a
//! lock that serialises tests touching the process-global runtime.

#![allow(dead_code)]

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
