//! WebAssembly component plugins: gate checks and evidence collectors that
//! implement the `gatehouse:plugin@0.1.0` WIT worlds (`wit/`).
//!
//! This crate owns the plugin registry (bundled plugins built into the
//! binary, then a plugin directory of manifests), signatures and pins, and
//! the calls. Only `sandbox` touches wasmtime. A plugin is compiled on first
//! use (or by [`PluginHost::warm`], which `serve` calls at start), and every
//! call runs in a fresh sandbox; whatever goes wrong in one becomes a
//! [`Failure`] naming the limit, never a panic or a hang of the host.

pub mod manifest;
pub mod oci;
mod sandbox;
pub mod signature;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use gatehouse_core::error::{Error, Result};
pub use manifest::{Capabilities, ConfigValue, Manifest, World};
pub use sandbox::{DEFAULT_POOL_SIZE, MAX_POOL_SIZE};
pub use signature::{Signer, VendorKey};

mod bundled {
    include!(concat!(env!("OUT_DIR"), "/bundled_plugins.rs"));
}

/// What a call gets: the essentials typed, the rest as the JSON input document.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub application: String,
    pub version: String,
    pub action: String,
    pub from_stage: Option<String>,
    pub to_stage: Option<String>,
    pub gate: String,
    /// The binding's params, a JSON object.
    pub params: String,
    /// The input document (docs/input-document.md).
    pub input: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: String,
    pub message: String,
    pub severity: Severity,
    pub remediation: Option<String>,
}

/// A gate check's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub findings: Vec<Finding>,
}

/// A collector's answer: one statement, before the host signs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    pub predicate_type: String,
    pub predicate: serde_json::Value,
}

/// Why a call produced no usable answer. Each is an `error` outcome at a gate.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The plugin returned `error` itself.
    Plugin {
        code: String,
        message: String,
    },
    Timeout {
        limit_ms: u64,
    },
    Memory {
        limit: u64,
        requested: u64,
    },
    Fuel {
        limit: u64,
    },
    StackOverflow,
    /// A trap: a panic, `unreachable`, a failed stdio write.
    Trap(String),
    OutputTooLarge {
        bytes: u64,
        limit: u64,
    },
    /// More findings or statements than one call may return.
    TooMany {
        what: &'static str,
        count: usize,
        limit: usize,
    },
    /// More files, directories and streams open at once than `max_open_files`.
    OpenFiles {
        limit: u64,
    },
    /// A result that breaks the contract (empty rule, predicate not an object…).
    Malformed(String),
    /// The plugin tried something its manifest does not grant.
    Capability(String),
    /// The plugin could not be run at all (refused at load, failed to compile, pool exhausted).
    Unavailable(String),
}

impl Failure {
    /// The stable machine code recorded with the check result.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Plugin { .. } => "plugin_error",
            Failure::Timeout { .. } => "timeout",
            Failure::Memory { .. } => "memory",
            Failure::Fuel { .. } => "fuel",
            Failure::StackOverflow => "stack_overflow",
            Failure::Trap(_) => "trap",
            Failure::OutputTooLarge { .. } => "output_too_large",
            Failure::TooMany { .. } => "too_many_items",
            Failure::OpenFiles { .. } => "open_files",
            Failure::Malformed(_) => "malformed_result",
            Failure::Capability(_) => "capability",
            Failure::Unavailable(_) => "unavailable",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Plugin { code, message } => write!(f, "the plugin reported an error ({code}): {message}"),
            Failure::Timeout { limit_ms } => write!(f, "exceeded its time limit (timeout_ms = {limit_ms})"),
            Failure::Memory { limit, requested } => write!(
                f,
                "exceeded its memory limit (max_memory_bytes = {limit}; it asked for {requested})"
            ),
            Failure::Fuel { limit } => write!(f, "ran out of fuel (max_fuel = {limit})"),
            Failure::StackOverflow => write!(f, "overflowed its call stack (deep recursion)"),
            Failure::Trap(t) => write!(f, "trapped: {t}"),
            Failure::OutputTooLarge { bytes, limit } => write!(
                f,
                "returned {bytes} bytes, over its output limit (max_output_bytes = {limit})"
            ),
            Failure::TooMany { what, count, limit } => {
                write!(f, "returned {count} {what}; one call may return at most {limit}")
            }
            Failure::OpenFiles { limit } => write!(
                f,
                "held more files, directories and streams open at once than its limit (max_open_files = {limit})"
            ),
            Failure::Malformed(m) => write!(f, "returned a malformed result: {m}"),
            Failure::Capability(c) => write!(f, "capability violation: {c}"),
            Failure::Unavailable(u) => write!(f, "cannot run: {u}"),
        }
    }
}

/// How the registry is assembled.
#[derive(Debug, Clone, Default)]
pub struct PluginSettings {
    /// A directory of plugin manifests (`*.toml`), loaded after the bundled plugins;
    /// one with a bundled plugin's name replaces it.
    pub dir: Option<PathBuf>,
    /// Refuse plugins from `dir` that carry no valid vendor signature.
    pub require_signed: bool,
    pub trusted_keys: Vec<VendorKey>,
    /// Where compiled components are cached (DATA_DIR/plugin-cache).
    pub cache_dir: Option<PathBuf>,
    /// Concurrent plugin calls (sandboxes in the pool); None: 128.
    pub pool_size: Option<u32>,
    /// Paths no plugin may be granted, nor any directory that holds them:
    /// the data directory (it holds the private keys), the configuration
    /// file and the release key file.
    pub protected_paths: Vec<PathBuf>,
    /// Admit a manifest without `sha256` (`plugin run` only: an author runs
    /// what they just built; a sidecar never sets this).
    pub allow_unpinned: bool,
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PluginOrigin {
    Bundled,
    File { manifest: PathBuf, wasm: PathBuf },
}

/// A plugin admitted to the registry.
pub struct Plugin {
    pub manifest: Manifest,
    pub digest: String,
    pub signer: Signer,
    pub origin: PluginOrigin,
    wasm: Arc<[u8]>,
    prepared: OnceLock<std::result::Result<sandbox::Prepared, String>>,
}

/// What `plugin list|inspect` and `GET /v1/plugins` show.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub world: World,
    pub description: String,
    /// SHA-256 of the component.
    pub digest: String,
    pub size_bytes: usize,
    pub signer: Signer,
    pub origin: PluginOrigin,
    pub capabilities: Capabilities,
    pub config: BTreeMap<String, ConfigValue>,
    /// `compiled`, `not yet compiled`, or why it cannot run.
    pub state: String,
}

impl Plugin {
    pub fn info(&self) -> PluginInfo {
        PluginInfo {
            name: self.manifest.name.clone(),
            version: self.manifest.version.clone(),
            world: self.manifest.world,
            description: self.manifest.description.clone(),
            digest: self.digest.clone(),
            size_bytes: self.wasm.len(),
            signer: self.signer.clone(),
            origin: self.origin.clone(),
            capabilities: self.manifest.capabilities.clone(),
            config: self.manifest.config.clone(),
            state: match self.prepared.get() {
                None => "not yet compiled".into(),
                Some(Ok(_)) => "compiled".into(),
                Some(Err(e)) => format!("cannot run: {e}"),
            },
        }
    }
}

/// The registry and the sandboxes plugins run in.
pub struct PluginHost {
    plugins: BTreeMap<String, Arc<Plugin>>,
    cache_dir: Option<PathBuf>,
    pool_size: u32,
    sandboxes: OnceLock<std::result::Result<sandbox::Sandboxes, String>>,
    /// Set when [`PluginHost::warm`] has finished.
    warmed: std::sync::atomic::AtomicBool,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl PluginHost {
    /// The bundled plugins, then the plugin directory. Any manifest there that
    /// cannot be admitted is an error naming the file: a plugin directory is
    /// loaded whole or not at all.
    pub fn load(settings: &PluginSettings) -> Result<PluginHost> {
        let mut plugins = BTreeMap::new();
        for (toml, wasm) in bundled::PLUGINS {
            let m = manifest::parse(toml, "bundled manifest", Path::new("/"))?;
            let plugin = Plugin {
                digest: sha256_hex(wasm),
                signer: Signer::Bundled,
                origin: PluginOrigin::Bundled,
                wasm: Arc::from(*wasm),
                prepared: OnceLock::new(),
                manifest: m,
            };
            plugins.insert(plugin.manifest.name.clone(), Arc::new(plugin));
        }
        if let Some(dir) = &settings.dir {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| {
                    Error::invalid(
                        "plugin_dir",
                        dir.display().to_string(),
                        format!("a readable directory ({e})"),
                    )
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            let mut from_dir = BTreeMap::new();
            for f in files {
                let plugin = load_file(&f, settings)?;
                let name = plugin.manifest.name.clone();
                if let Some(first) = from_dir.insert(name.clone(), f.clone()) {
                    return Err(Error::invalid(
                        format!("{}: name", f.display()),
                        &name,
                        format!("a name no other manifest uses ({} does)", first.display()),
                    ));
                }
                plugins.insert(name, Arc::new(plugin));
            }
        }
        Ok(PluginHost {
            plugins,
            cache_dir: settings.cache_dir.clone(),
            pool_size: settings.pool_size.unwrap_or(sandbox::DEFAULT_POOL_SIZE),
            sandboxes: OnceLock::new(),
            warmed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.plugins.get(name).cloned()
    }

    pub fn list(&self) -> Vec<PluginInfo> {
        self.plugins.values().map(|p| p.info()).collect()
    }

    fn sandboxes(&self) -> std::result::Result<&sandbox::Sandboxes, String> {
        self.sandboxes
            .get_or_init(|| sandbox::Sandboxes::new(self.cache_dir.as_deref(), self.pool_size))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn prepared<'a>(
        &self,
        plugin: &'a Plugin,
    ) -> std::result::Result<(&sandbox::Sandboxes, &'a sandbox::Prepared), Failure> {
        let sandboxes = self.sandboxes().map_err(Failure::Unavailable)?;
        let prepared = plugin
            .prepared
            .get_or_init(|| sandboxes.prepare(&plugin.wasm, &plugin.digest, plugin.manifest.world))
            .as_ref()
            .map_err(|e| Failure::Unavailable(e.clone()))?;
        Ok((sandboxes, prepared))
    }

    /// Whether [`PluginHost::warm`] has run to its end (each plugin compiled,
    /// or found unable to run): until then a sidecar is not ready.
    pub fn warmed(&self) -> bool {
        self.warmed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Compile every plugin now, over the cores, so that a broken one is
    /// found at start and the first gate does not wait; each logged with how
    /// long it took (a component compiled before is read from the cache).
    pub fn warm(&self) -> Result<()> {
        let plugins: Vec<&Arc<Plugin>> = self.plugins.values().collect();
        let started = std::time::Instant::now();
        // Threads of its own (not the gates' helpers: a compilation can take
        // seconds, and a gate waits for its helper).
        let each = gatehouse_core::cores::in_shares(&plugins, |part| {
            part.iter()
                .map(|p| {
                    let t = std::time::Instant::now();
                    let r = self.prepared(p).map(drop);
                    let ms = t.elapsed().as_millis();
                    match &r {
                        Ok(()) => tracing::info!(plugin = %p.manifest.name, ms, "plugin ready"),
                        Err(f) => tracing::error!(plugin = %p.manifest.name, ms, "plugin cannot run: {f}"),
                    }
                    r
                })
                .collect()
        });
        tracing::info!(
            plugins = plugins.len(),
            ms = started.elapsed().as_millis(),
            "every plugin compiled or read from the cache"
        );
        self.warmed.store(true, std::sync::atomic::Ordering::Release);
        for (p, r) in plugins.iter().zip(each) {
            if let Err(f) = r {
                return Err(Error::invalid(
                    format!("plugin {}", p.manifest.name),
                    &p.digest,
                    format!("a component that can run here ({f})"),
                ));
            }
        }
        Ok(())
    }

    /// Run a gate check in a fresh sandbox.
    pub fn check(&self, plugin: &Plugin, ctx: &CallContext) -> std::result::Result<Verdict, Failure> {
        let _span = tracing::debug_span!("plugin_check", plugin = %plugin.manifest.name, gate = %ctx.gate).entered();
        let (sandboxes, prepared) = self.prepared(plugin)?;
        let called = sandboxes.check(prepared, &plugin.manifest, ctx);
        emit(&plugin.manifest.name, &called.log);
        if let Err(f) = &called.result {
            tracing::warn!(plugin = %plugin.manifest.name, "plugin check failed: {f}");
        }
        called.result
    }

    /// Run a collector in a fresh sandbox.
    pub fn collect(&self, plugin: &Plugin, ctx: &CallContext) -> std::result::Result<Vec<Statement>, Failure> {
        let _span =
            tracing::debug_span!("plugin_collect", plugin = %plugin.manifest.name, version = %ctx.version).entered();
        let (sandboxes, prepared) = self.prepared(plugin)?;
        let called = sandboxes.collect(prepared, &plugin.manifest, ctx);
        emit(&plugin.manifest.name, &called.log);
        if let Err(f) = &called.result {
            tracing::warn!(plugin = %plugin.manifest.name, "collector failed: {f}");
        }
        called.result
    }

    /// One call as a plugin author runs it (`gatehouse plugin run`): the
    /// plugin's `check` or `collect`, by its world, in a fresh sandbox with
    /// the manifest's limits — the gate's call — answered with the lines it
    /// logged, the fuel it used and the time it took, not sent to the log.
    pub fn run_once(&self, plugin: &Plugin, ctx: &CallContext) -> Run {
        let started = std::time::Instant::now();
        let (sandboxes, prepared) = match self.prepared(plugin) {
            Ok(p) => p,
            Err(f) => {
                return Run {
                    answer: Answer::Failure(f),
                    log: Vec::new(),
                    fuel_used: None,
                    prepared_in: started.elapsed(),
                    elapsed: std::time::Duration::ZERO,
                };
            }
        };
        let prepared_in = started.elapsed();
        let started = std::time::Instant::now();
        let (answer, log, fuel_used) = match plugin.manifest.world {
            World::GateCheck => {
                let c = sandboxes.check(prepared, &plugin.manifest, ctx);
                (c.result.map(Answer::Verdict), c.log, c.fuel_used)
            }
            World::Collector => {
                let c = sandboxes.collect(prepared, &plugin.manifest, ctx);
                (c.result.map(Answer::Statements), c.log, c.fuel_used)
            }
        };
        Run {
            answer: answer.unwrap_or_else(Answer::Failure),
            log: log
                .into_iter()
                .map(|l| RunLine {
                    level: l.level.as_str().to_ascii_lowercase(),
                    stream: l.stream,
                    text: l.text,
                })
                .collect(),
            fuel_used,
            prepared_in,
            elapsed: started.elapsed(),
        }
    }
}

/// What [`PluginHost::run_once`] reports.
#[derive(Debug, Clone)]
pub struct Run {
    pub answer: Answer,
    /// The plugin's log and stdio lines, in order.
    pub log: Vec<RunLine>,
    pub fuel_used: Option<u64>,
    /// Getting the component ready: compiling it, or reading it from the cache.
    pub prepared_in: std::time::Duration,
    /// The call alone.
    pub elapsed: std::time::Duration,
}

/// A call's answer by the plugin's world, or why there is none.
#[derive(Debug, Clone)]
pub enum Answer {
    Verdict(Verdict),
    Statements(Vec<Statement>),
    Failure(Failure),
}

/// One line a plugin wrote: through the host's `log` (`stream` "host") or to `stdout`/`stderr`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunLine {
    pub level: String,
    pub stream: &'static str,
    pub text: String,
}

/// A gate check instantiated once and called repeatedly in the same sandbox.
/// Gates always use a fresh sandbox; this is for benchmarks and batch tools
/// that accept state carried between calls.
pub struct WarmCheck {
    host: Arc<PluginHost>,
    plugin: Arc<Plugin>,
    sandbox: sandbox::Warm,
}

impl WarmCheck {
    pub fn new(host: Arc<PluginHost>, plugin: Arc<Plugin>) -> std::result::Result<WarmCheck, Failure> {
        let (sandboxes, prepared) = host.prepared(&plugin)?;
        let sandbox = sandboxes.warm(prepared, &plugin.manifest)?;
        Ok(WarmCheck { host, plugin, sandbox })
    }

    pub fn check(&mut self, ctx: &CallContext) -> std::result::Result<Verdict, Failure> {
        let (sandboxes, _) = self.host.prepared(&self.plugin)?;
        sandboxes.call_warm(&mut self.sandbox, ctx)
    }
}

/// The plugin's lines in the host's log, each prefixed with its name.
fn emit(plugin: &str, lines: &[sandbox::LogLine]) {
    for l in lines {
        match l.level {
            tracing::Level::ERROR => tracing::error!(plugin, stream = l.stream, "[plugin:{plugin}] {}", l.text),
            tracing::Level::WARN => tracing::warn!(plugin, stream = l.stream, "[plugin:{plugin}] {}", l.text),
            tracing::Level::INFO => tracing::info!(plugin, stream = l.stream, "[plugin:{plugin}] {}", l.text),
            tracing::Level::DEBUG => tracing::debug!(plugin, stream = l.stream, "[plugin:{plugin}] {}", l.text),
            _ => tracing::trace!(plugin, stream = l.stream, "[plugin:{plugin}] {}", l.text),
        }
    }
}

/// Admit one plugin from its manifest file: the manifest valid, the component
/// present and matching its pin, the signature (if any) valid, and a
/// signature present when the settings require one.
pub fn load_file(path: &Path, settings: &PluginSettings) -> Result<Plugin> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid("plugin manifest", &origin, format!("a readable file ({e})")))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let m = manifest::parse(&text, &origin, base)?;
    manifest::refuse_protected(&m, &origin, &settings.protected_paths)?;
    if let Some(name) = m.bundled.clone() {
        // A bundled component never runs under another bundled plugin's
        // name: otherwise `plugin:provenance-builder` could run licence code.
        if name != m.name && bundled_names()?.contains(&m.name) {
            return Err(Error::invalid(
                format!("{origin}: bundled"),
                &name,
                format!(
                    "the bundled plugin named {:?}, as the manifest's name says (a bundled component cannot run under another plugin's name; choose a name of your own)",
                    m.name
                ),
            ));
        }
        let Some((bm, wasm)) = bundled_component(&name)? else {
            return Err(Error::invalid(
                format!("{origin}: bundled"),
                &name,
                format!("the name of a bundled plugin ({})", bundled_names()?.join(", ")),
            ));
        };
        if bm.world != m.world {
            return Err(Error::invalid(
                format!("{origin}: world"),
                m.world.as_str(),
                format!("{}, the world of the bundled {name}", bm.world.as_str()),
            ));
        }
        let mut m = m;
        if m.capabilities.predicate_types.is_empty() {
            m.capabilities.predicate_types = bm.capabilities.predicate_types;
        }
        return Ok(Plugin {
            digest: sha256_hex(wasm),
            signer: Signer::Bundled,
            origin: PluginOrigin::File {
                manifest: path.to_path_buf(),
                wasm: PathBuf::from(format!("bundled:{name}")),
            },
            wasm: Arc::from(wasm),
            prepared: OnceLock::new(),
            manifest: m,
        });
    }
    if let Some(reference) = m.oci.clone() {
        return load_oci(path, m, &reference, settings);
    }
    let Some(wasm_path) = m.wasm.clone() else {
        return Err(Error::invalid(
            format!("{origin}: wasm"),
            "(missing)",
            "the path of the component, relative to the manifest (or `bundled = NAME`)",
        ));
    };
    if m.sha256.is_none() && !settings.allow_unpinned {
        return Err(Error::invalid(
            format!("{origin}: sha256"),
            "(missing)",
            "the component's SHA-256 (a plugin from a directory must be pinned)",
        ));
    }
    let wasm = std::fs::read(&wasm_path).map_err(|e| {
        Error::invalid(
            format!("{origin}: wasm"),
            wasm_path.display().to_string(),
            format!("a readable component file ({e})"),
        )
    })?;
    let digest = sha256_hex(&wasm);
    let pin = m.sha256.clone().unwrap_or_else(|| digest.clone());
    if digest != pin {
        return Err(Error::invalid(
            format!("{origin}: sha256"),
            &pin,
            format!(
                "the SHA-256 of {} ({digest}): the component is not the one pinned",
                wasm_path.display()
            ),
        ));
    }
    let sig_path = signature_path(&wasm_path);
    let sig = match std::fs::read(&sig_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Error::invalid(
                format!("{origin}: signature"),
                sig_path.display().to_string(),
                format!("a readable file ({e})"),
            ));
        }
    };
    let sig_origin = sig_path.display().to_string();
    admit(path, m, wasm, digest, wasm_path, sig.as_deref(), &sig_origin, settings)
}

/// A plugin from a manifest file whose component (`wasm`, of SHA-256
/// `digest`, shown as coming from `wasm_origin`) is settled: admitted when
/// its signature passes. A present signature must verify (a trusted key,
/// this component, this plugin's name); an absent one is refused when
/// signatures are required.
#[allow(clippy::too_many_arguments)]
fn admit(
    path: &Path,
    m: Manifest,
    wasm: Vec<u8>,
    digest: String,
    wasm_origin: PathBuf,
    sig: Option<&[u8]>,
    sig_origin: &str,
    settings: &PluginSettings,
) -> Result<Plugin> {
    let origin = path.display().to_string();
    let signer = match sig {
        Some(bytes) => signature::verify(bytes, &digest, &m.name, &settings.trusted_keys).map_err(|reason| {
            Error::invalid(
                format!("{origin}: signature"),
                sig_origin,
                format!("a valid signature by a trusted plugin key, but {reason}"),
            )
        }),
        None if settings.require_signed => Err(Error::invalid(
            format!("{origin}: signature"),
            sig_origin,
            "a signature file: require_signed_plugins = true and this plugin is unsigned (gatehouse plugin sign)",
        )),
        None => Ok(Signer::Unsigned),
    }?;
    Ok(Plugin {
        digest,
        signer,
        origin: PluginOrigin::File {
            manifest: path.to_path_buf(),
            wasm: wasm_origin,
        },
        wasm: Arc::from(wasm),
        prepared: OnceLock::new(),
        manifest: m,
    })
}

/// A manifest naming `oci = "…@sha256:…"`: the component and its signature
/// come from the pinned artifact (the cache, else the registry); the
/// operator's manifest gives the name, config and grants. The vendor's
/// manifest in the artifact must be of the same world.
fn load_oci(path: &Path, m: Manifest, reference: &str, settings: &PluginSettings) -> Result<Plugin> {
    let origin = path.display().to_string();
    let refused = |why: String| Error::invalid(format!("{origin}: oci"), reference, why);
    let parsed = oci::Reference::parse(reference).map_err(&refused)?;
    let artifact = oci::fetch_pinned(&parsed, settings.cache_dir.as_deref())
        .map_err(|e| refused(format!("a plugin artifact the registry serves ({e})")))?;
    let vendor = manifest::parse(
        &artifact.manifest,
        &format!("{reference}: gatehouse-plugin.toml"),
        Path::new("/"),
    )?;
    if vendor.world != m.world {
        return Err(Error::invalid(
            format!("{origin}: world"),
            m.world.as_str(),
            format!("{}, the world of the plugin {reference} carries", vendor.world.as_str()),
        ));
    }
    let digest = sha256_hex(&artifact.wasm);
    admit(
        path,
        m,
        artifact.wasm,
        digest,
        PathBuf::from(format!("oci:{reference}")),
        artifact.signature.as_deref(),
        &format!("{reference} (signature layer)"),
        settings,
    )
}

/// The manifest and component of a bundled plugin.
fn bundled_component(name: &str) -> Result<Option<(Manifest, &'static [u8])>> {
    for (toml, wasm) in bundled::PLUGINS {
        let m = manifest::parse(toml, "bundled manifest", Path::new("/"))?;
        if m.name == name {
            return Ok(Some((m, wasm)));
        }
    }
    Ok(None)
}

fn bundled_names() -> Result<Vec<String>> {
    bundled::PLUGINS
        .iter()
        .map(|(toml, _)| Ok(manifest::parse(toml, "bundled manifest", Path::new("/"))?.name))
        .collect()
}

/// Where a component's signature lives: `PLUGIN.wasm.sig`.
pub fn signature_path(wasm: &Path) -> PathBuf {
    let mut p = wasm.as_os_str().to_owned();
    p.push(".sig");
    PathBuf::from(p)
}

impl PluginHost {
    /// A one-off host holding only `plugin` (the commands that run outside a
    /// sidecar: `plugin load`, `plugin run`), with one sandbox slot.
    pub fn only(plugin: Arc<Plugin>, settings: &PluginSettings) -> PluginHost {
        PluginHost {
            plugins: BTreeMap::from([(plugin.manifest.name.clone(), plugin)]),
            cache_dir: settings.cache_dir.clone(),
            pool_size: 1,
            sandboxes: OnceLock::new(),
            warmed: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// A one-off host for `gatehouse plugin load`: admit the manifest and compile it.
pub fn load_and_compile(path: &Path, settings: &PluginSettings) -> Result<PluginInfo> {
    let plugin = Arc::new(load_file(path, settings)?);
    PluginHost::only(plugin.clone(), settings).warm()?;
    Ok(plugin.info())
}
