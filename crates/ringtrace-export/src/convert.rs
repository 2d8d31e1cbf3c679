//! Converting a binary trace file (read with [`TraceReader`]) into the export formats, chunk
//! by chunk: memory use does not grow with the trace.
//!
//! Every converter calls `on_batch` after each chunk of records it converted (for progress
//! reports) and returns the reader's [`ReadStats`], whose [`end`](ReadStats::end) says
//! whether the trace ended with its end marker (`None`: it was cut or is still being
//! written, and was converted up to its last complete chunk). A corrupt or truncated trace is converted
//! up to the damage, the output is completed (valid JSON, a readable CTF directory), and then
//! the reader's error comes back as [`ExportError::Trace`], with the byte offset.

use crate::chrome::{ChromeOptions, ChromeWriter};
use crate::ctf::{CtfOptions, CtfSummary, CtfWriter};
use crate::ExportError;
use ringtrace::render::render_json;
use ringtrace::trace_file::{ReadStats, TraceReader};
use ringtrace::Batch;
use std::io::{Read, Write};
use std::path::Path;

/// Converts a trace to trace-event JSON written to `out`; returns `out` (flushed).
pub fn to_chrome<R: Read, W: Write>(
    reader: &mut TraceReader<R>,
    out: W,
    opts: ChromeOptions,
    on_batch: impl FnMut(&Batch<'_>),
) -> Result<(W, ReadStats), ExportError> {
    let clock = *reader.clock();
    let mut w = ChromeWriter::new(out, &clock, opts).map_err(ExportError::Output)?;
    let (written, read) = pump(reader, |b| w.write_batch(b), on_batch);
    written.map_err(ExportError::Output)?;
    let out = w.finish().map_err(ExportError::Output)?;
    Ok((out, read?))
}

/// Converts a trace to a CTF 1.8 directory `dir` (created; must be empty if it exists).
pub fn to_ctf<R: Read>(
    reader: &mut TraceReader<R>,
    dir: impl AsRef<Path>,
    opts: CtfOptions,
    on_batch: impl FnMut(&Batch<'_>),
) -> Result<(CtfSummary, ReadStats), ExportError> {
    let clock = *reader.clock();
    let mut w = CtfWriter::create(dir.as_ref(), &clock, opts)?;
    let (written, read) = pump(reader, |b| w.write_batch(b), on_batch);
    written?;
    let summary = w.finish()?;
    Ok((summary, read?))
}

/// Converts a trace to ringtrace's own JSON lines (what
/// [`render_json`] and `ringtrace decode --format jsonl`
/// write); returns `out` (flushed).
pub fn to_jsonl<R: Read, W: Write>(
    reader: &mut TraceReader<R>,
    mut out: W,
    on_batch: impl FnMut(&Batch<'_>),
) -> Result<(W, ReadStats), ExportError> {
    let mut line = String::with_capacity(1 << 16);
    let (written, read) = pump(
        reader,
        |batch| {
            line.clear();
            for ev in batch.iter() {
                render_json(&ev, &mut line);
                // Handed on every 1 MiB: memory holds a piece of a chunk's text, not all of it.
                if line.len() >= 1 << 20 {
                    out.write_all(line.as_bytes())?;
                    line.clear();
                }
            }
            out.write_all(line.as_bytes())
        },
        on_batch,
    );
    written.and_then(|()| out.flush()).map_err(ExportError::Output)?;
    Ok((out, read?))
}

/// Feeds every batch of `reader` to `write` until it fails (the rest is read but not
/// written, so the reader still reports its own error or statistics), calling `on_batch` after
/// each batch written. Returns the first write error, if any, and the reader's result.
fn pump<R: Read, E>(
    reader: &mut TraceReader<R>,
    mut write: impl FnMut(&Batch<'_>) -> Result<(), E>,
    mut on_batch: impl FnMut(&Batch<'_>),
) -> (Result<(), E>, Result<ReadStats, ringtrace::trace_file::TraceError>) {
    let mut written = Ok(());
    let read = reader.for_each_batch(|batch| {
        if written.is_ok() {
            written = write(batch);
            on_batch(batch);
        }
    });
    (written, read)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::SpanStyle;
    use ringtrace::trace_file::{file_header, write_callsite, write_thread, RecordsWriter};
    use ringtrace::{CallsiteInfo, CallsiteKind, ClockCalibration, Level, ThreadInfo};

    /// A hand-built trace file (see [`sample_trace`]).
    pub(crate) struct SampleTrace {
        pub bytes: Vec<u8>,
        pub clock: ClockCalibration,
        /// Unix ns of the "hello 42" event.
        pub hello_ns: u64,
    }

    impl SampleTrace {
        pub fn reader(&self) -> TraceReader<&[u8]> {
            TraceReader::new(&self.bytes[..]).unwrap()
        }

        pub fn chrome_text(&self, spans: SpanStyle) -> Vec<u8> {
            let opts = ChromeOptions { spans, ..ChromeOptions::default() };
            to_chrome(&mut self.reader(), Vec::new(), opts, |_| {}).unwrap().0
        }
    }

    const EVENT: u16 = 1;
    const RAW: u16 = 2;
    const LOSS: u16 = 3;
    const FLAG_CONTEXT: u16 = 1 << 4;

    fn u32v(v: u32) -> Vec<u8> {
        let mut b = vec![3];
        b.extend_from_slice(&v.to_le_bytes());
        b
    }

    fn u64v(v: u64) -> Vec<u8> {
        let mut b = vec![4];
        b.extend_from_slice(&v.to_le_bytes());
        b
    }

    fn record(flags: u16, id: u32, ts: u64, payload: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&((16 + payload.len()) as u16).to_le_bytes());
        r.extend_from_slice(&flags.to_le_bytes());
        r.extend_from_slice(&id.to_le_bytes());
        r.extend_from_slice(&ts.to_le_bytes());
        r.extend_from_slice(payload);
        r
    }

    fn loss(events: u64, bytes: u64, first: u64, last: u64) -> Vec<u8> {
        [events, bytes, first, last].iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn callsite(
        id: u32,
        level: Level,
        target: &str,
        format: &str,
        fields: &[&str],
        kind: CallsiteKind,
    ) -> CallsiteInfo {
        CallsiteInfo::new(id, level, target, "m", "f.rs", id, format, fields.iter().map(|f| f.to_string()).collect())
            .with_kind(kind)
    }

    fn build(callsites: &[CallsiteInfo], threads: &[(u64, &str)], records: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let clock = clock();
        let mut out = file_header(&clock).to_vec();
        for c in callsites {
            write_callsite(&mut out, c);
        }
        for &(id, name) in threads {
            write_thread(&mut out, &ThreadInfo { id, name: name.into(), os_tid: 1000 + id });
        }
        let mut w = RecordsWriter::default();
        for (t, r) in records {
            w.push(&mut out, *t, r);
        }
        w.finish(&mut out);
        out
    }

    /// Ticks are nanoseconds after the anchor.
    fn clock() -> ClockCalibration {
        ClockCalibration::new(0, 1_700_000_000_123_456_789, 1_000_000_000)
    }

    /// Two threads, `main` (1) and `worker` (2): nested spans `outer` ⊃ `inner` on main, an
    /// event with a field, an argument and bound context, an end edge without a begin and a
    /// span left open on worker, a loss record of 5 events, a raw record, and a message with a
    /// quote and a newline. Ten records.
    pub(crate) fn sample_trace() -> SampleTrace {
        use CallsiteKind::*;
        let cs = vec![
            callsite(1, Level::Info, "app", "hello {}", &["qty"], Event),
            callsite(2, Level::Info, "app", "outer", &["id"], SpanBegin),
            callsite(3, Level::Info, "app", "outer", &[], SpanEnd),
            callsite(4, Level::Debug, "app::inner", "inner", &[], SpanBegin),
            callsite(5, Level::Debug, "app::inner", "inner", &[], SpanEnd),
            callsite(6, Level::Trace, "app", "left open", &[], SpanBegin),
            callsite(7, Level::Trace, "app", "orphan", &[], SpanEnd),
            callsite(8, Level::Warn, "app::x", "quote \" and \n newline", &[], Event),
        ];
        let mut hello = Vec::new();
        let ctx: Vec<u8> = [vec![3u8], b"req".to_vec(), u64v(9)].concat();
        hello.extend_from_slice(&(ctx.len() as u16).to_le_bytes());
        hello.extend_from_slice(&ctx);
        hello.extend_from_slice(&u32v(3));
        hello.extend_from_slice(&u64v(42));
        let records = vec![
            (1, record(EVENT, 2, 1000, &u64v(7))),
            (2, record(EVENT, 7, 1100, &[])),
            (1, record(EVENT | FLAG_CONTEXT, 1, 1200, &hello)),
            (1, record(EVENT, 4, 1300, &[])),
            (2, record(EVENT, 6, 1400, &[])),
            (1, record(EVENT, 5, 1500, &[])),
            (2, record(LOSS, 0, 1600, &loss(5, 160, 1410, 1590))),
            (1, record(EVENT, 3, 1700, &[])),
            (2, record(RAW, 77, 1800, &[1, 2, 3])),
            (1, record(EVENT, 8, 1900, &[])),
        ];
        let clock = clock();
        SampleTrace {
            bytes: build(&cs, &[(1, "main"), (2, "worker")], &records),
            clock,
            hello_ns: clock.anchor_unix_ns + 1200,
        }
    }

    /// One thread whose first record is a loss record (4 events), then one event.
    pub(crate) fn loss_first_trace() -> SampleTrace {
        let cs = vec![callsite(1, Level::Info, "app", "a", &[], CallsiteKind::Event)];
        let records = vec![(1, record(LOSS, 0, 500, &loss(4, 128, 100, 400))), (1, record(EVENT, 1, 600, &[]))];
        let clock = clock();
        SampleTrace { bytes: build(&cs, &[(1, "solo")], &records), clock, hello_ns: 0 }
    }

    #[test]
    fn jsonl_is_what_render_json_writes() {
        let t = sample_trace();
        let mut batches = 0;
        let (out, stats) = to_jsonl(&mut t.reader(), Vec::new(), |_| batches += 1).unwrap();
        assert_eq!(stats.records, 10);
        assert!(batches >= 2, "a chunk per run of one thread's records");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 10);
        for l in text.lines() {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
        assert!(text.lines().nth(2).unwrap().contains("\"message\":\"hello 42\""));
    }

    #[test]
    fn a_truncated_trace_converts_what_came_before_and_reports_the_offset() {
        let t = sample_trace();
        // Cut inside the last records chunk.
        let cut = &t.bytes[..t.bytes.len() - 5];
        let mut r = TraceReader::new(cut).unwrap();
        let mut out = Vec::new();
        let e = to_chrome(&mut r, &mut out, ChromeOptions::default(), |_| {}).unwrap_err();
        assert!(matches!(e, ExportError::Trace(_)));
        assert!(e.to_string().contains("truncated at byte"), "{e}");
        // Still valid JSON, with what came before.
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v["traceEvents"].as_array().unwrap().iter().any(|e| e["name"] == "hello 42"));

        let mut r = TraceReader::new(cut).unwrap();
        let e = to_jsonl(&mut r, Vec::new(), |_| {}).unwrap_err();
        assert!(e.to_string().contains("truncated at byte"), "{e}");
    }

    #[test]
    fn a_failing_output_is_an_output_error() {
        #[derive(Debug)]
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let t = sample_trace();
        let e = to_chrome(&mut t.reader(), Broken, ChromeOptions::default(), |_| {}).unwrap_err();
        assert!(matches!(e, ExportError::Output(_)));
        assert!(e.to_string().contains("disk full"), "{e}");
        let e = to_jsonl(&mut t.reader(), Broken, |_| {}).unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
    }
}
