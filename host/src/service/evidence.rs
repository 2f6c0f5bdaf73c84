//! Evidence use cases: trusted keys, ingestion with verification and subject
//! binding, listing. Refusals are logged with their reason; only verified
//! bindings ever count for gates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Gatehouse, validate_actor};
use crate::audit::{EventResult, NewEvent};
use crate::error::{Error, Result};
use crate::evidence::{
    self, Envelope, EvidenceBinding, EvidenceEntry, EvidenceFilter, EvidenceRecord, Refusal, RefusalCode, Verified,
};
use crate::keys::{KeyRing, NewTrustedKey, TrustedKey, TrustedRoot};
use crate::version::Version;
use sha2::Digest;

/// What happened to one envelope of an ingestion request.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IngestOutcome {
    /// Position in a bundle (0 for a single envelope).
    pub index: usize,
    pub digest: Option<String>,
    pub predicate_type: Option<String>,
    /// Every version the envelope was bound to, with its verdict there.
    pub bindings: Vec<BindingOutcome>,
    /// Set when the envelope was refused before it could be bound to any version.
    pub refusal: Option<Refusal>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BindingOutcome {
    pub application: String,
    pub version: String,
    pub verified: bool,
    /// The same envelope was already verified for this version; nothing changed.
    pub already_present: bool,
    pub refusal: Option<Refusal>,
}

impl IngestOutcome {
    pub fn accepted(&self) -> bool {
        self.refusal.is_none() && !self.bindings.is_empty() && self.bindings.iter().all(|b| b.verified)
    }
}

/// Where to bind evidence: a named version, or every version whose artifacts a subject names.
#[derive(Debug, Clone)]
pub enum Target {
    Version { application: String, version: String },
    BySubject,
}

impl Gatehouse {
    // ---- trusted keys ---------------------------------------------------

    pub fn trust_key(&self, actor: &str, input: NewTrustedKey) -> Result<TrustedKey> {
        let actor = validate_actor(actor)?;
        let key = input.into_key(actor, &crate::time::now())?;
        let event = key_event(actor, "key.trust", &key, json!({ "key": key }));
        self.store.put_trusted_key(&key, false, event)?;
        Ok(key)
    }

    pub fn trusted_keys(&self) -> Result<Vec<TrustedKey>> {
        self.store.trusted_keys()
    }

    pub fn trusted_key(&self, keyid: &str) -> Result<TrustedKey> {
        self.store.trusted_key(keyid)?.ok_or_else(|| Error::NotFound {
            kind: "trusted key",
            id: keyid.to_string(),
        })
    }

    /// Revoke a key: evidence it signs is refused from now on, and evidence it
    /// signed no longer counts for gates unless another usable key also signed it.
    pub fn revoke_key(&self, actor: &str, keyid: &str, reason: Option<String>) -> Result<TrustedKey> {
        let actor = validate_actor(actor)?;
        let mut key = self.trusted_key(keyid)?;
        if key.revoked_at.is_some() {
            return Err(Error::conflict(format!("key {keyid} is already revoked")));
        }
        key.revoked_at = Some(crate::time::now());
        key.revoked_reason = reason;
        let event = key_event(actor, "key.revoke", &key, json!({ "reason": key.revoked_reason }));
        self.store.put_trusted_key(&key, true, event)?;
        Ok(key)
    }

    // ---- Sigstore trusted roots -------------------------------------------

    /// Import (or replace, by name) a Sigstore `trusted_root.json`: checked
    /// whole before anything is written; the event names its digest.
    pub fn import_trusted_root(&self, actor: &str, name: &str, document: &[u8]) -> Result<TrustedRoot> {
        let actor = validate_actor(actor)?;
        let named = !name.is_empty()
            && name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if !named {
            return Err(Error::invalid(
                "name",
                name,
                "1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. public-good)",
            ));
        }
        let parsed = gatehouse_sigstore::TrustedRoot::parse(name, document).map_err(|e| {
            Error::invalid(
                "trusted_root",
                format!("the file {e}"),
                "a Sigstore trusted_root.json (protobuf-specs JSON)",
            )
        })?;
        let text = String::from_utf8_lossy(document).into_owned();
        let previous = self.store.trusted_roots()?.into_iter().find(|r| r.name == name);
        let root = TrustedRoot {
            name: name.to_string(),
            digest: parsed.digest,
            document: text,
            imported_at: crate::time::now(),
            imported_by: actor.to_string(),
        };
        let event = NewEvent {
            actor: actor.to_string(),
            action: "trusted_root.import".into(),
            subject: format!("trusted_root:{name}"),
            application: None,
            version: None,
            result: EventResult::Success,
            details: json!({
                "name": name,
                "digest": root.digest,
                "replaces": previous.map(|p| p.digest),
            }),
        };
        self.store.put_trusted_root(&root, event)?;
        Ok(root)
    }

    pub fn trusted_roots(&self) -> Result<Vec<TrustedRoot>> {
        self.store.trusted_roots()
    }

    /// The stored roots, parsed (a root that no longer parses is left out and logged).
    fn sigstore_roots(&self) -> Result<Vec<gatehouse_sigstore::TrustedRoot>> {
        Ok(self
            .store
            .trusted_roots()?
            .into_iter()
            .filter_map(
                |r| match gatehouse_sigstore::TrustedRoot::parse(&r.name, r.document.as_bytes()) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::warn!(root = %r.name, "a stored Sigstore trusted root no longer parses: {e}");
                        None
                    }
                },
            )
            .collect())
    }

    // ---- ingestion ------------------------------------------------------

    /// Ingest one envelope or an `.intoto.jsonl` bundle of many.
    ///
    /// How many distinct trusted signers a statement needs is the operator's
    /// setting per predicate type (`evidence_thresholds`); `threshold` from
    /// the submitter can only raise it.
    pub fn add_evidence(
        &self,
        actor: &str,
        body: &[u8],
        target: &Target,
        threshold: usize,
    ) -> Result<Vec<IngestOutcome>> {
        self.ingest(actor, body, target, threshold, None)
    }

    /// [`Gatehouse::add_evidence`], recording the collection that produced the statements.
    pub(super) fn ingest(
        &self,
        actor: &str,
        body: &[u8],
        target: &Target,
        threshold: usize,
        collected: Option<&evidence::Collection>,
    ) -> Result<Vec<IngestOutcome>> {
        let actor = validate_actor(actor)?;
        if threshold == 0 || threshold > 16 {
            return Err(Error::invalid(
                "threshold",
                threshold,
                "1 to 16 distinct trusted signatures",
            ));
        }
        if let Target::Version { application, version } = target {
            self.version(application, version)?;
        }
        let trusted = self.store.trusted_keys()?;
        let keys = KeyRing::new(trusted.iter().cloned());
        let now = crate::time::now();
        // Sigstore roots are read and parsed on the first bundle of the request.
        let mut roots: Option<Vec<gatehouse_sigstore::TrustedRoot>> = None;
        let mut items: Vec<Item> = Vec::new();
        for item in split_bundle(body) {
            let value = match item {
                Ok(v) => v,
                Err(reason) => {
                    items.push(Err(Refusal {
                        code: RefusalCode::MalformedEnvelope,
                        reason,
                    }));
                    continue;
                }
            };
            if gatehouse_sigstore::is_bundle(&value) {
                let roots = match &roots {
                    Some(r) => r,
                    None => roots.insert(self.sigstore_roots()?),
                };
                items.push(admit_bundle(&value, roots, &trusted, &now).map(|(env, k)| (env, value, Some(k))));
            } else {
                items.push(evidence::parse_envelope_value(&value).map(|env| (env, value, None)));
            }
        }
        let envs: Vec<&Envelope> = items
            .iter()
            .filter_map(|i| i.as_ref().ok().map(|(e, _, _)| e))
            .collect();
        let mut proven = if envs.len() > 1 {
            evidence::verify_signatures_batch(&envs, &keys)
        } else {
            Vec::new()
        }
        .into_iter();
        let mut batch = Batch::default();
        let mut outcomes = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let flags = if item.is_ok() {
                proven.next().unwrap_or_default()
            } else {
                Vec::new()
            };
            outcomes.push(self.ingest_one(
                &mut batch, actor, index, item, &flags, target, &keys, threshold, collected,
            )?);
        }
        // One transaction for the whole request: every record, binding and event, or none.
        if !batch.events.is_empty() {
            let events = std::mem::take(&mut batch.events);
            self.store.record_evidence(&batch.records, &batch.bindings, events)?;
        }
        // Verified SBOM evidence attaches its components to the version.
        for b in batch.bindings.iter().filter(|b| b.verified) {
            let Some(record) = batch.record(&b.digest) else {
                continue;
            };
            if !record
                .predicate_type
                .as_deref()
                .is_some_and(|t| super::vulns::SBOM_TYPES.contains(&t))
            {
                continue;
            }
            // A collector's SBOM is its claim: it never changes what a frozen version is made of.
            if collected.is_some()
                && batch
                    .versions
                    .get(&(b.application.clone(), b.version.clone()))
                    .is_some_and(|v| !v.draft)
            {
                continue;
            }
            if let Some(predicate) = record.statement().and_then(|s| s.get("predicate").cloned()) {
                self.attach_sbom_evidence(actor, &b.application, &b.version, &b.digest, &predicate);
            }
        }
        Ok(outcomes)
    }

    #[allow(clippy::too_many_arguments)]
    fn ingest_one(
        &self,
        batch: &mut Batch,
        actor: &str,
        index: usize,
        item: Item,
        proven: &[bool],
        target: &Target,
        keys: &KeyRing,
        threshold: usize,
        collected: Option<&evidence::Collection>,
    ) -> Result<IngestOutcome> {
        let now = crate::time::now();
        let (env, raw, keyless) = match item {
            Ok(triple) => triple,
            Err(refusal) => return Ok(refuse_unbound(batch, actor, index, None, target, refusal)),
        };
        // One evidence item per statement: a statement stored before (or
        // earlier in this bundle) takes this envelope's valid signatures and
        // is judged with all of them, under the id it was first stored as.
        // An envelope none of whose signatures verifies is judged alone (its
        // refusal is reported) and changes nothing stored.
        let mut keep = None;
        let (id, env, merged, proven, first_added_at) = match self.stored_statement(batch, &env.statement_digest)? {
            None => (env.digest.clone(), env, false, proven, now.clone()),
            Some(stored) => {
                let valid = evidence::valid_signatures(&env, keys, proven);
                if valid.iter().any(|v| *v) {
                    let (stored_raw, merged) = match evidence::merge_signatures(&stored.envelope, &env, &valid) {
                        Some(m) => (m, true),
                        None => (stored.envelope.clone(), false),
                    };
                    let env = match evidence::parse_envelope_value(&stored_raw) {
                        Ok(e) => e,
                        Err(refusal) => return Ok(refuse_unbound(batch, actor, index, None, target, refusal)),
                    };
                    keep = Some(stored_raw);
                    (stored.digest, env, merged, &[][..], stored.first_added_at)
                } else {
                    keep = Some(stored.envelope.clone());
                    (stored.digest, env, false, proven, stored.first_added_at)
                }
            }
        };
        let raw = keep.unwrap_or(raw);
        // A bundle was judged when admitted (its roots and trusted identities);
        // a raw envelope is judged here by its key signatures.
        let judged = match &keyless {
            Some(k) => k.verdict.clone(),
            None => evidence::verify_with(&env, keys, &now, threshold, proven),
        };
        let verdict = judged.and_then(|v| {
            let required = self
                .settings
                .required_signers(&v.statement.predicate_type)
                .max(threshold);
            evidence::require_signers(&v, required)?;
            Ok(v)
        });
        let meta = match &verdict {
            Ok(v) => evidence::Metadata {
                payload_type: Some(env.payload_type.clone()),
                predicate_type: Some(v.statement.predicate_type.clone()),
                subjects: v.statement.subject.clone(),
                keyids: env.signatures.iter().map(|s| s.keyid.clone()).collect(),
            },
            Err(_) => evidence::metadata(&env),
        };
        let statement_digests: Vec<String> = match &verdict {
            Ok(v) => v.statement.sha256_subjects().into_iter().collect(),
            Err(_) => meta
                .subjects
                .iter()
                .filter_map(|s| s.digest.get("sha256"))
                .map(|d| d.to_ascii_lowercase())
                .collect(),
        };
        let versions: Vec<Version> = match target {
            Target::Version { application, version } => vec![batch.version(self, application, version)?],
            Target::BySubject => {
                let mut found = std::collections::BTreeSet::new();
                for d in &statement_digests {
                    found.extend(self.store.versions_with_artifact(d)?);
                }
                found
                    .into_iter()
                    .map(|(a, v)| batch.version(self, &a, &v))
                    .collect::<Result<_>>()?
            }
        };
        if versions.is_empty() {
            let refusal = match verdict {
                Err(r) => r,
                Ok(_) => Refusal {
                    code: RefusalCode::SubjectMismatch,
                    reason: format!(
                        "no version has an artifact whose sha256 is a subject of this statement ({})",
                        statement_digests.join(", ")
                    ),
                },
            };
            return Ok(refuse_unbound(batch, actor, index, Some(id.clone()), target, refusal));
        }

        let keyids = raw
            .get("signatures")
            .and_then(serde_json::Value::as_array)
            .map(|sigs| {
                sigs.iter()
                    .map(|s| {
                        s.get("keyid")
                            .and_then(serde_json::Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let record = EvidenceRecord {
            digest: id.clone(),
            statement_digest: Some(env.statement_digest.clone()),
            envelope: raw,
            payload_type: meta.payload_type.clone(),
            predicate_type: meta.predicate_type.clone(),
            subjects: meta.subjects.clone(),
            // The key ids of the envelope kept (with merged signatures).
            keyids,
            first_added_at,
        };
        let mut outcomes = Vec::new();
        let mut bound = false;
        for v in &versions {
            let judged: std::result::Result<&Verified, Refusal> =
                verdict.as_ref().map_err(Clone::clone).and_then(|ok| {
                    evidence::check_binding(
                        &ok.statement,
                        batch.digests_of(v).iter().map(String::as_str),
                        &format!("{}@{}", v.application, v.version),
                    )?;
                    Ok(ok)
                });
            let key = (id.clone(), v.application.clone(), v.version.clone());
            let verified_before = batch.verified.contains(&key)
                || self
                    .store
                    .evidence_binding(&id, &v.application, &v.version)?
                    .is_some_and(|b| b.verified);
            if judged.is_ok() && verified_before && !merged {
                outcomes.push(BindingOutcome {
                    application: v.application.clone(),
                    version: v.version.clone(),
                    verified: true,
                    already_present: true,
                    refusal: None,
                });
                continue;
            }
            let binding = EvidenceBinding {
                digest: id.clone(),
                application: v.application.clone(),
                version: v.version.clone(),
                verified: judged.is_ok(),
                refusal: judged.as_ref().err().cloned(),
                signers: judged.as_ref().map(|ok| ok.signers.clone()).unwrap_or_default(),
                added_by: actor.to_string(),
                added_at: now.clone(),
                collected: collected.cloned(),
                keyless: keyless.as_ref().map(|k| k.signer.clone()),
            };
            // A refused attempt never demotes evidence already verified for the
            // version; merged signatures update its signers.
            if !verified_before || (merged && binding.verified) {
                if binding.verified {
                    batch.verified.insert(key);
                }
                batch.bindings.push(binding.clone());
                bound = true;
            }
            crate::metrics::record_evidence(binding.refusal.as_ref().map_or("verified", |r| r.code.as_str()));
            batch.events.push(NewEvent {
                actor: actor.to_string(),
                action: "evidence.add".into(),
                subject: v.subject(),
                application: Some(v.application.clone()),
                version: Some(v.version.clone()),
                result: if binding.verified {
                    EventResult::Success
                } else {
                    EventResult::Failure
                },
                details: json!({
                    "digest": id,
                    "predicate_type": meta.predicate_type,
                    "signers": binding.signers,
                    "keyless": binding.keyless,
                    "keyids": meta.keyids,
                    "verified": binding.verified,
                    "refusal": binding.refusal,
                }),
            });
            outcomes.push(BindingOutcome {
                application: v.application.clone(),
                version: v.version.clone(),
                verified: binding.verified,
                already_present: false,
                refusal: binding.refusal,
            });
        }
        if bound || merged {
            batch.put_record(record);
        }
        Ok(IngestOutcome {
            index,
            digest: Some(id),
            predicate_type: meta.predicate_type,
            bindings: outcomes,
            refusal: None,
        })
    }

    /// The stored evidence carrying this statement: from this request's
    /// batch first, then the store.
    fn stored_statement(&self, batch: &Batch, statement_digest: &str) -> Result<Option<EvidenceRecord>> {
        if let Some(r) = batch
            .by_statement
            .get(statement_digest)
            .and_then(|&i| batch.records.get(i))
        {
            return Ok(Some(r.clone()));
        }
        self.store.evidence_by_statement(statement_digest)
    }

    // ---- reading ----------------------------------------------------------

    pub fn evidence(&self, digest: &str) -> Result<EvidenceRecord> {
        self.store.evidence(digest)?.ok_or_else(|| Error::NotFound {
            kind: "evidence",
            id: digest.to_string(),
        })
    }

    pub fn version_evidence(&self, app: &str, version: &str, filter: &EvidenceFilter) -> Result<Vec<EvidenceEntry>> {
        self.version(app, version)?;
        let mut entries = self.store.version_evidence(app, version, filter)?;
        let keys = self.key_names()?;
        for e in &mut entries {
            e.origin = Some(evidence::origin_of(&e.binding, &keys));
        }
        Ok(entries)
    }

    /// Trusted keys by id: (name, owner).
    fn key_names(&self) -> Result<BTreeMap<String, (String, String)>> {
        Ok(self
            .store
            .trusted_keys()?
            .into_iter()
            .map(|k| (k.keyid, (k.name, k.owner)))
            .collect())
    }

    /// The evidence gates may rely on: verified for this version, still
    /// vouched for by at least one key that is usable now, and about what the
    /// version is now — one subject must name a current artifact digest (or
    /// the version's own digest). A draft whose artifacts were changed after
    /// the evidence arrived loses that evidence.
    pub(super) fn gate_evidence(&self, v: &Version) -> Result<Vec<EvidenceEntry>> {
        let filter = EvidenceFilter {
            verified: Some(true),
            ..EvidenceFilter::default()
        };
        let now = crate::time::now();
        let entries = self.store.version_evidence(&v.application, &v.version, &filter)?;
        if entries.is_empty() {
            return Ok(entries);
        }
        let trusted = self.store.trusted_keys()?;
        let usable_keys: std::collections::BTreeSet<&str> = trusted
            .iter()
            .filter(|k| k.usable_at(&now).is_ok())
            .map(|k| k.keyid.as_str())
            .collect();
        let names: BTreeMap<String, (String, String)> = trusted
            .iter()
            .filter(|k| usable_keys.contains(k.keyid.as_str()))
            .map(|k| (k.keyid.clone(), (k.name.clone(), k.owner.clone())))
            .collect();
        let current = current_digests(v);
        Ok(entries
            .into_iter()
            .filter_map(|mut e| {
                // Only the signers usable now vouch for it.
                e.binding.signers.retain(|id| usable_keys.contains(id.as_str()));
                if e.binding.signers.is_empty() {
                    return None;
                }
                e.matched_subject = Some(evidence::matching_subject(&e.subjects, &current)?.clone());
                e.origin = Some(evidence::origin_of(&e.binding, &names));
                Some(e)
            })
            .collect())
    }
}

/// The digests evidence about `v` may name now: its artifacts' and its own.
pub(super) fn current_digests(v: &Version) -> std::collections::BTreeSet<String> {
    v.artifacts
        .iter()
        .map(|a| a.sha256.clone())
        .chain(std::iter::once(v.digest()))
        .collect()
}

/// One item of an ingestion request: an envelope (or a bundle's, with its
/// verdict) and the JSON it came as, or why it could not be read.
type Item = std::result::Result<(Envelope, serde_json::Value, Option<Keyless>), Refusal>;

/// A Sigstore bundle's verdict, reached when it was admitted: verified
/// against the trusted roots, its signer matched against trusted identities.
pub(super) struct Keyless {
    verdict: std::result::Result<Verified, Refusal>,
    signer: evidence::KeylessSigner,
}

/// A Sigstore bundle as evidence: verified offline against the trusted roots
/// (a bundle that does not verify is refused before it binds anywhere), then
/// judged by identity. It is one evidence item of its own, content-addressed
/// like an envelope; it never merges with another statement's signatures.
fn admit_bundle(
    value: &serde_json::Value,
    roots: &[gatehouse_sigstore::TrustedRoot],
    trusted: &[TrustedKey],
    now: &str,
) -> std::result::Result<(Envelope, Keyless), Refusal> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let v = gatehouse_sigstore::verify(roots, &bytes, None, &gatehouse_sigstore::Expect::default())?;
    let gatehouse_sigstore::Content::Dsse { payload_type, payload } = v.content else {
        return Err(Refusal {
            code: RefusalCode::WrongPayloadType,
            reason:
                "a message signature carries no in-toto statement; send an attestation (a bundle with a DSSE envelope)"
                    .into(),
        });
    };
    let digest = hex::encode(sha2::Sha256::digest(crate::audit::canonical_json(value)));
    let env = Envelope {
        payload_type,
        payload,
        signatures: Vec::new(),
        digest: digest.clone(),
        statement_digest: digest,
    };
    let verdict = judge_keyless(&env, &v.signer, trusted, now);
    Ok((
        env,
        Keyless {
            verdict,
            signer: v.signer,
        },
    ))
}

/// Which trusted identity vouches for a verified keyless signer: the first
/// that matches, is usable now and allows the statement's predicate type.
fn judge_keyless(
    env: &Envelope,
    signer: &evidence::KeylessSigner,
    trusted: &[TrustedKey],
    now: &str,
) -> std::result::Result<Verified, Refusal> {
    if env.payload_type != evidence::PAYLOAD_TYPE {
        return Err(Refusal {
            code: RefusalCode::WrongPayloadType,
            reason: format!(
                "payloadType is {:?}; expected {}",
                env.payload_type,
                evidence::PAYLOAD_TYPE
            ),
        });
    }
    let statement = evidence::parse_statement(&env.payload)?;
    let matching: Vec<&TrustedKey> = trusted
        .iter()
        .filter(|k| {
            k.identity
                .as_ref()
                .is_some_and(|r| r.matches(&signer.issuer, &signer.identity, &signer.claims))
        })
        .collect();
    let Some(first) = matching.first() else {
        return Err(Refusal {
            code: RefusalCode::UnknownIdentity,
            reason: format!(
                "signed by {} (issuer {}{}); no trusted identity names this signer",
                signer.identity,
                signer.issuer,
                signer
                    .claims
                    .get("repository")
                    .map(|r| format!(", repository {r}"))
                    .unwrap_or_default()
            ),
        });
    };
    if let Some(k) = matching
        .iter()
        .find(|k| k.usable_at(now).is_ok() && k.allows_predicate(&statement.predicate_type))
    {
        return Ok(Verified {
            digest: env.digest.clone(),
            statement,
            signers: vec![k.keyid.clone()],
        });
    }
    // The reason worth giving is that of an identity that would have allowed the type.
    let first = matching
        .iter()
        .find(|k| k.allows_predicate(&statement.predicate_type))
        .unwrap_or(first);
    let (code, why) = match first.usable_at(now) {
        Err(crate::keys::Unusable::Revoked) => (RefusalCode::KeyRevoked, "is revoked"),
        Err(crate::keys::Unusable::NotYetValid) => (RefusalCode::KeyNotYetValid, "is not valid yet"),
        Err(crate::keys::Unusable::Expired) => (RefusalCode::KeyExpired, "has expired"),
        Ok(()) => (RefusalCode::PredicateNotAllowed, "does not allow this predicate type"),
    };
    Err(Refusal {
        code,
        reason: format!(
            "the trusted identity {:?} ({}) that names {} {why} ({})",
            first.name, first.keyid, signer.identity, statement.predicate_type
        ),
    })
}

/// Everything one ingestion request writes, committed together.
#[derive(Default)]
struct Batch {
    records: Vec<EvidenceRecord>,
    /// Index into `records` by digest, and by statement digest.
    by_digest: BTreeMap<String, usize>,
    by_statement: BTreeMap<String, usize>,
    bindings: Vec<EvidenceBinding>,
    events: Vec<NewEvent>,
    /// (digest, application, version) verified earlier in this request.
    verified: std::collections::BTreeSet<(String, String, String)>,
    /// Versions read during this request (a bundle usually names one).
    versions: BTreeMap<(String, String), Version>,
    digests: BTreeMap<(String, String), Vec<String>>,
}

impl Batch {
    /// Add a record, or replace the one with its digest (signatures merged).
    fn put_record(&mut self, record: EvidenceRecord) {
        match self.by_digest.get(&record.digest) {
            Some(&i) => {
                if let Some(slot) = self.records.get_mut(i) {
                    *slot = record;
                }
            }
            None => {
                let i = self.records.len();
                self.by_digest.insert(record.digest.clone(), i);
                if let Some(sd) = &record.statement_digest {
                    self.by_statement.insert(sd.clone(), i);
                }
                self.records.push(record);
            }
        }
    }

    fn record(&self, digest: &str) -> Option<&EvidenceRecord> {
        self.by_digest.get(digest).and_then(|&i| self.records.get(i))
    }

    /// The digests evidence about `v` may name: its artifacts' and its own.
    fn digests_of(&mut self, v: &Version) -> &[String] {
        self.digests
            .entry((v.application.clone(), v.version.clone()))
            .or_insert_with(|| {
                v.artifacts
                    .iter()
                    .map(|a| a.sha256.clone())
                    .chain(std::iter::once(v.digest()))
                    .collect()
            })
    }

    fn version(&mut self, gh: &Gatehouse, app: &str, version: &str) -> Result<Version> {
        let key = (app.to_string(), version.to_string());
        if let Some(v) = self.versions.get(&key) {
            return Ok(v.clone());
        }
        let v = gh.version(app, version)?;
        self.versions.insert(key, v.clone());
        Ok(v)
    }
}

/// A refusal that could not be tied to any version: logged, nothing stored.
fn refuse_unbound(
    batch: &mut Batch,
    actor: &str,
    index: usize,
    digest: Option<String>,
    target: &Target,
    refusal: Refusal,
) -> IngestOutcome {
    let (subject, application, version) = match target {
        Target::Version { application, version } => (
            format!("version:{application}@{version}"),
            Some(application.clone()),
            Some(version.clone()),
        ),
        Target::BySubject => (
            format!("evidence:{}", digest.as_deref().unwrap_or("unparsed")),
            None,
            None,
        ),
    };
    crate::metrics::record_evidence(refusal.code.as_str());
    batch.events.push(NewEvent {
        actor: actor.to_string(),
        action: "evidence.add".into(),
        subject,
        application,
        version,
        result: EventResult::Failure,
        details: json!({ "index": index, "digest": digest, "refusal": refusal }),
    });
    IngestOutcome {
        index,
        digest,
        predicate_type: None,
        bindings: vec![],
        refusal: Some(refusal),
    }
}

/// One envelope (a JSON document), or a JSON Lines bundle of many.
fn split_bundle(body: &[u8]) -> Vec<std::result::Result<serde_json::Value, String>> {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        return vec![Ok(v)];
    }
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(_) => return vec![Err("the body is neither JSON nor UTF-8 JSON Lines".into())],
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return vec![Err(
            "the body is empty; expected a DSSE envelope or a JSON Lines bundle".into(),
        )];
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("bundle line {}: not valid JSON: {e}", i + 1)))
        .collect()
}

fn key_event(actor: &str, action: &str, key: &TrustedKey, details: serde_json::Value) -> NewEvent {
    NewEvent {
        actor: actor.to_string(),
        action: action.to_string(),
        subject: format!("key:{}", key.keyid),
        application: None,
        version: None,
        result: EventResult::Success,
        details,
    }
}
