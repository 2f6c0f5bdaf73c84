//! Plugin signatures: a DSSE envelope beside the component (`PLUGIN.wasm.sig`)
//! whose payload names the component's SHA-256, signed by a vendor key. The
//! host verifies it against the vendor keys the operator trusts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use gatehouse_core::evidence::{self, pae};

pub const PAYLOAD_TYPE: &str = "application/vnd.gatehouse.plugin-signature+json";
pub const SIGNATURE_TYPE: &str = "https://gatehouse.dev/plugin-signature/v0.1";

/// A vendor key the operator trusts to sign plugins.
#[derive(Debug, Clone)]
pub struct VendorKey {
    pub name: String,
    pub keyid: String,
    pub key: VerifyingKey,
}

impl VendorKey {
    pub fn new(name: &str, key: VerifyingKey) -> VendorKey {
        VendorKey {
            name: name.to_string(),
            keyid: gatehouse_core::keys::keyid(&key),
            key,
        }
    }
}

/// A vendor's name from its key file: `acme.pub.pem` is "acme", and a
/// generic `acme/ed25519.pub.pem` (as `gatehouse keys generate` writes) is too.
pub fn vendor_name(path: &std::path::Path) -> String {
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem
        .trim_end_matches(".pem")
        .trim_end_matches(".pub")
        .trim_end_matches(".ed25519");
    if stem.is_empty() || stem == "ed25519" {
        path.parent()
            .and_then(|p| p.file_name())
            .map_or_else(|| "vendor".to_string(), |n| n.to_string_lossy().into_owned())
    } else {
        stem.to_string()
    }
}

/// Who vouches for a loaded plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[schemars(rename = "PluginSigner")]
pub enum Signer {
    /// Built into this binary from the repository's `plugins/`.
    Bundled,
    /// Signed by a trusted vendor key.
    Vendor { name: String, keyid: String },
    /// No signature file (allowed only while `require_signed_plugins` is false).
    Unsigned,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signer::Bundled => write!(f, "bundled (built into this binary)"),
            Signer::Vendor { name, keyid } => write!(f, "{name} (key {})", &keyid[..keyid.len().min(16)]),
            Signer::Unsigned => write!(f, "unsigned"),
        }
    }
}

/// The signature envelope for a component with this digest.
pub fn sign(key: &SigningKey, wasm_sha256: &str, name: Option<&str>, now: &str) -> Value {
    let payload = json!({
        "_type": SIGNATURE_TYPE,
        "wasm_sha256": wasm_sha256,
        "name": name,
        "signed_at": now,
    })
    .to_string()
    .into_bytes();
    let sig = key.sign(&pae(PAYLOAD_TYPE, &payload));
    json!({
        "payload": STANDARD.encode(&payload),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{ "keyid": gatehouse_core::keys::keyid(&key.verifying_key()), "sig": STANDARD.encode(sig.to_bytes()) }],
    })
}

/// Verify a signature file for a component of digest `wasm_sha256` loaded
/// under the plugin name `name` (the name bindings use: the signature must
/// name it, or a vendor's component could be admitted under another
/// plugin's name). The reason on failure is complete enough to show an
/// operator as is.
pub fn verify(sig_file: &[u8], wasm_sha256: &str, name: &str, trusted: &[VendorKey]) -> Result<Signer, String> {
    let env = evidence::parse_envelope(sig_file)
        .map_err(|r| format!("the signature file is not a DSSE envelope: {}", r.reason))?;
    if env.payload_type != PAYLOAD_TYPE {
        return Err(format!(
            "the signature's payloadType is {:?}, expected {PAYLOAD_TYPE:?}",
            env.payload_type
        ));
    }
    let message = pae(&env.payload_type, &env.payload);
    let mut signer = None;
    let mut unknown = Vec::new();
    for s in &env.signatures {
        let Some(k) = trusted.iter().find(|k| k.keyid == s.keyid) else {
            unknown.push(s.keyid.clone());
            continue;
        };
        let ok = evidence::decode_b64(&s.sig)
            .and_then(|b| Signature::from_slice(&b).ok())
            .is_some_and(|sig| k.key.verify_strict(&message, &sig).is_ok());
        if !ok {
            return Err(format!(
                "the signature by trusted key {} ({}) does not verify",
                k.name, k.keyid
            ));
        }
        signer = Some(k);
    }
    let Some(k) = signer else {
        return Err(if trusted.is_empty() {
            "it is signed, but no plugin signing keys are trusted (plugin_keys)".to_string()
        } else {
            format!(
                "it is signed by {}, which is not among the trusted plugin keys",
                if unknown.is_empty() {
                    "no key".to_string()
                } else {
                    unknown.join(", ")
                }
            )
        });
    };
    let payload: Value =
        serde_json::from_slice(&env.payload).map_err(|e| format!("the signed payload is not JSON: {e}"))?;
    let field = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or_default();
    if field("_type") != SIGNATURE_TYPE {
        return Err(format!(
            "the signed payload's _type is {:?}, expected {SIGNATURE_TYPE}",
            field("_type")
        ));
    }
    let signed = field("wasm_sha256");
    if signed != wasm_sha256 {
        return Err(format!(
            "the signature is for a component with sha256 {signed}, not this one ({wasm_sha256})"
        ));
    }
    match payload.get("name").and_then(Value::as_str) {
        Some(signed) if signed == name => {}
        Some(signed) => {
            return Err(format!(
                "the signature is for the plugin named {signed:?}, not {name:?} (the manifest's name)"
            ));
        }
        None => {
            return Err(format!(
                "the signature names no plugin; it must name {name:?} (gatehouse plugin sign --name {name})"
            ));
        }
    }
    Ok(Signer::Vendor {
        name: k.name.clone(),
        keyid: k.keyid.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn a_signature_verifies_only_for_its_component_and_a_trusted_key() {
        let vendor = key(7);
        let trusted = [VendorKey::new("acme", vendor.verifying_key())];
        let sig = sign(&vendor, "aa", Some("p"), "2026-01-01T00:00:00Z").to_string();
        assert!(
            matches!(verify(sig.as_bytes(), "aa", "p", &trusted), Ok(Signer::Vendor { name, .. }) if name == "acme")
        );
        let e = verify(sig.as_bytes(), "bb", "p", &trusted).unwrap_err();
        assert!(e.contains("not this one"), "{e}");
        let e = verify(sig.as_bytes(), "aa", "license-policy", &trusted).unwrap_err();
        assert!(e.contains("named \"p\", not \"license-policy\""), "{e}");
        let nameless = sign(&vendor, "aa", None, "2026-01-01T00:00:00Z").to_string();
        let e = verify(nameless.as_bytes(), "aa", "p", &trusted).unwrap_err();
        assert!(e.contains("names no plugin"), "{e}");
        let other = sign(&key(8), "aa", None, "2026-01-01T00:00:00Z").to_string();
        let e = verify(other.as_bytes(), "aa", "p", &trusted).unwrap_err();
        assert!(e.contains("not among the trusted"), "{e}");
        let mut tampered: Value = serde_json::from_str(&sig).unwrap();
        tampered["payload"] = json!(STANDARD.encode(json!({"_type": SIGNATURE_TYPE, "wasm_sha256": "bb"}).to_string()));
        let e = verify(tampered.to_string().as_bytes(), "bb", "p", &trusted).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        let e = verify(b"not json", "aa", "p", &trusted).unwrap_err();
        assert!(e.contains("not a DSSE envelope"), "{e}");
    }
}
