//! Sigstore bundles through the real binary, offline: `gatehouse evidence
//! verify --trusted-root FILE BUNDLE [--artifact F] [--identity I --issuer ISS]`
//! over every fixture of tests/data/sigstore/bundle-verify, with its exit code
//! (0 valid, 1 refused with the case's code, 2 usage).

use std::path::{Path, PathBuf};

use gatehouse_e2e::{cli, on_postgres, stderr, stdout};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sigstore")
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    cli(dir, args)
}

#[test]
fn evidence_verify_gives_every_fixture_its_exit_code_and_refusal_code() {
    if on_postgres() {
        return; // no store involved
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures().join("bundle-verify"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 15, "{} cases", dirs.len());
    for d in dirs {
        let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("case.json")).unwrap()).unwrap();
        let (root, bundle, artifact) = (d.join("trusted_root.json"), d.join("bundle.json"), d.join("artifact"));
        let mut args = vec![
            "--output".to_string(),
            "json".into(),
            "evidence".into(),
            "verify".into(),
            "--trusted-root".into(),
            root.display().to_string(),
            bundle.display().to_string(),
            "--identity".into(),
            spec["identity"].as_str().unwrap().into(),
            "--issuer".into(),
            spec["issuer"].as_str().unwrap().into(),
        ];
        if artifact.exists() {
            args.extend(["--artifact".into(), artifact.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(tmp.path(), &args);
        let json: serde_json::Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{}: {e}: {} {}", d.display(), stdout(&out), stderr(&out)));
        match spec["code"].as_str() {
            None => {
                assert_eq!(out.status.code(), Some(0), "{}: {}", d.display(), stderr(&out));
                assert_eq!(json["signer"]["identity"], spec["identity"], "{}", d.display());
                assert_eq!(json["signer"]["claims"]["repository"], "https://github.com/acme/shop");
                assert!(json["signer"]["log_index"].is_u64(), "{json}");
            }
            Some(code) => {
                assert_eq!(out.status.code(), Some(1), "{}: {}", d.display(), stderr(&out));
                assert_eq!(json["error"]["code"], code, "{}: {json}", d.display());
            }
        }
    }
}

#[test]
fn evidence_verify_of_a_bundle_refuses_bad_usage_with_exit_2() {
    if on_postgres() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let wt = fixtures().join("walkthrough");
    let root = wt.join("trusted_root.json").display().to_string();
    let bundle = wt.join("shop-provenance.sigstore.json").display().to_string();
    let not_a_root = wt.join("shop-1.2.3.tar.gz").display().to_string();
    for (args, says) in [
        (vec!["evidence", "verify", &bundle], "--trusted-root"),
        (
            vec!["evidence", "verify", "--trusted-root", &not_a_root, &bundle],
            "not a Sigstore trusted root",
        ),
        (
            vec!["evidence", "verify", "--trusted-root", &root, &root],
            "not a Sigstore bundle",
        ),
        (
            vec![
                "evidence",
                "verify",
                "--trusted-root",
                &root,
                "/nonexistent/bundle.json",
            ],
            "cannot read",
        ),
        (vec!["evidence", "verify", "--identity", "x", &bundle], "--trusted-root"),
    ] {
        let out = run(tmp.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    // The same provenance, signed by another repository's workflow: valid
    // without an identity to hold it to, refused when ours is required.
    let fork = wt.join("fork-provenance.sigstore.json").display().to_string();
    let out = run(tmp.path(), &["evidence", "verify", "--trusted-root", &root, &fork]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("https://github.com/mallory/shop"),
        "{}",
        stdout(&out)
    );
    let ours = "https://github.com/acme/shop/.github/workflows/release.yml@refs/tags/v1.2.3";
    let out = run(
        tmp.path(),
        &["evidence", "verify", "--trusted-root", &root, &fork, "--identity", ours],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("identity_mismatch"), "{}", stderr(&out));
}
