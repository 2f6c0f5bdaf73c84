//! `gatehouse lifecycle …`

use std::path::PathBuf;

use super::{CmdResult, Ctx, read_json_file};
use crate::error::parse_input;
use crate::lifecycle::{Lifecycle, LifecycleSpec};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List lifecycles (the built-in default included).
    List,
    /// Show one lifecycle.
    Show { name: String },
    /// Define or replace a lifecycle from a JSON file: {"projects": [...], "stages": [{"name": "dev", "skippable": false}, ...]}.
    Set {
        name: String,
        #[arg(long)]
        file: PathBuf,
    },
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    let gh = ctx.open()?;
    match cmd {
        Command::List => {
            let all = gh.lifecycles()?;
            ctx.print(&all, |all| all.iter().map(line).collect::<Vec<_>>().join("\n"));
        }
        Command::Show { name } => {
            let lc = gh.lifecycle(&name)?;
            ctx.print(&lc, line);
        }
        Command::Set { name, file } => {
            let spec: LifecycleSpec = parse_input("lifecycle", read_json_file(&file)?)?;
            let lc = gh.put_lifecycle(&ctx.actor, &name, spec)?;
            ctx.print(&lc, |lc| format!("set {}", line(lc)));
        }
    }
    Ok(())
}

fn line(lc: &Lifecycle) -> String {
    let stages: Vec<String> = lc
        .stages
        .iter()
        .map(|s| {
            if s.skippable {
                format!("{}?", s.name)
            } else {
                s.name.clone()
            }
        })
        .collect();
    let projects = if lc.projects.is_empty() {
        "(default)".to_string()
    } else {
        lc.projects.join(",")
    };
    format!("{}\t{}\t{}", lc.name, stages.join(" -> "), projects)
}
