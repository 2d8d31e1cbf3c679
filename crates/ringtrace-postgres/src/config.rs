//! The sink's configuration: where the server is, who we are, which table, and how hard to
//! try when the server is away.
//!
//! [`PostgresConfig`] is a by-value builder with `Default`; every default is a documented
//! `pub const`. Nothing is checked while building: [`PostgresConfig::validate`] (called by
//! [`PostgresSink::new`](crate::PostgresSink::new)) checks every value and names the field, the
//! value and what is allowed.
//!
//! The password lives in a [`Password`], whose `Debug` prints `"<redacted>"` and which has no
//! `Display`. No error this crate builds contains it: configuration errors about the password
//! field print `<redacted>` for the value, and errors from parsing a connection string never
//! echo the input.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default TCP host.
pub const DEFAULT_HOST: &str = "localhost";
/// Default port.
pub const DEFAULT_PORT: u16 = 5432;
/// Default user.
pub const DEFAULT_USER: &str = "postgres";
/// Default table (the production preset's).
pub const DEFAULT_TABLE: &str = "ringtrace_events";
/// Default `application_name` reported to the server (visible in `pg_stat_activity`).
pub const DEFAULT_APPLICATION_NAME: &str = "ringtrace";
/// Default bound on establishing a connection (TCP connect; the unix socket connect is local).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default read and write timeout on the socket (a server that stops answering for this long
/// counts as gone).
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Default attempts per batch (the first one included).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Default bound on the time one batch may spend being retried (sleeps included).
pub const DEFAULT_MAX_RETRY_TIME: Duration = Duration::from_secs(1);
/// Default sleep before the first retry of a batch; doubles per retry.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(50);
/// Default wait, once the server is known to be down, before the first reconnect attempt;
/// doubles per failed attempt up to [`DEFAULT_MAX_RECONNECT_INTERVAL`].
pub const DEFAULT_RECONNECT_INTERVAL: Duration = Duration::from_millis(250);
/// Default cap on the wait between reconnect attempts.
pub const DEFAULT_MAX_RECONNECT_INTERVAL: Duration = Duration::from_secs(5);
/// Default size of one `CopyData` message.
pub const DEFAULT_COPY_CHUNK_SIZE: usize = 64 * 1024;

/// Longest identifier PostgreSQL keeps (`NAMEDATALEN - 1`).
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// A password. `Debug` prints `"<redacted>"`; there is no `Display`. Read it with
/// [`Password::expose`] (the connection code is the only caller).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(p: impl Into<String>) -> Self {
        Self(p.into())
    }

    /// The password itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A host name or address, with the configured port.
    Tcp(String),
    /// The directory holding the server's unix socket (`.s.PGSQL.<port>` inside it).
    Unix(PathBuf),
}

impl Endpoint {
    /// The host or socket path, for messages.
    pub fn describe(&self, port: u16) -> String {
        match self {
            Endpoint::Tcp(h) => format!("{h}:{port}"),
            Endpoint::Unix(d) => d.join(format!(".s.PGSQL.{port}")).display().to_string(),
        }
    }
}

/// How a batch that could not be written is retried, and how often a server known to be down
/// is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per batch, the first one included (≥ 1).
    pub max_attempts: u32,
    /// Time one batch may spend on its attempts and the sleeps between them; no new attempt
    /// starts after it (one already running is bounded by the I/O timeout).
    pub max_retry_time: Duration,
    /// Sleep before the first retry; doubles per retry (never beyond `max_retry_time`).
    pub initial_backoff: Duration,
    /// Once a batch has used up its attempts the server counts as down: later batches fail at
    /// once, without touching the network, until this long has passed; then one reconnect is
    /// tried. Each failed reconnect doubles the wait, up to `max_reconnect_interval`.
    pub reconnect_interval: Duration,
    /// Cap on the wait between reconnect attempts.
    pub max_reconnect_interval: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_retry_time: DEFAULT_MAX_RETRY_TIME,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            reconnect_interval: DEFAULT_RECONNECT_INTERVAL,
            max_reconnect_interval: DEFAULT_MAX_RECONNECT_INTERVAL,
        }
    }
}

/// The PostgreSQL sink's configuration: a by-value builder.
///
/// # Default values
///
/// | field | default |
/// |---|---|
/// | `endpoint` | TCP [`DEFAULT_HOST`] (`localhost`) |
/// | `port` | [`DEFAULT_PORT`] (5432) |
/// | `user` | [`DEFAULT_USER`] (`postgres`) |
/// | `password` | none |
/// | `dbname` | the user name |
/// | `schema` | none (the server's `search_path` decides) |
/// | `table` | [`DEFAULT_TABLE`] (`ringtrace_events`) |
/// | `create_table` | **`true`** — runs DDL at start-up, see the warning on the field |
/// | `connect_at_start` | `true` |
/// | `application_name` | [`DEFAULT_APPLICATION_NAME`] |
/// | `connect_timeout` | [`DEFAULT_CONNECT_TIMEOUT`] (2 s) |
/// | `io_timeout` | [`DEFAULT_IO_TIMEOUT`] (5 s) |
/// | `retry.max_attempts` | [`DEFAULT_MAX_ATTEMPTS`] (3) |
/// | `retry.max_retry_time` | [`DEFAULT_MAX_RETRY_TIME`] (1 s) |
/// | `retry.initial_backoff` | [`DEFAULT_INITIAL_BACKOFF`] (50 ms) |
/// | `retry.reconnect_interval` | [`DEFAULT_RECONNECT_INTERVAL`] (250 ms) |
/// | `retry.max_reconnect_interval` | [`DEFAULT_MAX_RECONNECT_INTERVAL`] (5 s) |
/// | `copy_chunk_size` | [`DEFAULT_COPY_CHUNK_SIZE`] (64 KiB) |
/// | `sink_name` | `postgres` |
///
/// The number of rows per `COPY` is the runtime's batch size
/// ([`ringtrace::Builder::batch_size`]): every drain batch is exactly one `COPY`, one
/// transaction, so a batch is written or lost as a whole and the runtime's per-sink counts are
/// exact.
///
/// ```
/// use ringtrace_postgres::PostgresConfig;
/// let c = PostgresConfig::new()
///     .host("db.internal")
///     .port(5432)
///     .user("ingest")
///     .password("s3cret")
///     .dbname("telemetry")
///     .schema("tracing")
///     .table("events")
///     .create_table(false);
/// assert!(c.validate().is_ok());
/// assert!(!format!("{c:?}").contains("s3cret"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// Where the server listens.
    pub endpoint: Endpoint,
    /// The server's port (TCP), or the number in the unix socket's name.
    pub port: u16,
    /// The role to log in as.
    pub user: String,
    /// The role's password (SCRAM-SHA-256, MD5 or cleartext, as the server asks).
    pub password: Option<Password>,
    /// The database (the user name when `None`, as with libpq).
    pub dbname: Option<String>,
    /// The table's schema; `None` leaves the name unqualified (the server's `search_path`).
    pub schema: Option<String>,
    /// The table events are copied into.
    pub table: String,
    /// Whether to run `CREATE TABLE IF NOT EXISTS` and `CREATE INDEX IF NOT EXISTS` when the
    /// sink first connects (in [`Sink::start`](ringtrace::Sink::start)).
    ///
    /// # Warning: `true` runs DDL at start-up
    ///
    /// The default, `true`, makes the application issue DDL against the database when it
    /// starts, with the application's credentials (which then need the `CREATE` privilege on
    /// the schema). **Regulated environments should provision the table by migration (see
    /// [`ddl`](crate::ddl)) and set this to `false`**, as the production preset does. With
    /// `false` the sink only checks that the table exists with the expected columns and fails
    /// to start, with the DDL to run in the error, if it does not.
    pub create_table: bool,
    /// Connect (and create or check the table) in `start`, so that `install` fails when the
    /// server is unreachable or the table is missing. With `false`, `start` only validates and
    /// the first batch connects; while the server is unreachable batches are dropped (and
    /// counted) as described in the crate doc.
    pub connect_at_start: bool,
    /// Reported to the server as `application_name`.
    pub application_name: String,
    /// Bound on establishing a TCP connection (per resolved address).
    pub connect_timeout: Duration,
    /// Read and write timeout on the socket.
    pub io_timeout: Duration,
    /// Retries and reconnects.
    pub retry: RetryPolicy,
    /// Size of one `CopyData` message (bytes; a row larger than this gets a message of its
    /// own).
    pub copy_chunk_size: usize,
    /// The sink's name in reports and diagnostics.
    pub sink_name: String,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::Tcp(DEFAULT_HOST.into()),
            port: DEFAULT_PORT,
            user: DEFAULT_USER.into(),
            password: None,
            dbname: None,
            schema: None,
            table: DEFAULT_TABLE.into(),
            create_table: true,
            connect_at_start: true,
            application_name: DEFAULT_APPLICATION_NAME.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
            retry: RetryPolicy::default(),
            copy_chunk_size: DEFAULT_COPY_CHUNK_SIZE,
            sink_name: "postgres".into(),
        }
    }
}

/// A configuration value that is not allowed: the field, the value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field (`table`, `schema`, `port`, …, or `connection string`).
    pub field: &'static str,
    /// The offending value (`<redacted>` for the password).
    pub value: String,
    /// What would have been accepted.
    pub allowed: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid postgres sink {}: {:?} (allowed: {})", self.field, self.value, self.allowed)
    }
}

impl std::error::Error for ConfigError {}

fn err(field: &'static str, value: impl Into<String>, allowed: impl Into<String>) -> ConfigError {
    ConfigError { field, value: value.into(), allowed: allowed.into() }
}

const IDENT_ALLOWED: &str = "an identifier matching [A-Za-z_][A-Za-z0-9_$]* of at most 63 bytes \
     (it is always quoted in SQL, so it is case-sensitive)";

/// Checks that `value` is an identifier this crate accepts for a schema or table name:
/// `[A-Za-z_][A-Za-z0-9_$]{0,62}`. Names are double-quoted in every statement as well, so even
/// an accepted name cannot change a statement's meaning.
///
/// ```
/// use ringtrace_postgres::validate_identifier;
/// assert!(validate_identifier("table", "ringtrace_events").is_ok());
/// let e = validate_identifier("table", "x\"; DROP TABLE y; --").unwrap_err();
/// assert_eq!(e.field, "table");
/// ```
pub fn validate_identifier(field: &'static str, value: &str) -> Result<(), ConfigError> {
    let b = value.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= MAX_IDENTIFIER_LEN
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$');
    if ok {
        Ok(())
    } else {
        Err(err(field, value, IDENT_ALLOWED))
    }
}

impl PostgresConfig {
    /// The defaults (see the table above).
    pub fn new() -> Self {
        Self::default()
    }

    /// Connects over TCP to `host` (a name or an address). A value starting with `/` is a
    /// unix socket directory, as with libpq.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        let host = host.into();
        self.endpoint = if host.starts_with('/') { Endpoint::Unix(PathBuf::from(host)) } else { Endpoint::Tcp(host) };
        self
    }

    /// Connects through the unix socket in `dir` (`dir/.s.PGSQL.<port>`).
    pub fn unix_socket_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.endpoint = Endpoint::Unix(dir.as_ref().to_path_buf());
        self
    }

    /// The port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The role to log in as.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// The password (never printed).
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Password::new(password));
        self
    }

    /// The database.
    pub fn dbname(mut self, dbname: impl Into<String>) -> Self {
        self.dbname = Some(dbname.into());
        self
    }

    /// The table's schema (validated as an identifier and always quoted).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The table (validated as an identifier and always quoted).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Whether the sink creates its table and index at start-up (default `true`).
    ///
    /// # Warning: `true` runs DDL at start-up
    ///
    /// With `true` (the default) the application runs `CREATE TABLE IF NOT EXISTS` and
    /// `CREATE INDEX IF NOT EXISTS` when the sink starts. **Regulated environments should
    /// provision the table by migration (the statements are returned by
    /// [`ddl`](crate::ddl)) and set this to `false`**; the sink then only checks the table and
    /// refuses to start, showing the DDL, if it is missing.
    pub fn create_table(mut self, yes: bool) -> Self {
        self.create_table = yes;
        self
    }

    /// Whether `start` connects (default `true`); see the field.
    pub fn connect_at_start(mut self, yes: bool) -> Self {
        self.connect_at_start = yes;
        self
    }

    /// The `application_name` reported to the server.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// Bound on establishing a TCP connection.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Read and write timeout on the socket.
    pub fn io_timeout(mut self, d: Duration) -> Self {
        self.io_timeout = d;
        self
    }

    /// Retries and reconnects.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Size of one `CopyData` message.
    pub fn copy_chunk_size(mut self, bytes: usize) -> Self {
        self.copy_chunk_size = bytes;
        self
    }

    /// The sink's name in reports (default `postgres`).
    pub fn sink_name(mut self, name: impl Into<String>) -> Self {
        self.sink_name = name.into();
        self
    }

    /// The database name used: `dbname`, or the user name.
    pub fn effective_dbname(&self) -> &str {
        self.dbname.as_deref().unwrap_or(&self.user)
    }

    /// The table's name as it appears in SQL: `"schema"."table"` or `"table"`. Only
    /// meaningful for a validated configuration.
    pub fn qualified_table(&self) -> String {
        match &self.schema {
            Some(s) => format!("\"{s}\".\"{}\"", self.table),
            None => format!("\"{}\"", self.table),
        }
    }

    /// The statements that create the table and its index (what `create_table = true` runs).
    pub fn ddl(&self) -> Result<String, ConfigError> {
        crate::ddl(self.schema.as_deref(), &self.table)
    }

    /// Checks every value; the error names the field, the value and what is allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_identifier("table", &self.table)?;
        if let Some(s) = &self.schema {
            validate_identifier("schema", s)?;
        }
        let text = |field: &'static str, v: &str| {
            if v.is_empty() || v.contains('\0') {
                Err(err(field, v, "a non-empty string without NUL characters"))
            } else {
                Ok(())
            }
        };
        text("user", &self.user)?;
        if let Some(d) = &self.dbname {
            text("dbname", d)?;
        }
        if self.application_name.contains('\0') {
            return Err(err("application_name", &self.application_name, "a string without NUL characters"));
        }
        if let Some(p) = &self.password {
            if p.expose().contains('\0') {
                return Err(err("password", "<redacted>", "a string without NUL characters"));
            }
        }
        match &self.endpoint {
            Endpoint::Tcp(h) => text("host", h)?,
            // Windows: std has no unix sockets (conn.rs), so the sink says so at build time.
            Endpoint::Unix(d) if cfg!(not(unix)) => {
                return Err(err(
                    "host",
                    d.display().to_string(),
                    "a TCP host name or address (unix sockets are unsupported on this platform)",
                ))
            }
            Endpoint::Unix(d) if !d.is_absolute() => {
                return Err(err("host", d.display().to_string(), "an absolute unix socket directory"))
            }
            Endpoint::Unix(_) => {}
        }
        if self.port == 0 {
            return Err(err("port", "0", "1..=65535"));
        }
        let positive = |field: &'static str, d: Duration| {
            if d.is_zero() {
                Err(err(field, format!("{d:?}"), "a duration greater than zero"))
            } else {
                Ok(())
            }
        };
        positive("connect_timeout", self.connect_timeout)?;
        positive("io_timeout", self.io_timeout)?;
        positive("retry.reconnect_interval", self.retry.reconnect_interval)?;
        if self.retry.max_attempts == 0 {
            return Err(err("retry.max_attempts", "0", "at least 1"));
        }
        if self.retry.max_reconnect_interval < self.retry.reconnect_interval {
            return Err(err(
                "retry.max_reconnect_interval",
                format!("{:?}", self.retry.max_reconnect_interval),
                format!("at least retry.reconnect_interval ({:?})", self.retry.reconnect_interval),
            ));
        }
        if !(1024..=(256 << 20)).contains(&self.copy_chunk_size) {
            return Err(err("copy_chunk_size", self.copy_chunk_size.to_string(), "1024..=268435456 bytes"));
        }
        if self.sink_name.is_empty() {
            return Err(err("sink_name", "", "a non-empty name"));
        }
        Ok(())
    }

    /// Reads a libpq-style connection string: either `key=value` pairs separated by spaces
    /// (values may be single-quoted, with `\'` and `\\` escapes) or a URL
    /// `postgresql://user:password@host:port/dbname?key=value`. Keys: `host` (a `/…` value
    /// is a unix socket directory), `port`, `user`, `password`, `dbname`,
    /// `application_name`, `connect_timeout` (seconds), and this crate's own `schema`,
    /// `table`, `create_table` (`true`/`false`). `sslmode` is accepted only as `disable` or
    /// `prefer` (TLS is not supported: use a unix socket or a trusted network). Other keys
    /// are refused. Starts from the defaults.
    ///
    /// Errors never contain the password, nor the input (which may hold it).
    ///
    /// ```
    /// use ringtrace_postgres::PostgresConfig;
    /// let c = PostgresConfig::from_conninfo("host=127.0.0.1 port=54329 user=rt password='p w' dbname=logs").unwrap();
    /// assert_eq!((c.port, c.user.as_str(), c.effective_dbname()), (54329, "rt", "logs"));
    /// assert_eq!(c.password.unwrap().expose(), "p w");
    /// let u = PostgresConfig::from_conninfo("postgresql://rt:p%40ss@localhost:5433/logs?table=ev").unwrap();
    /// assert_eq!((u.port, u.table.as_str(), u.password.unwrap().expose()), (5433, "ev", "p@ss"));
    /// ```
    pub fn from_conninfo(s: &str) -> Result<Self, ConfigError> {
        let pairs = if s.starts_with("postgresql://") || s.starts_with("postgres://") {
            parse_url(s)?
        } else {
            parse_keywords(s)?
        };
        let mut c = Self::new();
        for (k, v) in pairs {
            c = c.apply(&k, v)?;
        }
        Ok(c)
    }

    fn apply(self, key: &str, v: String) -> Result<Self, ConfigError> {
        let parse_bool = |field: &'static str, v: &str| match v {
            "true" | "on" | "yes" | "1" => Ok(true),
            "false" | "off" | "no" | "0" => Ok(false),
            _ => Err(err(field, v, "true or false")),
        };
        Ok(match key {
            "host" => self.host(v),
            "port" => {
                let p = v.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| err("port", &v, "1..=65535"))?;
                self.port(p)
            }
            "user" => self.user(v),
            "password" => self.password(v),
            "dbname" => self.dbname(v),
            "application_name" => self.application_name(v),
            "connect_timeout" => {
                let secs = v
                    .parse::<u64>()
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| err("connect_timeout", &v, "a whole number of seconds > 0"))?;
                self.connect_timeout(Duration::from_secs(secs))
            }
            "schema" => self.schema(v),
            "table" => self.table(v),
            "create_table" => {
                let b = parse_bool("create_table", &v)?;
                self.create_table(b)
            }
            "sslmode" if v == "disable" || v == "prefer" => self,
            "sslmode" => return Err(err("sslmode", v, "disable or prefer (TLS is not supported)")),
            _ => {
                return Err(err(
                    "connection string",
                    format!("key {key:?}"),
                    "host, port, user, password, dbname, application_name, connect_timeout, schema, \
                     table, create_table, sslmode",
                ))
            }
        })
    }
}

/// `key=value key='quoted value'` (libpq's keyword/value form).
fn parse_keywords(s: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let malformed = |what: &str| err("connection string", "<not shown: it may contain a password>", what);
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(malformed("key=value pairs separated by spaces (a key has no '=')"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(malformed("a closing quote (the input ends after a backslash)")),
                    },
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(malformed("a closing quote for a quoted value")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    if let Some(c) = chars.next() {
                        value.push(c);
                    }
                    continue;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value));
    }
}

fn percent_decode(field: &'static str, s: &str) -> Result<String, ConfigError> {
    let shown = if field == "password" { "<redacted>".to_string() } else { s.to_string() };
    let bad = || err(field, shown.clone(), "valid percent-encoded UTF-8");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// `postgresql://[user[:password]@][host][:port][/dbname][?key=value&…]`.
fn parse_url(s: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let rest = s.split_once("://").map_or("", |(_, r)| r);
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut out = Vec::new();
    let hostport = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                out.push(("user".to_string(), percent_decode("user", user)?));
            }
            if let Some(p) = password {
                out.push(("password".to_string(), percent_decode("password", p)?));
            }
            hostport
        }
        None => authority,
    };
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        // [v6]:port
        let (h, after) =
            h.split_once(']').ok_or_else(|| err("host", hostport, "a bracketed IPv6 address closed by ']'"))?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if !host.is_empty() {
        out.push(("host".to_string(), percent_decode("host", host)?));
    }
    if let Some(p) = port {
        out.push(("port".to_string(), p.to_string()));
    }
    if !path.is_empty() {
        out.push(("dbname".to_string(), percent_decode("dbname", path)?));
    }
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let k = percent_decode("connection string", k)?;
        let field = if k == "password" { "password" } else { "connection string" };
        out.push((k, percent_decode(field, v)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_restricted() {
        for ok in ["a", "_x", "ringtrace_events", "T$1", &"a".repeat(63)] {
            assert!(validate_identifier("table", ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a b", "a\"b", "x\"; DROP TABLE t; --", "é", &"a".repeat(64), "a.b"] {
            let e = validate_identifier("table", bad).unwrap_err();
            assert_eq!((e.field, e.value.as_str()), ("table", bad));
            assert!(e.to_string().contains("[A-Za-z_][A-Za-z0-9_$]*"), "{e}");
        }
    }

    #[test]
    fn password_is_redacted_everywhere() {
        let c = PostgresConfig::new().password("hunter2-secret");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(format!("{c:?}").contains("<redacted>"));
        let e = PostgresConfig::new().password("bad\0hunter2").validate().unwrap_err();
        assert_eq!(e.field, "password");
        assert!(!e.to_string().contains("hunter2"));
        let e = PostgresConfig::from_conninfo("user=a password='hunter2").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = PostgresConfig::from_conninfo("postgresql://a:hunter2%zz@h/db").unwrap_err();
        assert!(!format!("{e} {e:?}").contains("hunter2"), "{e}");
    }

    #[test]
    fn conninfo_keywords_and_urls() {
        let c = PostgresConfig::from_conninfo(
            "host=/tmp/sock port = 5 user=u password='a \\'b\\' c' dbname=d schema=s table=t create_table=false",
        )
        .unwrap();
        assert_eq!(c.endpoint, Endpoint::Unix("/tmp/sock".into()));
        assert_eq!((c.port, c.user.as_str(), c.effective_dbname()), (5, "u", "d"));
        assert_eq!(c.password.as_ref().unwrap().expose(), "a 'b' c");
        assert_eq!((c.schema.as_deref(), c.table.as_str(), c.create_table), (Some("s"), "t", false));
        let u = PostgresConfig::from_conninfo("postgres://%2Ftmp%2Fs:7/db?user=x&sslmode=disable").unwrap();
        assert_eq!((u.endpoint, u.port, u.user.as_str()), (Endpoint::Unix("/tmp/s".into()), 7, "x"));
        let v6 = PostgresConfig::from_conninfo("postgresql://[::1]:9/").unwrap();
        assert_eq!((v6.endpoint, v6.port), (Endpoint::Tcp("::1".into()), 9));
        assert_eq!(PostgresConfig::from_conninfo("bogus=1").unwrap_err().field, "connection string");
        assert_eq!(PostgresConfig::from_conninfo("port=70000").unwrap_err().field, "port");
        assert_eq!(PostgresConfig::from_conninfo("sslmode=require").unwrap_err().field, "sslmode");
    }

    #[test]
    fn validation_names_the_field() {
        let cases: Vec<(PostgresConfig, &str)> = vec![
            (PostgresConfig::new().schema("a;b"), "schema"),
            (PostgresConfig::new().port(0), "port"),
            (PostgresConfig::new().user(""), "user"),
            (PostgresConfig::new().io_timeout(Duration::ZERO), "io_timeout"),
            (PostgresConfig::new().copy_chunk_size(10), "copy_chunk_size"),
            (PostgresConfig::new().unix_socket_dir("rel/dir"), "host"),
            (PostgresConfig::new().retry(RetryPolicy { max_attempts: 0, ..Default::default() }), "retry.max_attempts"),
        ];
        for (c, field) in cases {
            assert_eq!(c.validate().unwrap_err().field, field);
        }
        assert_eq!(PostgresConfig::new().validate(), Ok(()));
    }
}
