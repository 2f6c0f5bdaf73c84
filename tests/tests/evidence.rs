//! Signed evidence end to end: ingestion over HTTP, the offline CLI, and
//! interoperability with the in-toto reference library (securesystemslib).

use std::path::Path;
use std::process::Command;

use gatehouse_e2e::{Server, cli, data, stderr, stdout};
use serde_json::{Value, json};

fn crate_sha256() -> String {
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(data("dsse/expected.json")).unwrap()).unwrap();
    expected["subject_artifact"]["sha256"].as_str().unwrap().to_string()
}

fn python() -> String {
    let py = std::env::var("GATEHOUSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import securesystemslib.dsse, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{py} cannot import securesystemslib: run `pip install -r tests/requirements.txt`"
    );
    py
}

fn sslib(args: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/sslib.py");
    let out = Command::new(python()).arg(script).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `gatehouse evidence sign` into `out`.
fn sign(dir: &Path, key: &str, predicate_type: &str, predicate: Value, subject: &Path, out: &Path) {
    let pred = dir.join("predicate.json");
    std::fs::write(&pred, predicate.to_string()).unwrap();
    let o = cli(
        dir,
        &[
            "evidence",
            "sign",
            "--key",
            data(&format!("dsse/keys/{key}.ed25519.priv.pem")).to_str().unwrap(),
            "--predicate-type",
            predicate_type,
            "--predicate",
            pred.to_str().unwrap(),
            "--subject",
            subject.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn envelopes_interoperate_with_the_reference_library_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let crate_file = data("release/relgov-fixture-rust-0.1.0.crate");
    let primary_pub = data("dsse/keys/primary.ed25519.pub.pem");

    // Gatehouse signs; the reference library verifies.
    let ours = d.join("ours.dsse.json");
    sign(
        d,
        "primary",
        "https://in-toto.io/attestation/test-result/v0.1",
        json!({"result": "PASSED"}),
        &crate_file,
        &ours,
    );
    let (ok, out) = sslib(&["verify", ours.to_str().unwrap(), "1", primary_pub.to_str().unwrap()]);
    assert!(ok, "securesystemslib refused our envelope: {out}");
    assert!(
        out.contains("68a5b8514aaf64c9d57aa10956c0ee7b72b0f5a3a1063c127c52c6480f1c6151"),
        "{out}"
    );

    // The reference library signs; gatehouse verifies it offline, bound to the artifact.
    let theirs = d.join("theirs.dsse.json");
    let statement = data("dsse/valid/test-result-v0.1.statement.json");
    let (ok, out) = sslib(&[
        "sign",
        data("dsse/keys/primary.ed25519.priv.pem").to_str().unwrap(),
        statement.to_str().unwrap(),
        theirs.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let args = [
        "evidence",
        "verify",
        "--key",
        primary_pub.to_str().unwrap(),
        theirs.to_str().unwrap(),
        "--artifact",
        crate_file.to_str().unwrap(),
    ];
    let o = cli(d, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("OK: https://in-toto.io/attestation/test-result/v0.1"),
        "{}",
        stdout(&o)
    );

    // Offline refusals exit 1 with the specific reason.
    let other_pub = data("dsse/keys/other.ed25519.pub.pem");
    let o = cli(
        d,
        &[
            "evidence",
            "verify",
            "--key",
            other_pub.to_str().unwrap(),
            ours.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown_key"), "{}", stderr(&o));
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let o = cli(
        d,
        &[
            "evidence",
            "verify",
            "--key",
            primary_pub.to_str().unwrap(),
            ours.to_str().unwrap(),
            "--artifact",
            readme.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("subject_mismatch"), "{}", stderr(&o));
    let tampered = d.join("tampered.dsse.json");
    std::fs::copy(data("dsse/invalid/payload-one-byte-changed.dsse.json"), &tampered).unwrap();
    let o = cli(
        d,
        &[
            "evidence",
            "verify",
            "--key",
            primary_pub.to_str().unwrap(),
            tampered.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad_signature"), "{}", stderr(&o));
}

fn post_evidence(server: &Server, query: &str, body: &[u8]) -> (u16, Value) {
    server.send("POST", &format!("/v1/evidence{query}"), Some(body), "ci")
}

/// Application relgov, version 0.1.0 made of the shared data's crate; the
/// query that targets it.
fn relgov_version(server: &Server) -> &'static str {
    let (s, _) = server.post("/v1/applications", &json!({"key": "relgov"}));
    assert_eq!(s, 201);
    let art = json!([{ "name": "relgov-fixture-rust-0.1.0.crate", "kind": "package", "sha256": crate_sha256() }]);
    let (s, _) = server.post(
        "/v1/applications/relgov/versions",
        &json!({"version": "0.1.0", "artifacts": art}),
    );
    assert_eq!(s, 201);
    "?application=relgov&version=0.1.0"
}

fn trust(server: &Server, who: &str, extra: Value) -> Value {
    let mut doc = json!({ "name": who, "owner": "release-eng",
        "public_key": std::fs::read_to_string(data(&format!("dsse/keys/{who}.ed25519.pub.pem"))).unwrap() });
    doc.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let (s, key) = server.post("/v1/trusted-keys", &doc);
    assert_eq!(s, 201, "{key}");
    key
}

#[test]
fn ingestion_verifies_binds_and_records_every_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let key = trust(&server, "primary", json!({}));
    assert_eq!(
        key["keyid"],
        "68a5b8514aaf64c9d57aa10956c0ee7b72b0f5a3a1063c127c52c6480f1c6151"
    );
    let q = relgov_version(&server);

    // The reference-made valid envelopes are accepted, and re-adding is idempotent.
    let valid = [
        "slsa-provenance-v1",
        "slsa-provenance-v1.multisig",
        "slsa-provenance-v1.urlsafe-b64",
        "cyclonedx-sbom",
        "test-result-v0.1",
    ];
    for name in valid {
        let body = std::fs::read(data(&format!("dsse/valid/{name}.dsse.json"))).unwrap();
        let (s, r) = post_evidence(&server, q, &body);
        assert_eq!(s, 200, "{name}: {r}");
        assert_eq!(r["items"][0]["bindings"][0]["verified"], true, "{name}");
        let (s, again) = post_evidence(&server, q, &body);
        assert_eq!(s, 200);
        assert_eq!(again["items"][0]["bindings"][0]["already_present"], true, "{name}");
    }

    // Every invalid one is refused with its own reason.
    for (name, code) in [
        ("payload-one-byte-changed", "bad_signature"),
        ("signed-by-other-key", "unknown_key"),
        ("other-key-sig-with-primary-keyid", "bad_signature"),
        ("payloadtype-changed", "bad_signature"),
        ("payloadtype-wrong-but-signed", "wrong_payload_type"),
        ("keyid-mismatch", "unknown_key"),
        ("signature-b64-truncated", "bad_signature"),
        ("payload-b64-truncated", "malformed_envelope"),
        ("no-signatures", "no_signatures"),
        ("statement-v0.1-type-signed", "wrong_statement_type"),
        ("subject-digest-mismatch-signed", "subject_mismatch"),
    ] {
        let body = std::fs::read(data(&format!("dsse/invalid/{name}.dsse.json"))).unwrap();
        let (s, r) = post_evidence(&server, q, &body);
        assert_eq!(s, 422, "{name}: {r}");
        let item = &r["items"][0];
        let got = item["refusal"]["code"]
            .as_str()
            .or(item["bindings"][0]["refusal"]["code"].as_str());
        assert_eq!(got, Some(code), "{name}: {r}");
    }

    // Listing with filters: nothing refused counts as verified.
    let list = |query: &str| {
        let (s, r) = server.get(&format!("/v1/applications/relgov/versions/0.1.0/evidence{query}"));
        assert_eq!(s, 200, "{r}");
        r["items"].as_array().unwrap().clone()
    };
    // The three provenance envelopes carry one statement (the same payload,
    // one with a second, untrusted signature, one in URL-safe base64): one item.
    assert_eq!(list("?verified=true").len(), 3);
    assert!(list("?verified=true").iter().all(|e| e["signers"][0] == key["keyid"]));
    // Refusals that parsed are recorded as unverified, one item per
    // statement: the six that carry the verified provenance statement (bad,
    // unknown or missing signatures) leave it verified and add nothing; the
    // two with the changed payloadType are one statement.
    assert_eq!(
        list("?verified=false").len(),
        4,
        "refusals that parsed are recorded as unverified, once per statement"
    );
    assert_eq!(
        list("?verified=true&predicate_type=https%3A%2F%2Fslsa.dev%2Fprovenance%2Fv1").len(),
        1
    );
    assert_eq!(
        list(&format!(
            "?signer={}",
            "d52c45ce318594da443b3c43cb231027e574733e7fecce750e47b979345d28f8"
        ))
        .len(),
        0
    );
    assert_eq!(list("?since=2999-01-01T00:00:00Z").len(), 0);
    let statement = &list("?verified=true&predicate_type=https%3A%2F%2Fin-toto.io%2Fattestation%2Ftest-result%2Fv0.1")
        [0]["statement"];
    assert_eq!(statement["predicate"]["result"], "PASSED");

    // The timeline shows every evidence event, refusals with their reason.
    let (_, tl) = server.get("/v1/applications/relgov/versions/0.1.0/timeline?limit=1000");
    let ev: Vec<&Value> = tl["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "evidence.add")
        .collect();
    assert_eq!(
        ev.len(),
        3 + 11,
        "3 accepted (re-adds of a stored statement write nothing) and 11 refused"
    );
    assert_eq!(ev.iter().filter(|e| e["result"] == "failure").count(), 11);
    assert!(
        ev.iter()
            .any(|e| e["details"]["refusal"]["code"] == "wrong_statement_type")
    );
}

#[test]
fn bundles_bind_by_subject_and_key_policy_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d);
    trust(&server, "primary", json!({}));
    let art = json!([{ "name": "relgov.crate", "kind": "package", "sha256": crate_sha256() }]);
    for app in ["relgov", "mirror"] {
        assert_eq!(server.post("/v1/applications", &json!({"key": app})).0, 201);
        assert_eq!(
            server
                .post(
                    &format!("/v1/applications/{app}/versions"),
                    &json!({"version": "1.0.0", "artifacts": art})
                )
                .0,
            201
        );
    }

    // A JSON Lines bundle, bound by subject digest to both versions that ship the crate.
    let lines: Vec<String> = ["slsa-provenance-v1", "cyclonedx-sbom", "test-result-v0.1"]
        .iter()
        .map(|n| {
            let v: Value =
                serde_json::from_slice(&std::fs::read(data(&format!("dsse/valid/{n}.dsse.json"))).unwrap()).unwrap();
            v.to_string()
        })
        .collect();
    let (s, r) = post_evidence(&server, "", (lines.join("\n") + "\n").as_bytes());
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["accepted"], 3);
    for item in r["items"].as_array().unwrap() {
        let bound: Vec<&str> = item["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["application"].as_str().unwrap())
            .collect();
        assert_eq!(bound, ["mirror", "relgov"]);
    }
    // The CLI does the same from a file.
    let bundle = d.join("bundle.intoto.jsonl");
    std::fs::write(&bundle, lines.join("\n")).unwrap();
    let o = cli(d, &["evidence", "add", bundle.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("already present for relgov@1.0.0"),
        "{}",
        stdout(&o)
    );

    // A statement about something no version ships: refused, not stored.
    let stray = d.join("stray.dsse.json");
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    sign(d, "primary", "https://example.com/p/v1", json!({}), &readme, &stray);
    let (s, r) = post_evidence(&server, "", &std::fs::read(&stray).unwrap());
    assert_eq!(s, 422);
    assert_eq!(r["items"][0]["refusal"]["code"], "subject_mismatch");
    let digest = r["items"][0]["digest"].as_str().unwrap();
    assert_eq!(server.get(&format!("/v1/evidence/{digest}")).0, 404);

    // Keys outside their validity window, narrowed keys and revoked keys.
    let crate_file = data("release/relgov-fixture-rust-0.1.0.crate");
    trust(&server, "other", json!({"not_after": "2020-01-01T00:00:00Z"}));
    let by_other = d.join("other.dsse.json");
    sign(
        d,
        "other",
        "https://example.com/scan/v1",
        json!({"ok": true}),
        &crate_file,
        &by_other,
    );
    let (s, r) = post_evidence(
        &server,
        "?application=relgov&version=1.0.0",
        &std::fs::read(&by_other).unwrap(),
    );
    assert_eq!(s, 422);
    assert_eq!(r["items"][0]["bindings"][0]["refusal"]["code"], "key_expired", "{r}");

    let fresh = d.join("fresh.dsse.json");
    sign(
        d,
        "primary",
        "https://example.com/scan/v1",
        json!({"ok": true}),
        &crate_file,
        &fresh,
    );
    let keyid = "68a5b8514aaf64c9d57aa10956c0ee7b72b0f5a3a1063c127c52c6480f1c6151";
    let (s, _) = server.post(
        &format!("/v1/trusted-keys/{keyid}/revoke"),
        &json!({"reason": "laptop stolen"}),
    );
    assert_eq!(s, 200);
    let (s, r) = post_evidence(
        &server,
        "?application=relgov&version=1.0.0",
        &std::fs::read(&fresh).unwrap(),
    );
    assert_eq!(s, 422);
    assert_eq!(r["items"][0]["bindings"][0]["refusal"]["code"], "key_revoked", "{r}");
    let (_, log) = server.get("/v1/activity?action=key.revoke");
    assert_eq!(log["items"][0]["details"]["reason"], "laptop stolen");
}

#[test]
fn hostile_bodies_are_refused_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    trust(&server, "primary", json!({}));
    assert_eq!(server.post("/v1/applications", &json!({"key": "relgov"})).0, 201);
    assert_eq!(
        server
            .post("/v1/applications/relgov/versions", &json!({"version": "1.0.0"}))
            .0,
        201
    );
    let q = "?application=relgov&version=1.0.0";
    let huge = format!(
        r#"{{"payload":"{}","payloadType":"x","signatures":[]}}"#,
        "A".repeat(12 * 1024 * 1024)
    );
    for (body, code) in [
        (b"{ not json".to_vec(), "malformed_envelope"),
        (br#"{"payloadType": "x"}"#.to_vec(), "malformed_envelope"),
        (huge.into_bytes(), "too_large"),
    ] {
        let (s, r) = post_evidence(&server, q, &body);
        assert_eq!(s, 422, "{r}");
        assert_eq!(r["items"][0]["refusal"]["code"], code, "{r}");
    }
    // Bad parameters are input errors, not refusals.
    let (s, r) = post_evidence(&server, "?application=relgov", b"{}");
    assert_eq!(s, 400, "{r}");
    let (s, r) = post_evidence(&server, "?application=relgov&version=9.9.9", b"{}");
    assert_eq!(s, 404, "{r}");
    let (s, r) = server.post("/v1/trusted-keys", &json!({"name": "x", "public_key": "abcd"}));
    assert_eq!(s, 400);
    assert!(r["error"]["message"].as_str().unwrap().contains("public_key"), "{r}");
    let (_, log) = server.get("/v1/activity?action=evidence.add&result=failure");
    assert_eq!(log["items"].as_array().unwrap().len(), 3, "each refusal is logged once");
}

/// One evidence item per statement: the same statement re-sent with a junk
/// signature, in another base64 alphabet, or with a second signer's
/// signature is the same item; valid signatures merge (and can meet a
/// threshold together), junk ones are not kept.
#[test]
fn one_statement_is_one_evidence_item_and_signatures_merge() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    trust(&server, "primary", json!({}));
    let q = relgov_version(&server);
    let items = || {
        let (s, r) = server.get("/v1/applications/relgov/versions/0.1.0/evidence");
        assert_eq!(s, 200, "{r}");
        r["items"].as_array().unwrap().clone()
    };
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(data(&format!("dsse/valid/{name}.dsse.json"))).unwrap()).unwrap()
    };

    let original = read("slsa-provenance-v1");
    let (s, r) = post_evidence(&server, q, original.to_string().as_bytes());
    assert_eq!(s, 200, "{r}");
    let id = r["items"][0]["digest"].as_str().unwrap().to_string();

    // The same statement with a junk signature appended: the same item.
    let mut junk = original.clone();
    junk["signatures"].as_array_mut().unwrap().push(json!({
        "keyid": "68a5b8514aaf64c9d57aa10956c0ee7b72b0f5a3a1063c127c52c6480f1c6151",
        "sig": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 64]),
    }));
    let (s, r) = post_evidence(&server, q, junk.to_string().as_bytes());
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["items"][0]["digest"], id.as_str(), "{r}");
    assert_eq!(r["items"][0]["bindings"][0]["already_present"], true, "{r}");
    // The same signature in the URL-safe alphabet: the same item.
    let (s, r) = post_evidence(
        &server,
        q,
        read("slsa-provenance-v1.urlsafe-b64").to_string().as_bytes(),
    );
    assert_eq!((s, r["items"][0]["digest"].as_str()), (200, Some(id.as_str())), "{r}");
    assert_eq!(items().len(), 1, "{:?}", items());
    let (s, stored) = server.get(&format!("/v1/evidence/{id}"));
    assert_eq!(s, 200, "{stored}");
    assert_eq!(
        stored["envelope"]["signatures"].as_array().unwrap().len(),
        1,
        "junk is not kept: {stored}"
    );
    assert!(
        stored["statement_digest"].as_str().is_some_and(|d| d.len() == 64),
        "{stored}"
    );

    // A second signer's signature, once that key is trusted, merges into the
    // item, and the two signers together meet a threshold of two.
    let multisig = read("slsa-provenance-v1.multisig");
    let (s, r) = post_evidence(&server, &format!("{q}&threshold=2"), multisig.to_string().as_bytes());
    assert_eq!(s, 422, "one trusted signer of two required: {r}");
    trust(&server, "other", json!({}));
    let (s, r) = post_evidence(&server, &format!("{q}&threshold=2"), multisig.to_string().as_bytes());
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["items"][0]["digest"], id.as_str());
    let all = items();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["signers"].as_array().unwrap().len(), 2, "{all:?}");
    let (_, stored) = server.get(&format!("/v1/evidence/{id}"));
    assert_eq!(
        stored["envelope"]["signatures"].as_array().unwrap().len(),
        2,
        "{stored}"
    );
}
