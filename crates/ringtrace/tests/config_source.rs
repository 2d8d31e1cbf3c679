//! Configuration from the environment and a TOML file (R-CONF-1, R-CONF-2): the precedence
//! builder < file < environment, every value syntax, and an error naming the field, the value,
//! what is allowed and where the value came from for every kind of invalid input.
//!
//! No test reads or changes the process environment: variables are passed as a `Vec`, and
//! files are written under the temporary directory with unique names and removed afterwards.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

use ringtrace::{apply_env, resolve, Config, ConfigError, Level, Policy, Serialization};
#[cfg(feature = "config-file")]
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A TOML file under the temporary directory, removed on drop.
#[cfg(feature = "config-file")]
struct TempFile(PathBuf);

#[cfg(feature = "config-file")]
impl TempFile {
    fn new(text: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "ringtrace-config-source-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn path_str(&self) -> String {
        self.0.display().to_string()
    }
}

#[cfg(feature = "config-file")]
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Asserts the error's field and value, and that `allowed` says something and mentions `source`.
fn check(e: &ConfigError, field: &str, value: &str, source: &str) {
    assert_eq!(e.field, field, "{e}");
    assert_eq!(e.value, value, "{e}");
    assert!(!e.allowed.is_empty(), "{e}");
    assert!(e.allowed.contains(source), "{e:?} should mention {source:?}");
    assert!(e.to_string().starts_with(&format!("invalid {field} = {value}: ")), "{e}");
}

/// The error from resolving the default config with these variables.
fn env_err(pairs: &[(&str, &str)]) -> ConfigError {
    resolve(Config::default(), None, vars(pairs)).unwrap_err()
}

// ---- invalid values from the environment ----

#[test]
fn env_ring_size_not_a_power_of_two() {
    let e = env_err(&[("RINGTRACE_RING_SIZE", "1000")]);
    check(&e, "ring_size", "1000", "from RINGTRACE_RING_SIZE");
    assert!(e.allowed.contains("power of two"), "{e}");
}

#[test]
fn env_ring_size_unknown_suffix() {
    let e = env_err(&[("RINGTRACE_RING_SIZE", "64XB")]);
    check(&e, "ring_size", "64XB", "(from RINGTRACE_RING_SIZE)");
    assert!(e.allowed.contains("KiB"), "{e}");
    // Decimal suffixes are refused rather than guessed.
    let e = env_err(&[("RINGTRACE_RING_SIZE", "64KB")]);
    check(&e, "ring_size", "64KB", "(from RINGTRACE_RING_SIZE)");
    let e = env_err(&[("RINGTRACE_RING_SIZE", "1.5MiB")]);
    check(&e, "ring_size", "1.5MiB", "(from RINGTRACE_RING_SIZE)");
    let e = env_err(&[("RINGTRACE_RING_SIZE", "99999999999GiB")]);
    check(&e, "ring_size", "99999999999GiB", "(from RINGTRACE_RING_SIZE)");
    assert!(e.allowed.contains("too large"), "{e}");
}

#[test]
fn env_ring_count_negative_and_too_large() {
    let e = env_err(&[("RINGTRACE_RING_COUNT", "-1")]);
    check(&e, "ring_count", "-1", "(from RINGTRACE_RING_COUNT)");
    assert!(e.allowed.contains("whole number"), "{e}");
    let e = env_err(&[("RINGTRACE_RING_COUNT", "4294967296")]);
    check(&e, "ring_count", "4294967296", "(from RINGTRACE_RING_COUNT)");
}

#[test]
fn env_max_rings_per_thread_above_ring_count() {
    let e = env_err(&[("RINGTRACE_RING_COUNT", "4"), ("RINGTRACE_MAX_RINGS_PER_THREAD", "8")]);
    check(&e, "max_rings_per_thread", "8", "from RINGTRACE_MAX_RINGS_PER_THREAD");
    // The other field in the rule is traced too.
    assert!(e.allowed.contains("ring_count from RINGTRACE_RING_COUNT"), "{e}");
    let e = env_err(&[("RINGTRACE_MAX_RINGS_PER_THREAD", "0")]);
    check(&e, "max_rings_per_thread", "0", "from RINGTRACE_MAX_RINGS_PER_THREAD");
}

#[test]
fn env_flush_interval_not_a_duration() {
    let e = env_err(&[("RINGTRACE_FLUSH_INTERVAL", "fast")]);
    check(&e, "flush_interval", "fast", "(from RINGTRACE_FLUSH_INTERVAL)");
    assert!(e.allowed.contains("ms"), "{e}");
    // A bare number is ambiguous; only zero needs no unit.
    let e = env_err(&[("RINGTRACE_FLUSH_INTERVAL", "10")]);
    check(&e, "flush_interval", "10", "(from RINGTRACE_FLUSH_INTERVAL)");
}

#[test]
fn env_policy_unknown() {
    let e = env_err(&[("RINGTRACE_POLICY", "drop_middle")]);
    check(&e, "policy", "drop_middle", "(from RINGTRACE_POLICY)");
    assert!(e.allowed.contains("drop_oldest"), "{e}");
}

#[test]
fn env_level_unknown() {
    let e = env_err(&[("RINGTRACE_LEVEL", "loud")]);
    check(&e, "level", "loud", "(from RINGTRACE_LEVEL)");
    assert!(e.allowed.contains("debug"), "{e}");
}

#[test]
fn env_watermark_above_100_percent() {
    let e = env_err(&[("RINGTRACE_PRESSURE_WATERMARK", "150%")]);
    check(&e, "pressure_watermark", "150%", "(from RINGTRACE_PRESSURE_WATERMARK)");
    for bad in ["NaN", "inf", "-0.1", "1e-1", "quarter", "%"] {
        let e = env_err(&[("RINGTRACE_RECOVERY_WATERMARK", bad)]);
        check(&e, "recovery_watermark", bad, "(from RINGTRACE_RECOVERY_WATERMARK)");
    }
}

#[test]
fn env_watermarks_out_of_order() {
    let e = env_err(&[("RINGTRACE_PRESSURE_WATERMARK", "40%"), ("RINGTRACE_RECOVERY_WATERMARK", "0.3")]);
    check(&e, "recovery_watermark", "0.3", "from RINGTRACE_RECOVERY_WATERMARK");
    assert!(e.allowed.contains("pressure_watermark from RINGTRACE_PRESSURE_WATERMARK"), "{e}");
}

#[test]
fn env_unknown_variable() {
    let e = env_err(&[("RINGTRACE_RING_SIZ", "64KiB")]);
    check(&e, "environment", "RINGTRACE_RING_SIZ", "RINGTRACE_RING_SIZE");
    assert!(e.allowed.contains("did you mean RINGTRACE_RING_SIZE?"), "{e}");
    let e = env_err(&[("RINGTRACE_COLOUR", "blue")]);
    check(&e, "environment", "RINGTRACE_COLOUR", "RINGTRACE_CONFIG");
    assert!(!e.allowed.contains("did you mean"), "{e}");
}

#[test]
fn env_error_leaves_config_unchanged() {
    let mut config = Config::default();
    let e = apply_env(&mut config, vars(&[("RINGTRACE_RING_COUNT", "8"), ("RINGTRACE_LEVEL", "loud")])).unwrap_err();
    check(&e, "level", "loud", "RINGTRACE_LEVEL");
    assert_eq!(config, Config::default());
}

#[test]
fn env_ignores_other_variables_and_empty_values() {
    let mut config = Config::default();
    apply_env(
        &mut config,
        vars(&[
            ("PATH", "/usr/bin"),
            ("RINGTRACEX", "1"),
            ("ringtrace_level", "loud"),
            ("RINGTRACE_LEVEL", ""),
            ("RINGTRACE_BATCH_SIZE", "  "),
            ("RINGTRACE_CONFIG", "/not/read/by/apply_env.toml"),
        ]),
    )
    .unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn env_last_value_of_a_repeated_variable_wins() {
    let mut config = Config::default();
    apply_env(&mut config, vars(&[("RINGTRACE_BATCH_SIZE", "loud"), ("RINGTRACE_BATCH_SIZE", "9")])).unwrap();
    assert_eq!(config.batch_size, 9);
}

// ---- invalid values and files in TOML ----

#[cfg(feature = "config-file")]
mod toml_errors {
    use super::*;
    use ringtrace::{apply_file, apply_toml};

    /// The error from applying `text` over the default config.
    fn toml_err(text: &str) -> ConfigError {
        let mut config = Config::default();
        let e = apply_toml(&mut config, text, Path::new("svc.toml")).unwrap_err();
        assert_eq!(config, Config::default(), "a failed layer changes nothing");
        e
    }

    #[test]
    fn policy_block_timeout_not_a_duration() {
        let e = toml_err("ring_count = 8\npolicy = \"block:forever\"\n");
        check(&e, "policy", "block:forever", "(in svc.toml, line 2)");
        assert!(e.allowed.contains("block:<duration>"), "{e}");
    }

    #[test]
    fn serialization_unknown() {
        let e = toml_err("serialization = \"lenient\"");
        check(&e, "serialization", "lenient", "(in svc.toml, line 1)");
        assert!(e.allowed.contains("best_effort"), "{e}");
    }

    #[test]
    fn unknown_key() {
        let e = toml_err("ring_size = 65536\n\nring_sise = 4096\n");
        check(&e, "config_file", "ring_sise", "(in svc.toml, line 3)");
        assert!(e.allowed.contains("did you mean ring_size?"), "{e}");
        // Sub-tables are not settings either.
        let e = toml_err("[sinks]\nstderr = true\n");
        check(&e, "config_file", "sinks", "in svc.toml, line 1");
    }

    #[test]
    fn wrong_types() {
        let e = toml_err("ring_count = \"many\"");
        check(&e, "ring_count", "many", "(in svc.toml, line 1)");
        assert!(e.allowed.contains("integer") && e.allowed.contains("string"), "{e}");
        let e = toml_err("ring_count = 1.5");
        check(&e, "ring_count", "1.5", "in svc.toml");
        let e = toml_err("level = 3");
        check(&e, "level", "3", "in svc.toml");
        assert!(e.allowed.contains("not a TOML integer"), "{e}");
        let e = toml_err("policy = [\"block\", 5]");
        check(&e, "policy", "[\"block\", 5]", "in svc.toml");
        let e = toml_err("batch_size = true");
        check(&e, "batch_size", "true", "in svc.toml");
        let e = toml_err("flight_recorder = 1");
        check(&e, "flight_recorder", "1", "in svc.toml");
        assert!(e.allowed.contains("boolean") && e.allowed.contains("not a TOML integer"), "{e}");
        let e = toml_err("flight_recorder = \"maybe\"");
        check(&e, "flight_recorder", "maybe", "in svc.toml");
        let e = toml_err("pool_file = 7");
        check(&e, "pool_file", "7", "in svc.toml");
        assert!(e.allowed.contains("a string: a file path"), "{e}");
        let e = toml_err("pool_file = \"  \"");
        check(&e, "pool_file", "  ", "in svc.toml");
        let e = toml_err("ringtrace = 5");
        check(&e, "config_file", "ringtrace", "in svc.toml, line 1");
    }

    #[test]
    fn negative_and_out_of_range_numbers() {
        let e = toml_err("ring_count = -1");
        check(&e, "ring_count", "-1", "in svc.toml");
        assert!(e.allowed.contains("negative"), "{e}");
        let e = toml_err("flush_interval = -5");
        check(&e, "flush_interval", "-5", "in svc.toml");
        let e = toml_err("ring_count = 0x1_0000_0000");
        check(&e, "ring_count", "0x1_0000_0000", "in svc.toml");
        let e = toml_err("pressure_watermark = 1.5");
        check(&e, "pressure_watermark", "1.5", "in svc.toml");
        let e = toml_err("pressure_watermark = nan");
        check(&e, "pressure_watermark", "nan", "in svc.toml");
        let e = toml_err("recovery_watermark = 2");
        check(&e, "recovery_watermark", "2", "in svc.toml");
    }

    #[test]
    fn malformed_toml_gives_line_and_column() {
        let e = toml_err("ring_count = 8\nlevel = \"info\nbatch_size = 7\n");
        check(&e, "config_file", "svc.toml", "TOML parse error at line 2, column");
        let e = toml_err("ring_count = 8\nring_count = 9\n");
        check(&e, "config_file", "svc.toml", "line 2");
        assert!(e.allowed.contains("duplicate"), "{e}");
    }

    #[test]
    fn unreadable_file() {
        let path = std::env::temp_dir().join(format!("ringtrace-config-source-{}-missing.toml", std::process::id()));
        let mut config = Config::default();
        let e = apply_file(&mut config, &path).unwrap_err();
        check(&e, "config_file", &path.display().to_string(), "reading it failed");
        // Named by RINGTRACE_CONFIG, the error says so.
        let e =
            resolve(Config::default(), None, vars(&[("RINGTRACE_CONFIG", &path.display().to_string())])).unwrap_err();
        check(&e, "config_file", &path.display().to_string(), "(from RINGTRACE_CONFIG)");
        // A directory cannot be read as a file either.
        let dir = std::env::temp_dir();
        let e = apply_file(&mut config, &dir).unwrap_err();
        check(&e, "config_file", &dir.display().to_string(), "reading it failed");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn a_file_over_the_size_limit_or_without_end_is_refused_after_reading_at_most_the_limit() {
        // config_source::MAX_CONFIG_FILE, the documented 1 MiB.
        let limit = 1 << 20;
        let mut text = "ring_count = 20\n".to_string();
        text.push_str(&"#".repeat(limit - text.len()));
        let file = TempFile::new(&text);
        let mut config = Config::default();
        apply_file(&mut config, file.path()).expect("a file of exactly the limit is read");
        assert_eq!(config.ring_count, 20);
        text.push('\n');
        let file = TempFile::new(&text);
        let mut config = Config::default();
        let e = apply_file(&mut config, file.path()).unwrap_err();
        check(&e, "config_file", &file.path_str(), "at most 1048576 bytes (1 MiB)");
        assert_eq!(config, Config::default());
        // A device that never ends: refused after 1 MiB, not read until memory runs out.
        let zero = Path::new("/dev/zero");
        let e = apply_file(&mut config, zero).unwrap_err();
        check(&e, "config_file", "/dev/zero", "at most 1048576 bytes");
        let e = resolve(Config::default(), None, vars(&[("RINGTRACE_CONFIG", "/dev/zero")])).unwrap_err();
        check(&e, "config_file", "/dev/zero", "(from RINGTRACE_CONFIG)");
    }

    #[test]
    fn validation_error_names_the_file() {
        let file = TempFile::new("pressure_watermark = 0.3\nrecovery_watermark = \"20%\"\n");
        let e = resolve(Config::default(), Some(file.path()), vars(&[])).unwrap_err();
        check(&e, "recovery_watermark", "0.2", &format!("in {}", file.path_str()));
        assert!(e.allowed.contains(&format!("pressure_watermark in {}", file.path_str())), "{e}");
        // A value from code is reported as such.
        let code = Config { ring_size: 1000, ..Config::default() };
        let e = resolve(code, Some(file.path()), vars(&[])).unwrap_err();
        check(&e, "ring_size", "1000", "set in code or by default");
    }

    #[test]
    fn file_settings_under_a_ringtrace_table() {
        let text = "name = \"my-service\"\n[database]\nurl = \"x\"\n[ringtrace]\nring_count = 12\n";
        let mut config = Config::default();
        apply_toml(&mut config, text, Path::new("app.toml")).unwrap();
        assert_eq!(config.ring_count, 12);
        // Inside the table, keys are still checked.
        let e = toml_err("[ringtrace]\nring_cont = 12\n");
        check(&e, "config_file", "ring_cont", "in svc.toml, line 2");
    }
}

// ---- precedence ----

#[cfg(feature = "config-file")]
#[test]
fn precedence_builder_then_file_then_environment() {
    let file = TempFile::new("ring_count = 20\nbatch_size = 7\n");
    let code = Config { ring_count: 10, ..Config::default() };

    let env = vars(&[("RINGTRACE_RING_COUNT", "30")]);
    let c = resolve(code.clone(), Some(file.path()), env).unwrap();
    assert_eq!((c.ring_count, c.batch_size), (30, 7));

    let c = resolve(code.clone(), Some(file.path()), vars(&[])).unwrap();
    assert_eq!((c.ring_count, c.batch_size), (20, 7));

    let c = resolve(code.clone(), None, vars(&[])).unwrap();
    assert_eq!(c, code);

    // RINGTRACE_CONFIG selects the file when no path is passed...
    let env = vars(&[("RINGTRACE_CONFIG", &file.path_str())]);
    let c = resolve(code.clone(), None, env).unwrap();
    assert_eq!((c.ring_count, c.batch_size), (20, 7));

    // ...and the environment still overrides it.
    let env = vars(&[("RINGTRACE_RING_COUNT", "30"), ("RINGTRACE_CONFIG", &file.path_str())]);
    let c = resolve(code.clone(), None, env).unwrap();
    assert_eq!((c.ring_count, c.batch_size), (30, 7));

    // A path passed in code (e.g. from --config) wins over RINGTRACE_CONFIG.
    let other = TempFile::new("batch_size = 3\n");
    let env = vars(&[("RINGTRACE_CONFIG", &other.path_str())]);
    let c = resolve(code.clone(), Some(file.path()), env).unwrap();
    assert_eq!((c.ring_count, c.batch_size), (20, 7));

    // An empty RINGTRACE_CONFIG means no file.
    let c = resolve(code.clone(), None, vars(&[("RINGTRACE_CONFIG", "")])).unwrap();
    assert_eq!(c, code);
}

#[cfg(not(feature = "config-file"))]
#[test]
fn without_the_feature_a_file_is_refused() {
    let e = resolve(Config::default(), None, vars(&[("RINGTRACE_CONFIG", "/etc/ringtrace.toml")])).unwrap_err();
    check(&e, "config_file", "/etc/ringtrace.toml", "config-file");
}

#[test]
fn precedence_environment_over_builder() {
    let code = Config { ring_count: 10, level: Level::Warn, ..Config::default() };
    let c = resolve(code, None, vars(&[("RINGTRACE_RING_COUNT", "30")])).unwrap();
    assert_eq!((c.ring_count, c.level), (30, Level::Warn));
}

// ---- round trips of every value syntax ----

/// The config after applying one variable.
fn with_env(name: &str, value: &str) -> Config {
    let mut config = Config::default();
    apply_env(&mut config, vars(&[(name, value)])).unwrap_or_else(|e| panic!("{e}"));
    config
}

#[test]
fn sizes() {
    for (text, bytes) in [
        ("4096", 4096),
        ("65536", 65536),
        ("64KiB", 64 << 10),
        ("64 KiB", 64 << 10),
        ("64kib", 64 << 10),
        ("1MiB", 1 << 20),
        ("1GiB", 1 << 30),
        ("512B", 512),
        (" 8KiB ", 8 << 10),
    ] {
        assert_eq!(with_env("RINGTRACE_RING_SIZE", text).ring_size, bytes, "{text}");
        assert_eq!(with_env("RINGTRACE_MAX_RECORD_SIZE", text).max_record_size, bytes, "{text}");
    }
}

#[test]
fn counts() {
    assert_eq!(with_env("RINGTRACE_RING_COUNT", "256").ring_count, 256);
    assert_eq!(with_env("RINGTRACE_MAX_RINGS_PER_THREAD", "3").max_rings_per_thread, 3);
    assert_eq!(with_env("RINGTRACE_BATCH_SIZE", " 100 ").batch_size, 100);
}

#[test]
fn durations() {
    for (text, d) in [
        ("10ms", Duration::from_millis(10)),
        ("1.5s", Duration::from_millis(1500)),
        ("250us", Duration::from_micros(250)),
        ("250µs", Duration::from_micros(250)),
        ("500ns", Duration::from_nanos(500)),
        ("2m", Duration::from_secs(120)),
        ("1h", Duration::from_secs(3600)),
        ("0.5ms", Duration::from_micros(500)),
        ("10 ms", Duration::from_millis(10)),
        ("0", Duration::ZERO),
        ("0s", Duration::ZERO),
    ] {
        assert_eq!(with_env("RINGTRACE_FLUSH_INTERVAL", text).flush_interval, d, "{text}");
        assert_eq!(with_env("RINGTRACE_MERGE_WINDOW", text).merge_window, d, "{text}");
        assert_eq!(with_env("RINGTRACE_STABILITY_PERIOD", text).stability_period, d, "{text}");
        assert_eq!(with_env("RINGTRACE_SHUTDOWN_TIMEOUT", text).shutdown_timeout, d, "{text}");
    }
}

#[test]
fn policies() {
    let block = |ms| Policy::Block { timeout: Duration::from_millis(ms) };
    for (text, p) in [
        ("drop_newest", Policy::DropNewest),
        ("drop_oldest", Policy::DropOldest),
        ("DROP_OLDEST", Policy::DropOldest),
        ("block", Policy::Block { timeout: ringtrace::DEFAULT_BLOCK_TIMEOUT }),
        ("block:50ms", block(50)),
        ("Block:2s", block(2000)),
        ("block: 1.5ms", Policy::Block { timeout: Duration::from_micros(1500) }),
        ("block(50ms)", block(50)),
        ("block:0", block(0)),
    ] {
        assert_eq!(with_env("RINGTRACE_POLICY", text).policy, p, "{text}");
    }
    // What a policy displays as reads back as the same policy.
    for p in [Policy::DropNewest, Policy::DropOldest, block(25)] {
        assert_eq!(with_env("RINGTRACE_POLICY", &p.to_string()).policy, p);
    }
}

#[test]
fn target_rates_syntax() {
    assert_eq!(with_env("RINGTRACE_TARGET_RATES", "").target_rates, vec![]);
    assert_eq!(with_env("RINGTRACE_TARGET_RATES", "a=1").target_rates, vec![("a".to_string(), 1)]);
    for bad in ["hyper", "hyper=", "hyper=ten", "hyper=0", "hyper=-1", "hyper=99999999999"] {
        let e = env_err(&[("RINGTRACE_TARGET_RATES", bad)]);
        check(&e, "target_rates", bad, "(from RINGTRACE_TARGET_RATES)");
    }
}

#[test]
fn flight_recorder_booleans_and_pool_file_paths() {
    for (text, on) in [("true", true), ("FALSE", false), ("1", true), ("0", false), ("yes", true), ("No", false)] {
        assert_eq!(with_env("RINGTRACE_FLIGHT_RECORDER", text).flight_recorder, on, "{text}");
    }
    assert!(with_env("RINGTRACE_FLIGHT_RECORDER", " on ").flight_recorder);
    assert!(!with_env("RINGTRACE_FLIGHT_RECORDER", "off").flight_recorder);
    let e = env_err(&[("RINGTRACE_FLIGHT_RECORDER", "enabled")]);
    check(&e, "flight_recorder", "enabled", "(from RINGTRACE_FLIGHT_RECORDER)");
    assert!(e.allowed.contains("true or false"), "{e}");

    let config = with_env("RINGTRACE_POOL_FILE", "crash/ringtrace.flight");
    assert_eq!(config.pool_file, Some(PathBuf::from("crash/ringtrace.flight")));
    // Empty means unset, like every variable: the code's path stays.
    let mut config = Config { pool_file: Some(PathBuf::from("from-code")), ..Config::default() };
    apply_env(&mut config, vars(&[("RINGTRACE_POOL_FILE", "")])).unwrap();
    assert_eq!(config.pool_file, Some(PathBuf::from("from-code")));
    // A path with a NUL byte could never be opened: refused here, not at install.
    let e = env_err(&[("RINGTRACE_POOL_FILE", "a\0b")]);
    check(&e, "pool_file", "a\0b", "(from RINGTRACE_POOL_FILE)");
}

#[test]
fn serializations() {
    for s in [Serialization::Strict, Serialization::BestEffort] {
        assert_eq!(with_env("RINGTRACE_SERIALIZATION", &s.to_string()).serialization, s);
    }
    assert_eq!(with_env("RINGTRACE_SERIALIZATION", "STRICT").serialization, Serialization::Strict);
}

#[test]
fn levels() {
    for level in Level::ALL {
        let upper = level.as_str();
        let lower = upper.to_ascii_lowercase();
        assert_eq!(with_env("RINGTRACE_LEVEL", upper).level, level);
        assert_eq!(with_env("RINGTRACE_LEVEL", &lower).level, level);
    }
    assert_eq!(with_env("RINGTRACE_LEVEL", "Warning").level, Level::Warn);
}

#[test]
fn watermarks() {
    for (text, f) in [
        ("0.25", 0.25),
        ("25%", 0.25),
        ("12.5%", 0.125),
        ("25 %", 0.25),
        ("0", 0.0),
        ("1", 1.0),
        ("100%", 1.0),
        (".5", 0.5),
    ] {
        assert_eq!(with_env("RINGTRACE_PRESSURE_WATERMARK", text).pressure_watermark, f, "{text}");
        assert_eq!(with_env("RINGTRACE_RECOVERY_WATERMARK", text).recovery_watermark, f, "{text}");
    }
}

#[test]
fn every_field_from_the_environment() {
    let env = vars(&[
        ("RINGTRACE_RING_SIZE", "128KiB"),
        ("RINGTRACE_RING_COUNT", "32"),
        ("RINGTRACE_MAX_RINGS_PER_THREAD", "4"),
        ("RINGTRACE_MAX_RECORD_SIZE", "2KiB"),
        ("RINGTRACE_FLUSH_INTERVAL", "20ms"),
        ("RINGTRACE_MERGE_WINDOW", "500us"),
        ("RINGTRACE_BATCH_SIZE", "256"),
        ("RINGTRACE_POLICY", "block:5ms"),
        ("RINGTRACE_SERIALIZATION", "strict"),
        ("RINGTRACE_PRESSURE_WATERMARK", "10%"),
        ("RINGTRACE_RECOVERY_WATERMARK", "0.6"),
        ("RINGTRACE_STABILITY_PERIOD", "1s"),
        ("RINGTRACE_LEVEL", "debug"),
        ("RINGTRACE_SHUTDOWN_TIMEOUT", "2m"),
        ("RINGTRACE_POOL_FILE", "/var/run/svc/ringtrace.flight"),
        ("RINGTRACE_FLIGHT_RECORDER", "true"),
        ("RINGTRACE_TARGET_RATES", "hyper=10, my_app::db = 100"),
    ]);
    assert_eq!(resolve(Config::default(), None, env).unwrap(), expected());
}

#[cfg(feature = "config-file")]
#[test]
fn every_field_from_a_file() {
    let text = r#"
        # ringtrace settings
        ring_size = "128KiB"
        ring_count = 32
        max_rings_per_thread = 4
        max_record_size = 2048
        flush_interval = 20            # milliseconds
        merge_window = "500us"
        batch_size = 256
        policy = "block:5ms"
        serialization = "strict"
        pressure_watermark = "10%"
        recovery_watermark = 0.6
        stability_period = "1s"
        level = "DEBUG"
        shutdown_timeout = "2m"
        pool_file = "/var/run/svc/ringtrace.flight"
        flight_recorder = true
        target_rates = { "hyper" = 10, "my_app::db" = 100 }
    "#;
    let file = TempFile::new(text);
    assert_eq!(resolve(Config::default(), Some(file.path()), vars(&[])).unwrap(), expected());
    // Under [ringtrace], with other TOML spellings of the same values.
    let text = "[ringtrace]\nring_size = 131_072\nring_count = 0x20\nmax_rings_per_thread = 4\n\
                max_record_size = \"2 KiB\"\nflush_interval = \"20ms\"\nmerge_window = \"0.5ms\"\n\
                batch_size = 256\npolicy = \"block(5ms)\"\nserialization = \"Strict\"\n\
                pressure_watermark = 0.1\nrecovery_watermark = \"60%\"\nstability_period = 1000\n\
                level = \"debug\"\nshutdown_timeout = 120000\n\
                pool_file = ' /var/run/svc/ringtrace.flight '\nflight_recorder = \"on\"\n\
                target_rates = \"hyper=10,my_app::db=100\"\n";
    let mut config = Config::default();
    ringtrace::apply_toml(&mut config, text, Path::new("app.toml")).unwrap();
    assert_eq!(config, expected());
}

fn expected() -> Config {
    Config {
        ring_size: 128 << 10,
        ring_count: 32,
        max_rings_per_thread: 4,
        max_record_size: 2048,
        flush_interval: Duration::from_millis(20),
        merge_window: Duration::from_micros(500),
        batch_size: 256,
        policy: Policy::Block { timeout: Duration::from_millis(5) },
        serialization: Serialization::Strict,
        pressure_watermark: 0.1,
        recovery_watermark: 0.6,
        stability_period: Duration::from_secs(1),
        level: Level::Debug,
        shutdown_timeout: Duration::from_secs(120),
        pool_file: Some(PathBuf::from("/var/run/svc/ringtrace.flight")),
        flight_recorder: true,
        target_rates: vec![("hyper".to_string(), 10), ("my_app::db".to_string(), 100)],
    }
}
