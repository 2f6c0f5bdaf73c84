//! The PostgreSQL store: one governance record that several `gatehouse
//! serve` processes share, active-active (issue #17, in progress).
//!
//! The connection pool, the schema and its migrations (applied at open under
//! an advisory lock, so sidecars starting together on an empty database
//! migrate once), and the whole [`gatehouse_store::Store`] trait
//! (`store.rs`). Every write transaction first locks the one row of
//! `log_head` and holds it until it commits: writers queue as they do behind
//! SQLite's one writer, whichever sidecar they come from, so the activity log
//! stays one chain and every check made inside a write sees every earlier
//! commit. `database_url` (or `GATEHOUSE_DATABASE_URL`) selects it.
//!
//! Writes go through one connection per process (`writer.rs`), batched:
//! the writes that arrive while a commit is in flight commit together
//! (group commit, `gatehouse_store::group`). Reads use the pool.
//!
//! Driver: the synchronous `postgres` client (tokio-postgres underneath)
//! with an r2d2 pool. The store trait is synchronous and runs on blocking
//! threads (the service's `spawn_blocking`, the CLI), as the SQLite store
//! does; an async driver would need a runtime of its own inside every call.
//!
//! TLS: with `sslmode=require` in the URL (or a CA file), rustls with the
//! server's certificate and name always verified (`Connect`).

use std::path::PathBuf;
use std::time::Duration;

mod import;
mod session;
mod store;
mod writer;

pub use import::Copied;
pub use session::Session;
pub use writer::Tx;

use gatehouse_core::audit::{Event, EventResult, LogFormat, NewEvent};
use gatehouse_core::error::{Error, Result};
use gatehouse_core::release::LogHead;
use gatehouse_store::group::Group;
use gatehouse_store::rules::HeadKey;
use postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;
use writer::Writer;

/// The schema, one migration per file, applied in order; `schema_migrations`
/// records each. A released migration is never edited: a change is a new file.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/0001_schema.sql")),
    (2, include_str!("migrations/0002_package_versions.sql")),
    (3, include_str!("migrations/0003_package_findings.sql")),
    (4, include_str!("migrations/0004_trusted_roots.sql")),
];

/// The advisory lock migrations run under ("gatehouse" in ASCII, folded to 64 bits).
const MIGRATION_LOCK: i64 = 0x6761_7465_686f_7573;

/// How the pool is sized, how long a caller waits for a connection, and
/// whom the database's TLS certificate must come from.
#[derive(Debug, Clone)]
pub struct Options {
    /// Reading connections (the writer's is one more).
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// Trust only the CA certificates in this PEM file for the database's
    /// certificate (and speak TLS even when the URL does not ask for it).
    pub ca_file: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
            ca_file: None,
        }
    }
}

type Pool = r2d2::Pool<Manager>;

/// How to reach the database: the URL's settings and the TLS they call for.
#[derive(Clone)]
pub(crate) struct Connect {
    config: postgres::Config,
    tls: MakeRustlsConnect,
}

impl Connect {
    /// Read `url`. TLS is spoken when the URL says `sslmode=require` (or
    /// `verify-full`/`verify-ca`, libpq's names, taken as the same thing) or
    /// when a CA file is given; the server's certificate and host name are
    /// then always verified — against the system's roots, or only against
    /// the CA file. Gatehouse never offers TLS it does not verify, so
    /// `sslmode=prefer` (the default) means no TLS unless a CA file is set.
    fn new(url: &str, options: &Options) -> Result<Connect> {
        let mut config: postgres::Config = libpq_ssl_modes(url)
            .parse()
            .map_err(|e| Error::invalid("database_url", redact(url), format!("a postgres:// URL ({e})")))?;
        let tls_wanted = options.ca_file.is_some() || config.get_ssl_mode() == SslMode::Require;
        if tls_wanted && config.get_ssl_mode() == SslMode::Disable {
            return Err(Error::invalid(
                "database_url",
                redact(url),
                "no sslmode=disable with database_cacert (the CA file is there to verify the database's TLS certificate)",
            ));
        }
        config.ssl_mode(if tls_wanted { SslMode::Require } else { SslMode::Disable });
        config.connect_timeout(options.connect_timeout);
        // Without TLS the connector is never used: it trusts nothing, and a
        // machine without a CA store still connects.
        let tls = if tls_wanted {
            gatehouse_http::client_config(options.ca_file.as_deref()).map_err(|reason| {
                let (field, value) = match &options.ca_file {
                    Some(path) => ("database_cacert", path.display().to_string()),
                    None => ("database_url", redact(url)),
                };
                Error::invalid(
                    field,
                    value,
                    format!("CA certificates to verify the database's TLS certificate ({reason})"),
                )
            })?
        } else {
            gatehouse_http::trusting_nothing().map_err(|e| Error::internal_msg(format!("TLS configuration: {e}")))?
        };
        Ok(Connect {
            config,
            tls: MakeRustlsConnect::new(tls),
        })
    }

    /// A new connection; one that cannot be had is `unavailable` (retry).
    pub(crate) fn client(&self) -> Result<postgres::Client> {
        self.connect().map_err(|e| Error::Unavailable {
            reason: format!("cannot connect to the database ({e})"),
        })
    }

    fn connect(&self) -> std::result::Result<postgres::Client, Unreachable> {
        self.config
            .connect(self.tls.clone())
            .map_err(|e| Unreachable(causes(&e)))
    }
}

/// The pool's connections, made as the writer's are. (r2d2 keeps only the
/// text of a failed connection's error, and the driver's text leaves out
/// the cause — "error performing TLS handshake" without the certificate's
/// fault — so the cause goes into the text here.)
pub(crate) struct Manager(Connect);

impl r2d2::ManageConnection for Manager {
    type Connection = Session;
    type Error = Unreachable;

    fn connect(&self) -> std::result::Result<Session, Unreachable> {
        self.0.connect().map(Session::new)
    }

    /// Not called on check-out (see [`PgStore::read`]).
    fn is_valid(&self, conn: &mut Session) -> std::result::Result<(), Unreachable> {
        conn.client
            .simple_query("")
            .map(drop)
            .map_err(|e| Unreachable(causes(&e)))
    }

    fn has_broken(&self, conn: &mut Session) -> bool {
        conn.client.is_closed()
    }
}

/// Why a connection could not be made or used, with its causes.
#[derive(Debug)]
pub(crate) struct Unreachable(String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

/// An error's text followed by its causes' ("error performing TLS
/// handshake: invalid peer certificate: UnknownIssuer").
pub(crate) fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// libpq's `sslmode=verify-full` and `verify-ca` as the driver's `require`
/// (which Gatehouse always verifies in full).
fn libpq_ssl_modes(url: &str) -> String {
    url.replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require")
}

pub struct PgStore {
    /// Always `Some` but while dropping (see `Drop`).
    pool: Option<Pool>,
    /// This process's writes, batched (always `Some` but while dropping).
    writer: Option<Group<Writer>>,
    log_format: LogFormat,
    /// Signs the log head at the end of every write transaction (the release key).
    head_key: Option<HeadKey>,
    /// How many connections a read tries before it gives up (see [`PgStore::read`]).
    read_attempts: u32,
}

/// A failed statement. A connection that broke (the server went away, the
/// network failed) is `unavailable` (503, exit 3: retry); text PostgreSQL
/// cannot hold (NUL) is the caller's `invalid` input (400); anything else is
/// an internal error that keeps the driver's error as its source. Neither
/// decided anything: the transaction did not commit.
pub(crate) fn pg(e: postgres::Error) -> Error {
    let broken = e.is_closed()
        || (e.as_db_error().is_none() && std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()));
    let admin_shutdown = e.code().is_some_and(|c| {
        matches!(
            c,
            &postgres::error::SqlState::ADMIN_SHUTDOWN
                | &postgres::error::SqlState::CRASH_SHUTDOWN
                | &postgres::error::SqlState::CANNOT_CONNECT_NOW
        )
    });
    // PostgreSQL text holds no NUL (U+0000): a name or filter carrying one
    // cannot match anything stored, nor be stored. The caller's input.
    let nul = e.code().is_some_and(|c| {
        matches!(
            c,
            &postgres::error::SqlState::CHARACTER_NOT_IN_REPERTOIRE
                | &postgres::error::SqlState::UNTRANSLATABLE_CHARACTER
        )
    });
    if broken || admin_shutdown {
        Error::Unavailable {
            reason: format!("the database connection failed ({})", causes(&e)),
        }
    } else if nul {
        Error::invalid(
            "text",
            "a value containing U+0000",
            "text without NUL (U+0000) characters",
        )
    } else {
        Error::internal("database error", e)
    }
}

/// No connection could be had from the pool within `connect_timeout`.
pub(crate) fn pool_error(e: r2d2::Error) -> Error {
    Error::Unavailable {
        reason: format!("no database connection ({e})"),
    }
}

impl PgStore {
    /// Connect to `url` (`postgres://user@host:port/db`) and bring the schema
    /// up to date.
    pub fn open(url: &str, options: &Options) -> Result<PgStore> {
        let connect = Connect::new(url, options)?;
        let manager = Manager(connect.clone());
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections)
            .connection_timeout(options.connect_timeout)
            .test_on_check_out(false)
            .build(manager)
            .map_err(pool_error)?;
        let mut conn = pool.get().map_err(pool_error)?;
        migrate(&mut conn.client)?;
        let from_seq: i64 = conn
            .query_one("SELECT from_seq FROM log_format WHERE id = 1", &[])
            .map_err(pg)?
            .get(0);
        drop(conn);
        Ok(PgStore {
            pool: Some(pool),
            writer: Some(Group::new(Writer::new(connect))),
            log_format: LogFormat { jcs_from_seq: from_seq },
            head_key: None,
            read_attempts: options.max_connections.saturating_add(1),
        })
    }

    /// Sign the log head with `key` at the end of every write transaction
    /// from now on; the current head is signed now only when a key from the
    /// key files signed it already (never a head nobody vouched for: opening
    /// a database must not launder a log rewritten behind Gatehouse's back).
    pub fn sign_heads_with(
        &mut self,
        key: &ed25519_dalek::SigningKey,
        trusted: &[ed25519_dalek::VerifyingKey],
    ) -> Result<()> {
        let hk = HeadKey::new(key, trusted)?;
        self.writer()?.run(|w, joining| {
            w.tx()?.job(joining, |tx| {
                let head = lock_head(tx)?;
                if head.seq > 0 && store::newest_head_verifies(tx, &hk, &head)? {
                    store::sign_head(tx, &hk, &head)?;
                }
                Ok(())
            })
        })?;
        self.head_key = Some(hk);
        Ok(())
    }

    /// The writer connection's batches.
    pub(crate) fn writer(&self) -> Result<&Group<Writer>> {
        self.writer
            .as_ref()
            .ok_or_else(|| Error::internal_msg("the store is closing"))
    }

    /// Commits so far and the writes they held.
    pub fn commit_stats(&self) -> (u64, u64) {
        self.writer.as_ref().map_or((0, 0), Group::stats)
    }

    /// A pooled connection, not checked before use (see [`PgStore::read`]).
    pub(crate) fn conn(&self) -> Result<r2d2::PooledConnection<Manager>> {
        self.pool
            .as_ref()
            .ok_or_else(|| Error::internal_msg("the store is closing"))?
            .get()
            .map_err(pool_error)
    }

    /// Run a read on a pooled connection. Connections are not checked when
    /// they are taken from the pool (a round trip per read saved); one the
    /// database closed since its last use (a restart) fails at once, is
    /// dropped from the pool, and the read — which changed nothing — runs
    /// again on another, up to the pool's size and one more.
    pub(crate) fn read<T>(&self, f: impl Fn(&mut Session) -> std::result::Result<T, postgres::Error>) -> Result<T> {
        let mut attempts = self.read_attempts;
        loop {
            let mut conn = self.conn()?;
            let failed = match f(&mut conn) {
                Ok(answer) => return Ok(answer),
                Err(e) => pg(e),
            };
            attempts = attempts.saturating_sub(1);
            if attempts == 0 || !matches!(failed, Error::Unavailable { .. }) {
                return Err(failed);
            }
        }
    }

    /// The schema version: the newest migration applied.
    pub fn schema_version(&self) -> Result<i32> {
        let row = self.read(|s| s.query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[]))?;
        Ok(row.get(0))
    }

    /// Run `change` and append every event after the current head, both or
    /// neither: in the writer's batch (a savepoint of it when the batch was
    /// open already), answered once the batch commits. The head's row lock
    /// is taken first and held to the commit, so writes from every sidecar
    /// queue in one order.
    pub fn write_many(
        &self,
        events: Vec<NewEvent>,
        change: impl FnOnce(&mut Tx<'_>) -> Result<()>,
    ) -> Result<Vec<Event>> {
        self.writer()?.run(|w, joining| {
            // A request past its time limit commits nothing (its client is told so).
            gatehouse_store::deadline::check().map_err(|after| Error::Timeout { after })?;
            w.tx()?.job(joining, |tx| {
                let head = lock_head(tx)?;
                change(tx)?;
                // The head is signed only if the one before this write was: a
                // log changed behind Gatehouse's back stays unsigned, and so visible.
                let vouched = match &self.head_key {
                    Some(hk) => head.seq == 0 || store::head_signed_by_trusted(tx, hk, &head)?,
                    None => false,
                };
                let sealed = append_all(tx, head, events, self.log_format)?;
                if let (Some(hk), true, Some(last)) = (&self.head_key, vouched, sealed.last()) {
                    let new_head = LogHead {
                        seq: last.seq,
                        hash: last.hash.clone(),
                    };
                    store::sign_head(tx, hk, &new_head)?;
                }
                Ok(sealed)
            })
        })
    }

    /// Every event, oldest first (the chain verifier walks them).
    pub fn all_events(&self) -> Result<Vec<Event>> {
        let rows = self.read(|s| {
            s.query(
                "SELECT seq, time, actor, action, subject, application, version, result, details, prev_hash, hash
                 FROM activity ORDER BY seq",
                &[],
            )
        })?;
        rows.iter().map(read_event).collect()
    }
}

/// The synchronous client closes a connection by blocking on a runtime of
/// its own, which tokio refuses on a thread that drives async tasks — and
/// the sidecar's last reference may well be dropped on one. The pool is
/// closed on a thread of its own.
impl Drop for PgStore {
    fn drop(&mut self) {
        let (pool, writer) = (self.pool.take(), self.writer.take());
        let _ = std::thread::spawn(move || drop((pool, writer))).join();
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

/// Lock the log's head for the rest of the transaction; the head as committed.
pub(crate) fn lock_head(tx: &mut Tx<'_>) -> Result<LogHead> {
    let head = tx
        .query_one("SELECT seq, hash FROM log_head WHERE id = 1 FOR UPDATE", &[])
        .map_err(pg)?;
    Ok(LogHead {
        seq: head.get(0),
        hash: head.get(1),
    })
}

/// Chain and insert events after `head` (locked by [`lock_head`]).
fn append_all(tx: &mut Tx<'_>, head: LogHead, events: Vec<NewEvent>, format: LogFormat) -> Result<Vec<Event>> {
    let LogHead { mut seq, mut hash } = head;
    let insert = "INSERT INTO activity (seq, time, actor, action, subject, application, version, result, details, prev_hash, hash)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    let mut sealed = Vec::with_capacity(events.len());
    for event in events {
        let e = event.seal(seq, &hash, gatehouse_core::time::now(), format);
        tx.execute(
            insert,
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

pub(crate) fn read_event(row: &postgres::Row) -> Result<Event> {
    let seq: i64 = row.get(0);
    let result: String = row.get(7);
    let details: String = row.get(8);
    Ok(Event {
        seq,
        time: row.get(1),
        actor: row.get(2),
        action: row.get(3),
        subject: row.get(4),
        application: row.get(5),
        version: row.get(6),
        result: EventResult::parse(&result).ok_or_else(|| Error::CorruptEvent {
            seq,
            reason: format!("unknown result {result:?}: the event was edited"),
        })?,
        // An edited, unparsable details column still hashes differently; keep its text.
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
        prev_hash: row.get(9),
        hash: row.get(10),
    })
}
