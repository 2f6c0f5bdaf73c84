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
    Inspect { name_or_manifest: String },
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
        Command::Inspect { name_or_manifest } => {
            let info = if name_or_manifest.ends_with(".toml") {
                let settings = local_settings(ctx, &[], false)?;
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
        settings.cache_dir = Some(ctx.config.data_dir.join("plugin-cache"));
    }
    Ok(settings)
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
