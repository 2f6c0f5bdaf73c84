//! The CLI on a data directory: exit codes and messages users script against,
//! and `audit verify` against a tampered database.

use gatehouse_e2e::{cli, sha, stderr, stdout};

fn ok(dir: &std::path::Path, args: &[&str]) -> String {
    let o = cli(dir, args);
    assert!(o.status.success(), "gatehouse {args:?} failed: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn exit_codes_tell_bad_input_from_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &[
            "app",
            "create",
            "payments",
            "--project",
            "shop",
            "--criticality",
            "high",
            "--label",
            "tier=backend",
        ],
    );
    let artifact = format!("name=p.tgz,kind=file,sha256={}", sha(7));
    ok(
        d,
        &[
            "version",
            "create",
            "payments",
            "1.0.0",
            "--artifact",
            &artifact,
            "--vcs-repo",
            "r",
            "--vcs-revision",
            "abcdef1",
        ],
    );

    // Bad input: exit 2, the field named.
    for (args, words) in [
        (vec!["app", "create", "Payments"], vec!["`key`", "Payments"]),
        (
            vec!["app", "create", "other", "--criticality", "urgent"],
            vec!["criticality", "urgent"],
        ),
        (
            vec!["version", "create", "payments", "1.0"],
            vec!["`version`", "SemVer"],
        ),
        (
            vec![
                "version",
                "create",
                "payments",
                "2.0.0",
                "--artifact",
                "name=x,kind=file,sha256=12",
            ],
            vec!["artifacts[0].sha256"],
        ),
        (
            vec!["promote", "payments", "1.0.0", "preprod"],
            vec!["target_stage", "preprod"],
        ),
        (vec!["audit", "log", "--since", "soon"], vec!["since"]),
        (vec!["promote", "payments"], vec!["Usage"]),
    ] {
        let o = cli(d, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        for w in words {
            assert!(stderr(&o).contains(w), "{args:?}: {:?} lacks {w:?}", stderr(&o));
        }
    }

    // Refusals: exit 1, with the reason.
    ok(d, &["promote", "payments", "1.0.0", "dev"]);
    for (args, words) in [
        (vec!["promote", "payments", "1.0.0", "staging"], vec!["skip stage qa"]),
        (
            vec!["promote", "payments", "1.0.0", "dev"],
            vec!["already in stage dev"],
        ),
        (
            vec!["rollback", "payments", "1.0.0", "--from-stage", "qa"],
            vec!["from_stage is qa", "dev"],
        ),
        (vec!["release", "payments", "1.0.0"], vec!["last stage prod"]),
        (vec!["app", "create", "payments"], vec!["already exists"]),
        (
            vec!["version", "update", "payments", "1.0.0", "--tag", "x"],
            vec!["frozen"],
        ),
        (vec!["app", "show", "ghost"], vec!["not found"]),
        (vec!["app", "delete", "payments"], vec!["cannot be deleted"]),
    ] {
        let o = cli(d, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        for w in words {
            assert!(stderr(&o).contains(w), "{args:?}: {:?} lacks {w:?}", stderr(&o));
        }
    }

    // JSON output for scripts.
    let shown: serde_json::Value =
        serde_json::from_str(&ok(d, &["--output", "json", "version", "show", "payments", "1.0.0"])).unwrap();
    assert_eq!(shown["stage"], "dev");
    assert_eq!(shown["draft"], false);
    let log: serde_json::Value = serde_json::from_str(&ok(
        d,
        &[
            "--output", "json", "audit", "log", "--app", "payments", "--result", "failure",
        ],
    ))
    .unwrap();
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "version.promote",
            "version.promote",
            "version.rollback",
            "version.release",
            "application.delete"
        ]
    );
    assert!(log.as_array().unwrap().iter().all(|e| e["actor"] == "cli-tester"));
}

#[test]
fn project_lifecycles_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("fast.json");
    std::fs::write(&file, r#"{"projects": ["shop"], "stages": [{"name": "build"}, {"name": "canary", "skippable": true}, {"name": "live"}]}"#).unwrap();
    ok(d, &["lifecycle", "set", "fast", "--file", file.to_str().unwrap()]);
    assert!(ok(d, &["lifecycle", "list"]).contains("build -> canary? -> live"));
    ok(d, &["app", "create", "payments", "--project", "shop"]);
    ok(d, &["version", "create", "payments", "1.0.0"]);
    ok(d, &["promote", "payments", "1.0.0", "build"]);
    let out = ok(d, &["promote", "payments", "1.0.0", "live"]);
    assert!(out.contains("skipped stages: canary"), "{out}");
    ok(d, &["release", "payments", "1.0.0"]);

    let bad = d.join("bad.json");
    std::fs::write(&bad, r#"{"stages": [{"name": "a"}, {"name": "a"}]}"#).unwrap();
    let o = cli(d, &["lifecycle", "set", "broken", "--file", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("stages[1].name"), "{}", stderr(&o));
}

#[test]
fn audit_verify_names_the_first_edited_or_deleted_event() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // It edits gatehouse.db itself: the embedded store whatever the run's backend.
    gatehouse_e2e::embedded_only(d);
    ok(d, &["app", "create", "payments"]);
    ok(d, &["version", "create", "payments", "1.0.0"]);
    for stage in ["dev", "qa", "staging"] {
        ok(d, &["promote", "payments", "1.0.0", stage]);
    }
    assert!(ok(d, &["audit", "verify"]).contains("intact: 5 events"));

    let db = rusqlite::Connection::open(d.join("gatehouse.db")).unwrap();
    db.execute_batch("DROP TRIGGER activity_no_update; DROP TRIGGER activity_no_delete;")
        .unwrap();

    // Deleting a row: the gap is named.
    db.execute("DELETE FROM activity WHERE seq = 4", []).unwrap();
    let o = cli(d, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("BROKEN at event 4") && stdout(&o).contains("missing"),
        "{}",
        stdout(&o)
    );

    // Editing an earlier row: that one is named first.
    db.execute("UPDATE activity SET details = '{\"forged\":true}' WHERE seq = 2", [])
        .unwrap();
    let o = cli(d, &["--output", "json", "audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["broken"]["seq"], 2);
    assert!(report["broken"]["reason"].as_str().unwrap().contains("edited"));
}
