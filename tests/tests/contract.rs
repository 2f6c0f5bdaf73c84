//! The contract scripts rely on: exit codes that tell a policy's "no" from
//! bad input and from an outage, a JSON error object on stdout for every
//! failure with `--output json`, a closed pipe that is not a crash, JSON logs
//! that are JSON, and HTTP answers as RFC 9110 says (405 with `Allow`).

use std::process::{Command, Output, Stdio};

use gatehouse_e2e::{Server, create_token, gatehouse_bin, raw_request, seed, stderr, stdout};
use serde_json::Value;

const BLOCKING: &str = r#"
[[bindings]]
id = "tests-before-dev"
check = "policy:baseline.tests"
gate = { stage = "dev", kind = "entry" }
"#;

fn remote(server: &str, token: &str, args: &[&str]) -> Output {
    Command::new(gatehouse_bin())
        .args(["--server", server, "--token", token])
        .args(args)
        .output()
        .expect("run gatehouse")
}

/// The JSON error object printed on stdout, checked against the exit code.
fn error_object(o: &Output, exit: i32) -> Value {
    assert_eq!(o.status.code(), Some(exit), "stdout {} stderr {}", stdout(o), stderr(o));
    let v: Value = serde_json::from_str(&stdout(o))
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {:?}", stdout(o)));
    assert_eq!(v["error"]["exit_code"], exit, "{v}");
    assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    v
}

#[test]
fn exit_codes_tell_refusal_from_input_from_outage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("gatehouse.toml");
    std::fs::write(&config, BLOCKING).unwrap();
    let server = Server::start_with(d, &["--config", config.to_str().unwrap()]);
    seed(&server, "relgov", "0.1.0");
    let url = server.url();
    let admin = create_token(d, "alice", "admin");
    let viewer = create_token(d, "vic", "viewer");

    // 0: done.
    let o = remote(&url, &admin, &["--output", "json", "app", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // 1: a policy said no; the gates are in the object.
    let o = remote(&url, &admin, &["--output", "json", "promote", "relgov", "0.1.0", "dev"]);
    let v = error_object(&o, 1);
    assert_eq!(v["error"]["code"], "blocked");
    assert!(v["error"]["gates"].as_array().is_some_and(|g| !g.is_empty()), "{v}");
    // A dry run that would block says the same.
    let o = remote(
        &url,
        &admin,
        &["--output", "json", "promote", "relgov", "0.1.0", "dev", "--dry-run"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // 1: the state refuses (already exists).
    let o = remote(&url, &admin, &["--output", "json", "app", "create", "relgov"]);
    assert_eq!(error_object(&o, 1)["error"]["code"], "conflict");

    // 2: the input is wrong, the field named.
    let o = remote(&url, &admin, &["--output", "json", "version", "create", "relgov", "v2"]);
    let v = error_object(&o, 2);
    assert_eq!(v["error"]["code"], "invalid");
    assert_eq!(v["error"]["field"], "version");
    // 2: the command line is wrong (clap), still one JSON object.
    let o = remote(&url, &admin, &["--output", "json", "promote", "relgov"]);
    assert_eq!(error_object(&o, 2)["error"]["code"], "usage");

    // 3: nothing was decided: a bad token, a token without the role, no sidecar.
    let o = remote(&url, "ghs_bogus", &["--output", "json", "app", "list"]);
    assert_eq!(error_object(&o, 3)["error"]["code"], "unauthenticated");
    let o = remote(&url, &viewer, &["--output", "json", "app", "create", "other"]);
    assert_eq!(error_object(&o, 3)["error"]["code"], "forbidden");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let o = remote(&gone, &admin, &["--output", "json", "app", "list"]);
    assert_eq!(error_object(&o, 3)["error"]["code"], "unreachable");
    // Without --output json stdout stays empty and stderr explains.
    let o = remote(&gone, &admin, &["app", "list"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(3), ""));
    assert!(stderr(&o).contains("cannot reach the sidecar"), "{}", stderr(&o));
}

#[test]
fn a_reader_that_goes_away_is_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = gatehouse_e2e::cli(d, &["app", "create", "payments", "--project", "shop"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // `gatehouse app list | head -0`: the read end is closed before a byte is written.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(gatehouse_bin())
        .arg("--data-dir")
        .arg(d)
        .args(["--output", "json", "app", "list"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn json_logs_are_json_and_logs_have_no_colour_codes() {
    for (format, json) in [("json", true), ("text", false)] {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("serve.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut server = Server::start_logged(
            &dir.path().join("data"),
            &[],
            &[("GATEHOUSE_LOG_FORMAT", format), ("GATEHOUSE_LOG", "info")],
            Stdio::from(log),
            None,
        );
        let raw = raw_request(server.addr, "GET", "/healthz", None, "").unwrap();
        assert!(raw.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&raw));
        server.kill();
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(text.contains("serving"), "{format}: {text}");
        assert!(
            !text.contains('\u{1b}'),
            "{format}: colour codes in a log file: {text:?}"
        );
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let parsed = serde_json::from_str::<Value>(line);
            assert_eq!(parsed.is_ok(), json, "{format}: {line}");
        }
    }
}

#[test]
fn http_answers_say_what_is_allowed_and_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let auth = format!("authorization: Bearer {}\r\n", server.token("admin"));
    let raw = raw_request(server.addr, "DELETE", "/v1/applications", None, &auth).unwrap();
    let answer = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 405"), "{answer}");
    assert!(answer.contains("\r\nallow: get, post\r\n"), "{answer}");

    let raw = raw_request(server.addr, "POST", "/v1/advisories", None, &auth).unwrap();
    let answer = String::from_utf8_lossy(&raw);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("\"malformed\"") && answer.contains("the body is empty"),
        "{answer}"
    );
}
