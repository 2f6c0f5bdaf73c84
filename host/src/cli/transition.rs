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

pub fn release(ctx: &Ctx, a: ReleaseArgs) -> CmdResult {
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
        Err(Failure::from(anyhow::anyhow!("the gates would block this transition")))
    }
}
