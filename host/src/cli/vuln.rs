//! `gatehouse vuln match`: an SBOM against OSV advisories, offline.

use std::path::PathBuf;

use super::{CmdResult, Ctx, Output, usage};
use crate::{sbom, vuln};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Match an SBOM (CycloneDX or SPDX JSON) against OSV advisories (a file or a
    /// directory, read recursively). `--output tsv` (the default) prints one
    /// `purl<TAB>advisory_id` line per match, sorted; `--output json` adds the reasons.
    Match {
        #[arg(long)]
        sbom: PathBuf,
        #[arg(long)]
        advisories: PathBuf,
    },
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    match cmd {
        Command::Match { sbom: path, advisories } => {
            let bytes = std::fs::read(&path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
            let doc = sbom::parse(&path.display().to_string(), &bytes)?;
            let loaded = vuln::load_path(&advisories)?;
            for (file, reason) in &loaded.rejected {
                eprintln!("warning: skipped {file}: {reason}");
            }
            for q in &doc.quirks {
                tracing::info!(quirk = %q, "SBOM quirk tolerated");
            }
            let index = vuln::Index::new(loaded.advisories);
            let matches = index.matches(&doc.components);
            match ctx.output {
                Output::Json => {
                    let report = serde_json::json!({
                        "sbom": { "file": path.display().to_string(), "format": doc.format, "components": doc.components.len(), "quirks": doc.quirks },
                        "advisories": { "loaded": index.len(), "rejected": loaded.rejected.len() },
                        "matches": matches,
                    });
                    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
                }
                Output::Text | Output::Tsv => {
                    for m in &matches {
                        println!("{}\t{}", m.purl, m.advisory);
                    }
                }
            }
        }
    }
    Ok(())
}
