//! The built-in sinks (R-OUT-1, R-OUT-2).
//!
//! - [`FmtSink`]: human text or JSON lines to stdout, stderr or a file with size-based
//!   rotation.
//! - [`BinarySink`]: the compact binary trace (see [`trace_file`](crate::trace_file)), to a
//!   file with size-based rotation; `ringtrace decode` prints it. Every file it finishes (at
//!   shutdown, and each file it rotates away) ends with an END chunk counting what the file
//!   holds; a file without one was cut (the process died) or is still being written.
//!
//! Files are opened when the sink is created, so an unwritable path is an error at set-up,
//! never a surprise at run time. Output is written a batch at a time (a text or JSON batch in
//! pieces of about [`FMT_WRITE_AT`] bytes, whole lines each, or what
//! [`FmtSink::write_at`] sets) and flushed when the drain goes idle (within `flush_interval` of
//! the last record).

pub mod rotate;

use crate::event::Batch;
use crate::render::Renderer;
use crate::sink::{Sink, SinkContext, SinkError};
use crate::trace_file::{file_header, write_callsite, write_end, write_thread, RecordsWriter, TraceEnd};
use rotate::{OpenError, RotatingFile, Rotation};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A [`FmtSink`] hands its rendered lines to the output once they reach this many bytes
/// (1 MiB, unless [`FmtSink::write_at`] says otherwise), so a batch's text never grows beyond
/// it plus one line.
pub const FMT_WRITE_AT: usize = 1 << 20;

/// The line format of a [`FmtSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable text (see [`render`](crate::render)).
    Text,
    /// One JSON object per line.
    Json,
}

enum Target {
    Stdout,
    Stderr,
    File(RotatingFile),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Stdout => f.write_str("stdout"),
            Target::Stderr => f.write_str("stderr"),
            Target::File(r) => write!(f, "{:?}", r.path()),
        }
    }
}

/// Text or JSON lines to stdout, stderr or a rotating file.
///
/// ```no_run
/// use ringtrace::sinks::{FmtSink, Format, rotate::Rotation};
/// let sink = FmtSink::file("/var/log/app.jsonl", Format::Json, Rotation { max_bytes: 64 << 20, max_files: 5 })?;
/// # Ok::<(), ringtrace::sinks::rotate::OpenError>(())
/// ```
#[derive(Debug)]
pub struct FmtSink {
    name: String,
    format: Format,
    target: Target,
    /// Rendered lines not yet handed to the output.
    buf: String,
    /// Hand `buf` to the output once it holds this many bytes (and at the end of a batch).
    write_at: usize,
    /// Keeps each (callsite, thread)'s constant line part and the last second's text.
    renderer: Renderer,
}

impl FmtSink {
    fn new(name: &str, format: Format, target: Target) -> Self {
        Self {
            name: name.to_string(),
            format,
            target,
            buf: String::new(),
            write_at: FMT_WRITE_AT,
            renderer: Renderer::new(),
        }
    }

    /// Text to standard output.
    pub fn stdout_text() -> Self {
        Self::new("stdout", Format::Text, Target::Stdout)
    }

    /// Text to standard error.
    pub fn stderr_text() -> Self {
        Self::new("stderr", Format::Text, Target::Stderr)
    }

    /// JSON lines to standard output.
    pub fn stdout_json() -> Self {
        Self::new("stdout", Format::Json, Target::Stdout)
    }

    /// JSON lines to standard error.
    pub fn stderr_json() -> Self {
        Self::new("stderr", Format::Json, Target::Stderr)
    }

    /// Lines to a file (appended to; rotated by size). Fails if the file cannot be opened.
    /// The sink is named after the format (`text` or `jsonl`); rename it with
    /// [`FmtSink::named`] when you add several.
    pub fn file(path: impl Into<PathBuf>, format: Format, rotation: Rotation) -> Result<Self, OpenError> {
        let file = RotatingFile::open(path, rotation)?;
        let name = match format {
            Format::Text => "text",
            Format::Json => "jsonl",
        };
        Ok(Self::new(name, format, Target::File(file)))
    }

    /// Renames the sink (names appear in reports and metrics).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Hands rendered lines to the output in writes of about `bytes` (whole lines; at least
    /// one line per write, and the rest of a batch at its end). Default [`FMT_WRITE_AT`]
    /// (1 MiB): a batch of that much text or less is one write.
    pub fn write_at(mut self, bytes: usize) -> Self {
        self.write_at = bytes.max(1);
        self
    }

    fn write_out(&mut self) -> std::io::Result<()> {
        let bytes = self.buf.as_bytes();
        let r = match &mut self.target {
            Target::Stdout => std::io::stdout().lock().write_all(bytes),
            Target::Stderr => std::io::stderr().lock().write_all(bytes),
            Target::File(f) => f.write_unit(bytes),
        };
        self.buf.clear();
        r
    }
}

impl Sink for FmtSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn metadata(&self) -> crate::SinkMetadata {
        crate::SinkMetadata::new("fmt", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.buf.clear();
        // Room for the whole batch at ~128 bytes a line, up to one write's worth: the buffer
        // grows to its working size once instead of doubling its way there.
        self.buf.reserve(batch.len().saturating_mul(128).min(self.write_at.saturating_add(4096)));
        for ev in batch.iter() {
            match self.format {
                Format::Text => self.renderer.text(&ev, &mut self.buf),
                Format::Json => self.renderer.json(&ev, &mut self.buf),
            }
            if self.buf.len() >= self.write_at {
                self.write_out().map_err(|e| SinkError::with_source("cannot write output", e))?;
            }
        }
        self.write_out().map_err(|e| SinkError::with_source("cannot write output", e))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let r = match &mut self.target {
            Target::Stdout => std::io::stdout().flush(),
            Target::Stderr => Ok(()),
            Target::File(f) => f.flush(),
        };
        r.map_err(|e| SinkError::with_source("cannot flush output", e))
    }

    fn outputs(&self) -> Vec<PathBuf> {
        match &self.target {
            Target::File(f) => f.paths(),
            _ => Vec::new(),
        }
    }
}

/// What a [`BinarySink`] has described so far and what its live file holds (shared with the
/// rotation hooks: `on_rotate` repeats the descriptions at the start of every new file,
/// `on_close` ends a file with its END chunk).
#[derive(Debug, Default)]
struct Dictionary {
    header: Vec<u8>,
    /// Every CALLSITE and THREAD chunk written so far.
    chunks: Vec<u8>,
    /// CALLSITE and THREAD chunks in `chunks`.
    callsites: u64,
    /// See `callsites`.
    threads: u64,
    /// What the live file holds so far (`bytes` is filled in when it is closed).
    live: TraceEnd,
}

/// A set of ids (thread ids, callsite ids) that are small and dense in practice (both are
/// allocated from 1 upwards): a flag per id below [`IdSet::DENSE`], a hash set above it, so a
/// lookup per event is one indexed load and a strange id cannot make the vector huge.
#[derive(Debug, Default)]
struct IdSet {
    dense: Vec<bool>,
    sparse: HashSet<u64>,
}

impl IdSet {
    /// Ids below this are flags in `dense`.
    const DENSE: u64 = 1 << 16;

    fn contains(&self, id: u64) -> bool {
        if id < Self::DENSE {
            self.dense.get(id as usize).copied().unwrap_or(false)
        } else {
            self.sparse.contains(&id)
        }
    }

    fn set(&mut self, id: u64, present: bool) {
        if id < Self::DENSE {
            let i = id as usize;
            if i >= self.dense.len() {
                if !present {
                    return;
                }
                self.dense.resize(i + 1, false);
            }
            self.dense[i] = present;
        } else if present {
            self.sparse.insert(id);
        } else {
            self.sparse.remove(&id);
        }
    }
}

/// The binary trace format to a rotating file. See [`trace_file`](crate::trace_file).
#[derive(Debug)]
pub struct BinarySink {
    name: String,
    file: RotatingFile,
    dict: Arc<Mutex<Dictionary>>,
    /// Callsites described so far (including, during `write_batch`, those of the unit being
    /// built; they are taken back if it cannot be written).
    callsites: IdSet,
    /// Threads described so far (same rule).
    threads: IdSet,
    unit: Vec<u8>,
    /// Whether `start` wrote the header (only then does `stop` end the file).
    started: bool,
}

impl BinarySink {
    /// Creates (appends to) a trace file, rotated by size. Fails if it cannot be opened.
    pub fn file(path: impl Into<PathBuf>, rotation: Rotation) -> Result<Self, OpenError> {
        let mut file = RotatingFile::open(path, rotation)?;
        let dict = Arc::new(Mutex::new(Dictionary::default()));
        let d2 = dict.clone();
        file.on_rotate(Box::new(move |_path: &Path| {
            let mut d = d2.lock().unwrap_or_else(|e| e.into_inner());
            d.live = TraceEnd { callsites: d.callsites, threads: d.threads, ..TraceEnd::default() };
            let mut out = d.header.clone();
            out.extend_from_slice(&d.chunks);
            out
        }));
        let d3 = dict.clone();
        file.on_close(Box::new(move |_path: &Path, size: u64| {
            let d = d3.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = Vec::with_capacity(crate::trace_file::END_CHUNK_LEN);
            write_end(&mut out, &TraceEnd { bytes: size, ..d.live });
            out
        }));
        Ok(Self {
            name: "binary".into(),
            file,
            dict,
            callsites: IdSet::default(),
            threads: IdSet::default(),
            unit: Vec::with_capacity(1 << 20),
            started: false,
        })
    }

    /// Renames the sink.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The live file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

impl Sink for BinarySink {
    fn name(&self) -> &str {
        &self.name
    }

    fn metadata(&self) -> crate::SinkMetadata {
        crate::SinkMetadata::new("binary", env!("CARGO_PKG_VERSION"))
    }

    fn start(&mut self, ctx: &SinkContext<'_>) -> Result<(), SinkError> {
        let header = file_header(ctx.clock);
        self.dict.lock().unwrap_or_else(|e| e.into_inner()).header = header.to_vec();
        if self.file.live_size() == 0 {
            self.file.write_unit(&header)?;
            self.started = true;
        } else {
            // Appending to an existing trace: a new header starts a new, self-contained run
            // only if the old clock matches; simplest and always decodable: rotate now.
            return Err(SinkError::new(format!(
                "trace file {:?} already has content; ringtrace does not append to existing traces (remove it or use rotation)",
                self.file.path()
            )));
        }
        Ok(())
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.unit.clear();
        // Threads and callsites described by this unit; they count as described only once
        // the unit is written, so a failed write never leaves records without descriptions.
        let mut new_threads: Vec<u64> = Vec::new();
        let mut new_callsites: Vec<u32> = Vec::new();
        let mut descriptions: Vec<u8> = Vec::new();
        let mut rw = RecordsWriter::default();
        // The last thread seen: consecutive events mostly come from the same thread.
        let mut last_thread = None;
        for ev in batch.iter() {
            let t = ev.thread();
            if last_thread != Some(t.id) {
                last_thread = Some(t.id);
                if !self.threads.contains(t.id) {
                    rw.finish(&mut self.unit);
                    let start = self.unit.len();
                    write_thread(&mut self.unit, t);
                    descriptions.extend_from_slice(&self.unit[start..]);
                    self.threads.set(t.id, true);
                    new_threads.push(t.id);
                }
            }
            if let Some(c) = ev.callsite() {
                if !self.callsites.contains(u64::from(c.id)) {
                    rw.finish(&mut self.unit);
                    let start = self.unit.len();
                    write_callsite(&mut self.unit, c);
                    descriptions.extend_from_slice(&self.unit[start..]);
                    self.callsites.set(u64::from(c.id), true);
                    new_callsites.push(c.id);
                }
            }
            rw.push(&mut self.unit, t.id, ev.record_bytes());
        }
        rw.finish(&mut self.unit);
        if let Err(e) = self.file.write_unit(&self.unit) {
            // Not written: what this unit described must be described again next time.
            for id in new_threads {
                self.threads.set(id, false);
            }
            for id in new_callsites {
                self.callsites.set(u64::from(id), false);
            }
            return Err(SinkError::with_source("cannot write trace", e));
        }
        let mut d = self.dict.lock().unwrap_or_else(|e| e.into_inner());
        d.chunks.extend_from_slice(&descriptions);
        let (callsites, threads) = (new_callsites.len() as u64, new_threads.len() as u64);
        d.callsites += callsites;
        d.threads += threads;
        d.live.records += rw.records();
        d.live.loss_records += rw.loss_records();
        d.live.callsites += callsites;
        d.live.threads += threads;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.file.flush().map_err(|e| SinkError::with_source("cannot flush trace", e))
    }

    /// Ends the file with its END chunk (see [`trace_file`](crate::trace_file)) and flushes.
    fn stop(&mut self) -> Result<(), SinkError> {
        if !self.started {
            return self.flush();
        }
        self.file.finish().map_err(|e| SinkError::with_source("cannot finish trace", e))
    }

    fn outputs(&self) -> Vec<PathBuf> {
        self.file.paths()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callsite::Level;
    use crate::clock::ClockCalibration;
    use crate::event::{CallsiteInfo, ThreadInfo};
    use crate::record::{Header, RecordKind};
    use crate::trace_file::{TraceReader, END_CHUNK_LEN};

    /// A trace of `n` events of two threads, one loss record, in one RECORDS chunk per record.
    fn source(n: u64) -> Vec<u8> {
        let clock = ClockCalibration::new(0, 0, 1_000_000_000);
        let mut out = file_header(&clock).to_vec();
        write_callsite(&mut out, &CallsiteInfo::new(1, Level::Info, "t", "m", "f.rs", 1, "e {}", vec![]));
        for id in [1, 2] {
            write_thread(&mut out, &ThreadInfo { id, name: format!("t{id}"), os_tid: id });
        }
        let mut w = RecordsWriter::default();
        for i in 0..n {
            let (kind, payload) = if i == 3 {
                (RecordKind::Loss, [5u64, 80, 1, 2].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
            } else {
                (RecordKind::Event, [&[crate::value::tag::U64][..], &i.to_le_bytes()].concat())
            };
            let id = if kind == RecordKind::Loss { 0 } else { 1 };
            let mut rec = Header { size: 0, flags: kind.bits(), id, ts: i }.to_bytes().to_vec();
            rec.extend_from_slice(&payload);
            let size = rec.len() as u16;
            rec[0..2].copy_from_slice(&size.to_le_bytes());
            w.push(&mut out, 1 + i % 2, &rec);
        }
        w.finish(&mut out);
        out
    }

    #[test]
    fn every_file_the_binary_sink_finishes_is_complete_rotated_ones_included() {
        let dir = std::env::temp_dir().join(format!("ringtrace-binary-end-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.rtrace");
        let mut sink = BinarySink::file(&path, Rotation { max_bytes: 600, max_files: 100 }).unwrap();
        let src = source(40);
        let mut reader = TraceReader::new(&src[..]).unwrap();
        let clock = *reader.clock();
        let config = crate::Config::default();
        sink.start(&SinkContext::new(&clock, &config)).unwrap();
        reader.for_each_batch(|b| sink.write_batch(b).unwrap()).unwrap();
        sink.stop().unwrap();
        let files = sink.outputs();
        assert!(files.len() > 3, "rotated: {files:?}");
        let (mut records, mut losses) = (0, 0);
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            let stats = TraceReader::new(&bytes[..]).unwrap().for_each_batch(|_| {}).unwrap();
            let end = stats.end.unwrap_or_else(|| panic!("{f:?} has no end marker"));
            assert_eq!(end.bytes as usize, bytes.len() - END_CHUNK_LEN, "{f:?}");
            assert_eq!(end.callsites, 1, "every file describes what it uses: {f:?}");
            records += end.records;
            losses += end.loss_records;
        }
        assert_eq!((records, losses), (40, 1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_binary_sink_that_was_never_stopped_leaves_an_incomplete_trace() {
        let dir = std::env::temp_dir().join(format!("ringtrace-binary-noend-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.rtrace");
        let src = source(5);
        let mut reader = TraceReader::new(&src[..]).unwrap();
        let clock = *reader.clock();
        let config = crate::Config::default();
        {
            let mut sink = BinarySink::file(&path, Rotation { max_bytes: 0, max_files: 0 }).unwrap();
            sink.start(&SinkContext::new(&clock, &config)).unwrap();
            reader.for_each_batch(|b| sink.write_batch(b).unwrap()).unwrap();
            // Dropped without stop: the process died.
        }
        let bytes = std::fs::read(&path).unwrap();
        let stats = TraceReader::new(&bytes[..]).unwrap().for_each_batch(|_| {}).unwrap();
        assert_eq!((stats.end, stats.records, stats.bytes), (None, 5, bytes.len() as u64));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
