//! `tracing::info!` with three fields, on the calling thread, through:
//!
//! - `ringtrace_layer`: `tracing_subscriber::registry()` + ringtrace's layer;
//! - `ringtrace_layer_in_span`: the same, inside an entered span (the event carries its id);
//! - `ringtrace_subscriber`: ringtrace's bare subscriber (no registry);
//! - `fmt_non_blocking`: `tracing-subscriber`'s fmt layer writing through `tracing-appender`'s
//!   non-blocking writer (formatting on the caller, writing on its worker; to `io::sink`);
//! - `disabled_level`: a `tracing::trace!` the ringtrace layer (at INFO) has disabled;
//! - `ringtrace_macro`: the same event through ringtrace's own `info!`, for reference.
//!
//! Each contender runs with its subscriber as the thread's default (`with_default`), so all
//! pay the same dispatch. The ringtrace contenders record in bursts of 1 000 timed calls, then
//! wait (untimed) for the drain, so rings never fill and nothing is dropped.
//!
//! `cargo bench -p ringtrace-benches --bench tracing`

use criterion::{criterion_group, criterion_main, Criterion};
use ringtrace_benches::bursts;
use std::hint::black_box;
use std::time::{Duration, Instant};
use tracing_subscriber::prelude::*;

#[inline(always)]
fn event(i: u64) {
    tracing::info!(order = black_box(i), price = black_box(1.5f64), qty = black_box(7u32), "filled");
}

fn tracing_info(c: &mut Criterion) {
    let guard = ringtrace_benches::roomy_runtime();
    let mut total = 0u64;
    let mut g = c.benchmark_group("tracing_info_3_fields");

    // At INFO, so that `trace!` below is a disabled level (ringtrace's default level is TRACE).
    let layer = tracing_subscriber::registry()
        .with(ringtrace_tracing::RingtraceLayer::new().with_max_level(ringtrace::Level::Info));
    tracing::subscriber::with_default(layer, || {
        g.bench_function("ringtrace_layer", |b| b.iter_custom(|n| bursts(&guard, &mut total, n, event)));
        g.bench_function("ringtrace_layer_in_span", |b| {
            let span = tracing::info_span!("request", id = 7u64);
            let entered = span.enter();
            b.iter_custom(|n| bursts(&guard, &mut total, n, event));
            drop(entered);
            total += 2; // the span's begin and end records
        });
        g.bench_function("disabled_level", |b| {
            b.iter_custom(|n| {
                let t = Instant::now();
                for i in 0..n {
                    tracing::trace!(order = black_box(i), price = 1.5f64, qty = 7u32, "filled");
                }
                t.elapsed()
            })
        });
    });

    tracing::subscriber::with_default(ringtrace_tracing::RingtraceSubscriber::new(), || {
        g.bench_function("ringtrace_subscriber", |b| b.iter_custom(|n| bursts(&guard, &mut total, n, event)));
    });

    g.bench_function("ringtrace_macro", |b| {
        b.iter_custom(|n| {
            bursts(&guard, &mut total, n, |i| {
                ringtrace::info!(order = black_box(i), price = black_box(1.5f64), qty = black_box(7u32), "filled")
            })
        })
    });

    let (writer, _worker) = tracing_appender::non_blocking(std::io::sink());
    let fmt = tracing_subscriber::fmt().with_ansi(false).with_writer(writer).finish();
    tracing::subscriber::with_default(fmt, || {
        g.bench_function("fmt_non_blocking", |b| {
            b.iter_custom(|n| {
                let t = Instant::now();
                for i in 0..n {
                    event(i);
                }
                t.elapsed()
            })
        });
    });
    g.finish();
    let report = guard.shutdown(Duration::from_secs(30));
    assert_eq!(report.dropped.total(), 0, "the ringtrace contenders must not drop: {report:?}");
}

criterion_group!(benches, tracing_info);
criterion_main!(benches);
