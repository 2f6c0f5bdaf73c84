//! `gatehouse keys …`: the keys Gatehouse trusts to sign evidence.

use std::path::PathBuf;

use serde_json::json;

use super::{CmdResult, Ctx, read_text_file};
use crate::error::parse_input;
use crate::keys::{NewTrustedKey, TrustedKey};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Trust an ed25519 public key (SPKI PEM or raw hex) for evidence.
    Trust {
        #[arg(long)]
        name: String,
        /// Who holds the private key (a team, a CI system, a vendor).
        #[arg(long, default_value = "")]
        owner: String,
        /// File holding the public key.
        #[arg(long)]
        public_key: PathBuf,
        /// Only evidence of these predicate types counts when signed by this key (repeatable).
        #[arg(long = "allowed-predicate-type")]
        allowed_predicate_types: Vec<String>,
        /// RFC 3339.
        #[arg(long)]
        not_before: Option<String>,
        /// RFC 3339.
        #[arg(long)]
        not_after: Option<String>,
    },
    /// List trusted keys.
    List,
    /// Revoke a trusted key.
    Revoke {
        keyid: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    let gh = ctx.open()?;
    match cmd {
        Command::Trust {
            name,
            owner,
            public_key,
            allowed_predicate_types,
            not_before,
            not_after,
        } => {
            let doc = json!({
                "name": name,
                "owner": owner,
                "public_key": read_text_file(&public_key)?,
                "allowed_predicate_types": allowed_predicate_types,
                "not_before": not_before,
                "not_after": not_after,
            });
            let input: NewTrustedKey = parse_input("trusted key", doc)?;
            let key = gh.trust_key(&ctx.actor, input)?;
            ctx.print(&key, |k| format!("trusted key {} ({})", k.keyid, k.name));
        }
        Command::List => {
            let keys = gh.trusted_keys()?;
            ctx.print(&keys, |keys| keys.iter().map(line).collect::<Vec<_>>().join("\n"));
        }
        Command::Revoke { keyid, reason } => {
            let key = gh.revoke_key(&ctx.actor, &keyid, reason)?;
            ctx.print(&key, |k| format!("revoked key {} ({})", k.keyid, k.name));
        }
    }
    Ok(())
}

fn line(k: &TrustedKey) -> String {
    let status = if k.revoked_at.is_some() { "revoked" } else { "active" };
    format!("{}\t{}\t{}\t{}", k.keyid, k.name, k.owner, status)
}
