//! [`PostgresSink`]: one `COPY` per drain batch, retries with backoff, a circuit breaker while
//! the server is down, and exact accounting.
//!
//! # The state machine
//!
//! ```text
//!            ┌──────── batch written ─────────┐
//!            ▼                                │
//!   UP (a connection, or none yet) ── batch fails after its retries ──▶ DOWN until `next_attempt`
//!            ▲                                                           │  batches fail at once
//!            └────────── the reconnect attempt (one batch's COPY) works ─┘  (no network); when
//!                                                                           due, one batch tries
//!                                                                           one reconnect; a
//!                                                                           failure doubles the wait
//! ```
//!
//! In UP a batch gets up to `retry.max_attempts` attempts within `retry.max_retry_time`,
//! sleeping `initial_backoff`, then twice that, … between them and reconnecting when the
//! connection broke. Errors that a retry cannot fix (the server rejected the data or the
//! statement: a missing table, a permission, a constraint) fail the batch at once and leave
//! the circuit closed. Everything runs on the drain thread; recording threads never wait for
//! the database (while the drain is busy here their records wait in the rings, and
//! backpressure applies as configured).
//!
//! # Accounting
//!
//! Each batch is one `COPY`, which PostgreSQL runs as one transaction: it is committed whole or
//! not at all. `write_batch` returns `Ok` only when the server confirmed the commit
//! (`CommandComplete`), and `Err` (so the runtime counts the batch's events as dropped for this
//! sink) only when the rows are known not to be in the table — with one exception:
//!
//! **Outcome unknown.** When the connection fails after `CopyDone` was sent and before the
//! server's answer arrived, the transaction may or may not have committed — and if only the
//! network failed, the server's session may still be running it. Every row carries its batch's
//! `batch_id`, so the next attempt (on a new connection) first makes sure the old session has
//! ended (it is identified by its process id and start time and terminated with
//! `pg_terminate_backend(pid, timeout)` if it is still there; PostgreSQL ≥ 14), so its
//! transaction is settled for good, then counts the batch's rows: all there → `Ok` (nothing is
//! written twice); none → the batch is sent again. Only if
//! no attempt can reach the server to check does the batch fail with an error that says
//! "outcome unknown"; it is then counted as dropped although it may be in the table. Such
//! batches are remembered (up to [`MAX_UNRESOLVED`]) and checked after the next successful
//! connection, and [`PostgresStats`] reports how many of their rows turned out to be
//! committed, so `rows in the table == written + unknown_committed_rows` holds exactly once
//! they are resolved.

use crate::config::{ConfigError, PostgresConfig};
use crate::conn::{Conn, ConnError, CopyError};
use crate::copy::{with_row, CopyWriter, Scratch};
use crate::schema;
use ringtrace::{Batch, PostgresSpec, Sink, SinkContext, SinkError};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most batches with an unknown outcome remembered for checking after a reconnect.
pub const MAX_UNRESOLVED: usize = 64;

/// Counters shared between the sink (on the drain thread) and whoever holds a
/// [`PostgresStats`]. Relaxed: independent counters, read for reports.
#[derive(Debug, Default)]
struct Counters {
    batches_written: AtomicU64,
    rows_written: AtomicU64,
    batches_failed: AtomicU64,
    rows_failed: AtomicU64,
    fast_failed_batches: AtomicU64,
    retries: AtomicU64,
    connects: AtomicU64,
    connect_failures: AtomicU64,
    unknown_batches: AtomicU64,
    unknown_rows: AtomicU64,
    unknown_committed_rows: AtomicU64,
    unknown_absent_rows: AtomicU64,
    unknown_verified_ok: AtomicU64,
}

/// A handle on the sink's counters; clone it before handing the sink to the runtime.
#[derive(Debug, Clone)]
pub struct PostgresStats(Arc<Counters>);

/// The sink's counters at one moment (see [`PostgresStats::snapshot`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Batches committed (`write_batch` returned `Ok`).
    pub batches_written: u64,
    /// Rows committed.
    pub rows_written: u64,
    /// Batches that failed (`write_batch` returned `Err`; the runtime counts their events as
    /// dropped for this sink).
    pub batches_failed: u64,
    /// Rows of the failed batches.
    pub rows_failed: u64,
    /// Failed batches that were not even tried because the server was known to be down.
    pub fast_failed_batches: u64,
    /// Attempts after the first, over all batches.
    pub retries: u64,
    /// Connections established (the first one included).
    pub connects: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Failed batches whose outcome was unknown when they failed (included in
    /// `batches_failed`).
    pub unknown_batches: u64,
    /// Rows of those batches.
    pub unknown_rows: u64,
    /// Rows of unknown-outcome failed batches later found committed (in the table although
    /// counted as dropped).
    pub unknown_committed_rows: u64,
    /// Rows of unknown-outcome failed batches later found not committed.
    pub unknown_absent_rows: u64,
    /// Batches whose outcome was unknown after an attempt and that a later attempt found
    /// committed (so they were reported as written, not sent twice).
    pub unknown_verified_ok: u64,
}

impl PostgresStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let c = &*self.0;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            batches_written: g(&c.batches_written),
            rows_written: g(&c.rows_written),
            batches_failed: g(&c.batches_failed),
            rows_failed: g(&c.rows_failed),
            fast_failed_batches: g(&c.fast_failed_batches),
            retries: g(&c.retries),
            connects: g(&c.connects),
            connect_failures: g(&c.connect_failures),
            unknown_batches: g(&c.unknown_batches),
            unknown_rows: g(&c.unknown_rows),
            unknown_committed_rows: g(&c.unknown_committed_rows),
            unknown_absent_rows: g(&c.unknown_absent_rows),
            unknown_verified_ok: g(&c.unknown_verified_ok),
        }
    }
}

fn bump(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

/// Why connecting (and preparing the table) failed.
#[derive(Debug)]
enum SetupError {
    Conn(ConnError),
    TableMissing { table: String, ddl: String },
    Mismatch { table: String, problems: String, ddl: String },
}

impl SetupError {
    /// Whether retrying soon may help (the server is restarting or unreachable), as opposed to
    /// a configuration problem (credentials, database, table) that needs a person.
    fn transient(&self) -> bool {
        match self {
            SetupError::Conn(ConnError::Io { .. }) => true,
            SetupError::Conn(ConnError::Server(e)) => e.is_transient(),
            _ => false,
        }
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Conn(e) => e.fmt(f),
            SetupError::TableMissing { table, ddl } => write!(
                f,
                "table {table} does not exist and create_table is false; create it (e.g. in a migration) \
                 with:\n{ddl}"
            ),
            SetupError::Mismatch { table, problems, ddl } => write!(
                f,
                "table {table} does not have the columns the sink writes ({problems}); the expected \
                 definition is:\n{ddl}"
            ),
        }
    }
}

impl std::error::Error for SetupError {}

/// The server is known to be down: batches fail at once until `next_attempt`.
#[derive(Debug)]
struct Down {
    next_attempt: Instant,
    interval: Duration,
    last_error: String,
}

/// A batch with an unknown outcome, to check after the next connection.
#[derive(Debug, Clone)]
struct Unresolved {
    batch_id: i64,
    rows: u64,
    ts_unix_us: (i64, i64),
    session: OldSession,
}

/// The server session that ran a `COPY` whose outcome is unknown: its process id and start
/// time. Until that process has exited its transaction may still commit.
#[derive(Debug, Clone)]
struct OldSession {
    pid: i32,
    start: Option<String>,
}

/// Why a batch failed.
struct Failure {
    message: String,
    /// The server is unreachable: open (or keep open) the circuit.
    down: bool,
    /// The rows may be committed by this session.
    unknown: Option<OldSession>,
}

/// A [`Sink`] that copies every drain batch into a PostgreSQL table. See the crate doc for the
/// table and the behaviour when the server goes away, and the module doc of this file for the
/// accounting.
///
/// ```no_run
/// use ringtrace_postgres::{PostgresConfig, PostgresSink};
/// let config = PostgresConfig::from_conninfo("host=/run/postgresql user=app dbname=app")?
///     .create_table(false);
/// let sink = PostgresSink::new(config)?;
/// let guard = ringtrace::Builder::new().sink(sink).install()?;
/// ringtrace::info!(order = 7u64, "filled");
/// let report = guard.shutdown(std::time::Duration::from_secs(5));
/// println!("{}", report.summary_line());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PostgresSink {
    config: PostgresConfig,
    copy_sql: String,
    conn: Option<Conn>,
    /// `create_table`'s DDL ran on some connection of this sink.
    created: bool,
    writer: CopyWriter,
    scratch: Scratch,
    /// High half of every batch id: random per sink.
    session: i64,
    seq: u32,
    down: Option<Down>,
    unresolved: Vec<Unresolved>,
    stats: Arc<Counters>,
}

impl fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSink")
            .field("config", &self.config)
            .field("connected", &self.conn.is_some())
            .field("down", &self.down)
            .finish_non_exhaustive()
    }
}

impl PostgresSink {
    /// A sink with this configuration (validated here; nothing connects until
    /// [`Sink::start`]).
    pub fn new(config: PostgresConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let copy_sql = schema::copy_statement(config.schema.as_deref(), &config.table);
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
        let session = (h.finish() & 0x7fff_ffff) as i64;
        Ok(Self {
            writer: CopyWriter::new(config.copy_chunk_size),
            config,
            copy_sql,
            conn: None,
            created: false,
            scratch: Scratch::default(),
            session,
            seq: 0,
            down: None,
            unresolved: Vec::new(),
            stats: Arc::default(),
        })
    }

    /// The sink of a preset (its table and `create_table`, see [`ringtrace::Preset`]) with the
    /// connection settings of `connection` (whose own table and `create_table` are replaced).
    ///
    /// ```no_run
    /// use ringtrace::{Preset, SinkSpec};
    /// use ringtrace_postgres::{PostgresConfig, PostgresSink};
    /// let (mut builder, rest) =
    ///     ringtrace::Builder::new().preset(Preset::Production).preset_sinks(Preset::Production, "/var/log/app".as_ref())?;
    /// for spec in rest {
    ///     if let SinkSpec::Postgres(pg) = spec {
    ///         let conn = PostgresConfig::from_conninfo("host=db.internal user=app password=… dbname=telemetry")?;
    ///         builder = builder.sink(PostgresSink::from_spec(&pg, conn)?);
    ///     }
    /// }
    /// let guard = builder.install()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_spec(spec: &PostgresSpec, connection: PostgresConfig) -> Result<Self, ConfigError> {
        Self::new(connection.table(spec.table).create_table(spec.create_table))
    }

    /// The sink's configuration.
    pub fn config(&self) -> &PostgresConfig {
        &self.config
    }

    /// A handle on the sink's counters (keeps working after the sink moved into the runtime).
    pub fn stats(&self) -> PostgresStats {
        PostgresStats(self.stats.clone())
    }

    fn table_name(&self) -> String {
        self.config.qualified_table()
    }

    fn ddl(&self) -> String {
        schema::ddl(self.config.schema.as_deref(), &self.config.table).unwrap_or_default()
    }

    /// Connects, runs the DDL once per sink if `create_table`, and checks the table.
    fn connect_prepared(&mut self) -> Result<Conn, SetupError> {
        let result = self.try_connect_prepared();
        match &result {
            Ok(_) => bump(&self.stats.connects, 1),
            Err(_) => bump(&self.stats.connect_failures, 1),
        }
        result
    }

    fn try_connect_prepared(&mut self) -> Result<Conn, SetupError> {
        let mut conn = Conn::connect(&self.config).map_err(SetupError::Conn)?;
        if self.config.create_table && !self.created {
            conn.query(&self.ddl()).map_err(SetupError::Conn)?;
            self.created = true;
        }
        let cols = conn
            .query(&schema::columns_query(self.config.schema.as_deref(), &self.config.table))
            .map_err(SetupError::Conn)?;
        if cols.is_empty() {
            return Err(SetupError::TableMissing { table: self.table_name(), ddl: self.ddl() });
        }
        let found: Vec<(String, String)> = cols
            .into_iter()
            .map(|mut r| {
                let t = r.pop().flatten().unwrap_or_default();
                (r.pop().flatten().unwrap_or_default(), t)
            })
            .collect();
        if let Some(problems) = schema::check_columns(&found) {
            return Err(SetupError::Mismatch { table: self.table_name(), problems, ddl: self.ddl() });
        }
        let start = conn
            .query("SELECT backend_start FROM pg_catalog.pg_stat_activity WHERE pid = pg_backend_pid()")
            .map_err(SetupError::Conn)?;
        conn.backend_start = start.into_iter().next().and_then(|r| r.into_iter().next()).flatten();
        self.resolve_unknown(&mut conn);
        Ok(conn)
    }

    /// Makes sure the session that ran an unknown-outcome `COPY` has ended, so its transaction
    /// is committed or rolled back for good: terminates it if it is still there (e.g. the
    /// network failed but the server still holds the connection), waiting up to `io_timeout`.
    /// Needs PostgreSQL ≥ 14 (`pg_terminate_backend` with a timeout) and the right to signal
    /// the session (it runs as the same role).
    fn settle(&self, conn: &mut Conn, old: &OldSession) -> Result<(), ConnError> {
        let which = match &old.start {
            // Server-provided timestamp text; quotes doubled anyway.
            Some(t) => format!("backend_start = '{}'::timestamptz", t.replace('\'', "''")),
            None => "usename = current_user".to_string(),
        };
        let ms = self.config.io_timeout.as_millis().clamp(1, 60_000);
        let rows = conn.query(&format!(
            "SELECT pg_terminate_backend(pid, {ms}) FROM pg_catalog.pg_stat_activity WHERE pid = {} AND {which}",
            old.pid
        ))?;
        match rows.first().and_then(|r| r.first()).and_then(|v| v.as_deref()) {
            None | Some("t") => Ok(()),
            Some(_) => Err(ConnError::Protocol(format!(
                "the session that ran the COPY (server pid {}) is still running and could not be terminated",
                old.pid
            ))),
        }
    }

    /// Rows of batch `id` in the table, once the session `old` that sent it has ended.
    fn count_batch(&self, conn: &mut Conn, old: &OldSession, id: i64, (lo, hi): (i64, i64)) -> Result<u64, ConnError> {
        self.settle(conn, old)?;
        let sql = schema::batch_count_query(self.config.schema.as_deref(), &self.config.table, id, lo, hi);
        let rows = conn.query(&sql)?;
        rows.first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_deref())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ConnError::Protocol("unexpected result counting a batch's rows".into()))
    }

    /// Checks the failed batches whose outcome was unknown (best effort: unchecked ones stay).
    fn resolve_unknown(&mut self, conn: &mut Conn) {
        let pending = std::mem::take(&mut self.unresolved);
        for u in pending {
            match self.count_batch(conn, &u.session, u.batch_id, u.ts_unix_us) {
                Ok(0) => bump(&self.stats.unknown_absent_rows, u.rows),
                Ok(n) => bump(&self.stats.unknown_committed_rows, n),
                Err(_) => self.unresolved.push(u),
            }
        }
    }

    fn next_batch_id(&mut self) -> i64 {
        self.seq = self.seq.wrapping_add(1);
        (self.session << 32) | self.seq as i64
    }

    /// Sends the encoded batch: up to `max_attempts` attempts within `max_retry_time` (one
    /// when probing a server known to be down).
    fn deliver(&mut self, batch_id: i64, rows: u64) -> Result<(), Failure> {
        let retry = self.config.retry.clone();
        let probing = self.down.is_some();
        let attempts = if probing { 1 } else { retry.max_attempts };
        let start = Instant::now();
        let mut backoff = retry.initial_backoff;
        let mut unknown: Option<OldSession> = None;
        let mut last = String::from("no attempt was made");
        let range = self.writer.ts_range_unix_us().unwrap_or((0, 0));
        for attempt in 1..=attempts {
            if attempt > 1 {
                if start.elapsed() + backoff > retry.max_retry_time {
                    break;
                }
                std::thread::sleep(backoff);
                backoff = backoff.saturating_mul(2);
                bump(&self.stats.retries, 1);
            }
            let mut conn = match self.conn.take() {
                Some(c) => c,
                None => match self.connect_prepared() {
                    Ok(c) => c,
                    Err(e) => {
                        last = format!("cannot connect to {}: {e}", self.config.endpoint.describe(self.config.port));
                        if e.transient() {
                            continue;
                        }
                        break;
                    }
                },
            };
            if let Some(old) = &unknown {
                match self.count_batch(&mut conn, old, batch_id, range) {
                    Ok(n) if n == rows => {
                        self.conn = Some(conn);
                        bump(&self.stats.unknown_verified_ok, 1);
                        return Ok(());
                    }
                    Ok(0) => unknown = None,
                    Ok(n) => {
                        self.conn = Some(conn);
                        return Err(Failure {
                            message: format!("batch {batch_id}: found {n} of its {rows} rows after a lost connection"),
                            down: false,
                            unknown: None,
                        });
                    }
                    Err(e) => {
                        last = format!("checking whether batch {batch_id} was committed: {e}");
                        continue;
                    }
                }
            }
            match conn.copy_in(&self.copy_sql, self.writer.bytes_ready()) {
                Ok(_) => {
                    // The server may report fewer rows than sent (a trigger can skip rows); the
                    // transaction committed, so the batch counts as written.
                    self.conn = Some(conn);
                    return Ok(());
                }
                Err(CopyError::NotWritten { error, usable }) => {
                    let permanent = usable;
                    last = format!("COPY into {} failed: {error}", self.table_name());
                    if usable {
                        self.conn = Some(conn);
                    }
                    if permanent {
                        return Err(Failure { message: last, down: false, unknown: None });
                    }
                }
                Err(CopyError::Unknown(error)) => {
                    unknown = Some(OldSession { pid: conn.backend_pid, start: conn.backend_start.clone() });
                    last = format!("connection lost after the COPY into {} was sent: {error}", self.table_name());
                }
            }
        }
        Err(Failure { message: last, down: true, unknown })
    }
}

impl Sink for PostgresSink {
    fn name(&self) -> &str {
        &self.config.sink_name
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("postgres", env!("CARGO_PKG_VERSION"))
    }

    /// Connects and creates (`create_table = true`) or checks the table, unless
    /// `connect_at_start` is `false`. Fails with the DDL in the message when the table is
    /// missing and `create_table` is `false`.
    fn start(&mut self, _ctx: &SinkContext<'_>) -> Result<(), SinkError> {
        if !self.config.connect_at_start {
            return Ok(());
        }
        match self.connect_prepared() {
            Ok(c) => {
                self.conn = Some(c);
                Ok(())
            }
            Err(e) => Err(SinkError::new(format!(
                "PostgreSQL at {} (database {:?}, user {:?}): {e}",
                self.config.endpoint.describe(self.config.port),
                self.config.effective_dbname(),
                self.config.user
            ))),
        }
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let batch_id = self.next_batch_id();
        {
            let (writer, scratch) = (&mut self.writer, &mut self.scratch);
            writer.begin();
            for ev in batch.iter() {
                with_row(&ev, batch_id, scratch, |r| writer.row(r));
            }
            writer.finish();
        }
        let rows = self.writer.rows();
        if let Some(down) = &self.down {
            let now = Instant::now();
            if now < down.next_attempt {
                bump(&self.stats.fast_failed_batches, 1);
                bump(&self.stats.batches_failed, 1);
                bump(&self.stats.rows_failed, rows);
                return Err(SinkError::new(format!(
                    "PostgreSQL unavailable, batch of {rows} events not written (next reconnect attempt in \
                     {:?}; last error: {})",
                    down.next_attempt - now,
                    down.last_error
                )));
            }
        }
        match self.deliver(batch_id, rows) {
            Ok(()) => {
                self.down = None;
                bump(&self.stats.batches_written, 1);
                bump(&self.stats.rows_written, rows);
                Ok(())
            }
            Err(f) => {
                bump(&self.stats.batches_failed, 1);
                bump(&self.stats.rows_failed, rows);
                if !f.down {
                    // The server answered (it refused this batch): it is not down.
                    self.down = None;
                } else {
                    let retry = &self.config.retry;
                    let interval = match &self.down {
                        Some(d) => d.interval.saturating_mul(2).min(retry.max_reconnect_interval),
                        None => retry.reconnect_interval,
                    };
                    self.down =
                        Some(Down { next_attempt: Instant::now() + interval, interval, last_error: f.message.clone() });
                }
                if let Some(session) = f.unknown {
                    bump(&self.stats.unknown_batches, 1);
                    bump(&self.stats.unknown_rows, rows);
                    if self.unresolved.len() < MAX_UNRESOLVED {
                        let ts_unix_us = self.writer.ts_range_unix_us().unwrap_or((0, 0));
                        self.unresolved.push(Unresolved { batch_id, rows, ts_unix_us, session });
                    }
                    return Err(SinkError::new(format!(
                        "batch {batch_id} of {rows} events: outcome unknown (the connection was lost after the \
                         COPY was sent and the server could not be reached to check); counted as dropped but it \
                         may be in the table: {}",
                        f.message
                    )));
                }
                Err(SinkError::new(format!("batch of {rows} events not written: {}", f.message)))
            }
        }
    }

    fn stop(&mut self) -> Result<(), SinkError> {
        if let Some(c) = self.conn.take() {
            c.terminate();
        }
        Ok(())
    }
}
