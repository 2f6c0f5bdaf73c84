//! Backup and restore: the embedded store copied while a sidecar writes to
//! it, restored only when the copy's chain verifies; and PostgreSQL's own
//! way (pg_dump / pg_restore), after which the record verifies as before.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gatehouse_e2e::{Server, cli, create_token, gatehouse_bin, plugin_cache, request, stderr, stdout};
use gatehouse_test_postgres::Cluster;
use serde_json::{Value, json};

#[test]
fn a_backup_taken_under_load_restores_every_write_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    gatehouse_e2e::embedded_only(d);
    let token = create_token(d, "writer", "admin");
    let server = Server::start(d);
    let addr = server.addr;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acknowledged, stop, token) = (acknowledged.clone(), stop.clone(), token.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("app-{n}");
                let (s, _) = request(
                    addr,
                    "POST",
                    "/v1/applications",
                    Some(json!({ "key": key }).to_string().as_bytes()),
                    Some(&token),
                );
                if s == 201 {
                    acknowledged.lock().unwrap().push(key);
                }
                n += 1;
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let backups = tempfile::tempdir().unwrap();
    let out = backups.path().join("under-load.db");
    let o = cli(d, &["--output", "json", "backup", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    // The sidecar reports its commits and the writes they held (group commit).
    let metrics = gatehouse_e2e::raw_request(addr, "GET", "/metrics", None, "").unwrap();
    let text = String::from_utf8_lossy(&metrics);
    let value = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing: {text}"))
    };
    assert!(value("gatehouse_store_committed_writes_total ") >= value("gatehouse_store_commits_total "));
    assert!(value("gatehouse_store_commits_total ") > 0);
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(report["chain"]["broken"].is_null(), "{report}");

    // A second backup to the same file is refused: a backup never overwrites.
    let o = cli(d, &["backup", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // Restored into a data directory with the same keys (and no store).
    let target = tempfile::tempdir().unwrap();
    let t = target.path();
    gatehouse_e2e::embedded_only(t);
    gatehouse_e2e::copy_dir(&d.join("keys"), &t.join("keys"));
    let o = cli(t, &["--output", "json", "restore", "--from", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let restored = Server::start(t);
    for key in &before {
        let (s, _) = request(
            restored.addr,
            "GET",
            &format!("/v1/applications/{key}"),
            None,
            Some(&token),
        );
        assert_eq!(s, 200, "{key} was acknowledged before the backup began");
    }
    let o = cli(t, &["audit", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
    // Restoring over a store is refused.
    let o = cli(t, &["restore", "--from", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    drop(server);
}

#[test]
fn a_tampered_backup_is_not_restored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    gatehouse_e2e::embedded_only(d);
    for key in ["one", "two", "three"] {
        let o = cli(d, &["app", "create", key]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let out = dir.path().join("copy.db");
    let o = cli(d, &["backup", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let db = rusqlite::Connection::open(&out).unwrap();
    db.execute_batch("DROP TRIGGER activity_no_update; UPDATE activity SET actor = 'mallory' WHERE seq = 2;")
        .unwrap();
    drop(db);
    let target = tempfile::tempdir().unwrap();
    let t = target.path();
    gatehouse_e2e::embedded_only(t);
    gatehouse_e2e::copy_dir(&d.join("keys"), &t.join("keys"));
    let o = cli(t, &["--output", "json", "restore", "--from", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let refusal: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(refusal["error"]["code"], "chain_broken", "{refusal}");
    assert!(
        refusal["error"]["message"].as_str().unwrap().contains("event 2"),
        "{refusal}"
    );
    assert!(!t.join("gatehouse.db").exists(), "nothing was restored");
    let leftovers: Vec<_> = std::fs::read_dir(t)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

#[test]
fn pg_dump_and_pg_restore_keep_a_record_that_verifies() {
    let cluster = Cluster::shared();
    let source = cluster.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let env = [("GATEHOUSE_DATABASE_URL", source.as_str())];
    let gatehouse = |url: &str, args: &[&str]| {
        Command::new(gatehouse_bin())
            .arg("--data-dir")
            .arg(d)
            .args(args)
            .env("GATEHOUSE_DATABASE_URL", url)
            .env("GATEHOUSE_PLUGIN_CACHE_DIR", plugin_cache())
            .env("GATEHOUSE_ACTOR", "cli-tester")
            .output()
            .unwrap()
    };
    let o = gatehouse(&source, &["token", "create", "--name", "admin", "--role", "admin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let token = stdout(&o).trim().to_string();
    {
        let server = Server::start_env(d, &[], &env);
        gatehouse_e2e::seed_with(&server, &token, "shop", "1.0.0");
        let (s, b) = request(
            server.addr,
            "POST",
            "/v1/activity/checkpoints",
            Some(b"{}"),
            Some(&token),
        );
        assert_eq!(s, 201, "{b}");
    }
    let dump = dir.path().join("gatehouse.dump");
    let pg_bin = |tool: &str| {
        let bindir = Command::new("pg_config").arg("--bindir").output().ok();
        match bindir.filter(|o| o.status.success()) {
            Some(o) => std::path::Path::new(stdout(&o).trim()).join(tool),
            None => tool.into(),
        }
    };
    let o = Command::new(pg_bin("pg_dump"))
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(&dump)
        .arg(&source)
        .output()
        .unwrap();
    assert!(o.status.success(), "pg_dump: {}", stderr(&o));
    let restored = cluster.create_database().unwrap();
    let o = Command::new(pg_bin("pg_restore"))
        .args(["--no-owner", "--exit-on-error", "--dbname", &restored])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(o.status.success(), "pg_restore: {}", stderr(&o));
    let before = gatehouse(&source, &["--output", "json", "audit", "verify"]);
    let after = gatehouse(&restored, &["--output", "json", "audit", "verify"]);
    assert!(after.status.success(), "{}{}", stdout(&after), stderr(&after));
    let (before, after): (Value, Value) = (
        serde_json::from_str(&stdout(&before)).unwrap(),
        serde_json::from_str(&stdout(&after)).unwrap(),
    );
    assert!(after["broken"].is_null(), "{after}");
    assert_eq!(before, after, "the restored record is the dumped one");
    // The restored database takes writes on the same chain.
    let o = gatehouse(&restored, &["app", "create", "after-restore"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = gatehouse(&restored, &["audit", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
}
