//! Trusted Release records: an in-toto Statement about the version's
//! artifacts, whose predicate names everything the release relied on, signed
//! as a DSSE envelope with the host's release key; plus a SLSA Verification
//! Summary Attestation for the same subjects. Pure functions: build, verify.

use std::collections::BTreeSet;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::Application;
use crate::evidence::{self, EvidenceEntry, Refusal, RefusalCode, Subject};
use crate::gate::GateVerdict;
use crate::keys::KeyRing;
use crate::version::Version;
use crate::waiver::Waiver;

pub const PREDICATE_TYPE: &str = "https://gatehouse.dev/trusted-release/v1";
pub const VSA_TYPE: &str = "https://slsa.dev/verification_summary/v1";
/// A signed statement that a Trusted Release no longer stands (it was rolled back).
pub const WITHDRAWAL_TYPE: &str = "https://gatehouse.dev/withdrawal/v1";
pub const VERIFIER_ID: &str = "https://gatehouse.dev/verifier/v1";

pub const CHECKPOINT_PAYLOAD_TYPE: &str = "application/vnd.gatehouse.checkpoint+json";

/// What one release writes besides the version: the signed record, the VSA,
/// the key that signed them, and a signed checkpoint of the log.
#[derive(Debug, Clone)]
pub struct ReleaseWrite {
    pub digest: String,
    pub record: Value,
    pub vsa: Value,
    pub keyid: String,
    pub public_pem: String,
    pub checkpoint: Checkpoint,
}

/// A withdrawal about to be written with a rollback, in its transaction.
#[derive(Debug, Clone)]
pub struct WithdrawalWrite {
    pub envelope: Value,
    pub keyid: String,
    pub public_pem: String,
    pub time: String,
}

/// Sign a withdrawal of `v`'s Trusted Release (whose record has digest
/// `record_digest`): a statement about the same subjects.
pub fn sign_withdrawal(
    key: &SigningKey,
    v: &Version,
    record_digest: &str,
    by: &str,
    at: &str,
    reason: Option<&str>,
) -> Value {
    evidence::sign(
        key,
        subjects(v),
        WITHDRAWAL_TYPE,
        serde_json::json!({
            "application": v.application,
            "version": v.version,
            "record": { "digest": { "sha256": record_digest } },
            "withdrawn_at": at,
            "withdrawn_by": by,
            "reason": reason,
        }),
    )
}

/// Refuse a verified record that one of `withdrawals` (verified with `keys`)
/// withdraws: same application and version.
pub fn check_withdrawals(s: &Summary, withdrawals: &[Value], keys: &KeyRing) -> Result<(), Refusal> {
    for w in withdrawals {
        let Ok(env) = evidence::parse_envelope_value(w) else {
            continue;
        };
        let Ok(ok) = evidence::verify(&env, keys, &crate::time::now(), 1) else {
            continue;
        };
        let p = &ok.statement.predicate;
        if ok.statement.predicate_type == WITHDRAWAL_TYPE
            && p.get("application").and_then(Value::as_str) == Some(s.application.as_str())
            && p.get("version").and_then(Value::as_str) == Some(s.version.as_str())
        {
            return Err(Refusal {
                code: RefusalCode::Withdrawn,
                reason: format!(
                    "the Trusted Release of {}@{} was withdrawn at {} by {}{}",
                    s.application,
                    s.version,
                    p.get("withdrawn_at").and_then(Value::as_str).unwrap_or("?"),
                    p.get("withdrawn_by").and_then(Value::as_str).unwrap_or("?"),
                    p.get("reason")
                        .and_then(Value::as_str)
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            });
        }
    }
    Ok(())
}

/// A signed statement of the activity-log head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Checkpoint {
    pub head: LogHead,
    #[schemars(with = "crate::schema::Timestamp")]
    pub time: String,
    pub keyid: String,
    /// DSSE envelope over `{"log": "gatehouse", "head_seq", "head_hash", "time"}`.
    #[schemars(with = "crate::schema::Envelope")]
    pub envelope: Value,
}

/// Sign a checkpoint of the log head.
pub fn checkpoint(key: &SigningKey, head: &LogHead, time: &str) -> Checkpoint {
    use base64::Engine;
    use ed25519_dalek::Signer;
    let payload = json!({ "log": "gatehouse", "head_seq": head.seq, "head_hash": head.hash, "time": time }).to_string();
    let sig = key.sign(&evidence::pae(CHECKPOINT_PAYLOAD_TYPE, payload.as_bytes()));
    let keyid = crate::keys::keyid(&key.verifying_key());
    let b64 = base64::engine::general_purpose::STANDARD;
    Checkpoint {
        head: head.clone(),
        time: time.to_string(),
        keyid: keyid.clone(),
        envelope: json!({
            "payload": b64.encode(payload.as_bytes()),
            "payloadType": CHECKPOINT_PAYLOAD_TYPE,
            "signatures": [{ "keyid": keyid, "sig": b64.encode(sig.to_bytes()) }],
        }),
    }
}

/// Check a checkpoint's signature with the release keys and that its payload
/// says what its fields say.
pub fn verify_checkpoint(
    cp: &Checkpoint,
    keys: &std::collections::BTreeMap<String, ed25519_dalek::VerifyingKey>,
) -> Result<(), String> {
    let env = evidence::parse_envelope_value(&cp.envelope).map_err(|r| r.to_string())?;
    if env.payload_type != CHECKPOINT_PAYLOAD_TYPE {
        return Err(format!("payloadType is {}, not a checkpoint", env.payload_type));
    }
    let message = evidence::pae(&env.payload_type, &env.payload);
    let signed = env.signatures.iter().any(|s| {
        let sig = evidence::decode_b64(&s.sig).and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok());
        matches!((keys.get(&s.keyid), sig), (Some(vk), Some(sig)) if vk.verify_strict(&message, &sig).is_ok())
    });
    if !signed {
        return Err("its signature does not verify with any release key".into());
    }
    let payload: Value = serde_json::from_slice(&env.payload).map_err(|e| format!("payload is not JSON: {e}"))?;
    let said = (
        payload.get("head_seq").and_then(Value::as_i64),
        payload.get("head_hash").and_then(Value::as_str),
    );
    if said != (Some(cp.head.seq), Some(cp.head.hash.as_str())) {
        return Err("its signed payload differs from its recorded head".into());
    }
    Ok(())
}

/// The activity-log head a record or checkpoint vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LogHead {
    pub seq: i64,
    pub hash: String,
}

/// Everything a record is made from.
pub struct Inputs<'a> {
    pub application: &'a Application,
    pub version: &'a Version,
    pub released_at: &'a str,
    pub released_by: &'a str,
    /// Every stored gate evaluation of the version, oldest first, with this release's.
    pub evaluations: &'a [GateVerdict],
    pub evidence: &'a [EvidenceEntry],
    /// Every waiver of the version; only those named by an evaluation are recorded.
    pub waivers: &'a [Waiver],
    pub log_head: &'a LogHead,
    /// The SLSA levels a passing bound check verified (`SLSA_BUILD_LEVEL_n`).
    pub verified_levels: &'a [String],
}

/// The SLSA build level a passing `policy:slsa.build_level` check verified:
/// its binding's `min_level` (default 2, as the policy says). `min_level` is
/// looked up by binding id.
pub fn verified_levels(gates: &[GateVerdict], min_level_of: impl Fn(&str) -> Option<u64>) -> Vec<String> {
    let level = gates
        .iter()
        .flat_map(|g| &g.checks)
        .filter(|c| {
            c.check == "policy:slsa.build_level"
                && c.outcome == crate::gate::Outcome::Pass
                && c.mode == crate::gate::Mode::Block
        })
        .filter_map(|c| c.binding.as_deref().map(|b| min_level_of(b).unwrap_or(2)))
        .filter(|n| (1..=4).contains(n))
        .max();
    level.map(|n| vec![format!("SLSA_BUILD_LEVEL_{n}")]).unwrap_or_default()
}

/// The record's subjects: the artifacts, or the version's own digest when it has none.
pub fn subjects(v: &Version) -> Vec<Subject> {
    if v.artifacts.is_empty() {
        return vec![Subject {
            name: format!("{}@{}", v.application, v.version),
            digest: [("sha256".to_string(), v.digest())].into(),
        }];
    }
    v.artifacts
        .iter()
        .map(|a| Subject {
            name: a.name.clone(),
            digest: [("sha256".to_string(), a.sha256.clone())].into(),
        })
        .collect()
}

pub fn predicate(i: &Inputs<'_>) -> Value {
    let mut stages: Vec<String> = Vec::new();
    for e in i.evaluations {
        if !stages.contains(&e.gate.stage) {
            stages.push(e.gate.stage.clone());
        }
    }
    let stages: Vec<Value> = stages
        .iter()
        .map(|stage| {
            let evals: Vec<Value> = i
                .evaluations
                .iter()
                .filter(|e| &e.gate.stage == stage)
                .map(evaluation)
                .collect();
            json!({ "stage": stage, "evaluations": evals })
        })
        .collect();
    let applied: BTreeSet<&str> = i
        .evaluations
        .iter()
        .flat_map(|e| e.checks.iter().filter_map(|c| c.waiver.as_deref()))
        .collect();
    let waivers: Vec<Value> = i
        .waivers
        .iter()
        .filter(|w| applied.contains(w.id.as_str()))
        .map(|w| {
            json!({
                "id": w.id, "gate": w.gate, "check": w.check, "justification": w.justification,
                "requested_by": w.requested_by, "approved_by": w.decided_by, "approved_at": w.decided_at,
                "expires_at": w.expires_at,
            })
        })
        .collect();
    let a = i.application;
    let v = i.version;
    json!({
        "application": { "key": a.key, "name": a.name, "project": a.project, "owners": a.owners, "criticality": a.criticality },
        "version": { "version": v.version, "digest": v.digest(), "vcs": v.vcs, "tag": v.tag, "lifecycle": v.lifecycle },
        "released_at": i.released_at,
        "released_by": i.released_by,
        "stages": stages,
        "evidence": i.evidence.iter().map(|e| json!({
            "digest": e.binding.digest, "predicate_type": e.predicate_type, "signers": e.binding.signers,
            "subject": e.matched_subject, "origin": e.origin,
        })).collect::<Vec<_>>(),
        "waivers": waivers,
        "activity_log": i.log_head,
    })
}

fn evaluation(e: &GateVerdict) -> Value {
    json!({
        "evaluation_id": e.evaluation_id,
        "gate": e.gate,
        "decision": e.decision,
        "input_digest": e.input_digest,
        "checks": e.checks.iter().map(|c| json!({
            "id": c.check,
            "kind": c.check.split_once(':').map_or("check", |(k, _)| k),
            "binding": c.binding,
            "digest": c.digest,
            "mode": c.mode,
            "outcome": c.outcome,
            "messages": c.messages,
            "waiver": c.waiver,
        })).collect::<Vec<_>>(),
    })
}

/// The SLSA VSA for the same subjects.
pub fn vsa(i: &Inputs<'_>, policy_digest: &str) -> Value {
    json!({
        "verifier": { "id": VERIFIER_ID },
        "timeVerified": i.released_at,
        "resourceUri": format!("gatehouse:{}@{}", i.version.application, i.version.version),
        "policy": { "uri": format!("gatehouse:lifecycle/{}", i.version.lifecycle), "digest": { "sha256": policy_digest } },
        "inputAttestations": i.evidence.iter().map(|e| json!({
            "uri": format!("gatehouse:evidence/{}", e.binding.digest),
            "digest": { "sha256": e.binding.digest },
        })).collect::<Vec<_>>(),
        "verificationResult": "PASSED",
        "verifiedLevels": i.verified_levels,
    })
}

/// Sign the record and the VSA with the release key.
pub fn sign(key: &SigningKey, i: &Inputs<'_>, policy_digest: &str) -> (Value, Value) {
    let subjects = subjects(i.version);
    let record = evidence::sign(key, subjects.clone(), PREDICATE_TYPE, predicate(i));
    let vsa = evidence::sign(key, subjects, VSA_TYPE, vsa(i, policy_digest));
    (record, vsa)
}

/// What an offline check of a record found.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub application: String,
    pub version: String,
    pub released_at: String,
    pub released_by: String,
    pub stages: Vec<String>,
    pub checks: usize,
    pub waivers: Vec<String>,
    pub signers: Vec<String>,
    pub subjects: Vec<Subject>,
}

/// A verified record must be about the application and version the
/// verifier expects (when given): matching artifact bytes alone do not say
/// which version was released.
pub fn expect_about(s: &Summary, app: Option<&str>, version: Option<&str>) -> Result<(), Refusal> {
    let wrong_app = app.is_some_and(|a| a != s.application);
    let wrong_version = version.is_some_and(|v| v != s.version);
    if wrong_app || wrong_version {
        return Err(Refusal {
            code: RefusalCode::SubjectMismatch,
            reason: format!(
                "the record is about {}@{}, not {}@{}",
                s.application,
                s.version,
                app.unwrap_or(&s.application),
                version.unwrap_or(&s.version)
            ),
        });
    }
    Ok(())
}

/// Verify a record against the given keys; each artifact digest must be a subject.
#[allow(clippy::indexing_slicing)] // serde_json::Value indexing yields Null, it never panics
pub fn verify(bytes: &[u8], keys: &KeyRing, artifacts: &[(String, String)]) -> Result<Summary, Refusal> {
    let env = evidence::parse_envelope(bytes)?;
    let ok = evidence::verify(&env, keys, &crate::time::now(), 1)?;
    if ok.statement.predicate_type != PREDICATE_TYPE {
        return Err(Refusal {
            code: RefusalCode::MalformedStatement,
            reason: format!(
                "predicateType is {}; a Trusted Release record has {PREDICATE_TYPE}",
                ok.statement.predicate_type
            ),
        });
    }
    for (name, digest) in artifacts {
        evidence::check_binding(&ok.statement, [digest.as_str()], &format!("artifact {name}"))?;
    }
    let p = &ok.statement.predicate;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let stages: Vec<String> = p["stages"]
        .as_array()
        .map(|s| s.iter().map(|s| text(&s["stage"])).collect())
        .unwrap_or_default();
    let checks = p["stages"]
        .as_array()
        .map(|s| {
            s.iter()
                .flat_map(|s| s["evaluations"].as_array().cloned().unwrap_or_default())
                .map(|e| e["checks"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0);
    Ok(Summary {
        application: text(&p["application"]["key"]),
        version: text(&p["version"]["version"]),
        released_at: text(&p["released_at"]),
        released_by: text(&p["released_by"]),
        stages,
        checks,
        waivers: p["waivers"]
            .as_array()
            .map(|w| w.iter().map(|w| text(&w["id"])).collect())
            .unwrap_or_default(),
        signers: ok.signers,
        subjects: ok.statement.subject,
    })
}
