//! The sidecar as operators run it: tokens and roles on every route, the
//! served OpenAPI document, health and metrics, configuration errors, a port in
//! use, graceful shutdown with requests in flight, the remote CLI, and a
//! property-based fuzz run against the served document (schemathesis).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gatehouse_e2e::{Server, cli, create_token, gatehouse_bin, raw_request, request, seed, stderr, stdout};
use serde_json::{Value, json};

fn openapi() -> Value {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A path with real parameters filled in, and a plausible body.
fn concrete(path: &str) -> String {
    path.replace("{app}", "payments")
        .replace("{version}", "1.0.0")
        .replace("{name}", "default")
        .replace("{keyid}", "0000")
        .replace("{digest}", "0000")
        .replace("{id}", "00000000")
}

#[test]
fn every_route_refuses_every_caller_it_should_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    seed(&server, "payments", "1.0.0");
    let d = dir.path();
    let mut callers: Vec<(String, Option<String>)> = ["viewer", "developer", "release-manager", "approver", "admin"]
        .iter()
        .map(|role| (role.to_string(), Some(create_token(d, &format!("matrix-{role}"), role))))
        .collect();
    let revoked = create_token(d, "revoked", "admin");
    let listed = stdout(&cli(d, &["--output", "json", "token", "list"]));
    let id = serde_json::from_str::<Value>(&listed)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "revoked")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cli(d, &["token", "revoke", &id]).status.success());
    let soon = jiff_like_in(2);
    let o = cli(
        d,
        &[
            "token",
            "create",
            "--name",
            "expiring",
            "--role",
            "admin",
            "--expires-at",
            &soon,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let expiring = stdout(&o).trim().to_string();
    std::thread::sleep(Duration::from_millis(2600));
    callers.push(("no token".into(), None));
    callers.push(("revoked".into(), Some(revoked)));
    callers.push(("expired".into(), Some(expiring)));
    callers.push(("malformed".into(), Some("ghs_not-a-token".into())));
    callers.push(("unknown".into(), Some(format!("ghs_deadbeef_{}", "0".repeat(64)))));

    let doc = openapi();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let permission = op["x-gatehouse-permission"].as_str().unwrap();
            // Destructive calls by allowed callers would change what later rows see; refusals never do.
            for (who, token) in &callers {
                let allowed = match (permission, who.as_str()) {
                    ("public", _) => true,
                    (_, "no token" | "revoked" | "expired" | "malformed" | "unknown") => false,
                    (_, "admin") => true,
                    ("read", _) => true,
                    ("develop", r) => r == "developer",
                    ("transition", r) => r == "release-manager",
                    ("approve", r) => r == "approver",
                    _ => false,
                };
                if allowed && method != "get" {
                    continue;
                }
                let (status, body) = request(
                    server.addr,
                    &method.to_uppercase(),
                    &concrete(path),
                    Some(b"{}"),
                    token.as_deref(),
                );
                checked += 1;
                if allowed {
                    assert!(status != 401 && status != 403, "{who} {method} {path}: {status} {body}");
                    continue;
                }
                let expected = if matches!(
                    who.as_str(),
                    "no token" | "revoked" | "expired" | "malformed" | "unknown"
                ) {
                    401
                } else {
                    403
                };
                assert_eq!(status, expected, "{who} {method} {path}: {body}");
                let message = body["error"]["message"].as_str().unwrap_or_default();
                let reason = match who.as_str() {
                    "no token" => "no bearer token",
                    "revoked" => "revoked",
                    "expired" => "expired",
                    "malformed" => "malformed",
                    "unknown" => "unknown token",
                    _ => "needs role",
                };
                assert!(
                    message.contains(reason),
                    "{who} {method} {path}: {message:?} lacks {reason:?}"
                );
            }
        }
    }
    assert!(checked > 150, "the matrix covered {checked} calls");
    // Nothing refused changed anything: the log holds only the seed's and the CLI's own events.
    let (_, log) = server.get("/v1/activity?limit=1000");
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "tester" || e["actor"] == "cli-tester"),
        "{log}"
    );
}

/// RFC 3339 for `secs` seconds from now, via the system `date`.
fn jiff_like_in(secs: u64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("+{secs} seconds"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn health_readiness_metrics_and_the_served_document() {
    let dir = tempfile::tempdir().unwrap();
    // A cache of its own, empty: the plugins really compile while it starts.
    let cache = dir.path().join("plugin-cache");
    let server = Server::start_env(
        dir.path(),
        &[],
        &[("GATEHOUSE_PLUGIN_CACHE_DIR", cache.to_str().unwrap())],
    );
    let (s, _) = request(server.addr, "GET", "/healthz", None, None);
    assert_eq!(s, 200, "/healthz needs no token");
    // Ready once every plugin is compiled (at start, in the background).
    let started = std::time::Instant::now();
    while request(server.addr, "GET", "/readyz", None, None).0 != 200 {
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "never ready");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (s, plugins) = server.get("/v1/plugins");
    assert_eq!(s, 200);
    let states: Vec<&str> = plugins["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["state"].as_str().unwrap())
        .collect();
    assert!(
        !states.is_empty() && states.iter().all(|s| *s == "compiled"),
        "ready before every plugin was compiled: {states:?}"
    );
    let (s, served) = request(server.addr, "GET", "/v1/openapi.json", None, None);
    assert_eq!(s, 200);
    assert_eq!(served, openapi(), "the served document is the one in docs/");

    seed(&server, "payments", "1.0.0");
    let (s, _) = server.post(
        "/v1/applications/payments/versions/1.0.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 200);
    let (s, _) = request(server.addr, "GET", "/v1/applications", None, None);
    assert_eq!(s, 401);
    let raw = raw_request(server.addr, "GET", "/metrics", None, "").unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.contains("content-type: text/plain"), "{text}");
    for needle in [
        r#"gatehouse_http_requests_total{route="/v1/applications",method="POST",status="201"} 1"#,
        r#"gatehouse_http_requests_total{route="/v1/applications",method="GET",status="401"} 1"#,
        r#"gatehouse_http_request_duration_seconds_bucket{route="/v1/applications/{app}/versions/{version}/promote",method="POST",status="200",le="+Inf"} 1"#,
        r#"gatehouse_gate_decisions_total{kind="entry",decision="passed"} 1"#,
    ] {
        assert!(text.contains(needle), "metrics lack {needle}\n{text}");
    }
}

#[test]
fn configuration_errors_stop_before_anything_is_bound_or_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |config: &str, env: &[(&str, &str)]| {
        let file = dir.path().join("gatehouse.toml");
        std::fs::write(&file, config).unwrap();
        let mut cmd = Command::new(gatehouse_bin());
        cmd.args(["--config", file.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"]);
        cmd.env("GATEHOUSE_DATA_DIR", &data);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    for (config, env, words) in [
        ("listen = \"everywhere\"", vec![], vec!["`listen`", "everywhere"]),
        ("colour = \"red\"", vec![], vec!["colour"]),
        ("request_timeout_ms = \"soon\"", vec![], vec!["request_timeout_ms"]),
        ("body_limit_bytes = 10", vec![], vec!["body_limit_bytes"]),
        ("log_filter = \"=[\"", vec![], vec!["log_filter"]),
        (
            "",
            vec![("GATEHOUSE_DRAIN_TIMEOUT_MS", "later")],
            vec!["GATEHOUSE_DRAIN_TIMEOUT_MS"],
        ),
        (
            "",
            vec![("GATEHOUSE_LOG_FORMAT", "xml")],
            vec!["GATEHOUSE_LOG_FORMAT", "text or json"],
        ),
    ] {
        let o = run(config, &env);
        assert_eq!(o.status.code(), Some(2), "{config} {env:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "nothing was bound: {}", stdout(&o));
        for w in words {
            assert!(stderr(&o).contains(w), "{config} {env:?}: {:?} lacks {w}", stderr(&o));
        }
        assert!(!data.exists(), "no data directory was created");
    }
    let o = Command::new(gatehouse_bin())
        .args(["--config", "/nonexistent/gatehouse.toml", "serve"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/gatehouse.toml"), "{}", stderr(&o));

    // A valid file is used, and the environment overrides it.
    let o = run(
        "listen = \"127.0.0.1:1\"\nlog_format = \"json\"",
        &[("GATEHOUSE_LISTEN", "127.0.0.1:not-a-port")],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("127.0.0.1:not-a-port"), "{}", stderr(&o));
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path());
    let o = Command::new(gatehouse_bin())
        .args(["serve", "--listen", &first.addr.to_string(), "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("cannot listen on {}", first.addr)),
        "{}",
        stderr(&o)
    );
}

#[test]
fn shutdown_drains_a_request_in_flight_and_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let token = server.token("drainer");
    let body = json!({ "key": "late-app" }).to_string();
    // Send the head and half the body, then signal shutdown.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /v1/applications HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    stream.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "no new connections after the signal"
    );
    stream.write_all(rest).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 201"), "the in-flight request finished: {raw}");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the server did not exit after draining"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    // The acknowledged write is there.
    let o = cli(dir.path(), &["app", "show", "late-app"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn the_cli_works_against_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let admin = create_token(dir.path(), "ops", "admin");
    let viewer = create_token(dir.path(), "auditor", "viewer");
    let url = server.url();
    let remote = |token: &str, args: &[&str]| {
        Command::new(gatehouse_bin())
            .args(["--server", &url, "--token", token])
            .args(args)
            .env_remove("GATEHOUSE_DATA_DIR")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    for args in [
        vec!["app", "create", "payments", "--project", "shop"],
        vec!["version", "create", "payments", "1.0.0"],
        vec!["promote", "payments", "1.0.0", "dev"],
    ] {
        let o = remote(&admin, &args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    let o = remote(&viewer, &["--output", "json", "audit", "log", "--app", "payments"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let events: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let actors: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["ops", "ops", "ops"], "the token's name is the actor");
    let o = remote(&viewer, &["promote", "payments", "1.0.0", "qa"]);
    assert_eq!(o.status.code(), Some(3), "a token without the role decides nothing");
    assert!(
        stderr(&o).contains("forbidden") && stderr(&o).contains("release-manager"),
        "{}",
        stderr(&o)
    );
    let o = remote(&admin, &["promote", "payments", "1.0.0", "prod"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("skip stage qa"), "{}", stderr(&o));
    let o = remote(&admin, &["version", "create", "payments", "v2"]);
    assert_eq!(o.status.code(), Some(2), "bad input is still a usage error remotely");
    let o = remote("ghs_bogus", &["app", "list"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("unauthenticated"), "{}", stderr(&o));
    // An https:// sidecar that cannot be reached decided nothing (tls.rs
    // covers one that can); a URL with a path is a usage error.
    let o = Command::new(gatehouse_bin())
        .args(["--server", "https://example.invalid", "app", "list"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot reach the sidecar at https://example.invalid"),
        "{}",
        stderr(&o)
    );
    let o = Command::new(gatehouse_bin())
        .args(["--server", "http://127.0.0.1:9/v1", "app", "list"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--server"), "{}", stderr(&o));
}

#[test]
fn schemathesis_finds_no_server_error_and_no_undocumented_response() {
    let python = std::env::var("GATEHOUSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command::new(&python)
        .args(["-c", "import schemathesis"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has,
        "{python} cannot import schemathesis: run `pip install -r tests/requirements.txt`"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = server.token("fuzzer");
    seed(&server, "payments", "1.0.0");
    // Every check, positive_data_acceptance included: tests/schemathesis.toml
    // names the operations whose validity depends on state or content (a
    // signature, a key on the curve, a time in the future), and why.
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemathesis.toml");
    let out = Command::new(&python)
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(&config)
        .args(["run", &format!("{}/v1/openapi.json", server.url())])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "all"])
        // Revoking tokens would revoke the fuzzer's own credentials.
        .args(["--exclude-operation-id", "revokeToken"])
        .args(["--max-examples", "25", "--seed", "20261126", "--request-timeout", "20"])
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "schemathesis found problems:\n{report}");
    assert!(report.contains("passed"), "{report}");
}

/// NUL (U+0000) in a name, a path or a filter: the embedded store compares
/// it and finds nothing; PostgreSQL cannot hold it in text at all and its
/// driver error used to become a 500 (schemathesis found it on POST
/// /v1/waivers). Either way the caller hears 400 or 404, never a server error.
#[test]
fn nul_characters_in_names_and_filters_are_a_client_error_never_a_server_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    seed(&server, "payments", "1.0.0");
    let waiver = json!({ "application": "payments", "version": "1.0.0\u{0}x", "expires_at": "2099-01-01T00:00:00Z",
                         "gate": { "stage": "dev", "kind": "exit" }, "justification": "long enough to be judged" });
    let body = waiver.to_string();
    let calls: [(&str, &str, Option<&[u8]>); 6] = [
        ("POST", "/v1/waivers", Some(body.as_bytes())),
        ("GET", "/v1/applications/pay%00ments", None),
        ("GET", "/v1/applications/payments/versions/1.0.0%00", None),
        ("GET", "/v1/applications/payments/versions/1.0.0%00/timeline", None),
        ("GET", "/v1/activity?actor=al%00ice", None),
        ("GET", "/v1/waivers?application=pay%00ments", None),
    ];
    for (method, path, body) in calls {
        let (s, answer) = server.send(method, path, body, "admin");
        assert!(matches!(s, 200 | 400 | 404), "{method} {path}: {s} {answer}");
        if s == 400 {
            assert_eq!(answer["error"]["code"], "invalid", "{method} {path}: {answer}");
        }
    }
    let (s, answer) = server.send(
        "POST",
        "/v1/applications",
        Some(br#"{"key": "pay\u0000ments"}"#),
        "admin",
    );
    assert_eq!(s, 400, "{answer}");
}
