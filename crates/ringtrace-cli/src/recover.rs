//! `ringtrace recover FILE -o OUT`: rebuilds a binary trace from a flight-recorder pool file
//! left behind by a process (after a crash, or a clean exit), and prints what was recovered
//! per thread. See `ringtrace::flight` for the file format and what counts as committed.

use std::path::Path;

/// Recovers `file` into the trace `out` and prints the summary to standard error.
pub(crate) fn run(file: &Path, out: &Path, json: bool) -> Result<(), String> {
    let found = ringtrace::flight::recover_file(file, out).map_err(|e| format!("{}: {e}", file.display()))?;
    if json {
        println!("{}", to_json(&found, out));
    } else {
        eprint!("{found}");
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

fn to_json(r: &ringtrace::flight::Recovery, out: &Path) -> String {
    let threads: Vec<serde_json::Value> = r
        .threads
        .iter()
        .map(|t| {
            serde_json::json!({
                "id": t.id, "name": t.name, "events": t.events, "loss_records": t.loss_records,
                "reported_lost": t.reported_lost, "rings": t.rings,
                "first_unix_ns": t.first_unix_ns, "last_unix_ns": t.last_unix_ns,
            })
        })
        .collect();
    let torn: Vec<serde_json::Value> =
        r.torn.iter().map(|t| serde_json::json!({"ring": t.ring, "thread": t.thread, "offset": t.offset})).collect();
    let corrupt: Vec<serde_json::Value> = r
        .corrupt_rings
        .iter()
        .map(|c| serde_json::json!({"ring": c.ring, "offset": c.offset, "reason": c.reason}))
        .collect();
    serde_json::json!({
        "output": out.display().to_string(),
        "clean_shutdown": r.clean_shutdown,
        "pid": r.pid,
        "records": r.records,
        "threads": threads,
        "torn": torn,
        "corrupt_rings": corrupt,
        "dictionary_dropped": r.dictionary_dropped,
        "dictionary_cut_at": r.dictionary_cut_at,
    })
    .to_string()
}
