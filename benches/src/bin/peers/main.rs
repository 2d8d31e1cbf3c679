//! Side-by-side comparison of ringtrace with the Rust logging peers a latency-sensitive user
//! would otherwise pick, on the same logical event `("order {} filled at {} qty {}", u64, f64,
//! u32)`, each writing to a file from a background thread.
//!
//! ```text
//! cargo run --release -p ringtrace-benches --bin peers              # full run, markdown table
//! cargo run --release -p ringtrace-benches --bin peers -- --quick   # under a minute
//! cargo run --release -p ringtrace-benches --bin peers -- --json    # one JSON object on stdout
//! ```
//!
//! For every contender it reports the per-call latency on the calling thread (p50 … p99.99 and
//! max, in ns, measured with fenced TSC reads; see `harness.rs`) and the end-to-end throughput
//! of 2 M events from one thread until they are all in the file, with the events lost. Two
//! floors frame the figures: a bare `rtrb` push of a 32-byte record and the TSC read alone
//! (`tsc_read`, the cost of the measurement, which every other row includes).
//!
//! Each contender and phase runs in a child process (this binary re-executed with the hidden
//! `--child NAME --phase PHASE --dir DIR` arguments) that prints one result line; the parent
//! collects them. That lets every peer install its process-wide logger the way its users do,
//! once, and keeps one peer's background threads from disturbing the next. Output files go to
//! `$TMPDIR/ringtrace-peers-<pid>/` and are deleted after counting.

mod contenders;
mod harness;
mod report;

use contenders::{Phase, Spec, ALL};
use harness::Settings;
use ringtrace_benches::clock;
use serde_json::{json, Map, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// What a child prints before its JSON result, so other output on stdout is ignored.
const RESULT_PREFIX: &str = "@@peers-result ";

/// The usage text of `--help`.
const USAGE: &str = "\
Side-by-side latency and throughput of ringtrace and the Rust logging peers.

Usage: peers [--quick] [--json] [--only NAME[,NAME...]]

Options:
  --quick         a shorter run (20 k measured calls, 200 k end-to-end events; under a minute)
  --json          print one JSON object on stdout (the markdown table goes to stderr)
  --only NAMES    run only these contenders (comma-separated; see the list below)
  -h, --help      print this help

Contenders: ringtrace, ringtrace_block, ringtrace_json, ringtrace_json_block, ringtrace_binary,
tracing_appender_lossy, tracing_appender_lossless, slog_async, spdlog_async, ftlog, fast_log, rtrb (floor), tsc_read (floor).

Latency is per call on the calling thread, in ns, including one fenced TSC read pair (the
tsc_read row); bursts of 2000 calls are separated by 20 ms pauses so background threads keep
up; `first call p50` is the median of the first call after each pause (cold caches), and
`mean ≤p99` the mean of the fastest 99 % (free of preemptions and of the clock's step).
End to end: N events from one thread as fast as possible, timed until the file stops growing
after the peer's flush/shutdown; `e2e delivered` is events in the file per second, `lost` the
events missing from it.
";

/// Parsed command line.
#[derive(Debug, Default)]
struct Options {
    /// `--quick`.
    quick: bool,
    /// `--json`.
    json: bool,
    /// `--only`: contenders to run (all when empty).
    only: Vec<String>,
    /// Hidden `--child NAME`: run one contender's phase and print its result line.
    child: Option<String>,
    /// Hidden `--phase`, with `--child`.
    phase: Option<Phase>,
    /// Hidden `--dir`, with `--child`: where output files go.
    dir: Option<PathBuf>,
}

/// Parses `args` (without the program name); `Err` carries the message for the user.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut o = Options::default();
    while let Some(a) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => o.quick = true,
            "--json" => o.json = true,
            "--only" => {
                for name in value("--only")?.split(',').filter(|s| !s.is_empty()) {
                    if !ALL.iter().any(|s| s.name == name) {
                        return Err(format!("unknown contender {name:?} (see --help)"));
                    }
                    o.only.push(name.to_string());
                }
            }
            "--child" => o.child = Some(value("--child")?),
            "--phase" => {
                o.phase = Some(match value("--phase")?.as_str() {
                    "latency" => Phase::Latency,
                    "e2e" => Phase::E2e,
                    other => return Err(format!("unknown phase {other:?}")),
                })
            }
            "--dir" => o.dir = Some(PathBuf::from(value("--dir")?)),
            // `cargo bench` passes this to every bench target; accept it and ignore it.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(Some(o))
}

fn main() -> ExitCode {
    let opts = match parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("peers: {e}");
            return ExitCode::from(2);
        }
    };
    match (&opts.child, opts.phase, &opts.dir) {
        (Some(name), Some(phase), Some(dir)) => child(name, phase, opts.quick, dir),
        (None, None, None) => parent(&opts),
        _ => {
            eprintln!("peers: --child, --phase and --dir go together");
            ExitCode::from(2)
        }
    }
}

/// The settings of a run.
fn settings(quick: bool) -> Settings {
    if quick {
        Settings::QUICK
    } else {
        Settings::FULL
    }
}

/// Child mode: runs one contender's phase and prints its result line.
fn child(name: &str, phase: Phase, quick: bool, dir: &Path) -> ExitCode {
    let s = settings(quick);
    let sw = clock::Stopwatch::calibrate(Duration::from_millis(if quick { 20 } else { 100 }));
    match contenders::run(name, phase, &s, &sw, dir) {
        Ok(v) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{RESULT_PREFIX}{v}");
            let _ = out.flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs the child for `name`'s `phase` and returns its result, or why there is none, and the
/// first lines it wrote to stderr (the peers' own messages, such as "dropped messages").
fn run_child(name: &str, phase: Phase, quick: bool, dir: &Path) -> (Result<Map<String, Value>, String>, Vec<String>) {
    let mut notes = Vec::new();
    let result = run_child_inner(name, phase, quick, dir, &mut notes);
    (result, notes)
}

/// [`run_child`], with the stderr lines put in `notes`.
fn run_child_inner(
    name: &str,
    phase: Phase,
    quick: bool,
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<Map<String, Value>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["--child", name, "--phase", phase.as_str(), "--dir"]).arg(dir);
    if quick {
        cmd.arg("--quick");
    }
    let mut proc = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = reader(Box::new(proc.stdout.take().expect("piped")));
    let err = reader(Box::new(proc.stderr.take().expect("piped")));
    let limit = Duration::from_secs(if quick { 120 } else { 600 });
    let start = Instant::now();
    let status = loop {
        match proc.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() > limit => {
                let _ = proc.kill();
                let _ = proc.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("cannot wait: {e}")),
        }
    };
    let (out, err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    notes.extend(err.lines().filter(|l| !l.trim().is_empty()).take(5).map(str::to_string));
    let Some(status) = status else { return Err(format!("timed out after {} s", limit.as_secs())) };
    let result = out.lines().rev().find_map(|l| l.strip_prefix(RESULT_PREFIX));
    match (status.success(), result) {
        (true, Some(json)) => match serde_json::from_str(json) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err("unreadable result".into()),
        },
        _ => {
            let why = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim();
            let why: String = why.chars().take(160).collect();
            Err(format!("{status}: {why}"))
        }
    }
}

/// Parent mode: runs every contender's phases in children, then prints the table or JSON.
fn parent(opts: &Options) -> ExitCode {
    let started = Instant::now();
    let s = settings(opts.quick);
    let dir = std::env::temp_dir().join(format!("ringtrace-peers-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("peers: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let specs: Vec<Spec> =
        ALL.iter().filter(|s| opts.only.is_empty() || opts.only.iter().any(|o| o == s.name)).copied().collect();
    let mut peers = Map::new();
    for spec in &specs {
        let mut row = Map::new();
        row.insert("setup".into(), json!(spec.setup));
        let mut status = "ok".to_string();
        let mut phases = vec![Phase::Latency];
        if spec.e2e {
            phases.push(Phase::E2e);
        }
        for phase in phases {
            let t = Instant::now();
            let (result, notes) = run_child(spec.name, phase, opts.quick, &dir);
            let took = t.elapsed().as_secs_f64();
            let failed = match result {
                Ok(m) => {
                    eprintln!("peers: {} {}: {took:.1} s", spec.name, phase.as_str());
                    row.extend(m);
                    None
                }
                Err(e) => {
                    eprintln!("peers: {} {}: failed: {e}", spec.name, phase.as_str());
                    Some(format!("failed ({}): {e}", phase.as_str()))
                }
            };
            // The contender's own messages, kept visible but out of stdout.
            for line in notes {
                eprintln!("    {line}");
            }
            if let Some(f) = failed {
                status = f;
                break;
            }
        }
        row.insert("status".into(), json!(status));
        peers.insert(spec.name.to_string(), Value::Object(row));
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Net of the measurement: each row's p50 minus the tsc_read row's p50.
    let tsc_p50 = peers.get("tsc_read").and_then(|r| r.get("p50_ns")).and_then(Value::as_u64);
    if let Some(t) = tsc_p50 {
        for row in peers.values_mut() {
            if let Some(p) = row.get("p50_ns").and_then(Value::as_u64) {
                row["p50_net_ns"] = json!(p.saturating_sub(t));
            }
        }
    }

    let elapsed = started.elapsed().as_secs_f64();
    let doc = json!({
        "machine": report::machine(),
        "settings": {
            "quick": opts.quick,
            "clock": clock::CLOCK_NAME,
            "warmup_calls": s.warmup,
            "measured_calls": s.measured,
            "burst": s.burst,
            "pause_ms": s.pause.as_millis() as u64,
            "e2e_events": s.e2e_events,
            "queue_events": contenders::QUEUE_EVENTS,
        },
        "run_secs": (elapsed * 10.0).round() / 10.0,
        "peers": peers,
    });
    let m = &doc["machine"];
    let header = format!(
        "Peers side by side: {} ({} cores, kernel {}), clock {} at {:.3} GHz; {} measured calls in bursts of {} \
         with {} ms pauses; e2e {} events; {:.0} s.\n\n",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["kernel"].as_str().unwrap_or("?"),
        clock::CLOCK_NAME,
        peers.values().find_map(|r| r.get("tsc_ghz").and_then(Value::as_f64)).unwrap_or(0.0),
        s.measured,
        s.burst,
        s.pause.as_millis(),
        s.e2e_events,
        elapsed,
    );
    let text = format!("{header}{}", report::table(&specs, &peers));
    if opts.json {
        eprint!("\n{text}");
        println!("{doc}");
    } else {
        print!("{text}");
    }
    ExitCode::SUCCESS
}
