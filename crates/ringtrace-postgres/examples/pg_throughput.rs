//! End-to-end throughput of the PostgreSQL sink: N events recorded through a real runtime,
//! drained and copied into a fresh table on the server of `scripts/pg-server.sh`; prints
//! events/s from the first record to the end of `shutdown` (every row committed), and checks
//! the row count.
//!
//! ```text
//! eval "$(scripts/pg-server.sh start)"
//! cargo run --release -p ringtrace-postgres --example pg_throughput -- [EVENTS] [THREADS] [BATCH_SIZE]
//! ```
//!
//! Defaults: 1 000 000 events, 1 thread, batch size 1024 (the runtime's default). The policy
//! is `Block`, so producers wait for the drain and nothing is dropped: the figure is what the
//! sink sustains, not what the producers can record.

use ringtrace::{DiagnosticSink, Policy};
use ringtrace_postgres::{PostgresConfig, PostgresSink};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let threads: u64 = args.next().map_or(Ok(1), |a| a.parse())?;
    let batch: usize = args.next().map_or(Ok(ringtrace::DEFAULT_BATCH_SIZE), |a| a.parse())?;
    let conninfo = std::env::var("TEST_RINGTRACE_PG")
        .map_err(|_| "TEST_RINGTRACE_PG is not set: eval \"$(scripts/pg-server.sh start)\" first")?;
    let table = "rt_throughput";
    let config = PostgresConfig::from_conninfo(&conninfo)?.table(table);
    ringtrace_postgres::testing::query(&config, &format!("DROP TABLE IF EXISTS \"{table}\""))?;

    let sink = PostgresSink::new(config.clone())?;
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .batch_size(batch)
        .policy(Policy::Block { timeout: Duration::from_secs(60) })
        .diagnostics(DiagnosticSink::Off)
        .sink(sink)
        .install()?;
    let per_thread = events / threads;
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    ringtrace::info!(target: "bench::orders", order = i, qty = 10u32, side = "buy", "order {} filled by {}", i, t);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "a producer panicked")?;
    }
    let report = guard.shutdown(Duration::from_secs(600));
    let elapsed = start.elapsed();
    let pg = report.sink("postgres").ok_or("no postgres sink in the report")?;
    let (rows, _) = ringtrace_postgres::testing::query(&config, &format!("SELECT count(*) FROM \"{table}\""))?;
    let rows: u64 = rows[0][0].as_deref().unwrap_or("0").parse()?;
    let total = per_thread * threads;
    println!(
        "events={total} threads={threads} batch_size={batch} written={} dropped={} rows={rows} batches={} \
         elapsed={:.3}s throughput={:.0} events/s",
        pg.written,
        pg.dropped,
        pg.batches,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    if rows != total || pg.written != total {
        return Err(format!("expected {total} rows, found {rows} (written {})", pg.written).into());
    }
    Ok(())
}
