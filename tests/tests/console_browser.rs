//! The web console in headless Chromium (Debian's package, driven by
//! playwright-core from npm: tests/browser/console.mjs). A developer signs
//! in, finds the blocked version, reads the remediation and asks for a
//! waiver; another person approves it; a release manager promotes the
//! version through every stage, releases it and opens the record's verify
//! view. `bash tests/browser/install.sh` installs what it needs (the
//! README's test command runs it). With `GATEHOUSE_SCREENSHOTS=DIR` set, the
//! browser saves a picture of each page into DIR (tests/browser/screenshots.sh).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse_e2e::{Server, create_token, data, put_binding, request, seed};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string())
}

#[test]
fn in_chromium_a_blocked_version_is_waived_approved_promoted_released_and_its_record_verifies() {
    let chromium = chromium();
    assert!(
        Path::new(&chromium).exists() && browser_dir().join("node_modules/playwright-core").exists(),
        "Chromium ({chromium}) or playwright-core is missing: run `bash tests/browser/install.sh`"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (app, version) = ("payments", "1.0.0");
    // A board with some history: versions further along, before any gate.
    for (a, v, stages) in [
        ("payments", "0.9.0", &["dev", "qa", "staging"][..]),
        ("checkout", "2.3.0", &["dev", "qa"][..]),
        ("checkout", "2.4.0", &[][..]),
    ] {
        seed(&server, a, v);
        for stage in stages {
            let (s, b) = server.send(
                "POST",
                &format!("/v1/applications/{a}/versions/{v}/promote"),
                Some(format!(r#"{{"target_stage": "{stage}"}}"#).as_bytes()),
                "admin",
            );
            assert_eq!(s, 200, "{b}");
        }
    }
    seed(&server, app, version);
    let admin = server.token("tester");
    let sbom = std::fs::read(data("sbom/python/python-env.cdx-1.6.json")).unwrap();
    let path = format!("/v1/applications/{app}/versions/{version}/sboms");
    let (s, b) = request(server.addr, "POST", &path, Some(&sbom), Some(&admin));
    assert_eq!(s, 201, "{b}");
    let advisory = std::fs::read(data("osv/pypa/PYSEC-2019-217.json")).unwrap();
    let (s, b) = request(server.addr, "POST", "/v1/advisories", Some(&advisory), Some(&admin));
    assert_eq!(s, 200, "{b}");
    let (s, b) = put_binding(
        &server,
        "provenance",
        "policy:baseline.provenance",
        "dev",
        serde_json::json!({}),
    );
    assert!(s == 200 || s == 201, "{b}");
    let promote = format!("/v1/applications/{app}/versions/{version}/promote");
    let (s, b) = server.send("POST", &promote, Some(br#"{"target_stage": "dev"}"#), "admin");
    assert_eq!(s, 409, "the provenance gate blocks: {b}");

    let mut cmd = Command::new("node");
    cmd.arg("console.mjs")
        .current_dir(browser_dir())
        .env("GATEHOUSE_URL", format!("http://{}", server.addr))
        .env("CHROMIUM", &chromium)
        .env("APP", app)
        .env("VERSION", version)
        .env("DEV_TOKEN", create_token(dir.path(), "dana", "developer"))
        .env("APPROVER_TOKEN", create_token(dir.path(), "ann", "approver"))
        .env("RM_TOKEN", create_token(dir.path(), "rita", "release-manager"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(shots) = std::env::var_os("GATEHOUSE_SCREENSHOTS") {
        cmd.env("SCREENSHOTS", shots);
    }
    let mut child = cmd.spawn().expect("run node (Debian's nodejs)");
    // The flow takes seconds; a hung browser must not hang the suite.
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(240) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the browser flow failed ({:?}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // What the clicks did, as the API tells it.
    let (_, waivers) = server.get("/v1/waivers");
    let w = &waivers["items"][0];
    assert_eq!(
        (&w["status"], &w["requested_by"], &w["decided_by"]),
        (
            &serde_json::json!("approved"),
            &serde_json::json!("dana"),
            &serde_json::json!("ann")
        ),
        "{waivers}"
    );
    let (_, v) = server.get(&format!("/v1/applications/{app}/versions/{version}"));
    assert_eq!(
        (&v["stage"], &v["release_status"]),
        (&serde_json::json!("prod"), &serde_json::json!("trusted_release")),
        "{v}"
    );
    let (_, log) = server.get(&format!("/v1/activity?application={app}&action=version.release"));
    assert_eq!(log["items"][0]["actor"], "rita", "{log}");
}
