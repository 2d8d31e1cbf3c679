//! A `tracing`-instrumented program that records into ringtrace. Only `main`'s first three
//! lines know about ringtrace:
//!
//! ```text
//! cargo run -p ringtrace-tracing --example tracing_app
//! ```

use tracing_subscriber::prelude::*;

#[tracing::instrument]
fn handle(request: u64) {
    tracing::info!(bytes = 512u64, cached = request % 2 == 0, "served request {}", request);
}

fn main() -> Result<(), ringtrace::BuildError> {
    let guard = ringtrace::Builder::new().sink(ringtrace::sinks::FmtSink::stderr_text()).install()?;
    tracing_subscriber::registry().with(ringtrace_tracing::RingtraceLayer::new()).init();
    // ^ the set-up; the rest is an ordinary tracing program.

    for request in 0..3 {
        handle(request);
    }
    tracing::warn!(queue = "orders", depth = 93u32, "queue nearly full");
    let report = guard.shutdown(std::time::Duration::from_secs(5));
    eprintln!("{}", report.summary_line());
    Ok(())
}
