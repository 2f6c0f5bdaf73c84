//! Upgrades keep data: a data directory written by an earlier landed build
//! (tests/data/upgrade/v1-9bf9947, made by make-fixture.sh beside it with
//! that build's binary) opens, verifies and serves with this one. The fixture
//! is copied first: a test never changes it.

use std::path::{Path, PathBuf};

use gatehouse_e2e::{Server, cli, stderr, stdout};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/upgrade").join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_data_directory_of_the_previous_build_opens_verifies_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let old = fixture("v1-9bf9947");
    copy_dir(&old, dir.path());
    let data = dir.path().join("data");

    // The log written by the old build is intact under the new one (after its migration).
    let o = cli(&data, &["audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    // Its Trusted Release record verifies offline, as before.
    let record = dir.path().join("payments-1.0.0.record.json");
    let key = dir.path().join("release.pub.pem");
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

    // The uploaded policy keeps its digest and version; the waiver request is there.
    let (s, p) = server.get("/v1/policies/team.owners");
    assert_eq!((s, p["version"].as_u64()), (200, Some(1)), "{p}");
    let (_, w) = server.get("/v1/waivers?application=payments&version=1.1.0");
    assert_eq!(w["items"][0]["status"], "requested", "{w}");

    // The next version climbs through the bound gate on the evidence the old build stored.
    let (s, r) = server.post(
        "/v1/applications/payments/versions/1.1.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 200, "{r}");

    // And the log, extended by this build, still verifies whole.
    drop(server);
    let o = cli(&data, &["audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}
