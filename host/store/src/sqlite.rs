//! The embedded store: SQLite in WAL mode under the data directory.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{AppFilter, EventFilter, ShippedAt, Store, VersionFilter};
use crate::group::{Batching, CommitFailed, Group};
use crate::rules::{self, HeadKey};
use crate::sql::{self, Sql};
use gatehouse_core::access::Token;
use gatehouse_core::app::Application;
use gatehouse_core::audit::{Event, EventResult, GENESIS_HASH, LogFormat, NewEvent};
use gatehouse_core::binding::Binding;
use gatehouse_core::error::{Error, Result};
use gatehouse_core::evidence::{EvidenceBinding, EvidenceEntry, EvidenceFilter, EvidenceRecord};
use gatehouse_core::gate::GateVerdict;
use gatehouse_core::keys::{TrustedKey, TrustedRoot};
use gatehouse_core::lifecycle::Lifecycle;
use gatehouse_core::policy::Policy;
use gatehouse_core::release::{Checkpoint, LogHead, ReleaseWrite};
use gatehouse_core::sbom::Component;
use gatehouse_core::version::Version;
use gatehouse_core::vuln::{Advisory, Finding, PackageFinding, PackageFindingDoc, PackageVersion, merge_findings};
use gatehouse_core::waiver::Waiver;
use serde_json::Value;

pub const DB_FILE: &str = "gatehouse.db";

/// The schema, one migration per file (`migrations/NNNN_name.sql`), applied in
/// order; `PRAGMA user_version` counts those applied. A released migration is
/// never edited: a change is a new file.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_core.sql"),
    include_str!("migrations/0002_evidence.sql"),
    include_str!("migrations/0003_tokens.sql"),
    include_str!("migrations/0004_gates.sql"),
    include_str!("migrations/0005_records.sql"),
    include_str!("migrations/0006_vulnerabilities.sql"),
    include_str!("migrations/0007_licences.sql"),
    include_str!("migrations/0008_signed_heads.sql"),
    include_str!("migrations/0009_withdrawals.sql"),
    include_str!("migrations/0010_evidence_statements.sql"),
    include_str!("migrations/0011_log_format.sql"),
    include_str!("migrations/0012_package_versions.sql"),
    include_str!("migrations/0013_package_findings.sql"),
    include_str!("migrations/0014_trusted_roots.sql"),
];

/// The schema version that added `evidence.statement`.
const STATEMENT_DIGESTS_SINCE: i64 = 10;

/// One writer connection (every change, with its event, in a savepoint of an
/// immediate transaction that the writes arriving together share: group
/// commit) and a pool of reader connections: in WAL mode readers see the
/// last commit and do not wait for the writer, not even during its fsync.
pub struct SqliteStore {
    writer: Group<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
    /// Signs the log head at the end of every write transaction (the release key).
    head_key: Option<HeadKey>,
    /// This open migrated a log written before heads were signed: its current
    /// head is signed once, as it is, when the signing key is set.
    adopt_unsigned_log: bool,
    /// Where the log switched to RFC 8785 (its `log_format` row).
    log_format: LogFormat,
}

/// Idle reader connections kept open (more are opened under load and closed after).
const IDLE_READERS: usize = 8;

impl SqliteStore {
    /// Open (creating if needed) the store under `data_dir` and migrate it.
    pub fn open(data_dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::internal(format!("cannot create data directory {}", data_dir.display()), e))?;
        let path = data_dir.join(DB_FILE);
        let mut conn = Connection::open(&path).sql()?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).sql()?;
        conn.pragma_update(None, "journal_mode", "WAL").sql()?;
        // FULL: a committed (acknowledged) transaction survives power loss, not only a crash.
        conn.pragma_update(None, "synchronous", "FULL").sql()?;
        conn.pragma_update(None, "foreign_keys", "ON").sql()?;
        plan_once(&conn)?;
        conn.set_prepared_statement_cache_capacity(64);
        let before = migrate(&mut conn)?;
        // Written once by migration 11 and never changed: read here, not per write.
        let log_format = log_format(&conn)?;
        Ok(SqliteStore {
            writer: Group::new(conn),
            readers: Mutex::new(Vec::new()),
            path,
            head_key: None,
            adopt_unsigned_log: before < SIGNED_HEADS_SINCE,
            log_format,
        })
    }

    /// Sign the log head with `key` at the end of every write transaction
    /// from now on. The current head is signed now only when it is vouched
    /// for already: a log this open just migrated from a build that did not
    /// sign heads (adopted as it is), or a head a key of the history signed
    /// (after a rotation). Never a head nobody signed: opening a data
    /// directory must not launder a log rewritten behind Gatehouse's back.
    ///
    /// `trusted` are the public keys from the key files (a head signed by one
    /// of them vouches for the log); `key` is added to them.
    pub fn sign_heads_with(
        &mut self,
        key: &ed25519_dalek::SigningKey,
        trusted: &[ed25519_dalek::VerifyingKey],
    ) -> Result<()> {
        let hk = HeadKey::new(key, trusted)?;
        let adopt = self.adopt_unsigned_log;
        self.writer.run(|conn, _| {
            let sp = conn.savepoint().sql()?;
            if adopt || newest_head_signed_by_trusted(&sp, &hk)? {
                sign_head(&sp, &hk)?;
            }
            sp.commit().sql()
        })?;
        self.head_key = Some(hk);
        Ok(())
    }

    fn open_reader(&self) -> Result<Connection> {
        let conn = Connection::open(&self.path).sql()?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).sql()?;
        conn.pragma_update(None, "query_only", "ON").sql()?;
        plan_once(&conn)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A consistent copy of the store as it is now, taken while it serves:
    /// SQLite's online backup, in one step (one read transaction, so a
    /// concurrent writer neither waits nor makes it restart), written to a
    /// new database file at `out`.
    pub fn backup_to(&self, out: &Path) -> Result<()> {
        let source = self.open_reader()?;
        let mut copy = Connection::open(out).sql()?;
        let backup = rusqlite::backup::Backup::new(&source, &mut copy).sql()?;
        match backup.step(-1).sql()? {
            rusqlite::backup::StepResult::Done => Ok(()),
            other => Err(Error::internal_msg(format!(
                "the backup of {} did not finish in one step ({other:?})",
                self.path.display()
            ))),
        }
    }

    /// Every row of every table (`export::TABLES`), read in one transaction
    /// so the copy is one consistent moment of the store, handed to `each`
    /// in batches.
    pub fn export(&self, mut each: impl FnMut(crate::export::Batch<'_>) -> Result<()>) -> Result<()> {
        use crate::export::{BATCH_ROWS, Cell, TABLES};
        self.with_reader(|conn| {
            let tx = conn.transaction().sql()?;
            for table in TABLES {
                let mut stmt = tx.prepare(&format!("SELECT * FROM {table} ORDER BY rowid")).sql()?;
                let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
                let mut rows = stmt.query([]).sql()?;
                let mut batch = Vec::with_capacity(BATCH_ROWS);
                while let Some(row) = rows.next().sql()? {
                    let mut cells = Vec::with_capacity(columns.len());
                    for (i, column) in columns.iter().enumerate() {
                        cells.push(match row.get_ref(i).sql()? {
                            rusqlite::types::ValueRef::Null => Cell::Null,
                            rusqlite::types::ValueRef::Integer(n) => Cell::Int(n),
                            rusqlite::types::ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                            _ => {
                                return Err(Error::internal_msg(format!(
                                    "{table}.{column} holds a value that is neither text nor an integer"
                                )));
                            }
                        });
                    }
                    batch.push(cells);
                    if batch.len() == BATCH_ROWS {
                        each((table, &columns, &batch))?;
                        batch.clear();
                    }
                }
                if !batch.is_empty() {
                    each((table, &columns, &batch))?;
                }
            }
            Ok(())
        })
    }

    /// Every `doc` column a query returns, decoded.
    fn docs<T: serde::de::DeserializeOwned, P: rusqlite::Params>(
        &self,
        what: &str,
        sql: &str,
        params: P,
    ) -> Result<Vec<T>> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(sql).sql()?;
            let docs = stmt
                .query_map(params, |r| r.get::<_, String>(0))
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()?;
            docs.iter().map(|d| from_doc(what, d)).collect()
        })
    }

    /// Run a read on a reader connection (`query_only`: it cannot write).
    fn with_reader<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let idle = self
            .readers
            .lock()
            .map_err(|_| Error::internal_msg("store lock poisoned"))?
            .pop();
        let mut conn = match idle {
            Some(c) => c,
            None => self.open_reader()?,
        };
        let result = f(&mut conn);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < IDLE_READERS
        {
            pool.push(conn);
        }
        result
    }

    /// Commits so far and the writes they held (their ratio is the mean group).
    pub fn commit_stats(&self) -> (u64, u64) {
        self.writer.stats()
    }

    /// Run `change` and append `event`, committed together (see `write_many`).
    fn write<T>(&self, event: NewEvent, change: impl FnOnce(&Connection) -> Result<T>) -> Result<Event> {
        let mut sealed = self.write_many(vec![event], change)?;
        sealed.pop().ok_or_else(|| Error::internal_msg("no event sealed"))
    }

    /// Run `change` and append every event, both or neither: in a savepoint
    /// of the group's transaction, answered once that transaction commits
    /// (`group.rs`). A refused change is undone alone.
    fn write_many<T>(
        &self,
        events: Vec<NewEvent>,
        change: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<Vec<Event>> {
        self.writer.run(|conn, joining| {
            // A request past its time limit commits nothing (its client is told so).
            crate::deadline::check().map_err(|after| Error::Timeout { after })?;
            let write = |conn: &Connection| -> Result<Vec<Event>> {
                change(conn)?;
                // The head is signed only if the one before this write was:
                // a log changed behind Gatehouse's back stays unsigned, and so visible.
                let vouched = match &self.head_key {
                    Some(hk) => previous_head_vouched(conn, hk)?,
                    None => false,
                };
                let sealed = append_all(conn, events, self.log_format)?;
                if let Some(hk) = &self.head_key
                    && vouched
                {
                    sign_head(conn, hk)?;
                }
                Ok(sealed)
            };
            if joining.0 {
                // Undone alone if refused; the batch goes on.
                let sp = conn.savepoint().sql()?;
                let sealed = write(&sp)?;
                sp.commit().sql()?;
                Ok(sealed)
            } else {
                write(conn)
            }
        })
    }
}

/// The writer's batch: one immediate transaction around the group's savepoints.
impl Batching for Connection {
    fn begin(&mut self) -> Result<()> {
        self.execute_batch("BEGIN IMMEDIATE").sql()
    }

    fn commit(&mut self) -> std::result::Result<(), CommitFailed> {
        self.execute_batch("COMMIT")
            .map_err(|e| CommitFailed::Refused(e.to_string()))
    }

    fn rollback(&mut self) {
        let _ = self.execute_batch("ROLLBACK");
    }
}

/// The schema version from which every write signs the log head.
const SIGNED_HEADS_SINCE: i64 = 8;

/// Apply the pending migrations; the schema version found before them.
fn migrate(conn: &mut Connection) -> Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).sql()?;
    let current: i64 = row(&tx, "PRAGMA user_version", [], |r| r.get(0)).sql()?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(Error::internal_msg(format!(
            "the database schema is version {current} but this gatehouse knows only up to {known}; use a newer gatehouse"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql).sql()?;
        tx.pragma_update(None, "user_version", (i + 1) as i64).sql()?;
    }
    if current < STATEMENT_DIGESTS_SINCE {
        backfill_statement_digests(&tx)?;
    }
    tx.commit().sql()?;
    Ok(current)
}

/// Migration 10's data: the statement digest of every envelope stored by an
/// earlier build (one whose envelope no longer parses is left without one).
fn backfill_statement_digests(tx: &Connection) -> Result<()> {
    let rows: Vec<(String, String)> = {
        let mut stmt = tx
            .prepare("SELECT digest, doc FROM evidence WHERE statement IS NULL")
            .sql()?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .sql()?
            .collect::<rusqlite::Result<_>>()
            .sql()?
    };
    for (digest, doc) in rows {
        let record: EvidenceRecord = from_doc("evidence", &doc)?;
        if let Ok(env) = gatehouse_core::evidence::parse_envelope_value(&record.envelope) {
            exec(
                tx,
                "UPDATE evidence SET statement = ?1 WHERE digest = ?2",
                params![env.statement_digest, digest],
            )
            .sql()?;
        }
    }
    Ok(())
}

/// Chain and insert events after the current head, reading the head once.
/// Where the log switched to RFC 8785 (recorded once, by migration 11).
fn log_format(conn: &Connection) -> Result<LogFormat> {
    let jcs_from_seq = row(conn, "SELECT from_seq FROM log_format WHERE id = 1", [], |r| r.get(0))
        .optional()
        .sql()?
        .ok_or_else(|| {
            Error::internal_msg(
                "the activity log's format record (table log_format) is missing: the database was edited",
            )
        })?;
    Ok(LogFormat { jcs_from_seq })
}

fn append_all(tx: &Connection, events: Vec<NewEvent>, format: LogFormat) -> Result<Vec<Event>> {
    let head: Option<(i64, String)> = row(
        tx,
        "SELECT seq, hash FROM activity ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .sql()?;
    let (mut seq, mut hash) = head.unwrap_or((0, GENESIS_HASH.to_string()));
    let mut insert = tx.prepare_cached(
        "INSERT INTO activity (seq, time, actor, action, subject, application, version, result, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    ).sql()?;
    let mut sealed = Vec::with_capacity(events.len());
    for event in events {
        let e = event.seal(seq, &hash, gatehouse_core::time::now(), format);
        insert
            .execute(params![
                e.seq,
                e.time,
                e.actor,
                e.action,
                e.subject,
                e.application,
                e.version,
                e.result.as_str(),
                e.details.to_string(),
                e.prev_hash,
                e.hash
            ])
            .sql()?;
        seq = e.seq;
        hash.clone_from(&e.hash);
        sealed.push(e);
    }
    Ok(sealed)
}

fn insert_checkpoint(tx: &Connection, cp: &Checkpoint) -> Result<()> {
    exec(
        tx,
        "INSERT INTO checkpoints (head_seq, head_hash, doc) VALUES (?1, ?2, ?3)",
        params![cp.head.seq, cp.head.hash, to_doc(cp)?],
    )
    .sql()?;
    Ok(())
}

/// Write `v` if the stored version still has `expected` as its revision (compare-and-set).
fn replace_version(tx: &Connection, v: &Version, expected: u64) -> Result<()> {
    let n = exec(
        tx,
        "UPDATE versions SET stage = ?3, release_status = ?4, revision = ?5, doc = ?6
         WHERE application = ?1 AND version = ?2 AND revision = ?7",
        params![
            v.application,
            v.version,
            v.stage,
            v.release_status.as_str(),
            v.revision as i64,
            to_doc(v)?,
            expected as i64
        ],
    )
    .sql()?;
    if n == 0 {
        return Err(rules::version_changed(&v.application, &v.version));
    }
    index_artifacts(tx, v)
}

/// Add package findings; `replace`: a re-match of a changed advisory
/// replaces what its row said, otherwise a stored row stays as first found.
fn insert_package_findings(tx: &Connection, findings: &[PackageFinding], replace: bool) -> Result<()> {
    let sql = if replace {
        "INSERT OR REPLACE INTO package_findings (ecosystem, name, pkg_version, advisory, doc) VALUES (?1, ?2, ?3, ?4, ?5)"
    } else {
        "INSERT OR IGNORE INTO package_findings (ecosystem, name, pkg_version, advisory, doc) VALUES (?1, ?2, ?3, ?4, ?5)"
    };
    let mut stmt = tx.prepare_cached(sql).sql()?;
    for f in findings {
        let p = &f.package;
        stmt.execute(params![p.ecosystem, p.name, p.version, f.advisory, to_doc(&f.doc())?])
            .sql()?;
    }
    Ok(())
}

/// The WHERE clause of a findings read over the columns `cols`, one
/// condition for each of `app`, `version`, `advisory` given (an absent one
/// is no condition, so the query can use the index the given ones have),
/// and the values its parameters take.
fn findings_filter<'a>(
    app: Option<&'a str>,
    version: Option<&'a str>,
    advisory: Option<&'a str>,
    cols: [&str; 3],
) -> (String, Vec<&'a str>) {
    let given: Vec<(&str, &str)> = [app, version, advisory]
        .into_iter()
        .zip(cols)
        .filter_map(|(value, col)| value.map(|v| (col, v)))
        .collect();
    if given.is_empty() {
        return ("1 = 1".to_string(), Vec::new());
    }
    let clause = given
        .iter()
        .enumerate()
        .map(|(i, (col, _))| format!("{col} = ?{}", i + 1))
        .collect::<Vec<_>>()
        .join(" AND ");
    (clause, given.into_iter().map(|(_, v)| v).collect())
}

/// From how many packages asked about [`Store::package_versions`] reads
/// every shipped package version once instead of looking each package up.
const SHIPPED_SCAN_FROM: usize = 256;

/// Drop a version's artifacts from the digest index (every version write).
const UNINDEX_ARTIFACTS: &str = "DELETE FROM artifact_digests WHERE application = ?1 AND version = ?2";

/// Which application, version and purl ship one package version.
const COMPONENTS_AT: &str =
    "SELECT application, version, purl FROM components WHERE ecosystem = ?1 AND name = ?2 AND pkg_version = ?3";

/// A version's findings derived from package findings, by the filter given.
fn derived_findings_sql(filter: &str) -> String {
    format!(
        "SELECT c.application, c.version, c.purl, c.attached_at, pf.advisory, pf.doc
         FROM components c JOIN package_findings pf
           ON pf.ecosystem = c.ecosystem AND pf.name = c.name AND pf.pkg_version = c.pkg_version
         WHERE {filter}"
    )
}

/// Keep the digest → version index in step with a version's artifacts.
fn index_artifacts(tx: &Connection, v: &Version) -> Result<()> {
    exec(tx, UNINDEX_ARTIFACTS, [&v.application, &v.version]).sql()?;
    for a in &v.artifacts {
        exec(
            tx,
            "INSERT OR IGNORE INTO artifact_digests (sha256, application, version) VALUES (?1, ?2, ?3)",
            [&a.sha256, &v.application, &v.version],
        )
        .sql()?;
    }
    Ok(())
}

/// Execute with a cached prepared statement (parsing SQL costs more than running it).
fn exec<P: rusqlite::Params>(conn: &Connection, sql: &str, params: P) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// Query one row with a cached prepared statement.
/// The message a signed log head signs: domain, sequence number and hash.
pub fn head_message(seq: i64, hash: &str) -> Vec<u8> {
    gatehouse_core::evidence::pae("application/vnd.gatehouse.log-head", format!("{seq}:{hash}").as_bytes())
}

/// Whether the log's current head (before a write appends to it) has a
/// head row by one of the key files' keys, or the log is empty. (Its
/// signature is checked by `audit verify`; a forged row is found there.)
fn previous_head_vouched(tx: &Connection, hk: &HeadKey) -> Result<bool> {
    let head: Option<(i64, String)> = tx
        .prepare_cached("SELECT seq, hash FROM activity ORDER BY seq DESC LIMIT 1")
        .sql()?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .sql()?;
    let Some((seq, hash)) = head else { return Ok(true) };
    let keyids: Vec<String> = tx
        .prepare_cached("SELECT keyid FROM log_heads WHERE seq = ?1 AND hash = ?2")
        .sql()?
        .query_map(params![seq, hash], |r| r.get(0))
        .sql()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .sql()?;
    Ok(keyids.iter().any(|k| hk.trusted.contains_key(k)))
}

/// Whether the newest event has a head whose signature verifies with a key
/// from the key files.
fn newest_head_signed_by_trusted(tx: &Connection, hk: &HeadKey) -> Result<bool> {
    let heads: Vec<(i64, String, String, String)> = tx
        .prepare_cached(
            "SELECT seq, keyid, hash, sig FROM log_heads
             WHERE seq = (SELECT max(seq) FROM activity)
               AND hash = (SELECT hash FROM activity ORDER BY seq DESC LIMIT 1)",
        )
        .sql()?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .sql()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .sql()?;
    Ok(heads
        .iter()
        .any(|(seq, keyid, hash, sig)| verify_head(&hk.trusted, *seq, keyid, hash, sig)))
}

/// A head's signature verifies with the key it names, which is one of `keys`.
pub fn verify_head(
    keys: &std::collections::BTreeMap<String, ed25519_dalek::VerifyingKey>,
    seq: i64,
    keyid: &str,
    hash: &str,
    sig: &str,
) -> bool {
    let sig = hex::decode(sig)
        .ok()
        .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok());
    matches!((keys.get(keyid), sig), (Some(vk), Some(sig)) if vk.verify_strict(&head_message(seq, hash), &sig).is_ok())
}

/// Sign the log's current head (if it has events and `hk` has not signed it
/// yet), and keep `hk`'s key in the key history, inside `tx`.
fn sign_head(tx: &Connection, hk: &HeadKey) -> Result<()> {
    let head: Option<(i64, String)> = tx
        .prepare_cached("SELECT seq, hash FROM activity ORDER BY seq DESC LIMIT 1")
        .sql()?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .sql()?;
    let Some((seq, hash)) = head else { return Ok(()) };
    let sig = hk.sign(seq, &hash);
    tx.prepare_cached("INSERT OR IGNORE INTO log_heads (seq, keyid, hash, sig) VALUES (?1, ?2, ?3, ?4)")
        .sql()?
        .execute(params![seq, hk.keyid, hash, sig])
        .sql()?;
    tx.prepare_cached("INSERT OR IGNORE INTO release_keys (keyid, public_pem, first_used) VALUES (?1, ?2, ?3)")
        .sql()?
        .execute(params![hk.keyid, hk.public_pem, gatehouse_core::time::now()])
        .sql()?;
    Ok(())
}

/// Every waiver and key an allowed verdict relied on is still in force, read
/// inside the committing transaction.
fn still_in_force(tx: &Connection, relied: &super::Reliance) -> Result<()> {
    let doc = |sql: &str, id: &str| -> Result<Option<String>> {
        tx.prepare_cached(sql)
            .sql()?
            .query_row([id], |r| r.get(0))
            .optional()
            .sql()
    };
    rules::still_in_force(
        relied,
        &gatehouse_core::time::now(),
        |id| {
            doc("SELECT doc FROM waivers WHERE id = ?1", id)?
                .map(|d| from_doc("waiver", &d))
                .transpose()
        },
        |keyid| {
            doc("SELECT doc FROM trusted_keys WHERE keyid = ?1", keyid)?
                .map(|d| from_doc("trusted key", &d))
                .transpose()
        },
    )
}

/// Whether `stage` is a stage of the lifecycle as stored, read inside `tx`.
fn stage_exists(tx: &Connection, lifecycle: &str, stage: &str) -> Result<bool> {
    let doc: Option<String> = tx
        .prepare_cached("SELECT doc FROM lifecycles WHERE name = ?1")
        .sql()?
        .query_row([lifecycle], |r| r.get(0))
        .optional()
        .sql()?;
    let stored: Option<Lifecycle> = doc.map(|d| from_doc("lifecycle", &d)).transpose()?;
    Ok(rules::stage_exists(lifecycle, stored, stage))
}

fn row<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

/// Plan each statement once, whatever values are bound to it (SQLite's query
/// planner stability guarantee). Without it, a statement whose plan could
/// depend on a bound value (`?3 IS NULL OR …`, a `LIKE ?`) is compiled anew
/// on the first step after every rebinding: measured with callgrind, that
/// was a fifth of a promotion's instructions (docs/benchmarks.md).
fn plan_once(conn: &Connection) -> Result<()> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .sql()?;
    Ok(())
}

fn to_doc<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal("cannot encode document", e))
}

fn from_doc<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::internal(format!("stored {what} is unreadable"), e))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

fn read_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Event, Option<String>)> {
    let seq: i64 = row.get(0)?;
    let result_text: String = row.get(7)?;
    let details_text: String = row.get(8)?;
    let mut problem = None;
    let result = EventResult::parse(&result_text).unwrap_or_else(|| {
        problem = Some(format!("unknown result {result_text:?}: the event was edited"));
        EventResult::Failure
    });
    // An edited, unparsable details column still hashes differently; keep its text.
    let details = serde_json::from_str(&details_text).unwrap_or(serde_json::Value::String(details_text));
    Ok((
        Event {
            seq,
            time: row.get(1)?,
            actor: row.get(2)?,
            action: row.get(3)?,
            subject: row.get(4)?,
            application: row.get(5)?,
            version: row.get(6)?,
            result,
            details,
            prev_hash: row.get(9)?,
            hash: row.get(10)?,
        },
        problem,
    ))
}

/// An insert whose unique key may already be taken: that becomes the
/// conflict `taken` describes; any other failure stays a store error.
fn unless_taken(inserted: rusqlite::Result<usize>, taken: impl FnOnce() -> Error) -> Result<()> {
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(taken()),
        other => other.map(drop).map_err(sql::error),
    }
}

/// An update or delete of one row by its key: none changed means not found.
fn one_row(changed: usize, kind: &'static str, id: &str) -> Result<()> {
    if changed == 0 {
        return Err(Error::NotFound {
            kind,
            id: id.to_string(),
        });
    }
    Ok(())
}

impl Store for SqliteStore {
    fn commit_stats(&self) -> Option<(u64, u64)> {
        Some(self.writer.stats())
    }

    fn create_application(&self, app: &Application, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            let inserted = exec(
                tx,
                "INSERT INTO applications (key, project, criticality, maturity, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    app.key,
                    app.project,
                    app.criticality.as_str(),
                    app.maturity.as_str(),
                    to_doc(app)?
                ],
            );
            unless_taken(inserted, || {
                Error::conflict(format!("application {:?} already exists", app.key))
            })
        })
    }

    fn update_application(&self, app: &Application, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            let n = exec(
                tx,
                "UPDATE applications SET project = ?2, criticality = ?3, maturity = ?4, doc = ?5 WHERE key = ?1",
                params![
                    app.key,
                    app.project,
                    app.criticality.as_str(),
                    app.maturity.as_str(),
                    to_doc(app)?
                ],
            )
            .sql()?;
            one_row(n, "application", &app.key)
        })
    }

    fn delete_application(&self, key: &str, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            exec(tx, "DELETE FROM versions WHERE application = ?1", [key]).sql()?;
            exec(tx, "DELETE FROM artifact_digests WHERE application = ?1", [key]).sql()?;
            exec(tx, "DELETE FROM evidence_versions WHERE application = ?1", [key]).sql()?;
            // A new application with the same key starts clean: no waiver or
            // evaluation of the deleted one carries over (the log keeps their history).
            exec(tx, "DELETE FROM waivers WHERE application = ?1", [key]).sql()?;
            exec(tx, "DELETE FROM gate_evaluations WHERE application = ?1", [key]).sql()?;
            exec(tx, "DELETE FROM components WHERE application = ?1", [key]).sql()?;
            exec(tx, "DELETE FROM findings WHERE application = ?1", [key]).sql()?;
            let n = exec(tx, "DELETE FROM applications WHERE key = ?1", [key]).sql()?;
            one_row(n, "application", key)
        })
    }

    fn application(&self, key: &str) -> Result<Option<Application>> {
        Ok(self
            .docs("application", "SELECT doc FROM applications WHERE key = ?1", [key])?
            .pop())
    }

    fn applications(&self, f: &AppFilter) -> Result<Vec<Application>> {
        let mut sql = String::from("SELECT doc FROM applications WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, value: String| {
            args.push(value);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(p) = &f.project {
            arg(&mut sql, " AND project = ?", p.clone());
        }
        if let Some(c) = f.criticality {
            arg(&mut sql, " AND criticality = ?", c.as_str().to_string());
        }
        if let Some(m) = f.maturity {
            arg(&mut sql, " AND maturity = ?", m.as_str().to_string());
        }
        if let Some(o) = &f.owner {
            arg(
                &mut sql,
                " AND (EXISTS (SELECT 1 FROM json_each(doc, '$.owners.users') WHERE value = ?)",
                o.clone(),
            );
            arg(
                &mut sql,
                " OR EXISTS (SELECT 1 FROM json_each(doc, '$.owners.groups') WHERE value = ?))",
                o.clone(),
            );
        }
        if let Some((k, v)) = &f.label {
            arg(
                &mut sql,
                " AND EXISTS (SELECT 1 FROM json_each(doc, '$.labels') WHERE key = ?",
                k.clone(),
            );
            match v {
                Some(v) => arg(&mut sql, " AND value = ?)", v.clone()),
                None => sql.push(')'),
            }
        }
        if let Some(a) = &f.after {
            arg(&mut sql, " AND key > ?", a.clone());
        }
        sql.push_str(&format!(" ORDER BY key LIMIT {}", f.limit));
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql).sql()?;
            let docs = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |r| r.get::<_, String>(0))
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()?;
            docs.iter().map(|d| from_doc("application", d)).collect()
        })
    }

    fn create_version(&self, v: &Version, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            let inserted = exec(
                tx,
                "INSERT INTO versions (application, version, lifecycle, stage, release_status, revision, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    v.application,
                    v.version,
                    v.lifecycle,
                    v.stage,
                    v.release_status.as_str(),
                    v.revision as i64,
                    to_doc(v)?
                ],
            );
            unless_taken(inserted, || {
                Error::conflict(format!(
                    "version {} of application {:?} already exists",
                    v.version, v.application
                ))
            })?;
            index_artifacts(tx, v)
        })
    }

    fn update_version(&self, v: &Version, expected_revision: u64, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| replace_version(tx, v, expected_revision))
    }

    fn version(&self, app: &str, version: &str) -> Result<Option<Version>> {
        Ok(self
            .docs(
                "version",
                "SELECT doc FROM versions WHERE application = ?1 AND version = ?2",
                [app, version],
            )?
            .pop())
    }

    fn versions(&self, app: &str, f: &VersionFilter) -> Result<Vec<(i64, Version)>> {
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, doc FROM versions WHERE application = ?1
                   AND (?2 IS NULL OR stage = ?2) AND (?3 IS NULL OR release_status = ?3) AND id > ?4
                 ORDER BY id LIMIT ?5",
                )
                .sql()?;
            let rows = stmt
                .query_map(
                    params![
                        app,
                        f.stage,
                        f.release_status.map(|s| s.as_str()),
                        f.after.unwrap_or(0),
                        f.limit as i64
                    ],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                )
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()?;
            rows.into_iter()
                .map(|(id, d)| Ok((id, from_doc("version", &d)?)))
                .collect()
        })
    }

    fn has_frozen_versions(&self, app: &str) -> Result<bool> {
        self.with_reader(|conn| {
            let n: i64 = row(
                conn,
                "SELECT count(*) FROM versions WHERE application = ?1 AND json_extract(doc, '$.draft') = 0",
                [app],
                |r| r.get(0),
            )
            .sql()?;
            Ok(n > 0)
        })
    }

    fn lifecycle(&self, name: &str) -> Result<Option<Lifecycle>> {
        Ok(self
            .docs("lifecycle", "SELECT doc FROM lifecycles WHERE name = ?1", [name])?
            .pop())
    }

    fn lifecycle_for_project(&self, project: &str) -> Result<Option<Lifecycle>> {
        Ok(self
            .docs(
                "lifecycle",
                "SELECT l.doc FROM lifecycle_projects p JOIN lifecycles l ON l.name = p.lifecycle WHERE p.project = ?1",
                [project],
            )?
            .pop())
    }

    fn lifecycles(&self) -> Result<Vec<Lifecycle>> {
        self.docs("lifecycle", "SELECT doc FROM lifecycles ORDER BY name", [])
    }

    fn put_lifecycle(&self, lc: &Lifecycle, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            // Checked in the same transaction that changes the lifecycle, so a
            // promotion into a stage cannot slip in between check and change.
            let names = lc.stage_names();
            let orphaned: Vec<String> = tx
                .prepare_cached(
                    "SELECT DISTINCT stage FROM versions WHERE lifecycle = ?1 AND stage IS NOT NULL ORDER BY stage",
                )
                .sql()?
                .query_map([&lc.name], |r| r.get::<_, String>(0))
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()?
                .into_iter()
                .filter(|s| !names.contains(&s.as_str()))
                .collect();
            if !orphaned.is_empty() {
                return Err(rules::stages_in_use(&orphaned, &lc.name));
            }
            exec(
                tx,
                "INSERT INTO lifecycles (name, doc) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET doc = excluded.doc",
                params![lc.name, to_doc(lc)?],
            )
            .sql()?;
            exec(tx, "DELETE FROM lifecycle_projects WHERE lifecycle = ?1", [&lc.name]).sql()?;
            for project in &lc.projects {
                let inserted = exec(
                    tx,
                    "INSERT INTO lifecycle_projects (project, lifecycle) VALUES (?1, ?2)",
                    [project, &lc.name],
                );
                if let Err(e) = inserted {
                    if is_unique_violation(&e) {
                        let other: String = row(
                            tx,
                            "SELECT lifecycle FROM lifecycle_projects WHERE project = ?1",
                            [project],
                            |r| r.get(0),
                        )
                        .sql()?;
                        return Err(rules::project_taken(project, &other));
                    }
                    return Err(sql::error(e));
                }
            }
            Ok(())
        })
    }

    fn append_event(&self, event: NewEvent) -> Result<Event> {
        self.write(event, |_| Ok(()))
    }

    fn events(&self, f: &EventFilter) -> Result<Vec<Event>> {
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, time, actor, action, subject, application, version, result, details, prev_hash, hash
                 FROM activity
                 WHERE (?1 IS NULL OR application = ?1) AND (?2 IS NULL OR version = ?2)
                   AND (?3 IS NULL OR action = ?3) AND (?4 IS NULL OR actor = ?4) AND (?5 IS NULL OR result = ?5)
                   AND (?6 IS NULL OR time >= ?6) AND (?7 IS NULL OR time < ?7) AND seq > ?8
                 ORDER BY seq LIMIT ?9",
                )
                .sql()?;
            let rows = stmt
                .query_map(
                    params![
                        f.application,
                        f.version,
                        f.action,
                        f.actor,
                        f.result.map(|r| r.as_str()),
                        f.since,
                        f.until,
                        f.after_seq.unwrap_or(0),
                        f.limit as i64
                    ],
                    read_event,
                )
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()?;
            rows.into_iter()
                .map(|(e, problem)| match problem {
                    Some(reason) => Err(Error::CorruptEvent { seq: e.seq, reason }),
                    None => Ok(e),
                })
                .collect()
        })
    }

    fn put_trusted_key(&self, key: &TrustedKey, replace: bool, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            let sql = if replace {
                "INSERT INTO trusted_keys (keyid, doc) VALUES (?1, ?2) ON CONFLICT(keyid) DO UPDATE SET doc = excluded.doc"
            } else {
                "INSERT INTO trusted_keys (keyid, doc) VALUES (?1, ?2)"
            };
            unless_taken(exec(tx, sql, params![key.keyid, to_doc(key)?]), || {
                let name = row(
                    tx,
                    "SELECT json_extract(doc, '$.name') FROM trusted_keys WHERE keyid = ?1",
                    [&key.keyid],
                    |r| r.get::<_, String>(0),
                )
                .unwrap_or_default();
                Error::conflict(format!("key {} is already trusted (as {name:?})", key.keyid))
            })
        })
    }

    fn trusted_key(&self, keyid: &str) -> Result<Option<TrustedKey>> {
        Ok(self
            .docs("trusted key", "SELECT doc FROM trusted_keys WHERE keyid = ?1", [keyid])?
            .pop())
    }

    fn trusted_keys(&self) -> Result<Vec<TrustedKey>> {
        self.docs("trusted key", "SELECT doc FROM trusted_keys ORDER BY keyid", [])
    }

    fn put_trusted_root(&self, root: &TrustedRoot, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            exec(
                tx,
                "INSERT INTO trusted_roots (name, doc) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET doc = excluded.doc",
                params![root.name, to_doc(root)?],
            )
            .sql()
        })
    }

    fn trusted_roots(&self) -> Result<Vec<TrustedRoot>> {
        self.docs("trusted root", "SELECT doc FROM trusted_roots ORDER BY name", [])
    }

    fn versions_with_artifact(&self, sha256: &str) -> Result<Vec<(String, String)>> {
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT application, version FROM artifact_digests WHERE sha256 = ?1 ORDER BY application, version",
                )
                .sql()?;
            let rows = stmt
                .query_map([sha256], |r| Ok((r.get(0)?, r.get(1)?)))
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()?;
            Ok(rows)
        })
    }

    fn evidence_binding(&self, digest: &str, app: &str, version: &str) -> Result<Option<EvidenceBinding>> {
        Ok(self
            .docs(
                "evidence binding",
                "SELECT doc FROM evidence_versions WHERE digest = ?1 AND application = ?2 AND version = ?3",
                [digest, app, version],
            )?
            .pop())
    }

    fn record_evidence(
        &self,
        records: &[EvidenceRecord],
        bindings: &[EvidenceBinding],
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>> {
        self.write_many(events, |tx| {
            let mut predicate_types = std::collections::BTreeMap::new();
            for record in records {
                // A record written again carries more signatures (merged).
                exec(tx,
                    "INSERT INTO evidence (digest, statement, doc) VALUES (?1, ?2, ?3)
                     ON CONFLICT(digest) DO UPDATE SET doc = excluded.doc,
                       statement = coalesce(evidence.statement, excluded.statement)",
                    params![record.digest, record.statement_digest, to_doc(record)?],
                ).sql()?;
                predicate_types.insert(record.digest.as_str(), record.predicate_type.as_deref());
            }
            for b in bindings {
                exec(tx,
                    "INSERT INTO evidence_versions (digest, application, version, verified, predicate_type, added_at, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT(application, version, digest) DO UPDATE SET
                       verified = excluded.verified, added_at = excluded.added_at, doc = excluded.doc",
                    params![
                        b.digest,
                        b.application,
                        b.version,
                        b.verified,
                        predicate_types.get(b.digest.as_str()).copied().flatten(),
                        b.added_at,
                        to_doc(b)?
                    ],
                ).sql()?;
            }
            Ok(())
        })
    }

    fn evidence(&self, digest: &str) -> Result<Option<EvidenceRecord>> {
        Ok(self
            .docs("evidence", "SELECT doc FROM evidence WHERE digest = ?1", [digest])?
            .pop())
    }

    fn evidence_by_statement(&self, statement_digest: &str) -> Result<Option<EvidenceRecord>> {
        Ok(self
            .docs(
                "evidence",
                "SELECT doc FROM evidence WHERE statement = ?1 ORDER BY rowid LIMIT 1",
                [statement_digest],
            )?
            .pop())
    }

    fn version_evidence(&self, app: &str, version: &str, f: &EvidenceFilter) -> Result<Vec<EvidenceEntry>> {
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT b.doc, e.doc FROM evidence_versions b JOIN evidence e ON e.digest = b.digest
                 WHERE b.application = ?1 AND b.version = ?2
                   AND (?3 IS NULL OR b.predicate_type = ?3)
                   AND (?4 IS NULL OR b.verified = ?4)
                   AND (?5 IS NULL OR b.added_at >= ?5) AND (?6 IS NULL OR b.added_at < ?6)
                   AND (?7 IS NULL OR EXISTS (SELECT 1 FROM json_each(b.doc, '$.signers') WHERE value = ?7))
                 ORDER BY b.added_at, b.digest",
                )
                .sql()?;
            let rows = stmt
                .query_map(
                    params![app, version, f.predicate_type, f.verified, f.since, f.until, f.signer],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()?;
            rows.into_iter()
                .map(|(b, e)| {
                    let binding: EvidenceBinding = from_doc("evidence binding", &b)?;
                    let record: EvidenceRecord = from_doc("evidence", &e)?;
                    Ok(EvidenceEntry {
                        binding,
                        statement: record.statement(),
                        predicate_type: record.predicate_type,
                        subjects: record.subjects,
                        matched_subject: None,
                        origin: None,
                    })
                })
                .collect()
        })
    }

    fn put_token(&self, token: &Token, hash: &str, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            exec(
                tx,
                "INSERT INTO tokens (id, hash, name, doc) VALUES (?1, ?2, ?3, ?4)",
                params![token.id, hash, token.name, to_doc(token)?],
            )
            .sql()?;
            Ok(())
        })
    }

    fn update_token(&self, token: &Token, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            let n = exec(
                tx,
                "UPDATE tokens SET doc = ?2 WHERE id = ?1",
                params![token.id, to_doc(token)?],
            )
            .sql()?;
            one_row(n, "token", &token.id)
        })
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<Token>> {
        self.with_reader(|conn| {
            let doc: Option<String> = row(conn, "SELECT doc FROM tokens WHERE hash = ?1", [hash], |r| r.get(0))
                .optional()
                .sql()?;
            doc.map(|d| from_doc("token", &d)).transpose()
        })
    }

    fn tokens(&self) -> Result<Vec<Token>> {
        self.docs("token", "SELECT doc FROM tokens ORDER BY name, id", [])
    }

    fn ping(&self) -> Result<()> {
        self.with_reader(|conn| row(conn, "SELECT 1", [], |r| r.get::<_, i64>(0)).map(drop).sql())
    }

    fn put_binding(&self, binding: &Binding, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            exec(
                tx,
                "INSERT INTO bindings (id, doc) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                params![binding.id, to_doc(binding)?],
            )
            .sql()?;
            Ok(())
        })
    }

    fn delete_binding(&self, id: &str, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            if exec(tx, "DELETE FROM bindings WHERE id = ?1", [id]).sql()? == 0 {
                return Err(Error::NotFound {
                    kind: "binding",
                    id: id.to_string(),
                });
            }
            Ok(())
        })
    }

    fn bindings(&self) -> Result<Vec<Binding>> {
        self.docs("binding", "SELECT doc FROM bindings ORDER BY id", [])
    }

    fn put_policy(&self, policy: &Policy, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            exec(
                tx,
                "INSERT INTO policies (name, doc) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET doc = excluded.doc",
                params![policy.name, to_doc(policy)?],
            )
            .sql()?;
            Ok(())
        })
    }

    fn uploaded_policies(&self) -> Result<Vec<Policy>> {
        self.docs("policy", "SELECT doc FROM policies ORDER BY name", [])
    }

    fn policies_fingerprint(&self) -> Result<String> {
        self.with_reader(|conn| {
            row(
                conn,
                "SELECT count(*) || ':' || coalesce(group_concat(name || '=' || json_extract(doc, '$.digest'), ','), '')
                 FROM (SELECT name, doc FROM policies ORDER BY name)",
                [],
                |r| r.get::<_, String>(0),
            )
            .sql()
        })
    }

    fn put_waiver(&self, waiver: &Waiver, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            exec(
                tx,
                "INSERT INTO waivers (id, application, version, doc) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                params![waiver.id, waiver.application, waiver.version, to_doc(waiver)?],
            )
            .sql()?;
            Ok(())
        })
    }

    fn update_waiver(
        &self,
        waiver: &Waiver,
        expected: gatehouse_core::waiver::WaiverStatus,
        event: NewEvent,
    ) -> Result<Event> {
        let expected_text = rules::status_text(expected);
        self.write(event, |tx| {
            let changed = tx
                .execute(
                    "UPDATE waivers SET doc = ?1 WHERE id = ?2 AND json_extract(doc, '$.status') = ?3",
                    params![to_doc(waiver)?, waiver.id, expected_text],
                )
                .sql()?;
            if changed == 0 {
                let now: Option<String> = tx
                    .query_row(
                        "SELECT json_extract(doc, '$.status') FROM waivers WHERE id = ?1",
                        [&waiver.id],
                        |r| r.get(0),
                    )
                    .ok();
                return Err(rules::waiver_moved(&waiver.id, now, &expected_text));
            }
            Ok(())
        })
    }

    fn waiver(&self, id: &str) -> Result<Option<Waiver>> {
        Ok(self
            .docs("waiver", "SELECT doc FROM waivers WHERE id = ?1", [id])?
            .pop())
    }

    fn waivers(&self, app: Option<&str>, version: Option<&str>) -> Result<Vec<Waiver>> {
        self.docs(
            "waiver",
            "SELECT doc FROM waivers WHERE (?1 IS NULL OR application = ?1) AND (?2 IS NULL OR version = ?2)
             ORDER BY json_extract(doc, '$.requested_at'), id",
            params![app, version],
        )
    }

    fn commit_transition(
        &self,
        next: Option<(&Version, u64)>,
        evaluations: &[GateVerdict],
        release: Option<&ReleaseWrite>,
        application: &str,
        version: &str,
        relied: &super::Reliance,
        withdrawal: Option<&gatehouse_core::release::WithdrawalWrite>,
        event: NewEvent,
    ) -> Result<Event> {
        self.write(event, |tx| {
            if next.is_some() {
                still_in_force(tx, relied)?;
            }
            if let Some(w) = withdrawal {
                exec(
                    tx,
                    "INSERT OR REPLACE INTO withdrawals (application, version, envelope, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![application, version, w.envelope.to_string(), w.time],
                ).sql()?;
                exec(
                    tx,
                    "INSERT OR IGNORE INTO release_keys (keyid, public_pem, first_used) VALUES (?1, ?2, ?3)",
                    params![w.keyid, w.public_pem, w.time],
                ).sql()?;
            }
            if let Some(r) = release {
                let inserted = exec(
                    tx,
                    "INSERT INTO trusted_releases (application, version, digest, record, vsa, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![application, version, r.digest, r.record.to_string(), r.vsa.to_string(), r.checkpoint.time],
                );
                unless_taken(inserted, || rules::record_exists(application, version))?;
                exec(
                    tx,
                    "INSERT OR IGNORE INTO release_keys (keyid, public_pem, first_used) VALUES (?1, ?2, ?3)",
                    params![r.keyid, r.public_pem, r.checkpoint.time],
                ).sql()?;
                insert_checkpoint(tx, &r.checkpoint)?;
            }
            if let Some((v, expected)) = next {
                // The stage moved into must still exist in the version's lifecycle
                // as it is stored now (a concurrent lifecycle change may have dropped it).
                if let Some(stage) = &v.stage
                    && !stage_exists(tx, &v.lifecycle, stage)?
                {
                    return Err(rules::stage_gone(stage, &v.lifecycle));
                }
                replace_version(tx, v, expected)?;
            }
            let now = gatehouse_core::time::now();
            for e in evaluations {
                exec(
                    tx,
                    "INSERT INTO gate_evaluations (id, application, version, created_at, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![e.evaluation_id, application, version, now, to_doc(e)?],
                ).sql()?;
            }
            Ok(())
        })
    }

    fn gate_evaluations(&self, app: &str, version: &str) -> Result<Vec<GateVerdict>> {
        self.docs(
            "gate evaluation",
            "SELECT doc FROM gate_evaluations WHERE application = ?1 AND version = ?2 ORDER BY created_at, id",
            [app, version],
        )
    }

    fn trusted_release(&self, app: &str, version: &str) -> Result<Option<(Value, Value)>> {
        self.with_reader(|conn| {
            let row: Option<(String, String)> = row(
                conn,
                "SELECT record, vsa FROM trusted_releases WHERE application = ?1 AND version = ?2",
                [app, version],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .sql()?;
            row.map(|(r, v)| Ok((from_doc("record", &r)?, from_doc("vsa", &v)?)))
                .transpose()
        })
    }

    fn release_keys(&self) -> Result<Vec<(String, String, String)>> {
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT keyid, public_pem, first_used FROM release_keys ORDER BY first_used")
                .sql()?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()?;
            Ok(rows)
        })
    }

    fn log_head(&self) -> Result<LogHead> {
        self.with_reader(|conn| {
            let head: Option<(i64, String)> = row(
                conn,
                "SELECT seq, hash FROM activity ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .sql()?;
            let (seq, hash) = head.unwrap_or((0, GENESIS_HASH.to_string()));
            Ok(LogHead { seq, hash })
        })
    }

    fn put_checkpoint(&self, cp: &Checkpoint, public_pem: &str, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            exec(
                tx,
                "INSERT OR IGNORE INTO release_keys (keyid, public_pem, first_used) VALUES (?1, ?2, ?3)",
                params![cp.keyid, public_pem, cp.time],
            )
            .sql()?;
            insert_checkpoint(tx, cp)
        })
    }

    fn withdrawal(&self, app: &str, version: &str) -> Result<Option<Value>> {
        self.with_reader(|conn| {
            let text: Option<String> = conn
                .prepare_cached("SELECT envelope FROM withdrawals WHERE application = ?1 AND version = ?2")
                .sql()?
                .query_row([app, version], |r| r.get(0))
                .optional()
                .sql()?;
            text.map(|t| serde_json::from_str(&t).map_err(|e| Error::internal("stored withdrawal is not JSON", e)))
                .transpose()
        })
    }

    fn log_format(&self) -> Result<LogFormat> {
        Ok(self.log_format)
    }

    fn log_heads(&self) -> Result<Vec<crate::SignedHead>> {
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT seq, keyid, hash, sig FROM log_heads ORDER BY seq, keyid")
                .sql()?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(crate::SignedHead {
                        seq: r.get(0)?,
                        keyid: r.get(1)?,
                        hash: r.get(2)?,
                        sig: r.get(3)?,
                    })
                })
                .sql()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .sql()?;
            Ok(rows)
        })
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        self.docs("checkpoint", "SELECT doc FROM checkpoints ORDER BY id", [])
    }

    fn put_components(&self, app: &str, version: &str, components: &[Component], event: NewEvent) -> Result<Event> {
        let now = gatehouse_core::time::now();
        self.write(event, |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO components (application, version, purl, ecosystem, name, pkg_version, licenses, attached_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            ).sql()?;
            let mut shipped = tx
                .prepare_cached("INSERT OR IGNORE INTO shipped_packages (ecosystem, name, pkg_version) VALUES (?1, ?2, ?3)")
                .sql()?;
            for c in components {
                stmt.execute(params![app, version, c.purl, c.ecosystem, c.name, c.version, serde_json::to_string(&c.licenses).unwrap_or_else(|_| "[]".into()), now])
                    .sql()?;
                if let Some(eco) = &c.ecosystem {
                    shipped.execute([eco, &c.name, &c.version]).sql()?;
                }
            }
            Ok(())
        })
    }

    fn components(&self, app: &str, version: &str) -> Result<Vec<Component>> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT purl, ecosystem, name, pkg_version, licenses FROM components WHERE application = ?1 AND version = ?2 ORDER BY purl",
            ).sql()?;
            let rows = stmt
                .query_map([app, version], |r| {
                    let licenses: String = r.get(4)?;
                    Ok(Component {
                        purl: r.get(0)?,
                        ecosystem: r.get(1)?,
                        name: r.get(2)?,
                        version: r.get(3)?,
                        licenses: serde_json::from_str(&licenses).unwrap_or_default(),
                    })
                }).sql()?
                .collect::<rusqlite::Result<Vec<_>>>().sql()?;
            Ok(rows)
        })
    }

    fn package_versions(&self, packages: &[(String, String)]) -> Result<Vec<PackageVersion>> {
        self.with_reader(|conn| {
            let mut out = Vec::new();
            if packages.len() > SHIPPED_SCAN_FROM {
                // A whole feed: one pass over the (few) shipped package
                // versions beats a lookup per package the feed names.
                let wanted: HashSet<(&str, &str)> = packages.iter().map(|(e, n)| (e.as_str(), n.as_str())).collect();
                let mut stmt = conn
                    .prepare_cached("SELECT ecosystem, name, pkg_version FROM shipped_packages")
                    .sql()?;
                let mut rows = stmt.query([]).sql()?;
                while let Some(r) = rows.next().sql()? {
                    let (ecosystem, name): (String, String) = (r.get(0).sql()?, r.get(1).sql()?);
                    if wanted.contains(&(ecosystem.as_str(), name.as_str())) {
                        out.push(PackageVersion {
                            ecosystem,
                            name,
                            version: r.get(2).sql()?,
                        });
                    }
                }
                return Ok(out);
            }
            let mut stmt = conn
                .prepare_cached("SELECT pkg_version FROM shipped_packages WHERE ecosystem = ?1 AND name = ?2")
                .sql()?;
            for (eco, name) in packages {
                let mut rows = stmt.query([eco, name]).sql()?;
                while let Some(r) = rows.next().sql()? {
                    out.push(PackageVersion {
                        ecosystem: eco.clone(),
                        name: name.clone(),
                        version: r.get(0).sql()?,
                    });
                }
            }
            Ok(out)
        })
    }

    fn components_at(&self, packages: &[PackageVersion]) -> Result<Vec<ShippedAt>> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(COMPONENTS_AT).sql()?;
            let mut out = Vec::new();
            for (i, p) in packages.iter().enumerate() {
                let mut rows = stmt.query([&p.ecosystem, &p.name, &p.version]).sql()?;
                while let Some(r) = rows.next().sql()? {
                    out.push(ShippedAt {
                        package: i,
                        application: r.get(0).sql()?,
                        version: r.get(1).sql()?,
                        purl: r.get(2).sql()?,
                    });
                }
            }
            Ok(out)
        })
    }

    fn advisories_modified(&self, ids: &[&str]) -> Result<HashMap<String, String>> {
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT modified FROM advisories WHERE id = ?1")
                .sql()?;
            let mut out = HashMap::new();
            for id in ids {
                if let Some(m) = stmt.query_row([id], |r| r.get::<_, String>(0)).optional().sql()? {
                    out.insert(id.to_string(), m);
                }
            }
            Ok(out)
        })
    }

    fn advisories(&self) -> Result<Vec<Advisory>> {
        self.docs("advisory", "SELECT doc FROM advisories ORDER BY id", [])
    }

    fn advisory(&self, id: &str) -> Result<Option<Advisory>> {
        Ok(self
            .docs("advisory", "SELECT doc FROM advisories WHERE id = ?1", [id])?
            .pop())
    }

    fn advisories_naming(&self, packages: &[(String, String)]) -> Result<Vec<Advisory>> {
        let ids: std::collections::BTreeSet<String> = self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT advisory FROM advisory_packages WHERE ecosystem = ?1 AND name = ?2")
                .sql()?;
            let mut ids = std::collections::BTreeSet::new();
            for (eco, name) in packages {
                let mut rows = stmt.query([eco, name]).sql()?;
                while let Some(r) = rows.next().sql()? {
                    ids.insert(r.get::<_, String>(0).sql()?);
                }
            }
            Ok(ids)
        })?;
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            out.extend(self.advisory(id)?);
        }
        Ok(out)
    }

    fn import_advisories(
        &self,
        advisories: &[Advisory],
        findings: &[PackageFinding],
        stale: &[String],
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>> {
        // Each advisory's document, written over the cores before the
        // transaction takes the writer.
        let docs: Vec<String> = gatehouse_core::cores::in_shares(advisories, |part| {
            part.iter().map(to_doc).collect::<Vec<Result<String>>>()
        })
        .into_iter()
        .collect::<Result<_>>()?;
        self.write_many(events, |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO advisories (id, modified, doc) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET modified = excluded.modified, doc = excluded.doc",
            ).sql()?;
            // The packages a changed advisory named before (a new one named none).
            for id in stale {
                exec(tx, "DELETE FROM advisory_packages WHERE advisory = ?1", [id]).sql()?;
            }
            let mut name = tx
                .prepare_cached("INSERT OR IGNORE INTO advisory_packages (ecosystem, name, advisory) VALUES (?1, ?2, ?3)")
                .sql()?;
            for (a, doc) in advisories.iter().zip(&docs) {
                stmt.execute(params![a.id, a.modified, doc]).sql()?;
            }
            // In key order: a B-tree takes sorted inserts far faster.
            let named: std::collections::BTreeSet<(&str, &str, &str)> = advisories
                .iter()
                .flat_map(|a| a.affected.iter().map(move |x| (x.ecosystem.as_str(), x.name.as_str(), a.id.as_str())))
                .collect();
            for (ecosystem, package, id) in named {
                name.execute([ecosystem, package, id]).sql()?;
            }
            for id in stale {
                exec(tx, "DELETE FROM package_findings WHERE advisory = ?1", [id]).sql()?;
                exec(tx, "DELETE FROM findings WHERE advisory = ?1", [id]).sql()?;
            }
            insert_package_findings(tx, findings, true)
        })
    }

    fn put_package_findings(&self, findings: &[PackageFinding], event: NewEvent) -> Result<Event> {
        self.write(event, |tx| insert_package_findings(tx, findings, false))
    }

    fn findings(&self, app: Option<&str>, version: Option<&str>, advisory: Option<&str>) -> Result<Vec<Finding>> {
        let (filter, values) = findings_filter(app, version, advisory, ["c.application", "c.version", "pf.advisory"]);
        let derived_sql = derived_findings_sql(&filter);
        let derived = self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&derived_sql).sql()?;
            let mut rows = stmt.query(rusqlite::params_from_iter(&values)).sql()?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().sql()? {
                let doc: PackageFindingDoc = from_doc("package finding", &r.get::<_, String>(5).sql()?)?;
                out.push(doc.on(
                    r.get(0).sql()?,
                    r.get(1).sql()?,
                    r.get(2).sql()?,
                    r.get(4).sql()?,
                    r.get(3).sql()?,
                ));
            }
            Ok(out)
        })?;
        let (filter, values) = findings_filter(app, version, advisory, ["application", "version", "advisory"]);
        let legacy = self.docs(
            "finding",
            &format!("SELECT doc FROM findings WHERE {filter}"),
            rusqlite::params_from_iter(&values),
        )?;
        Ok(merge_findings(derived, legacy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite plans for `sql` on a fully migrated schema.
    fn plan(sql: &str) -> String {
        let mut conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        migrate(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        let rows = stmt
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap_or_else(|e| panic!("{e}"));
        rows.map(|r| r.unwrap_or_default()).collect::<Vec<_>>().join("; ")
    }

    /// The statements that run on every promotion or for every affected
    /// package version use an index: a full scan would grow with the store.
    #[test]
    fn the_hot_statements_use_an_index() {
        let by_version = findings_filter(
            Some("a"),
            Some("v"),
            None,
            ["c.application", "c.version", "pf.advisory"],
        )
        .0;
        let by_advisory = findings_filter(None, None, Some("x"), ["c.application", "c.version", "pf.advisory"]).0;
        for sql in [
            UNINDEX_ARTIFACTS.to_string(),
            COMPONENTS_AT.to_string(),
            derived_findings_sql(&by_version),
            derived_findings_sql(&by_advisory),
        ] {
            let plan = plan(&sql);
            assert!(!plan.contains("SCAN"), "{sql}\n=> {plan}");
            assert!(plan.contains("USING"), "{sql}\n=> {plan}");
        }
    }
}
