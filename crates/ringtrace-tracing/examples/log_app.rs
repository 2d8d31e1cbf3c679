//! A `log`-instrumented program that records into ringtrace. Only `main`'s first two lines
//! know about ringtrace:
//!
//! ```text
//! cargo run -p ringtrace-tracing --example log_app
//! ```

fn main() -> Result<(), ringtrace::BuildError> {
    let guard = ringtrace::Builder::new().sink(ringtrace::sinks::FmtSink::stderr_text()).install()?;
    ringtrace_tracing::RingtraceLogger::init().expect("no other logger is installed");
    // ^ the set-up; the rest is an ordinary log program.

    log::info!("starting");
    for attempt in 1..=3 {
        log::warn!(target: "net", "connect failed, attempt {} of {}", attempt, 3);
    }
    log::error!("giving up");
    let report = guard.shutdown(std::time::Duration::from_secs(5));
    eprintln!("{}", report.summary_line());
    Ok(())
}
