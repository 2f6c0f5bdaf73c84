//! The `gatehouse` command line (clap derive, one file per command).
//!
//! Every command that reads or changes state is an API call: against a running
//! sidecar with `--server URL` (and a bearer token), or in-process on the data
//! directory, through the very same route table. `serve`, `keys generate` and
//! the offline `evidence verify|sign` need neither.
//!
//! Exit codes (`crate::error::Kind` decides them, the same table that decides
//! HTTP statuses): 0 ok; 1 refused by a policy or the state (a blocked gate,
//! a conflict, not found, an invalid record, a broken log); 2 usage, input or
//! configuration error; 3 nothing decided (sidecar unreachable or busy, token
//! missing or lacking the role, internal error).

mod app;
mod audit;
mod backup;
mod client;
mod evidence;
mod gate;
mod keys;
mod lifecycle;
mod migrate;
mod plugin;
mod policy;
mod scaffold;
mod serve;
mod token;
mod transition;
mod trust_root;
mod verify;
mod version;
mod vuln;
mod waiver;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::Value;

use crate::config::{self, Config, LogFormat};
use crate::error::{self, Error};
use crate::gate::GateVerdict;

pub use client::Client;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Release governance: versions climb a lifecycle only through policy gates"
)]
pub struct Cli {
    /// A TOML configuration file.
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG")]
    config: Option<PathBuf>,
    /// Where the embedded store lives (default ./gatehouse-data).
    #[arg(long, global = true, env = "GATEHOUSE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Talk to a running sidecar instead of opening the data directory.
    #[arg(long, global = true, env = "GATEHOUSE_SERVER")]
    server: Option<String>,
    /// Bearer token for --server.
    #[arg(long, global = true, env = "GATEHOUSE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// With an https:// --server: trust only the CA certificates in this PEM
    /// file instead of the system's roots (as curl's --cacert).
    #[arg(long, global = true, env = "GATEHOUSE_CACERT")]
    cacert: Option<PathBuf>,
    /// Who is acting on a local data directory, recorded in the activity log
    /// (default local:$USER). With --server the token's name is the actor.
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
    /// Tab-separated lines (where a command has a tabular form; otherwise text).
    Tsv,
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
    /// Release a version from the last stage through the release gate (or `release show`).
    Release(transition::ReleaseCmd),
    /// Verify a Trusted Release record offline; exit 0 when valid.
    Verify(verify::Args),
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
    /// Generate keys and manage the keys and keyless identities trusted to sign evidence.
    #[command(subcommand)]
    Keys(keys::Command),
    /// Import and list the Sigstore trusted roots that bundles verify against.
    #[command(subcommand)]
    TrustRoot(trust_root::Command),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(token::Command),
    /// Plan gates and read stored gate evaluations.
    #[command(subcommand)]
    Gate(gate::Command),
    /// List, show and upload Rego policies.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Bind checks to gates.
    #[command(subcommand)]
    Binding(policy::BindingCommand),
    /// Request, decide and revoke waivers.
    #[command(subcommand)]
    Waiver(waiver::Command),
    /// Match SBOMs against OSV advisories.
    #[command(subcommand)]
    Vuln(vuln::Command),
    /// List, inspect, test-load and sign WebAssembly plugins.
    #[command(subcommand)]
    Plugin(plugin::Command),
    /// Run a collector plugin now: its statements become signed evidence of the version.
    Collect(plugin::CollectArgs),
    /// Copy an embedded store into an empty PostgreSQL database and verify the chain there.
    Migrate(migrate::Args),
    /// Copy the embedded store, while it serves, to a file whose chain verifies.
    Backup(backup::BackupArgs),
    /// Put a backup into a data directory without a store, if its chain verifies.
    Restore(backup::RestoreArgs),
}

/// A command's failure: the error, the exit code it maps to, and the error
/// object `--output json` prints (the API's `error` object, with the same
/// `code`s, plus `exit_code`).
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
    /// Gate verdicts to explain, when a transition was blocked.
    pub gates: Vec<GateVerdict>,
    pub object: serde_json::Map<String, Value>,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let gates = match &e {
            Error::Blocked { gates, .. } => serde_json::from_value(gates.clone()).unwrap_or_default(),
            _ => Vec::new(),
        };
        Failure {
            code: e.kind().exit_code(),
            object: crate::api::error_object(&e),
            error: anyhow::Error::new(e),
            gates,
        }
    }
}

impl Failure {
    /// A failure of the CLI's own (not an API answer) with its machine code.
    pub fn new(exit: u8, code: &str, message: String) -> Failure {
        let mut object = serde_json::Map::new();
        object.insert("code".into(), Value::from(code));
        object.insert("message".into(), Value::from(message.clone()));
        Failure {
            code: exit,
            error: anyhow::anyhow!(message),
            gates: Vec::new(),
            object,
        }
    }

    /// Refused by what was checked (exit 1): a signature, a record, the log.
    pub fn refused(code: &str, message: String) -> Failure {
        Failure::new(error::EXIT_REFUSED, code, message)
    }

    /// Nothing could be decided (exit 3): unreachable, I/O, internal.
    pub fn undecided(code: &str, message: String) -> Failure {
        Failure::new(error::EXIT_UNDECIDED, code, message)
    }

    /// A refused signature, statement or record, with its refusal code.
    pub fn refusal(r: crate::evidence::Refusal) -> Failure {
        Failure::refused(r.code.as_str(), format!("refused: {r}"))
    }

    /// What `--output json` prints on standard output.
    fn json(&self) -> Value {
        let mut object = self.object.clone();
        object.insert("exit_code".into(), Value::from(self.code));
        let causes: Vec<String> = self.error.chain().skip(1).map(ToString::to_string).collect();
        if !causes.is_empty() {
            object.entry("causes").or_insert(Value::from(causes));
        }
        serde_json::json!({ "error": object })
    }
}

pub type CmdResult = Result<(), Failure>;

/// Parse the arguments, settle the configuration, and run the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if e.use_stderr() && wants_json(std::env::args()) {
                let f = usage(e.kind().to_string());
                out(&f.json().to_string());
            }
            e.exit()
        }
    };
    let json = cli.output == Output::Json;
    let result = settle_config(&cli).and_then(|config| {
        install_logging(&config, matches!(cli.command, Command::Serve(_)));
        run(cli, config)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // Standard output holds one JSON document: the command's own
            // (an audit report, a dry run's verdicts) or else the error object.
            if json && !PRINTED.load(std::sync::atomic::Ordering::Relaxed) {
                out(&serde_json::to_string_pretty(&f.json()).unwrap_or_default());
            }
            eprintln!("error: {}", f.error);
            for cause in f.error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            for v in &f.gates {
                eprintln!("  {}", v.explain());
            }
            ExitCode::from(f.code)
        }
    }
}

/// `--output json` (or `--output=json`) among arguments clap refused.
fn wants_json(args: impl Iterator<Item = String>) -> bool {
    let args: Vec<String> = args.collect();
    args.windows(2)
        .any(|w| matches!(w, [flag, value] if flag == "--output" && value == "json"))
        || args.iter().any(|a| a == "--output=json")
}

/// Something was printed on standard output.
static PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Print a line on standard output. A reader that went away (`… | head`)
/// is not an error of the command: the rest of the output is dropped and
/// the exit code still says how the command ended.
pub(crate) fn out(text: &str) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    static CLOSED: AtomicBool = AtomicBool::new(false);
    PRINTED.store(true, Ordering::Relaxed);
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    if let Err(e) = written
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// File, then `GATEHOUSE_*` environment, then flags; all validated up front.
fn settle_config(cli: &Cli) -> Result<Config, Failure> {
    let file = match &cli.config {
        Some(path) => config::read_file(path)?,
        None => config::ConfigFile::default(),
    };
    let mut file = config::apply_env(file, |k| std::env::var(k).ok())?;
    if let Some(dir) = &cli.data_dir {
        file.data_dir = Some(dir.clone());
    }
    let mut config = file.resolve()?;
    if let Some(file) = &cli.config {
        // No plugin may be granted a directory that holds the configuration.
        config.gates.plugins.protected_paths.push(file.clone());
    }
    Ok(config)
}

fn install_logging(config: &Config, serving: bool) {
    let filter = if serving || std::env::var_os("GATEHOUSE_LOG").is_some() {
        config.log_filter.as_str()
    } else {
        "warn"
    };
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal, never into a file or a pipe.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // The only subscriber of the process: this cannot have been set before.
    match config.log_format {
        LogFormat::Json => builder.json().with_ansi(false).init(),
        LogFormat::Text => builder.with_ansi(colour).init(),
    }
}

fn run(cli: Cli, config: Config) -> CmdResult {
    let ctx = Ctx {
        actor: cli.actor.unwrap_or_else(default_actor),
        output: cli.output,
        server: cli.server,
        token: cli.token,
        cacert: cli.cacert,
        config,
    };
    match cli.command {
        Command::Serve(args) => serve::run(&ctx, args),
        Command::App(cmd) => app::run(&ctx, cmd),
        Command::Version(cmd) => version::run(&ctx, cmd),
        Command::Promote(args) => transition::promote(&ctx, args),
        Command::Release(args) => transition::release(&ctx, args),
        Command::Verify(args) => verify::run(&ctx, args),
        Command::Rollback(args) => transition::rollback(&ctx, args),
        Command::Lifecycle(cmd) => lifecycle::run(&ctx, cmd),
        Command::Audit(cmd) => audit::run(&ctx, cmd),
        Command::Evidence(cmd) => evidence::run(&ctx, cmd),
        Command::Keys(cmd) => keys::run(&ctx, cmd),
        Command::TrustRoot(cmd) => trust_root::run(&ctx, cmd),
        Command::Token(cmd) => token::run(&ctx, cmd),
        Command::Gate(cmd) => gate::run(&ctx, cmd),
        Command::Policy(cmd) => policy::run_policy(&ctx, cmd),
        Command::Binding(cmd) => policy::run_binding(&ctx, cmd),
        Command::Waiver(cmd) => waiver::run(&ctx, cmd),
        Command::Vuln(cmd) => vuln::run(&ctx, cmd),
        Command::Plugin(cmd) => plugin::run(&ctx, cmd),
        Command::Migrate(args) => migrate::run(&ctx, args),
        Command::Backup(args) => backup::backup(&ctx, args),
        Command::Restore(args) => backup::restore(&ctx, args),
        Command::Collect(args) => plugin::collect(&ctx, args),
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
    pub actor: String,
    pub output: Output,
    pub server: Option<String>,
    pub token: Option<String>,
    pub cacert: Option<PathBuf>,
    pub config: Config,
}

impl Ctx {
    /// The API, remote or in-process.
    fn client(&self) -> Result<Client, Failure> {
        match &self.server {
            Some(url) => Client::remote(url, self.token.clone(), self.cacert.clone()),
            None => Client::local(&self.config, &self.actor),
        }
    }

    /// Print `value` as JSON, or the text `human` makes of it.
    fn print<T: serde::Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) {
        match self.output {
            Output::Json => out(&serde_json::to_string_pretty(value).unwrap_or_default()),
            Output::Text | Output::Tsv => out(&human(value)),
        }
    }
}

/// Decode an API answer into the type the command prints.
fn decode<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> Result<T, Failure> {
    serde_json::from_value(v)
        .map_err(|e| Failure::undecided("unexpected_answer", format!("unexpected {what} from the server: {e}")))
}

/// Read a JSON file given on the command line (`-` for standard input).
fn read_json_file(path: &std::path::Path) -> Result<Value, Failure> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| usage(format!("cannot read standard input: {e}")))?
    } else {
        read_text_file(path)?
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

pub(crate) fn usage(message: String) -> Failure {
    Failure::new(error::EXIT_USAGE, "usage", message)
}

/// `k=v` pairs from repeated flags.
fn parse_pairs(flag: &str, values: &[String]) -> Result<serde_json::Map<String, Value>, Failure> {
    let mut map = serde_json::Map::new();
    for v in values {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| usage(format!("invalid --{flag} {v:?}: expected KEY=VALUE")))?;
        map.insert(k.to_string(), Value::String(val.to_string()));
    }
    Ok(map)
}
