//! Continuous monitoring end to end: a released version's SBOM, an advisory
//! imported later, the finding, the event, the webhook delivery (retried) to
//! a server on loopback, the blast radius, and findings reaching the gates.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use gatehouse_e2e::{Server, cli, create_token, data, request, stderr};
use serde_json::{Value, json};

/// A webhook receiver that refuses the first delivery (503) and accepts the rest.
fn receiver() -> (String, mpsc::Receiver<(u16, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/gatehouse", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let status = if n == 0 { 503 } else { 200 };
            let _ = stream
                .write_all(format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes());
            let _ = tx.send((status, serde_json::from_slice(&body).unwrap_or(Value::Null)));
        }
    });
    (url, rx)
}

fn advisory(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(data(path)).unwrap()).unwrap()
}

#[test]
fn a_new_advisory_reaches_released_versions_the_webhook_and_the_gates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (url, deliveries) = receiver();
    let config = d.join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "webhook_url = {url:?}\n\n[[bindings]]\nid = \"no-critical\"\ncheck = \"policy:baseline.vulnerabilities\"\ngate = {{ stage = \"dev\", kind = \"entry\" }}\nscope = {{ applications = [\"web\"] }}\n"
        ),
    )
    .unwrap();
    let server = Server::start_with(d, &["--config", config.to_str().unwrap()]);
    let admin = create_token(d, "alice", "admin");
    let call = |method: &str, path: &str, body: Option<Vec<u8>>| {
        request(server.addr, method, path, body.as_deref(), Some(&admin))
    };
    let json_call = |method: &str, path: &str, body: Value| call(method, path, Some(body.to_string().into_bytes()));

    // A released Python service with its SBOM; no advisories yet.
    assert_eq!(json_call("POST", "/v1/applications", json!({"key": "svc"})).0, 201);
    assert_eq!(
        json_call("POST", "/v1/applications/svc/versions", json!({"version": "1.0.0"})).0,
        201
    );
    let sbom = std::fs::read(data("sbom/python/python-env.cdx-1.6.json")).unwrap();
    let (s, r) = call("POST", "/v1/applications/svc/versions/1.0.0/sboms", Some(sbom));
    assert_eq!(s, 201, "{r}");
    assert!(r["components"].as_u64().unwrap() > 10 && r["findings"].as_array().unwrap().is_empty());
    for stage in ["dev", "qa", "staging", "prod"] {
        assert_eq!(
            json_call(
                "POST",
                "/v1/applications/svc/versions/1.0.0/promote",
                json!({"target_stage": stage})
            )
            .0,
            200
        );
    }
    assert_eq!(
        json_call("POST", "/v1/applications/svc/versions/1.0.0/release", json!({})).0,
        200
    );

    // The advisory arrives: the finding, the event, the notification.
    let (s, report) = json_call(
        "POST",
        "/v1/advisories",
        json!([advisory("osv/pypa/PYSEC-2019-217.json"), {"id": "BROKEN"}]),
    );
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["new"], json!(["PYSEC-2019-217"]));
    assert_eq!(
        report["rejected"].as_array().unwrap().len(),
        1,
        "one bad advisory does not stop the rest"
    );
    assert_eq!(report["trusted_releases_affected"], json!(["svc@1.0.0"]));
    let (_, findings) = call("GET", "/v1/applications/svc/versions/1.0.0/findings", None);
    let f = &findings["items"][0];
    assert_eq!(
        (f["purl"].as_str(), f["advisory"].as_str()),
        (Some("pkg:pypi/jinja2@2.10"), Some("PYSEC-2019-217"))
    );
    assert_eq!(
        (
            report["new_findings_count"].as_u64(),
            report["versions_affected"].as_u64()
        ),
        (Some(1), Some(1))
    );
    // The log keeps what the import decided: the package version and the advisory.
    let (_, log) = call("GET", "/v1/activity?action=vuln.packages_affected&limit=100", None);
    assert_eq!(
        log["items"][0]["details"]["new"],
        json!([["PyPI", "jinja2", "2.10", "PYSEC-2019-217"]]),
        "{log}"
    );
    let (first, body) = deliveries
        .recv_timeout(Duration::from_secs(10))
        .expect("a webhook delivery");
    assert_eq!(first, 503);
    let (second, again) = deliveries
        .recv_timeout(Duration::from_secs(10))
        .expect("a retried delivery");
    assert_eq!(second, 200);
    assert_eq!(body, again);
    assert_eq!(body["event"], "trusted_release_affected");
    assert_eq!(
        (body["application"].as_str(), body["advisory"].as_str()),
        (Some("svc"), Some("PYSEC-2019-217"))
    );

    // Blast radius, by id or alias; the GHSA twin joins the group once imported.
    assert_eq!(
        json_call("POST", "/v1/advisories", advisory("osv/ghsa/GHSA-462w-v97r-4m45.json")).0,
        200
    );
    for id in ["PYSEC-2019-217", "CVE-2019-10906"] {
        let (s, br) = call("GET", &format!("/v1/vulnerabilities/{id}/blast-radius"), None);
        assert_eq!(s, 200, "{br}");
        let a = &br["affected"][0];
        assert_eq!(
            (
                a["application"].as_str(),
                a["stage"].as_str(),
                a["trusted_release"].as_bool()
            ),
            (Some("svc"), Some("prod"), Some(true))
        );
        assert_eq!(a["components"], json!(["pkg:pypi/jinja2@2.10"]));
    }
    let o = cli(
        d,
        &[
            "--config",
            config.to_str().unwrap(),
            "vuln",
            "blast-radius",
            "GHSA-462w-v97r-4m45",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(gatehouse_e2e::stdout(&o).contains("svc@1.0.0") && gatehouse_e2e::stdout(&o).contains("trusted release"));

    // Re-import is idempotent; a withdrawn advisory matches nothing.
    let (_, again) = json_call("POST", "/v1/advisories", advisory("osv/pypa/PYSEC-2019-217.json"));
    assert_eq!(
        (
            again["unchanged"].as_u64(),
            again["new_findings"].as_array().map(Vec::len)
        ),
        (Some(1), Some(0))
    );
    let (_, w) = json_call(
        "POST",
        "/v1/advisories",
        advisory("osv/unrelated/pypa/PYSEC-2023-141.json"),
    );
    assert_eq!(w["withdrawn"], json!(["PYSEC-2023-141"]));

    // Findings reach the gates: a critical one blocks where baseline.vulnerabilities is bound.
    assert_eq!(json_call("POST", "/v1/applications", json!({"key": "web"})).0, 201);
    assert_eq!(
        json_call("POST", "/v1/applications/web/versions", json!({"version": "2.0.0"})).0,
        201
    );
    let o = cli(
        d,
        &[
            "--config",
            config.to_str().unwrap(),
            "vuln",
            "attach",
            "web",
            "2.0.0",
            "--sbom",
            data("sbom/npm/npm-project.cdx-1.6.json").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(
        d,
        &[
            "--config",
            config.to_str().unwrap(),
            "vuln",
            "import",
            data("osv/ghsa").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (s, r) = json_call(
        "POST",
        "/v1/applications/web/versions/2.0.0/promote",
        json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 409, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("BASELINE-VULN-1") && msg.contains("pkg:npm/minimist@1.2.0"),
        "{msg}"
    );
}
