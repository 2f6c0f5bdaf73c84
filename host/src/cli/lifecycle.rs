//! `gatehouse lifecycle …`

use std::path::PathBuf;

use hyper::Method;

use super::client::seg;
use super::{CmdResult, Ctx, decode, read_json_file};
use crate::lifecycle::Lifecycle;

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
    let api = ctx.client()?;
    match cmd {
        Command::List => {
            let all: Vec<Lifecycle> = decode(
                "lifecycles",
                api.get("/v1/lifecycles", &[])?
                    .get("items")
                    .cloned()
                    .unwrap_or_default(),
            )?;
            ctx.print(&all, |all| all.iter().map(line).collect::<Vec<_>>().join("\n"));
        }
        Command::Show { name } => {
            let lc: Lifecycle = decode("lifecycle", api.get(&format!("/v1/lifecycles/{}", seg(&name)), &[])?)?;
            ctx.print(&lc, line);
        }
        Command::Set { name, file } => {
            let spec = read_json_file(&file)?;
            let path = format!("/v1/lifecycles/{}", seg(&name));
            let lc: Lifecycle = decode("lifecycle", api.call(Method::PUT, &path, &[], Some(&spec))?)?;
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
