//! Throughput of the OTLP exporter on the drain thread: N events are recorded first (into a
//! pool large enough to hold them all, so nothing is dropped and no producer competes for
//! the CPU), then the drain is released and maps, encodes, compresses and POSTs them, batch
//! by batch, to a minimal in-process HTTP server that reads and discards each body and
//! answers 200 — so the exporter, not a collector, is what is measured. Prints events/s from
//! the release to the end of `shutdown` (every request answered), events per second of the
//! drain thread's own CPU time (Linux `schedstat`: robust against other load preempting the
//! drain on a shared machine), the requests, and wire bytes per event; fails if anything was
//! dropped.
//!
//! ```text
//! cargo run --release -p ringtrace-otlp --example otlp_throughput -- [EVENTS] [protobuf|json|null] [gzip|none]
//! ```
//!
//! Defaults: 500 000 events, protobuf, gzip; the runtime's default batch size (1024 = one
//! request per batch). `null` replaces the exporter by a sink that only formats each
//! message: the drain's own share of the time (decoding and merging the records). Same
//! event shape as the PostgreSQL sink's `pg_throughput` (three fields and a two-argument
//! message).

use ringtrace::{Batch, DiagnosticSink, Policy, Sink, SinkError, SinkMetadata};
use ringtrace_otlp::{Compression, OtlpSink, Protocol};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Opened once the producer is done.
type Gate = Arc<(Mutex<bool>, Condvar)>;

/// Holds the first batch until the gate opens, then forwards everything to `inner`
/// (`None`: format the messages only).
struct Gated {
    inner: Option<OtlpSink>,
    gate: Gate,
    waited: bool,
    scratch: String,
    /// The drain thread's CPU time (ns) when the gate opened, and from then to `stop`.
    cpu_start: u64,
    cpu_used: Arc<AtomicU64>,
}

/// This thread's time on a CPU so far, in ns (Linux `schedstat`; 0 elsewhere). Unlike wall
/// time, it leaves out the time the thread was preempted by other load on the machine.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

impl Sink for Gated {
    fn name(&self) -> &str {
        "otlp"
    }

    fn metadata(&self) -> SinkMetadata {
        SinkMetadata::new("gated", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        if !self.waited {
            let (open, cv) = &*self.gate;
            let mut g = open.lock().unwrap_or_else(|e| e.into_inner());
            while !*g {
                g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            self.waited = true;
            self.cpu_start = thread_cpu_ns();
        }
        match &mut self.inner {
            Some(sink) => sink.write_batch(batch),
            None => {
                for ev in batch.iter() {
                    self.scratch.clear();
                    ev.write_message(&mut self.scratch);
                }
                Ok(())
            }
        }
    }

    fn stop(&mut self) -> Result<(), SinkError> {
        self.cpu_used.store(thread_cpu_ns().saturating_sub(self.cpu_start), Ordering::Relaxed);
        Ok(())
    }
}

/// Body bytes and requests the discard server received.
#[derive(Default)]
struct Received {
    bytes: AtomicU64,
    requests: AtomicU64,
}

/// An HTTP/1.1 server on 127.0.0.1 that reads each request, discards the body and answers
/// `200` with an empty protobuf response (keep-alive).
fn discard_server() -> std::io::Result<(String, Arc<Received>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let received = Arc::new(Received::default());
    let r = received.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let r = r.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut reader = BufReader::new(conn.try_clone()?);
                let mut conn = conn;
                let mut line = String::new();
                let mut body = Vec::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    let mut len = 0usize;
                    loop {
                        line.clear();
                        reader.read_line(&mut line)?;
                        let h = line.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((n, v)) = h.split_once(':') {
                            if n.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    body.resize(len, 0);
                    reader.read_exact(&mut body)?;
                    r.bytes.fetch_add(len as u64, Ordering::Relaxed);
                    r.requests.fetch_add(1, Ordering::Relaxed);
                    conn.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
                    )?;
                }
            });
        }
    });
    Ok((url, received))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().map_or(Ok(500_000), |a| a.parse())?;
    let protocol = match args.next().as_deref() {
        None | Some("protobuf") => Some(Protocol::Protobuf),
        Some("json") => Some(Protocol::Json),
        Some("null") => None,
        Some(other) => return Err(format!("protocol {other:?}: protobuf, json or null").into()),
    };
    let compression = match args.next().as_deref() {
        None | Some("gzip") => Compression::Gzip,
        Some("none") => Compression::None,
        Some(other) => return Err(format!("compression {other:?}: gzip or none").into()),
    };
    let (url, received) = discard_server()?;
    let inner = match protocol {
        Some(p) => Some(
            OtlpSink::builder()
                .endpoint(url)
                .protocol(p)
                .compression(compression)
                .service_name("otlp-throughput")
                .build()?,
        ),
        None => None,
    };
    let gate: Gate = Arc::default();
    let cpu_used = Arc::new(AtomicU64::new(0));
    let sink = Gated {
        inner,
        gate: gate.clone(),
        waited: false,
        scratch: String::new(),
        cpu_start: 0,
        cpu_used: cpu_used.clone(),
    };
    // Room for every event (about 56 bytes each) so the producer never waits for the drain.
    let rings = (events * 64 / (1 << 20) + 8).next_power_of_two() as usize;
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_size(1 << 20)
        .ring_count(rings as u32 + 8)
        .max_rings_per_thread(rings + 8)
        .policy(Policy::DropNewest)
        .diagnostics(DiagnosticSink::Off)
        .sink(sink)
        .install()?;
    for i in 0..events {
        ringtrace::info!(target: "bench::orders", order = i, qty = 10u32, side = "buy", "order {} filled by {}", i, 0u64);
    }
    let start = Instant::now();
    *gate.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
    gate.1.notify_all();
    let report = guard.shutdown(Duration::from_secs(600));
    let elapsed = start.elapsed();
    let otlp = report.sink("otlp").ok_or("no otlp sink in the report")?;
    if report.timed_out || otlp.written != events || otlp.dropped != 0 || report.dropped.total() != 0 {
        return Err(format!("not every event was exported: {}", report.summary_line()).into());
    }
    let bytes = received.bytes.load(Ordering::Relaxed);
    let cpu = cpu_used.load(Ordering::Relaxed) as f64 / 1e9;
    println!(
        "{} {compression:?}: {events} events in {:.3} s = {:.0} events/s; drain CPU {:.3} s = {:.0} events per CPU-s; \
         {} requests, {:.1} wire bytes/event",
        protocol.map_or("null".to_owned(), |p| format!("{p:?}")),
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        cpu,
        events as f64 / cpu,
        received.requests.load(Ordering::Relaxed),
        bytes as f64 / events as f64,
    );
    Ok(())
}
