//! `gatehouse vuln match`: an SBOM against OSV advisories, offline.
#![allow(clippy::indexing_slicing)] // serde_json::Value indexing yields Null; it never panics

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
    /// Import OSV advisories (a file or a directory); new and changed ones are
    /// matched against every stored version.
    Import { path: PathBuf },
    /// Attach an SBOM to a version.
    Attach {
        app: String,
        version: String,
        #[arg(long)]
        sbom: PathBuf,
    },
    /// A version's findings.
    Findings { app: String, version: String },
    /// Which applications, versions, stages and trusted releases an advisory affects.
    BlastRadius { id: String },
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    match cmd {
        Command::Import { path } => {
            let mut docs = Vec::new();
            for (name, bytes) in crate::feed::read_documents(&path)? {
                match serde_json::from_slice::<serde_json::Value>(&bytes) {
                    Ok(v) => docs.push(v),
                    Err(e) => eprintln!("warning: skipped {name}: not JSON ({e})"),
                }
            }
            let body = serde_json::Value::Array(docs).to_string();
            let (status, report) = ctx
                .client()?
                .send(hyper::Method::POST, "/v1/advisories", &[], body.into_bytes())?;
            if status != 200 {
                return Err(super::client::failure(status, &report));
            }
            ctx.print(&report, |r| {
                format!(
                    "advisories: {} new, {} updated, {} unchanged, {} rejected; {} new findings; trusted releases affected: {}",
                    r["new"].as_array().map_or(0, Vec::len),
                    r["updated"].as_array().map_or(0, Vec::len),
                    r["unchanged"],
                    r["rejected"].as_array().map_or(0, Vec::len),
                    r["new_findings_count"],
                    r["trusted_releases_affected"]
                )
            });
        }
        Command::Attach {
            app,
            version,
            sbom: file,
        } => {
            let bytes = std::fs::read(&file).map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
            let path = format!(
                "/v1/applications/{}/versions/{}/sboms",
                super::client::seg(&app),
                super::client::seg(&version)
            );
            let (status, out) = ctx.client()?.send(
                hyper::Method::POST,
                &path,
                &[("source", file.display().to_string())],
                bytes,
            )?;
            if status != 201 {
                return Err(super::client::failure(status, &out));
            }
            ctx.print(&out, |o| {
                format!(
                    "attached {} components ({}); {} new findings",
                    o["components"],
                    o["format"].as_str().unwrap_or(""),
                    o["findings"].as_array().map_or(0, Vec::len)
                )
            });
        }
        Command::Findings { app, version } => {
            let path = format!(
                "/v1/applications/{}/versions/{}/findings",
                super::client::seg(&app),
                super::client::seg(&version)
            );
            let out = ctx.client()?.get(&path, &[])?;
            ctx.print(&out, |o| {
                o["items"].as_array().map_or_else(String::new, |items| {
                    items
                        .iter()
                        .map(|f| {
                            format!(
                                "{}\t{}\t{}",
                                f["purl"].as_str().unwrap_or(""),
                                f["advisory"].as_str().unwrap_or(""),
                                f["severity"].as_str().unwrap_or("-")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            });
        }
        Command::BlastRadius { id } => {
            let out = ctx.client()?.get(
                &format!("/v1/vulnerabilities/{}/blast-radius", super::client::seg(&id)),
                &[],
            )?;
            ctx.print(&out, |o| {
                let mut lines = vec![format!(
                    "{} ({}), aliases: {}",
                    o["advisory"].as_str().unwrap_or(""),
                    o["severity"].as_str().unwrap_or("unrated"),
                    o["aliases"]
                )];
                for a in o["affected"].as_array().into_iter().flatten() {
                    lines.push(format!(
                        "  {}@{}\tstage {}\t{}{}\t{}",
                        a["application"].as_str().unwrap_or(""),
                        a["version"].as_str().unwrap_or(""),
                        a["stage"].as_str().unwrap_or("-"),
                        a["release_status"].as_str().unwrap_or(""),
                        if a["trusted_release"] == true {
                            " (trusted release)"
                        } else {
                            ""
                        },
                        a["components"]
                    ));
                }
                lines.join("\n")
            });
        }
        Command::Match { sbom: path, advisories } => {
            let bytes = std::fs::read(&path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
            let doc = sbom::parse(&path.display().to_string(), &bytes)?;
            let loaded = crate::feed::load_path(&advisories)?;
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
                        "alias_groups": vuln::alias_groups(&matches),
                        "matches": matches,
                    });
                    super::out(&serde_json::to_string_pretty(&report).unwrap_or_default());
                }
                Output::Text | Output::Tsv => {
                    for m in &matches {
                        super::out(&format!("{}\t{}", m.purl, m.advisory));
                    }
                }
            }
        }
    }
    Ok(())
}
