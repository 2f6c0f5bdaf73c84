//! `gatehouse plugin …` and `gatehouse collect`

use std::path::PathBuf;

use hyper::Method;
use serde_json::{Value, json};

use super::client::seg;
use super::{CmdResult, Ctx, Failure, decode, read_text_file, usage};
use crate::keys;
use crate::plugin::{self, PluginInfo};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The loaded plugins: name, world, digest, signer.
    List,
    /// One loaded plugin (by name) or a manifest file (by path): world,
    /// digest, signer, capabilities and config.
    Inspect {
        name_or_manifest: String,
        /// Trust this vendor public key (PEM) for a manifest's signature, besides plugin_keys.
        #[arg(long = "trusted-key")]
        trusted_keys: Vec<PathBuf>,
    },
    /// Admit a manifest the way the sidecar would (pin, signature, limits)
    /// and compile its component; exit 0 when it would load.
    Load {
        manifest: PathBuf,
        /// Trust this vendor public key (PEM) for the signature, besides plugin_keys.
        #[arg(long = "trusted-key")]
        trusted_keys: Vec<PathBuf>,
        /// Refuse the plugin unless it is validly signed.
        #[arg(long)]
        require_signed: bool,
    },
    /// Call a plugin once, without a server or a store: its manifest admitted
    /// as `load` admits it, then its `check` (or `collect`) in a fresh sandbox
    /// with the manifest's limits, as a gate calls it. Prints the verdict (or
    /// the statements), the lines it logged, the fuel and time it used. Exit
    /// 0: pass or warn (a collector: statements); 1: fail or error — the gate
    /// would block; 2: a bad manifest, context or flag.
    Run {
        manifest: PathBuf,
        /// A call context (JSON object): `application`, `version`, `action`,
        /// `from_stage`, `to_stage`, `gate` ("STAGE/entry|exit|release"),
        /// `params` and `input` (the input document), each optional. Without
        /// it: an empty input document at a dev/entry gate.
        #[arg(long)]
        context: Option<PathBuf>,
        /// The binding's parameters (a JSON object); they replace the context's.
        #[arg(long)]
        params: Option<String>,
        /// Trust this vendor public key (PEM) for the signature, besides plugin_keys.
        #[arg(long = "trusted-key")]
        trusted_keys: Vec<PathBuf>,
        /// Refuse the plugin unless it is validly signed.
        #[arg(long)]
        require_signed: bool,
    },
    /// The call a gate of the version's next move would make now — its
    /// transition and input document, from the store or a sidecar — as the
    /// context file `plugin run --context` reads. Nothing is written to the
    /// store; collectors are not run.
    Context {
        app: String,
        version: String,
        /// STAGE (its entry gate), STAGE/entry, STAGE/exit or STAGE/release.
        gate: String,
        /// Write the context here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A new plugin project in DIR (default ./NAME): source, manifest, a
    /// sample context and a README with its build, test, run, sign and push
    /// commands. Rust projects carry the SDK this binary was built with.
    New {
        name: String,
        #[arg(long, value_enum, default_value = "gate-check")]
        world: NewWorld,
        #[arg(long, value_enum, default_value = "rust")]
        lang: super::scaffold::Lang,
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Build a Rust project against the gatehouse-sdk crate at this path
        /// instead of writing the carried copy into the project.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Publish a plugin to an OCI registry as one artifact (component,
    /// manifest pinned to it, signature when signed); prints the reference
    /// pinned by digest for operators.
    Push {
        /// REGISTRY/REPOSITORY:TAG (plain HTTP only to a loopback registry).
        reference: String,
        #[arg(long, default_value = "gatehouse-plugin.toml")]
        manifest: PathBuf,
    },
    /// Fetch a plugin artifact into DIR (default ./NAME): its manifest,
    /// component and signature, ready for `plugin load`; prints the pin.
    Pull {
        /// REGISTRY/REPOSITORY[:TAG][@sha256:HEX]; a digest is checked.
        reference: String,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Sign a component with a vendor key: writes PLUGIN.wasm.sig beside it.
    Sign {
        #[arg(long)]
        key: PathBuf,
        wasm: PathBuf,
        /// The plugin's name, recorded in the signature.
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum NewWorld {
    GateCheck,
    Collector,
}

#[derive(Debug, clap::Args)]
pub struct CollectArgs {
    pub app: String,
    pub version: String,
    /// The collector plugin to run.
    #[arg(long)]
    pub plugin: String,
    /// Parameters for the collector (a JSON object).
    #[arg(long)]
    pub params: Option<String>,
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    match cmd {
        Command::List => {
            let items: Vec<PluginInfo> = decode(
                "plugins",
                ctx.client()?
                    .get("/v1/plugins", &[])?
                    .get("items")
                    .cloned()
                    .unwrap_or_default(),
            )?;
            ctx.print(&items, |items| {
                items
                    .iter()
                    .map(|p| {
                        format!(
                            "{}\t{}\t{}\tsha256:{}\t{}",
                            p.name,
                            p.version,
                            p.world.as_str(),
                            &p.digest[..12],
                            p.signer
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Inspect {
            name_or_manifest,
            trusted_keys,
        } => {
            let info = if name_or_manifest.ends_with(".toml") {
                let settings = local_settings(ctx, &trusted_keys, false)?;
                let p = plugin::load_file(std::path::Path::new(&name_or_manifest), &settings)?;
                p.info()
            } else {
                decode(
                    "plugin",
                    ctx.client()?
                        .get(&format!("/v1/plugins/{}", seg(&name_or_manifest)), &[])?,
                )?
            };
            ctx.print(&info, describe);
        }
        Command::Load {
            manifest,
            trusted_keys,
            require_signed,
        } => {
            let settings = local_settings(ctx, &trusted_keys, require_signed)?;
            let info = plugin::load_and_compile(&manifest, &settings)?;
            ctx.print(&info, |i| format!("would load:\n{}", describe(i)));
        }
        Command::Run {
            manifest,
            context,
            params,
            trusted_keys,
            require_signed,
        } => {
            return run_once(
                ctx,
                &manifest,
                context.as_deref(),
                params.as_deref(),
                &trusted_keys,
                require_signed,
            );
        }
        Command::New {
            name,
            world,
            lang,
            dir,
            sdk,
        } => {
            if !plugin::manifest::valid_name(&name) {
                return Err(usage(format!(
                    "NAME {name:?}: expected 1 to 64 of a-z, 0-9 and -, starting with a letter (the plugin's name)"
                )));
            }
            let world = match world {
                NewWorld::GateCheck => plugin::World::GateCheck,
                NewWorld::Collector => plugin::World::Collector,
            };
            let sdk = match sdk {
                Some(p) => Some(std::path::absolute(&p).map_err(|e| usage(format!("--sdk {}: {e}", p.display())))?),
                None => None,
            };
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let files = super::scaffold::files(&name, world, lang, sdk.as_deref());
            super::scaffold::write(&dir, &files).map_err(usage)?;
            let summary = json!({
                "name": name,
                "world": world.as_str(),
                "dir": dir,
                "files": files.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            });
            ctx.print(&summary, |_| {
                format!(
                    "created {} ({} {}) in {}: see its README.md",
                    name,
                    world.as_str(),
                    format!("{lang:?}").to_lowercase(),
                    dir.display()
                )
            });
        }
        Command::Context {
            app,
            version,
            gate,
            out,
        } => {
            let call = ctx.client()?.get(
                &format!("/v1/applications/{}/versions/{}/document", seg(&app), seg(&version)),
                &[("gate", gate.clone())],
            )?;
            let text = serde_json::to_string_pretty(&call).unwrap_or_default() + "\n";
            match out {
                Some(path) => {
                    std::fs::write(&path, &text).map_err(|e| usage(format!("--out {}: {e}", path.display())))?;
                    let gate = call.get("gate").and_then(Value::as_str).unwrap_or_default();
                    ctx.print(&json!({"written": path, "gate": gate}), |_| {
                        format!("wrote the {gate} call to {}", path.display())
                    });
                }
                None => print!("{text}"),
            }
        }
        Command::Push { reference, manifest } => push(ctx, &reference, &manifest)?,
        Command::Pull { reference, dir } => pull(ctx, &reference, dir)?,
        Command::Sign { key, wasm, name } => {
            let sk = keys::parse_private_key(&format!("--key {}", key.display()), &read_text_file(&key)?)?;
            let bytes = std::fs::read(&wasm).map_err(|e| usage(format!("cannot read {}: {e}", wasm.display())))?;
            let digest = plugin::sha256_hex(&bytes);
            let env = plugin::signature::sign(&sk, &digest, name.as_deref(), &crate::time::now());
            let out = plugin::signature_path(&wasm);
            std::fs::write(&out, serde_json::to_string_pretty(&env).unwrap_or_default() + "\n")
                .map_err(|e| super::usage(format!("cannot write {}: {e}", out.display())))?;
            let summary = json!({
                "signature": out,
                "wasm_sha256": digest,
                "keyid": keys::keyid(&sk.verifying_key()),
            });
            ctx.print(&summary, |s| {
                format!(
                    "signed sha256:{} with key {}: {}",
                    digest,
                    s["keyid"].as_str().unwrap_or_default(),
                    out.display()
                )
            });
        }
    }
    Ok(())
}

pub fn collect(ctx: &Ctx, args: CollectArgs) -> CmdResult {
    let params: Value = match &args.params {
        None => json!({}),
        Some(text) => serde_json::from_str(text).map_err(|e| usage(format!("--params: not valid JSON: {e}")))?,
    };
    let body = json!({ "plugin": args.plugin, "params": params });
    let out = ctx.client()?.call(
        Method::POST,
        &format!(
            "/v1/applications/{}/versions/{}/collect",
            seg(&args.app),
            seg(&args.version)
        ),
        &[],
        Some(&body),
    )?;
    ctx.print(&out, |o| {
        let items = o["evidence"].as_array().cloned().unwrap_or_default();
        let mut lines = vec![format!(
            "{} collected {} statement(s) for {} {}",
            args.plugin,
            items.len(),
            args.app,
            args.version
        )];
        for i in items {
            lines.push(format!(
                "  sha256:{}\t{}",
                i.get("digest").and_then(Value::as_str).unwrap_or_default(),
                i.get("predicate_type").and_then(Value::as_str).unwrap_or_default()
            ));
        }
        lines.join("\n")
    });
    Ok(())
}

fn push(ctx: &Ctx, reference: &str, manifest: &std::path::Path) -> CmdResult {
    let r = plugin::oci::Reference::parse(reference).map_err(|e| usage(format!("REFERENCE {e}")))?;
    let text = read_text_file(manifest)?;
    let base = manifest.parent().unwrap_or(std::path::Path::new("."));
    let m = plugin::manifest::parse(&text, &manifest.display().to_string(), base)?;
    let Some(wasm_path) = m.wasm.clone() else {
        return Err(usage(format!(
            "{}: wasm: expected the path of the component to publish (not `bundled` or `oci`)",
            manifest.display()
        )));
    };
    let wasm = std::fs::read(&wasm_path).map_err(|e| usage(format!("{}: wasm: {e}", wasm_path.display())))?;
    let digest = plugin::sha256_hex(&wasm);
    if let Some(pin) = &m.sha256
        && *pin != digest
    {
        return Err(usage(format!(
            "{}: sha256 {pin} is not the SHA-256 of {} ({digest}): rebuild or re-pin",
            manifest.display(),
            wasm_path.display()
        )));
    }
    let sig_path = plugin::signature_path(&wasm_path);
    let signature = match std::fs::read(&sig_path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(usage(format!("{}: {e}", sig_path.display()))),
    };
    // The published manifest names the component beside it and pins it.
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| usage(format!("{}: {e}", manifest.display())))?;
    table.insert("wasm".into(), toml::Value::String(format!("{}.wasm", m.name)));
    table.insert("sha256".into(), toml::Value::String(digest.clone()));
    let published = toml::to_string(&table).map_err(|e| usage(format!("{}: {e}", manifest.display())))?;
    let artifact = plugin::oci::Artifact {
        manifest: published,
        wasm,
        signature,
    };
    let image = plugin::oci::push(&r, &artifact, &crate::time::now()).map_err(|e| {
        Failure::new(
            crate::error::EXIT_UNDECIDED,
            "registry",
            format!("push {reference}: {e}"),
        )
    })?;
    let summary = json!({
        "reference": reference,
        "pinned": r.pinned(&image),
        "digest": format!("sha256:{image}"),
        "component_sha256": digest,
        "signed": artifact.signature.is_some(),
    });
    ctx.print(&summary, |s| {
        let mut out = format!(
            "pushed {} ({}) as {}\npin it in an operator's manifest: oci = \"{}\"",
            m.name,
            if artifact.signature.is_some() {
                "signed"
            } else {
                "UNSIGNED: operators requiring signatures will refuse it"
            },
            reference,
            s["pinned"].as_str().unwrap_or_default()
        );
        out.push_str(&format!("\ncomponent sha256:{digest}"));
        out
    });
    Ok(())
}

fn pull(ctx: &Ctx, reference: &str, dir: Option<PathBuf>) -> CmdResult {
    let r = plugin::oci::Reference::parse(reference).map_err(|e| usage(format!("REFERENCE {e}")))?;
    let pulled = plugin::oci::pull(&r).map_err(|e| {
        Failure::new(
            crate::error::EXIT_UNDECIDED,
            "registry",
            format!("pull {reference}: {e}"),
        )
    })?;
    let origin = format!("{reference}: gatehouse-plugin.toml");
    let vendor = plugin::manifest::parse(&pulled.artifact.manifest, &origin, std::path::Path::new("/"))?;
    if vendor.sha256.as_deref() != Some(plugin::sha256_hex(&pulled.artifact.wasm).as_str()) {
        return Err(Failure::refused(
            "invalid",
            format!("{origin}: sha256: the manifest does not pin the component the artifact carries"),
        ));
    }
    // Written under names of our choosing: a hostile manifest's `wasm` path
    // never decides where a file goes.
    let wasm_name = format!("{}.wasm", vendor.name);
    let mut table: toml::Table =
        toml::from_str(&pulled.artifact.manifest).map_err(|e| usage(format!("{origin}: {e}")))?;
    table.insert("wasm".into(), toml::Value::String(wasm_name.clone()));
    let manifest_text = format!(
        "# Pulled from {}\n{}",
        r.pinned(&pulled.digest),
        toml::to_string(&table).map_err(|e| usage(format!("{origin}: {e}")))?
    );
    let dir = dir.unwrap_or_else(|| PathBuf::from(&vendor.name));
    let mut files = vec![
        (PathBuf::from("gatehouse-plugin.toml"), manifest_text.into_bytes()),
        (PathBuf::from(&wasm_name), pulled.artifact.wasm.clone()),
    ];
    if let Some(sig) = &pulled.artifact.signature {
        files.push((plugin::signature_path(std::path::Path::new(&wasm_name)), sig.clone()));
    }
    super::scaffold::write(&dir, &files).map_err(usage)?;
    let summary = json!({
        "name": vendor.name,
        "dir": dir,
        "pinned": r.pinned(&pulled.digest),
        "digest": format!("sha256:{}", pulled.digest),
        "signed": pulled.artifact.signature.is_some(),
    });
    ctx.print(&summary, |s| {
        format!(
            "pulled {} into {} ({})\npinned: {}",
            vendor.name,
            dir.display(),
            if s["signed"] == json!(true) {
                "signed"
            } else {
                "unsigned"
            },
            s["pinned"].as_str().unwrap_or_default()
        )
    });
    Ok(())
}

/// What `plugin run --context FILE` reads: a gate's call, every field optional.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RunContext {
    application: String,
    version: String,
    action: String,
    from_stage: Option<String>,
    to_stage: Option<String>,
    gate: String,
    params: Value,
    input: Value,
}

impl Default for RunContext {
    fn default() -> Self {
        RunContext {
            application: "example".into(),
            version: "0.0.0".into(),
            action: "promote".into(),
            from_stage: None,
            to_stage: Some("dev".into()),
            gate: "dev/entry".into(),
            params: json!({}),
            input: json!({
                "schema": crate::document::SCHEMA,
                "evidence": [],
                "sbom": {"components": []},
                "findings": [],
                "waivers": [],
            }),
        }
    }
}

fn run_once(
    ctx: &Ctx,
    manifest: &std::path::Path,
    context: Option<&std::path::Path>,
    params: Option<&str>,
    trusted_keys: &[PathBuf],
    require_signed: bool,
) -> CmdResult {
    let mut call: RunContext = match context {
        None => RunContext::default(),
        Some(path) => {
            let text = read_text_file(path)?;
            serde_json::from_str(&text).map_err(|e| {
                usage(format!(
                    "--context {}: {e} (expected a JSON object with application, version, action, from_stage, to_stage, gate, params, input)",
                    path.display()
                ))
            })?
        }
    };
    if let Some(text) = params {
        call.params = serde_json::from_str(text).map_err(|e| usage(format!("--params: not valid JSON: {e}")))?;
    }
    if !call.params.is_object() {
        return Err(usage(format!("params: expected a JSON object, got {}", call.params)));
    }
    let mut settings = local_settings(ctx, trusted_keys, require_signed)?;
    // An author runs what they just built: the pin comes with publishing.
    settings.allow_unpinned = true;
    let plugin = std::sync::Arc::new(plugin::load_file(manifest, &settings)?);
    let host = plugin::PluginHost::only(plugin.clone(), &settings);
    let answer = host.run_once(
        &plugin,
        &plugin::CallContext {
            application: call.application,
            version: call.version,
            action: call.action,
            from_stage: call.from_stage,
            to_stage: call.to_stage,
            gate: call.gate,
            params: call.params.to_string(),
            input: call.input.to_string(),
        },
    );
    let (outcome, blocks) = match &answer.answer {
        plugin::Answer::Verdict(v) => (v.outcome.as_str(), v.outcome == plugin::Outcome::Fail),
        plugin::Answer::Statements(_) => ("collected", false),
        plugin::Answer::Failure(_) => ("error", true),
    };
    let report = json!({
        "plugin": plugin.manifest.name,
        "pinned": plugin.manifest.sha256.is_some() || plugin.manifest.bundled.is_some() || plugin.manifest.oci.is_some(),
        "world": plugin.manifest.world.as_str(),
        "digest": plugin.digest,
        "outcome": outcome,
        "verdict": match &answer.answer { plugin::Answer::Verdict(v) => json!(v), _ => Value::Null },
        "statements": match &answer.answer { plugin::Answer::Statements(s) => json!(s), _ => Value::Null },
        "error": match &answer.answer {
            plugin::Answer::Failure(f) => json!({"code": f.code(), "message": f.to_string()}),
            _ => Value::Null,
        },
        "log": answer.log,
        "fuel_used": answer.fuel_used,
        "prepare_ms": answer.prepared_in.as_secs_f64() * 1e3,
        "call_ms": answer.elapsed.as_secs_f64() * 1e3,
    });
    ctx.print(&report, run_report);
    if blocks {
        return Err(Failure::refused(
            outcome,
            format!("{} would block the gate ({outcome})", plugin.manifest.name),
        ));
    }
    Ok(())
}

/// `plugin run`'s report for people.
fn run_report(r: &Value) -> String {
    fn get<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
        static NULL: Value = Value::Null;
        path.iter().fold(v, |v, k| v.get(k).unwrap_or(&NULL))
    }
    let text = |v: &Value, path: &[&str]| get(v, path).as_str().unwrap_or_default().to_string();
    let mut lines = vec![format!(
        "{} ({}): {}",
        text(r, &["plugin"]),
        text(r, &["world"]),
        text(r, &["outcome"])
    )];
    for f in get(r, &["verdict", "findings"]).as_array().into_iter().flatten() {
        lines.push(format!(
            "  [{}] {}: {}",
            text(f, &["severity"]),
            text(f, &["rule"]),
            text(f, &["message"])
        ));
        if let Some(fix) = get(f, &["remediation"]).as_str() {
            lines.push(format!("      remediation: {fix}"));
        }
    }
    for s in get(r, &["statements"]).as_array().into_iter().flatten() {
        lines.push(format!("  statement {}", text(s, &["predicate_type"])));
    }
    if get(r, &["error"]).is_object() {
        lines.push(format!(
            "  error {}: {}",
            text(r, &["error", "code"]),
            text(r, &["error", "message"])
        ));
    }
    if let Some(log) = get(r, &["log"]).as_array().filter(|l| !l.is_empty()) {
        lines.push("log:".into());
        for l in log {
            lines.push(format!(
                "  {} {}: {}",
                text(l, &["stream"]),
                text(l, &["level"]),
                text(l, &["text"])
            ));
        }
    }
    if get(r, &["pinned"]) == &Value::Bool(false) {
        lines.push(format!(
            "note: the manifest is not pinned; a sidecar loads it only with sha256 = \"{}\" (plugin push pins what it publishes)",
            text(r, &["digest"])
        ));
    }
    lines.push(format!(
        "fuel {}, call {:.2} ms (component ready in {:.0} ms)",
        get(r, &["fuel_used"])
            .as_u64()
            .map_or("unmetered".to_string(), |f| f.to_string()),
        get(r, &["call_ms"]).as_f64().unwrap_or_default(),
        get(r, &["prepare_ms"]).as_f64().unwrap_or_default()
    ));
    lines.join("\n")
}

/// The plugin settings of the configuration, with extra trusted keys.
fn local_settings(ctx: &Ctx, extra_keys: &[PathBuf], require_signed: bool) -> Result<plugin::PluginSettings, Failure> {
    let mut settings = ctx.config.gates.plugins.clone();
    for k in extra_keys {
        let vk = keys::parse_public_key(&format!("--trusted-key {}", k.display()), &read_text_file(k)?)?;
        settings
            .trusted_keys
            .push(plugin::VendorKey::new(&plugin::signature::vendor_name(k), vk));
    }
    settings.require_signed |= require_signed;
    if settings.cache_dir.is_none() {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        settings.cache_dir = local_cache_dir(&ctx.config.data_dir, env("XDG_CACHE_HOME"), env("HOME"));
    }
    Ok(settings)
}

/// Where a command run outside a sidecar caches compiled components: the
/// data directory's cache when that directory exists, else the user's cache
/// directory — never a data directory made in the current directory.
fn local_cache_dir(data_dir: &std::path::Path, xdg_cache: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    if data_dir.is_dir() {
        return Some(data_dir.join("plugin-cache"));
    }
    xdg_cache
        .or_else(|| home.map(|h| h.join(".cache")))
        .map(|c| c.join("gatehouse").join("plugin-cache"))
}

fn describe(p: &PluginInfo) -> String {
    let c = &p.capabilities;
    let list = |v: Vec<String>| if v.is_empty() { "none".to_string() } else { v.join(", ") };
    let mut lines = vec![
        format!("name:         {} {}", p.name, p.version),
        format!("world:        gatehouse:plugin/{}@0.1.0", p.world.as_str()),
        format!("digest:       sha256:{}", p.digest),
        format!("size:         {} bytes", p.size_bytes),
        format!("signer:       {}", p.signer),
        format!(
            "origin:       {}",
            match &p.origin {
                plugin::PluginOrigin::Bundled => "bundled".to_string(),
                plugin::PluginOrigin::File { manifest, .. } => manifest.display().to_string(),
            }
        ),
        format!("state:        {}", p.state),
        format!(
            "paths:        {}",
            list(
                c.allowed_paths
                    .iter()
                    .map(|p| format!("{} (read-only)", p.display()))
                    .collect()
            )
        ),
        format!("hosts:        {}", list(c.allowed_hosts.clone())),
        format!("memory:       {} bytes", c.max_memory_bytes),
        format!("timeout:      {} ms", c.timeout_ms),
        format!("output:       {} bytes", c.max_output_bytes),
        format!("log:          {} bytes", c.max_log_bytes),
        format!(
            "fuel:         {}",
            c.max_fuel.map_or("unlimited".to_string(), |f| f.to_string())
        ),
    ];
    for (k, v) in &p.config {
        lines.push(format!("config.{k} = {}", serde_json::to_string(v).unwrap_or_default()));
    }
    if !p.description.is_empty() {
        lines.insert(1, format!("about:        {}", p.description));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_outside_a_sidecar_caches_where_the_user_keeps_caches() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("gatehouse-data");
        let (xdg, home) = (Some(PathBuf::from("/x")), Some(PathBuf::from("/h")));
        assert_eq!(
            local_cache_dir(&data, xdg.clone(), home.clone()),
            Some(PathBuf::from("/x/gatehouse/plugin-cache"))
        );
        assert_eq!(
            local_cache_dir(&data, None, home.clone()),
            Some(PathBuf::from("/h/.cache/gatehouse/plugin-cache"))
        );
        assert_eq!(local_cache_dir(&data, None, None), None);
        assert!(!data.exists(), "no data directory is made");
        std::fs::create_dir(&data).unwrap();
        assert_eq!(local_cache_dir(&data, xdg, home), Some(data.join("plugin-cache")));
    }
}
