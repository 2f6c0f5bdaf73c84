//! Moving an embedded store into PostgreSQL (`gatehouse migrate`): every
//! row of every table, in one transaction, into a database that holds no
//! record yet. The chain, its signed heads, evidence, records, checkpoints
//! and the key history arrive as they were; the log's format position too.

use std::collections::BTreeMap;

use postgres::types::ToSql;

use crate::writer::Tx;
use crate::{PgStore, lock_head, pg};
use gatehouse_core::error::{Error, Result};
use gatehouse_store::SqliteStore;
use gatehouse_store::export::Cell;

/// How many rows each table received.
pub type Copied = Vec<(String, u64)>;

impl PgStore {
    /// Copy `source` here. Refused (nothing written) when this database
    /// holds any event already: a migration never merges two records.
    pub fn import(&self, source: &SqliteStore) -> Result<Copied> {
        self.writer()?
            .run(|w, joining| w.tx()?.job(joining, |tx| copy(tx, source)))
    }
}

/// The import's transaction: refused unless the log is empty.
fn copy(tx: &mut Tx<'_>, source: &SqliteStore) -> Result<Copied> {
    let head = lock_head(tx)?;
    if head.seq != 0 {
        return Err(Error::conflict(format!(
            "the destination database already holds a record ({} events); migrate only into a database no sidecar has written to",
            head.seq
        )));
    }
    let types = column_types(tx)?;
    // The format row a new database starts with gives way to the source's.
    tx.batch_execute("ALTER TABLE log_format DISABLE TRIGGER log_format_once; DELETE FROM log_format;")
        .map_err(pg)?;
    let mut copied: BTreeMap<String, u64> = BTreeMap::new();
    source.export(|(table, columns, rows)| {
        insert(tx, &types, table, columns, rows)?;
        *copied.entry(table.to_string()).or_default() += rows.len() as u64;
        Ok(())
    })?;
    tx.batch_execute(
            "ALTER TABLE log_format ENABLE TRIGGER log_format_once;
             UPDATE log_head SET (seq, hash) = (SELECT seq, hash FROM activity ORDER BY seq DESC LIMIT 1)
               WHERE EXISTS (SELECT 1 FROM activity);
             SELECT setval(pg_get_serial_sequence('versions', 'id'), coalesce(max(id), 0) + 1, false) FROM versions;
             SELECT setval(pg_get_serial_sequence('checkpoints', 'id'), coalesce(max(id), 0) + 1, false) FROM checkpoints;",
        )
        .map_err(pg)?;
    let format_rows = tx
        .query_one("SELECT count(*) FROM log_format", &[])
        .map_err(pg)?
        .get::<_, i64>(0);
    if format_rows != 1 {
        return Err(Error::internal_msg(
            "the source store has no log format record (table log_format): it was edited; nothing was copied",
        ));
    }
    Ok(gatehouse_store::export::TABLES
        .iter()
        .map(|t| (t.to_string(), copied.get(*t).copied().unwrap_or(0)))
        .collect())
}

/// The PostgreSQL type of every column: table → column → `data_type`.
fn column_types(tx: &mut Tx<'_>) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let rows = tx
        .query(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema()",
            &[],
        )
        .map_err(pg)?;
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for r in rows {
        out.entry(r.get(0)).or_default().insert(r.get(1), r.get(2));
    }
    Ok(out)
}

/// One value as the destination column takes it.
fn value(table: &str, column: &str, pg_type: &str, cell: &Cell) -> Result<Box<dyn ToSql + Sync>> {
    let wrong = || {
        Error::internal_msg(format!(
            "{table}.{column}: the source holds {cell:?}, which a {pg_type} column cannot take"
        ))
    };
    Ok(match (pg_type, cell) {
        ("text", Cell::Null) => Box::new(None::<String>),
        ("text", Cell::Text(t)) => Box::new(t.clone()),
        ("bigint", Cell::Null) => Box::new(None::<i64>),
        ("bigint", Cell::Int(n)) => Box::new(*n),
        ("integer", Cell::Int(n)) => Box::new(i32::try_from(*n).map_err(|_| wrong())?),
        ("boolean", Cell::Int(n)) => Box::new(*n != 0),
        _ => return Err(wrong()),
    })
}

fn insert(
    tx: &mut Tx<'_>,
    types: &BTreeMap<String, BTreeMap<String, String>>,
    table: &str,
    columns: &[String],
    rows: &[Vec<Cell>],
) -> Result<()> {
    let table_types = types
        .get(table)
        .ok_or_else(|| Error::internal_msg(format!("the destination has no table {table}")))?;
    let column_types: Vec<&str> = columns
        .iter()
        .map(|c| {
            table_types
                .get(c)
                .map(String::as_str)
                .ok_or_else(|| Error::internal_msg(format!("the destination's {table} has no column {c}")))
        })
        .collect::<Result<_>>()?;
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    // Identity columns (versions.id, checkpoints.id) keep the source's values: cursors stay valid.
    let sql = format!(
        "INSERT INTO {table} ({}) OVERRIDING SYSTEM VALUE VALUES ({})",
        columns.join(", "),
        placeholders.join(", ")
    );
    for row in rows {
        let values: Vec<Box<dyn ToSql + Sync>> = row
            .iter()
            .zip(columns.iter().zip(&column_types))
            .map(|(cell, (column, pg_type))| value(table, column, pg_type, cell))
            .collect::<Result<_>>()?;
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v).collect();
        tx.execute(&sql, &params).map_err(pg)?;
    }
    Ok(())
}
