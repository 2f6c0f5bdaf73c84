//! The `gatehouse` command line (clap derive, one file per command). Commands
//! other than `serve` work directly on the data directory's store.
//!
//! Exit codes: 0 ok, 1 refused or failed (a blocked gate, a conflict, a broken
//! chain), 2 usage, input or configuration error.

mod app;
mod audit;
mod evidence;
mod keys;
mod lifecycle;
mod serve;
mod transition;
mod version;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::Error;
use crate::service::Gatehouse;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Release governance: versions climb a lifecycle only through policy gates"
)]
pub struct Cli {
    /// Where the embedded store lives.
    #[arg(long, global = true, env = "GATEHOUSE_DATA_DIR", default_value = "gatehouse-data")]
    data_dir: PathBuf,
    /// Who is acting, recorded in the activity log (default: local:$USER).
    #[arg(long, global = true, env = "GATEHOUSE_ACTOR")]
    actor: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sidecar: the REST API on the embedded store.
    Serve(serve::Args),
    /// Create, show, change and delete applications.
    #[command(subcommand)]
    App(app::Command),
    /// Create, show and change versions.
    #[command(subcommand)]
    Version(version::Command),
    /// Promote a version to a stage through its gates.
    Promote(transition::PromoteArgs),
    /// Release a version from the last stage through the release gate.
    Release(transition::ReleaseArgs),
    /// Move a version back one stage.
    Rollback(transition::RollbackArgs),
    /// Show or define lifecycles.
    #[command(subcommand)]
    Lifecycle(lifecycle::Command),
    /// Read and verify the activity log.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Ingest, list, verify and sign in-toto evidence.
    #[command(subcommand)]
    Evidence(evidence::Command),
    /// Manage the keys trusted to sign evidence.
    #[command(subcommand)]
    Keys(keys::Command),
}

/// A command's failure: the error and the exit code it maps to.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = if e.is_usage() { 2 } else { 1 };
        Failure {
            code,
            error: anyhow::Error::new(e),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure { code: 1, error }
    }
}

pub type CmdResult = Result<(), Failure>;

/// Parse the arguments and run the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.error);
            for cause in f.error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if let Some(Error::Blocked { verdicts }) = f.error.downcast_ref::<Error>() {
                for v in verdicts {
                    eprintln!("  {}", v.explain());
                }
            }
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> CmdResult {
    let ctx = Ctx {
        data_dir: cli.data_dir,
        actor: cli.actor.unwrap_or_else(default_actor),
        output: cli.output,
    };
    match cli.command {
        Command::Serve(args) => serve::run(&ctx, args),
        Command::App(cmd) => app::run(&ctx, cmd),
        Command::Version(cmd) => version::run(&ctx, cmd),
        Command::Promote(args) => transition::promote(&ctx, args),
        Command::Release(args) => transition::release(&ctx, args),
        Command::Rollback(args) => transition::rollback(&ctx, args),
        Command::Lifecycle(cmd) => lifecycle::run(&ctx, cmd),
        Command::Audit(cmd) => audit::run(&ctx, cmd),
        Command::Evidence(cmd) => evidence::run(&ctx, cmd),
        Command::Keys(cmd) => keys::run(&ctx, cmd),
    }
}

fn default_actor() -> String {
    match std::env::var("USER") {
        Ok(u) if !u.is_empty() => format!("local:{u}"),
        _ => "anonymous".to_string(),
    }
}

/// What every command gets.
pub struct Ctx {
    pub data_dir: PathBuf,
    pub actor: String,
    pub output: Output,
}

impl Ctx {
    fn open(&self) -> Result<Gatehouse, Failure> {
        Ok(Gatehouse::open(&self.data_dir)?)
    }

    /// Print `value` as JSON, or the text `human` makes of it.
    fn print<T: serde::Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) {
        match self.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(value).unwrap_or_default()),
            Output::Text => println!("{}", human(value)),
        }
    }
}

/// Read a JSON file given on the command line (`-` for standard input).
fn read_json_file(path: &std::path::Path) -> Result<serde_json::Value, Failure> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| usage(format!("cannot read standard input: {e}")))?
    } else {
        std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?
    };
    serde_json::from_str(&text).map_err(|e| {
        Failure::from(Error::Malformed {
            what: path.display().to_string(),
            detail: format!("not valid JSON: {e}"),
        })
    })
}

/// Read a text file named on the command line.
fn read_text_file(path: &std::path::Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
}

fn usage(message: String) -> Failure {
    Failure {
        code: 2,
        error: anyhow::anyhow!(message),
    }
}

/// `k=v` pairs from repeated flags.
fn parse_pairs(flag: &str, values: &[String]) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
    let mut map = serde_json::Map::new();
    for v in values {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| usage(format!("invalid --{flag} {v:?}: expected KEY=VALUE")))?;
        map.insert(k.to_string(), serde_json::Value::String(val.to_string()));
    }
    Ok(map)
}
