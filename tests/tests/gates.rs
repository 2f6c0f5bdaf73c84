//! Policy gates end to end on the real binary: bindings from the config file,
//! the bundled baseline pack, evidence, warn mode, waivers (separation of
//! duties, expiry), and policies that error or run away — which block.

use std::process::Command;

use gatehouse_e2e::{Server, cli, create_token, data, request, stderr, stdout};
use serde_json::{Value, json};

fn in_secs(secs: u64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("+{secs} seconds"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

const CONFIG: &str = r#"
policy_time_limit_ms = 100

[[bindings]]
id = "tests-before-dev"
check = "policy:baseline.tests"
gate = { stage = "dev", kind = "entry" }

[[bindings]]
id = "sbom-advice"
check = "policy:baseline.sbom"
gate = { stage = "*", kind = "entry" }
mode = "warn"

[[bindings]]
id = "provenance-for-backend"
check = "policy:baseline.provenance"
gate = { stage = "qa", kind = "entry" }
scope = { labels = { tier = "backend" } }

[[bindings]]
id = "provenance-staging"
check = "policy:baseline.provenance"
gate = { stage = "staging", kind = "entry" }
"#;

#[test]
fn a_version_climbs_through_real_policy_gates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("gatehouse.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server = Server::start_with(d, &["--config", config.to_str().unwrap()]);
    let admin = create_token(d, "alice", "admin");
    let dev = create_token(d, "dana", "developer");
    let rm = create_token(d, "rob", "release-manager");
    let approver = create_token(d, "ann", "approver");
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
    let app = json!({"key": "relgov", "project": "shop", "labels": {"tier": "backend"}});
    assert_eq!(call(&admin, "POST", "/v1/applications", app).0, 201);
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(data("dsse/expected.json")).unwrap()).unwrap();
    let art = json!([{ "name": "relgov.crate", "kind": "package", "sha256": expected["subject_artifact"]["sha256"] }]);
    assert_eq!(
        call(
            &dev,
            "POST",
            "/v1/applications/relgov/versions",
            json!({"version": "0.1.0", "artifacts": art})
        )
        .0,
        201
    );
    let promote = |stage: &str| {
        call(
            &rm,
            "POST",
            "/v1/applications/relgov/versions/0.1.0/promote",
            json!({"target_stage": stage}),
        )
    };

    // The plan says which checks will run and why.
    let o = cli(
        d,
        &[
            "--config",
            config.to_str().unwrap(),
            "gate",
            "plan",
            "relgov",
            "0.1.0",
            "dev",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("policy:baseline.tests")
            && stdout(&o).contains("binding tests-before-dev (block mode): stage dev, scope global"),
        "{}",
        stdout(&o)
    );

    // 1. No evidence: blocked at the first gate, with the reasons.
    let (s, r) = promote("dev");
    assert_eq!(s, 409, "{r}");
    assert_eq!(r["error"]["code"], "blocked");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("[BASELINE-TEST-1] no verified passing test result") && msg.contains("remediation"),
        "{msg}"
    );
    let o = cli(
        d,
        &[
            "--config",
            config.to_str().unwrap(),
            "promote",
            "relgov",
            "0.1.0",
            "dev",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("gate dev/entry: blocked") && stderr(&o).contains("policy:baseline.tests fail"),
        "{}",
        stderr(&o)
    );

    // 2. Evidence added: it passes; the warn-mode SBOM failure is recorded, not blocking.
    let env = std::fs::read(data("dsse/valid/test-result-v0.1.dsse.json")).unwrap();
    let (s, r) = request(server.addr, "POST", "/v1/evidence", Some(&env), Some(&dev));
    assert_eq!(s, 200, "{r}");
    let (s, r) = promote("dev");
    assert_eq!(s, 200, "{r}");
    let gate = &r["gates"][0];
    assert_eq!(gate["decision"], "passed_with_warnings");
    let sbom = gate["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "policy:baseline.sbom")
        .unwrap();
    assert_eq!(
        (sbom["mode"].as_str(), sbom["outcome"].as_str()),
        (Some("warn"), Some("fail"))
    );
    assert_eq!(sbom["binding"], "sbom-advice");
    assert_eq!(
        sbom["digest"].as_str().map(str::len),
        Some(64),
        "the policy text's digest is recorded"
    );
    assert!(gate["evaluation_id"].as_str().unwrap().starts_with("ev_"));

    // 3. qa needs provenance (backend apps only). A waiver: its requester cannot approve it.
    let (s, _) = promote("qa");
    assert_eq!(s, 409);
    let waiver = json!({"application": "relgov", "version": "0.1.0", "gate": {"stage": "qa", "kind": "entry"},
        "check": "policy:baseline.provenance", "justification": "provenance pipeline down, INC-7", "expires_at": in_secs(3600)});
    let (s, w) = call(&admin, "POST", "/v1/waivers", waiver);
    assert_eq!(s, 201, "{w}");
    let id = w["id"].as_str().unwrap().to_string();
    let (s, r) = call(&admin, "POST", &format!("/v1/waivers/{id}/approve"), json!({}));
    assert_eq!(s, 403, "the requester may not approve: {r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("another approver"));
    let (s, r) = call(&dev, "POST", &format!("/v1/waivers/{id}/approve"), json!({}));
    assert_eq!(s, 403, "a developer may not approve: {r}");
    let (s, _) = call(
        &approver,
        "POST",
        &format!("/v1/waivers/{id}/approve"),
        json!({"note": "until the pipeline is back"}),
    );
    assert_eq!(s, 200);
    let (s, r) = promote("qa");
    assert_eq!(s, 200, "{r}");
    let prov = r["gates"][1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "policy:baseline.provenance")
        .unwrap();
    assert_eq!(prov["outcome"], "waived");
    assert_eq!(prov["waiver"], id.as_str());
    let sbom = r["gates"][1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "policy:baseline.sbom")
        .unwrap();
    assert!(
        sbom.get("waiver").is_none(),
        "the waiver is reported only where it suppressed a failure"
    );
    let (_, evals) = call(
        &rm,
        "GET",
        "/v1/applications/relgov/versions/0.1.0/evaluations",
        json!(null),
    );
    assert!(evals["items"].as_array().unwrap().iter().any(|e| {
        e["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["waiver"] == id.as_str())
    }));

    // 4. An expired waiver does nothing.
    let waiver = json!({"application": "relgov", "version": "0.1.0", "gate": {"stage": "staging", "kind": "entry"},
        "justification": "short-lived exception for the demo", "expires_at": in_secs(2)});
    let (_, w) = call(&dev, "POST", "/v1/waivers", waiver);
    let id2 = w["id"].as_str().unwrap().to_string();
    assert_eq!(
        call(&approver, "POST", &format!("/v1/waivers/{id2}/approve"), json!({})).0,
        200
    );
    std::thread::sleep(std::time::Duration::from_millis(3000));
    let (s, r) = promote("staging");
    assert_eq!(s, 409, "expired waivers do nothing: {r}");

    // With provenance it passes.
    let env = std::fs::read(data("dsse/valid/slsa-provenance-v1.dsse.json")).unwrap();
    assert_eq!(
        request(server.addr, "POST", "/v1/evidence", Some(&env), Some(&dev)).0,
        200
    );
    let (s, r) = promote("staging");
    assert_eq!(s, 200, "{r}");

    // 5. A policy with a runtime error and a runaway one, both bound at prod: both block.
    let broken = "package custom.broken\nimport rego.v1\ndeny contains msg if { msg := sprintf(\"%v\", [1 / count(input.findings)]) }\n";
    let runaway = "package custom.runaway\nimport rego.v1\ndeny contains \"never\" if { count([1 | some i in numbers.range(1, 20000); some j in numbers.range(1, 20000)]) < 0 }\n";
    for (name, source) in [("custom.broken", broken), ("custom.runaway", runaway)] {
        let (s, r) = call(
            &admin,
            "PUT",
            &format!("/v1/policies/{name}"),
            json!({"source": source}),
        );
        assert_eq!(s, 200, "{r}");
        let binding = json!({"check": format!("policy:{name}"), "gate": {"stage": "prod", "kind": "entry"}});
        let (s, r) = call(
            &admin,
            "PUT",
            &format!("/v1/bindings/{}", name.replace('.', "-")),
            binding,
        );
        assert_eq!(s, 200, "{r}");
    }
    let (s, r) = promote("prod");
    assert_eq!(s, 409, "{r}");
    let checks = r["error"]["gates"][1]["checks"].as_array().unwrap();
    for name in ["policy:custom.broken", "policy:custom.runaway"] {
        let c = checks.iter().find(|c| c["check"] == name).unwrap();
        assert_eq!(c["outcome"], "error", "{c}");
    }
    // A policy that does not compile is refused at upload.
    let (s, r) = call(
        &admin,
        "PUT",
        "/v1/policies/custom.bad",
        json!({"source": "package custom.bad\ndeny contains if {"}),
    );
    assert_eq!(s, 400, "{r}");
    // A binding to a policy that is not loaded is refused.
    let (s, _) = call(
        &admin,
        "PUT",
        "/v1/bindings/ghost",
        json!({"check": "policy:no.such", "gate": {"stage": "prod", "kind": "entry"}}),
    );
    assert_eq!(s, 400);
    // Config bindings cannot be changed through the API.
    let (s, _) = call(&admin, "DELETE", "/v1/bindings/tests-before-dev", json!(null));
    assert_eq!(s, 409);

    // Every step is in the log.
    let (_, log) = call(&admin, "GET", "/v1/activity?limit=1000", json!(null));
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["waiver.request", "waiver.approve", "policy.upload", "binding.put"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let refused = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "waiver.approve" && e["result"] == "failure")
        .count();
    assert_eq!(
        refused, 1,
        "the requester's own approval attempt is logged as a failure"
    );
}
