//! The table: its columns, the DDL that creates it, the `COPY` statement that fills it, and the
//! start-up check that an existing table has what the `COPY` needs.
//!
//! One list, [`COLUMNS`], drives all four, so they cannot disagree. Schema and table names
//! are validated identifiers (see [`validate_identifier`]) and are double-quoted everywhere
//! they appear.

use crate::config::{validate_identifier, ConfigError};

/// One column of the events table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: &'static str,
    /// Its type as PostgreSQL's `format_type` prints it.
    pub sql_type: &'static str,
    /// Whether it is `NOT NULL`.
    pub not_null: bool,
    /// What it holds.
    pub doc: &'static str,
}

const fn col(name: &'static str, sql_type: &'static str, not_null: bool, doc: &'static str) -> Column {
    Column { name, sql_type, not_null, doc }
}

/// The columns, in `COPY` order.
pub const COLUMNS: &[Column] = &[
    col("ts", "timestamp with time zone", true, "event time, UTC, microsecond precision (indexed)"),
    col("ts_unix_ns", "bigint", true, "event time exactly: nanoseconds since the Unix epoch"),
    col("kind", "text", true, "'event', 'span_begin', 'span_end', 'loss' or 'raw'"),
    col("level", "text", false, "'ERROR', 'WARN', 'INFO', 'DEBUG', 'TRACE' (NULL for loss and raw records)"),
    col("target", "text", false, "the callsite's target (NULL for loss and raw records)"),
    col("thread_id", "bigint", true, "the runtime's number for the recording thread"),
    col("thread_name", "text", true, "the thread's name"),
    col("os_tid", "bigint", true, "the OS thread id"),
    col("message", "text", true, "the formatted message (span edges: the span's name; loss: a summary)"),
    col("fields", "jsonb", false, "the key-value fields with typed values (NULL when there are none)"),
    col("context", "jsonb", false, "the bound context (NULL when there is none)"),
    col("file", "text", false, "callsite source file (NULL when unknown)"),
    col("line", "integer", false, "callsite source line (NULL when unknown)"),
    col("truncated", "boolean", true, "an argument was cut short (best-effort serialization)"),
    col("event_id", "integer", false, "raw records: the caller's event id"),
    col("payload", "bytea", false, "raw records: the opaque payload"),
    col("lost_events", "bigint", false, "loss records: events dropped in the gap"),
    col("lost_bytes", "bigint", false, "loss records: bytes of those events"),
    col("lost_first_ts", "timestamp with time zone", false, "loss records: when the gap opened (the first drop)"),
    col("lost_last_ts", "timestamp with time zone", false, "loss records: when the gap closed (the record after it)"),
    col("batch_id", "bigint", true, "the drain batch (one COPY, one transaction) the row came in"),
];

/// The SQL type to write in DDL (`format_type`'s long names are valid SQL too; these are the
/// short spellings).
fn ddl_type(sql_type: &str) -> &str {
    match sql_type {
        "timestamp with time zone" => "timestamptz",
        t => t,
    }
}

/// `"schema"."table"` or `"table"`.
fn qualified(schema: Option<&str>, table: &str) -> String {
    match schema {
        Some(s) => format!("\"{s}\".\"{table}\""),
        None => format!("\"{table}\""),
    }
}

/// The index on `ts`: `<table>_ts_idx`, the table part shortened so the name fits in 63 bytes
/// (identifiers are ASCII, so any cut is on a character boundary).
fn index_name(table: &str) -> String {
    const SUFFIX: &str = "_ts_idx";
    let keep = table.len().min(crate::config::MAX_IDENTIFIER_LEN - SUFFIX.len());
    format!("{}{SUFFIX}", &table[..keep])
}

/// The statements that create the events table and its index on `ts`, as `create_table =
/// true` runs them at start-up and as a migration should run them when it is `false`.
///
/// ```
/// let sql = ringtrace_postgres::ddl(Some("obs"), "ringtrace_events").unwrap();
/// assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS \"obs\".\"ringtrace_events\" ("));
/// assert!(sql.contains("CREATE INDEX IF NOT EXISTS \"ringtrace_events_ts_idx\" ON \"obs\".\"ringtrace_events\" (ts);"));
/// assert!(ringtrace_postgres::ddl(None, "bad name").is_err());
/// ```
pub fn ddl(schema: Option<&str>, table: &str) -> Result<String, ConfigError> {
    validate_identifier("table", table)?;
    if let Some(s) = schema {
        validate_identifier("schema", s)?;
    }
    let q = qualified(schema, table);
    let width = COLUMNS.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut sql = format!("CREATE TABLE IF NOT EXISTS {q} (\n");
    for (i, c) in COLUMNS.iter().enumerate() {
        let ty = ddl_type(c.sql_type);
        let null = if c.not_null { " NOT NULL" } else { "" };
        let comma = if i + 1 < COLUMNS.len() { "," } else { "" };
        let decl = format!("{:width$} {ty}{null}{comma}", c.name);
        sql.push_str(&format!("    {:<w2$} -- {}\n", decl, c.doc, w2 = width + 24));
    }
    sql.push_str(");\n");
    sql.push_str(&format!("CREATE INDEX IF NOT EXISTS \"{}\" ON {q} (ts);\n", index_name(table)));
    Ok(sql)
}

/// `COPY <table> (<columns>) FROM STDIN (FORMAT binary)`.
pub(crate) fn copy_statement(schema: Option<&str>, table: &str) -> String {
    let cols: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    format!("COPY {} ({}) FROM STDIN (FORMAT binary)", qualified(schema, table), cols.join(", "))
}

/// Lists the table's columns and their types (no rows when the table does not exist). The
/// name goes into a string literal; validated identifiers contain no quote of either kind.
pub(crate) fn columns_query(schema: Option<&str>, table: &str) -> String {
    format!(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a \
         WHERE a.attrelid = to_regclass('{}') AND a.attnum > 0 AND NOT a.attisdropped",
        qualified(schema, table)
    )
}

/// Compares an existing table's columns (name, type) with [`COLUMNS`]: `None` when every
/// column is there with its type, else what is wrong. Extra columns are fine (the `COPY` names
/// its columns; extra ones get their defaults).
pub(crate) fn check_columns(found: &[(String, String)]) -> Option<String> {
    let mut problems = Vec::new();
    for c in COLUMNS {
        match found.iter().find(|(n, _)| n == c.name) {
            None => problems.push(format!("column {} ({}) is missing", c.name, ddl_type(c.sql_type))),
            Some((_, t)) if t != c.sql_type => {
                problems.push(format!("column {} has type {t}, expected {}", c.name, ddl_type(c.sql_type)))
            }
            Some(_) => {}
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// `SELECT count(*)` of one batch's rows, narrowed to the batch's time range so the `ts`
/// index is used. `lo_us`/`hi_us` are microseconds since the Unix epoch.
pub(crate) fn batch_count_query(schema: Option<&str>, table: &str, batch_id: i64, lo_us: i64, hi_us: i64) -> String {
    format!(
        "SELECT count(*) FROM {} WHERE ts BETWEEN timestamptz 'epoch' + {lo_us} * interval '1 microsecond' \
         AND timestamptz 'epoch' + {hi_us} * interval '1 microsecond' AND batch_id = {batch_id}",
        qualified(schema, table)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_index_names_fit() {
        assert_eq!(
            copy_statement(None, "t"),
            format!(
                "COPY \"t\" ({}) FROM STDIN (FORMAT binary)",
                COLUMNS.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
            )
        );
        assert!(columns_query(Some("s"), "t").contains("to_regclass('\"s\".\"t\"')"));
        let long = "a".repeat(63);
        assert_eq!(index_name(&long).len(), 63);
        assert!(ddl(Some("s"), &long).unwrap().contains(&format!("\"{}_ts_idx\"", "a".repeat(56))));
        assert_eq!(ddl(Some("x\"y"), "t").unwrap_err().field, "schema");
    }

    #[test]
    fn column_check_reports_missing_and_mistyped() {
        let all: Vec<(String, String)> = COLUMNS.iter().map(|c| (c.name.to_string(), c.sql_type.to_string())).collect();
        assert_eq!(check_columns(&all), None);
        let mut extra = all.clone();
        extra.push(("id".into(), "bigint".into()));
        assert_eq!(check_columns(&extra), None);
        let mut bad = all[1..].to_vec();
        bad[0].1 = "integer".into();
        let msg = check_columns(&bad).unwrap();
        assert!(msg.contains("column ts (timestamptz) is missing"), "{msg}");
        assert!(msg.contains("column ts_unix_ns has type integer, expected bigint"), "{msg}");
    }
}
