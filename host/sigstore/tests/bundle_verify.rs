//! Every fixture of tests/data/sigstore/bundle-verify (made by
//! tests/sigstore/make_fixtures.py, laid out as Sigstore's conformance suite
//! lays out its cases): `_pass` cases verify and say who signed; `_fail` cases
//! are refused with the code their case.json names — one code per class.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use std::path::{Path, PathBuf};

use gatehouse_sigstore::{Content, Expect, RefusalCode, TrustedRoot, verify};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/sigstore/bundle-verify");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    cases
}

struct Case {
    root: TrustedRoot,
    bundle: Vec<u8>,
    artifact: Option<Vec<u8>>,
    expect: Expect,
    code: Option<String>,
}

fn load(dir: &Path) -> Case {
    let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("case.json")).unwrap()).unwrap();
    let text = |k: &str| spec.get(k).and_then(|v| v.as_str()).map(str::to_string);
    Case {
        root: TrustedRoot::parse("test", &std::fs::read(dir.join("trusted_root.json")).unwrap()).unwrap(),
        bundle: std::fs::read(dir.join("bundle.json")).unwrap(),
        artifact: std::fs::read(dir.join("artifact")).ok(),
        expect: Expect {
            identity: text("identity"),
            issuer: text("issuer"),
        },
        code: text("code"),
    }
}

#[test]
fn every_pass_case_verifies_and_names_its_signer() {
    let mut seen = 0;
    for dir in cases().iter().filter(|d| d.to_string_lossy().ends_with("_pass")) {
        let c = load(dir);
        let v = verify(
            std::slice::from_ref(&c.root),
            &c.bundle,
            c.artifact.as_deref(),
            &c.expect,
        )
        .unwrap_or_else(|r| panic!("{}: refused: {r}", dir.display()));
        assert_eq!(
            Some(&v.signer.identity),
            c.expect.identity.as_ref(),
            "{}",
            dir.display()
        );
        assert_eq!(Some(&v.signer.issuer), c.expect.issuer.as_ref(), "{}", dir.display());
        assert_eq!(
            v.signer.claims.get("repository").map(String::as_str),
            Some("https://github.com/acme/shop")
        );
        assert_eq!(v.signer.claims.get("ref").map(String::as_str), Some("refs/tags/v1.2.3"));
        assert!(v.signer.log_index.is_some(), "{}", dir.display());
        assert!(!v.signer.signed_times.is_empty(), "{}", dir.display());
        match &v.content {
            Content::Dsse { payload_type, payload } => {
                assert_eq!(payload_type, "application/vnd.in-toto+json");
                assert!(payload.starts_with(b"{"));
            }
            Content::Message { sha256 } => assert_eq!(sha256.as_ref().map(String::len), Some(64)),
        }
        // Without the artifact a bundle still verifies (for its own statement or digest).
        verify(std::slice::from_ref(&c.root), &c.bundle, None, &c.expect)
            .unwrap_or_else(|r| panic!("{} without its artifact: refused: {r}", dir.display()));
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} pass cases");
}

#[test]
fn every_fail_case_is_refused_with_its_own_code() {
    let mut codes = std::collections::BTreeSet::new();
    for dir in cases().iter().filter(|d| d.to_string_lossy().ends_with("_fail")) {
        let c = load(dir);
        let want = c
            .code
            .clone()
            .unwrap_or_else(|| panic!("{}: case.json names no code", dir.display()));
        match verify(
            std::slice::from_ref(&c.root),
            &c.bundle,
            c.artifact.as_deref(),
            &c.expect,
        ) {
            Ok(v) => panic!(
                "{}: verified (signed by {}), expected {want}",
                dir.display(),
                v.signer.identity
            ),
            Err(r) => {
                eprintln!("{}: {r}", dir.file_name().unwrap().to_string_lossy());
                assert_eq!(r.code.as_str(), want, "{}: {r}", dir.display());
            }
        }
        assert!(codes.insert(want.clone()), "two fail cases share the code {want}");
    }
    assert!(codes.len() >= 12, "only {} refusal classes: {codes:?}", codes.len());
}

#[test]
fn a_second_root_that_does_not_hold_the_ca_does_not_hide_the_one_that_does() {
    let good = cases()
        .into_iter()
        .find(|d| d.to_string_lossy().ends_with("dsse-slsa-github_v0.3_pass"))
        .unwrap();
    let other = cases()
        .into_iter()
        .find(|d| d.to_string_lossy().ends_with("wrong-ca_fail"))
        .unwrap();
    let c = load(&good);
    let stranger = TrustedRoot::parse("stranger", &std::fs::read(other.join("trusted_root.json")).unwrap()).unwrap();
    let roots = [stranger, c.root];
    let v = verify(&roots, &c.bundle, None, &Expect::default()).unwrap();
    assert_eq!(v.signer.trusted_root, "test");
    // The stranger does not hold the bundle's log: it is not asked.
    let refused = verify(&roots[..1], &c.bundle, None, &Expect::default()).unwrap_err();
    assert_eq!(refused.code, RefusalCode::UnknownLog, "{refused}");
    let none = verify(&[], &c.bundle, None, &Expect::default()).unwrap_err();
    assert_eq!(none.code, RefusalCode::NoTrustedRoot);
}

#[test]
fn hostile_input_is_refused_by_name() {
    let good = cases()
        .into_iter()
        .find(|d| d.to_string_lossy().ends_with("dsse-slsa-github_v0.3_pass"))
        .unwrap();
    let c = load(&good);
    let roots = [c.root];
    for (bytes, code) in [
        (b"not json".to_vec(), RefusalCode::MalformedBundle),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=9"}"#.to_vec(),
            RefusalCode::UnsupportedBundle,
        ),
        (
            br#"{"payload":"e30=","payloadType":"x","signatures":[]}"#.to_vec(),
            RefusalCode::UnsupportedBundle,
        ),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#.to_vec(),
            RefusalCode::MalformedBundle,
        ),
        (
            vec![b' '; gatehouse_sigstore::MAX_BUNDLE_BYTES + 1],
            RefusalCode::TooLarge,
        ),
    ] {
        let r = verify(&roots, &bytes, None, &Expect::default()).unwrap_err();
        assert_eq!(r.code, code, "{r}");
    }
    // A bundle padded with log entries (each would cost signature checks) is refused unread.
    let mut padded: serde_json::Value = serde_json::from_slice(&c.bundle).unwrap();
    let entry = padded["verificationMaterial"]["tlogEntries"][0].clone();
    padded["verificationMaterial"]["tlogEntries"] = serde_json::Value::Array(vec![entry; 17]);
    let r = verify(&roots, padded.to_string().as_bytes(), None, &Expect::default()).unwrap_err();
    assert_eq!(r.code, RefusalCode::TooLarge, "{r}");
    assert!(r.reason.contains("17 transparency-log entries"), "{r}");
    for (text, says) in [
        (&b"{}"[..], "mediaType"),
        (
            br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[],"certificateAuthorities":[],"ctlogs":[],"timestampAuthorities":[]}"#,
            "no certificateAuthorities",
        ),
        (b"[1]", "not a Sigstore trusted root"),
        (b"\xff", "UTF-8"),
    ] {
        let e = TrustedRoot::parse("x", text).unwrap_err();
        assert!(e.contains(says), "{e}");
    }
}
