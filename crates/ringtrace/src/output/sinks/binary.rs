//! [`BinarySink`]: the binary trace (see [`trace_file`](crate::trace_file)) to a file with
//! size-based rotation. Runs on the drain thread.

use super::rotate::{OpenError, RotatingFile, Rotation};
use crate::output::event::Batch;
use crate::output::sink::{RawBatch, Sink, SinkContext, SinkError};
use crate::output::trace_file::{
    file_header, run_chunk_header, split_run, write_callsite, write_end, write_thread, RecordsWriter, TraceEnd,
    MAX_RECORDS_CHUNK, RUN_CHUNK_HEADER_LEN,
};
use std::collections::HashSet;
use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
/// lookup is one indexed load and a strange id cannot make the vector huge.
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

/// One RUN chunk of a raw batch being written: where its header ends in `unit`, and which
/// bytes of which run it frames.
#[derive(Debug, Clone, Copy)]
struct Piece {
    header_end: usize,
    run: usize,
    start: usize,
    end: usize,
}

/// The binary trace format (see [`trace_file`](crate::trace_file)) to a rotating file.
///
/// # Two ways in
///
/// - **Raw** ([`Sink::write_raw`], the drain's bulk path; [`takes_raw`](Sink::takes_raw) is
///   true): per drain pass, the descriptions of threads and callsites this file has not seen,
///   then for every run of a thread's records a RUN chunk — a 32-byte header and the run's
///   bytes exactly as they lay in the ring — handed to the file as one unit
///   ([`RotatingFile::write_unit_vectored`]): a batch of 256 KiB or more goes out in place with
///   one `writev`, a smaller one is copied into the sink's 1 MiB buffer, which is written when
///   full (on the test machine that costs less than a `writev` per batch: see
///   [`VECTORED_COPY_BELOW`](crate::output::sinks::rotate::VECTORED_COPY_BELOW)). The records are never
///   walked (a run over [`MAX_RECORDS_CHUNK`] is cut into several chunks, which walks its
///   record headers). The threads are not merged here: readers merge them (see
///   [`trace_file`](crate::trace_file), "Order").
/// - **Decoded** ([`Sink::write_batch`]: tests, converters, a drain that does not call
///   `write_raw`): the batch's events in its order, as RECORDS chunks (one per run of
///   consecutive events of one thread), which readers hand out as they are.
///
/// # The horizon
///
/// Each raw batch's last RUN chunk carries the batch's
/// [`horizon`](crate::RawBatch::with_horizon): the drain's merge cutoff plus one, below which
/// readers hand out what they hold, so a decoded trace comes out in the order the drain's
/// merged sinks saw (see [`trace_file`](crate::trace_file), "Order"). A batch without one
/// writes 0, and readers merge within their merge limit
/// ([`DEFAULT_MERGE_LIMIT`](crate::output::trace_file::DEFAULT_MERGE_LIMIT), 64 MiB).
///
/// # Descriptions, rotation, the end marker
///
/// The sink keeps every description it wrote (the dictionary); a new file started by a
/// rotation begins with the header and that dictionary, so it decodes on its own. Every file
/// it finishes (at shutdown, and each file it rotates away) ends with an END chunk counting
/// what the file holds; a file without one was cut (the process died) or is still being
/// written. A batch that cannot be written describes nothing: its descriptions are written
/// again with the next batch that gets through (for callsites the drain announced as new in
/// it, which it will not announce again, the sink remembers them).
#[derive(Debug)]
pub struct BinarySink {
    name: String,
    file: RotatingFile,
    dict: Arc<Mutex<Dictionary>>,
    /// Callsites described so far (including, during a write, those of the unit being built;
    /// they are taken back if it cannot be written).
    callsites: IdSet,
    /// Threads described so far (same rule).
    threads: IdSet,
    /// Callsites the drain announced as new in a raw batch that could not be written: the
    /// next raw batch describes them.
    undescribed: Vec<u32>,
    /// The unit being built: descriptions and chunk headers (raw), or everything (decoded).
    unit: Vec<u8>,
    /// Scratch of `write_raw`, kept for its capacity.
    pieces: Vec<Piece>,
    new_threads: Vec<u64>,
    new_callsites: Vec<u32>,
    iov: Vec<IoSlice<'static>>,
    /// Whether `start` wrote the header (only then does `stop` end the file).
    started: bool,
}

impl BinarySink {
    /// Creates (appends to) a trace file, rotated by size. Fails if it cannot be opened.
    pub fn file(path: impl Into<PathBuf>, rotation: Rotation) -> Result<Self, OpenError> {
        let mut file = RotatingFile::open(path, rotation)?;
        // Batches under 256 KiB are copied and written a MiB at a time (see
        // `rotate::VECTORED_COPY_BELOW` for the measurements).
        file.set_buffer_capacity(1 << 20);
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
            let mut out = Vec::with_capacity(crate::output::trace_file::END_CHUNK_LEN);
            write_end(&mut out, &TraceEnd { bytes: size, ..d.live });
            out
        }));
        Ok(Self {
            name: "binary".into(),
            file,
            dict,
            callsites: IdSet::default(),
            threads: IdSet::default(),
            undescribed: Vec::new(),
            unit: Vec::with_capacity(1 << 16),
            pieces: Vec::new(),
            new_threads: Vec::new(),
            new_callsites: Vec::new(),
            iov: Vec::new(),
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

    /// After a unit was written: the descriptions at `unit[..described]` join the dictionary
    /// and the live file's counts grow by what the unit held.
    fn written(&mut self, described: usize, records: u64, losses: u64) {
        let mut d = self.dict.lock().unwrap_or_else(|e| e.into_inner());
        d.chunks.extend_from_slice(&self.unit[..described]);
        let (callsites, threads) = (self.new_callsites.len() as u64, self.new_threads.len() as u64);
        d.callsites += callsites;
        d.threads += threads;
        d.live.records += records;
        d.live.loss_records += losses;
        d.live.callsites += callsites;
        d.live.threads += threads;
    }

    /// After a unit could not be written: what it described must be described again.
    fn not_written(&mut self, raw: bool) {
        for &id in &self.new_threads {
            self.threads.set(id, false);
        }
        for &id in &self.new_callsites {
            self.callsites.set(u64::from(id), false);
        }
        if raw {
            self.undescribed.extend_from_slice(&self.new_callsites);
        }
    }
}

/// An empty vector of another lifetime on the same allocation (in-place `collect` reuses it),
/// so the slices of one batch never outlive it yet no batch allocates.
fn recycle<'b>(mut v: Vec<IoSlice<'_>>) -> Vec<IoSlice<'b>> {
    v.clear();
    v.into_iter().map(|_| IoSlice::new(&[])).collect()
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
        self.new_threads.clear();
        self.new_callsites.clear();
        // Threads and callsites described by this unit; they count as described only once
        // the unit is written, so a failed write never leaves records without descriptions.
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
                    self.new_threads.push(t.id);
                }
            }
            if let Some(c) = ev.callsite() {
                if !self.callsites.contains(u64::from(c.id)) {
                    rw.finish(&mut self.unit);
                    let start = self.unit.len();
                    write_callsite(&mut self.unit, c);
                    descriptions.extend_from_slice(&self.unit[start..]);
                    self.callsites.set(u64::from(c.id), true);
                    self.new_callsites.push(c.id);
                }
            }
            rw.push(&mut self.unit, t.id, ev.record_bytes());
        }
        rw.finish(&mut self.unit);
        if let Err(e) = self.file.write_unit(&self.unit) {
            self.not_written(false);
            return Err(SinkError::with_source("cannot write trace", e));
        }
        // `written` takes the descriptions from the front of `unit`: put them there.
        self.unit.clear();
        self.unit.extend_from_slice(&descriptions);
        self.written(descriptions.len(), rw.records(), rw.loss_records());
        Ok(())
    }

    fn takes_raw(&self) -> bool {
        true
    }

    fn write_raw(&mut self, batch: &RawBatch<'_>) -> Result<(), SinkError> {
        self.unit.clear();
        self.pieces.clear();
        self.new_threads.clear();
        self.new_callsites.clear();
        // Descriptions first: callsites first seen in this batch (and any whose batch could
        // not be written), threads this file's dictionary lacks.
        let retry = std::mem::take(&mut self.undescribed);
        let table = batch.callsites();
        for c in retry.iter().filter_map(|&id| table.get(id)).chain(batch.new_callsites()) {
            if !self.callsites.contains(u64::from(c.id)) {
                write_callsite(&mut self.unit, c);
                self.callsites.set(u64::from(c.id), true);
                self.new_callsites.push(c.id);
            }
        }
        let runs = batch.runs();
        for run in runs {
            if !run.records.is_empty() && !self.threads.contains(run.thread.id) {
                write_thread(&mut self.unit, run.thread);
                self.threads.set(run.thread.id, true);
                self.new_threads.push(run.thread.id);
            }
        }
        let described = self.unit.len();
        // A RUN chunk header per run (per piece of a run over the chunk limit).
        let (mut records, mut losses) = (0u64, 0u64);
        for (i, run) in runs.iter().enumerate() {
            let bytes = run.records;
            if bytes.is_empty() {
                continue;
            }
            if bytes.len() <= MAX_RECORDS_CHUNK {
                let h = run_chunk_header(run.thread.id, run.events + run.losses, run.losses, 0, bytes.len());
                self.unit.extend_from_slice(&h);
                self.pieces.push(Piece { header_end: self.unit.len(), run: i, start: 0, end: bytes.len() });
                records += u64::from(run.events) + u64::from(run.losses);
                losses += u64::from(run.losses);
                continue;
            }
            for piece in split_run(bytes) {
                let p = match piece {
                    Ok(p) => p,
                    Err(bad) => {
                        self.not_written(true);
                        return Err(SinkError::new(format!(
                            "a run of thread {:?} holds an invalid record at byte {} of {}; batch not written",
                            run.thread.name,
                            bad.0,
                            bytes.len()
                        )));
                    }
                };
                let start = p.records.as_ptr() as usize - bytes.as_ptr() as usize;
                let h = run_chunk_header(run.thread.id, p.count, p.losses, 0, p.records.len());
                self.unit.extend_from_slice(&h);
                self.pieces.push(Piece { header_end: self.unit.len(), run: i, start, end: start + p.records.len() });
                records += u64::from(p.count);
                losses += u64::from(p.losses);
            }
        }
        // The batch's last chunk carries the drain's merge point.
        if let (Some(last), Some(h)) = (self.pieces.last(), batch.horizon()) {
            let at = last.header_end - RUN_CHUNK_HEADER_LEN + 24;
            self.unit[at..at + 8].copy_from_slice(&h.to_le_bytes());
        }
        let mut iov = recycle(std::mem::take(&mut self.iov));
        let mut from = 0;
        for p in &self.pieces {
            iov.push(IoSlice::new(&self.unit[from..p.header_end]));
            iov.push(IoSlice::new(&runs[p.run].records[p.start..p.end]));
            from = p.header_end;
        }
        if from < self.unit.len() {
            // Descriptions without records.
            iov.push(IoSlice::new(&self.unit[from..]));
        }
        let result = self.file.write_unit_vectored(&mut iov);
        self.iov = recycle(iov);
        if let Err(e) = result {
            self.not_written(true);
            return Err(SinkError::with_source("cannot write trace", e));
        }
        self.written(described, records, losses);
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
    use crate::clock::ClockCalibration;
    use crate::level::Level;
    use crate::output::event::{CallsiteInfo, ThreadInfo};
    use crate::output::trace_file::{TraceReader, END_CHUNK_LEN};
    use crate::wire::record::{Header, RecordKind};

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
                (RecordKind::Event, [&[crate::wire::value::tag::U64][..], &i.to_le_bytes()].concat())
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
