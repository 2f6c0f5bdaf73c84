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
    #[arg(long)]
    key: PathBuf,
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
}

pub fn run(ctx: &Ctx, a: Args) -> CmdResult {
    let vk = keys::parse_public_key(&format!("--key {}", a.key.display()), &read_text_file(&a.key)?)?;
    let ring = KeyRing::single(&a.key.display().to_string(), vk);
    let bytes = std::fs::read(&a.record).map_err(|e| usage(format!("cannot read {}: {e}", a.record.display())))?;
    let mut artifacts = Vec::new();
    for f in &a.artifacts {
        let mut file = std::fs::File::open(f).map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        std::io::copy(&mut file, &mut hasher).map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
        artifacts.push((f.display().to_string(), hex::encode(sha2::Digest::finalize(hasher))));
    }
    let summary =
        release::verify(&bytes, &ring, &artifacts).map_err(|r| Failure::from(anyhow::anyhow!("refused: {r}")))?;
    release::expect_about(&summary, a.app.as_deref(), a.version.as_deref())
        .map_err(|r| Failure::from(anyhow::anyhow!("refused: {r}")))?;
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
