//! `gatehouse verify RECORD --key PUB.pem [--artifact FILE]...`: check a
//! Trusted Release record offline, with no server.

use std::path::PathBuf;

use super::{CmdResult, Ctx, Failure, read_text_file, usage};
use crate::keys::{self, KeyRing};
use crate::release;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record (a DSSE envelope).
    record: PathBuf,
    /// The release public key (SPKI PEM or raw hex), e.g. from GET /v1/keys.
    #[arg(long, required_unless_present = "keyid")]
    key: Option<PathBuf>,
    /// Pin the release key by its key id (securesystemslib style, as
    /// `GET /v1/keys` lists it). With `--key`, the key must have this id;
    /// without, the key is taken from `--keys` (a saved `GET /v1/keys`
    /// answer) or from the server (`--server`), and must have this id.
    #[arg(long)]
    keyid: Option<String>,
    /// A saved `GET /v1/keys` answer to take the pinned key from.
    #[arg(long, requires = "keyid")]
    keys: Option<PathBuf>,
    /// A file whose sha256 must be a subject of the record (repeatable).
    #[arg(long = "artifact")]
    artifacts: Vec<PathBuf>,
    /// The application the record must be about: a record of another
    /// application (say, one with byte-identical artifacts) is refused.
    #[arg(long = "app")]
    app: Option<String>,
    /// The version the record must be about.
    #[arg(long = "version")]
    version: Option<String>,
    /// Signed withdrawals (a JSON envelope, a JSON array of them, or JSON
    /// Lines): a record one of them withdraws is refused. With `--server`,
    /// the server's withdrawal of the record's version is consulted too.
    #[arg(long = "withdrawals")]
    withdrawals: Vec<PathBuf>,
}

/// Every envelope in a withdrawals file: one JSON document, an array, or JSON Lines.
fn read_withdrawals(path: &std::path::Path) -> Result<Vec<serde_json::Value>, Failure> {
    let text = read_text_file(path)?;
    let bad = |e: serde_json::Error| usage(format!("{}: not a withdrawal envelope: {e}", path.display()));
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Array(items)) => Ok(items),
        Ok(one) => Ok(vec![one]),
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(bad))
            .collect(),
    }
}

/// The key to verify with: the PEM given, or the one with the pinned key id
/// from a saved key list or the server; a key whose id differs from the pin
/// is refused (a served list may hold keys nobody should trust).
fn release_key(ctx: &Ctx, a: &Args) -> Result<(String, ed25519_dalek::VerifyingKey), Failure> {
    let (label, vk) = match (&a.key, &a.keyid) {
        (Some(path), _) => (
            path.display().to_string(),
            keys::parse_public_key(&format!("--key {}", path.display()), &read_text_file(path)?)?,
        ),
        (None, Some(pin)) => {
            let list: serde_json::Value = match &a.keys {
                Some(f) => serde_json::from_str(&read_text_file(f)?)
                    .map_err(|e| usage(format!("{}: not a GET /v1/keys answer: {e}", f.display())))?,
                None if ctx.server.is_some() => ctx.client()?.get("/v1/keys", &[])?,
                None => return Err(usage("--keyid needs --key, --keys FILE or --server URL".into())),
            };
            let pem = list
                .get("items")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .find(|k| k.get("keyid").and_then(serde_json::Value::as_str) == Some(pin.as_str()))
                .and_then(|k| k.get("public_key_pem").and_then(serde_json::Value::as_str))
                .ok_or_else(|| {
                    Failure::refused(
                        "unknown_key",
                        format!("refused: no published release key has the pinned key id {pin}"),
                    )
                })?;
            (format!("key {pin}"), keys::parse_public_key("--keyid", pem)?)
        }
        (None, None) => return Err(usage("give --key PEM or --keyid ID".into())),
    };
    if let Some(pin) = &a.keyid
        && keys::keyid(&vk) != *pin
    {
        return Err(Failure::refused(
            "wrong_key",
            format!(
                "refused: the key {label} has key id {}, not the pinned {pin}",
                keys::keyid(&vk)
            ),
        ));
    }
    Ok((label, vk))
}

pub fn run(ctx: &Ctx, a: Args) -> CmdResult {
    let (label, vk) = release_key(ctx, &a)?;
    let ring = KeyRing::single(&label, vk);
    let bytes = std::fs::read(&a.record).map_err(|e| usage(format!("cannot read {}: {e}", a.record.display())))?;
    let mut artifacts = Vec::new();
    for f in &a.artifacts {
        let mut file = std::fs::File::open(f).map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        std::io::copy(&mut file, &mut hasher).map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
        artifacts.push((f.display().to_string(), hex::encode(sha2::Digest::finalize(hasher))));
    }
    let summary = release::verify(&bytes, &ring, &artifacts).map_err(Failure::refusal)?;
    release::expect_about(&summary, a.app.as_deref(), a.version.as_deref()).map_err(Failure::refusal)?;
    let mut withdrawals = Vec::new();
    for f in &a.withdrawals {
        withdrawals.extend(read_withdrawals(f)?);
    }
    if ctx.server.is_some() {
        let path = format!(
            "/v1/applications/{}/versions/{}/withdrawal",
            super::client::seg(&summary.application),
            super::client::seg(&summary.version)
        );
        match ctx.client()?.get(&path, &[]) {
            Ok(w) => withdrawals.push(w),
            Err(f) if f.object.get("code").and_then(serde_json::Value::as_str) == Some("not_found") => {}
            Err(f) => return Err(f),
        }
    }
    release::check_withdrawals(&summary, &withdrawals, &ring).map_err(Failure::refusal)?;
    ctx.print(&summary, |s| {
        format!(
            "OK: Trusted Release of {}@{} released {} by {} — stages: {} — {} checks — waivers: {} — signed by {}{}",
            s.application,
            s.version,
            s.released_at,
            s.released_by,
            s.stages.join(", "),
            s.checks,
            if s.waivers.is_empty() {
                "none".to_string()
            } else {
                s.waivers.join(", ")
            },
            s.signers.join(", "),
            if artifacts.is_empty() {
                String::new()
            } else {
                format!(" — artifacts matched: {}", artifacts.len())
            }
        )
    });
    Ok(())
}
