//! Gate integrity, end to end on the real binary over REST: each test first
//! makes the attack an outsider found, then shows what holds instead.
//! Evidence bound to the artifacts it names (an artifact swap loses it),
//! collectors that cannot vouch for what they were not trusted with, plugin
//! names that run the code they name, policies written through another
//! process in force at the next gate, SBOMs fixed when a version freezes,
//! bindings to stages that exist, signer thresholds the operator sets, and
//! the SLSA level a release gate verified in the VSA.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use gatehouse_e2e::{
    Server, check_result as check, cli, create_token, put_binding, request, seed, sha256_file, stderr, stdout, wasm_dir,
};
use serde_json::{Value, json};

/// A fresh signing key made by the CLI: (private PEM path, public PEM text).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let out = dir.join(name);
    let o = cli(dir, &["keys", "generate", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    (
        out.join("ed25519.priv.pem"),
        std::fs::read_to_string(out.join("ed25519.pub.pem")).unwrap(),
    )
}

/// Sign `predicate` about the file `subject` with the CLI; the envelope's bytes.
fn sign(dir: &Path, key: &Path, predicate_type: &str, predicate: &Value, subject: &Path) -> Vec<u8> {
    let pred = dir.join(format!("pred-{}.json", rand_suffix()));
    std::fs::write(&pred, predicate.to_string()).unwrap();
    let out = dir.join(format!("env-{}.json", rand_suffix()));
    let o = cli(
        dir,
        &[
            "evidence",
            "sign",
            "--key",
            key.to_str().unwrap(),
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
    std::fs::read(out).unwrap()
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst).to_string()
}

const TEST_RESULT: &str = "https://in-toto.io/attestation/test-result/v0.1";
const SLSA: &str = "https://slsa.dev/provenance/v1";

fn call(server: &Server, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let bytes = body.to_string();
    let body = if body.is_null() { None } else { Some(bytes.as_bytes()) };
    request(server.addr, method, path, body, Some(token))
}

/// An artifact file and its digest.
fn artifact(dir: &Path, name: &str, content: &str) -> (PathBuf, String) {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    let d = sha256_file(&p);
    (p, d)
}

const SWAP_CONFIG: &str = r#"
[[bindings]]
id = "tests-before-dev"
check = "policy:baseline.tests"
gate = { stage = "dev", kind = "entry" }

[[bindings]]
id = "level-at-release"
check = "policy:slsa.build_level"
gate = { stage = "prod", kind = "release" }
params = { min_level = 3, builder_levels = { "https://builder.example/l3" = 3 } }
"#;

/// Items 1 and 9: test evidence about artifact A does not count for a draft
/// whose artifact became B; the record names the subject each item matched;
/// the VSA lists the SLSA level the bound release check verified.
#[test]
fn evidence_counts_only_for_the_artifacts_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("gatehouse.toml");
    std::fs::write(&config, SWAP_CONFIG).unwrap();
    let server = Server::start_with(d, &["--config", config.to_str().unwrap()]);
    let admin = create_token(d, "alice", "admin");
    let dev = create_token(d, "dana", "developer");
    let rm = create_token(d, "rob", "release-manager");
    let (key, public) = keygen(d, "ci");
    assert_eq!(
        call(
            &server,
            &admin,
            "POST",
            "/v1/trusted-keys",
            json!({"name": "ci", "owner": "platform", "public_key": public})
        )
        .0,
        201
    );
    assert_eq!(
        call(&server, &admin, "POST", "/v1/applications", json!({"key": "pay"})).0,
        201
    );
    let (a_file, a) = artifact(d, "a.tgz", "the reviewed build");
    let (_, b) = artifact(d, "b.tgz", "something else");
    let v = json!({"version": "1.0.0", "artifacts": [{"name": "app.tgz", "kind": "file", "sha256": a}]});
    assert_eq!(call(&server, &dev, "POST", "/v1/applications/pay/versions", v).0, 201);
    let passed = sign(
        d,
        &key,
        TEST_RESULT,
        &json!({"result": "PASSED", "passedTests": ["t"]}),
        &a_file,
    );
    let (s, r) = request(server.addr, "POST", "/v1/evidence", Some(&passed), Some(&dev));
    assert_eq!(s, 200, "{r}");
    let prov = sign(
        d,
        &key,
        SLSA,
        &json!({"buildDefinition": {}, "runDetails": {"builder": {"id": "https://builder.example/l3"}}}),
        &a_file,
    );
    assert_eq!(
        request(server.addr, "POST", "/v1/evidence", Some(&prov), Some(&dev)).0,
        200
    );

    // The swap: the draft's artifact becomes B after the evidence about A arrived.
    let base = "/v1/applications/pay/versions/1.0.0";
    let swapped = json!({"artifacts": [{"name": "app.tgz", "kind": "file", "sha256": b}]});
    assert_eq!(call(&server, &dev, "PATCH", base, swapped).0, 200);
    let (s, r) = call(
        &server,
        &rm,
        "POST",
        &format!("{base}/promote"),
        json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 409, "the test result is about A, not B: {r}");
    let tests = check(&r, "policy:baseline.tests");
    assert_eq!(tests["outcome"], "fail", "{tests}");
    assert!(tests["messages"].to_string().contains("BASELINE-TEST-1"), "{tests}");

    // Back to A: the same evidence counts again, and the version climbs.
    let back = json!({"artifacts": [{"name": "app.tgz", "kind": "file", "sha256": a}]});
    assert_eq!(call(&server, &dev, "PATCH", base, back).0, 200);
    for stage in ["dev", "qa", "staging", "prod"] {
        let (s, r) = call(
            &server,
            &rm,
            "POST",
            &format!("{base}/promote"),
            json!({"target_stage": stage}),
        );
        assert_eq!(s, 200, "{stage}: {r}");
    }
    let (s, r) = call(&server, &rm, "POST", &format!("{base}/release"), json!({}));
    assert_eq!(s, 200, "{r}");

    // The API shows each item's origin: signed, by which key, name and owner.
    let (_, ev) = call(&server, &admin, "GET", &format!("{base}/evidence"), Value::Null);
    let origin = &ev["items"][0]["origin"];
    assert_eq!(origin["kind"], "signed", "{ev}");
    assert_eq!(origin["signers"][0]["name"], "ci", "{ev}");
    assert_eq!(origin["signers"][0]["owner"], "platform", "{ev}");

    // The record names, per evidence item, the subject it matched, and its origin.
    let (s, env) = call(&server, &admin, "GET", &format!("{base}/trusted-release"), Value::Null);
    assert_eq!(s, 200, "{env}");
    let statement = payload(&env);
    let items = statement["predicate"]["evidence"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{statement}");
    for item in items {
        assert_eq!(item["subject"]["digest"]["sha256"], a.as_str(), "{item}");
        assert_eq!(item["origin"]["signers"][0]["name"], "ci", "{item}");
    }

    // The VSA lists the level the bound slsa.build_level check verified.
    let (s, vsa) = call(&server, &admin, "GET", &format!("{base}/vsa"), Value::Null);
    assert_eq!(s, 200, "{vsa}");
    assert_eq!(
        payload(&vsa)["predicate"]["verifiedLevels"],
        json!(["SLSA_BUILD_LEVEL_3"]),
        "{vsa}"
    );
}

fn payload(env: &Value) -> Value {
    let env = if env.get("envelope").is_some() {
        &env["envelope"]
    } else {
        env
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap_or_else(|| panic!("no payload in {env}")))
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A plugin directory and a config file naming it.
fn plugin_env(extra: &str) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&plugins).unwrap();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        format!("plugin_dir = {:?}\n{extra}", plugins.display().to_string()),
    )
    .unwrap();
    (dir, data, plugins, config)
}

fn junit_reports(dir: &Path, name: &str) -> PathBuf {
    let reports = dir.join(name);
    std::fs::create_dir_all(&reports).unwrap();
    std::fs::write(
        reports.join("unit.xml"),
        r#"<testsuites><testsuite name="unit"><testcase classname="pay" name="charges"/></testsuite></testsuites>"#,
    )
    .unwrap();
    reports
}

/// Item 2: a collector's PASSED result does not satisfy baseline.tests
/// unless the binding names that collector; a collector may emit only the
/// predicate types its manifest declares; an on-demand collect takes no
/// parameters from the caller.
#[test]
fn collectors_vouch_only_for_what_they_are_trusted_with() {
    let (dir, data, plugins, config) = plugin_env("");
    let reports = junit_reports(dir.path(), "reports");
    let grant = format!("allowed_paths = [{:?}]", reports.display().to_string());
    std::fs::write(
        plugins.join("junit.toml"),
        format!("name = \"junit-ci\"\nversion = \"1.0.0\"\nworld = \"collector\"\nbundled = \"junit-collector\"\n[config]\ndir = {:?}\n[capabilities]\n{grant}\n", reports.display().to_string()),
    )
    .unwrap();
    // The same component, declared as emitting provenance only.
    std::fs::write(
        plugins.join("forger.toml"),
        format!("name = \"forger\"\nversion = \"1.0.0\"\nworld = \"collector\"\nbundled = \"junit-collector\"\n[config]\ndir = {:?}\n[capabilities]\n{grant}\npredicate_types = [\"{SLSA}\"]\n", reports.display().to_string()),
    )
    .unwrap();
    let server = Server::start_with(&data, &["--config", config.to_str().unwrap()]);
    gatehouse_e2e::seed(&server, "shop", "2.0.0");
    gatehouse_e2e::seed(&server, "shop", "2.0.1");

    // The attack: the collector's PASSED result was taken as the CI's.
    assert_eq!(
        put_binding(&server, "junit", "plugin:junit-ci", "dev", json!({})).0,
        200
    );
    assert_eq!(
        put_binding(&server, "tests", "policy:baseline.tests", "dev", json!({})).0,
        200
    );
    let (s, r) = server.post(
        "/v1/applications/shop/versions/2.0.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 409, "a collector's claim must not count by default: {r}");
    assert_eq!(check(&r, "plugin:junit-ci")["outcome"], "pass", "{r}");
    assert_eq!(check(&r, "policy:baseline.tests")["outcome"], "fail", "{r}");

    // Its origin says who ran which code, for whom, with what.
    let (_, ev) = server.get("/v1/applications/shop/versions/2.0.0/evidence");
    let origin = &ev["items"][0]["origin"];
    assert_eq!(origin["kind"], "collected", "{ev}");
    assert_eq!(origin["plugin"], "junit-ci", "{ev}");
    assert_eq!(origin["binding"], "junit", "{ev}");
    assert_eq!(origin["triggered_by"], "tester", "{ev}");
    assert_eq!(origin["plugin_signer"], "bundled (built into this binary)", "{ev}");
    assert_eq!(origin["plugin_digest"].as_str().unwrap().len(), 64, "{ev}");

    // The operator names the collector in the binding: now it counts.
    let params = json!({"collectors": ["junit-ci"]});
    assert_eq!(
        put_binding(&server, "tests", "policy:baseline.tests", "dev", params).0,
        200
    );
    let (s, r) = server.post(
        "/v1/applications/shop/versions/2.0.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 200, "{r}");

    // Parameters that decide trust never come from the caller of an on-demand collect.
    let other = junit_reports(dir.path(), "other-app");
    let (s, r) = server.post(
        "/v1/applications/shop/versions/2.0.1/collect",
        &json!({"plugin": "junit-ci", "params": {"dir": other.display().to_string()}}),
    );
    assert_eq!(s, 400, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("params"), "{r}");
    let (s, r) = server.post(
        "/v1/applications/shop/versions/2.0.1/collect",
        &json!({"plugin": "junit-ci"}),
    );
    assert_eq!(s, 200, "{r}");
    let (_, ev) = server.get("/v1/applications/shop/versions/2.0.1/evidence");
    assert_eq!(ev["items"][0]["origin"]["binding"], Value::Null, "{ev}");
    assert_eq!(ev["items"][0]["origin"]["params"], json!({}), "{ev}");

    // A collector that returns a predicate type its manifest does not declare
    // violates its capabilities: an error, and nothing stored.
    assert_eq!(put_binding(&server, "forge", "plugin:forger", "qa", json!({})).0, 200);
    let (_, before) = server.get("/v1/applications/shop/versions/2.0.0/evidence");
    let (s, r) = server.post(
        "/v1/applications/shop/versions/2.0.0/promote",
        &json!({"target_stage": "qa"}),
    );
    assert_eq!(s, 409, "{r}");
    let forger = check(&r, "plugin:forger");
    assert_eq!(forger["outcome"], "error", "{forger}");
    assert!(
        forger["messages"].to_string().contains("violated its capabilities"),
        "{forger}"
    );
    let (_, after) = server.get("/v1/applications/shop/versions/2.0.0/evidence");
    assert_eq!(
        before["items"].as_array().unwrap().len(),
        after["items"].as_array().unwrap().len()
    );
}

/// `serve` with this configuration must refuse to start: its output. A
/// server that starts instead (the manifest was admitted) fails the test
/// rather than running forever.
fn serve_refused(data: &Path, config: &Path) -> std::process::Output {
    let mut child = Command::new(gatehouse_e2e::gatehouse_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(["--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("serve started: the manifest was admitted ({})", stdout(&out));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Item 3: a manifest cannot run a bundled component under another bundled
/// plugin's name, and a vendor signature covers the name the plugin is bound by.
#[test]
fn a_plugin_name_runs_the_code_it_names() {
    let (dir, data, plugins, config) = plugin_env("require_signed_plugins = true\n");
    std::fs::write(
        plugins.join("impostor.toml"),
        "name = \"provenance-builder\"\nversion = \"1.0.0\"\nworld = \"gate-check\"\nbundled = \"license-policy\"\n",
    )
    .unwrap();
    let o = serve_refused(&data, &config);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot run under another plugin's name"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(plugins.join("impostor.toml")).unwrap();

    // A component the vendor signed as "hostile-check", offered as "license-policy".
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (vendor_priv, _) = keygen(&keys, "acme");
    let vendor_pub = keys.join("acme").join("ed25519.pub.pem");
    let wasm = plugins.join("hostile.wasm");
    std::fs::copy(wasm_dir().join("hostile.wasm"), &wasm).unwrap();
    let o = cli(
        &data,
        &[
            "plugin",
            "sign",
            "--key",
            vendor_priv.to_str().unwrap(),
            "--name",
            "hostile-check",
            wasm.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = plugins.join("lp.toml");
    std::fs::write(
        &manifest,
        format!(
            "name = \"license-policy\"\nversion = \"1.0.0\"\nworld = \"gate-check\"\nwasm = \"hostile.wasm\"\nsha256 = \"{}\"\n",
            sha256_file(&wasm)
        ),
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            "plugin_dir = {:?}\nrequire_signed_plugins = true\nplugin_keys = [{:?}]\n",
            plugins.display().to_string(),
            vendor_pub.display().to_string()
        ),
    )
    .unwrap();
    let o = serve_refused(&data, &config);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the signature is for the plugin named \"hostile-check\", not \"license-policy\""),
        "{}",
        stderr(&o)
    );

    // Signed under its own name it is admitted, and the API says which code runs.
    std::fs::write(
        &manifest,
        format!(
            "name = \"hostile-check\"\nversion = \"1.0.0\"\nworld = \"gate-check\"\nwasm = \"hostile.wasm\"\nsha256 = \"{}\"\n",
            sha256_file(&wasm)
        ),
    )
    .unwrap();
    let server = Server::start_with(&data, &["--config", config.to_str().unwrap()]);
    let (s, p) = server.get("/v1/plugins/hostile-check");
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["digest"], sha256_file(&wasm).as_str(), "{p}");
    assert_eq!(p["signer"]["name"], "acme", "{p}");
    let (_, lp) = server.get("/v1/plugins/license-policy");
    assert_eq!(lp["origin"]["kind"], "bundled", "{lp}");
}

/// Item 7: a policy written through the CLI on the data directory is in
/// force in the running sidecar at the next gate (no restart).
#[test]
fn policies_written_by_another_process_are_in_force_at_the_next_gate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d);
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    let strict = d.join("strict.rego");
    std::fs::write(
        &strict,
        "package team.gate\nimport rego.v1\ndeny contains \"frozen: no releases this week\" if true\n",
    )
    .unwrap();
    let o = cli(d, &["policy", "upload", "team.gate", strict.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The sidecar knows it without a restart: the binding is accepted and the gate judges with it.
    let (s, r) = put_binding(&server, "freeze", "policy:team.gate", "dev", json!({}));
    assert_eq!(s, 200, "{r}");
    let (s, r) = server.post(
        "/v1/applications/shop/versions/1.0.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 409, "{r}");
    let c = check(&r, "policy:team.gate");
    assert_eq!(c["outcome"], "fail", "not an error about an unloaded policy: {c}");
    assert!(c["messages"].to_string().contains("frozen"), "{c}");

    // A new version of the policy, written the same way, is in force at the next gate.
    std::fs::write(
        &strict,
        "package team.gate\nimport rego.v1\ndeny contains \"never\" if false\n",
    )
    .unwrap();
    let o = cli(d, &["policy", "upload", "team.gate", strict.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (s, r) = server.post(
        "/v1/applications/shop/versions/1.0.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 200, "{r}");
    let (_, p) = server.get("/v1/policies/team.gate");
    assert_eq!(p["version"], 2, "{p}");
}

/// Items 4 and 5 over REST: a conftest-style package of several files with
/// conftest's rule names, uploaded whole, judges as conftest would.
#[test]
fn a_conftest_style_policy_set_runs_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d);
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/conftest-style");
    let o = cli(d, &["policy", "upload", "main", pack.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("policy main version 1"), "{}", stdout(&o));
    let (_, p) = server.get("/v1/policies/main");
    assert_eq!(p["files"].as_array().unwrap().len(), 4, "{p}");
    assert_eq!(put_binding(&server, "conftest", "policy:main", "dev", json!({})).0, 200);
    let (s, r) = server.post(
        "/v1/applications/shop/versions/1.0.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 409, "{r}");
    let c = check(&r, "policy:main");
    let messages = c["messages"].to_string();
    // deny (deny.rego), deny_<name> (labels.rego) and violation_<name> (violation.rego) all block;
    // warn_<name> (warn.rego) warns.
    for expected in [
        "application shop has no owners",
        "application shop lacks the label team",
        "version 1.0.0 has no VCS revision",
        "application shop has criticality unspecified",
    ] {
        assert!(messages.contains(expected), "{expected}: {c}");
    }
    assert_eq!(c["outcome"], "fail", "{c}");

    // A second file that redefines a complete rule is refused, naming both files.
    let (s, r) = server.send(
        "PUT",
        "/v1/policies/main",
        Some(
            json!({"files": [
                {"path": "a.rego", "source": "package main\nimport rego.v1\nlimit := 1\n"},
                {"path": "b.rego", "source": "package main\nimport rego.v1\nlimit := 2\n"},
            ]})
            .to_string()
            .as_bytes(),
        ),
        "admin",
    );
    assert_eq!(s, 409, "{r}");
    let m = r["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("a.rego") && m.contains("b.rego") && m.contains("limit"),
        "{m}"
    );
}

/// Items 6 and 12: the input document carries the SBOM's components (with
/// licences); an unsigned SBOM cannot be attached once the version froze.
#[test]
fn the_sbom_reaches_the_gate_and_is_fixed_when_the_version_freezes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d);
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    let policy = "package team.sbom\nimport rego.v1\n\
        deny contains \"no components in the SBOM\" if count(input.sbom.components) == 0\n\
        deny contains sprintf(\"%v is %v\", [c.name, l]) if { some c in input.sbom.components; some l in c.licenses; l == \"AGPL-3.0-only\" }\n";
    let (s, r) = server.send(
        "PUT",
        "/v1/policies/team.sbom",
        Some(json!({"source": policy}).to_string().as_bytes()),
        "admin",
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(put_binding(&server, "sbom", "policy:team.sbom", "qa", json!({})).0, 200);
    let sbom = json!({
        "bomFormat": "CycloneDX", "specVersion": "1.6",
        "components": [
            {"name": "left-pad", "version": "1.3.0", "purl": "pkg:npm/left-pad@1.3.0", "licenses": [{"license": {"id": "MIT"}}]},
            {"name": "copyleft", "version": "2.0.0", "purl": "pkg:npm/copyleft@2.0.0", "licenses": [{"license": {"id": "AGPL-3.0-only"}}]},
        ]
    });
    let path = "/v1/applications/shop/versions/1.0.0/sboms";
    let (s, r) = server.send("POST", path, Some(sbom.to_string().as_bytes()), "admin");
    assert_eq!(s, 201, "{r}");
    let (s, r) = server.post(
        "/v1/applications/shop/versions/1.0.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 200, "{r}");
    let (s, r) = server.post(
        "/v1/applications/shop/versions/1.0.0/promote",
        &json!({"target_stage": "qa"}),
    );
    assert_eq!(s, 409, "{r}");
    let c = check(&r, "policy:team.sbom");
    let messages = c["messages"].to_string();
    assert!(messages.contains("copyleft is AGPL-3.0-only"), "{c}");
    assert!(!messages.contains("no components"), "{c}");

    // Frozen: an unsigned SBOM upload is refused and the refusal logged.
    let clean = json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []});
    let (s, r) = server.send("POST", path, Some(clean.to_string().as_bytes()), "admin");
    assert_eq!(s, 409, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("frozen"), "{r}");
    let (_, log) = server.get("/v1/activity?action=sbom.attach");
    let results: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert!(results.contains(&"failure"), "{log}");
    // The gate still judges the SBOM the version froze with.
    let (_, r) = server.post(
        "/v1/applications/shop/versions/1.0.0/promote",
        &json!({"target_stage": "qa"}),
    );
    assert!(
        check(&r, "policy:team.sbom")["messages"]
            .to_string()
            .contains("copyleft"),
        "{r}"
    );
}

/// Items 10 and 11: a binding to a stage no lifecycle has is refused; how
/// many signers evidence needs is the operator's, not the submitter's.
#[test]
fn bindings_name_real_stages_and_thresholds_are_the_operators() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("gatehouse.toml");
    std::fs::write(&config, format!("[evidence_thresholds]\n\"{SLSA}\" = 2\n")).unwrap();
    let server = Server::start_with(d, &["--config", config.to_str().unwrap()]);
    let (s, r) = put_binding(&server, "typo", "policy:baseline.tests", "prd", json!({}));
    assert_eq!(s, 400, "{r}");
    let m = r["error"]["message"].as_str().unwrap();
    assert!(m.contains("prd") && m.contains("dev, qa, staging, prod"), "{m}");

    let admin = server.token("admin");
    let (key, public) = keygen(d, "ci");
    assert_eq!(
        call(
            &server,
            &admin,
            "POST",
            "/v1/trusted-keys",
            json!({"name": "ci", "public_key": public})
        )
        .0,
        201
    );
    call(&server, &admin, "POST", "/v1/applications", json!({"key": "pay"}));
    let (file, digest) = artifact(d, "a.tgz", "build");
    let v = json!({"version": "1.0.0", "artifacts": [{"name": "a.tgz", "kind": "file", "sha256": digest}]});
    assert_eq!(call(&server, &admin, "POST", "/v1/applications/pay/versions", v).0, 201);
    let env = sign(d, &key, SLSA, &json!({"runDetails": {}}), &file);
    // One signature where the operator asks for two: refused, whatever the submitter says.
    for q in ["", "?threshold=1"] {
        let (s, r) = request(
            server.addr,
            "POST",
            &format!("/v1/evidence{q}"),
            Some(&env),
            Some(&admin),
        );
        assert_eq!(s, 422, "{q}: {r}");
        assert!(r.to_string().contains("threshold_not_met"), "{q}: {r}");
    }
    // Other predicate types keep the default of one.
    let env = sign(d, &key, TEST_RESULT, &json!({"result": "PASSED"}), &file);
    let (s, r) = request(server.addr, "POST", "/v1/evidence", Some(&env), Some(&admin));
    assert_eq!(s, 200, "{r}");
}

/// The log's hashes are RFC 8785 as anyone implements it: Python's
/// `rfc8785` (Trail of Bits) recomputes every event's hash of a log this
/// build wrote, non-ASCII text and nested documents included.
#[test]
fn an_independent_jcs_implementation_recomputes_every_event_hash() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (s, body) = server.post(
        "/v1/applications",
        &json!({
            "key": "zahlung",
            "project": "shop",
            "name": "Zahlungsdienst € — 支付 𝄞",
            "labels": {"tier": "backend", "team": "zahlung-𝄞"}
        }),
    );
    assert_eq!(s, 201, "{body}");
    seed(&server, "zahlung", "1.0.0");
    // Numbers the two encodings write differently (serde_json: `1e-6`,
    // `1e+20`; RFC 8785: `0.000001`, `100000000000000000000`), so a log
    // hashed in the old form would fail the check below.
    let (s, body) = put_binding(
        &server,
        "thresholds",
        "policy:baseline.tests",
        "qa",
        json!({"max_ratio": 0.000001, "budget": 1e20}),
    );
    assert_eq!(s, 200, "{body}");
    let (s, body) = server.post(
        "/v1/applications/zahlung/versions/1.0.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 200, "{body}");
    let (s, report) = server.get("/v1/activity/verify");
    assert_eq!(s, 200, "{report}");
    assert_eq!(
        report["jcs_from_seq"], 1,
        "a new log is RFC 8785 from its first event: {report}"
    );
    let (s, page) = server.get("/v1/activity?limit=1000");
    assert_eq!(s, 200, "{page}");
    let events = page["items"].as_array().expect("items").clone();
    assert!(events.len() >= 4, "{page}");
    assert!(events.iter().any(|e| e.to_string().contains("𝄞")), "{page}");
    assert!(
        events.iter().any(|e| e["details"].to_string().contains("1e-6")),
        "{page}"
    );

    let python = std::env::var("GATEHOUSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/jcs_log_hashes.py");
    let run = |events: &[Value]| {
        let mut child = Command::new(&python)
            .arg(&script)
            .arg("1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(Value::Array(events.to_vec()).to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, text) = run(&events);
    assert_eq!(code, Some(0), "pip install -r tests/requirements.txt? {text}");
    assert_eq!(text.trim(), format!("OK {}", events.len()));
    // And it is a real check: one changed character is found.
    let mut edited = events.clone();
    edited[0]["actor"] = json!("mallory");
    let (code, text) = run(&edited);
    assert_eq!(code, Some(1), "{text}");
}
