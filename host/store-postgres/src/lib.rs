//! The PostgreSQL store: one governance record that several `gatehouse
//! serve` processes share, active-active (issue #17, in progress).
//!
//! What is here: the connection pool, the schema and its migrations (applied
//! at open under an advisory lock, so sidecars starting together on an
//! empty database migrate once), and the activity log that every sidecar
//! appends to — one chain, never forked, because an appender holds the row
//! lock of `log_head` until its transaction commits. What is not here yet:
//! the rest of the [`gatehouse_store::Store`] trait; the service still opens
//! the SQLite store only.
//!
//! Driver: the synchronous `postgres` client (tokio-postgres underneath)
//! with an r2d2 pool. The store trait is synchronous and runs on blocking
//! threads (the service's `spawn_blocking`, the CLI), as the SQLite store
//! does; an async driver would need a runtime of its own inside every call.

use std::time::Duration;

use gatehouse_core::audit::{Event, EventResult, LogFormat, NewEvent};
use gatehouse_core::error::{Error, Result};
use gatehouse_core::release::LogHead;
use gatehouse_store::EventFilter;
use postgres::{NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;

/// The schema, one migration per file, applied in order; `schema_migrations`
/// records each. A released migration is never edited: a change is a new file.
const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("migrations/0001_schema.sql"))];

/// The advisory lock migrations run under ("gatehouse" in ASCII, folded to 64 bits).
const MIGRATION_LOCK: i64 = 0x6761_7465_686f_7573;

/// How the pool is sized and how long a caller waits for a connection.
#[derive(Debug, Clone)]
pub struct Options {
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

pub struct PgStore {
    pool: Pool,
    log_format: LogFormat,
}

/// A failed statement: an internal error (nothing was decided) that keeps
/// the driver's error as its source.
fn pg(e: postgres::Error) -> Error {
    Error::internal("database error", e)
}

fn pool_error(e: r2d2::Error) -> Error {
    Error::internal("no database connection", e)
}

impl PgStore {
    /// Connect to `url` (`postgres://user@host:port/db`) and bring the schema
    /// up to date.
    pub fn open(url: &str, options: &Options) -> Result<PgStore> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| Error::invalid("database_url", redact(url), format!("a postgres:// URL ({e})")))?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections)
            .connection_timeout(options.connect_timeout)
            .build(manager)
            .map_err(pool_error)?;
        let mut conn = pool.get().map_err(pool_error)?;
        migrate(&mut conn)?;
        let from_seq: i64 = conn
            .query_one("SELECT from_seq FROM log_format WHERE id = 1", &[])
            .map_err(pg)?
            .get(0);
        Ok(PgStore {
            pool,
            log_format: LogFormat { jcs_from_seq: from_seq },
        })
    }

    /// The schema version: the newest migration applied.
    pub fn schema_version(&self) -> Result<i32> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        let row = conn
            .query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])
            .map_err(pg)?;
        Ok(row.get(0))
    }

    /// Record an event that changes no other state.
    pub fn append_event(&self, event: NewEvent) -> Result<Event> {
        let mut sealed = self.write_many(vec![event], |_| Ok(()))?;
        sealed.pop().ok_or_else(|| Error::internal_msg("no event sealed"))
    }

    /// Run `change` and append every event after the current head, in one
    /// transaction: both commit or neither does.
    pub fn write_many(
        &self,
        events: Vec<NewEvent>,
        change: impl FnOnce(&mut Transaction<'_>) -> Result<()>,
    ) -> Result<Vec<Event>> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        // A request past its time limit commits nothing (its client is told so).
        gatehouse_store::deadline::check().map_err(|after| Error::Timeout { after })?;
        let mut tx = conn.transaction().map_err(pg)?;
        change(&mut tx)?;
        let sealed = append_all(&mut tx, events, self.log_format)?;
        tx.commit().map_err(pg)?;
        Ok(sealed)
    }

    pub fn log_head(&self) -> Result<LogHead> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        let row = conn
            .query_one("SELECT seq, hash FROM log_head WHERE id = 1", &[])
            .map_err(pg)?;
        Ok(LogHead {
            seq: row.get(0),
            hash: row.get(1),
        })
    }

    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }

    /// Events in sequence order, filtered as the SQLite store filters them.
    pub fn events(&self, f: &EventFilter) -> Result<Vec<Event>> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        let limit = i64::try_from(f.limit).unwrap_or(i64::MAX);
        let rows = conn
            .query(
                "SELECT seq, time, actor, action, subject, application, version, result, details, prev_hash, hash
                 FROM activity
                 WHERE ($1::text IS NULL OR application = $1)
                   AND ($2::text IS NULL OR version = $2)
                   AND ($3::text IS NULL OR action = $3)
                   AND ($4::text IS NULL OR actor = $4)
                   AND ($5::text IS NULL OR result = $5)
                   AND ($6::text IS NULL OR time >= $6)
                   AND ($7::text IS NULL OR time < $7)
                   AND seq > $8
                 ORDER BY seq LIMIT $9",
                &[
                    &f.application,
                    &f.version,
                    &f.action,
                    &f.actor,
                    &f.result.map(EventResult::as_str),
                    &f.since,
                    &f.until,
                    &f.after_seq.unwrap_or(0),
                    &limit,
                ],
            )
            .map_err(pg)?;
        rows.iter().map(read_event).collect()
    }

    /// Every event, oldest first (the chain verifier walks them).
    pub fn all_events(&self) -> Result<Vec<Event>> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        let rows = conn
            .query(
                "SELECT seq, time, actor, action, subject, application, version, result, details, prev_hash, hash
                 FROM activity ORDER BY seq",
                &[],
            )
            .map_err(pg)?;
        rows.iter().map(read_event).collect()
    }
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Apply the pending migrations under the advisory lock: of sidecars that
/// start together on an empty database one migrates, the others wait and
/// find nothing left to do.
fn migrate(conn: &mut postgres::Client) -> Result<()> {
    conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg)?;
    let result = migrate_locked(conn);
    let unlocked = conn
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .map_err(pg);
    result.and(unlocked.map(|_| ()))
}

fn migrate_locked(conn: &mut postgres::Client) -> Result<()> {
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .map_err(pg)?;
    let current: i32 = conn
        .query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])
        .map_err(pg)?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current > known {
        return Err(Error::internal_msg(format!(
            "the database schema is version {current} but this gatehouse knows only up to {known}; use a newer gatehouse"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let mut tx = conn.transaction().map_err(pg)?;
        tx.batch_execute(sql).map_err(pg)?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version])
            .map_err(pg)?;
        tx.commit().map_err(pg)?;
    }
    Ok(())
}

/// Chain and insert events after the head, holding the head's row lock
/// until the transaction ends.
fn append_all(tx: &mut Transaction<'_>, events: Vec<NewEvent>, format: LogFormat) -> Result<Vec<Event>> {
    let head = tx
        .query_one("SELECT seq, hash FROM log_head WHERE id = 1 FOR UPDATE", &[])
        .map_err(pg)?;
    let (mut seq, mut hash): (i64, String) = (head.get(0), head.get(1));
    let insert = tx
        .prepare(
            "INSERT INTO activity (seq, time, actor, action, subject, application, version, result, details, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .map_err(pg)?;
    let mut sealed = Vec::with_capacity(events.len());
    for event in events {
        let e = event.seal(seq, &hash, gatehouse_core::time::now(), format);
        tx.execute(
            &insert,
            &[
                &e.seq,
                &e.time,
                &e.actor,
                &e.action,
                &e.subject,
                &e.application,
                &e.version,
                &e.result.as_str(),
                &e.details.to_string(),
                &e.prev_hash,
                &e.hash,
            ],
        )
        .map_err(pg)?;
        seq = e.seq;
        hash.clone_from(&e.hash);
        sealed.push(e);
    }
    tx.execute("UPDATE log_head SET seq = $1, hash = $2 WHERE id = 1", &[&seq, &hash])
        .map_err(pg)?;
    Ok(sealed)
}

fn read_event(row: &postgres::Row) -> Result<Event> {
    let seq: i64 = row.get(0);
    let result: String = row.get(7);
    let details: String = row.get(8);
    let corrupt = |reason: String| Error::CorruptEvent { seq, reason };
    Ok(Event {
        seq,
        time: row.get(1),
        actor: row.get(2),
        action: row.get(3),
        subject: row.get(4),
        application: row.get(5),
        version: row.get(6),
        result: EventResult::parse(&result).ok_or_else(|| corrupt(format!("unknown result {result:?}")))?,
        details: serde_json::from_str(&details).map_err(|e| corrupt(format!("details are not JSON: {e}")))?,
        prev_hash: row.get(9),
        hash: row.get(10),
    })
}
