//! What signing the log head costs a write transaction: the same write (one
//! application created, one event appended, committed with fsync) on a store
//! that signs every new head with the release key and on one that does not,
//! side by side in one run. Also on /dev/shm (no fsync cost), where the
//! signature's share is clearest.
//!
//!     cargo bench -p gatehouse-host --bench store

use std::path::Path;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gatehouse::app::NewApplication;
use gatehouse::audit::{EventResult, NewEvent};
use gatehouse::error::parse_input;
use gatehouse::store::SqliteStore;
use gatehouse::store::Store;
use serde_json::json;

fn store(dir: &Path, signed: bool) -> SqliteStore {
    let mut store = SqliteStore::open(dir).expect("open store");
    if signed {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        store.sign_heads_with(&key, &[]).expect("sign heads");
    }
    store
}

fn create(store: &SqliteStore, i: u64) {
    let input: NewApplication = parse_input("application", json!({ "key": format!("app-{i}") })).expect("input");
    let app = input.into_application("2026-12-02T00:00:00Z").expect("application");
    let event = NewEvent {
        actor: "bench".into(),
        action: "application.create".into(),
        subject: format!("application:{}", app.key),
        application: Some(app.key.clone()),
        version: None,
        result: EventResult::Success,
        details: json!({ "application": app }),
    };
    store.create_application(&app, event).expect("write");
}

fn bench(c: &mut Criterion) {
    let shm = Path::new("/dev/shm");
    let places: Vec<(&str, Option<&Path>)> = if shm.is_dir() {
        vec![("disk", None), ("shm", Some(shm))]
    } else {
        vec![("disk", None)]
    };
    let mut g = c.benchmark_group("write_transaction");
    for (place, root) in places {
        for signed in [false, true] {
            let dir = match root {
                Some(r) => tempfile::tempdir_in(r),
                None => tempfile::tempdir(),
            }
            .expect("temp dir");
            let s = store(dir.path(), signed);
            let mut i = 0u64;
            let name = format!("{place}/{}", if signed { "signed_head" } else { "unsigned_head" });
            g.bench_function(name, |b| {
                b.iter_batched(
                    || {
                        i += 1;
                        i
                    },
                    |i| create(&s, i),
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
