//! What every backend decides the same way inside a write transaction, as
//! pure functions over what it read: whether what an allowed verdict relied
//! on is still in force, whether a stage still exists, and the wording of
//! each refusal. The backends differ only in how they read and write.

use gatehouse_core::error::{Error, Result};
use gatehouse_core::keys::TrustedKey;
use gatehouse_core::lifecycle::Lifecycle;
use gatehouse_core::waiver::{Waiver, WaiverStatus};

use crate::Reliance;

/// Every waiver and key an allowed verdict relied on is still in force, as
/// `waiver` and `key` read them inside the committing transaction.
pub fn still_in_force(
    relied: &Reliance,
    now: &str,
    mut waiver: impl FnMut(&str) -> Result<Option<Waiver>>,
    mut key: impl FnMut(&str) -> Result<Option<TrustedKey>>,
) -> Result<()> {
    for id in &relied.waivers {
        let ok = waiver(id)?.is_some_and(|w| w.status == WaiverStatus::Approved && now < w.expires_at.as_str());
        if !ok {
            return Err(Error::conflict(format!(
                "waiver {id} was revoked or expired while the gates ran; nothing was committed (ask again: the gates will be evaluated anew)"
            )));
        }
    }
    for keyid in &relied.keys {
        if key(keyid)?.is_none_or(|k| k.usable_at(now).is_err()) {
            return Err(Error::conflict(format!(
                "trusted key {keyid} was revoked while the gates ran, and evidence it signed was judged; nothing was committed (ask again: the gates will be evaluated anew)"
            )));
        }
    }
    Ok(())
}

/// Whether `stage` is a stage of lifecycle `name` as stored (`stored`), or
/// of the built-in default while no stored lifecycle replaces it.
pub fn stage_exists(name: &str, stored: Option<Lifecycle>, stage: &str) -> bool {
    let lc = match stored {
        Some(lc) => lc,
        None if name == gatehouse_core::lifecycle::DEFAULT_LIFECYCLE => Lifecycle::default_lifecycle(),
        None => return false,
    };
    lc.stage_names().contains(&stage)
}

/// A transition into a stage its lifecycle no longer has.
pub fn stage_gone(stage: &str, lifecycle: &str) -> Error {
    Error::conflict(format!(
        "stage {stage} is no longer part of lifecycle {lifecycle:?} (it changed while the gates ran); nothing was committed"
    ))
}

/// A compare-and-set on a version's revision that found another revision.
pub fn version_changed(application: &str, version: &str) -> Error {
    Error::conflict(format!(
        "version {application}@{version} was changed by another request at the same time; read it again and retry"
    ))
}

/// A second Trusted Release record for one version.
pub fn record_exists(application: &str, version: &str) -> Error {
    Error::conflict(format!(
        "{application}@{version} already has a Trusted Release record; records are immutable (create a new version)"
    ))
}

/// A lifecycle change that would strand versions in stages it drops.
pub fn stages_in_use(orphaned: &[String], lifecycle: &str) -> Error {
    Error::conflict(format!(
        "versions stand in stage(s) {} of lifecycle {lifecycle:?}; keep those stages or roll the versions back first",
        orphaned.join(", ")
    ))
}

/// A project claimed by two lifecycles.
pub fn project_taken(project: &str, other: &str) -> Error {
    Error::conflict(format!(
        "project {project:?} already climbs lifecycle {other:?}; remove it there first"
    ))
}

/// A waiver decision that lost a race.
pub fn waiver_moved(id: &str, now: Option<String>, expected: &str) -> Error {
    Error::conflict(format!(
        "waiver {id} was {} by a concurrent request (expected it {expected}); nothing changed",
        now.unwrap_or_else(|| "deleted".into())
    ))
}

/// The text form of a waiver status, as stored in its document.
pub fn status_text(status: WaiverStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The key that signs log heads, with what the key history records of it.
pub struct HeadKey {
    pub key: ed25519_dalek::SigningKey,
    pub keyid: String,
    pub public_pem: String,
    /// Keys from the key files (this one included) whose heads vouch for a log.
    pub trusted: std::collections::BTreeMap<String, ed25519_dalek::VerifyingKey>,
}

impl HeadKey {
    /// `key` signs; it and `trusted` (the release public keys from the key files) vouch.
    pub fn new(key: &ed25519_dalek::SigningKey, trusted: &[ed25519_dalek::VerifyingKey]) -> Result<HeadKey> {
        let vk = key.verifying_key();
        Ok(HeadKey {
            key: key.clone(),
            keyid: gatehouse_core::keys::keyid(&vk),
            public_pem: gatehouse_core::keys::public_key_pem(&vk)?,
            trusted: trusted
                .iter()
                .chain(std::iter::once(&vk))
                .map(|k| (gatehouse_core::keys::keyid(k), *k))
                .collect(),
        })
    }

    /// The hex signature of a head.
    pub fn sign(&self, seq: i64, hash: &str) -> String {
        use ed25519_dalek::Signer;
        hex::encode(self.key.sign(&crate::head_message(seq, hash)).to_bytes())
    }
}
