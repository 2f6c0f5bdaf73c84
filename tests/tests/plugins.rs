//! Wasm plugins end to end on the real binary: bundled gate checks judging
//! real evidence, hostile plugins failing closed with the limit they hit,
//! signatures and pins, collectors turning files and a loopback vendor API
//! into signed evidence.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use gatehouse_e2e::{
    Server, check_result as check, cli, data, put_binding, request, sha256_file, stderr, stdout, wasm_dir,
};
use serde_json::{Value, json};

/// Copy a built component into `dir` and write a manifest pinned to it.
fn manifest(dir: &Path, file: &str, component: &str, body: &str) -> PathBuf {
    let wasm = dir.join(format!("{component}.wasm"));
    if !wasm.exists() {
        std::fs::copy(wasm_dir().join(format!("{component}.wasm")), &wasm).unwrap();
    }
    let path = dir.join(file);
    let text = format!(
        "wasm = \"{component}.wasm\"\nsha256 = \"{}\"\nversion = \"0.1.0\"\n{body}",
        sha256_file(&wasm)
    );
    std::fs::write(&path, text).unwrap();
    path
}

struct Env {
    _dir: tempfile::TempDir,
    data: PathBuf,
    plugins: PathBuf,
    config: PathBuf,
}

fn env(config_extra: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&plugins).unwrap();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        format!("plugin_dir = {:?}\n{config_extra}", plugins.display().to_string()),
    )
    .unwrap();
    Env {
        data,
        plugins,
        config,
        _dir: dir,
    }
}

impl Env {
    fn start(&self) -> Server {
        Server::start_with(&self.data, &["--config", self.config.to_str().unwrap()])
    }
    fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["--config", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        cli(&self.data, &all)
    }
}

fn bind(server: &Server, id: &str, check: &str, stage: &str, params: Value) {
    let (s, r) = put_binding(server, id, check, stage, params);
    assert_eq!(s, 200, "bind {check}: {r}");
}

fn messages(c: &Value) -> String {
    c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn hostile_plugins_error_with_the_limit_they_hit_and_the_host_keeps_serving() {
    let e = env("");
    let granted = e.plugins.join("granted");
    std::fs::create_dir_all(&granted).unwrap();
    std::fs::write(granted.join("ok.txt"), "fine").unwrap();
    let secret = e.plugins.join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET").unwrap();
    std::os::unix::fs::symlink(&secret, granted.join("escape")).unwrap();
    let grant = format!("allowed_paths = [{:?}]", granted.display().to_string());
    let cases: Vec<(&str, String, String)> = vec![
        ("loop", "mode = \"loop\"".into(), "timeout_ms = 200".into()),
        (
            "memory-bomb",
            "mode = \"memory-bomb\"".into(),
            "max_memory_bytes = 16777216".into(),
        ),
        ("recursion", "mode = \"recursion\"".into(), String::new()),
        ("panic", "mode = \"panic\"".into(), String::new()),
        ("abort", "mode = \"abort\"".into(), String::new()),
        (
            "read-absolute",
            format!("mode = \"read\"\ntarget = {:?}", secret.display().to_string()),
            grant.clone(),
        ),
        (
            "read-dotdot",
            format!("mode = \"read\"\ntarget = \"{}/../secret.txt\"", granted.display()),
            grant.clone(),
        ),
        (
            "read-symlink",
            format!("mode = \"read\"\ntarget = \"{}/escape\"", granted.display()),
            grant.clone(),
        ),
        (
            "write-readonly",
            format!("mode = \"write\"\ntarget = \"{}/ok.txt\"", granted.display()),
            grant.clone(),
        ),
        ("env", "mode = \"env\"".into(), String::new()),
        (
            "http-denied",
            "mode = \"http\"\ntarget = \"http://127.0.0.1:9/steal\"".into(),
            String::new(),
        ),
        (
            "huge-result",
            "mode = \"huge-result\"".into(),
            "max_memory_bytes = 268435456\ntimeout_ms = 10000".into(),
        ),
        ("fuel", "mode = \"loop\"".into(), "max_fuel = 1000000".into()),
        (
            "open-files",
            format!("mode = \"open-files\"\ntarget = \"{}/ok.txt\"", granted.display()),
            grant.clone(),
        ),
        (
            // Building a million findings takes the guest about a second on a
            // loaded machine: time enough that the count, not the clock, stops it.
            "many-findings",
            "mode = \"many-findings\"".into(),
            "max_memory_bytes = 268435456\ntimeout_ms = 10000".into(),
        ),
        ("well-behaved", "mode = \"pass\"".into(), String::new()),
    ];
    for (name, config, caps) in &cases {
        manifest(
            &e.plugins,
            &format!("{name}.toml"),
            "hostile",
            &format!("name = \"hostile-{name}\"\nworld = \"gate-check\"\n[config]\n{config}\n[capabilities]\n{caps}\n"),
        );
    }
    // A canary in the host's environment must not reach the plugin.
    let server = Server::start_env(
        &e.data,
        &["--config", e.config.to_str().unwrap()],
        &[("GATEHOUSE_CANARY", "must-not-leak")],
    );
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    for (name, _, _) in &cases {
        bind(
            &server,
            &format!("h-{name}"),
            &format!("plugin:hostile-{name}"),
            "dev",
            json!({}),
        );
    }
    let (s, r) = server.post(
        "/v1/applications/shop/versions/1.0.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 409, "{r}");
    let expect = |name: &str, needle: &str| {
        let c = check(&r, &format!("plugin:hostile-{name}"));
        assert_eq!(c["outcome"], "error", "{name}: {c}");
        let m = messages(c);
        assert!(m.contains(needle), "{name}: expected {needle:?} in {m}");
        assert!(
            !m.contains("TOP-SECRET") && !m.contains("must-not-leak"),
            "{name} leaked: {m}"
        );
    };
    expect("loop", "exceeded its time limit (timeout_ms = 200)");
    expect("memory-bomb", "exceeded its memory limit (max_memory_bytes = 16777216");
    expect("recursion", "overflowed its call stack");
    expect(
        "panic",
        "trapped: wasm trap: wasm `unreachable` instruction executed after thread",
    );
    expect("panic", "hostile plugin panics on purpose");
    // A guest that dies without a Rust panic line: its last stderr lines go with the trap.
    expect(
        "abort",
        "its last stderr lines: runtime error: the interpreter gave up | while judging 1.0.0",
    );
    expect("read-absolute", "read ");
    expect("read-dotdot", "read ");
    // To the guest an ungranted file is just missing; the host says why.
    let granted_note = format!("is not granted to the plugin; its allowed_paths: {}", granted.display());
    expect("read-absolute", &granted_note);
    expect("read-dotdot", &granted_note);
    expect("read-symlink", "read ");
    expect("write-readonly", "write ");
    expect("env", "no environment variables and no arguments");
    expect(
        "http-denied",
        "capability violation: the plugin tried to reach 127.0.0.1:9, which is not in its allowed_hosts (none granted)",
    );
    expect("huge-result", "over its output limit (max_output_bytes = 1048576)");
    expect("fuel", "ran out of fuel (max_fuel = 1000000)");
    expect("open-files", "(max_open_files = 64)");
    expect(
        "many-findings",
        "returned 1000000 findings; one call may return at most 10000",
    );
    // Each failure also carries a stable machine code, recorded with the result.
    for (name, code) in [
        ("loop", "timeout"),
        ("memory-bomb", "memory"),
        ("recursion", "stack_overflow"),
        ("panic", "trap"),
        ("http-denied", "capability"),
        ("huge-result", "output_too_large"),
        ("fuel", "fuel"),
        ("open-files", "open_files"),
        ("many-findings", "too_many_items"),
    ] {
        let c = check(&r, &format!("plugin:hostile-{name}"));
        assert_eq!(c["error_code"], code, "{name}: {c}");
    }
    let ok = check(&r, "plugin:hostile-well-behaved");
    assert_eq!(ok["outcome"], "pass", "{ok}");
    assert!(ok.get("error_code").is_none(), "{ok}");
    assert_eq!(ok["digest"].as_str().map(str::len), Some(64));
    // The sidecar is still healthy and still judges.
    assert_eq!(request(server.addr, "GET", "/healthz", None, None).0, 200);
    let (s, r2) = server.post(
        "/v1/applications/shop/versions/1.0.0/promote",
        &json!({"target_stage": "dev", "dry_run": true}),
    );
    assert_eq!(s, 200, "a dry run reports, it does not refuse: {r2}");
    assert_eq!(check(&r2, "plugin:hostile-well-behaved")["outcome"], "pass");
}

/// A version of the relgov fixture crate with the shared data's signed evidence.
fn relgov(server: &Server, env_files: &[&str]) {
    let pem = std::fs::read_to_string(data("dsse/keys/primary.ed25519.pub.pem")).unwrap();
    let (s, r) = server.post("/v1/trusted-keys", &json!({"name": "ci", "public_key": pem}));
    assert_eq!(s, 201, "{r}");
    let (s, r) = server.post("/v1/applications", &json!({"key": "relgov", "project": "shop"}));
    assert_eq!(s, 201, "{r}");
    let art = json!([{ "name": "relgov-fixture-rust-0.1.0.crate", "kind": "package",
        "sha256": "8f18949ce8589e6a87c18447bd2faf91aa83b8dc5b1ebb57daea2a13c98e350d" }]);
    let (s, r) = server.post(
        "/v1/applications/relgov/versions",
        &json!({"version": "0.1.0", "artifacts": art}),
    );
    assert_eq!(s, 201, "{r}");
    for f in env_files {
        let body = std::fs::read(data(&format!("dsse/valid/{f}"))).unwrap();
        let (s, r) = server.send("POST", "/v1/evidence", Some(&body), "admin");
        assert_eq!(s, 200, "{f}: {r}");
    }
}

#[test]
fn bundled_gate_checks_judge_real_signed_evidence() {
    let e = env("");
    let server = e.start();
    relgov(&server, &["cyclonedx-sbom.dsse.json", "slsa-provenance-v1.dsse.json"]);

    // The registry lists the bundled plugins with world, digest and signer.
    let (s, list) = server.get("/v1/plugins");
    assert_eq!(s, 200);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in [
        "license-policy",
        "provenance-builder",
        "junit-collector",
        "sarif-collector",
        "vendor-scan-collector",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let (_, lp) = server.get("/v1/plugins/license-policy");
    assert_eq!(
        (lp["world"].as_str(), lp["signer"]["kind"].as_str()),
        (Some("gate-check"), Some("bundled"))
    );
    assert_eq!(lp["digest"].as_str().map(str::len), Some(64));
    let o = e.cli(&["plugin", "list"]);
    assert!(
        stdout(&o).contains("license-policy\t0.1.0\tgate-check\tsha256:"),
        "{}",
        stdout(&o)
    );

    // The SBOM's components under "MIT" alone (no OR choice) are denied, by purl.
    bind(&server, "lic", "plugin:license-policy", "dev", json!({"deny": ["MIT"]}));
    bind(
        &server,
        "prov",
        "plugin:provenance-builder",
        "dev",
        json!({"allowed_builders": ["https://github.com/actions/runner"]}),
    );
    let (s, r) = server.post(
        "/v1/applications/relgov/versions/0.1.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 409, "{r}");
    let lic = check(&r, "plugin:license-policy");
    assert_eq!(lic["outcome"], "fail", "{lic}");
    assert_eq!(lic["findings"].as_array().unwrap().len(), 3, "{lic}");
    assert_eq!(lic["findings"][0]["rule_id"], "LIC-001");
    assert_eq!(lic["findings"][0]["severity"], "high");
    assert!(
        messages(lic).contains("pkg:cargo/") && messages(lic).contains("denied MIT"),
        "{}",
        messages(lic)
    );
    let prov = check(&r, "plugin:provenance-builder");
    assert_eq!(prov["outcome"], "fail");
    assert!(
        messages(prov).contains("[PROV-003] builder https://example.com/relgov-fixture/builders/local@v1 is not among"),
        "{}",
        messages(prov)
    );

    // Rebound with the operator's real lists, both pass and the version moves.
    bind(
        &server,
        "lic",
        "plugin:license-policy",
        "dev",
        json!({"deny": ["GPL-3.0-only", "AGPL-3.0-only"]}),
    );
    bind(
        &server,
        "prov",
        "plugin:provenance-builder",
        "dev",
        json!({"allowed_builders": ["https://example.com/relgov-fixture/builders/*"]}),
    );
    let (s, r) = server.post(
        "/v1/applications/relgov/versions/0.1.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(check(&r, "plugin:license-policy")["outcome"], "pass");
    assert_eq!(check(&r, "plugin:provenance-builder")["outcome"], "pass");

    // A binding to a plugin that does not exist is refused up front.
    let (s, r) = server.send(
        "PUT",
        "/v1/bindings/ghost",
        Some(
            json!({"check": "plugin:ghost", "gate": {"stage": "qa", "kind": "entry"}})
                .to_string()
                .as_bytes(),
        ),
        "admin",
    );
    assert_eq!(s, 400, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("a loaded plugin"),
        "{r}"
    );
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let out = dir.join(name);
    let o = cli(dir, &["keys", "generate", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    (out.join("ed25519.priv.pem"), out.join("ed25519.pub.pem"))
}

#[test]
fn signed_plugins_are_verified_and_unsigned_ones_refused_when_required() {
    let e = env("");
    let keys = e.plugins.parent().unwrap().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (vendor_priv, vendor_pub) = keygen(&keys, "acme");
    let (other_priv, _) = keygen(&keys, "mallory");
    let m = manifest(
        &e.plugins,
        "pass.toml",
        "hostile",
        "name = \"polite\"\nworld = \"gate-check\"\n[config]\nmode = \"pass\"\n",
    );
    let m = m.to_str().unwrap();
    let wasm = e.plugins.join("hostile.wasm");

    // Unsigned: loads while signatures are optional, refused when required.
    let o = e.cli(&["plugin", "load", m]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("signer:       unsigned"), "{}", stdout(&o));
    let o = e.cli(&["plugin", "load", m, "--require-signed"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("require_signed_plugins = true and this plugin is unsigned"),
        "{}",
        stderr(&o)
    );

    // Signed by a key the operator does not trust: refused even when not required.
    let o = e.cli(&[
        "plugin",
        "sign",
        "--key",
        other_priv.to_str().unwrap(),
        wasm.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = e.cli(&["plugin", "load", m, "--trusted-key", vendor_pub.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not among the trusted plugin keys"),
        "{}",
        stderr(&o)
    );

    // Signed by the vendor: loads, and says who signed it.
    let o = e.cli(&[
        "plugin",
        "sign",
        "--key",
        vendor_priv.to_str().unwrap(),
        "--name",
        "polite",
        wasm.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(e.plugins.join("hostile.wasm.sig").is_file());
    let o = e.cli(&[
        "plugin",
        "load",
        m,
        "--require-signed",
        "--trusted-key",
        vendor_pub.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("signer:       acme (key "), "{}", stdout(&o));
    assert!(stdout(&o).contains("state:        compiled"), "{}", stdout(&o));
    // Inspecting the signed manifest needs the vendor's key as loading does.
    let o = e.cli(&["plugin", "inspect", m]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("no plugin signing keys are trusted"),
        "{}",
        stderr(&o)
    );
    let o = e.cli(&["plugin", "inspect", m, "--trusted-key", vendor_pub.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("signer:       acme (key "), "{}", stdout(&o));

    // A component that is not the pinned one is refused, naming both digests.
    let mut bytes = std::fs::read(&wasm).unwrap();
    bytes.extend_from_slice(b"\0");
    std::fs::write(&wasm, &bytes).unwrap();
    let o = e.cli(&["plugin", "load", m, "--trusted-key", vendor_pub.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("the component is not the one pinned"),
        "{}",
        stderr(&o)
    );

    // The sidecar refuses to start on a plugin directory it cannot load whole.
    let config = e.plugins.parent().unwrap().join("strict.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_dir = {:?}\nrequire_signed_plugins = true\nplugin_keys = [{:?}]\n",
            e.plugins.display().to_string(),
            vendor_pub.display().to_string()
        ),
    )
    .unwrap();
    let o = std::process::Command::new(gatehouse_e2e::gatehouse_bin())
        .args([
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            e.data.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("pass.toml: sha256"), "{}", stderr(&o));
}

/// The compiled-plugin cache: another component's compilation swapped in
/// under a pinned plugin's name runs only from a cache that nobody but this
/// user can write; from a directory or file others can write it is ignored
/// and the pinned component is compiled again.
#[test]
fn a_cache_others_can_write_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let e = env("");
    manifest(
        &e.plugins,
        "target.toml",
        "hostile",
        "name = \"target\"\nworld = \"gate-check\"\n[config]\nmode = \"pass\"\n",
    );
    let cache = e.plugins.parent().unwrap().join("cache");
    let start = || {
        let log = e.plugins.parent().unwrap().join(format!("serve-{}.log", rand_suffix()));
        let server = Server::start_logged(
            &e.data,
            &["--config", e.config.to_str().unwrap()],
            &[("GATEHOUSE_PLUGIN_CACHE_DIR", cache.to_str().unwrap())],
            std::process::Stdio::from(std::fs::File::create(&log).unwrap()),
            None,
        );
        (server, log)
    };
    let outcome = |server: &Server| {
        let (s, r) = server.post(
            "/v1/applications/shop/versions/1.0.0/promote",
            &json!({"target_stage": "dev", "dry_run": true}),
        );
        assert_eq!(s, 200, "{r}");
        check(&r, "plugin:target")["outcome"].as_str().unwrap().to_string()
    };
    // First start: every plugin is compiled into the cache.
    let (server, _) = start();
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    bind(&server, "t", "plugin:target", "dev", json!({}));
    bind(&server, "lic", "plugin:license-policy", "dev", json!({"deny": ["MIT"]}));
    assert_eq!(outcome(&server), "pass");
    drop(server);
    let target = sha256_file(&e.plugins.join("hostile.wasm"));
    let files: Vec<PathBuf> = std::fs::read_dir(&cache).unwrap().map(|f| f.unwrap().path()).collect();
    let ours = files
        .iter()
        .find(|f| f.file_name().unwrap().to_string_lossy().starts_with(&target))
        .expect("the target's compilation is cached")
        .clone();
    let other = files
        .iter()
        .find(|f| !f.file_name().unwrap().to_string_lossy().starts_with(&target))
        .expect("a bundled plugin's compilation is cached")
        .clone();
    let swap = || {
        std::fs::copy(&other, &ours).unwrap();
        std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o600)).unwrap();
    };

    // Within this user's own cache the swap runs (the test can see it) …
    swap();
    let (server, _) = start();
    assert_ne!(outcome(&server), "pass", "the swapped-in component ran");
    drop(server);

    // … but not from a directory others can write …
    swap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (server, log) = start();
    assert_eq!(outcome(&server), "pass", "the pinned component was compiled again");
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("not using the plugin cache") && text.contains("writable by group or others"),
        "{text}"
    );

    // … nor from a file others can write.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    swap();
    std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (server, log) = start();
    assert_eq!(outcome(&server), "pass", "the pinned component was compiled again");
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("not loading a cached compilation"), "{text}");
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A one-request HTTP server on loopback that answers `body` and reports the request line.
fn vendor_api(body: &'static str) -> (u16, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let _ = tx.send(line.trim().to_string());
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(reply.as_bytes()).unwrap();
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
        }
    });
    (port, rx)
}

#[test]
fn collectors_turn_reports_and_a_vendor_api_into_signed_evidence() {
    let e = env("");
    let root = e.plugins.parent().unwrap().to_path_buf();
    let reports = root.join("reports");
    let scans = root.join("scans");
    std::fs::create_dir_all(&reports).unwrap();
    std::fs::create_dir_all(&scans).unwrap();
    std::fs::write(
        reports.join("unit.xml"),
        r#"<testsuites><testsuite name="unit"><testcase classname="pay" name="charges"/><testcase classname="pay" name="refunds"/></testsuite></testsuites>"#,
    )
    .unwrap();
    std::fs::write(
        scans.join("semgrep.sarif"),
        r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"semgrep","version":"1.90.0"}},"results":[{"ruleId":"sqli","level":"error"},{"ruleId":"md5"}]}]}"#,
    )
    .unwrap();
    let (port, requests) = vendor_api(r#"{"scanner": "acme-scan", "critical": 0, "high": 2}"#);
    let grant = |dir: &Path| format!("allowed_paths = [{:?}]", dir.display().to_string());
    std::fs::write(
        e.plugins.join("junit.toml"),
        format!("name = \"junit-ci\"\nversion = \"1.0.0\"\nworld = \"collector\"\nbundled = \"junit-collector\"\n[config]\ndir = {:?}\n[capabilities]\n{}\n", reports.display().to_string(), grant(&reports)),
    )
    .unwrap();
    std::fs::write(
        e.plugins.join("sarif.toml"),
        format!("name = \"sarif-ci\"\nversion = \"1.0.0\"\nworld = \"collector\"\nbundled = \"sarif-collector\"\n[config]\ndir = {:?}\n[capabilities]\n{}\n", scans.display().to_string(), grant(&scans)),
    )
    .unwrap();
    for (name, allowed) in [("vendor-ci", port), ("vendor-elsewhere", port.wrapping_add(1))] {
        std::fs::write(
            e.plugins.join(format!("{name}.toml")),
            format!("name = \"{name}\"\nversion = \"1.0.0\"\nworld = \"collector\"\nbundled = \"vendor-scan-collector\"\n[config]\nurl = \"http://127.0.0.1:{port}/api/reports/{{application}}/{{version}}\"\n[capabilities]\nallowed_hosts = [\"127.0.0.1:{allowed}\"]\n"),
        )
        .unwrap();
    }
    let server = e.start();
    gatehouse_e2e::seed(&server, "shop", "2.0.0");

    // A collector bound to a gate runs before its checks: the tests policy sees
    // its evidence, and counts it because the binding names that collector.
    bind(&server, "junit", "plugin:junit-ci", "dev", json!({}));
    bind(
        &server,
        "tests",
        "policy:baseline.tests",
        "dev",
        json!({"collectors": ["junit-ci"]}),
    );
    let (s, r) = server.post(
        "/v1/applications/shop/versions/2.0.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 200, "{r}");
    let junit = check(&r, "plugin:junit-ci");
    assert_eq!(junit["outcome"], "pass", "{junit}");
    assert!(
        messages(junit).contains("collected 1 statement(s) as evidence"),
        "{junit}"
    );
    assert_eq!(check(&r, "policy:baseline.tests")["outcome"], "pass");
    let (_, ev) = server.get("/v1/applications/shop/versions/2.0.0/evidence");
    let item = &ev["items"][0];
    assert_eq!(
        item["predicate_type"],
        "https://in-toto.io/attestation/test-result/v0.1"
    );
    assert_eq!(
        item["statement"]["predicate"]["passedTests"],
        json!(["pay::charges", "pay::refunds"])
    );
    assert_eq!(item["subjects"][0]["digest"]["sha256"], gatehouse_e2e::sha(0xab));
    assert!(
        item["added_by"]
            .as_str()
            .unwrap()
            .starts_with("plugin:junit-ci@sha256:"),
        "{item}"
    );
    let (_, keys) = server.get("/v1/trusted-keys");
    assert!(
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "gatehouse-collectors"),
        "{keys}"
    );

    // On demand: the SARIF collector through the CLI.
    let o = e.cli(&["collect", "shop", "2.0.0", "--plugin", "sarif-ci"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("sarif-ci collected 1 statement(s)"),
        "{}",
        stdout(&o)
    );
    let (_, ev) = server.get("/v1/applications/shop/versions/2.0.0/evidence?predicate_type=https://gatehouse.dev/attestation/scan-summary/v0.1");
    assert_eq!(
        ev["items"][0]["statement"]["predicate"]["errorRules"],
        json!(["sqli"]),
        "{ev}"
    );

    // The vendor API on loopback, reached only because the manifest allows that host and port.
    let (s, r) = server.post(
        "/v1/applications/shop/versions/2.0.0/collect",
        &json!({"plugin": "vendor-ci"}),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        requests.recv_timeout(std::time::Duration::from_secs(5)).unwrap(),
        "GET /api/reports/shop/2.0.0 HTTP/1.1"
    );
    assert_eq!(r["evidence"].as_array().unwrap().len(), 1);
    let (s, r) = server.post(
        "/v1/applications/shop/versions/2.0.0/collect",
        &json!({"plugin": "vendor-elsewhere"}),
    );
    assert_eq!(s, 409, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains(&format!(
            "capability violation: the plugin tried to reach 127.0.0.1:{port}, which is not in its allowed_hosts"
        )),
        "{r}"
    );
}

/// Build a plugin written in another language with its own toolchain, into `out`.
fn build_foreign(program: &str, args: &[&str], cwd: &Path, out: &Path) {
    let o = std::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is needed to build this plugin (the README's test command installs it): {e}")
        });
    assert!(
        o.status.success() && out.is_file(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn gate_checks_written_in_javascript_and_python_run_beside_rust_ones() {
    let e = env("");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let js_dir = repo.join("plugins/js-sbom-required");
    let py_dir = repo.join("plugins/py-owners-required");
    let js = e.plugins.join("js_sbom_required.wasm");
    let py = e.plugins.join("py_owners_required.wasm");
    build_foreign("node", &["build.mjs", js.to_str().unwrap()], &js_dir, &js);
    build_foreign(
        "componentize-py",
        &[
            "-d",
            "../../wit",
            "-w",
            "gatehouse:plugin/gate-check@0.1.0",
            "componentize",
            "app",
            "-o",
            py.to_str().unwrap(),
        ],
        &py_dir,
        &py,
    );
    // The manifests as shipped, pinned to what was just built.
    for (dir, wasm, file) in [(&js_dir, &js, "js.toml"), (&py_dir, &py, "py.toml")] {
        let shipped = std::fs::read_to_string(dir.join("gatehouse-plugin.toml")).unwrap();
        std::fs::write(
            e.plugins.join(file),
            format!("sha256 = \"{}\"\n{shipped}", sha256_file(wasm)),
        )
        .unwrap();
    }
    let o = e.cli(&["plugin", "load", e.plugins.join("py.toml").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let server = e.start();
    let keys = e.plugins.parent().unwrap().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let artifact = keys.join("ledger.tgz");
    std::fs::write(&artifact, b"ledger").unwrap();
    let (s, r) = server.post(
        "/v1/applications",
        &json!({"key": "ledger", "project": "fin", "criticality": "critical",
        "owners": {"users": ["alice"]}}),
    );
    assert_eq!(s, 201, "{r}");
    let (s, r) = server.post(
        "/v1/applications/ledger/versions",
        &json!({"version": "3.1.0",
        "artifacts": [{"name": "ledger.tgz", "kind": "file", "sha256": sha256_file(&artifact)}]}),
    );
    assert_eq!(s, 201, "{r}");
    bind(&server, "js", "plugin:js-sbom-required", "dev", json!({}));
    bind(&server, "py", "plugin:py-owners-required", "dev", json!({}));
    let (s, r) = server.post(
        "/v1/applications/ledger/versions/3.1.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 409, "{r}");
    let js_result = check(&r, "plugin:js-sbom-required");
    assert_eq!(js_result["outcome"], "fail", "{js_result}");
    assert!(
        messages(js_result).contains("[SBOM-JS-001] ledger 3.1.0 has no verified SBOM (checked at dev/entry)"),
        "{js_result}"
    );
    let py_result = check(&r, "plugin:py-owners-required");
    assert_eq!(py_result["outcome"], "fail", "{py_result}");
    assert!(
        messages(py_result).contains("[OWN-PY-001] ledger names 1 owner(s); a critical application needs 2"),
        "{py_result}"
    );

    // Fix both: a second owner, and a signed SBOM about the artifact.
    let (s, r) = server.send(
        "PATCH",
        "/v1/applications/ledger",
        Some(
            json!({"owners": {"users": ["alice"], "groups": ["team-fin"]}})
                .to_string()
                .as_bytes(),
        ),
        "admin",
    );
    assert_eq!(s, 200, "{r}");
    let (ci_priv, ci_pub) = keygen(&keys, "ci");
    let (s, r) = server.post(
        "/v1/trusted-keys",
        &json!({"name": "ci", "public_key": std::fs::read_to_string(&ci_pub).unwrap()}),
    );
    assert_eq!(s, 201, "{r}");
    let env_path = keys.join("sbom.dsse.json");
    let o = cli(
        &keys,
        &[
            "evidence",
            "sign",
            "--key",
            ci_priv.to_str().unwrap(),
            "--predicate-type",
            "https://cyclonedx.org/bom",
            "--predicate",
            data("sbom/npm/npm-project.cdx-1.6.json").to_str().unwrap(),
            "--subject",
            artifact.to_str().unwrap(),
            "--out",
            env_path.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (s, r) = server.send(
        "POST",
        "/v1/evidence",
        Some(&std::fs::read(&env_path).unwrap()),
        "admin",
    );
    assert_eq!(s, 200, "{r}");
    let (s, r) = server.post(
        "/v1/applications/ledger/versions/3.1.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(check(&r, "plugin:js-sbom-required")["outcome"], "pass");
    assert_eq!(check(&r, "plugin:py-owners-required")["outcome"], "pass");
}

/// `gatehouse plugin run`: a plugin called from its manifest alone — no
/// server, no store, nothing made in the current directory — with the
/// gate's exit codes, its log lines, fuel and time.
#[test]
fn a_plugin_runs_from_its_manifest_without_a_server_or_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let pass = manifest(
        dir.path(),
        "pass.toml",
        "hostile",
        "name = \"polite\"\nworld = \"gate-check\"\n[config]\nmode = \"pass\"\n",
    );
    let panics = manifest(
        dir.path(),
        "panic.toml",
        "hostile",
        "name = \"panicky\"\nworld = \"gate-check\"\n[config]\nmode = \"panic\"\n",
    );
    let reads = manifest(
        dir.path(),
        "read.toml",
        "hostile",
        "name = \"reader\"\nworld = \"gate-check\"\n[config]\nmode = \"read\"\ntarget = \"/etc/hostname\"\n",
    );
    let cwd = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(gatehouse_e2e::gatehouse_bin())
            .current_dir(cwd.path())
            .args(["--output", "json", "plugin", "run"])
            .args(args)
            .env("GATEHOUSE_PLUGIN_CACHE_DIR", gatehouse_e2e::plugin_cache())
            .output()
            .expect("run gatehouse")
    };

    // Passes: exit 0, the verdict, the fuel it burnt.
    let o = run(&[pass.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["outcome"], "pass", "{report}");
    assert_eq!(report["verdict"]["outcome"], "pass", "{report}");
    assert!(report["fuel_used"].as_u64().unwrap() > 0, "{report}");
    assert!(report["call_ms"].as_f64().unwrap() > 0.0, "{report}");

    // Panics: exit 1 (the gate would block), the trap, and the guest's stderr lines.
    let o = run(&[panics.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["outcome"], "error", "{report}");
    assert_eq!(report["error"]["code"], "trap", "{report}");
    let log = report["log"].to_string();
    assert!(log.contains("hostile plugin panics on purpose"), "{report}");

    // Its parameters and context come from the flags: a file outside every
    // grant is not readable, and says so as the plugin's error.
    let context = dir.path().join("context.json");
    std::fs::write(
        &context,
        json!({"application": "shop", "version": "1.2.0", "gate": "qa/entry", "to_stage": "qa",
               "input": {"schema": "gatehouse.dev/input/v1", "evidence": []}})
        .to_string(),
    )
    .unwrap();
    let o = run(&[reads.to_str().unwrap(), "--context", context.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["error"]["code"], "plugin_error", "{report}");

    // Bad input is a usage error naming what was wrong.
    let o = run(&[pass.to_str().unwrap(), "--params", "[1]"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).contains("params: expected a JSON object"), "{}", stdout(&o));
    std::fs::write(&context, r#"{"gate": "qa/entry", "stage": "qa"}"#).unwrap();
    let o = run(&[pass.to_str().unwrap(), "--context", context.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).contains("unknown field `stage`"), "{}", stdout(&o));

    // The human form names the outcome and the cost.
    let o = std::process::Command::new(gatehouse_e2e::gatehouse_bin())
        .current_dir(cwd.path())
        .args(["plugin", "run", pass.to_str().unwrap()])
        .env("GATEHOUSE_PLUGIN_CACHE_DIR", gatehouse_e2e::plugin_cache())
        .output()
        .unwrap();
    assert!(stdout(&o).starts_with("polite (gate-check): pass"), "{}", stdout(&o));
    assert!(stdout(&o).contains("fuel "), "{}", stdout(&o));

    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "plugin run made something in the current directory"
    );
}
