//! Ed25519 keys: parsing (PEM or raw hex), securesystemslib key ids, and the
//! trusted keys that evidence must be signed with.

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// A signer Gatehouse trusts for evidence: an ed25519 public key, or a
/// keyless (Sigstore) identity — who Fulcio certified, not which key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrustedKey {
    /// securesystemslib key id: SHA-256 of the canonical key JSON; for an
    /// identity, `identity:` and the SHA-256 of its canonical rule.
    pub keyid: String,
    pub name: String,
    pub owner: String,
    /// `ed25519`, or `sigstore-identity`.
    pub keytype: String,
    /// Raw public key, lowercase hex (empty for an identity).
    pub public: String,
    /// The keyless identity trusted (set when `keytype` is `sigstore-identity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityRule>,
    /// When non-empty, evidence of other predicate types signed by this key does not count.
    pub allowed_predicate_types: Vec<String>,
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    pub not_before: Option<String>,
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    pub not_after: Option<String>,
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
    #[schemars(with = "crate::schema::Timestamp")]
    pub created_at: String,
    pub created_by: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrustedKey {
    #[schemars(length(max = 128), regex(pattern = crate::schema::NAME))]
    pub name: String,
    #[serde(default)]
    pub owner: String,
    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`) or 64 hex characters; exactly
    /// one of `public_key` and `identity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// A keyless signer trusted by identity: Sigstore bundles whose verified
    /// certificate matches count as signed by this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityRule>,
    /// When non-empty, evidence of other predicate types signed by this key does not count.
    #[serde(default)]
    #[schemars(inner(regex(pattern = crate::schema::WORD)))]
    pub allowed_predicate_types: Vec<String>,
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    pub not_before: Option<String>,
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    pub not_after: Option<String>,
}

/// Why a key may not be used at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    Revoked,
    NotYetValid,
    Expired,
}

/// Which keyless signers an identity entry trusts: the OIDC issuer exactly,
/// the certificate's subject (SAN) exactly or by a whole-string pattern, and
/// optionally Fulcio's claims about the CI workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityRule {
    /// The OIDC issuer, e.g. `https://token.actions.githubusercontent.com`.
    pub issuer: String,
    /// The subject exactly, e.g. `https://github.com/ORG/REPO/.github/workflows/release.yml@refs/tags/v1.2.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A regular expression the whole subject must match (anchored for you),
    /// e.g. `https://github\.com/acme/shop/\.github/workflows/release\.yml@refs/tags/v.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_pattern: Option<String>,
    /// The source repository claim (Fulcio 1.3.6.1.4.1.57264.1.12), e.g. `https://github.com/acme/shop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The source ref claim (…1.14), e.g. `refs/tags/v1.2.3` or `refs/heads/main`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "ref")]
    pub git_ref: Option<String>,
    /// The build configuration claim (…1.18): the workflow file and ref that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

/// The largest subject pattern accepted (bytes), and the compiled size allowed.
const MAX_PATTERN: usize = 1024;

impl IdentityRule {
    fn check(&self) -> Result<()> {
        let uri = |field: &str, v: &str| {
            if v.is_empty() || v.len() > 1024 || v.chars().any(char::is_whitespace) {
                Err(Error::invalid(
                    field,
                    v,
                    "a URI or name without spaces, 1 to 1024 characters",
                ))
            } else {
                Ok(())
            }
        };
        uri("identity.issuer", &self.issuer)?;
        match (&self.subject, &self.subject_pattern) {
            (Some(s), None) => uri("identity.subject", s)?,
            (None, Some(p)) => {
                self.pattern()?;
                if p.len() > MAX_PATTERN {
                    return Err(Error::invalid("identity.subject_pattern", p, "at most 1024 characters"));
                }
            }
            _ => {
                return Err(Error::invalid(
                    "identity",
                    "subject and subject_pattern",
                    "exactly one of subject (exact) and subject_pattern (a regular expression)",
                ));
            }
        }
        for (field, v) in [
            ("identity.repository", &self.repository),
            ("identity.ref", &self.git_ref),
            ("identity.workflow", &self.workflow),
        ] {
            if let Some(v) = v {
                uri(field, v)?;
            }
        }
        Ok(())
    }

    fn pattern(&self) -> Result<Option<regex::Regex>> {
        let Some(p) = &self.subject_pattern else {
            return Ok(None);
        };
        regex::RegexBuilder::new(&format!("^(?:{p})$"))
            .size_limit(1 << 20)
            .build()
            .map(Some)
            .map_err(|e| Error::invalid("identity.subject_pattern", p, format!("a regular expression ({e})")))
    }

    /// Whether a verified keyless signer is this identity: `subject` is the
    /// certificate's SAN, `claims` its Fulcio claims by Gatehouse's names
    /// (`repository`, `ref`, `workflow`, …).
    pub fn matches(&self, issuer: &str, subject: &str, claims: &BTreeMap<String, String>) -> bool {
        let subject_ok = match (&self.subject, self.pattern()) {
            (Some(s), _) => s == subject,
            (None, Ok(Some(re))) => re.is_match(subject),
            _ => false,
        };
        let claim_ok =
            |name: &str, want: &Option<String>| want.as_ref().is_none_or(|w| claims.get(name).is_some_and(|v| v == w));
        self.issuer == issuer
            && subject_ok
            && claim_ok("repository", &self.repository)
            && claim_ok("ref", &self.git_ref)
            && claim_ok("workflow", &self.workflow)
    }

    /// `identity:` and the SHA-256 of the rule's canonical JSON.
    pub fn keyid(&self) -> String {
        let canonical = serde_json_canonicalizer::to_vec(self).unwrap_or_default();
        format!("identity:{}", hex::encode(Sha256::digest(&canonical)))
    }
}

impl NewTrustedKey {
    pub fn into_key(self, actor: &str, now: &str) -> Result<TrustedKey> {
        let (keyid, keytype, public, identity) = match (&self.public_key, self.identity) {
            (Some(pk), None) => {
                let vk = parse_public_key("public_key", pk)?;
                (keyid(&vk), "ed25519", hex::encode(vk.as_bytes()), None)
            }
            (None, Some(rule)) => {
                rule.check()?;
                (rule.keyid(), "sigstore-identity", String::new(), Some(rule))
            }
            _ => {
                return Err(Error::invalid(
                    "public_key",
                    if self.public_key.is_some() {
                        "both public_key and identity"
                    } else {
                        "neither"
                    },
                    "exactly one of public_key (an ed25519 key) and identity (a keyless signer)",
                ));
            }
        };
        if self.name.trim().is_empty() || self.name.chars().count() > 128 {
            return Err(Error::invalid("name", &self.name, "1 to 128 characters"));
        }
        for (i, t) in self.allowed_predicate_types.iter().enumerate() {
            if t.is_empty() || t.chars().any(char::is_whitespace) {
                return Err(Error::invalid(
                    format!("allowed_predicate_types[{i}]"),
                    t,
                    "a predicate type URI",
                ));
            }
        }
        let not_before = self
            .not_before
            .map(|t| crate::time::parse("not_before", &t))
            .transpose()?;
        let not_after = self
            .not_after
            .map(|t| crate::time::parse("not_after", &t))
            .transpose()?;
        if let (Some(b), Some(a)) = (&not_before, &not_after)
            && a <= b
        {
            return Err(Error::invalid("not_after", a, format!("a time after not_before ({b})")));
        }
        Ok(TrustedKey {
            keyid,
            name: self.name,
            owner: self.owner,
            keytype: keytype.into(),
            public,
            identity,
            allowed_predicate_types: self.allowed_predicate_types,
            not_before,
            not_after,
            revoked_at: None,
            revoked_reason: None,
            created_at: now.to_string(),
            created_by: actor.to_string(),
        })
    }
}

impl TrustedKey {
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        parse_public_key("public", &self.public)
    }

    /// Whether the key may vouch for something at `now` (normalised RFC 3339).
    pub fn usable_at(&self, now: &str) -> Result<(), Unusable> {
        if self.revoked_at.is_some() {
            return Err(Unusable::Revoked);
        }
        if self.not_before.as_deref().is_some_and(|b| now < b) {
            return Err(Unusable::NotYetValid);
        }
        if self.not_after.as_deref().is_some_and(|a| now >= a) {
            return Err(Unusable::Expired);
        }
        Ok(())
    }

    pub fn allows_predicate(&self, predicate_type: &str) -> bool {
        self.allowed_predicate_types.is_empty() || self.allowed_predicate_types.iter().any(|t| t == predicate_type)
    }
}

/// A Sigstore trusted root (`trusted_root.json`) the operator imported:
/// bundles verify against the roots that hold their transparency log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrustedRoot {
    /// The operator's name for it, e.g. `public-good` or `acme-private`.
    pub name: String,
    /// `sha256:` of the file as imported.
    pub digest: String,
    /// The file as imported (Sigstore's protobuf-specs JSON).
    pub document: String,
    #[schemars(with = "crate::schema::Timestamp")]
    pub imported_at: String,
    pub imported_by: String,
}

/// Trusted keys by key id, each parsed once.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: std::collections::BTreeMap<String, (TrustedKey, VerifyingKey)>,
}

impl KeyRing {
    pub fn new(keys: impl IntoIterator<Item = TrustedKey>) -> KeyRing {
        let keys = keys
            .into_iter()
            .filter_map(|k| k.verifying_key().ok().map(|vk| (k.keyid.clone(), (k, vk))))
            .collect();
        KeyRing { keys }
    }

    /// A ring of one key, for offline checks against a key given on the command line.
    pub fn single(name: &str, vk: VerifyingKey) -> KeyRing {
        let key = TrustedKey {
            keyid: keyid(&vk),
            name: name.to_string(),
            owner: String::new(),
            keytype: "ed25519".into(),
            public: hex::encode(vk.as_bytes()),
            identity: None,
            allowed_predicate_types: vec![],
            not_before: None,
            not_after: None,
            revoked_at: None,
            revoked_reason: None,
            created_at: String::new(),
            created_by: String::new(),
        };
        KeyRing {
            keys: [(key.keyid.clone(), (key, vk))].into(),
        }
    }

    pub fn get(&self, keyid: &str) -> Option<(&TrustedKey, &VerifyingKey)> {
        self.keys.get(keyid).map(|(k, vk)| (k, vk))
    }
}

/// The key id securesystemslib gives an ed25519 key: SHA-256 over the
/// canonical JSON `{"keytype":"ed25519","keyval":{"public":HEX},"scheme":"ed25519"}`.
pub fn keyid(vk: &VerifyingKey) -> String {
    let canonical = format!(
        r#"{{"keytype":"ed25519","keyval":{{"public":"{}"}},"scheme":"ed25519"}}"#,
        hex::encode(vk.as_bytes())
    );
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// A public key as SPKI PEM, or 64 hex characters of the raw key.
pub fn parse_public_key(field: &str, text: &str) -> Result<VerifyingKey> {
    let text = text.trim();
    let expected = "an ed25519 public key: SPKI PEM (-----BEGIN PUBLIC KEY-----) or 64 hex characters";
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text)
            .map_err(|e| Error::invalid(field, format!("PEM ({e})"), expected));
    }
    let bytes: [u8; 32] = hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::invalid(field, abbreviate(text), expected))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| Error::invalid(field, abbreviate(text), format!("{expected} ({e})")))
}

/// A private key as PKCS#8 PEM, or 64 hex characters of the seed.
pub fn parse_private_key(field: &str, text: &str) -> Result<SigningKey> {
    let text = text.trim();
    let expected = "an ed25519 private key: PKCS#8 PEM (-----BEGIN PRIVATE KEY-----) or a 64-hex-character seed";
    if text.starts_with("-----BEGIN") {
        return SigningKey::from_pkcs8_pem(text).map_err(|e| Error::invalid(field, format!("PEM ({e})"), expected));
    }
    let seed: [u8; 32] = hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::invalid(field, "(not shown)", expected))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A fresh ed25519 key from the operating system's random source.
pub fn generate() -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| Error::internal_msg(format!("no randomness from the operating system: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

pub fn public_key_pem(vk: &VerifyingKey) -> Result<String> {
    vk.to_public_key_pem(Default::default())
        .map_err(|e| Error::internal("cannot encode public key", e))
}

pub fn private_key_pem(sk: &SigningKey) -> Result<String> {
    sk.to_pkcs8_pem(Default::default())
        .map(|p| p.to_string())
        .map_err(|e| Error::internal("cannot encode private key", e))
}

fn abbreviate(s: &str) -> String {
    if s.len() > 80 {
        format!("{}… ({} characters)", s.chars().take(40).collect::<String>(), s.len())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/shared/dsse/keys");

    fn read(name: &str) -> String {
        std::fs::read_to_string(format!("{KEYS}/{name}")).unwrap()
    }

    #[test]
    fn key_ids_match_securesystemslib() {
        for who in ["primary", "other"] {
            let sslib: serde_json::Value = serde_json::from_str(&read(&format!("{who}.sslib-key.json"))).unwrap();
            let from_pem = parse_public_key("k", &read(&format!("{who}.ed25519.pub.pem"))).unwrap();
            let from_hex = parse_public_key("k", &read(&format!("{who}.ed25519.pub.hex"))).unwrap();
            assert_eq!(from_pem, from_hex);
            assert_eq!(keyid(&from_pem), sslib["keyid"].as_str().unwrap());
            let sk = parse_private_key("k", &read(&format!("{who}.ed25519.priv.pem"))).unwrap();
            assert_eq!(sk.verifying_key(), from_pem);
        }
    }

    #[test]
    fn bad_keys_name_the_field() {
        let e = parse_public_key("public_key", "abcd").unwrap_err().to_string();
        assert!(e.contains("public_key") && e.contains("64 hex"), "{e}");
        let e = parse_public_key(
            "public_key",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("PEM"), "{e}");
    }

    #[test]
    fn validity_windows_and_revocation() {
        let pk = read("primary.ed25519.pub.hex");
        let key = NewTrustedKey {
            name: "ci".into(),
            owner: "".into(),
            public_key: Some(pk),
            identity: None,
            allowed_predicate_types: vec![],
            not_before: Some("2026-01-01T00:00:00Z".into()),
            not_after: Some("2027-01-01T00:00:00Z".into()),
        }
        .into_key("admin", "t")
        .unwrap();
        assert_eq!(key.usable_at("2025-06-01T00:00:00.000000Z"), Err(Unusable::NotYetValid));
        assert_eq!(key.usable_at("2026-06-01T00:00:00.000000Z"), Ok(()));
        assert_eq!(key.usable_at("2027-01-01T00:00:00.000000Z"), Err(Unusable::Expired));
        let revoked = TrustedKey {
            revoked_at: Some("x".into()),
            ..key
        };
        assert_eq!(revoked.usable_at("2026-06-01T00:00:00.000000Z"), Err(Unusable::Revoked));
    }

    fn rule(subject: Option<&str>, pattern: Option<&str>) -> IdentityRule {
        IdentityRule {
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: subject.map(Into::into),
            subject_pattern: pattern.map(Into::into),
            repository: None,
            git_ref: None,
            workflow: None,
        }
    }

    #[test]
    fn an_identity_matches_issuer_subject_and_the_claims_it_names() {
        let ours = "https://github.com/acme/shop/.github/workflows/release.yml@refs/tags/v1.2.3";
        let claims: BTreeMap<String, String> = [
            ("repository".to_string(), "https://github.com/acme/shop".to_string()),
            ("ref".to_string(), "refs/tags/v1.2.3".to_string()),
        ]
        .into();
        let gh = "https://token.actions.githubusercontent.com";
        let exact = rule(Some(ours), None);
        assert!(exact.matches(gh, ours, &claims));
        assert!(!exact.matches("https://accounts.example.com", ours, &claims));
        assert!(!exact.matches(gh, &ours.replace("acme", "mallory"), &claims));
        // A pattern matches the whole subject: a prefix or a longer subject does not.
        let tags = rule(
            None,
            Some(r"https://github\.com/acme/shop/\.github/workflows/release\.yml@refs/tags/v.*"),
        );
        assert!(tags.matches(gh, ours, &claims));
        assert!(!tags.matches(
            gh,
            "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main",
            &claims
        ));
        assert!(!tags.matches(gh, &format!("https://evil.example/?{ours}"), &claims));
        let partial = rule(None, Some("acme"));
        assert!(!partial.matches(gh, ours, &claims));
        // Claims named by the rule must be present and equal.
        let pinned = IdentityRule {
            repository: Some("https://github.com/acme/shop".into()),
            git_ref: Some("refs/tags/v1.2.3".into()),
            ..rule(None, Some(".*"))
        };
        assert!(pinned.matches(gh, ours, &claims));
        assert!(!pinned.matches(gh, ours, &BTreeMap::new()));
        let other_ref = IdentityRule {
            git_ref: Some("refs/heads/main".into()),
            ..pinned.clone()
        };
        assert!(!other_ref.matches(gh, ours, &claims));
        assert!(exact.keyid().starts_with("identity:") && exact.keyid() != tags.keyid());
    }

    #[test]
    fn a_new_signer_is_a_key_or_an_identity_and_bad_rules_name_their_field() {
        let new = |public_key: Option<String>, identity: Option<IdentityRule>| NewTrustedKey {
            name: "ci".into(),
            owner: "".into(),
            public_key,
            identity,
            allowed_predicate_types: vec![],
            not_before: None,
            not_after: None,
        };
        let pk = read("primary.ed25519.pub.hex");
        let id = new(None, Some(rule(Some("https://x.example/w"), None)))
            .into_key("admin", "t")
            .unwrap();
        assert_eq!(id.keytype, "sigstore-identity");
        assert!(id.public.is_empty() && id.keyid.starts_with("identity:"));
        for (input, field) in [
            (new(Some(pk), Some(rule(Some("s"), None))), "public_key"),
            (new(None, None), "public_key"),
            (new(None, Some(rule(None, None))), "identity"),
            (new(None, Some(rule(Some("s"), Some("p")))), "identity"),
            (
                new(None, Some(rule(None, Some("(unclosed")))),
                "identity.subject_pattern",
            ),
            (
                new(
                    None,
                    Some(IdentityRule {
                        issuer: "".into(),
                        ..rule(Some("s"), None)
                    }),
                ),
                "identity.issuer",
            ),
            (
                new(
                    None,
                    Some(IdentityRule {
                        git_ref: Some("has space".into()),
                        ..rule(Some("s"), None)
                    }),
                ),
                "identity.ref",
            ),
        ] {
            let e = input.into_key("admin", "t").unwrap_err().to_string();
            assert!(e.contains(&format!("`{field}`")), "{field}: {e}");
        }
    }
}
