//! Issue 19 item 4: the layer (and the `log` backend) built before `install()` follow the
//! level the runtime is configured with (`RINGTRACE_LEVEL=info` here), as
//! `tracing-subscriber`'s fmt layer filtered at INFO, in the same subscriber, does.
//!
//! The program runs once before the runtime is installed (its callsites are registered
//! then, while ringtrace's level is still the default TRACE) and once after.
#![cfg(not(feature = "loom"))]

mod common;

use common::{Capture, FmtBuf};
use std::time::Duration;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

fn program(run: u64) {
    let span = tracing::debug_span!("detail", run);
    let _e = span.enter();
    tracing::error!(run, "error");
    tracing::warn!(run, "warn");
    tracing::info!(run, "info");
    tracing::debug!(run, "debug");
    tracing::trace!(run, "trace");
    log::info!("log info {}", run);
    log::debug!("log debug {}", run);
}

#[test]
fn a_layer_built_before_install_follows_the_configured_level() {
    let fmt_out = FmtBuf::default();
    let w = fmt_out.clone();
    let fmt = tracing_subscriber::fmt::layer().with_ansi(false).without_time().with_writer(move || w.clone());
    // Built before the runtime exists: ringtrace's level is still the default (TRACE).
    let layer = ringtrace_tracing::RingtraceLayer::new();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(fmt.with_filter(LevelFilter::INFO)).with(layer),
    )
    .unwrap();
    ringtrace_tracing::RingtraceLogger::init().unwrap();
    program(0);
    assert_eq!(log::max_level(), log::LevelFilter::Trace);

    std::env::set_var("RINGTRACE_LEVEL", "info");
    let (capture, seen) = Capture::new();
    let guard = ringtrace::Builder::new().sink(capture).install().unwrap();
    assert_eq!(ringtrace::max_level(), ringtrace::Level::Info);
    assert_eq!(log::max_level(), log::LevelFilter::Info, "log's maximum follows");
    assert_eq!(LevelFilter::current(), LevelFilter::INFO, "tracing's maximum follows");
    program(1);
    let report = guard.shutdown(Duration::from_secs(10));

    let seen = seen.lock().unwrap().clone();
    let recorded: Vec<&str> = seen.iter().map(|s| s.message.as_str()).collect();
    // What fmt at INFO shows of the second run (its `log` records come from the direct
    // logger, which fmt does not see).
    let fmt_lines = fmt_out.lines();
    let shown: Vec<&str> =
        fmt_lines.iter().filter(|l| l.rest.ends_with("run=1")).map(|l| l.rest.split(' ').next().unwrap()).collect();
    assert_eq!(shown, ["error", "warn", "info"]);
    assert_eq!(recorded, ["error", "warn", "info", "log info 1"], "{seen:#?}");
    assert!(seen.iter().all(|s| s.level != "DEBUG" && s.level != "TRACE"));
    assert_eq!(report.recorded, 4);
}
