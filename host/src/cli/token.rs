//! `gatehouse token …`: bearer tokens for the API. On a local data directory
//! this is how the first admin token is made.

use hyper::Method;
use serde_json::json;

use super::client::seg;
use super::{CmdResult, Ctx, decode};
use crate::access::Token;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a token and print its secret (shown once; only a hash is kept).
    Create {
        /// The actor recorded for everything done with this token.
        #[arg(long)]
        name: String,
        /// viewer, developer, release-manager, approver or admin.
        #[arg(long)]
        role: String,
        /// RFC 3339 expiry.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    let api = ctx.client()?;
    match cmd {
        Command::Create { name, role, expires_at } => {
            let body = json!({ "name": name, "role": role, "expires_at": expires_at });
            let created = api.call(Method::POST, "/v1/tokens", &[], Some(&body))?;
            // Text output is the bare secret, so scripts can capture it.
            ctx.print(&created, |c| c["secret"].as_str().unwrap_or_default().to_string());
        }
        Command::List => {
            let tokens: Vec<Token> = decode(
                "tokens",
                api.get("/v1/tokens", &[])?.get("items").cloned().unwrap_or_default(),
            )?;
            ctx.print(&tokens, |ts| {
                ts.iter()
                    .map(|t| {
                        let status = if t.revoked_at.is_some() { "revoked" } else { "active" };
                        format!(
                            "{}\t{}\t{}\t{}\t{}",
                            t.id,
                            t.name,
                            t.role.as_str(),
                            t.expires_at.as_deref().unwrap_or("-"),
                            status
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Revoke { id } => {
            let t: Token = decode(
                "token",
                api.call(Method::POST, &format!("/v1/tokens/{}/revoke", seg(&id)), &[], None)?,
            )?;
            ctx.print(&t, |t| format!("revoked token {} ({})", t.id, t.name));
        }
    }
    Ok(())
}
