//! `gatehouse gate plan | evaluations`

use super::client::seg;
use super::{CmdResult, Ctx, decode};
use crate::gate::GateVerdict;
use crate::service::GatePlan;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Which checks promoting the version to STAGE (or `release`) would run, and which binding matched.
    Plan {
        app: String,
        version: String,
        stage: String,
    },
    /// The stored gate evaluations of a version.
    Evaluations { app: String, version: String },
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    let api = ctx.client()?;
    match cmd {
        Command::Plan { app, version, stage } => {
            let path = format!("/v1/applications/{}/versions/{}/gate-plan", seg(&app), seg(&version));
            let plan: GatePlan = decode("gate plan", api.get(&path, &[("target_stage", stage)])?)?;
            ctx.print(&plan, |p| {
                let mut lines = vec![format!(
                    "{}@{}: {} -> {}",
                    p.application,
                    p.version,
                    p.from_stage.as_deref().unwrap_or("draft"),
                    p.to_stage.as_deref().unwrap_or("-")
                )];
                for g in &p.gates {
                    lines.push(format!(
                        "gate {}:{}",
                        g.gate,
                        if g.checks.is_empty() { " no checks bound" } else { "" }
                    ));
                    for c in &g.checks {
                        let digest = c
                            .policy
                            .as_ref()
                            .map(|p| format!(" sha256:{}", p.digest.get(..12).unwrap_or("")))
                            .unwrap_or_default();
                        lines.push(format!("  {}{digest} — {}", c.check, c.why));
                        if let Some(problem) = &c.problem {
                            lines.push(format!("    ! {problem}"));
                        }
                    }
                }
                lines.join("\n")
            });
        }
        Command::Evaluations { app, version } => {
            let path = format!("/v1/applications/{}/versions/{}/evaluations", seg(&app), seg(&version));
            let evals: Vec<GateVerdict> = decode(
                "evaluations",
                api.get(&path, &[])?.get("items").cloned().unwrap_or_default(),
            )?;
            ctx.print(&evals, |es| {
                es.iter()
                    .map(|e| format!("{}\t{}", e.evaluation_id.as_deref().unwrap_or("-"), e.explain()))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
