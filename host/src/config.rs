//! Configuration: one TOML file, `GATEHOUSE_*` environment overrides, then
//! command-line flags; validated whole before anything is opened or bound.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// The file's shape: every field optional, unknown fields refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub data_dir: Option<PathBuf>,
    /// `postgres://user@host:port/db`: keep the governance record in
    /// PostgreSQL, shared by every sidecar that names the same database,
    /// instead of the embedded SQLite store under data_dir (which still
    /// holds this sidecar's keys and plugin cache).
    pub database_url: Option<String>,
    /// With database_url: speak TLS to the database and trust only the CA
    /// certificates in this PEM file for its certificate (without it, TLS
    /// is spoken when the URL says `sslmode=require`, verified against the
    /// system's roots).
    pub database_cacert: Option<PathBuf>,
    pub listen: Option<String>,
    /// Largest body of an ordinary request (default 1 MiB); before this
    /// build, the largest body of any request (so a file that sets it alone
    /// keeps uploads at that size too).
    pub body_limit_bytes: Option<u64>,
    /// Largest body of an upload: evidence, SBOMs, advisories, policies (default 16 MiB).
    pub upload_limit_bytes: Option<u64>,
    /// Request-body bytes buffered across all connections at once (default 64 MiB).
    pub body_budget_bytes: Option<u64>,
    /// How long a client may take to send a request's headers, and how long
    /// an idle keep-alive connection is held (default 10 s).
    pub header_read_timeout_ms: Option<u64>,
    /// How long a client may take to send a request's body (default 30 s).
    pub body_read_timeout_ms: Option<u64>,
    /// Open client connections; past it new ones are closed at once (default 512).
    pub max_connections: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    pub drain_timeout_ms: Option<u64>,
    pub log_format: Option<LogFormat>,
    pub log_filter: Option<String>,
    /// A directory of `.rego` files loaded beside the bundled packs.
    pub policy_dir: Option<PathBuf>,
    /// How long one policy evaluation may run before it is an error.
    pub policy_time_limit_ms: Option<u64>,
    /// Where to POST (http(s)://host:port/path) when a trusted release becomes affected by an advisory.
    pub webhook_url: Option<String>,
    /// With an https:// webhook_url: trust only the CA certificates in this
    /// PEM file (an internal receiver's own CA) instead of the system's roots.
    pub webhook_cacert: Option<PathBuf>,
    /// The key that signs Trusted Release records (PKCS#8 PEM); default
    /// DATA_DIR/keys/release.ed25519.priv.pem, generated on first start.
    pub release_key: Option<PathBuf>,
    /// Bindings of checks to gates (`[[bindings]]` tables).
    #[serde(default)]
    pub bindings: Vec<crate::binding::ConfigBinding>,
    /// A directory of plugin manifests (`*.toml`) loaded beside the bundled plugins.
    pub plugin_dir: Option<PathBuf>,
    /// Refuse plugins from plugin_dir without a valid signature by a key in plugin_keys.
    pub require_signed_plugins: Option<bool>,
    /// Public keys (SPKI PEM files) trusted to sign plugins: a path (the
    /// file stem names the vendor) or `{ name = "Acme Corp", key = PATH }`.
    #[serde(default)]
    pub plugin_keys: Vec<PluginKey>,
    /// Where compiled plugins are cached by digest (default DATA_DIR/plugin-cache).
    pub plugin_cache_dir: Option<PathBuf>,
    /// Concurrent plugin calls: sandboxes in the pool (default 128).
    pub plugin_pool_size: Option<u64>,
    /// Distinct trusted signers a statement needs, by predicate type (default 1).
    #[serde(default)]
    pub evidence_thresholds: std::collections::BTreeMap<String, u64>,
}

/// A `plugin_keys` entry: a key file, or a key file with the vendor's name.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum PluginKey {
    Path(PathBuf),
    Named { name: String, key: PathBuf },
}

/// The configuration in force, every value decided.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub serve: crate::api::ServeOptions,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub gates: crate::service::GateSettings,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8420";
pub const DEFAULT_DATA_DIR: &str = "gatehouse-data";

/// The environment variables that override the file, and the field each sets.
pub const ENV_OVERRIDES: [(&str, &str); 22] = [
    ("GATEHOUSE_DATA_DIR", "data_dir"),
    ("GATEHOUSE_DATABASE_URL", "database_url"),
    ("GATEHOUSE_DATABASE_CACERT", "database_cacert"),
    ("GATEHOUSE_LISTEN", "listen"),
    ("GATEHOUSE_BODY_LIMIT_BYTES", "body_limit_bytes"),
    ("GATEHOUSE_UPLOAD_LIMIT_BYTES", "upload_limit_bytes"),
    ("GATEHOUSE_BODY_BUDGET_BYTES", "body_budget_bytes"),
    ("GATEHOUSE_HEADER_READ_TIMEOUT_MS", "header_read_timeout_ms"),
    ("GATEHOUSE_BODY_READ_TIMEOUT_MS", "body_read_timeout_ms"),
    ("GATEHOUSE_MAX_CONNECTIONS", "max_connections"),
    ("GATEHOUSE_PLUGIN_POOL_SIZE", "plugin_pool_size"),
    ("GATEHOUSE_REQUEST_TIMEOUT_MS", "request_timeout_ms"),
    ("GATEHOUSE_DRAIN_TIMEOUT_MS", "drain_timeout_ms"),
    ("GATEHOUSE_LOG_FORMAT", "log_format"),
    ("GATEHOUSE_LOG", "log_filter"),
    ("GATEHOUSE_POLICY_DIR", "policy_dir"),
    ("GATEHOUSE_RELEASE_KEY", "release_key"),
    ("GATEHOUSE_WEBHOOK_URL", "webhook_url"),
    ("GATEHOUSE_WEBHOOK_CACERT", "webhook_cacert"),
    ("GATEHOUSE_PLUGIN_DIR", "plugin_dir"),
    ("GATEHOUSE_REQUIRE_SIGNED_PLUGINS", "require_signed_plugins"),
    ("GATEHOUSE_PLUGIN_CACHE_DIR", "plugin_cache_dir"),
];

/// Read and parse the file; a missing or malformed file is a usage error naming it.
pub fn read_file(path: &Path) -> Result<ConfigFile> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Malformed {
        what: format!("config file {}", path.display()),
        detail: format!("cannot read it: {e}"),
    })?;
    toml::from_str(&text).map_err(|e| Error::Malformed {
        what: format!("config file {}", path.display()),
        detail: e.to_string().trim().replace('\n', " "),
    })
}

/// Apply `GATEHOUSE_*` overrides from `env` (a lookup, so tests need no process environment).
pub fn apply_env(mut file: ConfigFile, env: impl Fn(&str) -> Option<String>) -> Result<ConfigFile> {
    let number = |var: &str, v: String| -> Result<u64> {
        v.trim().parse().map_err(|_| Error::invalid(var, v, "a whole number"))
    };
    if let Some(v) = env("GATEHOUSE_DATA_DIR") {
        file.data_dir = Some(v.into());
    }
    if let Some(v) = env("GATEHOUSE_LISTEN") {
        file.listen = Some(v);
    }
    if let Some(v) = env("GATEHOUSE_DATABASE_URL") {
        file.database_url = Some(v);
    }
    if let Some(v) = env("GATEHOUSE_DATABASE_CACERT") {
        file.database_cacert = Some(v.into());
    }
    for (var, field) in [
        ("GATEHOUSE_BODY_LIMIT_BYTES", &mut file.body_limit_bytes),
        ("GATEHOUSE_UPLOAD_LIMIT_BYTES", &mut file.upload_limit_bytes),
        ("GATEHOUSE_BODY_BUDGET_BYTES", &mut file.body_budget_bytes),
        ("GATEHOUSE_HEADER_READ_TIMEOUT_MS", &mut file.header_read_timeout_ms),
        ("GATEHOUSE_BODY_READ_TIMEOUT_MS", &mut file.body_read_timeout_ms),
        ("GATEHOUSE_MAX_CONNECTIONS", &mut file.max_connections),
        ("GATEHOUSE_PLUGIN_POOL_SIZE", &mut file.plugin_pool_size),
    ] {
        if let Some(v) = env(var) {
            *field = Some(number(var, v)?);
        }
    }
    if let Some(v) = env("GATEHOUSE_REQUEST_TIMEOUT_MS") {
        file.request_timeout_ms = Some(number("GATEHOUSE_REQUEST_TIMEOUT_MS", v)?);
    }
    if let Some(v) = env("GATEHOUSE_DRAIN_TIMEOUT_MS") {
        file.drain_timeout_ms = Some(number("GATEHOUSE_DRAIN_TIMEOUT_MS", v)?);
    }
    if let Some(v) = env("GATEHOUSE_LOG_FORMAT") {
        file.log_format = Some(match v.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(Error::invalid("GATEHOUSE_LOG_FORMAT", v, "text or json")),
        });
    }
    if let Some(v) = env("GATEHOUSE_LOG") {
        file.log_filter = Some(v);
    }
    if let Some(v) = env("GATEHOUSE_POLICY_DIR") {
        file.policy_dir = Some(v.into());
    }
    if let Some(v) = env("GATEHOUSE_WEBHOOK_URL") {
        file.webhook_url = Some(v);
    }
    if let Some(v) = env("GATEHOUSE_WEBHOOK_CACERT") {
        file.webhook_cacert = Some(v.into());
    }
    if let Some(v) = env("GATEHOUSE_RELEASE_KEY") {
        file.release_key = Some(v.into());
    }
    if let Some(v) = env("GATEHOUSE_PLUGIN_DIR") {
        file.plugin_dir = Some(v.into());
    }
    if let Some(v) = env("GATEHOUSE_PLUGIN_CACHE_DIR") {
        file.plugin_cache_dir = Some(v.into());
    }
    if let Some(v) = env("GATEHOUSE_REQUIRE_SIGNED_PLUGINS") {
        file.require_signed_plugins = Some(match v.as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(Error::invalid("GATEHOUSE_REQUIRE_SIGNED_PLUGINS", v, "true or false")),
        });
    }
    Ok(file)
}

/// A setting that must lie in `range`, or its default.
fn bounded(
    field: &str,
    value: Option<u64>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    unit: &str,
) -> Result<u64> {
    let v = value.unwrap_or(default);
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(Error::invalid(
            field,
            v,
            format!("{} to {} {unit}", range.start(), range.end()),
        ))
    }
}

fn bytes(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

impl ConfigFile {
    /// The sidecar's limits on what clients send: each bounded, and the
    /// shared body budget at least one upload.
    fn serve_options(&self) -> Result<crate::api::ServeOptions> {
        use crate::api::{DEFAULT_BODY_LIMIT, DEFAULT_UPLOAD_LIMIT, ServeOptions};
        const GIB: u64 = 1024 * 1024 * 1024;
        let d = ServeOptions::default();
        let body_limit = bounded(
            "body_limit_bytes",
            self.body_limit_bytes,
            DEFAULT_BODY_LIMIT as u64,
            1024..=GIB,
            "bytes",
        )?;
        // Before upload_limit_bytes existed, body_limit_bytes was the limit of
        // every body; a file that sets only it keeps its uploads.
        let upload_default = self
            .body_limit_bytes
            .map_or(DEFAULT_UPLOAD_LIMIT as u64, |b| b.max(body_limit));
        let upload_limit = bounded(
            "upload_limit_bytes",
            self.upload_limit_bytes,
            upload_default,
            1024..=GIB,
            "bytes",
        )?;
        let budget_default = (d.body_budget as u64).max(upload_limit);
        let body_budget = bounded(
            "body_budget_bytes",
            self.body_budget_bytes,
            budget_default,
            1024..=16 * GIB,
            "bytes",
        )?;
        if body_budget < upload_limit || body_budget < body_limit {
            return Err(Error::invalid(
                "body_budget_bytes",
                body_budget,
                format!(
                    "at least upload_limit_bytes and body_limit_bytes ({})",
                    upload_limit.max(body_limit)
                ),
            ));
        }
        let ms = |field, v, default: Duration, min| {
            bounded(field, v, default.as_millis() as u64, min..=3_600_000, "milliseconds").map(Duration::from_millis)
        };
        Ok(ServeOptions {
            body_limit: bytes(body_limit),
            upload_limit: bytes(upload_limit),
            body_budget: bytes(body_budget),
            header_read_timeout: ms(
                "header_read_timeout_ms",
                self.header_read_timeout_ms,
                d.header_read_timeout,
                1,
            )?,
            body_read_timeout: ms(
                "body_read_timeout_ms",
                self.body_read_timeout_ms,
                d.body_read_timeout,
                1,
            )?,
            max_connections: bytes(bounded(
                "max_connections",
                self.max_connections,
                d.max_connections as u64,
                1..=1_000_000,
                "connections",
            )?),
            request_timeout: ms("request_timeout_ms", self.request_timeout_ms, d.request_timeout, 1)?,
            drain: ms("drain_timeout_ms", self.drain_timeout_ms, d.drain, 0)?,
        })
    }

    /// Fill defaults and validate every value.
    pub fn resolve(self) -> Result<Config> {
        let serve = self.serve_options()?;
        let listen_text = self.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| Error::invalid("listen", &listen_text, "an address and port such as 127.0.0.1:8420"))?;
        let data_dir = self.data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        if data_dir.as_os_str().is_empty() {
            return Err(Error::invalid("data_dir", "", "a directory path"));
        }
        let log_filter = self.log_filter.unwrap_or_else(|| "info".to_string());
        tracing_subscriber::EnvFilter::try_new(&log_filter).map_err(|e| {
            Error::invalid(
                "log_filter",
                &log_filter,
                format!("a tracing filter such as info or gatehouse=debug ({e})"),
            )
        })?;
        let time_limit = self.policy_time_limit_ms.unwrap_or(250);
        if !(1..=60_000).contains(&time_limit) {
            return Err(Error::invalid(
                "policy_time_limit_ms",
                time_limit,
                "1 to 60000 milliseconds",
            ));
        }
        let mut bindings = Vec::new();
        for (i, b) in self.bindings.into_iter().enumerate() {
            let binding = b
                .spec
                .into_binding(&b.id, crate::binding::BindingOrigin::Config)
                .map_err(|e| Error::invalid(format!("bindings[{i}]"), &b.id, e.to_string()))?;
            if bindings.iter().any(|x: &crate::binding::Binding| x.id == binding.id) {
                return Err(Error::invalid(
                    format!("bindings[{i}].id"),
                    &binding.id,
                    "an id used once",
                ));
            }
            bindings.push(binding);
        }
        if let Some(dir) = &self.policy_dir
            && !dir.is_dir()
        {
            return Err(Error::invalid(
                "policy_dir",
                dir.display().to_string(),
                "an existing directory of .rego files",
            ));
        }
        if let Some(k) = &self.release_key
            && !k.is_file()
        {
            return Err(Error::invalid(
                "release_key",
                k.display().to_string(),
                "an existing PKCS#8 PEM file",
            ));
        }
        let webhook = self
            .webhook_url
            .as_deref()
            .map(|u| crate::notify::Webhook::parse("webhook_url", u))
            .transpose()?
            .map(|hook| hook.trusting(self.webhook_cacert.as_deref()))
            .transpose()?;
        if let (Some(ca), None) = (&self.webhook_cacert, &webhook) {
            return Err(Error::invalid(
                "webhook_cacert",
                ca.display().to_string(),
                "no webhook_cacert without an https:// webhook_url",
            ));
        }
        if let Some(dir) = &self.plugin_dir
            && !dir.is_dir()
        {
            return Err(Error::invalid(
                "plugin_dir",
                dir.display().to_string(),
                "an existing directory of plugin manifests",
            ));
        }
        let mut trusted_keys = Vec::new();
        for (i, entry) in self.plugin_keys.iter().enumerate() {
            let (path, name) = match entry {
                PluginKey::Path(path) => (path, crate::plugin::signature::vendor_name(path)),
                PluginKey::Named { name, key } => {
                    if name.trim().is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
                        return Err(Error::invalid(
                            format!("plugin_keys[{i}].name"),
                            name,
                            "the vendor's display name: 1 to 128 printable characters",
                        ));
                    }
                    (key, name.clone())
                }
            };
            let field = format!("plugin_keys[{i}]");
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::invalid(
                    &field,
                    path.display().to_string(),
                    format!("a readable public key file ({e})"),
                )
            })?;
            let key = crate::keys::parse_public_key(&field, &text)?;
            trusted_keys.push(crate::plugin::VendorKey::new(&name, key));
        }
        let mut evidence_thresholds = std::collections::BTreeMap::new();
        for (predicate_type, n) in self.evidence_thresholds {
            if !(1..=16).contains(&n) || predicate_type.is_empty() {
                return Err(Error::invalid(
                    format!("evidence_thresholds.{predicate_type:?}"),
                    n,
                    "a predicate type mapped to 1 to 16 distinct trusted signers",
                ));
            }
            evidence_thresholds.insert(predicate_type, usize::try_from(n).unwrap_or(16));
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(Error::invalid(
                "database_url",
                "(not shown: it may hold a password)",
                "a postgres:// or postgresql:// URL",
            ));
        }
        if let Some(ca) = &self.database_cacert {
            if self.database_url.is_none() {
                return Err(Error::invalid(
                    "database_cacert",
                    ca.display().to_string(),
                    "no database_cacert without a database_url",
                ));
            }
            gatehouse_http::client_config(Some(ca)).map_err(|e| {
                Error::invalid(
                    "database_cacert",
                    ca.display().to_string(),
                    format!("a readable PEM file of CA certificates ({e})"),
                )
            })?;
        }
        let gates = crate::service::GateSettings {
            database_url: self.database_url,
            database_cacert: self.database_cacert,
            evidence_thresholds,
            plugins: crate::plugin::PluginSettings {
                dir: self.plugin_dir,
                require_signed: self.require_signed_plugins.unwrap_or(false),
                trusted_keys,
                cache_dir: self.plugin_cache_dir,
                pool_size: Some(
                    u32::try_from(bounded(
                        "plugin_pool_size",
                        self.plugin_pool_size,
                        u64::from(crate::plugin::DEFAULT_POOL_SIZE),
                        1..=u64::from(crate::plugin::MAX_POOL_SIZE),
                        "sandboxes",
                    )?)
                    .unwrap_or(crate::plugin::DEFAULT_POOL_SIZE),
                ),
                protected_paths: std::iter::once(data_dir.clone())
                    .chain(self.release_key.clone())
                    .collect(),
                allow_unpinned: false,
            },
            webhook,
            release_key: self.release_key,
            policy_dir: self.policy_dir,
            bindings,
            limits: crate::policy::Limits {
                time: Duration::from_millis(time_limit),
            },
        };
        Ok(Config {
            gates,
            data_dir,
            listen,
            serve,
            log_format: self.log_format.unwrap_or(LogFormat::Text),
            log_filter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile> {
        toml::from_str(text).map_err(|e| Error::Malformed {
            what: "config".into(),
            detail: e.to_string(),
        })
    }

    #[test]
    fn defaults_file_then_environment() {
        let c = ConfigFile::default().resolve().unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        let file = parse("listen = \"127.0.0.1:9000\"\nrequest_timeout_ms = 500\nlog_format = \"json\"").unwrap();
        let env = |k: &str| (k == "GATEHOUSE_LISTEN").then(|| "127.0.0.1:9100".to_string());
        let c = apply_env(file, env).unwrap().resolve().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(c.serve.request_timeout, Duration::from_millis(500));
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn bad_values_name_the_field() {
        assert!(parse("colour = 1").unwrap_err().to_string().contains("colour"));
        let e = parse("listen = \"everywhere\"")
            .unwrap()
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("`listen`"), "{e}");
        let e = parse("body_limit_bytes = 1")
            .unwrap()
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("body_limit_bytes"), "{e}");
        let e = apply_env(ConfigFile::default(), |k| {
            (k == "GATEHOUSE_REQUEST_TIMEOUT_MS").then(|| "soon".into())
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("GATEHOUSE_REQUEST_TIMEOUT_MS"), "{e}");
    }

    #[test]
    fn a_plugin_key_takes_its_vendor_name_from_the_config_or_else_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("acme.pub.pem");
        let vk = crate::keys::generate().unwrap().verifying_key();
        std::fs::write(&key, crate::keys::public_key_pem(&vk).unwrap()).unwrap();
        let names = |text: String| -> Vec<String> {
            let c = parse(&text).unwrap().resolve().unwrap();
            c.gates.plugins.trusted_keys.iter().map(|k| k.name.clone()).collect()
        };
        let k = key.display();
        assert_eq!(
            names(format!(
                "plugin_keys = [{:?}, {{ name = \"Acme Corp\", key = {:?} }}]",
                k.to_string(),
                k.to_string()
            )),
            ["acme", "Acme Corp"]
        );
        let e = parse(&format!(
            "plugin_keys = [{{ name = \" \", key = {:?} }}]",
            k.to_string()
        ))
        .unwrap()
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(e.contains("plugin_keys[0].name"), "{e}");
        assert!(parse(&format!("plugin_keys = [{{ nom = \"x\", key = {:?} }}]", k.to_string())).is_err());
    }

    #[test]
    fn the_plugin_pool_size_is_a_bounded_setting() {
        let pool = |c: Config| c.gates.plugins.pool_size;
        assert_eq!(pool(ConfigFile::default().resolve().unwrap()), Some(128));
        assert_eq!(
            pool(parse("plugin_pool_size = 16").unwrap().resolve().unwrap()),
            Some(16)
        );
        for bad in ["plugin_pool_size = 0", "plugin_pool_size = 5000"] {
            let e = parse(bad).unwrap().resolve().unwrap_err().to_string();
            assert!(e.contains("plugin_pool_size") && e.contains("1 to 1024"), "{e}");
        }
        let file = apply_env(ConfigFile::default(), |k| {
            (k == "GATEHOUSE_PLUGIN_POOL_SIZE").then(|| "8".into())
        })
        .unwrap();
        assert_eq!(pool(file.resolve().unwrap()), Some(8));
    }

    #[test]
    fn request_limits_default_small_uploads_large_and_old_files_keep_their_limit() {
        let c = ConfigFile::default().resolve().unwrap().serve;
        assert_eq!(c.body_limit, 1024 * 1024);
        assert_eq!(c.upload_limit, 16 * 1024 * 1024);
        assert!(c.body_budget >= c.upload_limit);
        // A file of an earlier build that set only body_limit_bytes meant
        // every body: its uploads keep that size.
        let c = parse("body_limit_bytes = 67108864").unwrap().resolve().unwrap().serve;
        assert_eq!((c.body_limit, c.upload_limit), (64 << 20, 64 << 20));
        assert!(c.body_budget >= 64 << 20);
        let e = parse("upload_limit_bytes = 33554432\nbody_budget_bytes = 16777216")
            .unwrap()
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("body_budget_bytes") && e.contains("at least"), "{e}");
        let e = parse("max_connections = 0").unwrap().resolve().unwrap_err().to_string();
        assert!(e.contains("max_connections"), "{e}");
        let env = |k: &str| (k == "GATEHOUSE_HEADER_READ_TIMEOUT_MS").then(|| "250".to_string());
        let c = apply_env(ConfigFile::default(), env).unwrap().resolve().unwrap().serve;
        assert_eq!(c.header_read_timeout, Duration::from_millis(250));
    }
}
