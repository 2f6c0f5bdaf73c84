//! Several sidecars, one truth: `gatehouse serve` processes on one
//! PostgreSQL database (a real throwaway cluster) share every record, never
//! fork the log, move a version once however many of them are asked at
//! once, and keep every acknowledged write when one of them is killed.
//! These run on every run of the suite, whatever GATEHOUSE_TEST_DATABASE says.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Barrier};

use gatehouse_e2e::{Server, gatehouse_bin, plugin_cache, request, sha, stderr, stdout};
use gatehouse_test_postgres::Cluster;
use serde_json::{Value, json};

/// Sidecars of one deployment: one database, one release key file (shared,
/// so every sidecar's signed log heads vouch for the others' writes).
struct Deployment {
    url: String,
    key: PathBuf,
    _dirs: Vec<tempfile::TempDir>,
    data_dirs: Vec<PathBuf>,
}

impl Deployment {
    fn new(cluster: &Cluster, sidecars: usize) -> Deployment {
        let url = cluster.create_database().unwrap();
        let dirs: Vec<tempfile::TempDir> = (0..=sidecars).map(|_| tempfile::tempdir().unwrap()).collect();
        let keys = dirs[sidecars].path().join("keys");
        let o = Command::new(gatehouse_bin())
            .args(["keys", "generate", "--out"])
            .arg(&keys)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let data_dirs = dirs[..sidecars].iter().map(|d| d.path().to_path_buf()).collect();
        Deployment {
            url,
            key: keys.join("ed25519.priv.pem"),
            _dirs: dirs,
            data_dirs,
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GATEHOUSE_DATABASE_URL", self.url.clone()),
            ("GATEHOUSE_RELEASE_KEY", self.key.display().to_string()),
        ]
    }

    fn start(&self, i: usize) -> Server {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::start_env(&self.data_dirs[i], &[], &env)
    }

    /// The CLI of sidecar `i` (its data directory, the shared database).
    fn cli(&self, i: usize, args: &[&str]) -> Output {
        Command::new(gatehouse_bin())
            .arg("--data-dir")
            .arg(&self.data_dirs[i])
            .args(args)
            .env("GATEHOUSE_ACTOR", "cli-tester")
            .env("GATEHOUSE_PLUGIN_CACHE_DIR", plugin_cache())
            .envs(self.env())
            .output()
            .unwrap()
    }

    fn token(&self, i: usize, name: &str, role: &str) -> String {
        let o = self.cli(i, &["token", "create", "--name", name, "--role", role]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o).trim().to_string()
    }

    /// `audit verify` through sidecar `i`'s CLI: the report.
    fn verify(&self, i: usize) -> Value {
        let o = self.cli(i, &["--output", "json", "audit", "verify"]);
        assert!(o.status.success(), "audit verify: {}{}", stdout(&o), stderr(&o));
        serde_json::from_str(&stdout(&o)).unwrap()
    }
}

fn post(server: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    gatehouse_e2e::post_as(server, token, path, body)
}

fn get(server: &Server, token: &str, path: &str) -> (u16, Value) {
    request(server.addr, "GET", path, None, Some(token))
}

#[test]
fn what_one_sidecar_writes_every_other_serves_at_once() {
    let d = Deployment::new(Cluster::shared(), 3);
    let servers: Vec<Server> = (0..3).map(|i| d.start(i)).collect();
    // A token made through sidecar 0's CLI is known to every sidecar.
    let admin = d.token(0, "admin", "admin");
    let (s, b) = post(&servers[0], &admin, "/v1/applications", json!({ "key": "payments" }));
    assert_eq!(s, 201, "{b}");
    let (s, b) = post(
        &servers[1],
        &admin,
        "/v1/applications/payments/versions",
        json!({ "version": "1.0.0", "artifacts": [{ "name": "a.tgz", "kind": "file", "sha256": sha(1) }] }),
    );
    assert_eq!(s, 201, "{b}");
    let (s, v) = get(&servers[2], &admin, "/v1/applications/payments/versions/1.0.0");
    assert_eq!((s, &v["version"]), (200, &json!("1.0.0")), "{v}");

    // A revocation through one sidecar is in force at the others at once (read through).
    let viewer = d.token(1, "viewer", "viewer");
    assert_eq!(get(&servers[2], &viewer, "/v1/applications").0, 200);
    let (_, tokens) = get(&servers[0], &admin, "/v1/tokens");
    let id = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "viewer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        post(&servers[1], &admin, &format!("/v1/tokens/{id}/revoke"), json!({})).0,
        200
    );
    for s in &servers {
        assert_eq!(get(s, &viewer, "/v1/applications").0, 401);
    }

    // A binding put through one sidecar blocks a promotion through another.
    let (s, b) = request(
        servers[2].addr,
        "PUT",
        "/v1/bindings/needs-provenance",
        Some(
            json!({ "check": "policy:baseline.provenance", "gate": { "stage": "dev", "kind": "entry" } })
                .to_string()
                .as_bytes(),
        ),
        Some(&admin),
    );
    assert_eq!(s, 200, "{b}");
    let (s, b) = post(
        &servers[0],
        &admin,
        "/v1/applications/payments/versions/1.0.0/promote",
        json!({ "target_stage": "dev" }),
    );
    assert_eq!((s, &b["error"]["code"]), (409, &json!("blocked")), "{b}");

    // Each sidecar reports its database pool.
    let metrics = gatehouse_e2e::raw_request(servers[1].addr, "GET", "/metrics", None, "").unwrap();
    let text = String::from_utf8_lossy(&metrics);
    assert!(
        text.contains("gatehouse_database_connections{state=\"idle\"}"),
        "{text}"
    );

    // Every sidecar publishes the one key that signs, and the log is one chain.
    let (_, keys) = get(&servers[2], &admin, "/v1/keys");
    assert_eq!(keys["items"].as_array().unwrap().len(), 1, "{keys}");
    for i in 0..3 {
        let report = d.verify(i);
        assert!(report["broken"].is_null(), "{report}");
    }
}

#[test]
fn thirty_two_promotions_of_one_version_over_three_sidecars_move_it_once() {
    let d = Deployment::new(Cluster::shared(), 3);
    let servers: Vec<Server> = (0..3).map(|i| d.start(i)).collect();
    let admin = d.token(0, "admin", "admin");
    assert_eq!(
        post(&servers[0], &admin, "/v1/applications", json!({ "key": "race" })).0,
        201
    );
    let (s, b) = post(
        &servers[0],
        &admin,
        "/v1/applications/race/versions",
        json!({ "version": "1.0.0", "artifacts": [{ "name": "a.tgz", "kind": "file", "sha256": sha(2) }] }),
    );
    assert_eq!(s, 201, "{b}");
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let start = Arc::new(Barrier::new(32));
    let handles: Vec<_> = (0..32)
        .map(|i| {
            let (addr, start, admin) = (addrs[i % 3], start.clone(), admin.clone());
            std::thread::spawn(move || {
                start.wait();
                request(
                    addr,
                    "POST",
                    "/v1/applications/race/versions/1.0.0/promote",
                    Some(json!({ "target_stage": "dev" }).to_string().as_bytes()),
                    Some(&admin),
                )
            })
        })
        .collect();
    let answers: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let won = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(won, 1, "exactly one promotion wins: {answers:?}");
    for (s, b) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!((*s, &b["error"]["code"]), (409, &json!("conflict")), "{b}");
    }
    let (_, v) = get(&servers[1], &admin, "/v1/applications/race/versions/1.0.0");
    assert_eq!(v["stage"], "dev", "{v}");
    let (_, events) = get(
        &servers[2],
        &admin,
        "/v1/activity?action=version.promote&result=success&limit=1000",
    );
    assert_eq!(
        events["items"].as_array().unwrap().len(),
        1,
        "one move in the log: {events}"
    );
    let report = d.verify(2);
    assert!(report["broken"].is_null(), "{report}");
}

#[test]
fn a_sidecar_killed_mid_burst_loses_no_acknowledged_write() {
    let d = Deployment::new(Cluster::shared(), 3);
    let mut servers: Vec<Server> = (0..3).map(|i| d.start(i)).collect();
    let admin = d.token(0, "admin", "admin");
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    // The load driver promotes versions through real gates over all three
    // sidecars and writes down every promotion acknowledged (200).
    let out = tempfile::tempdir().unwrap();
    let acknowledged_file = out.path().join("acknowledged");
    let urls: Vec<String> = addrs.iter().map(|a| format!("http://{a}")).collect();
    let load = Command::new(env!("CARGO_BIN_EXE_gatehouse-load"))
        .args(["--servers", &urls.join(","), "--token", &admin])
        .args([
            "--scenario",
            "promote",
            "--concurrency",
            "6",
            "--requests",
            "600",
            "--seconds",
            "120",
        ])
        .arg("--acknowledged")
        .arg(&acknowledged_file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-burst: once promotions are committing, application writers join in.
    let promoted = || {
        let (_, events) = get(&servers[0], &admin, "/v1/activity?action=version.promote&limit=1000");
        events["items"].as_array().map_or(0, Vec::len)
    };
    let waited = std::time::Instant::now();
    while promoted() < 40 {
        assert!(
            waited.elapsed().as_secs() < 60,
            "the load driver promoted nothing in 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let (addr, admin) = (addrs[w % 3], admin.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for n in 0..40 {
                    let key = format!("app-{w}-{n}");
                    let answer = gatehouse_e2e::try_request(
                        addr,
                        "POST",
                        "/v1/applications",
                        Some(json!({ "key": key }).to_string().as_bytes()),
                        Some(&admin),
                    );
                    if let Ok((201, _)) = answer {
                        acknowledged.push(key);
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    servers[1].kill();
    let acknowledged: Vec<String> = writers.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let load = load.wait_with_output().unwrap();
    // Clients of the killed sidecar fail (exit 1); the driver itself must not.
    assert!(
        matches!(load.status.code(), Some(0 | 1)),
        "gatehouse-load: {}{}",
        stdout(&load),
        stderr(&load)
    );
    assert!(
        acknowledged.len() >= 160,
        "the two live sidecars kept answering: {}",
        acknowledged.len()
    );
    for key in &acknowledged {
        let (s, b) = get(&servers[0], &admin, &format!("/v1/applications/{key}"));
        assert_eq!(s, 200, "acknowledged {key} is missing: {b}");
    }
    let report = d.verify(2);
    assert!(report["broken"].is_null(), "{report}");
    // Every creation in the log was acknowledged or cut off with its sidecar; none twice.
    let (_, events) = get(
        &servers[2],
        &admin,
        "/v1/activity?action=application.create&result=success&limit=1000",
    );
    let logged: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    let mut unique = logged.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), logged.len(), "an application created twice");
    assert!(logged.len() >= acknowledged.len());

    // Every promotion the driver was told succeeded is in the log; no version
    // entered a stage twice; each version stands where its last promotion put it.
    let promotions: Vec<(String, String, String)> = std::fs::read_to_string(&acknowledged_file)
        .unwrap()
        .lines()
        .map(|l| {
            let mut f = l.split(' ').map(str::to_string);
            (f.next().unwrap(), f.next().unwrap(), f.next().unwrap())
        })
        .collect();
    // At least what was logged before the kill (clients of the killed sidecar give up their versions).
    assert!(promotions.len() >= 30, "the burst promoted: {}", promotions.len());
    let app = &promotions[0].0;
    let mut moved: Vec<(String, String)> = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, page) = get(
            &servers[2],
            &admin,
            &format!("/v1/activity?action=version.promote&application={app}&limit=1000{cursor}"),
        );
        assert_eq!(s, 200, "{page}");
        for e in page["items"].as_array().unwrap() {
            if matches!(e["result"].as_str(), Some("success" | "warning")) {
                let to = e["details"]["to_stage"].as_str().unwrap().to_string();
                moved.push((e["version"].as_str().unwrap().to_string(), to));
            }
        }
        match page["next"].as_i64() {
            Some(next) => cursor = format!("&after={next}"),
            None => break,
        }
    }
    let mut distinct = moved.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), moved.len(), "a version entered a stage twice");
    for (_, version, stage) in &promotions {
        assert!(
            moved.contains(&(version.clone(), stage.clone())),
            "acknowledged promotion of {version} to {stage} is not in the log"
        );
    }
    for (version, _) in distinct.iter().filter(|(_, stage)| stage == "prod") {
        let (_, v) = get(
            &servers[0],
            &admin,
            &format!("/v1/applications/{app}/versions/{version}"),
        );
        assert_eq!(v["stage"], "prod", "{v}");
    }
}

#[test]
fn a_sidecar_that_loses_its_database_answers_503_and_recovers() {
    let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let d = Deployment::new(&cluster, 1);
    let server = d.start(0);
    let admin = d.token(0, "admin", "admin");
    assert_eq!(
        post(&server, &admin, "/v1/applications", json!({ "key": "before" })).0,
        201
    );
    cluster.stop().unwrap();
    let (s, b) = request(server.addr, "GET", "/readyz", None, None);
    assert_eq!(s, 503, "{b}");
    let (s, b) = post(&server, &admin, "/v1/applications", json!({ "key": "during" }));
    assert_eq!((s, &b["error"]["code"]), (503, &json!("unavailable")), "{b}");
    cluster.restart().unwrap();
    let (s, b) = request(server.addr, "GET", "/readyz", None, None);
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        post(&server, &admin, "/v1/applications", json!({ "key": "after" })).0,
        201
    );
    let (_, apps) = get(&server, &admin, "/v1/applications");
    let keys: Vec<&str> = apps["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["after", "before"]);
    let report = d.verify(0);
    assert!(report["broken"].is_null(), "{report}");
}

#[test]
fn a_policy_uploaded_through_one_sidecar_judges_at_another() {
    let d = Deployment::new(Cluster::shared(), 2);
    let servers: Vec<Server> = (0..2).map(|i| d.start(i)).collect();
    let admin = d.token(0, "admin", "admin");
    assert_eq!(
        post(&servers[0], &admin, "/v1/applications", json!({ "key": "shop" })).0,
        201
    );
    let (s, b) = post(
        &servers[0],
        &admin,
        "/v1/applications/shop/versions",
        json!({ "version": "2.0.0", "artifacts": [{ "name": "a.tgz", "kind": "file", "sha256": sha(3) }] }),
    );
    assert_eq!(s, 201, "{b}");
    // Sidecar 0 compiles its policies now, before the upload through sidecar 1.
    let (s, b) = get(
        &servers[0],
        &admin,
        "/v1/applications/shop/versions/2.0.0/gate-plan?target_stage=dev",
    );
    assert_eq!(s, 200, "{b}");
    let source =
        "package team.freeze\n\nimport rego.v1\n\ndeny contains \"release freeze: no promotions this week\" if true\n";
    let put = |server: &Server, path: &str, body: Value| {
        request(
            server.addr,
            "PUT",
            path,
            Some(body.to_string().as_bytes()),
            Some(&admin),
        )
    };
    let (s, b) = put(&servers[1], "/v1/policies/team.freeze", json!({ "source": source }));
    assert_eq!(s, 200, "{b}");
    let (s, b) = put(
        &servers[1],
        "/v1/bindings/freeze",
        json!({ "check": "policy:team.freeze", "gate": { "stage": "dev", "kind": "entry" } }),
    );
    assert_eq!(s, 200, "{b}");
    let (s, b) = post(
        &servers[0],
        &admin,
        "/v1/applications/shop/versions/2.0.0/promote",
        json!({ "target_stage": "dev" }),
    );
    assert_eq!((s, &b["error"]["code"]), (409, &json!("blocked")), "{b}");
    assert!(b.to_string().contains("release freeze"), "{b}");
}

/// What a sidecar serves of a record, for comparing two copies of it.
fn served_record(server: &Server, token: &str) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "/v1/activity/verify",
        "/v1/keys",
        "/v1/activity/checkpoints",
        "/v1/waivers",
        "/v1/applications",
        "/v1/trusted-keys",
        "/v1/applications/payments/versions/1.0.0/trusted-release",
        "/v1/applications/checkout/versions/2.0.0/withdrawal",
        "/v1/applications/payments/versions/1.0.0/evidence",
        "/v1/activity?limit=1000",
    ] {
        let (s, body) = get(server, token, path);
        assert_eq!(s, 200, "{path}: {body}");
        out.insert(path.to_string(), body);
    }
    Value::Object(out)
}

#[test]
fn an_embedded_store_moves_to_postgresql_whole_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    // The record of the last landed build: waivers, a withdrawn release,
    // signed heads, evidence, a log that switched to RFC 8785 on upgrade.
    gatehouse_e2e::copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/upgrade/v3-32f4474"),
        dir.path(),
    );
    let data = dir.path().join("data");
    gatehouse_e2e::embedded_only(&data);
    let token = gatehouse_e2e::create_token(&data, "auditor", "admin");
    let before = {
        let server = Server::start(&data);
        served_record(&server, &token)
    };
    assert!(before["/v1/activity/verify"]["jcs_from_seq"].as_i64().unwrap() > 1);

    let url = Cluster::shared().create_database().unwrap();
    let migrate = |to: &str| {
        Command::new(gatehouse_bin())
            .args(["--output", "json", "migrate", "--from"])
            .arg(&data)
            .args(["--to", to])
            .env("GATEHOUSE_PLUGIN_CACHE_DIR", plugin_cache())
            .output()
            .unwrap()
    };
    let o = migrate(&url);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(report["chain"]["broken"].is_null(), "{report}");
    assert_eq!(
        report["tables"]["activity"], before["/v1/activity/verify"]["events"],
        "{report}"
    );

    // A sidecar on the database serves the record exactly as the embedded store did.
    let server = Server::start_env(&data, &[], &[("GATEHOUSE_DATABASE_URL", url.as_str())]);
    assert_eq!(served_record(&server, &token), before);
    // … and carries it on: a new event chains after the copied head.
    let (s, b) = post(&server, &token, "/v1/applications", json!({ "key": "after-move" }));
    assert_eq!(s, 201, "{b}");
    let (_, report) = get(&server, &token, "/v1/activity/verify");
    assert!(report["broken"].is_null(), "{report}");
    assert_eq!(
        report["events"].as_u64().unwrap(),
        before["/v1/activity/verify"]["events"].as_u64().unwrap() + 1
    );

    // A second run refuses: the destination holds a record now.
    let o = migrate(&url);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let refusal: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(refusal["error"]["code"], "conflict", "{refusal}");
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already holds a record"),
        "{refusal}"
    );
}
