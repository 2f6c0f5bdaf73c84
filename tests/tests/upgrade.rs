//! Upgrades keep data: a data directory written by an earlier landed build
//! (tests/data/upgrade/v1-9bf9947, made by make-fixture.sh beside it with
//! that build's binary) opens, verifies and serves with this one. The fixture
//! is copied first: a test never changes it.

use std::path::{Path, PathBuf};

use gatehouse_e2e::{Server, cli, copy_dir, stderr, stdout};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/upgrade").join(name)
}

#[test]
fn a_data_directory_of_the_first_wave_opens_verifies_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    opens_verifies_and_serves(dir.path(), "v1-9bf9947");
}

/// The format of the gate-integrity build: its signed heads still vouch for
/// the log, its approved waiver is in force, its withdrawn release stays
/// withdrawn, and then the common checks hold.
#[test]
fn a_data_directory_of_the_gate_integrity_build_opens_verifies_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    opens_verifies_and_serves(dir.path(), "v2-19e2262");
    gate_integrity_format_holds(dir.path());
}

/// The last format before the log switched to RFC 8785 (schema 10: evidence
/// stored once per statement): every event it wrote keeps its hash.
#[test]
fn a_data_directory_of_the_last_sorted_keys_build_opens_verifies_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    opens_verifies_and_serves(dir.path(), "v3-32f4474");
    gate_integrity_format_holds(dir.path());
}

/// The format of 315c7df (schema 12): a log hashed over RFC 8785 from its
/// first event, and vulnerability findings written by both paths — an
/// advisory import over a stored SBOM and an SBOM upload over stored
/// advisories — as the sidecar stored them before findings moved.
#[test]
fn a_data_directory_with_stored_findings_opens_verifies_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    opens_verifies_and_serves(dir.path(), "v4-315c7df");
    gate_integrity_format_holds(dir.path());
    findings_format_holds(dir.path());
}

/// The format of 9a1ca73 (schema 13: findings stored per package version),
/// the last before Sigstore trusted roots (schema 14) and keyless signers:
/// it opens, verifies and serves, and then takes a trusted root, a trusted
/// identity and a bundle like a store made by this build.
#[test]
fn a_data_directory_of_the_last_build_before_sigstore_opens_verifies_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    opens_verifies_and_serves(dir.path(), "v5-9a1ca73");
    gate_integrity_format_holds(dir.path());
    findings_format_holds(dir.path());

    let data = dir.path().join("data");
    let wt = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sigstore/walkthrough");
    let o = cli(
        &data,
        &[
            "trust-root",
            "import",
            wt.join("trusted_root.json").to_str().unwrap(),
            "--name",
            "test",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(
        &data,
        &[
            "keys",
            "trust-identity",
            "--name",
            "acme-release",
            "--issuer",
            "https://token.actions.githubusercontent.com",
            "--subject",
            "https://github.com/acme/shop/.github/workflows/release.yml@refs/tags/v1.2.3",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // The keys the old build trusted are listed beside the identity.
    let o = cli(&data, &["keys", "list"]);
    assert!(
        stdout(&o).contains("\tci\t") && stdout(&o).contains("\tacme-release\t"),
        "{}",
        stdout(&o)
    );
    let tarball = std::fs::read(wt.join("shop-1.2.3.tar.gz")).unwrap();
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&tarball))
    };
    let artifact = format!("name=shop-1.2.3.tar.gz,kind=file,sha256={digest}");
    let o = cli(
        &data,
        &["version", "create", "payments", "9.9.9", "--artifact", &artifact],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let bundle = wt.join("shop-provenance.sigstore.json");
    let o = cli(&data, &["evidence", "add", bundle.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("verified for payments@9.9.9"), "{}", stdout(&o));
    let o = cli(&data, &["audit", "verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The expected pairs of a real SBOM, as `(purl, advisory)`.
fn expected_pairs(name: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(gatehouse_e2e::data(&format!("expected/{name}.pairs.tsv"))).unwrap();
    let mut pairs: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (p, a) = l.split_once('\t').unwrap();
            (p.to_string(), a.to_string())
        })
        .collect();
    pairs.sort();
    pairs
}

fn served_pairs(server: &Server, version: &str) -> Vec<(String, String)> {
    let (s, f) = server.get(&format!("/v1/applications/inventory/versions/{version}/findings"));
    assert_eq!(s, 200, "{f}");
    let mut pairs: Vec<(String, String)> = f["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["purl"].as_str().unwrap().to_string(),
                i["advisory"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

/// What a fixture made with `FIXTURE=v3` holds: each version's stored
/// findings are its SBOM's expected pairs; an advisory's blast radius finds
/// them; the stored advisories still match a new upload; a re-import of the
/// same advisories finds nothing new.
fn findings_format_holds(dir: &Path) {
    let data = dir.join("data");
    let server = Server::start(&data);
    let python = expected_pairs("python-env.cdx-1.6");
    let npm = expected_pairs("npm-project.cdx-1.6");
    assert_eq!(served_pairs(&server, "3.1.0"), python, "found by the import");
    assert_eq!(served_pairs(&server, "3.2.0"), npm, "found at the upload");

    let (s, br) = server.get("/v1/vulnerabilities/PYSEC-2019-217/blast-radius");
    assert_eq!(s, 200, "{br}");
    let affected = br["affected"].as_array().unwrap();
    assert!(
        affected
            .iter()
            .any(|a| a["application"] == "inventory" && a["version"] == "3.1.0"),
        "{br}"
    );

    // Advisories stored by the old build match a version created by this one.
    let (s, r) = server.post("/v1/applications/inventory/versions", &json!({"version": "3.3.0"}));
    assert_eq!(s, 201, "{r}");
    let sbom = std::fs::read(gatehouse_e2e::data("sbom/python/python-env.cdx-1.6.json")).unwrap();
    let (s, r) = server.send(
        "POST",
        "/v1/applications/inventory/versions/3.3.0/sboms",
        Some(&sbom),
        "ci",
    );
    assert_eq!(s, 201, "{r}");
    assert_eq!(served_pairs(&server, "3.3.0"), python);

    // The same advisories again: all unchanged, no new finding anywhere.
    let advisories: Vec<Value> = python
        .iter()
        .chain(&npm)
        .map(|(_, a)| a.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|id| {
            let path = ["ghsa", "pypa", "rustsec"]
                .iter()
                .map(|d| gatehouse_e2e::data(&format!("osv/{d}/{id}.json")))
                .find(|p| p.exists())
                .unwrap_or_else(|| panic!("{id} in tests/data/shared/osv"));
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        })
        .collect();
    let (s, again) = server.post("/v1/advisories", &Value::Array(advisories.clone()));
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["unchanged"].as_u64(), Some(advisories.len() as u64), "{again}");
    assert_eq!(again["new_findings"], json!([]), "{again}");
    assert_eq!(served_pairs(&server, "3.1.0"), python);

    // An advisory updated to affect nothing shipped loses its findings: the
    // rows the old build stored on 3.1.0 and the ones this build derives on 3.3.0.
    let mut fixed = advisories
        .iter()
        .find(|a| a["id"] == "PYSEC-2019-217")
        .expect("PYSEC-2019-217 among the python pairs")
        .clone();
    fixed["modified"] = json!("2026-12-02T00:00:00Z");
    fixed["affected"][0]["ranges"] = json!([{"type": "ECOSYSTEM", "events": [{"introduced": "99"}]}]);
    fixed["affected"][0]["versions"] = json!([]);
    let (s, r) = server.post("/v1/advisories", &fixed);
    assert_eq!((s, &r["updated"]), (200, &json!(["PYSEC-2019-217"])), "{r}");
    let without: Vec<(String, String)> = python.iter().filter(|(_, a)| a != "PYSEC-2019-217").cloned().collect();
    assert!(without.len() < python.len());
    assert_eq!(served_pairs(&server, "3.1.0"), without);
    assert_eq!(served_pairs(&server, "3.3.0"), without);
}

/// What a fixture made with `FIXTURE=v2` holds: signed heads, an approved
/// waiver, a withdrawn release.
fn gate_integrity_format_holds(dir: &Path) {
    let data = dir.join("data");
    let server = Server::start(&data);
    let (_, w) = server.get("/v1/waivers?application=payments&version=1.1.0");
    assert_eq!(w["items"][0]["status"], "approved", "{w}");
    assert!(w["items"][0]["version_digest"].is_string(), "{w}");
    let base = "/v1/applications/checkout/versions/2.0.0";
    let (s, withdrawal) = server.get(&format!("{base}/withdrawal"));
    assert_eq!(s, 200, "{withdrawal}");
    let (s, gone) = server.get(&format!("{base}/vsa"));
    assert_eq!((s, &gone["error"]["code"]), (410, &json!("withdrawn")), "{gone}");
    let w_file = dir.join("withdrawals.json");
    std::fs::write(&w_file, withdrawal.to_string()).unwrap();
    let record = dir.join("checkout-2.0.0.record.json");
    let key = dir.join("release.pub.pem");
    let o = cli(
        &data,
        &[
            "verify",
            record.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--withdrawals",
            w_file.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("withdrawn"), "{}", stderr(&o));
}

/// What every fixture must do under this build.
fn opens_verifies_and_serves(dir: &Path, name: &str) {
    copy_dir(&fixture(name), dir);
    let data = dir.join("data");
    // The fixtures are embedded stores (gatehouse.db) of earlier builds.
    gatehouse_e2e::embedded_only(&data);

    // The log written by the old build is intact under the new one (after its migration).
    let o = cli(&data, &["--output", "json", "audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let before: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let old_head = before["head_seq"].as_i64().unwrap();
    // Every event it wrote keeps its hash: a log of a sorted-keys build
    // switches to RFC 8785 with the next event; a log of a later build was
    // RFC 8785 from its first.
    let jcs_from = before["jcs_from_seq"].as_i64();
    assert!(jcs_from == Some(old_head + 1) || jcs_from == Some(1), "{before}");
    assert_eq!(jcs_from == Some(1), name >= "v4", "{before}");

    // Its Trusted Release record verifies offline, as before.
    let record = dir.join("payments-1.0.0.record.json");
    let key = dir.join("release.pub.pem");
    let o = cli(
        &data,
        &["verify", record.to_str().unwrap(), "--key", key.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("OK: Trusted Release of payments@1.0.0"),
        "{}",
        stdout(&o)
    );

    let server = Server::start(&data);
    // The stored record is served unchanged.
    let (s, served) = server.get("/v1/applications/payments/versions/1.0.0/trusted-release");
    assert_eq!(s, 200, "{served}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    let served_env = if served.get("envelope").is_some() {
        &served["envelope"]
    } else {
        &served
    };
    let written_env = if written.get("envelope").is_some() {
        &written["envelope"]
    } else {
        &written
    };
    assert_eq!(served_env, written_env);

    // Evidence stored before origins existed is shown with its origin: signed by the trusted CI key.
    let (_, ev) = server.get("/v1/applications/payments/versions/1.1.0/evidence");
    let origin = &ev["items"][0]["origin"];
    assert_eq!(origin["kind"], "signed", "{ev}");
    assert_eq!(origin["signers"][0]["name"], "ci", "{ev}");

    // Evidence stored by the old build is found by its statement: re-sent
    // with an extra (junk) signature, it is the same item, not a second one.
    let id = ev["items"][0]["digest"].as_str().unwrap().to_string();
    let (s, stored) = server.get(&format!("/v1/evidence/{id}"));
    assert_eq!(s, 200, "{stored}");
    let mut resent = stored["envelope"].clone();
    let mut junk = resent["signatures"][0].clone();
    junk["sig"] = json!(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        [9u8; 64]
    ));
    resent["signatures"].as_array_mut().unwrap().push(junk);
    let (s, r) = server.send(
        "POST",
        "/v1/evidence?application=payments&version=1.1.0",
        Some(resent.to_string().as_bytes()),
        "ci",
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["items"][0]["digest"], id.as_str(), "{r}");
    assert_eq!(r["items"][0]["bindings"][0]["already_present"], true, "{r}");
    let (_, after) = server.get("/v1/applications/payments/versions/1.1.0/evidence");
    assert_eq!(
        after["items"].as_array().unwrap().len(),
        ev["items"].as_array().unwrap().len()
    );

    // The uploaded policy keeps its digest and version; the waiver request is there.
    let (s, p) = server.get("/v1/policies/team.owners");
    assert_eq!((s, p["version"].as_u64()), (200, Some(1)), "{p}");
    // (v1 left it requested; v2 had it approved.)
    let (_, w) = server.get("/v1/waivers?application=payments&version=1.1.0");
    let status = w["items"][0]["status"].as_str().unwrap_or_default();
    assert!(["requested", "approved"].contains(&status), "{w}");

    // The next version climbs through the bound gate on the evidence the old build stored.
    let (s, r) = server.post(
        "/v1/applications/payments/versions/1.1.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 200, "{r}");

    // And the log, extended by this build (events hashed over RFC 8785 after
    // the old build's, sorted-keys ones), still verifies whole.
    drop(server);
    let o = cli(&data, &["--output", "json", "audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let after: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(after["head_seq"].as_i64().unwrap() > old_head, "{after}");
    assert_eq!(after["jcs_from_seq"], before["jcs_from_seq"], "{after}");
}
