//! Snapshots: a trace of what every live thread's rings hold, taken by the drain thread on
//! request without taking the rings ([`snapshot`]).

use crate::clock::ClockCalibration;
use crate::output::event::{CallsiteInfo, ThreadInfo};
use crate::output::trace_file;
use crate::wire::record::{MergeKey, RecordKind};
use std::fmt;
use std::path::{Path, PathBuf};

/// Writes a trace to `path` the way snapshots and [`recover_file`] do: see
/// [`private_file::write_private`](crate::flight::private_file::write_private) (mode 0600, through
/// `PATH.partial` and a rename that replaces a file or a link, never following one; a pipe or
/// character device is written to directly).
pub(crate) use crate::flight::private_file::write_private;

// ---------------------------------------------------------------------------------------------
// Writing traces (snapshots) from records copied out of rings.
// ---------------------------------------------------------------------------------------------

/// Builds a binary trace from per-thread runs of records (each run in recording order, every
/// record padded to 8 bytes as in a ring): the descriptions first, then the records merged by
/// timestamp.
pub(crate) fn write_trace(clock: &ClockCalibration, threads: &[(ThreadInfo, Vec<u8>)]) -> (Vec<u8>, u64) {
    let mut out = trace_file::file_header(clock).to_vec();
    let mut callsites = std::collections::BTreeSet::new();
    let mut refs: Vec<MergedRecord<'_>> = Vec::new();
    for (info, bytes) in threads {
        trace_file::write_thread(&mut out, info);
        let mut key = MergeKey::default();
        for (at, h) in crate::wire::record::padded_records(bytes) {
            if h.kind() == Some(RecordKind::Event) {
                callsites.insert(h.id);
            }
            refs.push((key.take(h.ts), info.id, &bytes[at..at + h.size as usize]));
        }
    }
    let callsite_count = callsites.len() as u64;
    for id in callsites {
        let info = crate::callsite::lookup(id)
            .map_or_else(|| CallsiteInfo::unknown(id), |m| CallsiteInfo::from_metadata(id, m));
        trace_file::write_callsite(&mut out, &info);
    }
    let records = refs.len() as u64;
    let w = write_merged(&mut out, refs);
    let end = trace_file::TraceEnd {
        records: w.records(),
        loss_records: w.loss_records(),
        callsites: callsite_count,
        threads: threads.len() as u64,
        bytes: out.len() as u64,
    };
    trace_file::write_end(&mut out, &end);
    (out, records)
}

/// One record for [`write_merged`]: its merge key, its thread, its bytes.
pub(super) type MergedRecord<'a> = (u64, u64, &'a [u8]);

/// Appends `refs` to `out` as RECORDS chunks in merge order (by key, stable: ties keep the
/// order given, which is each thread's order) and returns the writer's counts.
pub(super) fn write_merged(out: &mut Vec<u8>, mut refs: Vec<MergedRecord<'_>>) -> trace_file::RecordsWriter {
    refs.sort_by_key(|r| r.0);
    let mut w = trace_file::RecordsWriter::default();
    for &(_, thread, record) in &refs {
        w.push(out, thread, record);
    }
    w.finish(out);
    w
}

/// What [`snapshot`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotReport {
    /// The trace file written.
    pub path: PathBuf,
    /// Records in it.
    pub records: u64,
    /// Threads in it.
    pub threads: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Why a snapshot was not taken.
#[derive(Debug)]
#[non_exhaustive]
pub enum SnapshotError {
    /// No runtime is installed.
    NotInstalled,
    /// Called from the drain thread (from a sink), which is the thread that takes snapshots.
    FromDrain,
    /// The drain did not answer within the time allowed (it is stuck in a sink, or shutting
    /// down).
    Timeout,
    /// The trace could not be written.
    Io(std::io::Error),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::NotInstalled => f.write_str("no ringtrace runtime is installed"),
            SnapshotError::FromDrain => f.write_str("a snapshot cannot be taken from the drain thread (inside a sink)"),
            SnapshotError::Timeout => f.write_str("the drain thread did not take the snapshot in time"),
            SnapshotError::Io(e) => write!(f, "cannot write the snapshot: {e}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// Writes the current contents of every thread's rings to `path` as a binary trace, without
/// stopping recording (like an LTTng snapshot session). One thread's records come out in
/// recording order and complete (a record being written is left out); with `DropOldest`
/// (the flight-recorder preset) they are each thread's newest. The drain thread takes the
/// snapshot; this call waits for it (at most the configured `shutdown_timeout`).
///
/// Records already delivered to sinks are not in the rings any more: in the flight-recorder
/// mode nothing is delivered while the process runs, so a snapshot holds all that the pool
/// keeps.
///
/// ```
/// # #[cfg(not(feature = "loom"))]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let guard = ringtrace::Builder::new().ignore_env().preset(ringtrace::Preset::FlightRecorder).install()?;
/// ringtrace::info!("before the snapshot");
/// let dir = std::env::temp_dir().join(format!("rt-snap-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let report = ringtrace::snapshot(dir.join("now.rtrace"))?;
/// assert_eq!(report.records, 1);
/// # drop(guard);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// # #[cfg(feature = "loom")]
/// # fn main() {}
/// ```
pub fn snapshot(path: impl AsRef<Path>) -> Result<SnapshotReport, SnapshotError> {
    request(Some(path.as_ref().to_path_buf()), None)
}

/// Asks the installed runtime's drain for a snapshot to `path` and waits for it, or, with
/// `path: None`, for a flush of everything the rings hold to the sinks. `timeout: None` means
/// `shutdown_timeout`.
pub(super) fn request(
    path: Option<PathBuf>,
    timeout: Option<std::time::Duration>,
) -> Result<SnapshotReport, SnapshotError> {
    if crate::recording::producer::is_drain_thread() {
        return Err(SnapshotError::FromDrain);
    }
    let Some(shared) = crate::shared::CURRENT.load_full() else { return Err(SnapshotError::NotInstalled) };
    let rx = post_request(&shared, path);
    let timeout = timeout.unwrap_or(shared.config.shutdown_timeout);
    drop(shared);
    rx.recv_timeout(timeout).map_err(|_| SnapshotError::Timeout)?
}

/// Posts the drain request for [`request`] and returns where its answer arrives.
pub(crate) fn post_request(
    shared: &crate::shared::Shared,
    path: Option<PathBuf>,
) -> std::sync::mpsc::Receiver<Result<SnapshotReport, SnapshotError>> {
    let (tx, rx) = std::sync::mpsc::channel();
    shared.post_request(crate::shared::DrainRequest::new(move |drain| {
        let _ = tx.send(match path {
            Some(path) => take(drain, &path),
            None => {
                drain.flush_now();
                Ok(SnapshotReport { path: PathBuf::new(), records: 0, threads: 0, bytes: 0 })
            }
        });
    }));
    rx
}

/// On the drain thread: copies every live thread's rings, without taking them, into a trace
/// at `path`.
pub(super) fn take(drain: &mut dyn crate::shared::DrainAccess, path: &Path) -> Result<SnapshotReport, SnapshotError> {
    let threads = drain.peek_threads();
    let (trace, records) = write_trace(&drain.shared().clock, &threads);
    // Mode 0600, through `PATH.partial` and a rename: a reader never sees half a snapshot.
    write_private(path, &trace).map_err(SnapshotError::Io)?;
    Ok(SnapshotReport { path: path.to_path_buf(), records, threads: threads.len() as u64, bytes: trace.len() as u64 })
}
