//! Ed25519 keys: parsing (PEM or raw hex), securesystemslib key ids, and the
//! trusted keys that evidence must be signed with.

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A public key Gatehouse trusts to sign evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrustedKey {
    /// securesystemslib key id: SHA-256 of the canonical key JSON.
    pub keyid: String,
    pub name: String,
    pub owner: String,
    pub keytype: String,
    /// Raw public key, lowercase hex.
    pub public: String,
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
    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`) or 64 hex characters.
    pub public_key: String,
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

impl NewTrustedKey {
    pub fn into_key(self, actor: &str, now: &str) -> Result<TrustedKey> {
        let vk = parse_public_key("public_key", &self.public_key)?;
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
            keyid: keyid(&vk),
            name: self.name,
            owner: self.owner,
            keytype: "ed25519".into(),
            public: hex::encode(vk.as_bytes()),
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
            public_key: pk,
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
}
