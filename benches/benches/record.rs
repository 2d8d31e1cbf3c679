//! Criterion micro-benchmarks of the recording path: one call on the calling thread, in
//! NORMAL (bursts of 1 000 timed calls, then an untimed wait for the drain so rings never
//! fill) and while DROPPING (the drain stalled, the thread's rings full).
//!
//! `cargo bench -p ringtrace-benches --bench record`

use criterion::{criterion_group, criterion_main, Criterion};
use ringtrace_benches::{wait_drained, NullSink, StallSink};
use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const BURST: u64 = 1_000;

/// Times `iters` calls of `f` in bursts, letting the drain catch up between bursts.
fn bursts(guard: &ringtrace::Guard, total: &mut u64, iters: u64, mut f: impl FnMut(u64)) -> Duration {
    let mut spent = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = BURST.min(iters - done);
        let t = Instant::now();
        for i in 0..n {
            f(done + i);
        }
        spent += t.elapsed();
        done += n;
        *total += n;
        wait_drained(guard, *total);
    }
    spent
}

fn normal(c: &mut Criterion) {
    let guard =
        ringtrace::Builder::new().ring_count(256).max_rings_per_thread(64).sink(NullSink::default()).install().unwrap();
    let mut total = 0u64;
    let s64 = "x".repeat(64);
    let mut g = c.benchmark_group("record_normal");
    g.bench_function("0_args", |b| b.iter_custom(|n| bursts(&guard, &mut total, n, |_| ringtrace::info!("tick"))));
    g.bench_function("3_args", |b| {
        b.iter_custom(|n| {
            bursts(&guard, &mut total, n, |i| {
                ringtrace::info!("order {} filled at {} qty {}", black_box(i), black_box(1.5f64), black_box(7u32))
            })
        })
    });
    g.bench_function("8_args", |b| {
        b.iter_custom(|n| {
            bursts(&guard, &mut total, n, |i| {
                ringtrace::info!("{} {} {} {} {} {} {} {}", black_box(i), 2u32, 3u16, 4u8, -5i64, 6.0f64, true, 'c')
            })
        })
    });
    g.bench_function("str_64B", |b| {
        b.iter_custom(|n| bursts(&guard, &mut total, n, |_| ringtrace::info!("name {}", black_box(s64.as_str()))))
    });
    g.bench_function("record_bytes_32B", |b| {
        let payload = [7u8; 32];
        b.iter_custom(|n| bursts(&guard, &mut total, n, |_| ringtrace::record_bytes(1, black_box(&payload))))
    });
    g.finish();
    let report = guard.shutdown(Duration::from_secs(30));
    assert_eq!(report.dropped.total(), 0, "NORMAL benchmarks must not drop: {report:?}");
}

fn dropping(c: &mut Criterion) {
    let stall = StallSink::default();
    stall.stalled.store(true, Ordering::Release);
    let guard = ringtrace::Builder::new()
        .ring_count(2)
        .ring_size(4096)
        .max_rings_per_thread(1)
        .sink(stall.clone())
        .install()
        .unwrap();
    // Fill the thread's only ring; with the drain stalled in a sink it stays full.
    for i in 0..10_000u64 {
        ringtrace::info!("fill {}", i);
    }
    c.bench_function("record_dropping/3_args", |b| {
        b.iter(|| ringtrace::info!("order {} filled at {} qty {}", black_box(1u64), black_box(1.5f64), black_box(7u32)))
    });
    stall.stalled.store(false, Ordering::Release);
    let report = guard.shutdown(Duration::from_secs(30));
    assert!(report.dropped.total() > 0);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = normal, dropping
}
criterion_main!(benches);
