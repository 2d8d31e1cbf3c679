//! Issue 19 item 3: the two documented set-ups together. `tracing-subscriber`'s `init()`
//! (default features) installs `tracing-log`'s `LogTracer` as `log`'s logger; the documented
//! `RingtraceLogger::init().expect(…)` then must not fail, and `log` records, which now reach
//! ringtrace through the bridge, must keep their real target, file and line (not target `log`
//! with `log.target`, `log.file`, … as fields) — as `tracing-subscriber`'s fmt layer, run in
//! the same subscriber, shows them.
#![cfg(not(feature = "loom"))]

mod common;

use common::{Capture, FmtBuf};
use std::time::Duration;
use tracing_subscriber::prelude::*;

#[test]
fn log_records_through_tracing_log_keep_their_target_file_and_line() {
    let (capture, seen) = Capture::new();
    let guard = ringtrace::Builder::new().ignore_env().sink(capture).install().unwrap();

    // The tracing set-up, as documented (plus fmt, to compare with).
    let fmt_out = FmtBuf::default();
    let w = fmt_out.clone();
    let fmt = tracing_subscriber::fmt::layer().with_ansi(false).without_time().with_file(true).with_line_number(true);
    tracing_subscriber::registry()
        .with(fmt.with_writer(move || w.clone()))
        .with(ringtrace_tracing::RingtraceLayer::new())
        .init();
    // The log set-up, as documented.
    ringtrace_tracing::RingtraceLogger::init().expect("no other logger");

    let line = line!() + 1;
    log::info!(target: "net", "retry {} of {}", 1, 3);
    log::warn!("static message");
    tracing::info!(n = 1u64, "from tracing");
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 3);

    let seen = seen.lock().unwrap().clone();
    let fmt_lines = fmt_out.lines();
    assert_eq!(fmt_lines.len(), 3, "{fmt_lines:?}");
    for (i, (s, f)) in seen.iter().zip(&fmt_lines).enumerate() {
        assert_eq!(s.level, f.level, "{s:?} {f:?}");
        assert_eq!(s.target, f.target, "{s:?} {f:?}");
        assert_eq!(s.file, f.file, "{s:?} {f:?}");
        assert_eq!(s.line, f.line, "{s:?} {f:?}");
        assert_eq!(s.line, line + i as u32);
        assert_eq!(format!("{} {}", s.message, s.plain_fields()).trim_end(), f.rest, "{s:?} {f:?}");
    }
    assert_eq!((seen[0].target.as_str(), seen[0].message.as_str()), ("net", "retry 1 of 3"));
    assert_eq!(seen[1].target, module_path!());
    assert_eq!(seen[0].file, file!());
    assert!(seen[..2].iter().all(|s| s.fields.is_empty()), "no log.* fields: {seen:?}");
    assert_eq!(seen[0].json["target"], "net");
}
