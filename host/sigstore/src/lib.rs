//! Sigstore bundles (media types `application/vnd.dev.sigstore.bundle+json;version=0.1|0.2|0.3`
//! and `application/vnd.dev.sigstore.bundle.v0.3+json`), verified entirely offline
//! against trusted roots the operator provides (`trusted_root.json`, Sigstore's
//! protobuf-specs format). This crate is the one place that speaks to
//! sigstore-verify; everything it answers is Gatehouse's own types: a
//! [`Verified`] with the signer's identity and log position, or a core
//! [`Refusal`] with one code per refusal class.
//!
//! What is checked is the Sigstore client specification as sigstore-verify
//! implements it: the certificate chains to a Fulcio CA of the root valid at
//! the signing time, the SCT verifies against a CT log of the root, every log
//! entry is proven (inclusion proof up to a checkpoint signed by a log key of
//! the root, and the signed entry timestamp when present) and is of this
//! bundle's signature and content, every signed time (log integration, RFC
//! 3161) lies inside the certificate's validity, and the signature verifies
//! (DSSE PAE, or the message digest).

mod provider;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use sigstore_verify::types::{Artifact, Bundle, Sha256Hash, SignatureContent};
use sigstore_verify::{CertificateError, Error, TransparencyLogError, VerificationPolicy, Verifier};

pub use gatehouse_core::evidence::{Refusal, RefusalCode};

/// The largest bundle read, in bytes (a DSSE payload is bounded by evidence's own
/// limit of 8 MiB decoded; the rest is certificates and proofs).
pub const MAX_BUNDLE_BYTES: usize = 16 * 1024 * 1024;

/// The largest trusted root read, in bytes (the public-good root is ~7 KiB).
pub const MAX_TRUSTED_ROOT_BYTES: usize = 1024 * 1024;

/// The bundle media types Gatehouse verifies.
pub const MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
];

/// A trusted root, parsed and checked once.
pub struct TrustedRoot {
    /// The operator's name for it (e.g. `public-good`, `acme-private`).
    pub name: String,
    /// `sha256:` of the file as given.
    pub digest: String,
    /// The key ids of its transparency logs: a bundle is judged by the roots
    /// that hold its log.
    log_ids: Vec<Vec<u8>>,
    verifier: Verifier,
}

impl std::fmt::Debug for TrustedRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedRoot")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl TrustedRoot {
    /// Parse `trusted_root.json`; the error says what is wrong with it.
    pub fn parse(name: &str, text: &[u8]) -> Result<TrustedRoot, String> {
        provider::install();
        if text.len() > MAX_TRUSTED_ROOT_BYTES {
            return Err(format!(
                "is {} bytes; a trusted root is at most {MAX_TRUSTED_ROOT_BYTES}",
                text.len()
            ));
        }
        let json = std::str::from_utf8(text).map_err(|_| "is not UTF-8 text".to_string())?;
        let root = sigstore_verify::trust_root::TrustedRoot::from_json(json)
            .map_err(|e| format!("is not a Sigstore trusted root ({e})"))?;
        if root.certificate_authorities.is_empty() {
            return Err("has no certificateAuthorities: no Fulcio certificate could chain to it".into());
        }
        if root.tlogs.is_empty() {
            return Err("has no tlogs: no transparency-log entry could be proven".into());
        }
        let verifier = Verifier::new(&root).map_err(|e| e.to_string())?;
        Ok(TrustedRoot {
            name: name.to_string(),
            digest: format!("sha256:{}", hex::encode(Sha256::digest(text))),
            log_ids: root.tlogs.iter().map(|l| l.log_id.key_id.as_bytes().to_vec()).collect(),
            verifier,
        })
    }
}

/// Whether a JSON document is a Sigstore bundle (by its `mediaType`), as
/// opposed to a raw DSSE envelope.
pub fn is_bundle(value: &serde_json::Value) -> bool {
    value
        .get("mediaType")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|m| m.starts_with("application/vnd.dev.sigstore.bundle"))
}

/// What a verifier is asked to hold of the signer, beyond the trusted root.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The certificate's SAN (URI or email), exactly.
    pub identity: Option<String>,
    /// The certificate's OIDC issuer, exactly.
    pub issuer: Option<String>,
}

/// Who signed, as the verified certificate and log say.
pub use gatehouse_core::evidence::KeylessSigner as Signer;

/// What was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A DSSE envelope: its payload type and decoded payload.
    Dsse { payload_type: String, payload: Vec<u8> },
    /// A signature over a blob, named by its SHA-256 (hex).
    Message { sha256: Option<String> },
}

/// A bundle that verified.
#[derive(Debug, Clone)]
pub struct Verified {
    pub media_type: String,
    pub signer: Signer,
    pub content: Content,
}

fn refuse<T>(code: RefusalCode, reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        code,
        reason: reason.into(),
    })
}

/// Verify a bundle offline against the trusted roots (the first that accepts
/// it wins). `artifact`, when given, must be what was signed: the blob of a
/// message signature, or a subject of a DSSE statement. Without it a DSSE
/// bundle is verified for its own statement, and a message signature for the
/// digest it names.
pub fn verify(
    roots: &[TrustedRoot],
    bundle: &[u8],
    artifact: Option<&[u8]>,
    expect: &Expect,
) -> Result<Verified, Refusal> {
    provider::install();
    if bundle.len() > MAX_BUNDLE_BYTES {
        return refuse(
            RefusalCode::TooLarge,
            format!("the bundle is {} bytes; the limit is {MAX_BUNDLE_BYTES}", bundle.len()),
        );
    }
    let parsed = parse(bundle)?;
    if roots.is_empty() {
        return refuse(
            RefusalCode::NoTrustedRoot,
            "no Sigstore trusted root is configured (gatehouse trust-root import)",
        );
    }
    let content = content(&parsed)?;
    let subject = match (&content, artifact) {
        (_, Some(blob)) => Artifact::from_blob(blob),
        (Content::Dsse { payload, .. }, None) => Artifact::from_digest(first_subject(payload)?),
        (Content::Message { sha256: Some(hex), .. }, None) => Artifact::from_digest(sha256_hash(hex)?),
        (Content::Message { sha256: None }, None) => {
            return refuse(
                RefusalCode::UnsupportedBundle,
                "the message signature names no digest; give the artifact it signs",
            );
        }
    };
    let mut policy = VerificationPolicy::any_identity();
    if let Some(identity) = &expect.identity {
        policy = policy.require_identity(identity.as_str());
    }
    if let Some(issuer) = &expect.issuer {
        policy = policy.require_issuer(issuer.as_str());
    }
    // The roots that hold the log of the bundle's first entry judge it (several
    // roots — public good and a private instance — hold different logs).
    let log = parsed
        .verification_material
        .tlog_entries
        .first()
        .map(|e| e.log_id.key_id.as_bytes().to_vec());
    let judges: Vec<&TrustedRoot> = match &log {
        Some(id) => roots.iter().filter(|r| r.log_ids.contains(id)).collect(),
        None => roots.iter().collect(),
    };
    let Some(judge) = judges.first() else {
        return refuse(
            RefusalCode::UnknownLog,
            format!(
                "the bundle's log entry is of log {}, which no trusted root holds ({})",
                log.map(|id| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, id))
                    .unwrap_or_default(),
                roots.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        );
    };
    let mut refusal = None;
    for root in &judges {
        match root.verifier.verify(subject.clone(), &parsed, &policy) {
            Ok(result) => {
                return Ok(Verified {
                    media_type: parsed.media_type.as_str().to_string(),
                    signer: signer(&parsed, &result, root),
                    content,
                });
            }
            Err(e) => {
                refusal.get_or_insert(refusal_of(e, &root.name, roots.len() > 1));
            }
        }
    }
    Err(refusal.unwrap_or_else(|| Refusal {
        code: RefusalCode::NoTrustedRoot,
        reason: format!("no trusted root verified it (first: {})", judge.name),
    }))
}

fn parse(bundle: &[u8]) -> Result<Bundle, Refusal> {
    let text = std::str::from_utf8(bundle)
        .or_else(|_| refuse(RefusalCode::MalformedBundle, "the bundle is not UTF-8 JSON"))?;
    let value: serde_json::Value = serde_json::from_str(text)
        .or_else(|e| refuse(RefusalCode::MalformedBundle, format!("the bundle is not JSON: {e}")))?;
    let media = value.get("mediaType").and_then(serde_json::Value::as_str).unwrap_or("");
    if !MEDIA_TYPES.contains(&media) {
        return refuse(
            RefusalCode::UnsupportedBundle,
            format!(
                "mediaType {media:?} is not a Sigstore bundle version Gatehouse verifies (expected one of {})",
                MEDIA_TYPES.join(", ")
            ),
        );
    }
    let parsed = Bundle::from_json(text)
        .or_else(|e| refuse(RefusalCode::MalformedBundle, format!("the bundle does not parse: {e}")))?;
    bounded(&parsed)?;
    Ok(parsed)
}

/// At most this many log entries, RFC 3161 timestamps and chain certificates
/// in one bundle: each costs signature checks, and real bundles carry one or
/// two (sigstore-python allows 32 timestamps).
pub const MAX_BUNDLE_ITEMS: usize = 16;

fn bounded(bundle: &Bundle) -> Result<(), Refusal> {
    let m = &bundle.verification_material;
    let chain = match &m.content {
        sigstore_verify::types::bundle::VerificationMaterialContent::X509CertificateChain { certificates } => {
            certificates.len()
        }
        _ => 1,
    };
    for (what, n) in [
        ("transparency-log entries", m.tlog_entries.len()),
        (
            "RFC 3161 timestamps",
            m.timestamp_verification_data.rfc3161_timestamps.len(),
        ),
        ("certificates in its chain", chain),
    ] {
        if n > MAX_BUNDLE_ITEMS {
            return refuse(
                RefusalCode::TooLarge,
                format!("the bundle has {n} {what}; at most {MAX_BUNDLE_ITEMS} are verified"),
            );
        }
    }
    Ok(())
}

fn content(bundle: &Bundle) -> Result<Content, Refusal> {
    match &bundle.content {
        SignatureContent::DsseEnvelope(env) => {
            let payload = env.payload.as_bytes().to_vec();
            if payload.len() > gatehouse_core::evidence::MAX_PAYLOAD_BYTES {
                return refuse(
                    RefusalCode::TooLarge,
                    format!(
                        "the envelope's payload is {} bytes; the limit is {}",
                        payload.len(),
                        gatehouse_core::evidence::MAX_PAYLOAD_BYTES
                    ),
                );
            }
            Ok(Content::Dsse {
                payload_type: env.payload_type.clone(),
                payload,
            })
        }
        SignatureContent::MessageSignature(m) => Ok(Content::Message {
            sha256: m
                .message_digest
                .as_ref()
                .filter(|d| d.algorithm == sigstore_verify::types::HashAlgorithm::Sha2256)
                .map(|d| hex::encode(&d.digest)),
        }),
        _ => refuse(
            RefusalCode::UnsupportedBundle,
            "the bundle holds neither a DSSE envelope nor a message signature",
        ),
    }
}

/// The first sha256 subject of an in-toto statement: what a DSSE bundle is
/// verified against when no artifact is given (which versions it binds to is
/// decided later, from every subject, as for raw DSSE).
fn first_subject(payload: &[u8]) -> Result<Sha256Hash, Refusal> {
    let statement: serde_json::Value = serde_json::from_slice(payload).or_else(|e| {
        refuse(
            RefusalCode::MalformedStatement,
            format!("the envelope's payload is not JSON: {e}"),
        )
    })?;
    let hex = statement
        .get("subject")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|s| s.get("digest")?.get("sha256")?.as_str());
    match hex {
        Some(hex) => sha256_hash(hex),
        None => refuse(
            RefusalCode::MalformedStatement,
            "the statement has no subject with a sha256 digest",
        ),
    }
}

fn sha256_hash(hex: &str) -> Result<Sha256Hash, Refusal> {
    Sha256Hash::from_hex(hex).or_else(|_| {
        refuse(
            RefusalCode::MalformedStatement,
            format!("{hex:?} is not a SHA-256 digest (64 hex characters)"),
        )
    })
}

fn signer(bundle: &Bundle, result: &sigstore_verify::VerificationResult, root: &TrustedRoot) -> Signer {
    let mut claims = BTreeMap::new();
    if let Some(info) = result.certificate() {
        let c = &info.ci_claims;
        for (name, value) in [
            ("repository", &c.source_repository_uri),
            ("repository_id", &c.source_repository_identifier),
            ("owner", &c.source_repository_owner_uri),
            ("ref", &c.source_repository_ref),
            ("commit", &c.source_repository_digest),
            ("workflow", &c.build_config_uri),
            ("workflow_commit", &c.build_config_digest),
            ("signer_workflow", &c.build_signer_uri),
            ("trigger", &c.build_trigger),
            ("runner", &c.runner_environment),
            ("run", &c.run_invocation_uri),
            ("visibility", &c.source_repository_visibility_at_signing),
            ("environment", &c.deployment_environment),
        ] {
            if let Some(v) = value {
                claims.insert(name.to_string(), v.clone());
            }
        }
    }
    Signer {
        identity: result.identity().map(|i| i.as_str().to_string()).unwrap_or_default(),
        issuer: result.issuer().unwrap_or_default().to_string(),
        claims,
        log_index: bundle
            .verification_material
            .tlog_entries
            .first()
            .map(|e| e.log_index.get()),
        integrated_time: result.integrated_time().map(|t| t.to_string()),
        signed_times: result.verified_timestamps().iter().map(ToString::to_string).collect(),
        trusted_root: root.name.clone(),
    }
}

/// One refusal code per class of sigstore-verify's errors; the reason keeps
/// its detail (and names the root when there are several).
fn refusal_of(e: Error, root: &str, name_root: bool) -> Refusal {
    use RefusalCode as C;
    let code = match &e {
        Error::IdentityMismatch { .. } => C::IdentityMismatch,
        Error::IssuerMismatch { .. } => C::IssuerMismatch,
        Error::SignatureInvalid(_) => C::BadSignature,
        Error::ArtifactMismatch(_) => C::ArtifactMismatch,
        Error::Certificate(c) => match c {
            CertificateError::ChainInvalid(detail) => chain_code(detail),
            CertificateError::NoValidAuthority { .. } => C::NoValidAuthority,
            CertificateError::NotYetValid { .. } => C::CertificateNotYetValid,
            CertificateError::Expired { .. } => C::CertificateExpired,
            CertificateError::Sct(_) => C::SctInvalid,
            _ => C::MalformedBundle,
        },
        Error::TransparencyLog(t) => match t {
            TransparencyLogError::UnknownLog { .. } => C::UnknownLog,
            TransparencyLogError::InclusionProof(_) => C::InclusionProofInvalid,
            TransparencyLogError::Checkpoint(_) => C::CheckpointInvalid,
            TransparencyLogError::InclusionPromise(_) => C::InclusionPromiseInvalid,
            TransparencyLogError::EntryMismatch(_) => C::TlogEntryMismatch,
            TransparencyLogError::IntegratedTime(_) => C::IntegratedTimeInvalid,
            _ => C::MalformedBundle,
        },
        Error::Timestamp(_) => C::TimestampInvalid,
        Error::Bundle(b) => match b {
            sigstore_verify::bundle::Error::MissingInclusionProof(_) => C::InclusionProofMissing,
            sigstore_verify::bundle::Error::MissingInclusionPromise(_) => C::InclusionPromiseMissing,
            sigstore_verify::bundle::Error::CheckpointRootMismatch => C::CheckpointInvalid,
            sigstore_verify::bundle::Error::UnsupportedMediaType(_) => C::UnsupportedBundle,
            _ => C::MalformedBundle,
        },
        Error::UnsupportedBundle(_) | Error::UnsupportedArtifact(_) => C::UnsupportedBundle,
        _ => C::MalformedBundle,
    };
    Refusal {
        code,
        reason: if name_root {
            format!("{e} (trusted root {root})")
        } else {
            e.to_string()
        },
    }
}

/// webpki reports a certificate outside its validity at the signing time as
/// a chain error; give it the validity codes the specification's classes name.
fn chain_code(detail: &str) -> RefusalCode {
    if detail.contains("CertExpired") {
        RefusalCode::CertificateExpired
    } else if detail.contains("CertNotValidYet") {
        RefusalCode::CertificateNotYetValid
    } else {
        RefusalCode::CertificateUntrusted
    }
}
