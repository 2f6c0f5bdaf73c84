//! Every envelope in tests/data/shared/dsse, made by the in-toto reference
//! libraries, judged as expected.json says — each refusal with its own reason.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use gatehouse::evidence::{self, RefusalCode};
use gatehouse::keys::{KeyRing, NewTrustedKey, TrustedKey};
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/shared");
const NOW: &str = "2026-11-26T00:00:00.000000Z";

fn key(who: &str) -> TrustedKey {
    let pem = std::fs::read_to_string(format!("{DATA}/dsse/keys/{who}.ed25519.pub.pem")).unwrap();
    NewTrustedKey {
        name: who.into(),
        owner: "tests".into(),
        public_key: Some(pem),
        identity: None,
        allowed_predicate_types: vec![],
        not_before: None,
        not_after: None,
    }
    .into_key("tests", NOW)
    .unwrap()
}

fn ring(keys: Vec<TrustedKey>) -> KeyRing {
    KeyRing::new(keys)
}

/// Why each invalid envelope must be refused, from its description in expected.json.
fn expected_reason(file: &str) -> RefusalCode {
    match file.rsplit('/').next().unwrap() {
        "payload-one-byte-changed.dsse.json" => RefusalCode::BadSignature,
        "signed-by-other-key.dsse.json" => RefusalCode::UnknownKey,
        "other-key-sig-with-primary-keyid.dsse.json" => RefusalCode::BadSignature,
        "payloadtype-changed.dsse.json" => RefusalCode::BadSignature,
        "payloadtype-wrong-but-signed.dsse.json" => RefusalCode::WrongPayloadType,
        "keyid-mismatch.dsse.json" => RefusalCode::UnknownKey,
        "signature-b64-truncated.dsse.json" => RefusalCode::BadSignature,
        "payload-b64-truncated.dsse.json" => RefusalCode::MalformedEnvelope,
        "no-signatures.dsse.json" => RefusalCode::NoSignatures,
        "statement-v0.1-type-signed.dsse.json" => RefusalCode::WrongStatementType,
        "subject-digest-mismatch-signed.dsse.json" => RefusalCode::SubjectMismatch,
        other => panic!("no expected reason for {other}: add it from expected.json"),
    }
}

/// The full policy decision: parse, verify with `keys` at `threshold`, bind to the fixture crate.
fn judge(file: &str, keys: &KeyRing, threshold: usize) -> Result<(), RefusalCode> {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DATA}/dsse/expected.json")).unwrap()).unwrap();
    let artifact = expected["subject_artifact"]["sha256"].as_str().unwrap().to_string();
    let env = evidence::parse_envelope(&std::fs::read(format!("{DATA}/{file}")).unwrap()).map_err(|r| r.code)?;
    let ok = evidence::verify(&env, keys, NOW, threshold).map_err(|r| r.code)?;
    evidence::check_binding(&ok.statement, [artifact.as_str()], "the fixture crate").map_err(|r| r.code)
}

#[test]
fn every_reference_envelope_is_judged_as_expected() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DATA}/dsse/expected.json")).unwrap()).unwrap();
    let primary = key("primary");
    assert_eq!(primary.keyid, expected["primary_key"]["keyid"].as_str().unwrap());
    let keys = ring(vec![primary]);
    let cases = expected["cases"].as_array().unwrap();
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let verdict = judge(file, &keys, 1);
        if case["expected_policy_accept"].as_bool().unwrap() {
            assert_eq!(verdict, Ok(()), "{file} must be accepted");
        } else {
            assert_eq!(verdict, Err(expected_reason(file)), "{file}: {}", case["description"]);
        }
    }
    // Every file on disk is covered by a case.
    for dir in ["valid", "invalid"] {
        for entry in std::fs::read_dir(format!("{DATA}/dsse/{dir}")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".dsse.json") {
                let file = format!("dsse/{dir}/{name}");
                assert!(
                    cases.iter().any(|c| c["file"] == file.as_str()),
                    "{file} has no case in expected.json"
                );
            }
        }
    }
}

#[test]
fn a_threshold_of_two_keys_matches_the_reference_results() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DATA}/dsse/expected.json")).unwrap()).unwrap();
    let keys = ring(vec![key("primary"), key("other")]);
    for case in expected["cases"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let reference = case["reference_securesystemslib_verify"]["primary+other_t2"]
            .as_str()
            .unwrap();
        let env = match evidence::parse_envelope(&std::fs::read(format!("{DATA}/{file}")).unwrap()) {
            Ok(env) => env,
            Err(_) => {
                assert!(reference.starts_with("REJECTED"), "{file}");
                continue;
            }
        };
        // The reference checks signatures only; compare on that layer.
        let signatures_ok = match evidence::verify(&env, &keys, NOW, 2) {
            Ok(_) => true,
            Err(r) => !matches!(
                r.code,
                RefusalCode::BadSignature
                    | RefusalCode::UnknownKey
                    | RefusalCode::NoSignatures
                    | RefusalCode::ThresholdNotMet
            ),
        };
        assert_eq!(
            signatures_ok,
            reference.starts_with("VERIFIED"),
            "{file}: reference says {reference}"
        );
    }
}

#[test]
fn key_policy_refusals_are_specific() {
    let file = "dsse/valid/test-result-v0.1.dsse.json";
    let mut revoked = key("primary");
    revoked.revoked_at = Some("2026-01-01T00:00:00.000000Z".into());
    assert_eq!(judge(file, &ring(vec![revoked]), 1), Err(RefusalCode::KeyRevoked));

    let mut expired = key("primary");
    expired.not_after = Some("2026-01-01T00:00:00.000000Z".into());
    assert_eq!(judge(file, &ring(vec![expired]), 1), Err(RefusalCode::KeyExpired));

    let mut early = key("primary");
    early.not_before = Some("2027-01-01T00:00:00.000000Z".into());
    assert_eq!(judge(file, &ring(vec![early]), 1), Err(RefusalCode::KeyNotYetValid));

    let mut narrow = key("primary");
    narrow.allowed_predicate_types = vec!["https://slsa.dev/provenance/v1".into()];
    assert_eq!(
        judge(file, &ring(vec![narrow.clone()]), 1),
        Err(RefusalCode::PredicateNotAllowed)
    );
    assert_eq!(
        judge("dsse/valid/slsa-provenance-v1.dsse.json", &ring(vec![narrow]), 1),
        Ok(())
    );

    assert_eq!(
        judge(file, &ring(vec![key("primary")]), 2),
        Err(RefusalCode::ThresholdNotMet)
    );
}

#[test]
fn hostile_envelopes_are_refused_without_panicking() {
    let keys = ring(vec![key("primary")]);
    let huge = format!(
        r#"{{"payload":"{}","payloadType":"x","signatures":[]}}"#,
        "A".repeat(12 * 1024 * 1024)
    );
    let cases: Vec<(&[u8], RefusalCode)> = vec![
        (b"not json", RefusalCode::MalformedEnvelope),
        (b"[]", RefusalCode::MalformedEnvelope),
        (
            br#"{"payloadType":"x","signatures":[]}"#,
            RefusalCode::MalformedEnvelope,
        ),
        (
            br#"{"payload":5,"payloadType":"x","signatures":[]}"#,
            RefusalCode::MalformedEnvelope,
        ),
        (
            br#"{"payload":"e30=","payloadType":"x","signatures":{}}"#,
            RefusalCode::MalformedEnvelope,
        ),
        (
            br#"{"payload":"e30=","payloadType":"x","signatures":[{"keyid":"k"}]}"#,
            RefusalCode::MalformedEnvelope,
        ),
        (huge.as_bytes(), RefusalCode::TooLarge),
        (
            br#"{"payload":"e30=","payloadType":"x","signatures":[{"keyid":"k","sig":"AAAA"}]}"#,
            RefusalCode::UnknownKey,
        ),
    ];
    for (bytes, code) in cases {
        let got = evidence::parse_envelope(bytes).and_then(|env| evidence::verify(&env, &keys, NOW, 1).map(drop));
        assert_eq!(
            got.map_err(|r| r.code),
            Err(code),
            "{}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
        );
    }
}

#[test]
fn statements_missing_fields_are_refused_by_name() {
    let sk = gatehouse::keys::parse_private_key(
        "k",
        &std::fs::read_to_string(format!("{DATA}/dsse/keys/primary.ed25519.priv.pem")).unwrap(),
    )
    .unwrap();
    let keys = ring(vec![key("primary")]);
    let sign_raw = |statement: Value| {
        use base64::Engine;
        use ed25519_dalek::Signer;
        let payload = statement.to_string();
        let sig = sk.sign(&evidence::pae(evidence::PAYLOAD_TYPE, payload.as_bytes()));
        let env = serde_json::json!({
            "payload": base64::engine::general_purpose::STANDARD.encode(payload),
            "payloadType": evidence::PAYLOAD_TYPE,
            "signatures": [{"keyid": gatehouse::keys::keyid(&sk.verifying_key()), "sig": base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())}],
        });
        evidence::verify(&evidence::parse_envelope_value(&env).unwrap(), &keys, NOW, 1)
    };
    let v1 = evidence::STATEMENT_V1;
    let r = sign_raw(serde_json::json!({"_type": v1, "predicateType": "p"})).unwrap_err();
    assert_eq!(r.code, RefusalCode::MalformedStatement);
    assert!(r.reason.contains("subject"), "{}", r.reason);
    let r = sign_raw(serde_json::json!({"_type": v1, "subject": [], "predicateType": "p"})).unwrap_err();
    assert!(r.reason.contains("`subject` is empty"), "{}", r.reason);
    let r = sign_raw(serde_json::json!({"_type": v1, "subject": [{"name": "a", "digest": {}}], "predicateType": "p"}))
        .unwrap_err();
    assert!(r.reason.contains("subject[0].digest"), "{}", r.reason);
    let ok = sign_raw(
        serde_json::json!({"_type": v1, "subject": [{"name": "a", "digest": {"sha256": "AB"}}], "predicateType": "p"}),
    );
    assert!(ok.is_ok());
}

#[test]
fn a_batch_with_one_bad_signature_falls_back_to_one_by_one() {
    let keys = ring(vec![key("primary")]);
    let load = |f: &str| evidence::parse_envelope(&std::fs::read(format!("{DATA}/dsse/{f}")).unwrap()).unwrap();
    let good = [
        load("valid/slsa-provenance-v1.dsse.json"),
        load("valid/cyclonedx-sbom.dsse.json"),
        load("valid/test-result-v0.1.dsse.json"),
    ];
    let all: Vec<&evidence::Envelope> = good.iter().collect();
    let proven = evidence::verify_signatures_batch(&all, &keys);
    assert_eq!(proven, vec![vec![true]; 3]);

    let bad = load("invalid/payload-one-byte-changed.dsse.json");
    let mixed: Vec<&evidence::Envelope> = vec![&good[0], &bad, &good[1]];
    let proven = evidence::verify_signatures_batch(&mixed, &keys);
    assert_eq!(proven, vec![vec![false]; 3], "a failed batch proves nothing");
    let verdicts: Vec<_> = mixed
        .iter()
        .zip(&proven)
        .map(|(env, p)| {
            evidence::verify_with(env, &keys, NOW, 1, p)
                .map(drop)
                .map_err(|r| r.code)
        })
        .collect();
    assert_eq!(verdicts, [Ok(()), Err(RefusalCode::BadSignature), Ok(())]);
}
