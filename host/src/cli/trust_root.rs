//! `gatehouse trust-root …`: the Sigstore trusted roots bundles verify against.

use std::path::PathBuf;

use hyper::Method;

use super::{CmdResult, Ctx, decode, usage};
use crate::keys::TrustedRoot;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Import a Sigstore trusted_root.json (importing a name again replaces that root).
    Import {
        file: PathBuf,
        /// The root's name (default: the file name without .json), e.g. public-good.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the imported trusted roots.
    List,
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    let api = ctx.client()?;
    match cmd {
        Command::Import { file, name } => {
            let name = match name {
                Some(n) => n,
                None => file
                    .file_name()
                    .map(|n| n.to_string_lossy().trim_end_matches(".json").to_string())
                    .unwrap_or_default(),
            };
            let body = std::fs::read(&file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
            let (status, out) = api.send(Method::POST, "/v1/trusted-roots", &[("name", name)], body)?;
            if status != 201 {
                return Err(super::client::failure(status, &out));
            }
            let root: TrustedRoot = decode("trusted root", out)?;
            ctx.print(&summary(&root), |_| {
                format!("trusted root {} {}", root.name, root.digest)
            });
        }
        Command::List => {
            let roots: Vec<TrustedRoot> = decode(
                "trusted roots",
                api.get("/v1/trusted-roots", &[])?
                    .get("items")
                    .cloned()
                    .unwrap_or_default(),
            )?;
            let items: Vec<serde_json::Value> = roots.iter().map(summary).collect();
            ctx.print(&items, |_| {
                roots
                    .iter()
                    .map(|r| format!("{}\t{}\t{}\t{}", r.name, r.digest, r.imported_at, r.imported_by))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

/// A root without its document (`GET /v1/trusted-roots` has it).
fn summary(r: &TrustedRoot) -> serde_json::Value {
    serde_json::json!({
        "name": r.name,
        "digest": r.digest,
        "imported_at": r.imported_at,
        "imported_by": r.imported_by,
    })
}
