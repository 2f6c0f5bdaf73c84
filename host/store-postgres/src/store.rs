//! The [`Store`] trait on PostgreSQL: the SQLite store's statements in
//! PostgreSQL's dialect (`$n` parameters, `ON CONFLICT`, `jsonb` operators
//! where SQLite uses `json_each`/`json_extract`), with the same refusals
//! worded the same way.

use std::collections::HashMap;

use postgres::error::SqlState;
use postgres::types::ToSql;
use serde_json::Value;

use crate::writer::Tx;
use crate::{PgStore, pg, read_event};
use gatehouse_core::access::Token;
use gatehouse_core::app::Application;
use gatehouse_core::audit::{Event, EventResult, LogFormat, NewEvent};
use gatehouse_core::binding::Binding;
use gatehouse_core::error::{Error, Result};
use gatehouse_core::evidence::{EvidenceBinding, EvidenceEntry, EvidenceFilter, EvidenceRecord};
use gatehouse_core::gate::GateVerdict;
use gatehouse_core::keys::{TrustedKey, TrustedRoot};
use gatehouse_core::lifecycle::Lifecycle;
use gatehouse_core::policy::Policy;
use gatehouse_core::release::{Checkpoint, LogHead, ReleaseWrite, WithdrawalWrite};
use gatehouse_core::sbom::Component;
use gatehouse_core::version::Version;
use gatehouse_core::vuln::{Advisory, Finding, PackageFinding, PackageFindingDoc, PackageVersion, merge_findings};
use gatehouse_core::waiver::{Waiver, WaiverStatus};
use gatehouse_store::rules::{self, HeadKey};
use gatehouse_store::{AppFilter, EventFilter, Reliance, ShippedAt, SignedHead, Store, VersionFilter};

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl PgStore {
    /// Every `doc` column a query returns, decoded.
    fn docs<T: serde::de::DeserializeOwned>(&self, what: &str, sql: &str, params: Params<'_>) -> Result<Vec<T>> {
        let rows = self.read(|s| s.query(sql, params))?;
        rows.iter().map(|r| from_doc(what, &r.get::<_, String>(0))).collect()
    }

    /// Rows of a read query, each mapped.
    fn rows<T>(&self, sql: &str, params: Params<'_>, f: impl Fn(&postgres::Row) -> Result<T>) -> Result<Vec<T>> {
        let rows = self.read(|s| s.query(sql, params))?;
        rows.iter().map(f).collect()
    }

    /// Run `change` and append `event` in one transaction.
    fn write(&self, event: NewEvent, change: impl FnOnce(&mut Tx<'_>) -> Result<()>) -> Result<Event> {
        let mut sealed = self.write_many(vec![event], change)?;
        sealed.pop().ok_or_else(|| Error::internal_msg("no event sealed"))
    }
}

fn to_doc<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal("cannot encode document", e))
}

fn from_doc<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::internal(format!("stored {what} is unreadable"), e))
}

fn int(n: u64, what: &str) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::internal_msg(format!("{what} {n} does not fit the database")))
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Run an insert whose unique key may be taken, under a savepoint: a taken
/// key becomes the conflict `taken` describes (it may read the transaction,
/// which stays usable); any other failure is a store error.
fn insert_unless_taken(
    tx: &mut Tx<'_>,
    sql: &str,
    params: Params<'_>,
    taken: impl FnOnce(&mut Tx<'_>) -> Error,
) -> Result<()> {
    tx.batch_execute("SAVEPOINT insert").map_err(pg)?;
    match tx.execute(sql, params) {
        Ok(_) => tx.batch_execute("RELEASE SAVEPOINT insert").map_err(pg),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT insert; RELEASE SAVEPOINT insert")
                .map_err(pg)?;
            Err(taken(tx))
        }
        Err(e) => Err(pg(e)),
    }
}

/// An update or delete of one row by its key: none changed means not found.
fn one_row(changed: u64, kind: &'static str, id: &str) -> Result<()> {
    if changed == 0 {
        return Err(Error::NotFound {
            kind,
            id: id.to_string(),
        });
    }
    Ok(())
}

fn opt_doc<T: serde::de::DeserializeOwned>(
    tx: &mut Tx<'_>,
    what: &str,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<T>> {
    tx.query_opt(sql, params)
        .map_err(pg)?
        .map(|r| from_doc(what, &r.get::<_, String>(0)))
        .transpose()
}

/// Whether `head` has a signed head row by one of the key files' keys
/// (its signature is checked by `audit verify`; a forged row is found there).
pub(crate) fn head_signed_by_trusted(tx: &mut Tx<'_>, hk: &HeadKey, head: &LogHead) -> Result<bool> {
    let rows = tx
        .query(
            "SELECT keyid FROM log_heads WHERE seq = $1 AND hash = $2",
            &[&head.seq, &head.hash],
        )
        .map_err(pg)?;
    Ok(rows.iter().any(|r| hk.trusted.contains_key(&r.get::<_, String>(0))))
}

/// Whether `head` has a signed head row whose signature verifies with a key
/// from the key files.
pub(crate) fn newest_head_verifies(tx: &mut Tx<'_>, hk: &HeadKey, head: &LogHead) -> Result<bool> {
    let rows = tx
        .query(
            "SELECT keyid, sig FROM log_heads WHERE seq = $1 AND hash = $2",
            &[&head.seq, &head.hash],
        )
        .map_err(pg)?;
    Ok(rows.iter().any(|r| {
        gatehouse_store::verify_head(
            &hk.trusted,
            head.seq,
            &r.get::<_, String>(0),
            &head.hash,
            &r.get::<_, String>(1),
        )
    }))
}

/// Sign `head` (unless `hk` signed it already) and keep `hk`'s key in the key history.
pub(crate) fn sign_head(tx: &mut Tx<'_>, hk: &HeadKey, head: &LogHead) -> Result<()> {
    let sig = hk.sign(head.seq, &head.hash);
    tx.execute(
        "INSERT INTO log_heads (seq, keyid, hash, sig) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        &[&head.seq, &hk.keyid, &head.hash, &sig],
    )
    .map_err(pg)?;
    tx.execute(
        "INSERT INTO release_keys (keyid, public_pem, first_used) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&hk.keyid, &hk.public_pem, &gatehouse_core::time::now()],
    )
    .map_err(pg)?;
    Ok(())
}

fn insert_checkpoint(tx: &mut Tx<'_>, cp: &Checkpoint) -> Result<()> {
    tx.execute(
        "INSERT INTO checkpoints (head_seq, head_hash, doc) VALUES ($1, $2, $3)",
        &[&cp.head.seq, &cp.head.hash, &to_doc(cp)?],
    )
    .map_err(pg)?;
    Ok(())
}

/// Write `v` if the stored version still has `expected` as its revision (compare-and-set).
fn replace_version(tx: &mut Tx<'_>, v: &Version, expected: u64) -> Result<()> {
    let n = tx
        .execute(
            "UPDATE versions SET stage = $3, release_status = $4, revision = $5, doc = $6
             WHERE application = $1 AND version = $2 AND revision = $7",
            &[
                &v.application,
                &v.version,
                &v.stage,
                &v.release_status.as_str(),
                &int(v.revision, "revision")?,
                &to_doc(v)?,
                &int(expected, "revision")?,
            ],
        )
        .map_err(pg)?;
    if n == 0 {
        return Err(rules::version_changed(&v.application, &v.version));
    }
    index_artifacts(tx, v)
}

/// Rows sent in one statement by the writes that send many (a re-match
/// stores hundreds of thousands of findings): one round trip per chunk.
const ROWS_PER_STATEMENT: usize = 5_000;

/// Add package findings; `replace`: a re-match of a changed advisory
/// replaces what its row said (the last of a key given twice wins, as row by
/// row), otherwise a stored row stays as first found.
fn insert_package_findings(tx: &mut Tx<'_>, findings: &[PackageFinding], replace: bool) -> Result<()> {
    fn key(f: &PackageFinding) -> (&str, &str, &str, &str) {
        (&f.package.ecosystem, &f.package.name, &f.package.version, &f.advisory)
    }
    let mut last: HashMap<(&str, &str, &str, &str), usize> = HashMap::new();
    for (i, f) in findings.iter().enumerate() {
        last.insert(key(f), i);
    }
    let kept: Vec<&PackageFinding> = findings
        .iter()
        .enumerate()
        .filter(|(i, f)| last.get(&key(f)) == Some(i))
        .map(|(_, f)| f)
        .collect();
    let sql = if replace {
        "INSERT INTO package_findings (ecosystem, name, pkg_version, advisory, doc)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
         ON CONFLICT (ecosystem, name, pkg_version, advisory) DO UPDATE SET doc = excluded.doc"
    } else {
        "INSERT INTO package_findings (ecosystem, name, pkg_version, advisory, doc)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
         ON CONFLICT (ecosystem, name, pkg_version, advisory) DO NOTHING"
    };
    for chunk in kept.chunks(ROWS_PER_STATEMENT) {
        let column = |get: fn(&PackageFinding) -> &str| chunk.iter().map(|f| get(f)).collect::<Vec<&str>>();
        let docs = chunk
            .iter()
            .map(|f| to_doc(&f.doc()))
            .collect::<Result<Vec<String>>>()?;
        tx.execute(
            sql,
            &[
                &column(|f| &f.package.ecosystem),
                &column(|f| &f.package.name),
                &column(|f| &f.package.version),
                &column(|f| &f.advisory),
                &docs,
            ],
        )
        .map_err(pg)?;
    }
    Ok(())
}

/// Keep the digest → version index in step with a version's artifacts.
fn index_artifacts(tx: &mut Tx<'_>, v: &Version) -> Result<()> {
    tx.execute(
        "DELETE FROM artifact_digests WHERE application = $1 AND version = $2",
        &[&v.application, &v.version],
    )
    .map_err(pg)?;
    for a in &v.artifacts {
        tx.execute(
            "INSERT INTO artifact_digests (sha256, application, version) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&a.sha256, &v.application, &v.version],
        )
        .map_err(pg)?;
    }
    Ok(())
}

/// Every waiver and key an allowed verdict relied on is still in force, read
/// inside the committing transaction.
fn still_in_force(tx: &mut Tx<'_>, relied: &Reliance) -> Result<()> {
    let tx = std::cell::RefCell::new(tx);
    rules::still_in_force(
        relied,
        &gatehouse_core::time::now(),
        |id| {
            opt_doc(
                *tx.borrow_mut(),
                "waiver",
                "SELECT doc FROM waivers WHERE id = $1",
                &[&id],
            )
        },
        |keyid| {
            opt_doc(
                *tx.borrow_mut(),
                "trusted key",
                "SELECT doc FROM trusted_keys WHERE keyid = $1",
                &[&keyid],
            )
        },
    )
}

/// Whether `stage` is a stage of the lifecycle as stored, read inside `tx`.
fn stage_exists(tx: &mut Tx<'_>, lifecycle: &str, stage: &str) -> Result<bool> {
    let stored: Option<Lifecycle> = opt_doc(
        tx,
        "lifecycle",
        "SELECT doc FROM lifecycles WHERE name = $1",
        &[&lifecycle],
    )?;
    Ok(rules::stage_exists(lifecycle, stored, stage))
}

impl Store for PgStore {
    fn commit_stats(&self) -> Option<(u64, u64)> {
        Some(PgStore::commit_stats(self))
    }

    /// The reading pool (the writer's one connection is not counted).
    fn pool_state(&self) -> Option<(u32, u32)> {
        self.pool
            .as_ref()
            .map(|p| p.state())
            .map(|s| (s.connections, s.idle_connections))
    }

    fn create_application(&self, app: &Application, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            insert_unless_taken(
                tx,
                "INSERT INTO applications (key, project, criticality, maturity, doc) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &app.key,
                    &app.project,
                    &app.criticality.as_str(),
                    &app.maturity.as_str(),
                    &to_doc(app)?,
                ],
                |_| Error::conflict(format!("application {:?} already exists", app.key)),
            )
        })
    }

    fn update_application(&self, app: &Application, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            let n = tx
                .execute(
                    "UPDATE applications SET project = $2, criticality = $3, maturity = $4, doc = $5 WHERE key = $1",
                    &[
                        &app.key,
                        &app.project,
                        &app.criticality.as_str(),
                        &app.maturity.as_str(),
                        &to_doc(app)?,
                    ],
                )
                .map_err(pg)?;
            one_row(n, "application", &app.key)
        })
    }

    fn delete_application(&self, key: &str, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            for table in [
                "versions",
                "artifact_digests",
                "evidence_versions",
                // A new application with the same key starts clean: no waiver or
                // evaluation of the deleted one carries over (the log keeps their history).
                "waivers",
                "gate_evaluations",
                "components",
                "findings",
            ] {
                tx.execute(&format!("DELETE FROM {table} WHERE application = $1"), &[&key])
                    .map_err(pg)?;
            }
            let n = tx
                .execute("DELETE FROM applications WHERE key = $1", &[&key])
                .map_err(pg)?;
            one_row(n, "application", key)
        })
    }

    fn application(&self, key: &str) -> Result<Option<Application>> {
        Ok(self
            .docs("application", "SELECT doc FROM applications WHERE key = $1", &[&key])?
            .pop())
    }

    fn applications(&self, f: &AppFilter) -> Result<Vec<Application>> {
        let (label_key, label_value) = match &f.label {
            Some((k, v)) => (Some(k.clone()), v.clone()),
            None => (None, None),
        };
        self.docs(
            "application",
            "SELECT doc FROM applications
             WHERE ($1::text IS NULL OR project = $1)
               AND ($2::text IS NULL OR criticality = $2)
               AND ($3::text IS NULL OR maturity = $3)
               AND ($4::text IS NULL OR jsonb_exists(doc::jsonb -> 'owners' -> 'users', $4)
                                     OR jsonb_exists(doc::jsonb -> 'owners' -> 'groups', $4))
               AND ($5::text IS NULL OR jsonb_exists(doc::jsonb -> 'labels', $5))
               AND ($6::text IS NULL OR doc::jsonb -> 'labels' ->> $5 = $6)
               AND ($7::text IS NULL OR key > $7)
             ORDER BY key LIMIT $8",
            &[
                &f.project,
                &f.criticality.map(|c| c.as_str()),
                &f.maturity.map(|m| m.as_str()),
                &f.owner,
                &label_key,
                &label_value,
                &f.after,
                &limit(f.limit),
            ],
        )
    }

    fn create_version(&self, v: &Version, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            insert_unless_taken(
                tx,
                "INSERT INTO versions (application, version, lifecycle, stage, release_status, revision, doc)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &v.application,
                    &v.version,
                    &v.lifecycle,
                    &v.stage,
                    &v.release_status.as_str(),
                    &int(v.revision, "revision")?,
                    &to_doc(v)?,
                ],
                |_| {
                    Error::conflict(format!(
                        "version {} of application {:?} already exists",
                        v.version, v.application
                    ))
                },
            )?;
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
                "SELECT doc FROM versions WHERE application = $1 AND version = $2",
                &[&app, &version],
            )?
            .pop())
    }

    fn versions(&self, app: &str, f: &VersionFilter) -> Result<Vec<(i64, Version)>> {
        self.rows(
            "SELECT id, doc FROM versions WHERE application = $1
               AND ($2::text IS NULL OR stage = $2) AND ($3::text IS NULL OR release_status = $3) AND id > $4
             ORDER BY id LIMIT $5",
            &[
                &app,
                &f.stage,
                &f.release_status.map(|s| s.as_str()),
                &f.after.unwrap_or(0),
                &limit(f.limit),
            ],
            |r| Ok((r.get(0), from_doc("version", &r.get::<_, String>(1))?)),
        )
    }

    fn has_frozen_versions(&self, app: &str) -> Result<bool> {
        let n = self.rows(
            "SELECT count(*) FROM versions WHERE application = $1 AND (doc::jsonb ->> 'draft') = 'false'",
            &[&app],
            |r| Ok(r.get::<_, i64>(0)),
        )?;
        Ok(n.first().copied().unwrap_or(0) > 0)
    }

    fn lifecycle(&self, name: &str) -> Result<Option<Lifecycle>> {
        Ok(self
            .docs("lifecycle", "SELECT doc FROM lifecycles WHERE name = $1", &[&name])?
            .pop())
    }

    fn lifecycle_for_project(&self, project: &str) -> Result<Option<Lifecycle>> {
        Ok(self
            .docs(
                "lifecycle",
                "SELECT l.doc FROM lifecycle_projects p JOIN lifecycles l ON l.name = p.lifecycle WHERE p.project = $1",
                &[&project],
            )?
            .pop())
    }

    fn lifecycles(&self) -> Result<Vec<Lifecycle>> {
        self.docs("lifecycle", "SELECT doc FROM lifecycles ORDER BY name", &[])
    }

    fn put_lifecycle(&self, lc: &Lifecycle, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            // Checked in the same transaction that changes the lifecycle, so a
            // promotion into a stage cannot slip in between check and change.
            let names = lc.stage_names();
            let orphaned: Vec<String> = tx
                .query(
                    "SELECT DISTINCT stage FROM versions WHERE lifecycle = $1 AND stage IS NOT NULL ORDER BY stage",
                    &[&lc.name],
                )
                .map_err(pg)?
                .iter()
                .map(|r| r.get::<_, String>(0))
                .filter(|s| !names.contains(&s.as_str()))
                .collect();
            if !orphaned.is_empty() {
                return Err(rules::stages_in_use(&orphaned, &lc.name));
            }
            tx.execute(
                "INSERT INTO lifecycles (name, doc) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
                &[&lc.name, &to_doc(lc)?],
            )
            .map_err(pg)?;
            tx.execute("DELETE FROM lifecycle_projects WHERE lifecycle = $1", &[&lc.name])
                .map_err(pg)?;
            for project in &lc.projects {
                insert_unless_taken(
                    tx,
                    "INSERT INTO lifecycle_projects (project, lifecycle) VALUES ($1, $2)",
                    &[project, &lc.name],
                    |tx| {
                        let other = tx
                            .query_opt("SELECT lifecycle FROM lifecycle_projects WHERE project = $1", &[project])
                            .ok()
                            .flatten()
                            .map(|r| r.get::<_, String>(0))
                            .unwrap_or_default();
                        rules::project_taken(project, &other)
                    },
                )?;
            }
            Ok(())
        })
    }

    fn append_event(&self, event: NewEvent) -> Result<Event> {
        self.write(event, |_| Ok(()))
    }

    fn events(&self, f: &EventFilter) -> Result<Vec<Event>> {
        self.rows(
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
                &limit(f.limit),
            ],
            read_event,
        )
    }

    fn put_trusted_key(&self, key: &TrustedKey, replace: bool, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            let sql = if replace {
                "INSERT INTO trusted_keys (keyid, doc) VALUES ($1, $2) ON CONFLICT (keyid) DO UPDATE SET doc = excluded.doc"
            } else {
                "INSERT INTO trusted_keys (keyid, doc) VALUES ($1, $2)"
            };
            insert_unless_taken(tx, sql, &[&key.keyid, &to_doc(key)?], |tx| {
                let name = tx
                    .query_opt(
                        "SELECT doc::jsonb ->> 'name' FROM trusted_keys WHERE keyid = $1",
                        &[&key.keyid],
                    )
                    .ok()
                    .flatten()
                    .and_then(|r| r.get::<_, Option<String>>(0))
                    .unwrap_or_default();
                Error::conflict(format!("key {} is already trusted (as {name:?})", key.keyid))
            })
        })
    }

    fn trusted_key(&self, keyid: &str) -> Result<Option<TrustedKey>> {
        Ok(self
            .docs(
                "trusted key",
                "SELECT doc FROM trusted_keys WHERE keyid = $1",
                &[&keyid],
            )?
            .pop())
    }

    fn trusted_keys(&self) -> Result<Vec<TrustedKey>> {
        self.docs("trusted key", "SELECT doc FROM trusted_keys ORDER BY keyid", &[])
    }

    fn put_trusted_root(&self, root: &TrustedRoot, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            tx.execute(
                "INSERT INTO trusted_roots (name, doc) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
                &[&root.name, &to_doc(root)?],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn trusted_roots(&self) -> Result<Vec<TrustedRoot>> {
        self.docs("trusted root", "SELECT doc FROM trusted_roots ORDER BY name", &[])
    }

    fn versions_with_artifact(&self, sha256: &str) -> Result<Vec<(String, String)>> {
        self.rows(
            "SELECT application, version FROM artifact_digests WHERE sha256 = $1 ORDER BY application, version",
            &[&sha256],
            |r| Ok((r.get(0), r.get(1))),
        )
    }

    fn evidence_binding(&self, digest: &str, app: &str, version: &str) -> Result<Option<EvidenceBinding>> {
        Ok(self
            .docs(
                "evidence binding",
                "SELECT doc FROM evidence_versions WHERE digest = $1 AND application = $2 AND version = $3",
                &[&digest, &app, &version],
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
                tx.execute(
                    "INSERT INTO evidence (digest, statement, doc) VALUES ($1, $2, $3)
                     ON CONFLICT (digest) DO UPDATE SET doc = excluded.doc,
                       statement = coalesce(evidence.statement, excluded.statement)",
                    &[&record.digest, &record.statement_digest, &to_doc(record)?],
                )
                .map_err(pg)?;
                predicate_types.insert(record.digest.as_str(), record.predicate_type.as_deref());
            }
            for b in bindings {
                tx.execute(
                    "INSERT INTO evidence_versions (digest, application, version, verified, predicate_type, added_at, doc)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (application, version, digest) DO UPDATE SET
                       verified = excluded.verified, added_at = excluded.added_at, doc = excluded.doc",
                    &[
                        &b.digest,
                        &b.application,
                        &b.version,
                        &b.verified,
                        &predicate_types.get(b.digest.as_str()).copied().flatten(),
                        &b.added_at,
                        &to_doc(b)?,
                    ],
                )
                .map_err(pg)?;
            }
            Ok(())
        })
    }

    fn evidence(&self, digest: &str) -> Result<Option<EvidenceRecord>> {
        Ok(self
            .docs("evidence", "SELECT doc FROM evidence WHERE digest = $1", &[&digest])?
            .pop())
    }

    fn evidence_by_statement(&self, statement_digest: &str) -> Result<Option<EvidenceRecord>> {
        Ok(self
            .docs(
                "evidence",
                "SELECT doc FROM evidence WHERE statement = $1 ORDER BY added LIMIT 1",
                &[&statement_digest],
            )?
            .pop())
    }

    fn version_evidence(&self, app: &str, version: &str, f: &EvidenceFilter) -> Result<Vec<EvidenceEntry>> {
        self.rows(
            "SELECT b.doc, e.doc FROM evidence_versions b JOIN evidence e ON e.digest = b.digest
             WHERE b.application = $1 AND b.version = $2
               AND ($3::text IS NULL OR b.predicate_type = $3)
               AND ($4::boolean IS NULL OR b.verified = $4)
               AND ($5::text IS NULL OR b.added_at >= $5) AND ($6::text IS NULL OR b.added_at < $6)
               AND ($7::text IS NULL OR jsonb_exists(b.doc::jsonb -> 'signers', $7))
             ORDER BY b.added_at, b.digest",
            &[
                &app,
                &version,
                &f.predicate_type,
                &f.verified,
                &f.since,
                &f.until,
                &f.signer,
            ],
            |r| {
                let binding: EvidenceBinding = from_doc("evidence binding", &r.get::<_, String>(0))?;
                let record: EvidenceRecord = from_doc("evidence", &r.get::<_, String>(1))?;
                Ok(EvidenceEntry {
                    binding,
                    statement: record.statement(),
                    predicate_type: record.predicate_type,
                    subjects: record.subjects,
                    matched_subject: None,
                    origin: None,
                })
            },
        )
    }

    fn put_token(&self, token: &Token, hash: &str, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            tx.execute(
                "INSERT INTO tokens (id, hash, name, doc) VALUES ($1, $2, $3, $4)",
                &[&token.id, &hash, &token.name, &to_doc(token)?],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn update_token(&self, token: &Token, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            let n = tx
                .execute(
                    "UPDATE tokens SET doc = $2 WHERE id = $1",
                    &[&token.id, &to_doc(token)?],
                )
                .map_err(pg)?;
            one_row(n, "token", &token.id)
        })
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<Token>> {
        Ok(self
            .docs("token", "SELECT doc FROM tokens WHERE hash = $1", &[&hash])?
            .pop())
    }

    fn tokens(&self) -> Result<Vec<Token>> {
        self.docs("token", "SELECT doc FROM tokens ORDER BY name, id", &[])
    }

    fn ping(&self) -> Result<()> {
        self.rows("SELECT 1", &[], |_| Ok(())).map(drop)
    }

    fn put_binding(&self, binding: &Binding, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            tx.execute(
                "INSERT INTO bindings (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                &[&binding.id, &to_doc(binding)?],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn delete_binding(&self, id: &str, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            let n = tx.execute("DELETE FROM bindings WHERE id = $1", &[&id]).map_err(pg)?;
            one_row(n, "binding", id)
        })
    }

    fn bindings(&self) -> Result<Vec<Binding>> {
        self.docs("binding", "SELECT doc FROM bindings ORDER BY id", &[])
    }

    fn put_policy(&self, policy: &Policy, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            tx.execute(
                "INSERT INTO policies (name, doc) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
                &[&policy.name, &to_doc(policy)?],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn uploaded_policies(&self) -> Result<Vec<Policy>> {
        self.docs("policy", "SELECT doc FROM policies ORDER BY name", &[])
    }

    fn policies_fingerprint(&self) -> Result<String> {
        let rows = self.rows(
            "SELECT count(*)::text || ':' ||
                    coalesce(string_agg(name || '=' || coalesce(doc::jsonb ->> 'digest', ''), ',' ORDER BY name), '')
             FROM policies",
            &[],
            |r| Ok(r.get::<_, String>(0)),
        )?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }

    fn put_waiver(&self, waiver: &Waiver, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            tx.execute(
                "INSERT INTO waivers (id, application, version, doc) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                &[&waiver.id, &waiver.application, &waiver.version, &to_doc(waiver)?],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn update_waiver(&self, waiver: &Waiver, expected: WaiverStatus, event: NewEvent) -> Result<Event> {
        let expected_text = rules::status_text(expected);
        self.write(event, |tx| {
            let changed = tx
                .execute(
                    "UPDATE waivers SET doc = $1 WHERE id = $2 AND doc::jsonb ->> 'status' = $3",
                    &[&to_doc(waiver)?, &waiver.id, &expected_text],
                )
                .map_err(pg)?;
            if changed == 0 {
                let now: Option<String> = tx
                    .query_opt(
                        "SELECT doc::jsonb ->> 'status' FROM waivers WHERE id = $1",
                        &[&waiver.id],
                    )
                    .map_err(pg)?
                    .and_then(|r| r.get(0));
                return Err(rules::waiver_moved(&waiver.id, now, &expected_text));
            }
            Ok(())
        })
    }

    fn waiver(&self, id: &str) -> Result<Option<Waiver>> {
        Ok(self
            .docs("waiver", "SELECT doc FROM waivers WHERE id = $1", &[&id])?
            .pop())
    }

    fn waivers(&self, app: Option<&str>, version: Option<&str>) -> Result<Vec<Waiver>> {
        self.docs(
            "waiver",
            "SELECT doc FROM waivers WHERE ($1::text IS NULL OR application = $1) AND ($2::text IS NULL OR version = $2)
             ORDER BY doc::jsonb ->> 'requested_at' COLLATE \"C\", id",
            &[&app, &version],
        )
    }

    fn commit_transition(
        &self,
        next: Option<(&Version, u64)>,
        evaluations: &[GateVerdict],
        release: Option<&ReleaseWrite>,
        application: &str,
        version: &str,
        relied: &Reliance,
        withdrawal: Option<&WithdrawalWrite>,
        event: NewEvent,
    ) -> Result<Event> {
        self.write(event, |tx| {
            if next.is_some() {
                still_in_force(tx, relied)?;
            }
            if let Some(w) = withdrawal {
                tx.execute(
                    "INSERT INTO withdrawals (application, version, envelope, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (application, version) DO UPDATE SET envelope = excluded.envelope, created_at = excluded.created_at",
                    &[&application, &version, &w.envelope.to_string(), &w.time],
                )
                .map_err(pg)?;
                tx.execute(
                    "INSERT INTO release_keys (keyid, public_pem, first_used) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&w.keyid, &w.public_pem, &w.time],
                )
                .map_err(pg)?;
            }
            if let Some(r) = release {
                insert_unless_taken(
                    tx,
                    "INSERT INTO trusted_releases (application, version, digest, record, vsa, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &application,
                        &version,
                        &r.digest,
                        &r.record.to_string(),
                        &r.vsa.to_string(),
                        &r.checkpoint.time,
                    ],
                    |_| rules::record_exists(application, version),
                )?;
                tx.execute(
                    "INSERT INTO release_keys (keyid, public_pem, first_used) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&r.keyid, &r.public_pem, &r.checkpoint.time],
                )
                .map_err(pg)?;
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
                tx.execute(
                    "INSERT INTO gate_evaluations (id, application, version, created_at, doc) VALUES ($1, $2, $3, $4, $5)",
                    &[&e.evaluation_id, &application, &version, &now, &to_doc(e)?],
                )
                .map_err(pg)?;
            }
            Ok(())
        })
    }

    fn withdrawal(&self, app: &str, version: &str) -> Result<Option<Value>> {
        let rows = self.rows(
            "SELECT envelope FROM withdrawals WHERE application = $1 AND version = $2",
            &[&app, &version],
            |r| {
                serde_json::from_str(&r.get::<_, String>(0))
                    .map_err(|e| Error::internal("stored withdrawal is not JSON", e))
            },
        )?;
        Ok(rows.into_iter().next())
    }

    fn gate_evaluations(&self, app: &str, version: &str) -> Result<Vec<GateVerdict>> {
        self.docs(
            "gate evaluation",
            "SELECT doc FROM gate_evaluations WHERE application = $1 AND version = $2 ORDER BY created_at, id",
            &[&app, &version],
        )
    }

    fn trusted_release(&self, app: &str, version: &str) -> Result<Option<(Value, Value)>> {
        let rows = self.rows(
            "SELECT record, vsa FROM trusted_releases WHERE application = $1 AND version = $2",
            &[&app, &version],
            |r| {
                Ok((
                    from_doc("record", &r.get::<_, String>(0))?,
                    from_doc("vsa", &r.get::<_, String>(1))?,
                ))
            },
        )?;
        Ok(rows.into_iter().next())
    }

    fn release_keys(&self) -> Result<Vec<(String, String, String)>> {
        self.rows(
            "SELECT keyid, public_pem, first_used FROM release_keys ORDER BY first_used",
            &[],
            |r| Ok((r.get(0), r.get(1), r.get(2))),
        )
    }

    fn log_head(&self) -> Result<LogHead> {
        let rows = self.rows("SELECT seq, hash FROM log_head WHERE id = 1", &[], |r| {
            Ok(LogHead {
                seq: r.get(0),
                hash: r.get(1),
            })
        })?;
        rows.into_iter().next().ok_or_else(|| {
            Error::internal_msg("the log's head row (table log_head) is missing: the database was edited")
        })
    }

    fn put_checkpoint(&self, cp: &Checkpoint, public_pem: &str, event: NewEvent) -> Result<Event> {
        self.write(event, |tx| {
            tx.execute(
                "INSERT INTO release_keys (keyid, public_pem, first_used) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&cp.keyid, &public_pem, &cp.time],
            )
            .map_err(pg)?;
            insert_checkpoint(tx, cp)
        })
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        self.docs("checkpoint", "SELECT doc FROM checkpoints ORDER BY id", &[])
    }

    fn log_heads(&self) -> Result<Vec<SignedHead>> {
        self.rows(
            "SELECT seq, keyid, hash, sig FROM log_heads ORDER BY seq, keyid",
            &[],
            |r| {
                Ok(SignedHead {
                    seq: r.get(0),
                    keyid: r.get(1),
                    hash: r.get(2),
                    sig: r.get(3),
                })
            },
        )
    }

    fn log_format(&self) -> Result<LogFormat> {
        Ok(self.log_format)
    }

    fn put_components(&self, app: &str, version: &str, components: &[Component], event: NewEvent) -> Result<Event> {
        let now = gatehouse_core::time::now();
        self.write(event, |tx| {
            for c in components {
                let licenses = serde_json::to_string(&c.licenses).unwrap_or_else(|_| "[]".into());
                tx.execute(
                    "INSERT INTO components (application, version, purl, ecosystem, name, pkg_version, licenses, attached_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                    &[&app, &version, &c.purl, &c.ecosystem, &c.name, &c.version, &licenses, &now],
                )
                .map_err(pg)?;
            }
            Ok(())
        })
    }

    fn components(&self, app: &str, version: &str) -> Result<Vec<Component>> {
        self.rows(
            "SELECT purl, ecosystem, name, pkg_version, licenses FROM components
             WHERE application = $1 AND version = $2 ORDER BY purl",
            &[&app, &version],
            |r| {
                Ok(Component {
                    purl: r.get(0),
                    ecosystem: r.get(1),
                    name: r.get(2),
                    version: r.get(3),
                    licenses: serde_json::from_str(&r.get::<_, String>(4)).unwrap_or_default(),
                })
            },
        )
    }

    fn package_versions(&self, packages: &[(String, String)]) -> Result<Vec<PackageVersion>> {
        let ecosystems: Vec<&str> = packages.iter().map(|(e, _)| e.as_str()).collect();
        let names: Vec<&str> = packages.iter().map(|(_, n)| n.as_str()).collect();
        self.rows(
            "SELECT DISTINCT c.ecosystem, c.name, c.pkg_version
             FROM components c
             JOIN unnest($1::text[], $2::text[]) AS p(ecosystem, name)
               ON c.ecosystem = p.ecosystem AND c.name = p.name",
            &[&ecosystems, &names],
            |r| {
                Ok(PackageVersion {
                    ecosystem: r.get(0),
                    name: r.get(1),
                    version: r.get(2),
                })
            },
        )
    }

    fn components_at(&self, packages: &[PackageVersion]) -> Result<Vec<ShippedAt>> {
        let ecosystems: Vec<&str> = packages.iter().map(|p| p.ecosystem.as_str()).collect();
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        let versions: Vec<&str> = packages.iter().map(|p| p.version.as_str()).collect();
        self.rows(
            "SELECT p.i, c.application, c.version, c.purl
             FROM components c
             JOIN unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS p(ecosystem, name, pkg_version, i)
               ON c.ecosystem = p.ecosystem AND c.name = p.name AND c.pkg_version = p.pkg_version",
            &[&ecosystems, &names, &versions],
            |r| {
                Ok(ShippedAt {
                    package: (r.get::<_, i64>(0) - 1) as usize,
                    application: r.get(1),
                    version: r.get(2),
                    purl: r.get(3),
                })
            },
        )
    }

    fn advisories_modified(&self, ids: &[&str]) -> Result<HashMap<String, String>> {
        let rows = self.rows(
            "SELECT a.id, a.modified FROM advisories a JOIN unnest($1::text[]) AS i(id) ON a.id = i.id",
            &[&ids],
            |r| Ok((r.get::<_, String>(0), r.get::<_, String>(1))),
        )?;
        Ok(rows.into_iter().collect())
    }

    fn advisories(&self) -> Result<Vec<Advisory>> {
        self.docs("advisory", "SELECT doc FROM advisories ORDER BY id", &[])
    }

    fn advisory(&self, id: &str) -> Result<Option<Advisory>> {
        Ok(self
            .docs("advisory", "SELECT doc FROM advisories WHERE id = $1", &[&id])?
            .pop())
    }

    fn advisories_naming(&self, packages: &[(String, String)]) -> Result<Vec<Advisory>> {
        let ecosystems: Vec<&str> = packages.iter().map(|(e, _)| e.as_str()).collect();
        let names: Vec<&str> = packages.iter().map(|(_, n)| n.as_str()).collect();
        self.docs(
            "advisory",
            "SELECT a.doc FROM advisories a WHERE a.id IN (
                 SELECT p.advisory FROM advisory_packages p
                 JOIN unnest($1::text[], $2::text[]) AS q(ecosystem, name)
                   ON p.ecosystem = q.ecosystem AND p.name = q.name)
             ORDER BY a.id",
            &[&ecosystems, &names],
        )
    }

    fn import_advisories(
        &self,
        advisories: &[Advisory],
        findings: &[PackageFinding],
        stale: &[String],
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>> {
        self.write_many(events, |tx| {
            // The last of an id given twice wins, as row by row; one
            // statement per chunk (ON CONFLICT cannot touch a row twice).
            let mut last: HashMap<&str, usize> = HashMap::new();
            for (i, a) in advisories.iter().enumerate() {
                last.insert(&a.id, i);
            }
            let kept: Vec<&Advisory> = advisories
                .iter()
                .enumerate()
                .filter(|(i, a)| last.get(a.id.as_str()) == Some(i))
                .map(|(_, a)| a)
                .collect();
            for chunk in kept.chunks(ROWS_PER_STATEMENT) {
                let ids: Vec<&str> = chunk.iter().map(|a| a.id.as_str()).collect();
                let modified: Vec<&str> = chunk.iter().map(|a| a.modified.as_str()).collect();
                let docs = chunk.iter().map(to_doc).collect::<Result<Vec<String>>>()?;
                tx.execute(
                    "INSERT INTO advisories (id, modified, doc)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
                     ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, doc = excluded.doc",
                    &[&ids, &modified, &docs],
                )
                .map_err(pg)?;
            }
            // The packages each stored advisory names, as it now says (a
            // changed one, in `stale`, named others before; a new one none).
            if !stale.is_empty() {
                tx.execute("DELETE FROM advisory_packages WHERE advisory = ANY($1)", &[&stale])
                    .map_err(pg)?;
            }
            let named: Vec<(&str, &str, &str)> = kept
                .iter()
                .flat_map(|a| {
                    a.affected
                        .iter()
                        .map(move |x| (x.ecosystem.as_str(), x.name.as_str(), a.id.as_str()))
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            for chunk in named.chunks(ROWS_PER_STATEMENT) {
                let ecosystems: Vec<&str> = chunk.iter().map(|n| n.0).collect();
                let names: Vec<&str> = chunk.iter().map(|n| n.1).collect();
                let advisories: Vec<&str> = chunk.iter().map(|n| n.2).collect();
                tx.execute(
                    "INSERT INTO advisory_packages (ecosystem, name, advisory)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
                    &[&ecosystems, &names, &advisories],
                )
                .map_err(pg)?;
            }
            if !stale.is_empty() {
                tx.execute("DELETE FROM package_findings WHERE advisory = ANY($1)", &[&stale])
                    .map_err(pg)?;
                tx.execute("DELETE FROM findings WHERE advisory = ANY($1)", &[&stale])
                    .map_err(pg)?;
            }
            insert_package_findings(tx, findings, true)
        })
    }

    fn put_package_findings(&self, findings: &[PackageFinding], event: NewEvent) -> Result<Event> {
        self.write(event, |tx| insert_package_findings(tx, findings, false))
    }

    fn findings(&self, app: Option<&str>, version: Option<&str>, advisory: Option<&str>) -> Result<Vec<Finding>> {
        let derived = self.rows(
            "SELECT c.application, c.version, c.purl, c.attached_at, pf.advisory, pf.doc
             FROM components c JOIN package_findings pf
               ON pf.ecosystem = c.ecosystem AND pf.name = c.name AND pf.pkg_version = c.pkg_version
             WHERE ($1::text IS NULL OR c.application = $1) AND ($2::text IS NULL OR c.version = $2)
               AND ($3::text IS NULL OR pf.advisory = $3)",
            &[&app, &version, &advisory],
            |r| {
                let doc: PackageFindingDoc = from_doc("package finding", &r.get::<_, String>(5))?;
                Ok(doc.on(r.get(0), r.get(1), r.get(2), r.get(4), r.get(3)))
            },
        )?;
        let legacy = self.docs(
            "finding",
            "SELECT doc FROM findings
             WHERE ($1::text IS NULL OR application = $1) AND ($2::text IS NULL OR version = $2)
               AND ($3::text IS NULL OR advisory = $3)",
            &[&app, &version, &advisory],
        )?;
        Ok(merge_findings(derived, legacy))
    }
}
