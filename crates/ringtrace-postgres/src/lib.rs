//! A PostgreSQL sink for ringtrace: every drain batch becomes one binary
//! `COPY … FROM STDIN (FORMAT binary)` into a table with typed columns, over a blocking
//! connection owned by the drain thread (no async runtime; `postgres-protocol` encodes the
//! messages and does the SCRAM-SHA-256 / MD5 arithmetic).
//!
//! # Warning: `create_table` defaults to `true`, which runs DDL at start-up
//!
//! With the default configuration the sink runs `CREATE TABLE IF NOT EXISTS` and
//! `CREATE INDEX IF NOT EXISTS` against the database when it starts (in
//! [`Sink::start`](ringtrace::Sink::start), i.e. during
//! [`Builder::install`](ringtrace::Builder::install)), with the application's credentials.
//! **Regulated environments should provision the table by migration — [`ddl`] returns the
//! exact statements — and set [`PostgresConfig::create_table`] to `false`** (the production
//! preset does). With `false`, a missing table makes `install` fail with an error that says so
//! and shows the DDL to run; nothing is ever created.
//!
//! # Usage
//!
//! ```no_run
//! use ringtrace_postgres::{PostgresConfig, PostgresSink};
//! let config = PostgresConfig::new()
//!     .host("127.0.0.1")
//!     .port(5432)
//!     .user("app")
//!     .password(std::env::var("PGPASSWORD").unwrap_or_default())
//!     .dbname("telemetry")
//!     .schema("tracing")
//!     .table("events")
//!     .create_table(false); // provisioned by migration: see `ddl()`
//! let pg = PostgresSink::new(config)?;
//! let stats = pg.stats();
//! let guard = ringtrace::Builder::new().sink(pg).install()?;
//! ringtrace::info!(order = 7u64, side = "buy", "order {} filled", 7u64);
//! let report = guard.shutdown(std::time::Duration::from_secs(10));
//! let sink = report.sink("postgres").unwrap();
//! println!("{} rows written, {} events dropped; {:?}", sink.written, sink.dropped, stats.snapshot());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For the production preset, [`PostgresSink::from_spec`] builds the preset's sink from its
//! [`PostgresSpec`](ringtrace::PostgresSpec) and your connection settings.
//!
//! # The table
//!
//! One row per event, span edge, raw record or loss record; the columns are listed in
//! [`COLUMNS`] and created by [`ddl`]:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS "ringtrace_events" (
//!     ts            timestamptz NOT NULL,  -- event time, UTC, µs (indexed)
//!     ts_unix_ns    bigint NOT NULL,       -- event time exactly, ns since the Unix epoch
//!     kind          text NOT NULL,         -- event | span_begin | span_end | loss | raw
//!     level         text,                  -- ERROR | WARN | INFO | DEBUG | TRACE
//!     target        text,
//!     thread_id     bigint NOT NULL,       -- the runtime's thread number
//!     thread_name   text NOT NULL,
//!     os_tid        bigint NOT NULL,
//!     message       text NOT NULL,
//!     fields        jsonb,                 -- typed values: {"qty":10,"side":"buy"}
//!     context       jsonb,                 -- bound context
//!     file          text,
//!     line          integer,
//!     truncated     boolean NOT NULL,
//!     event_id      integer,               -- raw records
//!     payload       bytea,                 -- raw records
//!     lost_events   bigint,                -- loss records ...
//!     lost_bytes    bigint,
//!     lost_first_ts timestamptz,
//!     lost_last_ts  timestamptz,
//!     batch_id      bigint NOT NULL        -- one COPY = one transaction
//! );
//! CREATE INDEX IF NOT EXISTS "ringtrace_events_ts_idx" ON "ringtrace_events" (ts);
//! ```
//!
//! Schema and table names must match `[A-Za-z_][A-Za-z0-9_$]{0,62}` and are always quoted as
//! identifiers, so configuration cannot inject SQL. With `create_table = false` the sink checks
//! at start-up that the table has these columns with these types (extra columns are allowed).
//!
//! # When the server goes away
//!
//! A batch that cannot be written is retried with exponential backoff, reconnecting as needed,
//! up to [`RetryPolicy::max_attempts`] attempts within [`RetryPolicy::max_retry_time`]
//! (defaults: 3 attempts, 1 s). Then `write_batch` returns an error, and the runtime counts the
//! batch's events as dropped *for this sink* (the other sinks are unaffected) and records the
//! error. The server now counts as down: later batches fail at once, without network traffic,
//! until a reconnect attempt is due ([`RetryPolicy::reconnect_interval`], doubling up to
//! [`RetryPolicy::max_reconnect_interval`]), so the drain keeps up with the producers. When the
//! server is back, the next due attempt reconnects and writing resumes. Errors a retry cannot
//! fix (the server rejected the statement or the data) fail the batch at once.
//!
//! Every batch is one transaction, so per-sink counts are exact: `written` events are in the
//! table, `dropped` ones are not — except when the connection is lost after `CopyDone` was sent
//! and the server cannot be reached to check (see [`PostgresSink`]'s accounting notes and
//! [`StatsSnapshot::unknown_committed_rows`]).
//!
//! # Limits
//!
//! No TLS: connect through a unix socket or a trusted network. Host names are resolved with the
//! system resolver, which has no timeout of its own. Text cannot hold NUL characters in
//! PostgreSQL; they are written as U+FFFD.

mod config;
mod conn;
mod copy;
mod schema;
mod sink;

pub use config::{
    validate_identifier, ConfigError, Endpoint, Password, PostgresConfig, RetryPolicy, DEFAULT_APPLICATION_NAME,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_COPY_CHUNK_SIZE, DEFAULT_HOST, DEFAULT_INITIAL_BACKOFF, DEFAULT_IO_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RECONNECT_INTERVAL, DEFAULT_MAX_RETRY_TIME, DEFAULT_PORT,
    DEFAULT_RECONNECT_INTERVAL, DEFAULT_TABLE, DEFAULT_USER, MAX_IDENTIFIER_LEN,
};
/// Test support: not part of the API (used by this crate's integration tests and the
/// throughput example). May change at any time.
#[doc(hidden)]
pub mod testing {
    use crate::conn::Conn;
    use crate::PostgresConfig;

    /// Rows as text (`None` for NULL).
    pub type Rows = Vec<Vec<Option<String>>>;

    /// Connects with `config`, runs `sql` (simple query protocol) and returns the last
    /// result's rows as text, with the authentication method the server chose.
    pub fn query(config: &PostgresConfig, sql: &str) -> Result<(Rows, &'static str), String> {
        let mut c = Conn::connect(config).map_err(|e| e.to_string())?;
        let rows = c.query(sql).map_err(|e| e.to_string())?;
        let auth = c.auth_method;
        c.terminate();
        Ok((rows, auth))
    }
}

pub use schema::{ddl, Column, COLUMNS};

/// ringtrace's own test helpers (a gate sink, a provoked loss gap), for the tests of `copy`.
#[cfg(all(test, not(feature = "loom")))]
#[path = "../../ringtrace/tests/common/mod.rs"]
mod test_common;
pub use sink::{PostgresSink, PostgresStats, StatsSnapshot, MAX_UNRESOLVED};
