//! What the run prints: the machine it ran on, the markdown table (one row per contender, with
//! ratios to the ringtrace row and to the rtrb floor) and the JSON object.

use crate::contenders::Spec;
use serde_json::{Map, Value};

pub use ringtrace_benches::machine;

/// A figure of a row, if the row has it.
fn num(row: &Value, key: &str) -> Option<f64> {
    row.get(key).and_then(Value::as_f64)
}

/// Nanoseconds for the table: as is below 10 µs (a mean keeps one decimal), then µs or ms.
fn ns(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v < 1_000.0 && v.fract() != 0.0 => format!("{v:.1}"),
        Some(v) if v < 10_000.0 => format!("{v:.0}"),
        Some(v) if v < 10_000_000.0 => format!("{:.1} µs", v / 1e3),
        Some(v) => format!("{:.1} ms", v / 1e6),
    }
}

/// `a / b` as "×r".
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => {
            let r = a / b;
            if r < 10.0 {
                format!("×{r:.2}")
            } else {
                format!("×{r:.0}")
            }
        }
        _ => "—".into(),
    }
}

/// Events per second as "N.NN M/s" or "N k/s".
fn rate(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v >= 1e6 => format!("{:.2} M/s", v / 1e6),
        Some(v) => format!("{:.0} k/s", v / 1e3),
    }
}

/// The markdown table of `peers` (the `peers` object of the JSON), rows in `specs` order.
pub fn table(specs: &[Spec], peers: &Map<String, Value>) -> String {
    let none = Value::Null;
    let base = peers.get("ringtrace").unwrap_or(&none);
    let floor = peers.get("rtrb").unwrap_or(&none);
    let mut out = String::new();
    out.push_str(
        "| peer | p50 ns | mean ≤p99 | p90 | p99 | p99.9 | p99.99 | max | first call p50 | p50 vs ringtrace \
         | p99.9 vs ringtrace | p50 vs rtrb | p99.9 vs rtrb | e2e delivered | lost (e2e) | lost (latency run) | setup |\n",
    );
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
    for spec in specs {
        let row = peers.get(spec.name).unwrap_or(&none);
        let status = row.get("status").and_then(Value::as_str).unwrap_or("missing");
        if status != "ok" {
            out.push_str(&format!("| {} | {status} | | | | | | | | | | | | | | | {} |\n", spec.name, spec.setup));
            continue;
        }
        let lost = |key: &str| match row.get(key).and_then(Value::as_u64) {
            Some(n) => n.to_string(),
            None => "—".into(),
        };
        let (p50, p999) = (num(row, "p50_ns"), num(row, "p999_ns"));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            spec.name,
            ns(p50),
            ns(num(row, "mean_p99_ns")),
            ns(num(row, "p90_ns")),
            ns(num(row, "p99_ns")),
            ns(p999),
            ns(num(row, "p9999_ns")),
            ns(num(row, "max_ns")),
            ns(num(row, "first_call_p50_ns")),
            ratio(p50, num(base, "p50_ns")),
            ratio(p999, num(base, "p999_ns")),
            ratio(p50, num(floor, "p50_ns")),
            ratio(p999, num(floor, "p999_ns")),
            rate(num(row, "e2e_events_per_s")),
            lost("lost"),
            lost("latency_lost"),
            spec.setup,
        ));
    }
    out
}
