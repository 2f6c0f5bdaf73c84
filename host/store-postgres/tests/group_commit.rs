//! Group commit on both backends: writers that arrive while a commit is in
//! flight share the next one, each keeps its own answer (a refused write is
//! undone alone), and the log stays one chain — on the embedded store, on
//! PostgreSQL, and on PostgreSQL written by several stores (sidecars) at once.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use std::sync::{Arc, Barrier};

use gatehouse_core::app::NewApplication;
use gatehouse_core::audit::{ChainVerifier, EventResult, NewEvent};
use gatehouse_core::error::Kind;
use gatehouse_store::{AppFilter, EventFilter, SqliteStore, Store};
use gatehouse_store_postgres::{Options, PgStore};
use gatehouse_test_postgres::Cluster;

fn event(key: &str) -> NewEvent {
    NewEvent {
        actor: "tester".into(),
        action: "application.create".into(),
        subject: format!("application:{key}"),
        application: Some(key.into()),
        version: None,
        result: EventResult::Success,
        details: serde_json::json!({ "key": key }),
    }
}

fn app(key: &str) -> gatehouse_core::app::Application {
    let new: NewApplication = serde_json::from_value(serde_json::json!({ "key": key })).unwrap();
    new.into_application("2026-12-02T00:00:00Z").unwrap()
}

#[test]
fn concurrent_writers_share_commits_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    concurrent_writers_share_commits_and_each_gets_its_own_answer(&[store]);
}

#[test]
fn concurrent_writers_share_commits_on_postgresql() {
    let url = Cluster::shared().create_database().unwrap();
    let store: Arc<dyn Store> = Arc::new(PgStore::open(&url, &Options::default()).unwrap());
    concurrent_writers_share_commits_and_each_gets_its_own_answer(&[store]);
}

#[test]
fn concurrent_writers_of_three_sidecars_share_commits_on_postgresql() {
    let url = Cluster::shared().create_database().unwrap();
    let stores: Vec<Arc<dyn Store>> = (0..3)
        .map(|_| Arc::new(PgStore::open(&url, &Options::default()).unwrap()) as Arc<dyn Store>)
        .collect();
    concurrent_writers_share_commits_and_each_gets_its_own_answer(&stores);
}

/// 16 threads spread over `stores` (one database) write 30 times each.
fn concurrent_writers_share_commits_and_each_gets_its_own_answer(stores: &[Arc<dyn Store>]) {
    let store = &stores[0];
    store.create_application(&app("taken"), event("taken")).unwrap();
    let (threads, each) = (16, 30);
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, start) = (stores[t % stores.len()].clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                (0..each)
                    .map(|n| {
                        // Every seventh write asks for a key that is taken: refused alone.
                        let key = if n % 7 == 3 {
                            "taken".to_string()
                        } else {
                            format!("app-{t}-{n}")
                        };
                        (key.clone(), store.create_application(&app(&key), event(&key)))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut created = 0;
    for h in handles {
        for (key, answer) in h.join().unwrap() {
            match answer {
                Ok(e) => {
                    assert_ne!(key, "taken");
                    assert_eq!(e.application.as_deref(), Some(key.as_str()));
                    created += 1;
                }
                Err(e) => assert!(key == "taken" && e.kind() == Kind::Conflict, "{key}: {e}"),
            }
        }
    }
    let apps = store
        .applications(&AppFilter {
            limit: 10_000,
            ..AppFilter::default()
        })
        .unwrap();
    assert_eq!(apps.len(), created + 1, "every acknowledged write and nothing else");
    let events = store
        .events(&EventFilter {
            limit: 10_000,
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(events.len(), created + 1, "one event per write that committed");
    let mut chain = ChainVerifier::new(store.log_format().unwrap());
    for e in &events {
        chain
            .push(e)
            .unwrap_or_else(|b| panic!("broken at {}: {}", b.seq, b.reason));
    }
    let (commits, writes) = stores
        .iter()
        .map(|s| s.commit_stats().unwrap())
        .fold((0, 0), |(c, w), (c1, w1)| (c + c1, w + w1));
    assert_eq!(writes as usize, created + 1, "every committed write is counted once");
    assert!(
        commits < writes,
        "some writes shared a commit ({commits} commits for {writes} writes)"
    );
}
