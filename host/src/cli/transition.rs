//! `gatehouse promote | release | rollback`

use hyper::Method;
use serde_json::json;

use super::client::seg;
use super::{CmdResult, Ctx, Failure, decode};
use crate::service::TransitionOutcome;

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    app: String,
    version: String,
    /// The stage to enter.
    stage: String,
    /// Evaluate the gates without moving the version.
    #[arg(long)]
    dry_run: bool,
}

/// `gatehouse release APP VERSION` releases; `gatehouse release show APP VERSION` fetches the record.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReleaseCmd {
    #[command(subcommand)]
    show: Option<ReleaseSub>,
    #[command(flatten)]
    args: Option<ReleaseArgs>,
}

#[derive(Debug, clap::Subcommand)]
enum ReleaseSub {
    /// Write a released version's Trusted Release record (or its VSA) to a file or stdout.
    Show {
        app: String,
        version: String,
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// The SLSA Verification Summary Attestation instead of the record.
        #[arg(long)]
        vsa: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    app: String,
    version: String,
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    app: String,
    version: String,
    /// The stage the version is in now (a guard against stale pipelines).
    #[arg(long)]
    from_stage: String,
    #[arg(long)]
    reason: Option<String>,
}

fn path(app: &str, version: &str, action: &str) -> String {
    format!("/v1/applications/{}/versions/{}/{action}", seg(app), seg(version))
}

pub fn promote(ctx: &Ctx, a: PromoteArgs) -> CmdResult {
    let body = json!({ "target_stage": a.stage, "dry_run": a.dry_run });
    let out = ctx
        .client()?
        .call(Method::POST, &path(&a.app, &a.version, "promote"), &[], Some(&body))?;
    report(ctx, decode("transition", out)?)
}

pub fn release(ctx: &Ctx, cmd: ReleaseCmd) -> CmdResult {
    let a = match (cmd.show, cmd.args) {
        (Some(ReleaseSub::Show { app, version, out, vsa }), _) => {
            let which = if vsa { "vsa" } else { "trusted-release" };
            let envelope = ctx.client()?.get(&path(&app, &version, which), &[])?;
            let text = serde_json::to_string_pretty(&envelope).unwrap_or_default() + "\n";
            return match out {
                Some(file) => std::fs::write(&file, text)
                    .map_err(|e| super::usage(format!("cannot write {}: {e}", file.display()))),
                None => {
                    super::out(text.trim_end_matches('\n'));
                    Ok(())
                }
            };
        }
        (None, Some(a)) => a,
        (None, None) => {
            return Err(super::usage(
                "give APP VERSION to release, or `release show APP VERSION`".into(),
            ));
        }
    };
    let body = json!({ "dry_run": a.dry_run });
    let out = ctx
        .client()?
        .call(Method::POST, &path(&a.app, &a.version, "release"), &[], Some(&body))?;
    report(ctx, decode("transition", out)?)
}

pub fn rollback(ctx: &Ctx, a: RollbackArgs) -> CmdResult {
    let body = json!({ "from_stage": a.from_stage, "reason": a.reason });
    let out = ctx
        .client()?
        .call(Method::POST, &path(&a.app, &a.version, "rollback"), &[], Some(&body))?;
    report(ctx, decode("transition", out)?)
}

/// Print what happened; a dry run that would be blocked exits 1.
fn report(ctx: &Ctx, o: TransitionOutcome) -> CmdResult {
    ctx.print(&o, |o| {
        let v = &o.version;
        let mut lines = vec![format!(
            "{}{}@{}: {} -> {} ({})",
            if o.dry_run { "dry run: " } else { "" },
            v.application,
            v.version,
            o.from_stage.as_deref().unwrap_or("draft"),
            o.to_stage.as_deref().unwrap_or("no stage"),
            if o.allowed { "allowed" } else { "blocked" },
        )];
        lines.extend(o.gates.iter().map(|g| format!("  {}", g.explain())));
        if !o.skipped.is_empty() {
            lines.push(format!("  skipped stages: {}", o.skipped.join(", ")));
        }
        lines.join("\n")
    });
    if o.allowed {
        Ok(())
    } else {
        let mut f = Failure::refused("blocked", "the gates would block this transition".into());
        f.object.insert("gates".into(), serde_json::json!(o.gates));
        Err(f)
    }
}
