//! sigstore-verify's cryptography over ring (already in the tree for TLS) and
//! RustCrypto's p256/p384 for the one thing ring cannot do: verify an ECDSA
//! signature over a digest the caller already has (message-signature bundles
//! name the artifact by digest). Verification only: Gatehouse never signs with
//! a Sigstore key.
//!
//! Why not the crate's default aws-lc-rs backend: it compiles a second C
//! crypto library beside ring (aws-lc-sys alone took 42 s of a 65 s release
//! build of sigstore-verify here, against 42 s for the whole build with this
//! provider); docs/architecture.md has the figures.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use ring::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use sha2::Digest;
use sigstore_verify::crypto::provider::{CryptoProvider, HashContext};
use sigstore_verify::crypto::{Error, Result, SigningScheme};
use sigstore_verify::types::HashAlgorithm;

/// The provider installed process-wide by [`install`].
#[derive(Debug)]
pub(crate) struct Ring;

static RING: Ring = Ring;

/// Install [`Ring`] as sigstore-verify's provider (idempotent; the first
/// installation wins, and nothing else in the process installs one).
pub(crate) fn install() {
    let _ = sigstore_verify::crypto::provider::install_default_provider(&RING);
}

enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl HashContext for Hasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    fn finalize(self: Box<Self>) -> Vec<u8> {
        match *self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

fn algorithm(scheme: SigningScheme) -> Result<&'static dyn VerificationAlgorithm> {
    Ok(match scheme {
        SigningScheme::EcdsaP256Sha256 => &sig::ECDSA_P256_SHA256_ASN1,
        SigningScheme::EcdsaP256Sha384 => &sig::ECDSA_P256_SHA384_ASN1,
        SigningScheme::EcdsaP384Sha256 => &sig::ECDSA_P384_SHA256_ASN1,
        SigningScheme::EcdsaP384Sha384 => &sig::ECDSA_P384_SHA384_ASN1,
        SigningScheme::Ed25519 => &sig::ED25519,
        SigningScheme::RsaPssSha256 => &sig::RSA_PSS_2048_8192_SHA256,
        SigningScheme::RsaPssSha384 => &sig::RSA_PSS_2048_8192_SHA384,
        SigningScheme::RsaPssSha512 => &sig::RSA_PSS_2048_8192_SHA512,
        SigningScheme::RsaPkcs1Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        SigningScheme::RsaPkcs1Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        SigningScheme::RsaPkcs1Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        other => return Err(unsupported(other)),
    })
}

fn unsupported(scheme: SigningScheme) -> Error {
    Error::UnsupportedAlgorithm(format!("{} signatures are not verified by Gatehouse", scheme.name()))
}

fn invalid(scheme: SigningScheme) -> Error {
    Error::Verification(format!("{} signature invalid", scheme.name()))
}

impl CryptoProvider for Ring {
    fn hash(&self, algorithm: HashAlgorithm) -> Result<Box<dyn HashContext>> {
        Ok(Box::new(match algorithm {
            HashAlgorithm::Sha2256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha2384 => Hasher::Sha384(sha2::Sha384::new()),
            HashAlgorithm::Sha2512 => Hasher::Sha512(sha2::Sha512::new()),
            other => return Err(Error::UnsupportedAlgorithm(format!("cannot compute {other} digests"))),
        }))
    }

    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        sha2::Sha256::digest(data).into()
    }

    fn sha384(&self, data: &[u8]) -> [u8; 48] {
        sha2::Sha384::digest(data).into()
    }

    fn sha512(&self, data: &[u8]) -> [u8; 64] {
        sha2::Sha512::digest(data).into()
    }

    fn verify_raw(&self, scheme: SigningScheme, key: &[u8], data: &[u8], signature: &[u8]) -> Result<()> {
        UnparsedPublicKey::new(algorithm(scheme)?, key)
            .verify(data, signature)
            .map_err(|_| invalid(scheme))
    }

    fn verify_prehashed(&self, scheme: SigningScheme, key: &[u8], digest: &[u8], signature: &[u8]) -> Result<()> {
        let verified = match scheme {
            SigningScheme::EcdsaP256Sha256 | SigningScheme::EcdsaP256Sha384 => {
                let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| invalid(scheme))?;
                let s = p256::ecdsa::Signature::from_der(signature).map_err(|_| invalid(scheme))?;
                vk.verify_prehash(digest, &s).is_ok()
            }
            SigningScheme::EcdsaP384Sha256 | SigningScheme::EcdsaP384Sha384 => {
                let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| invalid(scheme))?;
                let s = p384::ecdsa::Signature::from_der(signature).map_err(|_| invalid(scheme))?;
                vk.verify_prehash(digest, &s).is_ok()
            }
            other => return Err(unsupported(other)),
        };
        let expected = scheme.hash_algorithm().map(|h| h.digest_size());
        if verified && expected == Some(digest.len()) {
            Ok(())
        } else {
            Err(invalid(scheme))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    #[test]
    fn a_prehashed_p256_signature_verifies_over_its_digest_only() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let signature = pair.sign(&rng, b"the artifact").unwrap();
        let public = pair.public_key().as_ref();
        let digest = sha2::Sha256::digest(b"the artifact");
        let scheme = SigningScheme::EcdsaP256Sha256;
        Ring.verify_raw(scheme, public, b"the artifact", signature.as_ref())
            .unwrap();
        Ring.verify_prehashed(scheme, public, &digest, signature.as_ref())
            .unwrap();
        let other = sha2::Sha256::digest(b"another artifact");
        assert!(
            Ring.verify_prehashed(scheme, public, &other, signature.as_ref())
                .is_err()
        );
        assert!(
            Ring.verify_raw(scheme, public, b"another artifact", signature.as_ref())
                .is_err()
        );
        // A digest of the wrong length for the scheme is refused, not truncated.
        let long = sha2::Sha384::digest(b"the artifact");
        assert!(
            Ring.verify_prehashed(scheme, public, &long, signature.as_ref())
                .is_err()
        );
        assert!(
            Ring.verify_prehashed(SigningScheme::Ed25519, public, &digest, signature.as_ref())
                .is_err()
        );
    }
}
