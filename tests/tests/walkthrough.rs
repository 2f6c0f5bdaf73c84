//! The README's walkthrough, run as written against the real binary on port 0.

use std::process::Command;

use gatehouse_e2e::{Server, gatehouse_bin};

/// The shell block under the README's "Walkthrough" heading.
fn walkthrough_script() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    let section = readme.split("## Walkthrough").nth(1).expect("a Walkthrough section");
    let block = section.split("```sh\n").nth(1).expect("a ```sh block");
    block.split("\n```").next().expect("a closed block").to_string()
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let script = walkthrough_script();
    assert!(script.contains("promote"), "the walkthrough promotes a version");
    // Pasted where the README says (the repository root, here a stand-in):
    // nothing may be written there.
    let root = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(root.path())
        .env("TMPDIR", scratch.path())
        .env("GATEHOUSE_URL", server.url())
        .env("GATEHOUSE_BIN", gatehouse_bin())
        .env("GATEHOUSE_DATA_DIR", dir.path())
        .envs(gatehouse_e2e::database_env(dir.path()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "walkthrough failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );

    // What the walkthrough promises, checked through the API.
    let (s, v) = server.get("/v1/applications/payments/versions/1.4.2");
    assert_eq!(s, 200);
    assert_eq!(v["stage"], "prod");
    assert_eq!(v["release_status"], "trusted_release");
    assert!(stdout.contains("OK: Trusted Release of payments@1.4.2"), "{stdout}");
    let (_, v) = server.get("/v1/applications/payments/versions/1.5.0");
    assert_eq!(v["stage"], "dev", "the refused skip left 1.5.0 in dev");
    assert!(stdout.contains("activity log intact"), "{stdout}");
    assert!(stdout.contains("refused with exit code 1"), "{stdout}");
    assert!(stdout.contains("a developer may not promote: exit code 3"), "{stdout}");
    let left: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
    assert!(left.is_empty(), "the walkthrough wrote into the checkout: {left:?}");
    assert!(stdout.contains("blocked with exit code 1"), "{stdout}");
    assert!(
        stderr.contains("[BASELINE-PROV-1] no verified build provenance"),
        "{stderr}"
    );
    let (_, v) = server.get("/v1/applications/payments/versions/1.6.1");
    assert_eq!(
        v["stage"], "dev",
        "dev passed on the signed test result; qa was blocked"
    );
    assert!(stderr.contains("forbidden"), "{stderr}");
    // The bundled plugins are listed, and the plugin bound to qa judged (warn mode) in the dry run.
    assert!(
        stdout.contains("license-policy\t0.1.0\tgate-check\tsha256:"),
        "{stdout}"
    );
    assert!(stdout.contains("still blocked (dry run) with exit code 1"), "{stdout}");
    assert!(stdout.contains("plugin:provenance-builder"), "{stdout}");
    assert!(
        stdout.contains("https://in-toto.io/attestation/test-result/v0.1\tverified\t"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OK: https://in-toto.io/attestation/test-result/v0.1 signed by"),
        "{stdout}"
    );
    let (_, ev) = server.get("/v1/applications/payments/versions/1.6.0/evidence?verified=true");
    assert_eq!(ev["items"].as_array().map(Vec::len), Some(1), "{ev}");
    let (_, verify) = server.get("/v1/activity/verify");
    assert!(verify["broken"].is_null(), "{verify}");
}
