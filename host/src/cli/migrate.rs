//! `gatehouse migrate --from DATA_DIR --to postgres://…`: move an embedded
//! store into PostgreSQL, whole, and verify the chain where it arrived.

use std::path::PathBuf;

use serde_json::json;

use super::{CmdResult, Ctx, Failure};
use crate::service::{GateSettings, Gatehouse};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The data directory whose embedded store (gatehouse.db) is copied.
    #[arg(long)]
    from: PathBuf,
    /// The PostgreSQL database it goes to; it must hold no record yet.
    #[arg(long)]
    to: String,
}

pub fn run(ctx: &Ctx, args: Args) -> CmdResult {
    if ctx.server.is_some() {
        return Err(super::usage(
            "migrate works on a data directory and a database, not through a sidecar: drop --server".into(),
        ));
    }
    if !args.from.join(gatehouse_store::DB_FILE).is_file() {
        return Err(super::usage(format!(
            "--from {}: no embedded store there ({} is missing)",
            args.from.display(),
            gatehouse_store::DB_FILE
        )));
    }
    let source = gatehouse_store::SqliteStore::open(&args.from)?;
    let destination = gatehouse_store_postgres::PgStore::open(&args.to, &ctx.config.gates.database_options())?;
    let copied = destination.import(&source)?;
    drop(destination);
    // The copy, opened as a sidecar would open it (with the source's keys),
    // must verify as the source did.
    let settings = GateSettings {
        database_url: Some(args.to.clone()),
        ..ctx.config.gates.clone()
    };
    let report = Gatehouse::open_with(&args.from, settings)?.verify_chain()?;
    if let Some(b) = &report.broken {
        return Err(Failure::refused(
            "chain_broken",
            format!(
                "copied, but the chain does not verify at the destination: event {}: {}",
                b.seq, b.reason
            ),
        ));
    }
    let tables: serde_json::Map<String, serde_json::Value> =
        copied.iter().map(|(t, n)| (t.clone(), json!(n))).collect();
    let answer = json!({ "tables": tables, "chain": report });
    ctx.print(&answer, |_| {
        format!(
            "migrated {} events (head {} {}) and {} rows in all; the chain verifies at the destination",
            report.events,
            report.head_seq,
            report.head_hash,
            copied.iter().map(|(_, n)| n).sum::<u64>()
        )
    });
    Ok(())
}
