//! Sigstore bundles through the real binary, offline: `gatehouse evidence
//! verify --trusted-root FILE BUNDLE [--artifact F] [--identity I --issuer ISS]`
//! over every fixture of tests/data/sigstore/bundle-verify, with its exit code
//! (0 valid, 1 refused with the case's code, 2 usage).

use std::path::{Path, PathBuf};

use gatehouse_e2e::{cli, on_postgres, stderr, stdout};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sigstore")
}

/// The case directories of tests/data/sigstore/bundle-verify, in order.
fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures().join("bundle-verify"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    cli(dir, args)
}

#[test]
fn evidence_verify_gives_every_fixture_its_exit_code_and_refusal_code() {
    if on_postgres() {
        return; // no store involved
    }
    let tmp = tempfile::tempdir().unwrap();
    let dirs = cases();
    assert!(dirs.len() >= 15, "{} cases", dirs.len());
    for d in dirs {
        let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("case.json")).unwrap()).unwrap();
        let (root, bundle, artifact) = (d.join("trusted_root.json"), d.join("bundle.json"), d.join("artifact"));
        let mut args = vec![
            "--output".to_string(),
            "json".into(),
            "evidence".into(),
            "verify".into(),
            "--trusted-root".into(),
            root.display().to_string(),
            bundle.display().to_string(),
            "--identity".into(),
            spec["identity"].as_str().unwrap().into(),
            "--issuer".into(),
            spec["issuer"].as_str().unwrap().into(),
        ];
        if artifact.exists() {
            args.extend(["--artifact".into(), artifact.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(tmp.path(), &args);
        let json: serde_json::Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{}: {e}: {} {}", d.display(), stdout(&out), stderr(&out)));
        match spec["code"].as_str() {
            None => {
                assert_eq!(out.status.code(), Some(0), "{}: {}", d.display(), stderr(&out));
                assert_eq!(json["signer"]["identity"], spec["identity"], "{}", d.display());
                assert_eq!(json["signer"]["claims"]["repository"], "https://github.com/acme/shop");
                assert!(json["signer"]["log_index"].is_u64(), "{json}");
            }
            Some(code) => {
                assert_eq!(out.status.code(), Some(1), "{}: {}", d.display(), stderr(&out));
                assert_eq!(json["error"]["code"], code, "{}: {json}", d.display());
            }
        }
    }
}

#[test]
fn evidence_verify_of_a_bundle_refuses_bad_usage_with_exit_2() {
    if on_postgres() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let wt = fixtures().join("walkthrough");
    let root = wt.join("trusted_root.json").display().to_string();
    let bundle = wt.join("shop-provenance.sigstore.json").display().to_string();
    let not_a_root = wt.join("shop-1.2.3.tar.gz").display().to_string();
    for (args, says) in [
        (vec!["evidence", "verify", &bundle], "--trusted-root"),
        (
            vec!["evidence", "verify", "--trusted-root", &not_a_root, &bundle],
            "not a Sigstore trusted root",
        ),
        (
            vec!["evidence", "verify", "--trusted-root", &root, &root],
            "not a Sigstore bundle",
        ),
        (
            vec![
                "evidence",
                "verify",
                "--trusted-root",
                &root,
                "/nonexistent/bundle.json",
            ],
            "cannot read",
        ),
        (vec!["evidence", "verify", "--identity", "x", &bundle], "--trusted-root"),
    ] {
        let out = run(tmp.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    // The same provenance, signed by another repository's workflow: valid
    // without an identity to hold it to, refused when ours is required.
    let fork = wt.join("fork-provenance.sigstore.json").display().to_string();
    let out = run(tmp.path(), &["evidence", "verify", "--trusted-root", &root, &fork]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("https://github.com/mallory/shop"),
        "{}",
        stdout(&out)
    );
    let ours = "https://github.com/acme/shop/.github/workflows/release.yml@refs/tags/v1.2.3";
    let out = run(
        tmp.path(),
        &["evidence", "verify", "--trusted-root", &root, &fork, "--identity", ours],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("identity_mismatch"), "{}", stderr(&out));
}

/// The shell block under docs/evidence.md's "Trusting a GitHub workflow identity".
fn walkthrough_script() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/evidence.md")).unwrap();
    let section = doc
        .split("### Trusting a GitHub workflow identity")
        .nth(1)
        .expect("the section");
    let block = section.split("```sh\n").nth(1).expect("a ```sh block");
    block.split("\n```").next().expect("a closed block").to_string()
}

#[test]
fn the_workflow_identity_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = gatehouse_e2e::Server::start(dir.path());
    let scratch = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &walkthrough_script()])
        .env("TMPDIR", scratch.path())
        .env("GATEHOUSE_BIN", gatehouse_e2e::gatehouse_bin())
        .env("GATEHOUSE_DATA_DIR", dir.path())
        .env("FIXTURES", fixtures().join("walkthrough"))
        .envs(gatehouse_e2e::database_env(dir.path()))
        .output()
        .unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "walkthrough failed\n--- stdout\n{so}\n--- stderr\n{se}"
    );
    assert!(so.contains("refused with exit code 1"), "{so}\n{se}");
    assert!(so.contains("gatehouse-test\tsha256:"), "trust-root list: {so}");
    assert!(
        so.contains("\tacme-release\tteam-shop\tactive\thttps://token.actions.githubusercontent.com https://github"),
        "keys list: {so}"
    );
    assert!(so.contains("refused for shop@1.2.3: unknown_identity"), "{so}");
    assert!(so.contains("https://github.com/mallory/shop"), "{so}");
    assert!(so.contains("blocked with exit code 1"), "{so}\n{se}");
    assert!(se.contains("[BASELINE-PROV-1]"), "{se}");
    assert!(
        so.contains("OK: https://slsa.dev/provenance/v1 signed by https://github.com/acme/shop/"),
        "{so}"
    );

    // What the walkthrough promises, through the API: the version entered dev,
    // and its evidence names the keyless signer and the identity that vouched.
    let (s, v) = server.get("/v1/applications/shop/versions/1.2.3");
    assert_eq!(s, 200);
    assert_eq!(v["stage"], "dev", "{v}");
    let (_, list) = server.get("/v1/applications/shop/versions/1.2.3/evidence?verified=true");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let e = &items[0];
    assert_eq!(
        e["keyless"]["repository"],
        serde_json::Value::Null,
        "claims are under keyless.claims"
    );
    assert_eq!(e["keyless"]["claims"]["repository"], "https://github.com/acme/shop");
    assert_eq!(e["keyless"]["issuer"], "https://token.actions.githubusercontent.com");
    assert!(e["keyless"]["log_index"].is_u64(), "{e}");
    let signer = &e["origin"]["signers"][0];
    assert_eq!(signer["name"], "acme-release", "{e}");
    assert!(signer["keyid"].as_str().unwrap().starts_with("identity:"), "{e}");
    assert_eq!(
        signer["keyless"]["identity"],
        "https://github.com/acme/shop/.github/workflows/release.yml@refs/tags/v1.2.3"
    );
    // The fork's bundle was refused on the version, with its code.
    let (_, refused) = server.get("/v1/applications/shop/versions/1.2.3/evidence?verified=false");
    let r = &refused["items"][0];
    assert_eq!(r["refusal"]["code"], "unknown_identity", "{refused}");
    assert_eq!(r["keyless"]["claims"]["repository"], "https://github.com/mallory/shop");
}

#[test]
fn trusted_roots_and_identities_refuse_bad_input_and_a_revoked_identity_stops_counting() {
    let dir = tempfile::tempdir().unwrap();
    let server = gatehouse_e2e::Server::start(dir.path());
    let wt = fixtures().join("walkthrough");
    let root = std::fs::read(wt.join("trusted_root.json")).unwrap();
    let bundle = std::fs::read(wt.join("shop-provenance.sigstore.json")).unwrap();
    let tarball = std::fs::read(wt.join("shop-1.2.3.tar.gz")).unwrap();
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&tarball))
    };
    let post = |path: &str, body: &[u8]| server.send("POST", path, Some(body), "admin");
    let (s, b) = post("/v1/applications", br#"{"key": "shop", "project": "shop"}"#);
    assert_eq!(s, 201, "{b}");
    let version = serde_json::json!({"version": "1.2.3", "artifacts": [{"name": "shop-1.2.3.tar.gz", "kind": "file", "sha256": digest}]});
    let (s, b) = post("/v1/applications/shop/versions", version.to_string().as_bytes());
    assert_eq!(s, 201, "{b}");

    // No root yet: the bundle cannot verify, and nothing binds.
    let (s, b) = post("/v1/evidence", &bundle);
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["items"][0]["refusal"]["code"], "no_trusted_root", "{b}");

    // A root that is not one, or a bad name, is refused by field; nothing is stored.
    for (query, body, field) in [
        ("name=test", &b"{}"[..], "trusted_root"),
        ("name=test", br#"{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": [], "certificateAuthorities": [], "ctlogs": [], "timestampAuthorities": []}"#, "trusted_root"),
        ("name=Not%20A%20Name", &root[..], "name"),
    ] {
        let (s, b) = post(&format!("/v1/trusted-roots?{query}"), body);
        assert_eq!(s, 400, "{query}: {b}");
        assert_eq!(b["error"]["field"], field, "{b}");
    }
    let (_, list) = server.get("/v1/trusted-roots");
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");
    let (s, b) = post("/v1/trusted-roots?name=gatehouse-test", &root);
    assert_eq!(s, 201, "{b}");
    assert!(b["digest"].as_str().unwrap().starts_with("sha256:"), "{b}");

    // Verified, but no identity is trusted: refused on the version, by code.
    let (s, b) = post("/v1/evidence", &bundle);
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        b["items"][0]["bindings"][0]["refusal"]["code"], "unknown_identity",
        "{b}"
    );

    // An identity that only allows another predicate type does not vouch for provenance.
    let identity = |name: &str, types: &[&str], repository: Option<&str>| {
        serde_json::json!({"name": name, "identity": {
            "issuer": "https://token.actions.githubusercontent.com",
            "subject": "https://github.com/acme/shop/.github/workflows/release.yml@refs/tags/v1.2.3",
            "repository": repository},
            "allowed_predicate_types": types})
        .to_string()
    };
    let (s, b) = post(
        "/v1/trusted-keys",
        identity("tests-only", &["https://in-toto.io/attestation/test-result/v0.1"], None).as_bytes(),
    );
    assert_eq!(s, 201, "{b}");
    let (s, b) = post("/v1/evidence", &bundle);
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        b["items"][0]["bindings"][0]["refusal"]["code"], "predicate_not_allowed",
        "{b}"
    );
    let both = br#"{"name": "x", "public_key": "00", "identity": {"issuer": "i", "subject": "s"}}"#;
    let (s, b) = post("/v1/trusted-keys", both);
    assert_eq!((s, b["error"]["field"].as_str()), (400, Some("public_key")), "{b}");

    // The same rule again is the same signer (409); one that also pins the repository is another.
    let (s, b) = post("/v1/trusted-keys", identity("again", &[], None).as_bytes());
    assert_eq!(s, 409, "{b}");
    let (s, key) = post(
        "/v1/trusted-keys",
        identity("acme-release", &[], Some("https://github.com/acme/shop")).as_bytes(),
    );
    assert_eq!(s, 201, "{key}");
    let (s, b) = post("/v1/evidence", &bundle);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["items"][0]["bindings"][0]["verified"], true, "{b}");
    let gate_evidence = || {
        let (s, doc) = server.get("/v1/applications/shop/versions/1.2.3/document?gate=dev/entry");
        assert_eq!(s, 200, "{doc}");
        doc["input"]["evidence"].as_array().unwrap().clone()
    };
    let evidence = gate_evidence();
    assert_eq!(evidence.len(), 1);
    let signer = &evidence[0]["origin"]["signers"][0];
    assert_eq!(signer["name"], "acme-release", "{signer}");
    // The input document names the keyless signer and its log position.
    assert_eq!(signer["keyless"]["claims"]["runner"], "github-hosted", "{signer}");
    assert!(signer["keyless"]["log_index"].is_u64(), "{signer}");
    assert_eq!(signer["keyless"]["trusted_root"], "gatehouse-test", "{signer}");

    // Revoked: the evidence stays stored, but no gate counts it any more.
    let keyid = key["keyid"].as_str().unwrap();
    let (s, b) = post(
        &format!("/v1/trusted-keys/{keyid}/revoke"),
        br#"{"reason": "workflow compromised"}"#,
    );
    assert_eq!(s, 200, "{b}");
    assert!(gate_evidence().is_empty());
    let (s, b) = post("/v1/evidence", &bundle);
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["items"][0]["bindings"][0]["refusal"]["code"], "key_revoked", "{b}");
    assert!(gate_evidence().is_empty());

    // A tampered bundle never binds; each import is in the activity log.
    let tampered = std::fs::read(fixtures().join("bundle-verify/bad-signature_fail/bundle.json")).unwrap();
    let (s, b) = post("/v1/evidence", &tampered);
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["items"][0]["refusal"]["code"], "bad_signature", "{b}");
    let (_, log) = server.get("/v1/activity?action=trusted_root.import");
    assert_eq!(log["items"].as_array().map(Vec::len), Some(1), "{log}");
}

/// Cases sigstore-python judges differently, and why (checked, so a change on
/// either side is noticed).
const SIGSTORE_PYTHON_DIFFERS: [(&str, &str); 3] = [
    // Its bundle model requires `inclusionProof` on every log entry; a v0.1
    // bundle may carry only a signed entry timestamp (protobuf-specs).
    ("dsse-set-only_v0.1_pass", "cannot parse"),
    // It does not hold the signing time to the CA's `validFor` in the trusted
    // root (only to the certificates' own validity); protobuf-specs says
    // clients MUST check both, as sigstore-verify does.
    ("ca-outside-validity_fail", "accepts"),
    // It drops an RFC 3161 timestamp that does not verify when another signed
    // time (the log's) does; sigstore-verify refuses the bundle (fail closed).
    ("tsa-untrusted_fail", "accepts"),
];

/// An independent verifier, sigstore-python (Sigstore's own Python client),
/// judges our fixtures as Gatehouse does: they are real Sigstore bundles.
#[test]
fn sigstore_python_agrees_with_every_fixture_but_the_documented_differences() {
    if on_postgres() {
        return;
    }
    let py = std::env::var("GATEHOUSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let tmp = tempfile::tempdir().unwrap();
    let dirs = cases();
    for d in dirs {
        let case = d.file_name().unwrap().to_string_lossy().to_string();
        let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("case.json")).unwrap()).unwrap();
        let root: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("trusted_root.json")).unwrap()).unwrap();
        // A client trust config: the case's root, and a signing config nobody calls (offline).
        let service = |url: &str| serde_json::json!({"url": url, "majorApiVersion": 1, "validFor": {"start": "2025-01-01T00:00:00Z"}, "operator": "gatehouse-test"});
        let config = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": root,
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": [service("https://fulcio.gatehouse.test")],
                "oidcUrls": [service("https://oauth2.gatehouse.test")],
                "rekorTlogUrls": [service("https://rekor.gatehouse.test")],
                "rekorTlogConfig": {"selector": "ANY"},
                "tsaUrls": [service("https://tsa.gatehouse.test")],
                "tsaConfig": {"selector": "ANY"}
            }
        });
        let config_path = tmp.path().join(format!("{case}.json"));
        std::fs::write(&config_path, config.to_string()).unwrap();
        let artifact = if d.join("artifact").exists() {
            d.join("artifact").display().to_string()
        } else {
            let bundle: serde_json::Value =
                serde_json::from_slice(&std::fs::read(d.join("bundle.json")).unwrap()).unwrap();
            let payload = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                bundle["dsseEnvelope"]["payload"].as_str().unwrap(),
            )
            .unwrap();
            let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            format!(
                "sha256:{}",
                statement["subject"][0]["digest"]["sha256"].as_str().unwrap()
            )
        };
        let out = std::process::Command::new(&py)
            .args(["-m", "sigstore", "--trust-config"])
            .arg(&config_path)
            .args(["verify", "identity", "--offline", "--bundle"])
            .arg(d.join("bundle.json"))
            .args(["--cert-identity", spec["identity"].as_str().unwrap()])
            .args(["--cert-oidc-issuer", spec["issuer"].as_str().unwrap()])
            .arg(&artifact)
            .output()
            .expect("run python3 -m sigstore (pip install -r tests/requirements.txt)");
        let accepted = out.status.success();
        let ours = spec["code"].is_null();
        let differs = SIGSTORE_PYTHON_DIFFERS.iter().any(|(c, _)| *c == case);
        assert_eq!(
            accepted,
            ours != differs,
            "{case}: sigstore-python {} (Gatehouse {}){}\n{}",
            if accepted { "accepts" } else { "refuses" },
            if ours { "accepts" } else { "refuses" },
            if differs {
                ", a documented difference that no longer holds"
            } else {
                ""
            },
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
