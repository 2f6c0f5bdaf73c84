//! `gatehouse policy …` and `gatehouse binding …`

use std::path::PathBuf;

use hyper::Method;
use serde_json::{Value, json};

use super::client::seg;
use super::{CmdResult, Ctx, decode, read_json_file, read_text_file};
use crate::binding::Binding;
use crate::policy::Policy;

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Loaded policies: bundled, from the policy directory, uploaded.
    List,
    /// A policy with its text.
    Show { name: String },
    /// Upload (or replace) a policy; NAME must be its package. Give every
    /// file of the package (or a directory: its `.rego` files, `*_test.rego`
    /// left out); they are merged as OPA and conftest merge them.
    Upload {
        name: String,
        #[arg(required = true, num_args = 1..)]
        file: Vec<PathBuf>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum BindingCommand {
    /// Every binding (config and API).
    List,
    /// Define or replace a binding from a JSON file:
    /// {"check": "policy:baseline.tests", "gate": {"stage": "qa", "kind": "entry"}, "mode": "block", "scope": {...}, "params": {...}}
    Set {
        id: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// Remove a binding.
    Delete { id: String },
}

pub fn run_policy(ctx: &Ctx, cmd: PolicyCommand) -> CmdResult {
    let api = ctx.client()?;
    match cmd {
        PolicyCommand::List => {
            let items: Vec<Value> = decode(
                "policies",
                api.get("/v1/policies", &[])?.get("items").cloned().unwrap_or_default(),
            )?;
            ctx.print(&items, |items| {
                items
                    .iter()
                    .map(|p| {
                        format!(
                            "{}\t{}\tv{}\t{}",
                            p["name"].as_str().unwrap_or(""),
                            p["origin"].as_str().unwrap_or(""),
                            p["version"],
                            p["path"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        PolicyCommand::Show { name } => {
            let p: Policy = decode("policy", api.get(&format!("/v1/policies/{}", seg(&name)), &[])?)?;
            ctx.print(&p, |p| p.source.clone());
        }
        PolicyCommand::Upload { name, file } => {
            let paths = rego_files(&file)?;
            let body = if let [one] = paths.as_slice()
                && !file.iter().any(|f| f.is_dir())
            {
                json!({ "source": read_text_file(one)? })
            } else {
                let mut files = Vec::new();
                for p in &paths {
                    let name = p
                        .file_name()
                        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned());
                    files.push(json!({ "path": name, "source": read_text_file(p)? }));
                }
                json!({ "files": files })
            };
            let p: Policy = decode(
                "policy",
                api.call(Method::PUT, &format!("/v1/policies/{}", seg(&name)), &[], Some(&body))?,
            )?;
            ctx.print(&p, |p| {
                format!("policy {} version {} sha256:{}", p.name, p.version, p.digest)
            });
        }
    }
    Ok(())
}

/// The files named, with each directory replaced by its `.rego` files
/// (sorted; `*_test.rego` are OPA unit tests and are left out).
fn rego_files(args: &[PathBuf]) -> Result<Vec<PathBuf>, super::Failure> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(a)
                .map_err(|e| super::usage(format!("cannot read directory {}: {e}", a.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "rego") && !p.to_string_lossy().ends_with("_test.rego"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(super::usage(format!("{} holds no .rego files", a.display())));
            }
            out.extend(found);
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

pub fn run_binding(ctx: &Ctx, cmd: BindingCommand) -> CmdResult {
    let api = ctx.client()?;
    match cmd {
        BindingCommand::List => {
            let items: Vec<Binding> = decode(
                "bindings",
                api.get("/v1/bindings", &[])?.get("items").cloned().unwrap_or_default(),
            )?;
            ctx.print(&items, |bs| {
                bs.iter()
                    .map(|b| {
                        format!(
                            "{}\t{}\t{}/{:?}\t{:?}\t{:?}",
                            b.id, b.check, b.gate.stage, b.gate.kind, b.mode, b.origin
                        )
                        .to_lowercase()
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        BindingCommand::Set { id, file } => {
            let spec = read_json_file(&file)?;
            let b: Binding = decode(
                "binding",
                api.call(Method::PUT, &format!("/v1/bindings/{}", seg(&id)), &[], Some(&spec))?,
            )?;
            ctx.print(&b, |b| {
                format!(
                    "binding {} puts {} on {}/{:?}",
                    b.id, b.check, b.gate.stage, b.gate.kind
                )
                .to_lowercase()
            });
        }
        BindingCommand::Delete { id } => {
            let out = api.call(Method::DELETE, &format!("/v1/bindings/{}", seg(&id)), &[], None)?;
            ctx.print(&out, |_| format!("deleted binding {id}"));
        }
    }
    Ok(())
}
