//! The verbosity of an event ([`Level`]) and its names. Below every other module: the
//! configuration, the callsites and the output all speak of levels.
//! Plain data; used on every thread.

use std::fmt;

/// The verbosity of an event. Lower is more severe; a level is enabled when it is at most
/// the current [`max_level`](crate::max_level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// Something failed.
    Error = 1,
    /// Something is wrong but the program goes on.
    Warn = 2,
    /// Normal operation worth recording.
    Info = 3,
    /// Detail for developers.
    Debug = 4,
    /// Finest detail.
    Trace = 5,
}

impl Level {
    /// Every level, most severe first.
    pub const ALL: [Level; 5] = [Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace];

    /// The upper-case name (`"INFO"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    /// The level with this numeric value (1–5).
    pub const fn from_u8(v: u8) -> Option<Level> {
        Some(match v {
            1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            5 => Level::Trace,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Level {
    type Err = ParseLevelError;

    /// Parses a level name, ignoring case (`"info"`, `"WARN"`, `"warning"`).
    fn from_str(s: &str) -> Result<Level, ParseLevelError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return Err(ParseLevelError(())),
        })
    }
}

/// The error returned when a level name is not one of error, warn, info, debug, trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLevelError(());

impl fmt::Display for ParseLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid level (allowed: error, warn, info, debug, trace)")
    }
}

impl std::error::Error for ParseLevelError {}
