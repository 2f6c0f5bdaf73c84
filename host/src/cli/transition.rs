//! `gatehouse promote | release | rollback`

use super::{CmdResult, Ctx, Failure};
use crate::service::{PromoteRequest, ReleaseRequest, RollbackRequest, TransitionOutcome};

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

pub fn promote(ctx: &Ctx, a: PromoteArgs) -> CmdResult {
    let gh = ctx.open()?;
    let req = PromoteRequest {
        target_stage: a.stage,
        dry_run: a.dry_run,
    };
    report(ctx, gh.promote(&ctx.actor, &a.app, &a.version, req)?)
}

pub fn release(ctx: &Ctx, a: ReleaseArgs) -> CmdResult {
    let gh = ctx.open()?;
    report(
        ctx,
        gh.release(&ctx.actor, &a.app, &a.version, ReleaseRequest { dry_run: a.dry_run })?,
    )
}

pub fn rollback(ctx: &Ctx, a: RollbackArgs) -> CmdResult {
    let gh = ctx.open()?;
    let req = RollbackRequest {
        from_stage: a.from_stage,
        reason: a.reason,
    };
    report(ctx, gh.rollback(&ctx.actor, &a.app, &a.version, req)?)
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
