//! Configuration sources: every [`Config`] field from `RINGTRACE_*` environment variables and
//! from a TOML file, layered over the values set in code (R-CONF-1, R-CONF-2).
//!
//! # Precedence
//!
//! **builder (code) < file < environment.** [`resolve`] starts from the `Config` the program
//! built (its own choices over the defaults), applies the configuration file over it, then the
//! environment over that, and validates the result once, at the end. The program states what it
//! needs, the file states what one deployment needs, and an environment variable changes one
//! run without editing either. A field that no layer mentions keeps the value from code.
//!
//! The file is the `file` argument of [`resolve`] if given (typically a `--config` flag: a
//! command line is more specific than the environment), else the path in `RINGTRACE_CONFIG`,
//! else there is none. [`apply_env`], [`apply_toml`] and [`apply_file`] apply one layer each,
//! for programs that arrange the layers themselves.
//!
//! # Design
//!
//! This is cold code that runs once, before [`Builder::install`](crate::Builder::install);
//! nothing here is on the recording path. Three rules keep it predictable:
//!
//! - **Validate the result, not the layers.** Each layer only parses its values (syntax and
//!   per-value range, such as a watermark above 100%); relations between fields are checked
//!   once by [`Config::validate`] on the merged result, so one layer may fix what another
//!   would break alone (a file lowers `ring_count`, the environment lowers
//!   `max_rings_per_thread`).
//! - **All or nothing per layer.** A layer is applied to a copy and committed only if every
//!   value in it parses, so a failed call leaves the `Config` as it was.
//! - **Deterministic first error.** Names are checked before values, and values are applied in
//!   the field order of [`Config`], so the error reported does not depend on the order of the
//!   process environment or of keys in the file.
//!
//! One table (`SETTINGS`) maps every field to its variable and its syntax; a unit test checks it
//! against the fields of `Config`, so a new field cannot be forgotten here.
//!
//! # Names
//!
//! The TOML key is the field's name; the variable is the name upper-cased, after `RINGTRACE_`.
//!
//! | field / TOML key | environment variable | value |
//! |---|---|---|
//! | `ring_size` | `RINGTRACE_RING_SIZE` | size |
//! | `ring_count` | `RINGTRACE_RING_COUNT` | count |
//! | `max_rings_per_thread` | `RINGTRACE_MAX_RINGS_PER_THREAD` | count |
//! | `max_record_size` | `RINGTRACE_MAX_RECORD_SIZE` | size |
//! | `flush_interval` | `RINGTRACE_FLUSH_INTERVAL` | duration |
//! | `merge_window` | `RINGTRACE_MERGE_WINDOW` | duration |
//! | `batch_size` | `RINGTRACE_BATCH_SIZE` | count |
//! | `policy` | `RINGTRACE_POLICY` | policy |
//! | `serialization` | `RINGTRACE_SERIALIZATION` | `strict` or `best_effort` |
//! | `pressure_watermark` | `RINGTRACE_PRESSURE_WATERMARK` | fraction |
//! | `recovery_watermark` | `RINGTRACE_RECOVERY_WATERMARK` | fraction |
//! | `stability_period` | `RINGTRACE_STABILITY_PERIOD` | duration |
//! | `level` | `RINGTRACE_LEVEL` | level |
//! | `shutdown_timeout` | `RINGTRACE_SHUTDOWN_TIMEOUT` | duration |
//! | `pool_file` | `RINGTRACE_POOL_FILE` | path |
//! | `flight_recorder` | `RINGTRACE_FLIGHT_RECORDER` | boolean |
//! | `target_rates` | `RINGTRACE_TARGET_RATES` | rates |
//! | — | `RINGTRACE_CONFIG` | path of the TOML file |
//!
//! Any other `RINGTRACE_*` variable is an error (a misspelt variable would otherwise be
//! ignored without a word); variables without the prefix are never looked at. A variable set to
//! the empty string counts as unset, so `RINGTRACE_LEVEL= ./server` runs with the file's or the
//! code's level.
//!
//! # Value syntax
//!
//! The same text is accepted from a variable and from a TOML string. Surrounding spaces are
//! ignored; so is a space between a number and its unit.
//!
//! - **size**: bytes as a whole number, or with a binary suffix `B`, `KiB`, `MiB`, `GiB` (any
//!   case): `65536`, `64KiB`, `1 MiB`. Decimal suffixes (`KB`, `K`) are refused rather than
//!   guessed. In TOML also an integer: `ring_size = 65536`.
//! - **count**: a whole number, `64`. In TOML an integer, `ring_count = 64` (not a string).
//! - **duration**: a number and a unit, `ns`, `us` (or `µs`), `ms`, `s`, `m` (minutes) or
//!   `h`: `250us`, `10ms`, `1.5s`, `2m`. Zero needs no unit: `0`. In TOML also an integer, read
//!   as **milliseconds**: `flush_interval = 10`.
//! - **policy**: `drop_newest`, `drop_oldest`, `block` (waits [`DEFAULT_BLOCK_TIMEOUT`]), or
//!   `block:<duration>` such as `block:50ms` (`block(50ms)`, as [`Policy`] displays itself, is
//!   accepted too). Names in any case.
//! - **serialization**: `strict` or `best_effort`, in any case.
//! - **level**: `error`, `warn` (or `warning`), `info`, `debug`, `trace`, in any case.
//! - **fraction** (the watermarks): `0.25` or `25%`, between 0 and 1. In TOML also a number:
//!   `pressure_watermark = 0.25`. The order of the two watermarks is checked by
//!   [`Config::validate`].
//! - **path** (`pool_file`, see [`flight`](crate::flight)): a file path, not empty. A relative
//!   path is taken from the process's working directory, also in a file (not from the file's
//!   directory). No layer can take a path set by a lower layer away again: leave the lower
//!   layer's setting out instead.
//! - **boolean** (`flight_recorder`): `true` or `false`, also `1`/`0`, `yes`/`no`, `on`/`off`,
//!   in any case. In TOML also a boolean: `flight_recorder = true`.
//! - **rates** (`target_rates`): target prefixes and events per second, `prefix=N` separated
//!   by commas (`RINGTRACE_TARGET_RATES="hyper=10, my_app::db=100"`); in TOML also a table,
//!   `target_rates = { "hyper" = 10, "my_app::db" = 100 }`. Empty: no per-target limit.
//!
//! # The file
//!
//! Every setting is a key at the top level:
//!
//! ```toml
//! ring_size = "256KiB"
//! ring_count = 128
//! flush_interval = "5ms"
//! policy = "block:2ms"
//! pressure_watermark = "20%"
//! level = "info"
//! ```
//!
//! A program that keeps its own settings in the same file puts ringtrace's under a
//! `[ringtrace]` table instead. When the document has a top-level `ringtrace` table, the
//! settings are read from it alone and every other top-level item belongs to the program and is
//! not looked at. Either way, an unknown key among ringtrace's settings is an error.
//!
//! # Errors
//!
//! Every problem is a [`ConfigError`] whose `field` is the [`Config`] field (`"ring_size"`),
//! whose `value` is the text as given (`"64XB"`, without quotes), and whose `allowed` says what
//! is accepted and where the value came from: `… (from RINGTRACE_RING_SIZE)`, `… (in
//! /etc/svc/ringtrace.toml, line 3)`. Errors that concern no field use two more names:
//!
//! - `field = "config_file"`: the file could not be read (`value` is the path, `allowed` holds
//!   the I/O error), is not valid TOML (`allowed` holds the line, column and message from the
//!   `toml` parser), or has an unknown key (`value` is the key; `allowed` lists the known keys
//!   and suggests the nearest).
//! - `field = "environment"`: an unknown `RINGTRACE_*` variable (`value` is its name).
//!
//! [`resolve`] also tracks which layer set each field, so an error from the final
//! [`Config::validate`] says whose value is wrong: `invalid recovery_watermark = 0.2: must be
//! between pressure_watermark (0.3) and 1 (from RINGTRACE_RECOVERY_WATERMARK; pressure_watermark
//! in ringtrace.toml)`.
//!
//! The `apply_*` functions change nothing when they fail: a layer is applied whole or not at
//! all, and nothing starts half-configured.
//!
//! # Features
//!
//! Files need the `config-file` feature (on by default; it adds the `toml` parser). Without
//! it, [`apply_toml`] and [`apply_file`] do not exist, and [`resolve`] refuses a file (from its
//! argument or `RINGTRACE_CONFIG`) with an error instead of ignoring it.
//!
//! # Example
//!
//! ```
//! use ringtrace::{resolve, Builder, Config, Level, Policy};
//! use std::time::Duration;
//!
//! // What the program chooses; the file and the environment may override it.
//! let code = Config { ring_count: 128, ..Config::default() };
//!
//! // A real program passes `ringtrace::env_vars()`.
//! let vars = vec![
//!     ("RINGTRACE_LEVEL".to_string(), "info".to_string()),
//!     ("RINGTRACE_POLICY".to_string(), "block:50ms".to_string()),
//! ];
//! let config = resolve(code, None, vars)?;
//! assert_eq!(config.ring_count, 128);
//! assert_eq!(config.level, Level::Info);
//! assert_eq!(config.policy, Policy::Block { timeout: Duration::from_millis(50) });
//!
//! let builder = Builder::from_config(config); // then add sinks and install
//! # drop(builder);
//! # Ok::<(), ringtrace::ConfigError>(())
//! ```

use crate::config::{Config, ConfigError, Policy, Serialization};
use crate::level::Level;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `policy = "block"` without a timeout waits for a free ring: one default flush
/// interval, long enough for a drain that keeps up to hand a ring back, short enough that a
/// stalled drain costs a hot thread little.
pub const DEFAULT_BLOCK_TIMEOUT: Duration = Duration::from_millis(10);

/// The prefix of every variable read.
const PREFIX: &str = "RINGTRACE_";
/// The variable naming the configuration file.
const CONFIG_VAR: &str = "RINGTRACE_CONFIG";
/// The `field` of errors about the configuration file itself.
const FILE_FIELD: &str = "config_file";
/// The largest configuration file read (1 MiB): a longer one (or `/dev/zero`) is an error
/// naming the file, after reading at most this much of it.
pub const MAX_CONFIG_FILE: u64 = 1 << 20;
/// The `field` of errors about an unknown variable.
const ENV_FIELD: &str = "environment";

/// Where a setting came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Set in code (through the [`Builder`](crate::Builder) or a [`Config`]), or left at its
    /// default.
    Builder,
    /// Read from this TOML file.
    File(PathBuf),
    /// Read from the field's `RINGTRACE_*` environment variable.
    Env,
}

impl Source {
    /// Where `field` came from, as the errors say it: `"from RINGTRACE_RING_SIZE"`,
    /// `"in /etc/svc/ringtrace.toml"`, `"set in code or by default"`.
    ///
    /// ```
    /// assert_eq!(ringtrace::Source::Env.describe("ring_size"), "from RINGTRACE_RING_SIZE");
    /// ```
    pub fn describe(&self, field: &str) -> String {
        match self {
            Source::Builder => "set in code or by default".to_string(),
            Source::File(path) => format!("in {}", path.display()),
            Source::Env => format!("from {PREFIX}{}", field.to_ascii_uppercase()),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Builder => f.write_str("code"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env => f.write_str("the environment"),
        }
    }
}

/// Where a setting is stored in [`Config`] and what syntax it takes.
#[derive(Clone, Copy)]
enum Slot {
    /// Bytes, with an optional binary suffix.
    Size(fn(&mut Config) -> &mut usize),
    /// A whole number.
    Count(fn(&mut Config) -> &mut usize),
    /// A whole number that fits in a `u32`.
    Count32(fn(&mut Config) -> &mut u32),
    /// A duration with a unit.
    Duration(fn(&mut Config) -> &mut Duration),
    /// A fraction in 0..=1, or a percentage.
    Fraction(fn(&mut Config) -> &mut f64),
    /// `drop_newest`, `block:50ms`, ….
    Policy(fn(&mut Config) -> &mut Policy),
    /// `strict` or `best_effort`.
    Serialization(fn(&mut Config) -> &mut Serialization),
    /// A level name.
    Level(fn(&mut Config) -> &mut Level),
    /// A file path (not empty).
    Path(fn(&mut Config) -> &mut Option<PathBuf>),
    /// `true` or `false`.
    Bool(fn(&mut Config) -> &mut bool),
    /// `prefix=N, prefix=N`: rates by target.
    Rates(fn(&mut Config) -> &mut Vec<(String, u32)>),
}

/// One settable field: its name (= TOML key), its variable and its slot.
struct Setting {
    field: &'static str,
    env: &'static str,
    slot: Slot,
}

/// Builds [`SETTINGS`]: `field / VARIABLE_SUFFIX: Slot` per line.
macro_rules! settings {
    ($($field:ident / $env:ident: $slot:ident),* $(,)?) => {
        [$(Setting {
            field: stringify!($field),
            env: concat!("RINGTRACE_", stringify!($env)),
            slot: Slot::$slot(|c| &mut c.$field),
        }),*]
    };
}

/// Every field of [`Config`], in declaration order (the order layers are applied in, so the
/// first error reported does not depend on the order of variables or keys).
const SETTINGS: [Setting; 17] = settings![
    ring_size / RING_SIZE: Size,
    ring_count / RING_COUNT: Count32,
    max_rings_per_thread / MAX_RINGS_PER_THREAD: Count,
    max_record_size / MAX_RECORD_SIZE: Size,
    flush_interval / FLUSH_INTERVAL: Duration,
    merge_window / MERGE_WINDOW: Duration,
    batch_size / BATCH_SIZE: Count,
    policy / POLICY: Policy,
    serialization / SERIALIZATION: Serialization,
    pressure_watermark / PRESSURE_WATERMARK: Fraction,
    recovery_watermark / RECOVERY_WATERMARK: Fraction,
    stability_period / STABILITY_PERIOD: Duration,
    level / LEVEL: Level,
    shutdown_timeout / SHUTDOWN_TIMEOUT: Duration,
    pool_file / POOL_FILE: Path,
    flight_recorder / FLIGHT_RECORDER: Bool,
    target_rates / TARGET_RATES: Rates,
];

const SIZE_SYNTAX: &str =
    "a size in bytes: a whole number, optionally with a KiB, MiB or GiB suffix (e.g. 65536 or 64KiB)";
const COUNT_SYNTAX: &str = "a whole number (e.g. 64)";
const DURATION_SYNTAX: &str =
    "a duration: a number with a unit ns, us, ms, s, m or h (e.g. 250us, 10ms, 1.5s, 2m), or 0";
const POLICY_SYNTAX: &str = "drop_newest, drop_oldest, block, or block:<duration> (e.g. block:50ms)";
const SERIALIZATION_SYNTAX: &str = "strict or best_effort";
const LEVEL_SYNTAX: &str = "error, warn, info, debug or trace (any case)";
const FRACTION_SYNTAX: &str = "a fraction of the pool between 0 and 1, as a number (0.25) or a percentage (25%)";
const PATH_SYNTAX: &str = "a file path, not empty (relative to the working directory)";
const BOOL_SYNTAX: &str = "true or false (also 1/0, yes/no, on/off)";
const RATES_SYNTAX: &str =
    "target prefixes and events per second: prefix=N separated by commas (e.g. \"hyper=10, my_app::db=100\"), or empty";

/// The process's `RINGTRACE_*` variables, for [`apply_env`] and [`resolve`].
///
/// Unlike [`std::env::vars`], it does not panic when some unrelated variable is not valid
/// Unicode; a `RINGTRACE_*` value that is not is converted lossily (and then refused by the
/// parser, or names a file that does not exist).
pub fn env_vars() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            name.starts_with(PREFIX).then(|| (name, value.to_string_lossy().into_owned()))
        })
        .collect()
}

/// Applies `RINGTRACE_*` variables from `vars` (pass [`env_vars()`] or [`std::env::vars()`];
/// tests pass a `Vec`) over `config`.
///
/// Unknown `RINGTRACE_*` variables are an error (typo protection) except `RINGTRACE_CONFIG`
/// (the file path, read by [`resolve`]). Other variables are ignored, and so are empty values.
/// When a name occurs twice the last value counts. On error `config` is unchanged. This does not
/// call [`Config::validate`]; [`resolve`] does.
///
/// ```
/// let mut config = ringtrace::Config::default();
/// let vars = [("RINGTRACE_RING_SIZE".to_string(), "1MiB".to_string())];
/// ringtrace::apply_env(&mut config, vars)?;
/// assert_eq!(config.ring_size, 1 << 20);
///
/// let typo = [("RINGTRACE_RING_SIZ".to_string(), "1MiB".to_string())];
/// let err = ringtrace::apply_env(&mut config, typo).unwrap_err();
/// assert_eq!((err.field, err.value.as_str()), ("environment", "RINGTRACE_RING_SIZ"));
/// # Ok::<(), ringtrace::ConfigError>(())
/// ```
pub fn apply_env(config: &mut Config, vars: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
    apply_env_traced(config, vars, &mut Origins::new())
}

/// [`apply_env`], recording which fields it set in `origins`.
fn apply_env_traced(
    config: &mut Config,
    vars: impl IntoIterator<Item = (String, String)>,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let mut values: [Option<String>; SETTINGS.len()] = Default::default();
    for (name, value) in vars {
        if !name.starts_with(PREFIX) || name == CONFIG_VAR {
            continue;
        }
        match SETTINGS.iter().position(|s| s.env == name) {
            Some(i) => values[i] = Some(value),
            None => {
                let known: Vec<&str> = SETTINGS.iter().map(|s| s.env).chain([CONFIG_VAR]).collect();
                return Err(ConfigError {
                    field: ENV_FIELD,
                    allowed: format!("one of the variables {}{}", known.join(", "), suggestion(&name, &known)),
                    value: name,
                });
            }
        }
    }
    let mut next = config.clone();
    for (setting, value) in SETTINGS.iter().zip(&values) {
        let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        set_text(&mut next, setting.slot, value).map_err(|allowed| ConfigError {
            field: setting.field,
            value: value.to_string(),
            allowed: format!("{allowed} (from {})", setting.env),
        })?;
    }
    for (i, value) in values.iter().enumerate() {
        if value.as_deref().is_some_and(|v| !v.trim().is_empty()) {
            origins.0[i] = Source::Env;
        }
    }
    *config = next;
    Ok(())
}

/// Parses TOML text and applies it over `config`; `origin` names the text in errors (usually
/// the file it came from).
///
/// Unknown keys are errors; wrong types are errors naming the key, the value and what is
/// allowed. On error `config` is unchanged. This does not call [`Config::validate`];
/// [`resolve`] does.
///
/// ```
/// use std::path::Path;
/// use std::time::Duration;
///
/// let mut config = ringtrace::Config::default();
/// let text = "[ringtrace]\nflush_interval = \"5ms\"\nbatch_size = 256\n";
/// ringtrace::apply_toml(&mut config, text, Path::new("app.toml"))?;
/// assert_eq!(config.flush_interval, Duration::from_millis(5));
/// assert_eq!(config.batch_size, 256);
/// # Ok::<(), ringtrace::ConfigError>(())
/// ```
#[cfg(feature = "config-file")]
#[cfg_attr(docsrs, doc(cfg(feature = "config-file")))]
pub fn apply_toml(config: &mut Config, text: &str, origin: &Path) -> Result<(), ConfigError> {
    toml_source::apply(config, text, origin, &mut Origins::new())
}

/// Reads and applies a TOML file over `config` (see [`apply_toml`]).
///
/// An unreadable file, or one larger than [`MAX_CONFIG_FILE`] (1 MiB), gives a
/// [`ConfigError`] with field `"config_file"`, the path as value, and the reason in
/// `allowed`. At most 1 MiB is read, whatever the file is (`/dev/zero` included).
#[cfg(feature = "config-file")]
#[cfg_attr(docsrs, doc(cfg(feature = "config-file")))]
pub fn apply_file(config: &mut Config, path: &Path) -> Result<(), ConfigError> {
    toml_source::apply_file(config, path, &mut Origins::new())
}

/// The whole precedence chain: start from `builder` (the values set in code), apply the file
/// given by `file` or else by `RINGTRACE_CONFIG` in `vars`, then the `RINGTRACE_*` variables in
/// `vars`; then [`Config::validate`]. Returns the final configuration.
///
/// A validation error says which layer set the offending value, and any other field its rule
/// names: `(from RINGTRACE_X; ring_count in FILE)`. Pass [`env_vars()`] as `vars` in a
/// program, a `Vec` in tests.
///
/// ```
/// let vars = vec![("RINGTRACE_RING_COUNT".to_string(), "30".to_string())];
/// let config = ringtrace::resolve(ringtrace::Config::default(), None, vars)?;
/// assert_eq!(config.ring_count, 30);
///
/// let vars = vec![("RINGTRACE_MAX_RINGS_PER_THREAD".to_string(), "100".to_string())];
/// let err = ringtrace::resolve(ringtrace::Config::default(), None, vars).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid max_rings_per_thread = 100: must be between 1 and ring_count (64) \
///      (from RINGTRACE_MAX_RINGS_PER_THREAD; ring_count set in code or by default)"
/// );
/// # Ok::<(), ringtrace::ConfigError>(())
/// ```
pub fn resolve(
    builder: Config,
    file: Option<&Path>,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let vars: Vec<(String, String)> = vars.into_iter().filter(|(name, _)| name.starts_with(PREFIX)).collect();
    let from_env = vars
        .iter()
        .rev()
        .find(|(name, _)| name == CONFIG_VAR)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
        .map(PathBuf::from);
    let mut config = builder;
    let mut origins = Origins::new();
    if let Some(path) = file {
        load_file(&mut config, path, &mut origins)?;
    } else if let Some(path) = &from_env {
        load_file(&mut config, path, &mut origins).map_err(|mut e| {
            if e.field == FILE_FIELD && e.value == path.display().to_string() {
                e.allowed.push_str(&format!(" (from {CONFIG_VAR})"));
            }
            e
        })?;
    }
    apply_env_traced(&mut config, vars, &mut origins)?;
    config.validate().map_err(|e| origins.annotate(e))?;
    Ok(config)
}

#[cfg(feature = "config-file")]
fn load_file(config: &mut Config, path: &Path, origins: &mut Origins) -> Result<(), ConfigError> {
    toml_source::apply_file(config, path, origins)
}

#[cfg(not(feature = "config-file"))]
fn load_file(_: &mut Config, path: &Path, _: &mut Origins) -> Result<(), ConfigError> {
    Err(ConfigError {
        field: FILE_FIELD,
        value: path.display().to_string(),
        allowed: "no configuration file: this build of ringtrace lacks the `config-file` feature".to_string(),
    })
}

/// Which layer last set each field (indexed like [`SETTINGS`]).
struct Origins([Source; SETTINGS.len()]);

impl Origins {
    fn new() -> Self {
        Origins(std::array::from_fn(|_| Source::Builder))
    }

    /// Appends to a validation error where its field, and any other field its `allowed` text
    /// names, came from.
    fn annotate(&self, mut e: ConfigError) -> ConfigError {
        let Some(own) = SETTINGS.iter().position(|s| s.field == e.field) else {
            return e;
        };
        let mut notes = vec![self.0[own].describe(e.field)];
        for (i, setting) in SETTINGS.iter().enumerate() {
            if i != own && e.allowed.contains(setting.field) {
                notes.push(format!("{} {}", setting.field, self.0[i].describe(setting.field)));
            }
        }
        e.allowed = format!("{} ({})", e.allowed, notes.join("; "));
        e
    }
}

/// Parses `text` for `slot` and stores it; the error is what is allowed.
fn set_text(config: &mut Config, slot: Slot, text: &str) -> Result<(), String> {
    match slot {
        Slot::Size(field) => *field(config) = to_usize(parse_size(text)?)?,
        Slot::Count(field) => *field(config) = to_usize(parse_count(text)?)?,
        Slot::Count32(field) => *field(config) = to_u32(parse_count(text)?)?,
        Slot::Duration(field) => *field(config) = parse_duration(text)?,
        Slot::Fraction(field) => *field(config) = parse_fraction(text)?,
        Slot::Policy(field) => *field(config) = parse_policy(text)?,
        Slot::Serialization(field) => *field(config) = parse_serialization(text)?,
        Slot::Level(field) => *field(config) = text.trim().parse::<Level>().map_err(|_| LEVEL_SYNTAX.to_string())?,
        Slot::Path(field) => *field(config) = Some(parse_path(text)?),
        Slot::Bool(field) => *field(config) = parse_bool(text)?,
        Slot::Rates(field) => *field(config) = parse_rates(text)?,
    }
    Ok(())
}

/// `hyper=10, my_app::db=100`: (prefix, events per second) pairs; empty for none.
fn parse_rates(text: &str) -> Result<Vec<(String, u32)>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((prefix, rate)) = part.split_once('=') else { return Err(RATES_SYNTAX.to_string()) };
        let rate = to_u32(parse_count(rate).map_err(|_| RATES_SYNTAX.to_string())?)?;
        if rate == 0 {
            return Err(format!("{RATES_SYNTAX}; each rate at least 1"));
        }
        out.push((prefix.trim().to_string(), rate));
    }
    Ok(out)
}

fn to_usize(n: u64) -> Result<usize, String> {
    usize::try_from(n).map_err(|_| format!("at most {}", usize::MAX))
}

fn to_u32(n: u64) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| format!("a whole number up to {}", u32::MAX))
}

/// `65536`, `64KiB`, `1 MiB`, `2gib`.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return Err(SIZE_SYNTAX.to_string());
    }
    let n: u64 = t[..digits].parse().map_err(|_| format!("{SIZE_SYNTAX}; this one is too large"))?;
    let unit: u64 = match t[digits..].trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(SIZE_SYNTAX.to_string()),
    };
    n.checked_mul(unit).ok_or_else(|| format!("{SIZE_SYNTAX}; this one is too large"))
}

/// `64`.
fn parse_count(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(COUNT_SYNTAX.to_string());
    }
    t.parse().map_err(|_| format!("{COUNT_SYNTAX}; this one is too large"))
}

/// `250us`, `10ms`, `1.5s`, `2m`, `1h`, `0`. Exact to the nanosecond (digits past it are cut).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.').len();
    let (number, unit) = (&t[..split], t[split..].trim_start());
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(DURATION_SYNTAX.to_string());
    }
    let unit_ns: u128 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" if number.bytes().all(|b| b == b'0' || b == b'.') => 0,
        _ => return Err(DURATION_SYNTAX.to_string()),
    };
    let too_long = || format!("{DURATION_SYNTAX}; this one is too long");
    let int: u128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| too_long())? };
    // At most 18 fraction digits count: below a nanosecond even in hours.
    let frac = &frac[..frac.len().min(18)];
    let frac_ns = if frac.is_empty() {
        0
    } else {
        frac.parse::<u128>().map_err(|_| too_long())? * unit_ns / 10u128.pow(frac.len() as u32)
    };
    let nanos = int.checked_mul(unit_ns).and_then(|n| n.checked_add(frac_ns)).ok_or_else(too_long)?;
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long())?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// `drop_newest`, `drop_oldest`, `block`, `block:50ms`, `block(50ms)`.
fn parse_policy(text: &str) -> Result<Policy, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let timeout = if let Some(rest) = lower.strip_prefix("block:") {
        &t[t.len() - rest.len()..]
    } else if lower.starts_with("block(") && lower.ends_with(')') {
        &t["block(".len()..t.len() - 1]
    } else {
        return match lower.as_str() {
            "drop_newest" => Ok(Policy::DropNewest),
            "drop_oldest" => Ok(Policy::DropOldest),
            "block" => Ok(Policy::Block { timeout: DEFAULT_BLOCK_TIMEOUT }),
            _ => Err(POLICY_SYNTAX.to_string()),
        };
    };
    let timeout = parse_duration(timeout).map_err(|e| format!("{POLICY_SYNTAX}; the timeout must be {e}"))?;
    Ok(Policy::Block { timeout })
}

/// `strict`, `best_effort`.
fn parse_serialization(text: &str) -> Result<Serialization, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "strict" => Ok(Serialization::Strict),
        "best_effort" => Ok(Serialization::BestEffort),
        _ => Err(SERIALIZATION_SYNTAX.to_string()),
    }
}

/// A path as given. Only surrounding spaces are cut, like every value's; a path that needs
/// them is set in code.
fn parse_path(text: &str) -> Result<PathBuf, String> {
    let t = text.trim();
    if t.is_empty() || t.contains('\0') {
        return Err(PATH_SYNTAX.to_string());
    }
    Ok(PathBuf::from(t))
}

/// `true`, `false`, `1`, `0`, `yes`, `no`, `on`, `off`.
fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(BOOL_SYNTAX.to_string()),
    }
}

/// `0.25`, `25%`.
fn parse_fraction(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, scale) = match t.strip_suffix('%') {
        Some(p) => (p.trim_end(), 100.0),
        None => (t, 1.0),
    };
    // Only plain decimals: `f64::from_str` would also take `inf`, `NaN` and `1e-1`.
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(FRACTION_SYNTAX.to_string());
    }
    let value = number.parse::<f64>().map_err(|_| FRACTION_SYNTAX.to_string())?;
    check_fraction(value / scale)
}

fn check_fraction(value: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(FRACTION_SYNTAX.to_string())
    }
}

/// `" (did you mean X?)"` when `given` is within two edits of a known name, else `""`.
fn suggestion(given: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (edit_distance(given, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!(" (did you mean {k}?)"))
        .unwrap_or_default()
}

/// Levenshtein distance over bytes (names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The TOML layer, with the `config-file` feature.
#[cfg(feature = "config-file")]
mod toml_source {
    use super::{
        check_fraction, set_text, suggestion, to_u32, to_usize, ConfigError, Origins, Slot, Source, BOOL_SYNTAX,
        COUNT_SYNTAX, DURATION_SYNTAX, FILE_FIELD, FRACTION_SYNTAX, LEVEL_SYNTAX, MAX_CONFIG_FILE, PATH_SYNTAX,
        POLICY_SYNTAX, SERIALIZATION_SYNTAX, SETTINGS, SIZE_SYNTAX,
    };
    use crate::config::Config;
    use std::ops::Range;
    use std::path::Path;
    use std::time::Duration;
    use toml::de::{DeInteger, DeTable, DeValue};
    use toml::Spanned;

    /// The table that holds ringtrace's settings inside a program's own file.
    const TABLE: &str = "ringtrace";

    pub(super) fn apply_file(config: &mut Config, path: &Path, origins: &mut Origins) -> Result<(), ConfigError> {
        let error = |allowed: String| ConfigError { field: FILE_FIELD, value: path.display().to_string(), allowed };
        let text = read_bounded(path).map_err(|e| error(format!("a readable TOML file; reading it failed: {e}")))?;
        let text = text.ok_or_else(|| {
            error(format!("a TOML file of at most {MAX_CONFIG_FILE} bytes (1 MiB); this one is larger (or never ends)"))
        })?;
        apply(config, &text, path, origins)
    }

    /// The file's text, or `None` if it holds more than [`MAX_CONFIG_FILE`] bytes (at most
    /// that much plus one byte is read).
    fn read_bounded(path: &Path) -> std::io::Result<Option<String>> {
        use std::io::Read;
        let file = std::fs::File::open(path)?;
        if file.metadata().is_ok_and(|m| m.is_file() && m.len() > MAX_CONFIG_FILE) {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_FILE + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_CONFIG_FILE {
            return Ok(None);
        }
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8: {e}")))
    }

    pub(super) fn apply(
        config: &mut Config,
        text: &str,
        origin: &Path,
        origins: &mut Origins,
    ) -> Result<(), ConfigError> {
        let document = DeTable::parse(text).map_err(|e| ConfigError {
            field: FILE_FIELD,
            value: origin.display().to_string(),
            allowed: format!("a valid TOML document; {}", parse_error(&e)),
        })?;
        let where_ = |span: Range<usize>| {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("in {}, line {line}", origin.display())
        };
        let mut table = document.get_ref();
        if let Some(inner) = table.get(TABLE) {
            match inner.get_ref() {
                DeValue::Table(inner) => table = inner,
                other => {
                    return Err(ConfigError {
                        field: FILE_FIELD,
                        value: TABLE.to_string(),
                        allowed: format!(
                            "a [ringtrace] table holding the settings, not a TOML {} ({})",
                            other.type_str(),
                            where_(inner.span())
                        ),
                    })
                }
            }
        }
        // Unknown keys first, the first in the file reported.
        if let Some(key) = table
            .keys()
            .filter(|k| !SETTINGS.iter().any(|s| s.field == k.get_ref().as_ref()))
            .min_by_key(|k| k.span().start)
        {
            let known: Vec<&str> = SETTINGS.iter().map(|s| s.field).collect();
            return Err(ConfigError {
                field: FILE_FIELD,
                value: key.get_ref().to_string(),
                allowed: format!(
                    "one of the keys {}{} ({})",
                    known.join(", "),
                    suggestion(key.get_ref(), &known),
                    where_(key.span())
                ),
            });
        }
        let mut next = config.clone();
        let mut set = [false; SETTINGS.len()];
        for (i, setting) in SETTINGS.iter().enumerate() {
            let Some((key, value)) = table.get_key_value(setting.field) else {
                continue;
            };
            set_toml(&mut next, setting.slot, value.get_ref()).map_err(|allowed| ConfigError {
                field: setting.field,
                value: value_text(text, value),
                allowed: format!("{allowed} ({})", where_(key.span())),
            })?;
            set[i] = true;
        }
        for (i, _) in set.iter().enumerate().filter(|(_, set)| **set) {
            origins.0[i] = Source::File(origin.to_path_buf());
        }
        *config = next;
        Ok(())
    }

    /// One line from the parser's error: its position (`TOML parse error at line 2, column
    /// 13`) and message. The full rendering, with the source line and a caret, is several lines.
    fn parse_error(e: &toml::de::Error) -> String {
        let rendered = e.to_string();
        let first = rendered.lines().next().unwrap_or_default();
        if first.starts_with("TOML parse error") && first != e.message() {
            format!("{first}: {}", e.message().trim_end())
        } else {
            e.message().trim_end().to_string()
        }
    }

    /// The value as the user wrote it: a string's contents, any other value's source text.
    fn value_text(text: &str, value: &Spanned<DeValue<'_>>) -> String {
        match value.get_ref() {
            DeValue::String(s) => s.to_string(),
            _ => text.get(value.span()).map_or_else(|| "?".to_string(), |s| s.trim().to_string()),
        }
    }

    /// Stores a TOML value for `slot`; the error is what is allowed.
    fn set_toml(config: &mut Config, slot: Slot, value: &DeValue<'_>) -> Result<(), String> {
        match (slot, value) {
            (Slot::Count(_) | Slot::Count32(_), DeValue::String(_)) => Err(type_error(slot, value)),
            (Slot::Bool(field), DeValue::Boolean(b)) => {
                *field(config) = *b;
                Ok(())
            }
            (Slot::Rates(field), DeValue::Table(t)) => {
                let mut rates = Vec::new();
                for (prefix, v) in t.iter() {
                    let DeValue::Integer(i) = v.get_ref() else { return Err(type_error(slot, value)) };
                    let rate = to_u32(non_negative(i, super::RATES_SYNTAX)?)?;
                    if rate == 0 {
                        return Err(format!("{}; each rate at least 1", super::RATES_SYNTAX));
                    }
                    rates.push((prefix.get_ref().to_string(), rate));
                }
                *field(config) = rates;
                Ok(())
            }
            (_, DeValue::String(s)) => set_text(config, slot, s),
            (Slot::Size(field), DeValue::Integer(i)) => {
                *field(config) = to_usize(non_negative(i, SIZE_SYNTAX)?)?;
                Ok(())
            }
            (Slot::Count(field), DeValue::Integer(i)) => {
                *field(config) = to_usize(non_negative(i, COUNT_SYNTAX)?)?;
                Ok(())
            }
            (Slot::Count32(field), DeValue::Integer(i)) => {
                *field(config) = to_u32(non_negative(i, COUNT_SYNTAX)?)?;
                Ok(())
            }
            (Slot::Duration(field), DeValue::Integer(i)) => {
                *field(config) = Duration::from_millis(non_negative(
                    i,
                    "a whole number of milliseconds, or a string such as \"10ms\"",
                )?);
                Ok(())
            }
            (Slot::Fraction(field), DeValue::Integer(i)) => {
                let v = non_negative(i, FRACTION_SYNTAX)?;
                *field(config) = check_fraction(v as f64)?;
                Ok(())
            }
            (Slot::Fraction(field), DeValue::Float(x)) => {
                let v: f64 = x.as_str().parse().map_err(|_| FRACTION_SYNTAX.to_string())?;
                *field(config) = check_fraction(v)?;
                Ok(())
            }
            _ => Err(type_error(slot, value)),
        }
    }

    fn non_negative(i: &DeInteger<'_>, syntax: &str) -> Result<u64, String> {
        u64::from_str_radix(i.as_str(), i.radix()).map_err(|_| {
            if i.as_str().starts_with('-') {
                format!("{syntax}; it cannot be negative")
            } else {
                format!("{syntax}; this one is too large")
            }
        })
    }

    /// What the slot takes in TOML, and what it got.
    fn type_error(slot: Slot, value: &DeValue<'_>) -> String {
        let expected = match slot {
            Slot::Size(_) => {
                format!("an integer number of bytes or a string such as \"64KiB\" ({SIZE_SYNTAX})")
            }
            Slot::Count(_) | Slot::Count32(_) => "a whole number as a TOML integer (e.g. 64)".to_string(),
            Slot::Duration(_) => format!(
                "a string such as \"10ms\" or \"1.5s\", or an integer number of milliseconds \
                 ({DURATION_SYNTAX})"
            ),
            Slot::Fraction(_) => {
                format!("a number such as 0.25 or a string such as \"25%\" ({FRACTION_SYNTAX})")
            }
            Slot::Policy(_) => format!("a string: {POLICY_SYNTAX}"),
            Slot::Serialization(_) => format!("a string: {SERIALIZATION_SYNTAX}"),
            Slot::Level(_) => format!("a string: {LEVEL_SYNTAX}"),
            Slot::Path(_) => format!("a string: {PATH_SYNTAX}"),
            Slot::Bool(_) => format!("a TOML boolean or a string: {BOOL_SYNTAX}"),
            Slot::Rates(_) => format!("a table of target prefixes to integers, or a string: {}", super::RATES_SYNTAX),
        };
        format!("{expected}, not a TOML {}", value.type_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_field_has_one_setting() {
        // A new Config field must be added to SETTINGS: this debug dump names every field.
        let dump = format!("{:?}", Config::default());
        let fields = dump.matches(": ").count();
        assert_eq!(fields, SETTINGS.len(), "{dump}");
        for s in &SETTINGS {
            assert!(dump.contains(&format!("{}: ", s.field)), "{}", s.field);
            assert_eq!(s.env, format!("{PREFIX}{}", s.field.to_ascii_uppercase()));
        }
    }

    #[test]
    fn durations_are_exact() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1.000000001s"), Ok(Duration::new(1, 1)));
        assert_eq!(parse_duration(".5ms"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("0.0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        for bad in ["", ".", "10", "1.2.3s", "10 sec", "-1s", "1e3ms", "10MS"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("99999999999999999999999h").is_err());
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(edit_distance("ring_sise", "ring_size"), 1);
        assert_eq!(suggestion("ring_sise", &["ring_size", "ring_count"]), " (did you mean ring_size?)");
        assert_eq!(suggestion("colour", &["ring_size"]), "");
    }
}
