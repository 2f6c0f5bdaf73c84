//! Trusted Release records end to end: a version goes to prod through real
//! gates with real evidence, is released, and its record verifies offline with
//! `gatehouse verify` and with the in-toto reference library; tampering,
//! another key and a foreign artifact are refused; records are immutable; the
//! signed checkpoint exposes a truncated log.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use gatehouse_e2e::{Server, cli, create_token, data, request, stderr, stdout};
use serde_json::{Value, json};

fn sslib(args: &[&str]) -> (bool, String) {
    let py = std::env::var("GATEHOUSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/sslib.py");
    let out = Command::new(py).arg(script).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

const CONFIG: &str = r#"
[[bindings]]
id = "tests-before-dev"
check = "policy:baseline.tests"
gate = { stage = "dev", kind = "entry" }

[[bindings]]
id = "provenance-to-release"
check = "policy:baseline.provenance"
gate = { stage = "prod", kind = "release" }
"#;

#[test]
fn a_released_version_has_a_record_anyone_can_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // It edits gatehouse.db itself: the embedded store whatever the run's backend.
    gatehouse_e2e::embedded_only(d);
    let config = d.join("gatehouse.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server = Server::start_with(d, &["--config", config.to_str().unwrap()]);
    let admin = create_token(d, "alice", "admin");
    let rm = create_token(d, "rob", "release-manager");
    let call = |token: &str, method: &str, path: &str, body: Value| {
        request(
            server.addr,
            method,
            path,
            Some(body.to_string().as_bytes()),
            Some(token),
        )
    };
    let pem = std::fs::read_to_string(data("dsse/keys/primary.ed25519.pub.pem")).unwrap();
    assert_eq!(
        call(
            &admin,
            "POST",
            "/v1/trusted-keys",
            json!({"name": "ci", "public_key": pem})
        )
        .0,
        201
    );
    assert_eq!(
        call(
            &admin,
            "POST",
            "/v1/applications",
            json!({"key": "relgov", "criticality": "high"})
        )
        .0,
        201
    );
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(data("dsse/expected.json")).unwrap()).unwrap();
    let crate_sha = expected["subject_artifact"]["sha256"].as_str().unwrap().to_string();
    let art = json!([{ "name": "relgov-fixture-rust-0.1.0.crate", "kind": "package", "sha256": crate_sha }]);
    let v = json!({"version": "0.1.0", "artifacts": art, "vcs": {"repo": "https://git.example/relgov", "revision": "8f18949c"}});
    assert_eq!(call(&admin, "POST", "/v1/applications/relgov/versions", v).0, 201);
    for name in ["test-result-v0.1", "slsa-provenance-v1"] {
        let env = std::fs::read(data(&format!("dsse/valid/{name}.dsse.json"))).unwrap();
        assert_eq!(
            request(server.addr, "POST", "/v1/evidence", Some(&env), Some(&admin)).0,
            200
        );
    }
    let base = "/v1/applications/relgov/versions/0.1.0";
    for stage in ["dev", "qa", "staging", "prod"] {
        let (s, r) = call(&rm, "POST", &format!("{base}/promote"), json!({"target_stage": stage}));
        assert_eq!(s, 200, "{stage}: {r}");
    }
    assert_eq!(
        call(&rm, "GET", &format!("{base}/trusted-release"), json!(null)).0,
        404,
        "no record before release"
    );
    let (s, r) = call(&rm, "POST", &format!("{base}/release"), json!({}));
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["version"]["release_status"], "trusted_release");

    // The record and the key, fetched the way an auditor would.
    let rec = d.join("record.json");
    let o = cli(
        d,
        &[
            "--config",
            config.to_str().unwrap(),
            "release",
            "show",
            "relgov",
            "0.1.0",
            "--out",
            rec.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (s, keys) = request(server.addr, "GET", "/v1/keys", None, None);
    assert_eq!(s, 200, "the release keys are public");
    let key = d.join("release.pub.pem");
    std::fs::write(&key, keys["items"][0]["public_key_pem"].as_str().unwrap()).unwrap();
    let crate_file = data("release/relgov-fixture-rust-0.1.0.crate");
    let verify = |record: &Path, key: &Path, artifact: &Path| {
        Command::new(gatehouse_e2e::gatehouse_bin())
            .args([
                "verify",
                record.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
                "--artifact",
                artifact.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let o = verify(&rec, &key, &crate_file);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    assert!(line.starts_with("OK: Trusted Release of relgov@0.1.0"), "{line}");
    assert!(
        line.contains("stages: dev, prod") || line.contains("stages: dev, qa, staging, prod"),
        "{line}"
    );
    assert!(line.contains("waivers: none") && line.contains("by rob"), "{line}");

    // The record's content: every gate evaluation, the evidence, the log head.
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&rec).unwrap()).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(record["payload"].as_str().unwrap())
        .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["predicateType"], "https://gatehouse.dev/trusted-release/v1");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], crate_sha.as_str());
    let p = &statement["predicate"];
    let stages: Vec<&str> = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["dev", "qa", "staging", "prod"]);
    let checks: Vec<&Value> = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["evaluations"].as_array().unwrap())
        .flat_map(|e| e["checks"].as_array().unwrap())
        .collect();
    assert!(checks.iter().any(|c| c["id"] == "policy:baseline.provenance"
        && c["kind"] == "policy"
        && c["digest"].as_str().map(str::len) == Some(64)));
    assert_eq!(p["evidence"].as_array().unwrap().len(), 2);
    assert_eq!(p["released_by"], "rob");
    assert!(p["activity_log"]["seq"].as_i64().unwrap() > 0 && p["activity_log"]["hash"].as_str().unwrap().len() == 64);

    // The in-toto reference library verifies it too.
    let (ok, out) = sslib(&["verify", rec.to_str().unwrap(), "1", key.to_str().unwrap()]);
    assert!(ok, "securesystemslib refused the record: {out}");

    // The VSA for consumers that understand them.
    let (s, vsa) = call(&rm, "GET", &format!("{base}/vsa"), json!(null));
    assert_eq!(s, 200);
    let vsa_statement: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(vsa["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        vsa_statement["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    assert_eq!(vsa_statement["predicate"]["verificationResult"], "PASSED");

    // One changed byte, another key, a foreign artifact: each refused with its reason.
    let mut tampered = record.clone();
    let mut statement2 = statement.clone();
    statement2["predicate"]["released_by"] = json!("mallory");
    tampered["payload"] = json!(base64::engine::general_purpose::STANDARD.encode(statement2.to_string()));
    let t = d.join("tampered.json");
    std::fs::write(&t, tampered.to_string()).unwrap();
    let o = verify(&t, &key, &crate_file);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad_signature"), "{}", stderr(&o));
    let forged = d.join("forged.json");
    let stmt_file = d.join("statement.json");
    std::fs::write(&stmt_file, &payload).unwrap();
    let (ok, out) = sslib(&[
        "sign",
        data("dsse/keys/other.ed25519.priv.pem").to_str().unwrap(),
        stmt_file.to_str().unwrap(),
        forged.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let o = verify(&forged, &key, &crate_file);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown_key"), "{}", stderr(&o));
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let o = verify(&rec, &key, &readme);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("subject_mismatch"), "{}", stderr(&o));

    // A record cannot be overwritten: rolled back and released again is refused.
    assert_eq!(
        call(&rm, "POST", &format!("{base}/rollback"), json!({"from_stage": "prod"})).0,
        200
    );
    assert_eq!(
        call(&rm, "POST", &format!("{base}/promote"), json!({"target_stage": "prod"})).0,
        200
    );
    let (s, r) = call(&rm, "POST", &format!("{base}/release"), json!({}));
    assert_eq!(s, 409, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("immutable"));
    let (_, again) = call(&rm, "GET", &format!("{base}/trusted-release"), json!(null));
    assert_eq!(again, record, "the stored record is unchanged");

    // A version whose release gate blocks gets no record.
    let v2 =
        json!({"version": "0.2.0", "artifacts": [{ "name": "other.tgz", "kind": "file", "sha256": "cd".repeat(32) }]});
    assert_eq!(call(&admin, "POST", "/v1/applications/relgov/versions", v2).0, 201);
    let result = d.join("result.json");
    std::fs::write(&result, r#"{"result": "PASSED"}"#).unwrap();
    let other = d.join("other.tgz");
    std::fs::write(&other, "x").unwrap();
    // Sign a test result about a file whose digest we then give the version.
    let out = Command::new("sha256sum").arg(&other).output().unwrap();
    let digest = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        call(
            &admin,
            "PATCH",
            "/v1/applications/relgov/versions/0.2.0",
            json!({"artifacts": [{"name": "other.tgz", "kind": "file", "sha256": digest}]})
        )
        .0,
        200
    );
    let env = d.join("tr.json");
    let o = cli(
        d,
        &[
            "evidence",
            "sign",
            "--key",
            data("dsse/keys/primary.ed25519.priv.pem").to_str().unwrap(),
            "--predicate-type",
            "https://in-toto.io/attestation/test-result/v0.1",
            "--predicate",
            result.to_str().unwrap(),
            "--subject",
            other.to_str().unwrap(),
            "--out",
            env.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        request(
            server.addr,
            "POST",
            "/v1/evidence",
            Some(&std::fs::read(&env).unwrap()),
            Some(&admin)
        )
        .0,
        200
    );
    for stage in ["dev", "qa", "staging", "prod"] {
        let (s, r) = call(
            &rm,
            "POST",
            "/v1/applications/relgov/versions/0.2.0/promote",
            json!({"target_stage": stage}),
        );
        assert_eq!(s, 200, "{stage}: {r}");
    }
    let (s, r) = call(&rm, "POST", "/v1/applications/relgov/versions/0.2.0/release", json!({}));
    assert_eq!(s, 409, "no provenance: the release gate blocks: {r}");
    assert_eq!(
        call(
            &rm,
            "GET",
            "/v1/applications/relgov/versions/0.2.0/trusted-release",
            json!(null)
        )
        .0,
        404
    );

    // The checkpoint signed at release exposes a truncated log.
    let o = cli(d, &["--config", config.to_str().unwrap(), "audit", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
    drop(server);
    let head = record_head(&statement);
    let db = rusqlite::Connection::open(d.join("gatehouse.db")).unwrap();
    db.execute_batch("DROP TRIGGER activity_no_delete;").unwrap();
    db.execute("DELETE FROM activity WHERE seq >= ?1", [head]).unwrap();
    drop(db);
    let o = cli(d, &["--config", config.to_str().unwrap(), "audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("truncated"), "{}", stdout(&o));
}

fn record_head(statement: &Value) -> i64 {
    statement["predicate"]["activity_log"]["seq"].as_i64().unwrap()
}

#[test]
fn rotating_the_release_key_keeps_old_records_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let release = |server: &Server, version: &str| {
        let token = server.token("ops");
        let call = |method: &str, path: &str, body: Value| {
            request(
                server.addr,
                method,
                path,
                Some(body.to_string().as_bytes()),
                Some(&token),
            )
        };
        let (s, _) = call("POST", "/v1/applications", json!({"key": "app1"}));
        assert!(s == 201 || s == 409);
        assert_eq!(
            call("POST", "/v1/applications/app1/versions", json!({"version": version})).0,
            201
        );
        for stage in ["dev", "qa", "staging", "prod"] {
            assert_eq!(
                call(
                    "POST",
                    &format!("/v1/applications/app1/versions/{version}/promote"),
                    json!({"target_stage": stage})
                )
                .0,
                200
            );
        }
        assert_eq!(
            call(
                "POST",
                &format!("/v1/applications/app1/versions/{version}/release"),
                json!({})
            )
            .0,
            200
        );
        let (_, record) = call(
            "GET",
            &format!("/v1/applications/app1/versions/{version}/trusted-release"),
            json!(null),
        );
        record
    };
    // First key: the default one, generated under the data directory.
    let server = Server::start(d);
    let old_record = release(&server, "1.0.0");
    drop(server);
    let old_pub = d.join("keys/release.ed25519.pub.pem");
    assert!(old_pub.exists(), "the generated key's public half is written beside it");
    // Rotate: a new key by path.
    let o = cli(d, &["keys", "generate", "--out", d.join("new-key").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let config = d.join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "release_key = {:?}\n",
            d.join("new-key/ed25519.priv.pem").display().to_string()
        ),
    )
    .unwrap();
    let server = Server::start_with(d, &["--config", config.to_str().unwrap()]);
    let new_record = release(&server, "2.0.0");
    let (_, keys) = request(server.addr, "GET", "/v1/keys", None, None);
    let items = keys["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{keys}");
    assert_eq!(items.iter().filter(|k| k["current"] == true).count(), 1);
    let old_key = d.join("old.pem");
    std::fs::write(
        &old_key,
        items.iter().find(|k| k["current"] == false).unwrap()["public_key_pem"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let new_key = d.join("new.pem");
    std::fs::write(
        &new_key,
        items.iter().find(|k| k["current"] == true).unwrap()["public_key_pem"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&old_key).unwrap(),
        std::fs::read_to_string(&old_pub).unwrap()
    );
    for (record, key, ok) in [
        (&old_record, &old_key, true),
        (&new_record, &new_key, true),
        (&old_record, &new_key, false),
    ] {
        let f = d.join("r.json");
        std::fs::write(&f, record.to_string()).unwrap();
        let o = Command::new(gatehouse_e2e::gatehouse_bin())
            .args(["verify", f.to_str().unwrap(), "--key", key.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(o.status.success(), ok, "{}", stderr(&o));
    }
    // The checkpoints signed with the old key still verify after rotation.
    let o = cli(d, &["--config", config.to_str().unwrap(), "audit", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
}
