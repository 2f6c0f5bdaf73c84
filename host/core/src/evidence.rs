//! Evidence: in-toto Statement v1 in a DSSE v1 envelope. Pure functions:
//! parse, verify against trusted keys, bind to artifact digests, sign.
//!
//! Order of checks: envelope shape → signatures (over PAE) → payloadType →
//! statement → key policy (revocation, validity window, allowed predicate
//! types) → threshold. The first failing step is the reason given, with every
//! signature's own problem spelled out.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::keys::{KeyRing, TrustedKey, Unusable};

pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The largest decoded payload accepted.
pub const MAX_PAYLOAD_BYTES: usize = 8 * 1024 * 1024;

/// Why evidence was refused: a stable code for machines, a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Refusal {
    pub code: RefusalCode,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    MalformedEnvelope,
    TooLarge,
    NoSignatures,
    UnknownKey,
    BadSignature,
    KeyRevoked,
    KeyNotYetValid,
    KeyExpired,
    ThresholdNotMet,
    WrongPayloadType,
    MalformedStatement,
    WrongStatementType,
    PredicateNotAllowed,
    SubjectMismatch,
    /// A Trusted Release record that a signed withdrawal withdraws.
    Withdrawn,
    // Sigstore bundles (host/sigstore): one code per refusal class.
    /// Not a Sigstore bundle of a known version, or its parts do not parse.
    MalformedBundle,
    /// A well-formed bundle with content, key types or log entry kinds not verified here.
    UnsupportedBundle,
    /// No trusted root is configured, so no bundle can verify.
    NoTrustedRoot,
    /// The signing certificate does not chain to a trusted Fulcio CA (or lacks code signing).
    CertificateUntrusted,
    /// No Fulcio CA of the trusted root was valid at the signing time.
    NoValidAuthority,
    /// The signing time is before the certificate's notBefore.
    CertificateNotYetValid,
    /// The signing time is after the certificate's notAfter.
    CertificateExpired,
    /// The certificate's signed certificate timestamp is missing or does not verify.
    SctInvalid,
    /// The log entry names a transparency log the trusted root does not hold.
    UnknownLog,
    /// The bundle's version requires an inclusion proof it does not carry.
    InclusionProofMissing,
    /// The bundle's version requires a signed entry timestamp it does not carry.
    InclusionPromiseMissing,
    /// The Merkle inclusion proof does not lead to the checkpoint's root.
    InclusionProofInvalid,
    /// The checkpoint is malformed or not signed by a trusted log key.
    CheckpointInvalid,
    /// The signed entry timestamp does not verify.
    InclusionPromiseInvalid,
    /// The log entry is not of this bundle's signature, key or artifact.
    TlogEntryMismatch,
    /// The log's integration time is in the future or outside the certificate's validity.
    IntegratedTimeInvalid,
    /// An RFC 3161 timestamp does not verify against a trusted timestamp authority.
    TimestampInvalid,
    /// The bundle is not of the artifact given (message digest or statement subject).
    ArtifactMismatch,
    /// The certificate's identity is not the one asked for.
    IdentityMismatch,
    /// The certificate's OIDC issuer is not the one asked for.
    IssuerMismatch,
    /// The bundle verified, but no trusted identity names its signer.
    UnknownIdentity,
}

impl RefusalCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::MalformedEnvelope => "malformed_envelope",
            RefusalCode::TooLarge => "too_large",
            RefusalCode::NoSignatures => "no_signatures",
            RefusalCode::UnknownKey => "unknown_key",
            RefusalCode::BadSignature => "bad_signature",
            RefusalCode::KeyRevoked => "key_revoked",
            RefusalCode::KeyNotYetValid => "key_not_yet_valid",
            RefusalCode::KeyExpired => "key_expired",
            RefusalCode::ThresholdNotMet => "threshold_not_met",
            RefusalCode::WrongPayloadType => "wrong_payload_type",
            RefusalCode::MalformedStatement => "malformed_statement",
            RefusalCode::WrongStatementType => "wrong_statement_type",
            RefusalCode::PredicateNotAllowed => "predicate_not_allowed",
            RefusalCode::SubjectMismatch => "subject_mismatch",
            RefusalCode::Withdrawn => "withdrawn",
            RefusalCode::MalformedBundle => "malformed_bundle",
            RefusalCode::UnsupportedBundle => "unsupported_bundle",
            RefusalCode::NoTrustedRoot => "no_trusted_root",
            RefusalCode::CertificateUntrusted => "certificate_untrusted",
            RefusalCode::NoValidAuthority => "no_valid_authority",
            RefusalCode::CertificateNotYetValid => "certificate_not_yet_valid",
            RefusalCode::CertificateExpired => "certificate_expired",
            RefusalCode::SctInvalid => "sct_invalid",
            RefusalCode::UnknownLog => "unknown_log",
            RefusalCode::InclusionProofMissing => "inclusion_proof_missing",
            RefusalCode::InclusionPromiseMissing => "inclusion_promise_missing",
            RefusalCode::InclusionProofInvalid => "inclusion_proof_invalid",
            RefusalCode::CheckpointInvalid => "checkpoint_invalid",
            RefusalCode::InclusionPromiseInvalid => "inclusion_promise_invalid",
            RefusalCode::TlogEntryMismatch => "tlog_entry_mismatch",
            RefusalCode::IntegratedTimeInvalid => "integrated_time_invalid",
            RefusalCode::TimestampInvalid => "timestamp_invalid",
            RefusalCode::ArtifactMismatch => "artifact_mismatch",
            RefusalCode::IdentityMismatch => "identity_mismatch",
            RefusalCode::IssuerMismatch => "issuer_mismatch",
            RefusalCode::UnknownIdentity => "unknown_identity",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.reason)
    }
}

fn refuse<T>(code: RefusalCode, reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        code,
        reason: reason.into(),
    })
}

/// A DSSE envelope as sent, with the payload decoded.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvelopeSignature>,
    /// SHA-256 of the canonical JSON of the envelope as received: the content address.
    pub digest: String,
    /// SHA-256 of what the signatures sign (DSSE PAE of payloadType and
    /// payload): the same for every envelope carrying this statement, however
    /// many signatures ride along. Evidence is stored once per statement.
    pub statement_digest: String,
}

#[derive(Debug, Clone)]
pub struct EnvelopeSignature {
    pub keyid: String,
    /// The `sig` field as sent (base64).
    pub sig: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Subject {
    #[serde(default)]
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: Value,
}

impl Statement {
    /// Lowercase SHA-256 digests of the subjects.
    pub fn sha256_subjects(&self) -> BTreeSet<String> {
        self.subject
            .iter()
            .filter_map(|s| s.digest.get("sha256"))
            .map(|d| d.to_ascii_lowercase())
            .collect()
    }
}

/// Evidence that passed every check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verified {
    pub digest: String,
    pub statement: Statement,
    /// Key ids whose signatures counted.
    pub signers: Vec<String>,
}

/// What can be read from an envelope whether or not it verifies (for the record).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metadata {
    pub payload_type: Option<String>,
    pub predicate_type: Option<String>,
    pub subjects: Vec<Subject>,
    pub keyids: Vec<String>,
}

/// A stored envelope, content-addressed, with what could be read from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceRecord {
    /// The id: the digest of the first envelope received with this statement.
    pub digest: String,
    /// What its signatures sign (see [`Envelope::statement_digest`]); absent
    /// in records of builds before it (the store fills it on open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_digest: Option<String>,
    /// The envelope, with every valid signature received for the statement.
    #[schemars(with = "crate::schema::Envelope")]
    pub envelope: Value,
    pub payload_type: Option<String>,
    pub predicate_type: Option<String>,
    pub subjects: Vec<Subject>,
    /// Key ids the envelope's signatures claim (verified or not).
    pub keyids: Vec<String>,
    #[schemars(with = "crate::schema::Timestamp")]
    pub first_added_at: String,
}

impl EvidenceRecord {
    /// The statement carried by the envelope, when its payload is JSON.
    pub fn statement(&self) -> Option<Value> {
        // A Sigstore bundle keeps its envelope under `dsseEnvelope`.
        let envelope = self.envelope.get("dsseEnvelope").unwrap_or(&self.envelope);
        let payload = envelope.get("payload")?.as_str()?;
        serde_json::from_slice(&decode_b64(payload)?).ok()
    }
}

/// The link between an envelope and one version, with the verdict reached for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceBinding {
    pub digest: String,
    pub application: String,
    pub version: String,
    pub verified: bool,
    pub refusal: Option<Refusal>,
    /// Key ids whose signatures counted (empty when refused).
    pub signers: Vec<String>,
    pub added_by: String,
    #[schemars(with = "crate::schema::Timestamp")]
    pub added_at: String,
    /// Set when a collector plugin produced the statement (the host signed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected: Option<Collection>,
    /// Set when the evidence came as a Sigstore bundle: who signed it, as the
    /// verified certificate and transparency log say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyless: Option<KeylessSigner>,
}

/// The keyless signer of a Sigstore bundle, as its verified certificate and
/// transparency log say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeylessSigner {
    /// The certificate's subject (SAN): a workflow URI, an email address.
    pub identity: String,
    /// The OIDC issuer Fulcio recorded.
    pub issuer: String,
    /// Fulcio's claims about the CI workload that are present: `repository`,
    /// `repository_id`, `owner`, `ref`, `commit`, `workflow`, `workflow_commit`,
    /// `signer_workflow`, `trigger`, `runner`, `run`, `visibility`, `environment`.
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    /// The transparency-log index of the bundle's (first) entry.
    pub log_index: Option<u64>,
    /// The log's integration time, when the log vouched for one.
    pub integrated_time: Option<String>,
    /// Every verified signing time (log and RFC 3161).
    #[serde(default)]
    pub signed_times: Vec<String>,
    /// The name of the trusted root that verified it.
    pub trusted_root: String,
}

/// How a collector came to produce a statement: which code ran, who asked, with what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Collection {
    pub plugin: String,
    /// SHA-256 of the component that ran.
    pub plugin_digest: String,
    /// Who vouches for that component (`bundled`, `vendor NAME (KEYID)`, `unsigned`).
    pub plugin_signer: String,
    /// The actor whose request ran the collector (a promotion or an on-demand collect).
    pub triggered_by: String,
    /// The binding that ran it at a gate; None for an on-demand collect.
    pub binding: Option<String>,
    /// The parameters it ran with (from the binding; on demand, none).
    pub params: Value,
}

/// Where a piece of evidence comes from, as the input document, the record
/// and the API show it: signed by trusted keys, or produced by a collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[schemars(rename = "EvidenceOrigin")]
pub enum Origin {
    Signed { signers: Vec<SignerInfo> },
    Collected(Collection),
}

/// A trusted key that signed a piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SignerInfo {
    pub keyid: String,
    pub name: String,
    pub owner: String,
    /// For a trusted identity: the keyless signer of this evidence (who, log index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyless: Option<KeylessSigner>,
}

/// One piece of a version's evidence, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceEntry {
    #[serde(flatten)]
    pub binding: EvidenceBinding,
    pub predicate_type: Option<String>,
    pub subjects: Vec<Subject>,
    pub statement: Option<Value>,
    /// The subject that names a current artifact of the version (set when
    /// the gate input is built: evidence counts only while one does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_subject: Option<Subject>,
    /// Where it comes from (filled when listed or judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// The origin of a binding: its collection, or the trusted keys that signed
/// it (`keys` maps key id → (name, owner)). Evidence stored by an older build
/// for a collector (added by `plugin:…`) counts as collected.
pub fn origin_of(binding: &EvidenceBinding, keys: &BTreeMap<String, (String, String)>) -> Origin {
    if let Some(c) = &binding.collected {
        return Origin::Collected(c.clone());
    }
    if let Some(rest) = binding.added_by.strip_prefix("plugin:") {
        let (plugin, digest) = rest.split_once("@sha256:").unwrap_or((rest, ""));
        return Origin::Collected(Collection {
            plugin: plugin.to_string(),
            plugin_digest: digest.to_string(),
            plugin_signer: "unknown (collected by an earlier build)".into(),
            triggered_by: "unknown (collected by an earlier build)".into(),
            binding: None,
            params: Value::Null,
        });
    }
    Origin::Signed {
        signers: binding
            .signers
            .iter()
            .map(|id| {
                let (name, owner) = keys.get(id).cloned().unwrap_or_default();
                SignerInfo {
                    keyless: binding.keyless.clone().filter(|_| id.starts_with("identity:")),
                    keyid: id.clone(),
                    name,
                    owner,
                }
            })
            .collect(),
    }
}

#[derive(Debug, Clone, Default)]
pub struct EvidenceFilter {
    pub predicate_type: Option<String>,
    pub signer: Option<String>,
    pub verified: Option<bool>,
    pub since: Option<String>,
    pub until: Option<String>,
}

/// DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out
}

/// Standard or URL-safe base64, padded (as the reference libraries require).
pub fn decode_b64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).or_else(|_| URL_SAFE.decode(text)).ok()
}

/// Parse the envelope's JSON shape and decode its payload.
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, Refusal> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return refuse(RefusalCode::MalformedEnvelope, format!("not valid JSON: {e}")),
    };
    parse_envelope_value(&value)
}

pub fn parse_envelope_value(value: &Value) -> Result<Envelope, Refusal> {
    let Some(obj) = value.as_object() else {
        return refuse(
            RefusalCode::MalformedEnvelope,
            "expected a JSON object with payload, payloadType and signatures",
        );
    };
    let field = |name: &str| -> Result<&str, Refusal> {
        match obj.get(name) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => refuse(
                RefusalCode::MalformedEnvelope,
                format!("field `{name}` must be a string"),
            ),
            None => refuse(RefusalCode::MalformedEnvelope, format!("field `{name}` is missing")),
        }
    };
    let payload_b64 = field("payload")?;
    let payload_type = field("payloadType")?.to_string();
    if payload_b64.len() > MAX_PAYLOAD_BYTES / 3 * 4 + 4 {
        return refuse(
            RefusalCode::TooLarge,
            format!(
                "payload is {} base64 characters; the limit is {MAX_PAYLOAD_BYTES} decoded bytes",
                payload_b64.len()
            ),
        );
    }
    let Some(payload) = decode_b64(payload_b64) else {
        return refuse(
            RefusalCode::MalformedEnvelope,
            "field `payload` is not valid base64 (standard or URL-safe alphabet, with padding)",
        );
    };
    let sigs = match obj.get("signatures") {
        Some(Value::Array(a)) => a,
        Some(_) => return refuse(RefusalCode::MalformedEnvelope, "field `signatures` must be an array"),
        None => return refuse(RefusalCode::MalformedEnvelope, "field `signatures` is missing"),
    };
    if sigs.len() > MAX_SIGNATURES {
        return refuse(
            RefusalCode::TooLarge,
            format!(
                "{} signatures; at most {MAX_SIGNATURES} are accepted on one envelope",
                sigs.len()
            ),
        );
    }
    let mut signatures = Vec::with_capacity(sigs.len());
    for (i, s) in sigs.iter().enumerate() {
        let sig = match s.get("sig") {
            Some(Value::String(sig)) => sig.clone(),
            _ => {
                return refuse(
                    RefusalCode::MalformedEnvelope,
                    format!("`signatures[{i}].sig` must be a string"),
                );
            }
        };
        let keyid = match s.get("keyid") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(k)) => k.clone(),
            Some(_) => {
                return refuse(
                    RefusalCode::MalformedEnvelope,
                    format!("`signatures[{i}].keyid` must be a string"),
                );
            }
        };
        signatures.push(EnvelopeSignature { keyid, sig });
    }
    let canonical = crate::audit::canonical_json(value);
    let statement_digest = hex::encode(Sha256::digest(pae(&payload_type, &payload)));
    Ok(Envelope {
        payload_type,
        payload,
        signatures,
        digest: hex::encode(Sha256::digest(&canonical)),
        statement_digest,
    })
}

/// Parse and check an in-toto Statement v1.
pub fn parse_statement(payload: &[u8]) -> Result<Statement, Refusal> {
    let value: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => return refuse(RefusalCode::MalformedStatement, format!("payload is not JSON: {e}")),
    };
    match value.get("_type").and_then(Value::as_str) {
        Some(STATEMENT_V1) => {}
        Some(other) => {
            return refuse(
                RefusalCode::WrongStatementType,
                format!("statement `_type` is {other:?}; expected {STATEMENT_V1:?}"),
            );
        }
        None => return refuse(RefusalCode::MalformedStatement, "statement has no string `_type`"),
    }
    let statement: Statement = match serde_path_to_error::deserialize(value) {
        Ok(s) => s,
        Err(e) => {
            return refuse(
                RefusalCode::MalformedStatement,
                format!("statement field `{}`: {}", e.path(), e.inner()),
            );
        }
    };
    if statement.subject.is_empty() {
        return refuse(RefusalCode::MalformedStatement, "statement `subject` is empty");
    }
    if let Some(i) = statement.subject.iter().position(|s| s.digest.is_empty()) {
        return refuse(
            RefusalCode::MalformedStatement,
            format!("statement `subject[{i}].digest` is empty"),
        );
    }
    if statement.predicate_type.is_empty() {
        return refuse(RefusalCode::MalformedStatement, "statement `predicateType` is empty");
    }
    Ok(statement)
}

/// Best-effort facts about an envelope, for the record of a refusal.
pub fn metadata(env: &Envelope) -> Metadata {
    let statement: Option<Value> = serde_json::from_slice(&env.payload).ok();
    Metadata {
        payload_type: Some(env.payload_type.clone()),
        predicate_type: statement
            .as_ref()
            .and_then(|s| s.get("predicateType"))
            .and_then(Value::as_str)
            .map(str::to_string),
        subjects: statement
            .as_ref()
            .and_then(|s| s.get("subject"))
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .unwrap_or_default(),
        keyids: env.signatures.iter().map(|s| s.keyid.clone()).collect(),
    }
}

/// Verify an envelope against trusted keys at time `now` with a threshold of
/// distinct keys. Key ids must name the key (as securesystemslib requires).
pub fn verify(env: &Envelope, keys: &KeyRing, now: &str, threshold: usize) -> Result<Verified, Refusal> {
    verify_with(env, keys, now, threshold, &[])
}

/// Check the signatures by trusted keys across many envelopes in one ed25519
/// batch. Returns, per envelope, which signatures the batch proved valid: all
/// of them when the batch holds, none when it fails (the caller then checks
/// each signature on its own, so one bad signature costs only speed).
pub fn verify_signatures_batch(envs: &[&Envelope], keys: &KeyRing) -> Vec<Vec<bool>> {
    let mut proven: Vec<Vec<bool>> = envs.iter().map(|e| vec![false; e.signatures.len()]).collect();
    let messages: Vec<Vec<u8>> = envs.iter().map(|e| pae(&e.payload_type, &e.payload)).collect();
    let (mut msgs, mut sigs, mut vks, mut slots) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (ei, env) in envs.iter().enumerate() {
        for (si, s) in env.signatures.iter().enumerate() {
            let sig = decode_b64(&s.sig).and_then(|b| Signature::from_slice(&b).ok());
            if let (Some((_, vk)), Some(sig), Some(msg)) = (keys.get(&s.keyid), sig, messages.get(ei)) {
                msgs.push(msg.as_slice());
                sigs.push(sig);
                vks.push(*vk);
                slots.push((ei, si));
            }
        }
    }
    if slots.len() >= 2 && ed25519_dalek::verify_batch(&msgs, &sigs, &vks).is_ok() {
        for (ei, si) in slots {
            if let Some(flag) = proven.get_mut(ei).and_then(|p| p.get_mut(si)) {
                *flag = true;
            }
        }
    }
    proven
}

/// Which signatures of `env` verify with a key of the ring (trusted now or
/// not: revocation and validity are judged later); `proven[i]` short-cuts.
pub fn valid_signatures(env: &Envelope, keys: &KeyRing, proven: &[bool]) -> Vec<bool> {
    let message = pae(&env.payload_type, &env.payload);
    env.signatures
        .iter()
        .enumerate()
        .map(|(i, s)| {
            proven.get(i).copied().unwrap_or(false)
                || match (
                    keys.get(&s.keyid),
                    decode_b64(&s.sig).and_then(|b| Signature::from_slice(&b).ok()),
                ) {
                    (Some((_, vk)), Some(sig)) => vk.verify_strict(&message, &sig).is_ok(),
                    _ => false,
                }
        })
        .collect()
}

/// The stored envelope of a statement with the valid signatures of a newly
/// received one added (none twice; signatures that verify with no known key
/// are not kept, so junk cannot grow the stored item). `None` when nothing
/// new was added.
pub fn merge_signatures(stored: &Value, incoming: &Envelope, valid: &[bool]) -> Option<Value> {
    let mut merged = stored.clone();
    let sigs = merged.get_mut("signatures")?.as_array_mut()?;
    let mut added = false;
    for (s, ok) in incoming.signatures.iter().zip(valid) {
        // The same signature may arrive in another base64 alphabet.
        let bytes = decode_b64(&s.sig);
        let present = sigs
            .iter()
            .any(|x| x.get("sig").and_then(Value::as_str).and_then(decode_b64) == bytes);
        if *ok && !present && sigs.len() < MAX_SIGNATURES {
            sigs.push(serde_json::json!({ "keyid": s.keyid, "sig": s.sig }));
            added = true;
        }
    }
    added.then_some(merged)
}

/// Signatures kept on one stored statement.
pub const MAX_SIGNATURES: usize = 32;

/// [`verify`], where `proven[i]` says signature `i` was already proven valid
/// by [`verify_signatures_batch`].
pub fn verify_with(
    env: &Envelope,
    keys: &KeyRing,
    now: &str,
    threshold: usize,
    proven: &[bool],
) -> Result<Verified, Refusal> {
    if env.signatures.is_empty() {
        return refuse(RefusalCode::NoSignatures, "the envelope has no signatures");
    }
    let message = pae(&env.payload_type, &env.payload);
    // Cryptographic pass: which trusted keys really signed this PAE?
    let mut signed_by: Vec<&TrustedKey> = Vec::new();
    let mut problems: Vec<(RefusalCode, String)> = Vec::new();
    for (i, s) in env.signatures.iter().enumerate() {
        let label = format!("signature {i} (keyid {})", short(&s.keyid));
        let Some((key, vk)) = keys.get(&s.keyid) else {
            problems.push((
                RefusalCode::UnknownKey,
                format!("{label}: no trusted key has this keyid"),
            ));
            continue;
        };
        let sig = decode_b64(&s.sig).and_then(|b| Signature::from_slice(&b).ok());
        let Some(sig) = sig else {
            problems.push((
                RefusalCode::BadSignature,
                format!("{label}: `sig` is not a base64 ed25519 signature of 64 bytes"),
            ));
            continue;
        };
        let valid = proven.get(i).copied().unwrap_or(false) || vk.verify_strict(&message, &sig).is_ok();
        match valid {
            true => {
                if !signed_by.iter().any(|k| k.keyid == key.keyid) {
                    signed_by.push(key);
                }
            }
            false => problems.push((
                RefusalCode::BadSignature,
                format!("{label}: signature does not verify with key {:?}", key.name),
            )),
        }
    }
    if signed_by.is_empty() {
        let code = [RefusalCode::BadSignature, RefusalCode::UnknownKey]
            .into_iter()
            .find(|c| problems.iter().any(|(p, _)| p == c))
            .unwrap_or(RefusalCode::BadSignature);
        return refuse(code, join(&problems));
    }
    if signed_by.len() < threshold {
        return refuse(
            RefusalCode::ThresholdNotMet,
            format!(
                "{} of {threshold} required trusted signatures; {}",
                signed_by.len(),
                join(&problems)
            ),
        );
    }
    if env.payload_type != PAYLOAD_TYPE {
        return refuse(
            RefusalCode::WrongPayloadType,
            format!("payloadType is {:?}; expected {PAYLOAD_TYPE:?}", env.payload_type),
        );
    }
    let statement = parse_statement(&env.payload)?;
    // Policy pass: keys must be usable now and allowed this predicate type.
    let mut counted = Vec::new();
    for key in signed_by {
        let label = format!("key {:?} ({})", key.name, short(&key.keyid));
        match key.usable_at(now) {
            Err(Unusable::Revoked) => problems.push((
                RefusalCode::KeyRevoked,
                format!("{label} was revoked at {}", key.revoked_at.as_deref().unwrap_or("?")),
            )),
            Err(Unusable::NotYetValid) => problems.push((
                RefusalCode::KeyNotYetValid,
                format!(
                    "{label} is valid only from {}",
                    key.not_before.as_deref().unwrap_or("?")
                ),
            )),
            Err(Unusable::Expired) => problems.push((
                RefusalCode::KeyExpired,
                format!("{label} expired at {}", key.not_after.as_deref().unwrap_or("?")),
            )),
            Ok(()) if !key.allows_predicate(&statement.predicate_type) => problems.push((
                RefusalCode::PredicateNotAllowed,
                format!(
                    "{label} may sign only {}; this is {}",
                    key.allowed_predicate_types.join(", "),
                    statement.predicate_type
                ),
            )),
            Ok(()) => counted.push(key.keyid.clone()),
        }
    }
    if counted.len() < threshold.max(1) {
        let code = if counted.is_empty() {
            [
                RefusalCode::KeyRevoked,
                RefusalCode::KeyExpired,
                RefusalCode::KeyNotYetValid,
                RefusalCode::PredicateNotAllowed,
            ]
            .into_iter()
            .find(|c| problems.iter().any(|(p, _)| p == c))
            .unwrap_or(RefusalCode::ThresholdNotMet)
        } else {
            RefusalCode::ThresholdNotMet
        };
        let mut reason = format!("{} of {} required trusted signatures", counted.len(), threshold.max(1));
        if !problems.is_empty() {
            reason = format!("{reason}; {}", join(&problems));
        }
        return refuse(code, reason);
    }
    Ok(Verified {
        digest: env.digest.clone(),
        statement,
        signers: counted,
    })
}

/// Subject binding: the statement must name at least one of `digests` (lowercase sha256).
pub fn check_binding<'a>(
    statement: &Statement,
    digests: impl IntoIterator<Item = &'a str>,
    target: &str,
) -> Result<(), Refusal> {
    let subjects = statement.sha256_subjects();
    let wanted: Vec<&str> = digests.into_iter().collect();
    if wanted.iter().any(|d| subjects.contains(*d)) {
        return Ok(());
    }
    refuse(
        RefusalCode::SubjectMismatch,
        format!(
            "no subject digest of the statement ({}) is an artifact digest of {target} ({})",
            list_short(subjects.iter().map(String::as_str)),
            if wanted.is_empty() {
                "it has no artifacts".to_string()
            } else {
                list_short(wanted.iter().copied())
            }
        ),
    )
}

/// Refuse verified evidence signed by fewer than `required` distinct trusted keys.
pub fn require_signers(v: &Verified, required: usize) -> Result<(), Refusal> {
    if v.signers.len() >= required {
        return Ok(());
    }
    refuse(
        RefusalCode::ThresholdNotMet,
        format!(
            "{} of {required} required distinct trusted signatures for predicate type {} (the operator's evidence_thresholds)",
            v.signers.len(),
            v.statement.predicate_type
        ),
    )
}

/// The first subject whose sha256 is one of `digests` (the current
/// artifacts of a version, or its own digest), if any.
pub fn matching_subject<'a>(subjects: &'a [Subject], digests: &BTreeSet<String>) -> Option<&'a Subject> {
    subjects.iter().find(|s| {
        s.digest
            .get("sha256")
            .is_some_and(|d| digests.contains(&d.to_ascii_lowercase()))
    })
}

/// Build a Statement v1 and sign it into a DSSE envelope (standard base64).
pub fn sign(key: &SigningKey, subjects: Vec<Subject>, predicate_type: &str, predicate: Value) -> Value {
    let statement = serde_json::json!({
        "_type": STATEMENT_V1,
        "subject": subjects,
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    let payload = statement.to_string().into_bytes();
    let sig = key.sign(&pae(PAYLOAD_TYPE, &payload));
    serde_json::json!({
        "payload": STANDARD.encode(&payload),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{ "keyid": crate::keys::keyid(&key.verifying_key()), "sig": STANDARD.encode(sig.to_bytes()) }],
    })
}

fn short(id: &str) -> String {
    if id.is_empty() {
        "(none)".to_string()
    } else {
        id.chars().take(12).collect()
    }
}

fn list_short<'a>(ds: impl Iterator<Item = &'a str>) -> String {
    ds.map(|d| format!("sha256:{}", d.chars().take(12).collect::<String>()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn join(problems: &[(RefusalCode, String)]) -> String {
    problems.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_reference_bytes() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/shared/dsse");
        for name in ["slsa-provenance-v1", "cyclonedx-sbom", "test-result-v0.1"] {
            let env = parse_envelope(&std::fs::read(format!("{dir}/valid/{name}.dsse.json")).unwrap()).unwrap();
            let expected = std::fs::read(format!("{dir}/pae/{name}.pae.bin")).unwrap();
            assert_eq!(pae(&env.payload_type, &env.payload), expected, "{name}");
        }
    }

    #[test]
    fn base64_accepts_both_alphabets_but_not_broken_padding() {
        assert_eq!(decode_b64("-_8=").unwrap(), decode_b64("+/8=").unwrap());
        assert!(decode_b64("+/8").is_none());
    }

    #[test]
    fn the_content_address_ignores_formatting() {
        let a = parse_envelope(br#"{"payload":"e30=","payloadType":"x","signatures":[]}"#).unwrap();
        let b = parse_envelope(b"{ \"signatures\": [],\n \"payloadType\": \"x\", \"payload\": \"e30=\" }").unwrap();
        assert_eq!(a.digest, b.digest);
    }
}
