//! Acceptance: sink lifecycle and failure containment (R-LIFE-1, R-LIFE-2, R-LIFE-4).

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::{Batch, Diagnostic, DiagnosticKind, DiagnosticSink, Sink, SinkContext, SinkError, SinkPhase};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Log = Arc<Mutex<Vec<String>>>;

/// Logs its lifecycle; fails `stop` if asked; fails every `fail_every`th batch; panics on
/// batch `panic_on`.
struct Scripted {
    name: String,
    log: Log,
    fail_stop: bool,
    fail_every: usize,
    panic_on: usize,
    batches: usize,
    failed_events: Arc<Mutex<u64>>,
    ok_events: Arc<Mutex<u64>>,
}

impl Scripted {
    fn new(name: &str, log: &Log) -> Self {
        Self {
            name: name.into(),
            log: log.clone(),
            fail_stop: false,
            fail_every: 0,
            panic_on: 0,
            batches: 0,
            failed_events: Default::default(),
            ok_events: Default::default(),
        }
    }
}

impl Sink for Scripted {
    fn name(&self) -> &str {
        &self.name
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new(self.name().to_string(), env!("CARGO_PKG_VERSION"))
    }

    fn start(&mut self, _: &SinkContext<'_>) -> Result<(), SinkError> {
        self.log.lock().unwrap().push(format!("start {}", self.name));
        Ok(())
    }
    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.batches += 1;
        if self.panic_on == self.batches {
            panic!("sink {} panics on purpose", self.name);
        }
        if self.fail_every > 0 && self.batches % self.fail_every == 0 {
            *self.failed_events.lock().unwrap() += batch.len() as u64;
            return Err(SinkError::new(format!("batch {} refused", self.batches)));
        }
        *self.ok_events.lock().unwrap() += batch.len() as u64;
        Ok(())
    }
    fn stop(&mut self) -> Result<(), SinkError> {
        self.log.lock().unwrap().push(format!("stop {}", self.name));
        if self.fail_stop {
            return Err(SinkError::new("stop refused"));
        }
        Ok(())
    }
}

fn diag_collector() -> (DiagnosticSink, Arc<Mutex<Vec<Diagnostic>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    (DiagnosticSink::Hook(Arc::new(move |d: &Diagnostic| s2.lock().unwrap().push(d.clone()))), seen)
}

#[test]
fn started_in_order_stopped_in_reverse_and_a_failing_stop_is_contained() {
    let _s = common::serial();
    let log: Log = Default::default();
    let mut b = Scripted::new("b", &log);
    b.fail_stop = true;
    let (diags, seen) = diag_collector();
    let guard = ringtrace::Builder::new()
        .sink(Scripted::new("a", &log))
        .sink(b)
        .sink(Scripted::new("c", &log))
        .diagnostics(diags)
        .install()
        .unwrap();
    ringtrace::info!("one event");
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(*log.lock().unwrap(), ["start a", "start b", "start c", "stop c", "stop b", "stop a"]);
    assert_eq!(report.sink_errors.len(), 1);
    let e = &report.sink_errors[0];
    assert_eq!((e.sink.as_str(), e.phase, e.message.as_str()), ("b", SinkPhase::Stop, "stop refused"));
    assert_eq!(report.sink("b").unwrap().errors, 1);
    for s in ["a", "b", "c"] {
        assert_eq!(report.sink(s).unwrap().written, 1, "sink {s}");
    }
    let seen = seen.lock().unwrap();
    assert!(seen.iter().any(|d| d.kind == DiagnosticKind::SinkStop && d.sink.as_deref() == Some("b")), "{seen:?}");
}

#[test]
fn a_sink_failing_every_third_batch_loses_exactly_those_batches() {
    let _s = common::serial();
    let log: Log = Default::default();
    let mut flaky = Scripted::new("flaky", &log);
    flaky.fail_every = 3;
    let (failed, ok) = (flaky.failed_events.clone(), flaky.ok_events.clone());
    let all = common::Collect::new("all");
    let (diags, seen) = diag_collector();
    let guard =
        ringtrace::Builder::new().batch_size(10).sink(flaky).sink(all.clone()).diagnostics(diags).install().unwrap();
    for i in 0..1_000u64 {
        ringtrace::info!("event {}", i);
    }
    let report = guard.shutdown(Duration::from_secs(10));
    let flaky = report.sink("flaky").unwrap();
    let batches = all.batches.lock().unwrap().len();
    assert_eq!(report.recorded, 1_000);
    assert_eq!(all.events().len(), 1_000, "the other sink gets every event");
    assert_eq!(report.sink("all").unwrap().written, 1_000);
    assert_eq!(flaky.errors as usize, batches / 3, "every third of {batches} batches failed");
    assert_eq!(flaky.dropped, *failed.lock().unwrap(), "the failed batches' events, exactly");
    assert_eq!(flaky.written, *ok.lock().unwrap());
    assert_eq!(flaky.written + flaky.dropped, 1_000);
    assert!(flaky.dropped > 0);
    assert_eq!(
        report.sink_errors.iter().filter(|e| e.sink == "flaky" && e.phase == SinkPhase::Write).count(),
        batches / 3
    );
    let seen = seen.lock().unwrap();
    let write_diags: Vec<_> = seen.iter().filter(|d| d.kind == DiagnosticKind::SinkWrite).collect();
    assert!(!write_diags.is_empty());
    assert!(write_diags.iter().all(|d| d.sink.as_deref() == Some("flaky")));
    assert!(write_diags.len() <= ringtrace::RATE_LIMIT as usize, "rate-limited: {}", write_diags.len());
}

#[test]
fn a_panicking_sink_does_not_kill_the_drain() {
    let _s = common::serial();
    let log: Log = Default::default();
    let mut boom = Scripted::new("boom", &log);
    boom.panic_on = 2;
    let all = common::Collect::new("all");
    let guard = ringtrace::Builder::new()
        .batch_size(10)
        .sink(boom)
        .sink(all.clone())
        .diagnostics(DiagnosticSink::Off)
        .install()
        .unwrap();
    for i in 0..100u64 {
        ringtrace::info!("event {}", i);
    }
    let report = guard.shutdown(Duration::from_secs(10));
    assert!(!report.timed_out);
    let boom = report.sink("boom").unwrap();
    assert_eq!(boom.panics, 1);
    assert_eq!(boom.written + boom.dropped, 100);
    assert_eq!(all.events().len(), 100, "batches after the panic still flow");
    assert!(boom.last_error.as_deref().unwrap().contains("panics on purpose"));
    assert_eq!(*log.lock().unwrap(), ["start boom", "stop boom"]);
}

/// A sink declaring whatever metadata it is given.
struct Declares(ringtrace::SinkMetadata);

impl Sink for Declares {
    fn name(&self) -> &str {
        "declares"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        self.0.clone()
    }

    fn start(&mut self, _: &SinkContext<'_>) -> Result<(), SinkError> {
        panic!("an incompatible sink must not be started")
    }

    fn write_batch(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn sink_metadata_defaults_to_the_first_release_which_this_runtime_accepts() {
    let m = ringtrace::SinkMetadata::new("mine", "1.4.2");
    assert_eq!((m.name(), m.version(), m.min_ringtrace_version()), ("mine", "1.4.2", "0.1.0"));
    assert_eq!(ringtrace::SinkMetadata::DEFAULT_MIN_RINGTRACE, "0.1.0");
    // The default minimum is a version that exists: this one or older.
    assert_eq!(m.check(ringtrace::VERSION), Ok(()));
    assert_eq!(m.check("0.1.0"), Ok(()));
    // Every built-in and companion sink in this crate declares the default.
    let text = ringtrace::sinks::FmtSink::stderr_text();
    assert_eq!(text.metadata().min_ringtrace_version(), "0.1.0");
    assert_eq!(text.metadata().version(), ringtrace::VERSION);
}

#[test]
fn an_incompatible_sink_is_refused_at_install_naming_both_versions_and_nothing_starts() {
    let _s = common::serial();
    let log: Log = Default::default();
    let future = ringtrace::SinkMetadata::new("from-the-future", "3.0.0").min_ringtrace("99.1.0");
    let err = ringtrace::Builder::new()
        .ignore_env()
        .sink(Scripted::new("first", &log))
        .sink(Declares(future))
        .install()
        .unwrap_err();
    let ringtrace::BuildError::IncompatibleSink(e) = &err else { panic!("wrong error: {err}") };
    assert_eq!(e.problem, ringtrace::Incompatibility::TooOld);
    assert_eq!((e.requires.as_str(), e.running.as_str()), ("99.1.0", ringtrace::VERSION));
    assert_eq!(
        err.to_string(),
        format!(
            "refusing an incompatible sink: sink \"from-the-future\" 3.0.0 requires ringtrace >= 99.1.0, \
             but this is ringtrace {}",
            ringtrace::VERSION
        )
    );
    assert!(log.lock().unwrap().is_empty(), "no sink is started when one is refused");

    // Metadata that cannot be checked is refused too, with the field it is about.
    let bad = ringtrace::SinkMetadata::new("sloppy", "1.0").min_ringtrace("0.1.0");
    let err = ringtrace::Builder::new().ignore_env().sink(Declares(bad)).install().unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing an incompatible sink: sink \"sloppy\" declares version \"1.0\", which is not a semantic version \
         (MAJOR.MINOR.PATCH)"
    );
    let bad = ringtrace::SinkMetadata::new("sloppy", "1.0.0").min_ringtrace("latest");
    let err = ringtrace::Builder::new().ignore_env().sink(Declares(bad)).install().unwrap_err();
    assert!(err.to_string().contains("minimum ringtrace version \"latest\""), "{err}");

    // A sink whose minimum is exactly this version is accepted, and nothing stayed installed.
    let exact = ringtrace::SinkMetadata::new("exact", "1.0.0").min_ringtrace(ringtrace::VERSION);
    let g = ringtrace::Builder::new().ignore_env().sink(Scripted::new("ok", &log)).install().unwrap();
    drop(g);
    assert_eq!(exact.check(ringtrace::VERSION), Ok(()));
}

#[test]
fn a_sink_that_fails_to_start_is_an_install_error_and_started_ones_are_stopped() {
    let _s = common::serial();
    struct NoStart;
    impl Sink for NoStart {
        fn name(&self) -> &str {
            "nostart"
        }

        fn metadata(&self) -> ringtrace::SinkMetadata {
            ringtrace::SinkMetadata::new("nostart", env!("CARGO_PKG_VERSION"))
        }

        fn start(&mut self, _: &SinkContext<'_>) -> Result<(), SinkError> {
            Err(SinkError::new("no permission"))
        }
        fn write_batch(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
            Ok(())
        }
    }
    let log: Log = Default::default();
    let err = ringtrace::Builder::new().sink(Scripted::new("first", &log)).sink(NoStart).install().unwrap_err();
    assert_eq!(err.to_string(), "sink \"nostart\" failed to start: no permission");
    assert_eq!(*log.lock().unwrap(), ["start first", "stop first"]);
    // Nothing stayed installed.
    let g = ringtrace::Builder::new().install().unwrap();
    drop(g);
}

#[test]
fn a_hanging_sink_makes_shutdown_time_out_instead_of_hanging() {
    let _s = common::serial();
    struct Hang(Arc<std::sync::Barrier>);
    impl Sink for Hang {
        fn name(&self) -> &str {
            "hang"
        }

        fn metadata(&self) -> ringtrace::SinkMetadata {
            ringtrace::SinkMetadata::new("hang", env!("CARGO_PKG_VERSION"))
        }

        fn write_batch(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
            self.0.wait();
            Ok(())
        }
    }
    let release = Arc::new(std::sync::Barrier::new(2));
    let (diags, seen) = diag_collector();
    let guard = ringtrace::Builder::new().sink(Hang(release.clone())).diagnostics(diags).install().unwrap();
    ringtrace::info!("this batch hangs the sink");
    let report = guard.shutdown(Duration::from_millis(300));
    assert!(report.timed_out);
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .any(|d| d.kind == DiagnosticKind::ShutdownTimeout && d.message.contains("did not finish in time")));
    release.wait(); // let the detached drain thread finish
}
