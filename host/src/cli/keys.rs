//! `gatehouse keys …`: the keys Gatehouse trusts to sign evidence.

use std::path::PathBuf;

use serde_json::json;

use hyper::Method;

use super::client::seg;
use super::{CmdResult, Ctx, decode, read_text_file};
use crate::keys::{self, TrustedKey};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Generate an ed25519 key pair: DIR/ed25519.priv.pem (PKCS#8, mode 0600) and DIR/ed25519.pub.pem (SPKI).
    Generate {
        #[arg(long)]
        out: PathBuf,
    },
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
        #[command(flatten)]
        limits: Limits,
    },
    /// Trust a keyless (Sigstore) signer by identity: bundles whose verified
    /// certificate has this issuer and subject (and the claims given) count as signed by it.
    TrustIdentity {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        owner: String,
        /// The OIDC issuer, e.g. https://token.actions.githubusercontent.com.
        #[arg(long)]
        issuer: String,
        /// The certificate subject exactly, e.g. https://github.com/ORG/REPO/.github/workflows/release.yml@refs/tags/v1.2.3.
        #[arg(
            long,
            required_unless_present = "subject_pattern",
            conflicts_with = "subject_pattern"
        )]
        subject: Option<String>,
        /// A regular expression the whole subject must match.
        #[arg(long)]
        subject_pattern: Option<String>,
        /// The source repository claim, e.g. https://github.com/ORG/REPO.
        #[arg(long)]
        repository: Option<String>,
        /// The source ref claim, e.g. refs/heads/main.
        #[arg(long = "ref")]
        git_ref: Option<String>,
        /// The build configuration (workflow) claim.
        #[arg(long)]
        workflow: Option<String>,
        #[command(flatten)]
        limits: Limits,
    },
    /// List trusted keys and identities.
    List,
    /// Revoke a trusted key.
    Revoke {
        keyid: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

/// What a key and an identity are both limited by.
#[derive(Debug, clap::Args)]
pub struct Limits {
    /// Only evidence of these predicate types counts when signed by this signer (repeatable).
    #[arg(long = "allowed-predicate-type")]
    allowed_predicate_types: Vec<String>,
    /// RFC 3339.
    #[arg(long)]
    not_before: Option<String>,
    /// RFC 3339.
    #[arg(long)]
    not_after: Option<String>,
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    if let Command::Generate { out } = &cmd {
        return generate(ctx, out);
    }
    let api = ctx.client()?;
    match cmd {
        Command::Generate { .. } => {}
        Command::Trust {
            name,
            owner,
            public_key,
            limits,
        } => {
            let doc = json!({
                "name": name,
                "owner": owner,
                "public_key": read_text_file(&public_key)?,
                "allowed_predicate_types": limits.allowed_predicate_types,
                "not_before": limits.not_before,
                "not_after": limits.not_after,
            });
            trust(ctx, &api, &doc, "trusted key")?;
        }
        Command::TrustIdentity {
            name,
            owner,
            issuer,
            subject,
            subject_pattern,
            repository,
            git_ref,
            workflow,
            limits,
        } => {
            let doc = json!({
                "name": name,
                "owner": owner,
                "identity": {
                    "issuer": issuer,
                    "subject": subject,
                    "subject_pattern": subject_pattern,
                    "repository": repository,
                    "ref": git_ref,
                    "workflow": workflow,
                },
                "allowed_predicate_types": limits.allowed_predicate_types,
                "not_before": limits.not_before,
                "not_after": limits.not_after,
            });
            trust(ctx, &api, &doc, "trusted identity")?;
        }
        Command::List => {
            let keys: Vec<TrustedKey> = decode(
                "trusted keys",
                api.get("/v1/trusted-keys", &[])?
                    .get("items")
                    .cloned()
                    .unwrap_or_default(),
            )?;
            ctx.print(&keys, |keys| keys.iter().map(line).collect::<Vec<_>>().join("\n"));
        }
        Command::Revoke { keyid, reason } => {
            let path = format!("/v1/trusted-keys/{}/revoke", seg(&keyid));
            let key: TrustedKey = decode(
                "trusted key",
                api.call(Method::POST, &path, &[], Some(&json!({ "reason": reason })))?,
            )?;
            ctx.print(&key, |k| format!("revoked key {} ({})", k.keyid, k.name));
        }
    }
    Ok(())
}

/// `POST /v1/trusted-keys` with a key's or an identity's document.
fn trust(ctx: &Ctx, api: &super::client::Client, doc: &serde_json::Value, what: &str) -> CmdResult {
    let key: TrustedKey = decode(what, api.call(Method::POST, "/v1/trusted-keys", &[], Some(doc))?)?;
    ctx.print(&key, |k| format!("{what} {} ({})", k.keyid, k.name));
    Ok(())
}

fn generate(ctx: &Ctx, dir: &std::path::Path) -> CmdResult {
    let fail = |what: &str, e: &dyn std::fmt::Display| super::usage(format!("{what} {}: {e}", dir.display()));
    let private = dir.join("ed25519.priv.pem");
    let public = dir.join("ed25519.pub.pem");
    if private.exists() || public.exists() {
        return Err(super::usage(format!(
            "{} already holds a key; refusing to overwrite it",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| fail("cannot create", &e))?;
    let sk = keys::generate()?;
    let vk = sk.verifying_key();
    write_private(&private, &keys::private_key_pem(&sk)?).map_err(|e| fail("cannot write the private key in", &e))?;
    std::fs::write(&public, keys::public_key_pem(&vk)?).map_err(|e| fail("cannot write the public key in", &e))?;
    let summary = json!({
        "keyid": keys::keyid(&vk),
        "public_key": public.display().to_string(),
        "private_key": private.display().to_string(),
    });
    ctx.print(&summary, |s| {
        format!(
            "generated key {} in {}",
            s["keyid"].as_str().unwrap_or_default(),
            dir.display()
        )
    });
    Ok(())
}

/// Write a private key readable by its owner only.
fn write_private(path: &std::path::Path, pem: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(pem.as_bytes())
}

fn line(k: &TrustedKey) -> String {
    let status = if k.revoked_at.is_some() { "revoked" } else { "active" };
    let who = k.identity.as_ref().map_or_else(String::new, |i| {
        format!(
            "\t{} {}",
            i.issuer,
            i.subject
                .as_deref()
                .or(i.subject_pattern.as_deref())
                .unwrap_or_default()
        )
    });
    format!("{}\t{}\t{}\t{}{who}", k.keyid, k.name, k.owner, status)
}
