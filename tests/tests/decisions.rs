//! Gate integrity II — decisions that stay true, end to end on the real
//! binary over REST: waiver decisions are one compare-and-set (races as
//! bounded loops of concurrent requests, zero wrong outcomes), waivers cover
//! only what they were approved for, four-eyes compares normalised names, a
//! revocation during a slow gate cannot be outrun, lifecycle edits and
//! promotions do not interleave, and `gatehouse verify` checks what a record
//! is about.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use gatehouse_e2e::{
    Server, check_result, cli, create_token, put_binding, request, sha256_file, stderr, stdout, wasm_dir,
};
use serde_json::{Value, json};

fn call(server: &Server, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let bytes = body.to_string();
    let body = if body.is_null() { None } else { Some(bytes.as_bytes()) };
    request(server.addr, method, path, body, Some(token))
}

fn in_an_hour() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", "+3600 seconds", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A policy that always fails, uploaded and bound at `stage`'s entry gate.
fn failing_policy(server: &Server, name: &str, stage: &str) {
    let source = format!("package {name}\nimport rego.v1\ndeny contains \"{name} always fails\" if true\n");
    let (s, r) = server.send(
        "PUT",
        &format!("/v1/policies/{name}"),
        Some(json!({"source": source}).to_string().as_bytes()),
        "admin",
    );
    assert_eq!(s, 200, "{r}");
    let (s, r) = put_binding(server, name, &format!("policy:{name}"), stage, json!({}));
    assert_eq!(s, 200, "{r}");
}

fn request_waiver(server: &Server, token: &str, version: &str, stage: &str, check: Option<&str>) -> String {
    let (s, w) = call(
        server,
        token,
        "POST",
        "/v1/waivers",
        json!({"application": "shop", "version": version, "gate": {"stage": stage, "kind": "entry"},
               "check": check, "justification": "known failure, tracked in INC-9", "expires_at": in_an_hour()}),
    );
    assert_eq!(s, 201, "{w}");
    w["id"].as_str().unwrap().to_string()
}

/// Item 4: approve racing reject, and approve racing revoke, 20 runs each.
#[test]
fn concurrent_waiver_decisions_never_both_win() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d);
    let dev = create_token(d, "dana", "developer");
    let a1 = create_token(d, "ann", "approver");
    let a2 = create_token(d, "abe", "approver");
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    for run in 0..20 {
        let id = request_waiver(&server, &dev, "1.0.0", "qa", None);
        let second = if run % 2 == 0 { "reject" } else { "revoke" };
        let (first, other) = std::thread::scope(|s| {
            let approve = s.spawn(|| call(&server, &a1, "POST", &format!("/v1/waivers/{id}/approve"), json!({})));
            let decide = s.spawn(|| call(&server, &a2, "POST", &format!("/v1/waivers/{id}/{second}"), json!({})));
            (approve.join().unwrap(), decide.join().unwrap())
        });
        let (_, w) = call(&server, &a1, "GET", &format!("/v1/waivers/{id}"), Value::Null);
        let status = w["status"].as_str().unwrap();
        let codes = (first.0, other.0);
        match second {
            "reject" => {
                assert!(
                    codes == (200, 409) || codes == (409, 200),
                    "run {run}: {codes:?} {first:?} {other:?}"
                );
                let winner = if codes.0 == 200 { "approved" } else { "rejected" };
                assert_eq!(
                    status, winner,
                    "run {run}: the stored decision is the one that answered 200"
                );
            }
            _ => {
                // Revoke after approve is legitimate; what may never happen is a
                // revoke that answered 200 and a waiver left in force.
                assert!(codes.0 == 200 || codes.1 == 200, "run {run}: {codes:?}");
                if codes.1 == 200 {
                    assert_eq!(status, "revoked", "run {run}: {codes:?}");
                } else {
                    assert_eq!((codes, status), ((200, 409), "approved"), "run {run}");
                }
            }
        }
    }
}

/// Item 6: names are compared normalised; look-alike and control-character
/// names are refused where they are made.
#[test]
fn four_eyes_compares_normalised_names_and_names_stay_printable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d);
    // The attack: an approver token named "dana " approving dana's waiver.
    let o = cli(d, &["token", "create", "--name", "dana ", "--role", "approver"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("normal form"), "{}", stderr(&o));
    let o = cli(d, &["token", "create", "--name", "\u{FF44}ana", "--role", "approver"]);
    assert_eq!(o.status.code(), Some(2), "a full-width look-alike: {}", stdout(&o));

    let admin = server.token("admin");
    for name in ["Pay\u{1b}[2Jments", "evil\u{202E}gnp.exe"] {
        let (s, r) = call(
            &server,
            &admin,
            "POST",
            "/v1/applications",
            json!({"key": "shop", "name": name}),
        );
        assert_eq!(s, 400, "{name:?}: {r}");
        assert_eq!(r["error"]["field"], "name", "{r}");
    }
    let (s, r) = call(
        &server,
        &admin,
        "POST",
        "/v1/applications",
        json!({"key": "shop", "labels": {"team": "pay\u{202E}"}}),
    );
    assert_eq!(s, 400, "{r}");
}

/// Item 5: a waiver covers the artifacts and the failing checks it was approved
/// for, nothing else; a re-created application starts clean.
#[test]
fn a_waiver_covers_only_what_it_was_approved_for() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d);
    let dev = create_token(d, "dana", "developer");
    let approver = create_token(d, "ann", "approver");
    let admin = server.token("admin");
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    failing_policy(&server, "team.known", "dev");
    let promote = || {
        server.post(
            "/v1/applications/shop/versions/1.0.0/promote",
            &json!({"target_stage": "dev"}),
        )
    };
    assert_eq!(promote().0, 409);
    let id = request_waiver(&server, &dev, "1.0.0", "dev", None);
    assert_eq!(
        call(
            &server,
            &approver,
            "POST",
            &format!("/v1/waivers/{id}/approve"),
            json!({})
        )
        .0,
        200
    );
    let (_, w) = call(&server, &admin, "GET", &format!("/v1/waivers/{id}"), Value::Null);
    assert_eq!(w["covers"][0]["check"], "policy:team.known", "{w}");
    assert_eq!(w["version_digest"].as_str().map(str::len), Some(64), "{w}");

    // The draft's artifacts change after the approval: the waiver no longer applies.
    let base = "/v1/applications/shop/versions/1.0.0";
    let other = json!({"artifacts": [{"name": "app.tgz", "kind": "file", "sha256": "cd".repeat(32)}]});
    assert_eq!(call(&server, &dev, "PATCH", base, other).0, 200);
    let (s, r) = promote();
    assert_eq!(s, 409, "approved for other bytes: {r}");
    assert_eq!(check_result(&r, "policy:team.known")["outcome"], "fail", "{r}");
    let back = json!({"artifacts": [{"name": "app.tgz", "kind": "file", "sha256": "ab".repeat(32)}]});
    assert_eq!(call(&server, &dev, "PATCH", base, back).0, 200);

    // A check bound after the blanket waiver was approved is not covered by it.
    failing_policy(&server, "team.later", "dev");
    let (s, r) = promote();
    assert_eq!(s, 409, "{r}");
    assert_eq!(check_result(&r, "policy:team.known")["outcome"], "waived", "{r}");
    assert_eq!(check_result(&r, "policy:team.later")["outcome"], "fail", "{r}");

    // Deleted and re-created with the same key: no waiver or evaluation carries over.
    assert_eq!(
        call(&server, &admin, "DELETE", "/v1/bindings/team.later", Value::Null).0,
        200
    );
    assert_eq!(
        call(&server, &admin, "DELETE", "/v1/applications/shop", Value::Null).0,
        200
    );
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    let (_, ws) = call(&server, &admin, "GET", "/v1/waivers?application=shop", Value::Null);
    assert_eq!(ws["items"], json!([]), "{ws}");
    let (_, evals) = call(&server, &admin, "GET", &format!("{base}/evaluations"), Value::Null);
    assert_eq!(evals["items"], json!([]), "{evals}");
    let (s, r) = promote();
    assert_eq!(s, 409, "the old waiver does not cover the new application: {r}");
}

/// A loopback server that answers every request after `delay`.
fn slow_server(delay: std::time::Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                std::thread::sleep(delay);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            });
        }
    });
    port
}

/// A sidecar whose `dev` entry gate holds a warn-mode plugin check that
/// waits 1.5 s on a loopback server: the gate lasts, the check decides nothing.
fn slow_gate(request_timeout_ms: u64) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&plugins).unwrap();
    let port = slow_server(std::time::Duration::from_millis(1500));
    let wasm = plugins.join("hostile.wasm");
    std::fs::copy(wasm_dir().join("hostile.wasm"), &wasm).unwrap();
    std::fs::write(
        plugins.join("slow.toml"),
        format!(
            "name = \"slow-check\"\nversion = \"1.0.0\"\nworld = \"gate-check\"\nwasm = \"hostile.wasm\"\nsha256 = \"{}\"\n[config]\nmode = \"http\"\ntarget = \"http://127.0.0.1:{port}/slow\"\n[capabilities]\nallowed_hosts = [\"127.0.0.1:{port}\"]\ntimeout_ms = 10000\n",
            sha256_file(&wasm)
        ),
    )
    .unwrap();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_dir = {:?}\nrequest_timeout_ms = {request_timeout_ms}\n",
            plugins.display().to_string()
        ),
    )
    .unwrap();
    let server = Server::start_with(&data, &["--config", config.to_str().unwrap()]);
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    let (s, r) = server.send(
        "PUT",
        "/v1/bindings/slow",
        Some(
            json!({"check": "plugin:slow-check", "gate": {"stage": "dev", "kind": "entry"}, "mode": "warn"})
                .to_string()
                .as_bytes(),
        ),
        "admin",
    );
    assert_eq!(s, 200, "{r}");
    (dir, server)
}

/// Item 8: a gate slower than `request_timeout_ms` answers 503 and commits
/// nothing; the answer never contradicts the store.
#[test]
fn a_timeout_answer_means_nothing_was_committed() {
    let (_dir, server) = slow_gate(500);
    let path = "/v1/applications/shop/versions/1.0.0/promote";
    let (s, r) = server.post(path, &json!({"target_stage": "dev"}));
    assert_eq!(s, 503, "{r}");
    assert_eq!(r["error"]["code"], "timeout", "{r}");
    // Give any work that outlived the answer the time to commit: there must be none.
    std::thread::sleep(std::time::Duration::from_millis(2000));
    let (_, v) = server.get("/v1/applications/shop/versions/1.0.0");
    assert_eq!(v["stage"], Value::Null, "the 503 must not hide a promotion: {v}");
    let (_, log) = server.get("/v1/activity?action=version.promote");
    assert_eq!(log["items"], json!([]), "{log}");
    // A retry meets the same gate again, not "already in stage".
    let (s, r) = server.post(path, &json!({"target_stage": "dev"}));
    assert_eq!(s, 503, "{r}");
}

/// Item 7: a waiver revoked while a slow gate runs does not carry the promotion.
#[test]
fn a_revocation_during_the_gate_is_not_outrun() {
    let (dir, server) = slow_gate(30_000);
    let data = dir.path().join("data");
    let dev = create_token(&data, "dana", "developer");
    let approver = create_token(&data, "ann", "approver");
    failing_policy(&server, "team.known", "dev");
    let path = "/v1/applications/shop/versions/1.0.0/promote";
    assert_eq!(server.post(path, &json!({"target_stage": "dev"})).0, 409);
    let id = request_waiver(&server, &dev, "1.0.0", "dev", Some("policy:team.known"));
    assert_eq!(
        call(
            &server,
            &approver,
            "POST",
            &format!("/v1/waivers/{id}/approve"),
            json!({})
        )
        .0,
        200
    );

    let (promoted, revoked) = std::thread::scope(|s| {
        let promote = s.spawn(|| server.post(path, &json!({"target_stage": "dev"})));
        let revoke = s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(500));
            call(
                &server,
                &approver,
                "POST",
                &format!("/v1/waivers/{id}/revoke"),
                json!({}),
            )
        });
        (promote.join().unwrap(), revoke.join().unwrap())
    });
    assert_eq!(revoked.0, 200, "{revoked:?}");
    assert_eq!(
        promoted.0, 409,
        "the revoked waiver must not carry the promotion: {promoted:?}"
    );
    assert!(
        promoted
            .1
            .to_string()
            .contains("revoked or expired while the gates ran"),
        "{promoted:?}"
    );
    let (_, v) = server.get("/v1/applications/shop/versions/1.0.0");
    assert_eq!(v["stage"], Value::Null, "{v}");
}

/// Item 9: a lifecycle change that drops a stage and a promotion into it, at
/// once (20 runs): never both, and no version stands in a stage its lifecycle lacks.
#[test]
fn lifecycle_edits_and_promotions_do_not_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let admin = server.token("admin");
    let stages = |names: &[&str]| -> Value {
        json!({"projects": ["race"], "stages": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()})
    };
    let (s, r) = call(
        &server,
        &admin,
        "PUT",
        "/v1/lifecycles/short",
        stages(&["dev", "qa", "staging"]),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        call(
            &server,
            &admin,
            "POST",
            "/v1/applications",
            json!({"key": "race", "project": "race"})
        )
        .0,
        201
    );
    for run in 0..20 {
        let version = format!("1.0.{run}");
        assert_eq!(
            call(
                &server,
                &admin,
                "POST",
                "/v1/applications/race/versions",
                json!({"version": version})
            )
            .0,
            201
        );
        let base = format!("/v1/applications/race/versions/{version}");
        assert_eq!(
            call(
                &server,
                &admin,
                "POST",
                &format!("{base}/promote"),
                json!({"target_stage": "dev"})
            )
            .0,
            200
        );
        let (promoted, edited) = std::thread::scope(|s| {
            let p = s.spawn(|| {
                call(
                    &server,
                    &admin,
                    "POST",
                    &format!("{base}/promote"),
                    json!({"target_stage": "qa"}),
                )
            });
            let e = s.spawn(|| {
                call(
                    &server,
                    &admin,
                    "PUT",
                    "/v1/lifecycles/short",
                    stages(&["dev", "staging"]),
                )
            });
            (p.join().unwrap(), e.join().unwrap())
        });
        assert!(
            !(promoted.0 == 200 && edited.0 == 200),
            "run {run}: both won: {promoted:?} {edited:?}"
        );
        let (_, lc) = call(&server, &admin, "GET", "/v1/lifecycles/short", Value::Null);
        let (_, v) = call(&server, &admin, "GET", &base, Value::Null);
        let names: Vec<&str> = lc["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&v["stage"].as_str().unwrap()),
            "run {run}: {v} stands outside {names:?}"
        );
        // Back to the start: the version leaves qa, the lifecycle gets qa back.
        if promoted.0 == 200 {
            call(
                &server,
                &admin,
                "POST",
                &format!("{base}/rollback"),
                json!({"from_stage": "qa"}),
            );
        }
        call(
            &server,
            &admin,
            "POST",
            &format!("{base}/rollback"),
            json!({"from_stage": "dev"}),
        );
        let (s, r) = call(
            &server,
            &admin,
            "PUT",
            "/v1/lifecycles/short",
            stages(&["dev", "qa", "staging"]),
        );
        assert_eq!(s, 200, "run {run}: {r}");
    }
}

/// Save a released version's record and the served key list's first key to
/// files under `dir`, as an auditor would; (record, key, key list).
fn save_record_and_key(server: &Server, dir: &Path, base: &str) -> (std::path::PathBuf, std::path::PathBuf, Value) {
    let (_, record) = server.get(&format!("{base}/trusted-release"));
    let record_file = dir.join("record.json");
    std::fs::write(&record_file, record.to_string()).unwrap();
    let (_, keys) = request(server.addr, "GET", "/v1/keys", None, None);
    let key_file = dir.join("release.pub.pem");
    std::fs::write(&key_file, keys["items"][0]["public_key_pem"].as_str().unwrap()).unwrap();
    (record_file, key_file, keys)
}

/// Item 11: `gatehouse verify --app --version` refuses a record about another
/// version, even when the artifact bytes are the same.
#[test]
fn verify_checks_which_version_a_record_is_about() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d);
    let admin = server.token("admin");
    let artifact = d.join("app.tgz");
    std::fs::write(&artifact, "the build").unwrap();
    let digest = sha256_file(&artifact);
    call(&server, &admin, "POST", "/v1/applications", json!({"key": "shop"}));
    for v in ["1.0.0", "1.0.1"] {
        let body = json!({"version": v, "artifacts": [{"name": "app.tgz", "kind": "file", "sha256": digest}]});
        assert_eq!(
            call(&server, &admin, "POST", "/v1/applications/shop/versions", body).0,
            201
        );
    }
    let base = "/v1/applications/shop/versions/1.0.0";
    for stage in ["dev", "qa", "staging", "prod"] {
        assert_eq!(
            call(
                &server,
                &admin,
                "POST",
                &format!("{base}/promote"),
                json!({"target_stage": stage})
            )
            .0,
            200
        );
    }
    assert_eq!(
        call(&server, &admin, "POST", &format!("{base}/release"), json!({})).0,
        200
    );
    let (record_file, key_file, keys) = save_record_and_key(&server, d, base);
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            record_file.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
            "--artifact",
            artifact.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        cli(Path::new(d), &args)
    };
    let o = verify(&["--app", "shop", "--version", "1.0.0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The same bytes, but 1.0.1 was never released: refused.
    let o = verify(&["--app", "shop", "--version", "1.0.1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("about shop@1.0.0, not shop@1.0.1"),
        "{}",
        stderr(&o)
    );
    let o = verify(&["--app", "other"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));

    // Item 2 (in part): the key can be pinned by its id, from a saved key list or the server.
    let keyid = keys["items"][0]["keyid"].as_str().unwrap().to_string();
    let list = d.join("keys.json");
    std::fs::write(&list, keys.to_string()).unwrap();
    let pinned = |extra: &[&str]| {
        let mut args = vec!["verify", record_file.to_str().unwrap()];
        args.extend_from_slice(extra);
        cli(Path::new(d), &args)
    };
    let o = pinned(&["--keyid", &keyid, "--keys", list.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = pinned(&["--keyid", &keyid, "--server", &server.url(), "--token", &admin]);
    assert!(o.status.success(), "{}", stderr(&o));
    let other = "ab".repeat(32);
    let o = pinned(&["--keyid", &other, "--key", key_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("not the pinned"), "{}", stderr(&o));
    let o = pinned(&["--keyid", &other, "--keys", list.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

/// Item 3: a checkpoint signed on demand keeps its key in the published key
/// history, so the log still verifies after the release key is rotated.
#[test]
fn an_on_demand_checkpoint_survives_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d);
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    let (s, r) = server.send("POST", "/v1/activity/checkpoints", None, "admin");
    assert!(s == 200 || s == 201, "{s} {r}");
    drop(server);
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
    let o = cli(d, &["--config", config.to_str().unwrap(), "audit", "verify"]);
    assert!(
        o.status.success(),
        "the old checkpoint's key is still known: {}",
        stdout(&o)
    );
    let server = Server::start_with(d, &["--config", config.to_str().unwrap()]);
    let (_, keys) = request(server.addr, "GET", "/v1/keys", None, None);
    assert_eq!(keys["items"].as_array().unwrap().len(), 2, "{keys}");
}

/// Compact JSON with keys sorted at every depth: for the events of this test
/// (ASCII text, small integers) the same bytes as RFC 8785, the log's
/// canonical encoding, so the forger below computes real hashes.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// Item 1: someone who can write the database but does not hold the release
/// key edits an event and re-chains every later one: `audit verify` says so.
#[test]
fn a_quiet_rewrite_of_the_log_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // It edits gatehouse.db itself: the embedded store whatever the run's backend.
    gatehouse_e2e::embedded_only(d);
    let server = Server::start(d);
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    assert_eq!(
        server
            .post(
                "/v1/applications/shop/versions/1.0.0/promote",
                &json!({"target_stage": "dev"})
            )
            .0,
        200
    );
    drop(server);
    let o = cli(d, &["audit", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));

    // The rewrite: the promotion is attributed to someone else, and every
    // later hash recomputed, exactly as the canonical encoding says.
    let db = rusqlite::Connection::open(d.join("gatehouse.db")).unwrap();
    db.execute_batch("DROP TRIGGER activity_no_update;").unwrap();
    let mut rows: Vec<(i64, Value)> = db
        .prepare("SELECT seq, time, actor, action, subject, application, version, result, details, prev_hash FROM activity ORDER BY seq")
        .unwrap()
        .query_map([], |r| {
            let details: String = r.get(8)?;
            Ok((
                r.get::<_, i64>(0)?,
                json!({
                    "seq": r.get::<_, i64>(0)?, "time": r.get::<_, String>(1)?, "actor": r.get::<_, String>(2)?,
                    "action": r.get::<_, String>(3)?, "subject": r.get::<_, String>(4)?,
                    "application": r.get::<_, Option<String>>(5)?, "version": r.get::<_, Option<String>>(6)?,
                    "result": r.get::<_, String>(7)?, "details": serde_json::from_str::<Value>(&details).unwrap(),
                    "prev_hash": r.get::<_, String>(9)?,
                }),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let target = rows.iter().position(|(_, e)| e["action"] == "version.promote").unwrap();
    rows[target].1["actor"] = json!("mallory");
    let mut prev: Option<String> = None;
    for (seq, e) in rows.iter_mut().skip(target) {
        if let Some(p) = &prev {
            e["prev_hash"] = json!(p);
        }
        let hash = {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(canonical(e).as_bytes());
            digest.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        db.execute(
            "UPDATE activity SET actor = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
            rusqlite::params![
                e["actor"].as_str().unwrap(),
                e["prev_hash"].as_str().unwrap(),
                hash,
                *seq
            ],
        )
        .unwrap();
        prev = Some(hash);
    }
    drop(db);
    let o = cli(d, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "the rewrite went unnoticed: {}", stdout(&o));
    assert!(stdout(&o).contains("BROKEN"), "{}", stdout(&o));
    // Later writes do not launder it: the sidecar signs no head over a log it did not vouch for.
    let server = Server::start(d);
    gatehouse_e2e::seed(&server, "later", "1.0.0");
    drop(server);
    let o = cli(d, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "laundered by a later write: {}", stdout(&o));
}

/// Item 10: rolling back a trusted release writes a signed withdrawal that the
/// API serves beside the record, and `gatehouse verify` refuses the record
/// once it is given the withdrawals (a file, or the server); the VSA endpoint
/// refuses to serve a withdrawn release's VSA as a passing verdict.
#[test]
fn a_withdrawn_release_no_longer_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d);
    let admin = server.token("admin");
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    let base = "/v1/applications/shop/versions/1.0.0";
    for stage in ["dev", "qa", "staging", "prod"] {
        assert_eq!(
            server
                .post(&format!("{base}/promote"), &json!({"target_stage": stage}))
                .0,
            200
        );
    }
    assert_eq!(server.post(&format!("{base}/release"), &json!({})).0, 200);
    assert_eq!(
        server.get(&format!("{base}/withdrawal")).0,
        404,
        "a standing release has none"
    );
    let (record_file, key_file, _) = save_record_and_key(&server, d, base);
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            record_file.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        cli(d, &args)
    };
    assert!(verify(&[]).status.success());
    let (s, vsa) = server.get(&format!("{base}/vsa"));
    assert_eq!(s, 200, "{vsa}");

    let (s, r) = server.post(
        &format!("{base}/rollback"),
        &json!({"from_stage": "prod", "reason": "CVE-2026-0001 in the payment path"}),
    );
    assert_eq!(s, 200, "{r}");
    // The record is still served (records are immutable), and beside it the withdrawal.
    assert_eq!(server.get(&format!("{base}/trusted-release")).0, 200);
    let (s, withdrawal) = server.get(&format!("{base}/withdrawal"));
    assert_eq!(s, 200, "{withdrawal}");
    // The VSA endpoint answers the same way: no passing verdict for a
    // withdrawn release, but the withdrawal; the original only when asked.
    let (s, gone) = server.get(&format!("{base}/vsa"));
    assert_eq!(s, 410, "{gone}");
    assert_eq!(gone["error"]["code"], "withdrawn", "{gone}");
    assert_eq!(gone["error"]["withdrawal"], withdrawal);
    let (s, original) = server.get(&format!("{base}/vsa?include_withdrawn=true"));
    assert_eq!((s, &original), (200, &vsa));
    assert_eq!(server.get(&format!("{base}/vsa?include_withdrawn=yes")).0, 400);
    let w_file = d.join("withdrawals.json");
    std::fs::write(&w_file, withdrawal.to_string()).unwrap();
    let o = verify(&["--withdrawals", w_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("withdrawn"), "{}", stderr(&o));
    assert!(stderr(&o).contains("CVE-2026-0001"), "{}", stderr(&o));
    // Asking the server works the same way.
    let o = verify(&["--server", &server.url(), "--token", &admin]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("withdrawn"), "{}", stderr(&o));
    // A withdrawal signed by another key withdraws nothing.
    let mut forged = withdrawal.clone();
    forged["signatures"][0]["sig"] = json!(base64_of_zeros());
    std::fs::write(&w_file, forged.to_string()).unwrap();
    assert!(verify(&["--withdrawals", w_file.to_str().unwrap()]).status.success());
}

fn base64_of_zeros() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([0u8; 64])
}

/// Item 2: the published key history comes from the key files, not from a
/// table anyone with database access can write.
#[test]
fn a_key_added_to_the_database_is_not_published() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // It edits gatehouse.db itself: the embedded store whatever the run's backend.
    gatehouse_e2e::embedded_only(d);
    let server = Server::start(d);
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    drop(server);
    let o = cli(d, &["keys", "generate", "--out", d.join("mallory").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pem = std::fs::read_to_string(d.join("mallory/ed25519.pub.pem")).unwrap();
    let db = rusqlite::Connection::open(d.join("gatehouse.db")).unwrap();
    db.execute(
        "INSERT INTO release_keys (keyid, public_pem, first_used) VALUES (?1, ?2, '2026-01-01T00:00:00.000000Z')",
        rusqlite::params!["ab".repeat(32), pem],
    )
    .unwrap();
    drop(db);
    let server = Server::start(d);
    let (_, keys) = request(server.addr, "GET", "/v1/keys", None, None);
    let items = keys["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the key file's key is published: {keys}");
    assert_eq!(items[0]["current"], true);
    assert!(!keys.to_string().contains(&"ab".repeat(32)), "{keys}");
}
