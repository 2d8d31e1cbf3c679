//! The `ringtrace` binary end to end: `demo --json` adds up, `decode` prints exactly what the
//! binary sink wrote, and bad input fails clearly.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringtrace"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringtrace-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_demo(out: &Path) -> Value {
    let o = bin().args(["demo", "--threads", "4", "--duration", "1", "--json", "--out"]).arg(out).output().unwrap();
    assert!(o.status.success(), "demo failed: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn demo_json_adds_up_and_decode_prints_exactly_what_was_written() {
    let dir = tempdir("demo");
    let v = run_demo(&dir);
    for key in ["attempted", "recorded", "dropped", "written", "transitions", "latency_ns", "outputs"] {
        assert!(v.get(key).is_some(), "missing key {key}: {v}");
    }
    let attempted = v["attempted"].as_u64().unwrap();
    let recorded = v["recorded"].as_u64().unwrap();
    let dropped: u64 = v["dropped"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert!(attempted > 0);
    assert_eq!(attempted, recorded + dropped, "{v}");
    // Issue 3: the burst phase drives the pool dry, so the demo goes through all four states
    // and back to NORMAL, and drops (counted per reason).
    assert!(dropped > 0, "the burst phase dropped events: {v}");
    let t = v["transitions"].as_object().unwrap();
    for (from, to) in [("NORMAL", "PRESSURE"), ("PRESSURE", "DROPPING"), ("RECOVERY", "NORMAL")] {
        assert!(t.get(&format!("{from}->{to}")).and_then(|n| n.as_u64()).unwrap_or(0) > 0, "{from}->{to} in {t:?}");
    }
    let into_recovery: u64 = ["PRESSURE->RECOVERY", "DROPPING->RECOVERY"]
        .iter()
        .filter_map(|k| t.get(*k))
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert!(into_recovery > 0, "RECOVERY reached: {t:?}");
    let loss = v["loss_records"].as_u64().unwrap();
    for (sink, written) in v["written"].as_object().unwrap() {
        let lost = v["sink_dropped"][sink].as_u64().unwrap();
        assert_eq!(
            written.as_u64().unwrap() + lost,
            recorded + loss,
            "sink {sink}: written + sink-dropped = delivered"
        );
    }
    for q in ["p50", "p99", "p999", "max"] {
        assert!(v["latency_ns"][q].as_u64().unwrap() > 0, "latency {q}");
    }
    let lat = &v["latency_ns"];
    assert!(lat["p50"].as_u64() <= lat["p99"].as_u64() && lat["p99"].as_u64() <= lat["max"].as_u64());
    let outputs: Vec<&str> = v["outputs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(outputs.len(), 3);
    for p in &outputs {
        assert!(Path::new(p).exists(), "{p}");
    }

    // decode prints exactly `written` events for the binary sink, as text and as JSON lines,
    // identical to what the live text and JSON sinks wrote.
    let rtrace = dir.join("demo.rtrace");
    let written = v["written"]["binary"].as_u64().unwrap();
    let text = bin().arg("decode").arg(&rtrace).output().unwrap();
    assert!(text.status.success());
    assert_eq!(text.stdout.iter().filter(|&&b| b == b'\n').count() as u64, written);
    assert_eq!(text.stdout, std::fs::read(dir.join("demo.log")).unwrap());
    let jsonl = bin().args(["decode", "--format", "jsonl"]).arg(&rtrace).output().unwrap();
    assert!(jsonl.status.success());
    let lines: Vec<&[u8]> = jsonl.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len() as u64, written);
    for l in &lines {
        serde_json::from_slice::<Value>(l).unwrap();
    }
    assert_eq!(jsonl.stdout, std::fs::read(dir.join("demo.jsonl")).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn decode_reports_corrupt_and_missing_files_with_offsets_not_panics() {
    let dir = tempdir("bad");
    let good = {
        let v = run_demo(&dir);
        assert!(v["recorded"].as_u64().unwrap() > 0);
        std::fs::read(dir.join("demo.rtrace")).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_vec(), "truncated at byte"),
        (
            "magic",
            {
                let mut b = good.clone();
                b[0] ^= 0xff;
                b
            },
            "not a ringtrace trace file",
        ),
        (
            "version",
            {
                let mut b = good.clone();
                b[8] = 200;
                b
            },
            "newer than this reader supports",
        ),
        ("garbage", (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(), "bad magic at byte 0"),
        ("empty", vec![], "truncated at byte 0"),
    ];
    for (name, bytes, want) in cases {
        let p = dir.join(format!("{name}.rtrace"));
        std::fs::write(&p, &bytes).unwrap();
        let o = bin().arg("decode").arg(&p).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{name} must fail");
        assert!(err.contains(want), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    let o = bin().arg("decode").arg(dir.join("missing.rtrace")).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such file"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_rejects_bad_arguments() {
    let o = bin().args(["demo", "--duration", "0"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid --duration"));
    let o = bin().args(["demo", "--threads", "0"]).output().unwrap();
    assert!(!o.status.success());
    let o = bin().args(["demo", "--out", "/proc/forbidden/dir"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot create output directory"));
}

#[test]
fn demo_takes_a_preset_and_a_config_file_and_rejects_bad_ones() {
    let dir = tempdir("config");
    let toml = dir.join("rt.toml");
    std::fs::write(&toml, "ring_count = 32\npolicy = \"drop_oldest\"\n").unwrap();
    let o = bin()
        .args(["demo", "--threads", "2", "--duration", "1", "--json", "--preset", "production", "--config"])
        .arg(&toml)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let dropped: u64 = v["dropped"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(v["attempted"].as_u64().unwrap(), v["recorded"].as_u64().unwrap() + dropped);
    // The file's policy (drop_oldest) overrides the preset's (drop_newest).
    assert!(v["dropped"].get("overwritten").is_some(), "{}", v["dropped"]);

    std::fs::write(&toml, "ring_size = 1000\n").unwrap();
    let o = bin().args(["demo", "--config"]).arg(&toml).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("invalid ring_size = 1000") && err.contains("power of two") && err.contains("rt.toml"),
        "{err}"
    );

    let o = bin().args(["demo", "--preset", "staging"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid preset = staging"));
    let _ = std::fs::remove_dir_all(&dir);
}
