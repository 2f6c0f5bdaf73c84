//! `gatehouse backup --out FILE` and `gatehouse restore --from FILE`: the
//! embedded store copied while it serves, and put back only when its chain
//! verifies.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{CmdResult, Ctx, Failure};
use crate::service::{ChainReport, Gatehouse};

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The file to write (a SQLite database); refused if it exists.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A file `gatehouse backup` wrote.
    #[arg(long)]
    from: PathBuf,
}

/// Where a copy is checked before it is kept: beside the data directory's
/// keys, as the sidecar would open it.
struct Staging {
    dir: PathBuf,
}

impl Staging {
    /// A fresh staging directory under `parent` holding `parent`'s keys.
    fn new(parent: &Path, name: &str) -> Result<Staging, Failure> {
        let dir = parent.join(format!(".{name}-{}", std::process::id()));
        let io = |what: &str, e: std::io::Error| Failure::undecided("io", format!("{what} {}: {e}", dir.display()));
        std::fs::create_dir_all(&dir).map_err(|e| io("cannot create", e))?;
        let keys = parent.join("keys");
        if keys.is_dir() {
            copy_tree(&keys, &dir.join("keys")).map_err(|e| io("cannot copy the keys into", e))?;
        }
        Ok(Staging { dir })
    }

    fn db(&self) -> PathBuf {
        self.dir.join(gatehouse_store::DB_FILE)
    }

    /// Open the staged store as a sidecar would and verify its chain, its
    /// checkpoints and its signed heads with the data directory's keys.
    fn verify(&self, ctx: &Ctx) -> Result<ChainReport, Failure> {
        let mut settings = ctx.config.gates.clone();
        settings.database_url = None;
        let report = Gatehouse::open_with(&self.dir, settings)?.verify_chain()?;
        match &report.broken {
            None => Ok(report),
            Some(b) => Err(Failure::refused(
                "chain_broken",
                format!("the copy's chain does not verify: event {}: {}", b.seq, b.reason),
            )),
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn local_only(ctx: &Ctx, what: &str) -> Result<(), Failure> {
    if ctx.server.is_some() {
        return Err(super::usage(format!(
            "{what} works on the data directory, beside a running sidecar or not: drop --server"
        )));
    }
    if ctx.config.gates.database_url.is_some() {
        return Err(super::usage(format!(
            "{what} copies the embedded store; a PostgreSQL database is backed up with pg_dump (README, \"Running several sidecars\")"
        )));
    }
    Ok(())
}

pub fn backup(ctx: &Ctx, args: BackupArgs) -> CmdResult {
    local_only(ctx, "backup")?;
    let data_dir = &ctx.config.data_dir;
    if !data_dir.join(gatehouse_store::DB_FILE).is_file() {
        return Err(super::usage(format!(
            "{}: no embedded store to back up",
            data_dir.display()
        )));
    }
    if args.out.exists() {
        return Err(super::usage(format!(
            "--out {}: the file exists; a backup never overwrites",
            args.out.display()
        )));
    }
    let store = gatehouse_store::SqliteStore::open(data_dir)?;
    let staging = Staging::new(data_dir, "backup")?;
    store.backup_to(&staging.db())?;
    let report = staging.verify(ctx)?;
    // Written whole or not at all: copied next to --out, then renamed.
    let partial = args.out.with_extension("partial");
    let io = |e: std::io::Error| Failure::undecided("io", format!("cannot write {}: {e}", args.out.display()));
    std::fs::copy(staging.db(), &partial).map_err(io)?;
    std::fs::rename(&partial, &args.out).map_err(io)?;
    let answer = json!({ "out": args.out, "chain": report });
    ctx.print(&answer, |_| {
        format!(
            "backed up {} events (head {} {}) to {}; the copy's chain verifies",
            report.events,
            report.head_seq,
            report.head_hash,
            args.out.display()
        )
    });
    Ok(())
}

pub fn restore(ctx: &Ctx, args: RestoreArgs) -> CmdResult {
    local_only(ctx, "restore")?;
    let data_dir = &ctx.config.data_dir;
    let target = data_dir.join(gatehouse_store::DB_FILE);
    if target.exists() {
        return Err(super::usage(format!(
            "{} holds a store already; restore only into a data directory without one (move it aside first)",
            data_dir.display()
        )));
    }
    if !args.from.is_file() {
        return Err(super::usage(format!("--from {}: no such file", args.from.display())));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| Failure::undecided("io", format!("cannot create {}: {e}", data_dir.display())))?;
    let staging = Staging::new(data_dir, "restore")?;
    std::fs::copy(&args.from, staging.db())
        .map_err(|e| Failure::undecided("io", format!("cannot read {}: {e}", args.from.display())))?;
    let report = staging.verify(ctx)?;
    std::fs::rename(staging.db(), &target)
        .map_err(|e| Failure::undecided("io", format!("cannot write {}: {e}", target.display())))?;
    let answer = json!({ "data_dir": data_dir, "chain": report });
    ctx.print(&answer, |_| {
        format!(
            "restored {} events (head {} {}) into {}; the chain verifies",
            report.events,
            report.head_seq,
            report.head_hash,
            data_dir.display()
        )
    });
    Ok(())
}
