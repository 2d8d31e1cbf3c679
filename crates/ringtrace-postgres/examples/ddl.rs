//! Prints the DDL for the events table, for a migration (when `create_table = false`).
//!
//! ```text
//! cargo run -p ringtrace-postgres --example ddl -- [SCHEMA.]TABLE
//! ```
//!
//! Without an argument: the production preset's table, `ringtrace_events`, unqualified.

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| ringtrace_postgres::DEFAULT_TABLE.to_string());
    let (schema, table) = match arg.split_once('.') {
        Some((s, t)) => (Some(s), t),
        None => (None, arg.as_str()),
    };
    match ringtrace_postgres::ddl(schema, table) {
        Ok(sql) => print!("{sql}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
