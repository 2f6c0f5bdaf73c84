//! `gatehouse waiver …`

use hyper::Method;
use serde_json::json;

use super::client::seg;
use super::{CmdResult, Ctx, decode};
use crate::waiver::Waiver;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Request a waiver for one gate of a version (optionally one check).
    Request {
        app: String,
        version: String,
        /// The gate: STAGE/entry, STAGE/exit or STAGE/release.
        #[arg(long)]
        gate: String,
        /// Only this check (e.g. policy:baseline.tests); default: every check of the gate.
        #[arg(long)]
        check: Option<String>,
        #[arg(long)]
        justification: String,
        /// RFC 3339.
        #[arg(long)]
        expires_at: String,
    },
    /// Approve a requested waiver (not your own).
    Approve {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Reject a requested waiver (not your own).
    Reject {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Revoke a waiver.
    Revoke { id: String },
    /// List waivers.
    List {
        #[arg(long)]
        app: Option<String>,
        #[arg(long)]
        version: Option<String>,
    },
    /// Show a waiver.
    Show { id: String },
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    let api = ctx.client()?;
    let print = |w: &Waiver| {
        ctx.print(w, |w| {
            format!(
                "waiver {} {:?} for {}@{} gate {}{}",
                w.id,
                w.status,
                w.application,
                w.version,
                w.gate,
                w.check.as_deref().map(|c| format!(" check {c}")).unwrap_or_default()
            )
            .to_lowercase()
        })
    };
    match cmd {
        Command::Request {
            app,
            version,
            gate,
            check,
            justification,
            expires_at,
        } => {
            let (stage, kind) = gate.split_once('/').ok_or_else(|| {
                super::usage(format!(
                    "--gate {gate:?}: expected STAGE/entry, STAGE/exit or STAGE/release"
                ))
            })?;
            let body = json!({
                "application": app, "version": version, "gate": { "stage": stage, "kind": kind },
                "check": check, "justification": justification, "expires_at": expires_at,
            });
            print(&decode(
                "waiver",
                api.call(Method::POST, "/v1/waivers", &[], Some(&body))?,
            )?);
        }
        Command::Approve { id, note } => {
            let path = format!("/v1/waivers/{}/approve", seg(&id));
            print(&decode(
                "waiver",
                api.call(Method::POST, &path, &[], Some(&json!({ "note": note })))?,
            )?);
        }
        Command::Reject { id, note } => {
            let path = format!("/v1/waivers/{}/reject", seg(&id));
            print(&decode(
                "waiver",
                api.call(Method::POST, &path, &[], Some(&json!({ "note": note })))?,
            )?);
        }
        Command::Revoke { id } => {
            print(&decode(
                "waiver",
                api.call(Method::POST, &format!("/v1/waivers/{}/revoke", seg(&id)), &[], None)?,
            )?);
        }
        Command::List { app, version } => {
            let mut q = Vec::new();
            if let Some(a) = app {
                q.push(("application", a));
            }
            if let Some(v) = version {
                q.push(("version", v));
            }
            let ws: Vec<Waiver> = decode(
                "waivers",
                api.get("/v1/waivers", &q)?.get("items").cloned().unwrap_or_default(),
            )?;
            ctx.print(&ws, |ws| {
                ws.iter()
                    .map(|w| {
                        format!(
                            "{}\t{:?}\t{}@{}\t{}\t{}",
                            w.id, w.status, w.application, w.version, w.gate, w.expires_at
                        )
                        .to_lowercase()
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Show { id } => print(&decode("waiver", api.get(&format!("/v1/waivers/{}", seg(&id)), &[])?)?),
    }
    Ok(())
}
