//! The REST API over real HTTP: bad input is refused with the field named and
//! nothing written; lists filter and page.

use gatehouse_e2e::{Server, seed, sha};
use serde_json::json;

fn activity_count(server: &Server) -> usize {
    let (s, body) = server.get("/v1/activity?limit=1000");
    assert_eq!(s, 200);
    body["items"].as_array().unwrap().len()
}

#[test]
fn every_invalid_field_is_refused_with_its_name_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    seed(&server, "payments", "1.0.0");
    let (s, _) = server.post(
        "/v1/applications/payments/versions/1.0.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 200);
    let before = activity_count(&server);

    let versions = "/v1/applications/payments/versions";
    let art = |sha256: &str| json!([{ "name": "a", "kind": "file", "sha256": sha256 }]);
    // (method, path, body, status, words the error must contain)
    let cases: Vec<(&str, String, String, u16, Vec<&str>)> = vec![
        (
            "POST",
            "/v1/applications".into(),
            json!({"key": "Bad_Key"}).to_string(),
            400,
            vec!["key", "Bad_Key", "^[a-z]"],
        ),
        (
            "POST",
            "/v1/applications".into(),
            json!({"key": "ok-app", "criticality": "urgent"}).to_string(),
            400,
            vec!["criticality", "urgent"],
        ),
        (
            "POST",
            "/v1/applications".into(),
            json!({"key": "ok-app", "colour": "red"}).to_string(),
            400,
            vec!["colour"],
        ),
        (
            "POST",
            "/v1/applications".into(),
            json!({"key": "payments"}).to_string(),
            409,
            vec!["payments", "already exists"],
        ),
        (
            "POST",
            "/v1/applications".into(),
            "{\"key\": ".into(),
            400,
            vec!["JSON"],
        ),
        (
            "POST",
            versions.into(),
            json!({"version": "1.2"}).to_string(),
            400,
            vec!["version", "1.2", "SemVer"],
        ),
        (
            "POST",
            versions.into(),
            json!({"version": "2.0.0", "artifacts": art("xyz")}).to_string(),
            400,
            vec!["artifacts[0].sha256", "xyz"],
        ),
        (
            "POST",
            versions.into(),
            json!({"version": "2.0.0", "artifacts": [{"name": "a", "kind": "tarball", "sha256": sha(1)}]}).to_string(),
            400,
            vec!["artifacts[0].kind", "tarball"],
        ),
        (
            "POST",
            versions.into(),
            json!({"version": "2.0.0", "vcs": {"repo": "r", "revision": "abc123", "commit_time": "last tuesday"}})
                .to_string(),
            400,
            vec!["vcs.commit_time", "RFC 3339"],
        ),
        (
            "POST",
            versions.into(),
            json!({"version": "1.0.0"}).to_string(),
            409,
            vec!["already exists"],
        ),
        (
            "POST",
            format!("{versions}/1.0.0/promote"),
            json!({"target_stage": "preprod"}).to_string(),
            400,
            vec!["target_stage", "preprod", "dev, qa, staging, prod"],
        ),
        (
            "POST",
            format!("{versions}/1.0.0/promote"),
            json!({"stage": "qa"}).to_string(),
            400,
            vec!["stage"],
        ),
        (
            "PATCH",
            format!("{versions}/1.0.0"),
            json!({"tag": "late"}).to_string(),
            409,
            vec!["frozen"],
        ),
        (
            "PATCH",
            "/v1/applications/payments".into(),
            json!({"key": "other"}).to_string(),
            400,
            vec!["key", "immutable"],
        ),
        (
            "GET",
            "/v1/applications?criticality=urgent".into(),
            String::new(),
            400,
            vec!["criticality", "urgent"],
        ),
        (
            "GET",
            "/v1/activity?since=yesterday".into(),
            String::new(),
            400,
            vec!["since"],
        ),
        ("GET", "/v1/activity?limit=0".into(), String::new(), 400, vec!["limit"]),
        (
            "GET",
            "/v1/applications/nope".into(),
            String::new(),
            404,
            vec!["nope", "not found"],
        ),
        ("GET", format!("{versions}/9.9.9"), String::new(), 404, vec!["9.9.9"]),
        ("GET", "/v1/nothing-here".into(), String::new(), 404, vec!["no route"]),
        (
            "DELETE",
            "/v1/applications".into(),
            String::new(),
            405,
            vec!["GET, POST"],
        ),
    ];
    for (method, path, body, status, words) in cases {
        let (s, resp) = server.send(method, &path, Some(body.as_bytes()), "tester");
        assert_eq!(s, status, "{method} {path} {body} -> {resp}");
        let message = resp["error"]["message"].as_str().unwrap_or_default();
        for w in words {
            assert!(message.contains(w), "{method} {path} {body}: {message:?} lacks {w:?}");
        }
    }
    // A 409 conflict on state (frozen) is not logged as a transition; only
    // transitions log their refusals. None of the above changed anything.
    assert_eq!(activity_count(&server), before);
    let (_, v) = server.get(&format!("{versions}/1.0.0"));
    assert_eq!(v["stage"], "dev");
    assert!(v["tag"].is_null());
}

#[test]
fn oversized_bodies_are_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--body-limit", "4096"]);
    let big = json!({ "key": "big-app", "description": "x".repeat(10_000) }).to_string();
    let (s, body) = server.send("POST", "/v1/applications", Some(big.as_bytes()), "tester");
    assert_eq!(s, 413, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("4096"));
    let (s, _) = server.get("/v1/applications/big-app");
    assert_eq!(s, 404);
}

#[test]
fn lists_filter_and_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for (key, project, crit, owner, team) in [
        ("alpha", "shop", "high", "alice", "pay"),
        ("beta", "shop", "low", "bob", "core"),
        ("gamma", "infra", "high", "alice", "core"),
    ] {
        let doc = json!({"key": key, "project": project, "criticality": crit, "owners": {"users": [owner]}, "labels": {"team": team}});
        assert_eq!(server.post("/v1/applications", &doc).0, 201);
    }
    let keys = |path: &str| -> (Vec<String>, serde_json::Value) {
        let (s, body) = server.get(path);
        assert_eq!(s, 200, "{path}: {body}");
        let keys = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["key"].as_str().unwrap().to_string())
            .collect();
        (keys, body["next"].clone())
    };
    assert_eq!(keys("/v1/applications?project=shop").0, ["alpha", "beta"]);
    assert_eq!(keys("/v1/applications?criticality=high").0, ["alpha", "gamma"]);
    assert_eq!(keys("/v1/applications?owner=alice&project=infra").0, ["gamma"]);
    assert_eq!(keys("/v1/applications?label=team%3Dcore").0, ["beta", "gamma"]);
    let (page1, next) = keys("/v1/applications?limit=2");
    assert_eq!(page1, ["alpha", "beta"]);
    assert_eq!(next, "beta");
    let (page2, next) = keys("/v1/applications?limit=2&after=beta");
    assert_eq!(page2, ["gamma"]);
    assert!(next.is_null());

    // Activity filters: by actor, action and result.
    let (_, body) = server.get("/v1/activity?action=application.create&actor=tester&result=success");
    assert_eq!(body["items"].as_array().unwrap().len(), 3);
    let (_, body) = server.get("/v1/activity?actor=someone-else");
    assert_eq!(body["items"].as_array().unwrap().len(), 0);
    let (_, body) = server.get("/v1/activity?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z");
    assert_eq!(body["items"].as_array().unwrap().len(), 0);
}

#[test]
fn a_draft_can_be_patched_until_its_first_promotion_and_versions_with_build_metadata_are_addressable() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    seed(&server, "payments", "2.0.0-rc.1+build.7");
    let path = "/v1/applications/payments/versions/2.0.0-rc.1+build.7";
    let (s, v) = server.send("PATCH", path, Some(json!({"tag": "rc"}).to_string().as_bytes()), "ci");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["tag"], "rc");
    let (s, v) = server.post(
        &format!("{path}/promote"),
        &json!({"target_stage": "dev", "dry_run": true}),
    );
    assert_eq!(s, 200);
    assert_eq!(v["allowed"], true);
    assert_eq!(
        v["version"]["stage"],
        serde_json::Value::Null,
        "a dry run does not move"
    );
    let (s, _) = server.post(&format!("{path}/promote"), &json!({"target_stage": "dev"}));
    assert_eq!(s, 200);
    let (s, v) = server.send("PATCH", path, Some(json!({"tag": "late"}).to_string().as_bytes()), "ci");
    assert_eq!(s, 409, "{v}");
    let (_, timeline) = server.get(&format!("{path}/timeline"));
    let actions: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["version.create", "version.update", "version.promote"]);
}
