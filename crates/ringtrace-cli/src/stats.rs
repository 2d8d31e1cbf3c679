//! `ringtrace stats FILE [--json] [--top N]`: what a binary trace holds — events per thread,
//! level and callsite, span edges, raw records, loss records (and the events and bytes they
//! report lost), the time span covered, and the top callsites by count and by bytes.
//!
//! Bytes are record bytes as stored (16-byte header and payload, without the padding to 8).
//! The file cannot know about drops nobody reported: what it counts as lost is the sum of its
//! loss records, which is every drop of a run that shut down cleanly.
//!
//! It also says whether the trace is complete: a finished trace ends with an end marker that
//! states what the writer put in the file (records, loss records, callsite and thread
//! descriptions, bytes), and the reader checks those counts against what it read (a mismatch
//! is an error). A trace without it is incomplete (its writer crashed or is still writing):
//! the statistics cover what was read, up to the last complete chunk, and a warning says so
//! (with `--strict`: status 3).

use crate::progress::Input;
use crate::{check_complete, Failure};
use ringtrace::render::write_timestamp;
use ringtrace::trace_file::ReadStats;
use ringtrace::{CallsiteKind, Event, Level, RecordKind};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

/// Counts of one thread.
#[derive(Debug, Default, Clone)]
struct ThreadStats {
    name: String,
    events: u64,
    bytes: u64,
    loss_records: u64,
    lost_events: u64,
    lost_bytes: u64,
}

/// Counts of one callsite.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    events: u64,
    bytes: u64,
}

/// Everything `stats` counts.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    read: ReadStats,
    /// The trace's format version (its header).
    format_version: u16,
    threads: BTreeMap<u64, ThreadStats>,
    /// Index: the level's number (1 error … 5 trace), 0 for events of an unknown callsite.
    levels: [u64; 6],
    callsites: HashMap<u32, Count>,
    /// Callsite descriptions: (level, target, file:line, format, kind).
    described: HashMap<u32, (Option<Level>, String, String, String, CallsiteKind)>,
    events: u64,
    span_begins: u64,
    span_ends: u64,
    raw: Count,
    loss_records: u64,
    lost_events: u64,
    lost_bytes: u64,
    first_ns: Option<u64>,
    last_ns: Option<u64>,
}

impl Stats {
    /// Counts one record.
    pub(crate) fn add(&mut self, ev: &Event<'_>) {
        let bytes = ev.record_bytes().len() as u64;
        let ns = ev.unix_nanos();
        self.first_ns = Some(self.first_ns.map_or(ns, |f| f.min(ns)));
        self.last_ns = Some(self.last_ns.map_or(ns, |l| l.max(ns)));
        let t = ev.thread();
        let ts = self.threads.entry(t.id).or_default();
        if ts.name != t.name {
            ts.name.clone_from(&t.name);
        }
        match ev.kind() {
            RecordKind::Loss => {
                let l = ev.loss().unwrap_or_default();
                ts.loss_records += 1;
                ts.lost_events += l.events;
                ts.lost_bytes += l.bytes;
                self.loss_records += 1;
                self.lost_events += l.events;
                self.lost_bytes += l.bytes;
            }
            RecordKind::Raw => {
                ts.events += 1;
                ts.bytes += bytes;
                self.raw.events += 1;
                self.raw.bytes += bytes;
            }
            _ => {
                ts.events += 1;
                ts.bytes += bytes;
                self.events += 1;
                self.levels[ev.level().map_or(0, |l| l as usize)] += 1;
                match ev.callsite_kind() {
                    CallsiteKind::SpanBegin => self.span_begins += 1,
                    CallsiteKind::SpanEnd => self.span_ends += 1,
                    _ => {}
                }
                let c = self.callsites.entry(ev.id()).or_default();
                c.events += 1;
                c.bytes += bytes;
                if let (false, Some(cs)) = (self.described.contains_key(&ev.id()), ev.callsite()) {
                    let at = format!("{}:{}", cs.file, cs.line);
                    self.described.insert(ev.id(), (Some(cs.level), cs.target.clone(), at, cs.format.clone(), cs.kind));
                }
            }
        }
    }

    /// Callsite ids sorted by a key, largest first (ties by id).
    fn top(&self, key: impl Fn(&Count) -> u64) -> Vec<(u32, Count)> {
        let mut v: Vec<(u32, Count)> = self.callsites.iter().map(|(&id, &c)| (id, c)).collect();
        v.sort_by(|a, b| key(&b.1).cmp(&key(&a.1)).then(a.0.cmp(&b.0)));
        v
    }

    fn duration_ns(&self) -> u64 {
        match (self.first_ns, self.last_ns) {
            (Some(f), Some(l)) => l - f,
            _ => 0,
        }
    }

    fn callsite_json(&self, id: u32, c: Count) -> Value {
        let (level, target, at, format, kind) = self.described.get(&id).cloned().unwrap_or((
            None,
            String::new(),
            String::new(),
            String::new(),
            CallsiteKind::Event,
        ));
        json!({
            "id": id,
            "level": level.map_or("?", |l| l.as_str()),
            "kind": kind.as_str(),
            "target": target,
            "location": at,
            "format": format,
            "events": c.events,
            "bytes": c.bytes,
        })
    }

    /// The statistics as one JSON object.
    pub(crate) fn to_json(&self, file: &Path, top: usize) -> Value {
        let ts = |ns: Option<u64>| {
            ns.map(|n| {
                let mut s = String::new();
                write_timestamp(&mut s, n);
                s
            })
        };
        let take = |n: usize| if top == 0 { n } else { top.min(n) };
        let by_count = self.top(|c| c.events);
        let by_bytes = self.top(|c| c.bytes);
        let end = self.read.end.map(|e| {
            json!({
                "offset": e.bytes,
                "records": e.records,
                "loss_records": e.loss_records,
                "callsites": e.callsites,
                "threads": e.threads,
            })
        });
        json!({
            "file": file.display().to_string(),
            "file_bytes": self.read.bytes,
            "format_version": self.format_version,
            "complete": self.read.is_complete(),
            "end_marker": end,
            "records": self.read.records,
            "events": self.events,
            "span_begins": self.span_begins,
            "span_ends": self.span_ends,
            "raw_records": self.raw.events,
            "raw_bytes": self.raw.bytes,
            "loss_records": self.loss_records,
            "lost_events": self.lost_events,
            "lost_bytes": self.lost_bytes,
            "first_ts": ts(self.first_ns),
            "last_ts": ts(self.last_ns),
            "duration_ns": self.duration_ns(),
            "levels": Level::ALL.iter().map(|&l| (l.as_str().to_string(), json!(self.levels[l as usize])))
                .chain(std::iter::once(("unknown".to_string(), json!(self.levels[0]))))
                .collect::<serde_json::Map<_, _>>(),
            "threads": self.threads.iter().map(|(id, t)| json!({
                "id": id,
                "name": t.name,
                "events": t.events,
                "bytes": t.bytes,
                "loss_records": t.loss_records,
                "lost_events": t.lost_events,
                "lost_bytes": t.lost_bytes,
            })).collect::<Vec<_>>(),
            "callsites": by_count.iter().map(|&(id, c)| self.callsite_json(id, c)).collect::<Vec<_>>(),
            "top_by_count": by_count.iter().take(take(by_count.len())).map(|&(id, _)| id).collect::<Vec<_>>(),
            "top_by_bytes": by_bytes.iter().take(take(by_bytes.len())).map(|&(id, _)| id).collect::<Vec<_>>(),
        })
    }

    /// The statistics as plain text.
    pub(crate) fn to_text(&self, file: &Path, top: usize) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: {} records in {} bytes (format {}): {} events ({} span begins, {} span ends), {} raw, {} loss records",
            file.display(),
            self.read.records,
            self.read.bytes,
            self.format_version,
            self.events,
            self.span_begins,
            self.span_ends,
            self.raw.events,
            self.loss_records
        );
        match self.read.end {
            Some(e) => {
                let _ = writeln!(
                    s,
                    "complete: end marker at byte {} ({} records, {} loss records, {} callsites, {} threads: as read)",
                    e.bytes, e.records, e.loss_records, e.callsites, e.threads
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "INCOMPLETE: no end marker; the last complete chunk ends at byte {} (the writer crashed, was \
                     killed, or is still writing)",
                    self.read.bytes
                );
            }
        }
        match (self.first_ns, self.last_ns) {
            (Some(f), Some(l)) => {
                s.push_str("time span: ");
                write_timestamp(&mut s, f);
                s.push_str(" .. ");
                write_timestamp(&mut s, l);
                let d = self.duration_ns();
                let _ = writeln!(s, " ({}.{:09} s)", d / 1_000_000_000, d % 1_000_000_000);
            }
            _ => s.push_str("time span: (no records)\n"),
        }
        let _ = writeln!(
            s,
            "lost (reported by loss records): {} events, {} bytes, in {} loss records",
            self.lost_events, self.lost_bytes, self.loss_records
        );

        s.push_str("\nthreads\n");
        let _ = writeln!(
            s,
            "  {:>6}  {:<24} {:>12} {:>14} {:>6} {:>12}",
            "id", "name", "events", "bytes", "losses", "lost events"
        );
        for (id, t) in &self.threads {
            let _ = writeln!(
                s,
                "  {id:>6}  {:<24} {:>12} {:>14} {:>6} {:>12}",
                t.name, t.events, t.bytes, t.loss_records, t.lost_events
            );
        }

        s.push_str("\nlevels\n");
        for l in Level::ALL {
            let _ = writeln!(s, "  {:<7} {:>12}", l.as_str(), self.levels[l as usize]);
        }
        if self.levels[0] > 0 {
            let _ = writeln!(s, "  {:<7} {:>12}", "unknown", self.levels[0]);
        }

        for (title, list) in [("by count", self.top(|c| c.events)), ("by bytes", self.top(|c| c.bytes))] {
            let n = if top == 0 { list.len() } else { top.min(list.len()) };
            let _ = writeln!(s, "\ncallsites {title} (top {n} of {})", list.len());
            let _ = writeln!(
                s,
                "  {:>6} {:>12} {:>14}  {:<5} {:<5} where / what",
                "id", "events", "bytes", "level", "kind"
            );
            for &(id, c) in &list[..n] {
                let (level, target, at, format, kind) = self.described.get(&id).cloned().unwrap_or((
                    None,
                    String::new(),
                    String::new(),
                    String::new(),
                    CallsiteKind::Event,
                ));
                let _ = writeln!(
                    s,
                    "  {id:>6} {:>12} {:>14}  {:<5} {:<5} {target} {at} {format:?}",
                    c.events,
                    c.bytes,
                    level.map_or("?", |l| l.as_str()),
                    kind.as_str(),
                );
            }
        }
        s
    }
}

/// Reads `file` and prints its statistics. A corrupt or truncated file fails with the byte
/// offset (and prints nothing); an incomplete one (no end marker) is counted up to its last
/// complete chunk, printed, and warned about (with `strict`: status 3).
pub(crate) fn run(file: &Path, json: bool, top: usize, strict: bool) -> Result<(), Failure> {
    let mut input = Input::open(file, "reading")?;
    let mut stats = Stats { format_version: input.reader.version(), ..Stats::default() };
    let result = input.reader.for_each_batch(|batch| {
        for ev in batch.iter() {
            stats.add(&ev);
        }
        input.progress.tick();
    });
    input.progress.done();
    stats.read = result.map_err(|e| format!("{}: {e}", file.display()))?;
    let out = if json {
        let mut s =
            serde_json::to_string_pretty(&stats.to_json(file, top)).map_err(|e| Failure::Error(e.to_string()))?;
        s.push('\n');
        s
    } else {
        stats.to_text(file, top)
    };
    use std::io::Write;
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("cannot write output: {e}").into()),
        _ => check_complete(file, &stats.read, strict),
    }
}
