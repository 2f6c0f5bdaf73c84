//! The PostgreSQL store against a real server (a throwaway cluster): several
//! stores on one database behave as several sidecars do.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use std::sync::{Arc, Barrier};

use gatehouse_core::audit::{ChainVerifier, EventResult, NewEvent};
use gatehouse_core::error::Kind;
use gatehouse_store::{EventFilter, Store};
use gatehouse_store_postgres::{Options, PgStore};
use gatehouse_test_postgres::Cluster;

fn cluster() -> Cluster {
    Cluster::start().unwrap_or_else(|e| panic!("{e}"))
}

fn event(actor: &str, n: usize) -> NewEvent {
    NewEvent {
        actor: actor.to_string(),
        action: "test.append".into(),
        subject: format!("item:{n}"),
        application: Some("payments".into()),
        version: None,
        result: EventResult::Success,
        details: serde_json::json!({ "n": n, "text": "ünïcode", "big": 9007199254740993u64 }),
    }
}

fn all(store: &PgStore) -> Vec<gatehouse_core::audit::Event> {
    store.all_events().unwrap()
}

/// The chain verifies from its first event to the head the store reports.
fn assert_one_chain(store: &PgStore, expected: usize) {
    let events = all(store);
    assert_eq!(events.len(), expected);
    let mut v = ChainVerifier::new(store.log_format().unwrap());
    for e in &events {
        v.push(e)
            .unwrap_or_else(|b| panic!("the chain breaks at {}: {}", b.seq, b.reason));
    }
    let head = store.log_head().unwrap();
    assert_eq!(head.seq, expected as i64);
    assert_eq!(head.hash, events.last().unwrap().hash);
}

#[test]
fn sidecars_starting_together_on_an_empty_database_migrate_once() {
    let pg = cluster();
    let url = pg.create_database().unwrap();
    let start = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                PgStore::open(&url, &Options::default()).map(|s| s.schema_version().unwrap())
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), 4);
    }
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(
        pg.psql(
            db,
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations"
        )
        .unwrap(),
        "1,2,3,4",
        "each migration applied once"
    );
    assert_eq!(pg.psql(db, "SELECT seq FROM log_head").unwrap(), "0");
}

#[test]
fn concurrent_appenders_on_two_sidecars_make_one_chain_without_a_fork() {
    let pg = cluster();
    let url = pg.create_database().unwrap();
    let sidecars: Vec<Arc<PgStore>> = (0..2)
        .map(|_| Arc::new(PgStore::open(&url, &Options::default()).unwrap()))
        .collect();
    let (threads, each) = (8, 25);
    let start = Arc::new(Barrier::new(threads * sidecars.len()));
    let mut handles = Vec::new();
    for (s, store) in sidecars.iter().enumerate() {
        for t in 0..threads {
            let (store, start) = (store.clone(), start.clone());
            handles.push(std::thread::spawn(move || {
                start.wait();
                (0..each)
                    .map(|n| {
                        store
                            .append_event(event(&format!("sidecar{s}-thread{t}"), n))
                            .unwrap()
                            .seq
                    })
                    .collect::<Vec<_>>()
            }));
        }
    }
    let mut seqs: Vec<i64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    seqs.sort_unstable();
    let total = threads * each * sidecars.len();
    assert_eq!(
        seqs,
        (1..=total as i64).collect::<Vec<_>>(),
        "every append got its own place"
    );
    for store in &sidecars {
        assert_one_chain(store, total);
    }
    // What one sidecar wrote, the other reads back as written.
    let mine = sidecars[1]
        .events(&EventFilter {
            actor: Some("sidecar0-thread3".into()),
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(mine.len(), each);
    assert_eq!(mine[0].details["text"], "ünïcode");
}

#[test]
fn a_change_and_its_event_commit_together_or_not_at_all() {
    let pg = cluster();
    let url = pg.create_database().unwrap();
    let store = PgStore::open(&url, &Options::default()).unwrap();
    store.append_event(event("a", 0)).unwrap();
    let refused = store.write_many(vec![event("a", 1)], |tx| {
        tx.execute("INSERT INTO bindings (id, doc) VALUES ('b1', '{}')", &[])
            .unwrap();
        Err(gatehouse_core::Error::Conflict {
            reason: "refused after a write".into(),
        })
    });
    assert!(matches!(refused, Err(gatehouse_core::Error::Conflict { .. })));
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(pg.psql(db, "SELECT count(*) FROM bindings").unwrap(), "0");
    assert_one_chain(&store, 1);
    store
        .write_many(vec![event("a", 2)], |tx| {
            tx.execute("INSERT INTO bindings (id, doc) VALUES ('b1', '{}')", &[])
                .map(|_| ())
                .map_err(|e| gatehouse_core::Error::internal("insert", e))
        })
        .unwrap();
    assert_eq!(pg.psql(db, "SELECT count(*) FROM bindings").unwrap(), "1");
    assert_one_chain(&store, 2);
}

#[test]
fn the_log_cannot_be_edited_truncated_or_forked_by_sql() {
    let pg = cluster();
    let url = pg.create_database().unwrap();
    let store = PgStore::open(&url, &Options::default()).unwrap();
    for n in 0..3 {
        store.append_event(event("a", n)).unwrap();
    }
    let db = url.rsplit('/').next().unwrap();
    for sql in [
        "UPDATE activity SET actor = 'mallory' WHERE seq = 2",
        "DELETE FROM activity WHERE seq = 3",
        "TRUNCATE activity",
        "UPDATE log_format SET from_seq = 2",
    ] {
        let e = pg.psql(db, sql).unwrap_err().to_string();
        assert!(e.contains("append-only") || e.contains("recorded once"), "{sql}: {e}");
    }
    // A second event with a taken place is refused by the key.
    let e = pg
        .psql(
            db,
            "INSERT INTO activity (seq, time, actor, action, subject, result, details, prev_hash, hash)
             VALUES (2, 't', 'm', 'x', 's', 'success', '{}', 'p', 'h')",
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("duplicate key"), "{e}");
    assert_one_chain(&store, 3);
}

#[test]
fn a_newer_schema_is_refused_by_name() {
    let pg = cluster();
    let url = pg.create_database().unwrap();
    PgStore::open(&url, &Options::default()).unwrap();
    let db = url.rsplit('/').next().unwrap();
    pg.psql(db, "INSERT INTO schema_migrations (version) VALUES (99)")
        .unwrap();
    let e = PgStore::open(&url, &Options::default()).err().unwrap().to_string();
    assert!(e.contains("version 99") && e.contains("newer gatehouse"), "{e}");
}

#[test]
fn a_store_that_loses_its_database_fails_undecided_and_recovers() {
    let pg = cluster();
    let url = pg.create_database().unwrap();
    let options = Options {
        connect_timeout: std::time::Duration::from_secs(2),
        ..Options::default()
    };
    let store = PgStore::open(&url, &options).unwrap();
    store.append_event(event("a", 0)).unwrap();
    assert_eq!(store.log_head().unwrap().seq, 1);
    pg.stop().unwrap();
    let e = store.append_event(event("a", 1)).unwrap_err();
    assert_eq!(e.kind(), Kind::Unavailable, "{e}");
    let e = store.log_head().unwrap_err();
    assert_eq!(e.kind(), Kind::Unavailable, "{e}");
    pg.restart().unwrap();
    // Every pooled connection died with the server: the first read after
    // the restart still answers (the dead ones are skipped, not reported).
    assert_eq!(store.log_head().unwrap().seq, 1);
    store.append_event(event("a", 2)).unwrap();
    assert_one_chain(&store, 2);
}

#[test]
fn a_bad_url_is_refused_without_its_password() {
    let e = PgStore::open("postgres://u:s3cret@127.0.0.1:1/db?sslmode=bogus", &Options::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("database_url") && !e.contains("s3cret"), "{e}");
}

/// An advisory import sends its rows in a few statements; an id (or a
/// finding's key) given twice is stored once, the later one winning, as the
/// embedded store does row by row.
#[test]
fn an_import_naming_an_advisory_or_finding_twice_keeps_the_later_one() {
    use gatehouse_core::sbom::Component;
    use gatehouse_core::vuln::{Advisory, PackageFinding, PackageVersion};
    let pg = cluster();
    let url = pg.create_database().unwrap();
    let store = PgStore::open(&url, &Options::default()).unwrap();
    let advisory = |id: &str, modified: &str| Advisory {
        id: id.into(),
        aliases: Vec::new(),
        modified: modified.into(),
        withdrawn: None,
        summary: None,
        severity: None,
        affected: Vec::new(),
    };
    let jinja = PackageVersion {
        ecosystem: "PyPI".into(),
        name: "jinja2".into(),
        version: "2.10".into(),
    };
    let component = Component {
        purl: "pkg:pypi/jinja2@2.10".into(),
        ecosystem: Some(jinja.ecosystem.clone()),
        name: jinja.name.clone(),
        version: jinja.version.clone(),
        licenses: Vec::new(),
    };
    store
        .put_components("payments", "1.0.0", &[component], event("ci", 1))
        .unwrap();
    let finding = |advisory: &str, reason: &str| PackageFinding {
        package: jinja.clone(),
        advisory: advisory.into(),
        aliases: Vec::new(),
        severity: None,
        reason: reason.into(),
        found_at: "2026-12-02T00:00:00Z".into(),
    };
    let advisories = [
        advisory("A-1", "2026-01-01T00:00:00Z"),
        advisory("A-2", "2026-01-01T00:00:00Z"),
        advisory("A-1", "2026-02-02T00:00:00Z"),
    ];
    let findings = [
        finding("A-1", "first"),
        finding("A-2", "other"),
        finding("A-1", "second"),
    ];
    store
        .import_advisories(&advisories, &findings, &[], vec![event("importer", 2)])
        .unwrap();
    let modified = store.advisories_modified(&["A-1", "A-2", "A-3"]).unwrap();
    assert_eq!(modified.len(), 2, "{modified:?}");
    assert_eq!(modified["A-1"], "2026-02-02T00:00:00Z");
    let stored = store.findings(Some("payments"), Some("1.0.0"), None).unwrap();
    let reasons: Vec<(&str, &str)> = stored
        .iter()
        .map(|f| (f.advisory.as_str(), f.reason.as_str()))
        .collect();
    assert_eq!(reasons, [("A-1", "second"), ("A-2", "other")]);
    assert_one_chain(&store, 2);
}
