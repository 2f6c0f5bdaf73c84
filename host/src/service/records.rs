//! Trusted Release records, the release key, and signed log checkpoints.

use std::path::Path;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Gatehouse, validate_actor};
use crate::app::Application;
use crate::audit::{EventResult, NewEvent};
use crate::error::{Error, Result};
use crate::gate::GateVerdict;
use crate::keys;
use crate::release::{self, Checkpoint, Inputs, ReleaseWrite};
use crate::version::Version;

/// The release key from `configured`, or the default one under the data
/// directory, generated (mode 0600) the first time.
pub fn load_release_key(data_dir: &Path, configured: Option<&Path>) -> Result<SigningKey> {
    load_key(data_dir, configured, "release")
}

/// The key that signs collectors' statements: DATA_DIR/keys/collector.ed25519.priv.pem,
/// generated (mode 0600) the first time.
pub fn load_collector_key(data_dir: &Path) -> Result<SigningKey> {
    load_key(data_dir, None, "collector")
}

fn load_key(data_dir: &Path, configured: Option<&Path>, role: &str) -> Result<SigningKey> {
    let path = configured.map_or_else(
        || data_dir.join("keys").join(format!("{role}.ed25519.priv.pem")),
        Path::to_path_buf,
    );
    let field = format!("{role}_key");
    match std::fs::read_to_string(&path) {
        Ok(pem) => keys::parse_private_key(&field, &pem),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && configured.is_none() => {
            let key = keys::generate()?;
            let fail =
                |e: std::io::Error| Error::internal(format!("cannot write the {role} key {}", path.display()), e);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(fail)?;
            }
            write_private(&path, &keys::private_key_pem(&key)?).map_err(fail)?;
            let public = path.with_file_name(format!("{role}.ed25519.pub.pem"));
            std::fs::write(&public, keys::public_key_pem(&key.verifying_key())?).map_err(fail)?;
            tracing::info!(path = %path.display(), keyid = %keys::keyid(&key.verifying_key()), "generated the {role} key");
            Ok(key)
        }
        Err(e) => Err(Error::invalid(
            field,
            path.display().to_string(),
            format!("a readable PKCS#8 PEM file ({e})"),
        )),
    }
}

/// Release public keys from the key files, which vouch for the log's signed
/// heads: `DATA_DIR/keys/release*.pub.pem` and every `*.pem` public key in
/// `DATA_DIR/keys/release-history/` (keep a rotated key's public half there).
/// Someone who can write the database but not these files cannot add one.
pub fn release_key_files(data_dir: &Path) -> Vec<ed25519_dalek::VerifyingKey> {
    let keys = data_dir.join("keys");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&keys)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("release") && n.ends_with(".pub.pem"))
        })
        .collect();
    files.extend(
        std::fs::read_dir(keys.join("release-history"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pem")),
    );
    files.sort();
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|pem| keys::parse_public_key("key", &pem).ok())
        .collect()
}

fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(pem.as_bytes())
}

/// A public key Gatehouse signs with, now or before.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PublicKey {
    pub keyid: String,
    pub public_key_pem: String,
    pub current: bool,
    pub first_used: Option<String>,
}

impl Gatehouse {
    /// Build and sign the record, VSA and checkpoint for a release about to commit.
    pub(super) fn release_write(
        &self,
        app: &Application,
        v: &Version,
        gates: &[GateVerdict],
        actor: &str,
    ) -> Result<ReleaseWrite> {
        if self.store.trusted_release(&v.application, &v.version)?.is_some() {
            return Err(Error::conflict(format!(
                "{}@{} already has a Trusted Release record; records are immutable (create a new version)",
                v.application, v.version
            )));
        }
        let mut evaluations = self.store.gate_evaluations(&v.application, &v.version)?;
        evaluations.extend(gates.iter().cloned());
        let evidence = self.gate_evidence(v)?;
        let waivers = self.store.waivers(Some(&v.application), Some(&v.version))?;
        let head = self.store.log_head()?;
        let released_at = v.released_at.clone().unwrap_or_else(crate::time::now);
        let bindings = self.all_bindings()?;
        let verified_levels = release::verified_levels(gates, |id| {
            bindings
                .iter()
                .find(|b| b.id == id)
                .and_then(|b| b.params.get("min_level"))
                .and_then(serde_json::Value::as_u64)
        });
        let inputs = Inputs {
            verified_levels: &verified_levels,
            application: app,
            version: v,
            released_at: &released_at,
            released_by: actor,
            evaluations: &evaluations,
            evidence: &evidence,
            waivers: &waivers,
            log_head: &head,
        };
        let policy_digest = self.policy_digest()?;
        let (record, vsa) = release::sign(&self.release_key, &inputs, &policy_digest);
        let vk = self.release_key.verifying_key();
        Ok(ReleaseWrite {
            // RFC 8785 over the signed envelope; its members are ASCII strings,
            // for which the sorted-keys form of older records gives the same bytes.
            digest: hex::encode(Sha256::digest(crate::audit::jcs(&record))),
            record,
            vsa,
            keyid: keys::keyid(&vk),
            public_pem: keys::public_key_pem(&vk)?,
            checkpoint: release::checkpoint(&self.release_key, &head, &released_at),
        })
    }

    /// The withdrawal of a Trusted Release about to be rolled back (None when
    /// the version has no record).
    pub(super) fn withdrawal_write(
        &self,
        v: &Version,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Option<release::WithdrawalWrite>> {
        let Some((record, _)) = self.store.trusted_release(&v.application, &v.version)? else {
            return Ok(None);
        };
        let record_digest = hex::encode(Sha256::digest(crate::audit::canonical_json(&record)));
        let now = crate::time::now();
        let vk = self.release_key.verifying_key();
        Ok(Some(release::WithdrawalWrite {
            envelope: release::sign_withdrawal(&self.release_key, v, &record_digest, actor, &now, reason),
            keyid: keys::keyid(&vk),
            public_pem: keys::public_key_pem(&vk)?,
            time: now,
        }))
    }

    /// The signed withdrawal of a version's Trusted Release.
    pub fn withdrawal(&self, app: &str, version: &str) -> Result<Value> {
        self.version(app, version)?;
        self.store.withdrawal(app, version)?.ok_or_else(|| Error::NotFound {
            kind: "withdrawal",
            id: format!("{app}@{version}"),
        })
    }

    /// One digest over every binding and the digest of every loaded policy.
    fn policy_digest(&self) -> Result<String> {
        let bindings = self.all_bindings()?;
        let policies: Vec<Value> = self.policies().iter().map(|p| json!([p.name, p.digest])).collect();
        Ok(hex::encode(Sha256::digest(crate::audit::canonical_json(
            &json!({ "bindings": bindings, "policies": policies }),
        ))))
    }

    /// The record and the VSA of a released version.
    pub fn trusted_release(&self, app: &str, version: &str) -> Result<(Value, Value)> {
        self.version(app, version)?;
        self.store
            .trusted_release(app, version)?
            .ok_or_else(|| Error::NotFound {
                kind: "trusted release record",
                id: format!("{app}@{version}"),
            })
    }

    /// The VSA of a released version. A withdrawn release has no VSA to serve
    /// as a passing verdict: it answers `withdrawn` with the signed withdrawal,
    /// unless `include_withdrawn` asks for the original (an audit wants it).
    pub fn vsa(&self, app: &str, version: &str, include_withdrawn: bool) -> Result<Value> {
        let (_, vsa) = self.trusted_release(app, version)?;
        if !include_withdrawn && let Some(withdrawal) = self.store.withdrawal(app, version)? {
            return Err(Error::Withdrawn {
                app: app.to_string(),
                version: version.to_string(),
                withdrawal: Box::new(withdrawal),
            });
        }
        Ok(vsa)
    }

    /// The current release key and the earlier ones, from the key files only
    /// (`DATA_DIR/keys/release*.pub.pem`, `DATA_DIR/keys/release-history/`):
    /// someone who can write the database but not those files cannot add a
    /// key here. When each was first used comes from the store (informative).
    pub fn public_keys(&self) -> Result<Vec<PublicKey>> {
        let current = keys::keyid(&self.release_key.verifying_key());
        let first_used: std::collections::BTreeMap<String, String> = self
            .store
            .release_keys()?
            .into_iter()
            .map(|(keyid, _, first)| (keyid, first))
            .collect();
        let mut out = vec![PublicKey {
            keyid: current.clone(),
            public_key_pem: keys::public_key_pem(&self.release_key.verifying_key())?,
            current: true,
            first_used: first_used.get(&current).cloned(),
        }];
        let mut earlier = Vec::new();
        for (keyid, vk) in &self.head_keys {
            if *keyid != current {
                earlier.push(PublicKey {
                    keyid: keyid.clone(),
                    public_key_pem: keys::public_key_pem(vk)?,
                    current: false,
                    first_used: first_used.get(keyid).cloned(),
                });
            }
        }
        earlier.sort_by(|a, b| (&a.first_used, &a.keyid).cmp(&(&b.first_used, &b.keyid)));
        out.extend(earlier);
        Ok(out)
    }

    /// Sign the current log head on demand.
    pub fn checkpoint(&self, actor: &str) -> Result<Checkpoint> {
        let actor = validate_actor(actor)?;
        let head = self.store.log_head()?;
        let cp = release::checkpoint(&self.release_key, &head, &crate::time::now());
        let event = NewEvent {
            actor: actor.to_string(),
            action: "log.checkpoint".into(),
            subject: "activity-log".into(),
            application: None,
            version: None,
            result: EventResult::Success,
            details: json!({ "head_seq": head.seq, "head_hash": head.hash }),
        };
        let pem = keys::public_key_pem(&self.release_key.verifying_key())?;
        self.store.put_checkpoint(&cp, &pem, event)?;
        Ok(cp)
    }

    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        self.store.checkpoints()
    }
}
