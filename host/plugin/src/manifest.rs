//! The plugin manifest: one TOML file per plugin. Unknown fields are refused,
//! every capability is denied unless granted, and a grant the host cannot
//! enforce is refused rather than ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use gatehouse_core::error::{Error, Result};

/// The largest linear memory the sandbox pool can give one plugin.
pub const HOST_MAX_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
pub const DEFAULT_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
pub const DEFAULT_TIMEOUT_MS: u64 = 1000;
pub const HOST_MAX_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_OUTPUT_BYTES: u64 = 1024 * 1024;
pub const HOST_MAX_OUTPUT_BYTES: u64 = 16 * 1024 * 1024;
pub const DEFAULT_LOG_BYTES: u64 = 64 * 1024;
pub const HOST_MAX_LOG_BYTES: u64 = 1024 * 1024;
pub const DEFAULT_OPEN_FILES: u64 = 64;
pub const HOST_MAX_OPEN_FILES: u64 = 1024;

/// Which WIT world the component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "PluginWorld")]
pub enum World {
    GateCheck,
    Collector,
}

impl World {
    pub fn as_str(self) -> &'static str {
        match self {
            World::GateCheck => "gate-check",
            World::Collector => "collector",
        }
    }
}

/// A `[config]` value as the plugin reads it through `host.config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "PluginConfigValue")]
pub enum ConfigValue {
    Text(String),
    List(Vec<String>),
    Boolean(bool),
    Integer(i64),
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    name: String,
    version: String,
    world: World,
    #[serde(default)]
    description: String,
    /// The component, relative to the manifest's directory.
    wasm: Option<PathBuf>,
    /// SHA-256 of the component: the pin. Required for every plugin that is not bundled.
    sha256: Option<String>,
    /// Run the component of this bundled plugin with this manifest's config and grants.
    bundled: Option<String>,
    /// Run the component of a plugin artifact in an OCI registry, pinned by
    /// the digest of its image manifest, with this manifest's config and grants.
    oci: Option<String>,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
    #[serde(default)]
    capabilities: CapabilitiesFile,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CapabilitiesFile {
    #[serde(default)]
    allowed_paths: Vec<PathBuf>,
    #[serde(default)]
    allowed_hosts: Vec<String>,
    max_memory_bytes: Option<u64>,
    timeout_ms: Option<u64>,
    max_output_bytes: Option<u64>,
    max_log_bytes: Option<u64>,
    max_fuel: Option<u64>,
    max_open_files: Option<u64>,
    /// The predicate types a collector may emit (required for collectors).
    #[serde(default)]
    predicate_types: Vec<String>,
}

/// What a plugin may do, every value decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "PluginCapabilities")]
pub struct Capabilities {
    /// Directories the plugin may read, each visible at the same path inside
    /// the sandbox, read-only. Nothing else of the file system is visible.
    pub allowed_paths: Vec<PathBuf>,
    /// `host` or `host:port` the plugin may send HTTP requests to (wasi:http only).
    pub allowed_hosts: Vec<String>,
    pub max_memory_bytes: u64,
    pub timeout_ms: u64,
    /// The most bytes of strings a call may return.
    pub max_output_bytes: u64,
    /// The most bytes of log lines (host.log, stdout, stderr) a call may write.
    pub max_log_bytes: u64,
    /// Instructions' worth of fuel per call, when set.
    pub max_fuel: Option<u64>,
    /// Files, directories and streams a call may hold open at once (each is
    /// a host descriptor or handle); stdio and the granted directories come on top.
    #[serde(default = "default_open_files")]
    pub max_open_files: u64,
    /// The predicate types a collector may emit; any other statement is a
    /// capability violation and nothing is stored.
    #[serde(default)]
    pub predicate_types: Vec<String>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            allowed_paths: Vec::new(),
            allowed_hosts: Vec::new(),
            max_memory_bytes: DEFAULT_MEMORY_BYTES,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_output_bytes: DEFAULT_OUTPUT_BYTES,
            max_log_bytes: DEFAULT_LOG_BYTES,
            max_fuel: None,
            max_open_files: DEFAULT_OPEN_FILES,
            predicate_types: Vec::new(),
        }
    }
}

fn default_open_files() -> u64 {
    DEFAULT_OPEN_FILES
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub world: World,
    pub description: String,
    /// Absolute (or manifest-relative, resolved) path of the component; None when bundled.
    pub wasm: Option<PathBuf>,
    pub sha256: Option<String>,
    /// The bundled component this manifest runs, instead of `wasm`.
    pub bundled: Option<String>,
    /// `REGISTRY/REPOSITORY@sha256:HEX`: the plugin artifact this manifest
    /// runs, instead of `wasm` (docs/plugins.md "Distribution").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oci: Option<String>,
    pub config: BTreeMap<String, ConfigValue>,
    pub capabilities: Capabilities,
}

/// Parse and validate a manifest. `base` resolves relative paths (the manifest's directory).
pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Manifest> {
    let file: ManifestFile = toml::from_str(text).map_err(|e| Error::Malformed {
        what: format!("plugin manifest {origin}"),
        detail: e.to_string().trim().replace('\n', " "),
    })?;
    let field = |name: &str| format!("{origin}: {name}");
    if !valid_name(&file.name) {
        return Err(Error::invalid(
            field("name"),
            &file.name,
            "1 to 64 of a-z, 0-9 and -, starting with a letter",
        ));
    }
    if semver::Version::parse(&file.version).is_err() {
        return Err(Error::invalid(
            field("version"),
            &file.version,
            "a semantic version such as 1.2.0",
        ));
    }
    if let Some(d) = &file.sha256
        && !(d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    {
        return Err(Error::invalid(field("sha256"), d, "64 lowercase hex characters"));
    }
    let mut config = BTreeMap::new();
    for (key, value) in file.config {
        let v = config_value(&value).ok_or_else(|| {
            Error::invalid(
                field(&format!("config.{key}")),
                &value,
                "a string, a list of strings, a boolean or an integer",
            )
        })?;
        config.insert(key, v);
    }
    let c = file.capabilities;
    let mut allowed_paths = Vec::new();
    for (i, p) in c.allowed_paths.iter().enumerate() {
        let full = if p.is_absolute() { p.clone() } else { base.join(p) };
        let full = full.canonicalize().map_err(|e| {
            Error::invalid(
                field(&format!("capabilities.allowed_paths[{i}]")),
                p.display().to_string(),
                format!("an existing directory ({e})"),
            )
        })?;
        if !full.is_dir() {
            return Err(Error::invalid(
                field(&format!("capabilities.allowed_paths[{i}]")),
                p.display().to_string(),
                "a directory (files cannot be granted one by one)",
            ));
        }
        if full.parent().is_none() {
            return Err(Error::invalid(
                field(&format!("capabilities.allowed_paths[{i}]")),
                p.display().to_string(),
                "a directory other than the root of the file system",
            ));
        }
        if let Some(system) = SYSTEM_PATHS.iter().find(|s| overlaps(&full, Path::new(s))) {
            return Err(Error::invalid(
                field(&format!("capabilities.allowed_paths[{i}]")),
                p.display().to_string(),
                format!(
                    "a directory outside {system} (it resolves to {}; {system} exposes the host's processes, devices or kernel state)",
                    full.display()
                ),
            ));
        }
        allowed_paths.push(full);
    }
    for (i, h) in c.allowed_hosts.iter().enumerate() {
        if !valid_host(h) {
            return Err(Error::invalid(
                field(&format!("capabilities.allowed_hosts[{i}]")),
                h,
                "a host name or IP address, optionally with :port (no scheme, path or wildcard)",
            ));
        }
    }
    let bounded = |name: &str, v: Option<u64>, default: u64, min: u64, max: u64| -> Result<u64> {
        let v = v.unwrap_or(default);
        if v < min || v > max {
            return Err(Error::invalid(
                field(&format!("capabilities.{name}")),
                v,
                format!("{min} to {max} (the most this host can enforce)"),
            ));
        }
        Ok(v)
    };
    let capabilities = Capabilities {
        allowed_paths,
        predicate_types: Vec::new(),
        allowed_hosts: c.allowed_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
        max_memory_bytes: bounded(
            "max_memory_bytes",
            c.max_memory_bytes,
            DEFAULT_MEMORY_BYTES,
            1024 * 1024,
            HOST_MAX_MEMORY_BYTES,
        )?,
        timeout_ms: bounded("timeout_ms", c.timeout_ms, DEFAULT_TIMEOUT_MS, 1, HOST_MAX_TIMEOUT_MS)?,
        max_output_bytes: bounded(
            "max_output_bytes",
            c.max_output_bytes,
            DEFAULT_OUTPUT_BYTES,
            1024,
            HOST_MAX_OUTPUT_BYTES,
        )?,
        max_log_bytes: bounded(
            "max_log_bytes",
            c.max_log_bytes,
            DEFAULT_LOG_BYTES,
            0,
            HOST_MAX_LOG_BYTES,
        )?,
        max_open_files: bounded(
            "max_open_files",
            c.max_open_files,
            DEFAULT_OPEN_FILES,
            1,
            HOST_MAX_OPEN_FILES,
        )?,
        max_fuel: match c.max_fuel {
            Some(0) => {
                return Err(Error::invalid(
                    field("capabilities.max_fuel"),
                    0,
                    "a positive amount of fuel",
                ));
            }
            other => other,
        },
    };
    let mut predicate_types = Vec::new();
    for (i, t) in c.predicate_types.iter().enumerate() {
        if t.is_empty() || t.len() > 512 || t.chars().any(char::is_control) || predicate_types.contains(t) {
            return Err(Error::invalid(
                field(&format!("capabilities.predicate_types[{i}]")),
                t,
                "a predicate type URI, listed once",
            ));
        }
        predicate_types.push(t.clone());
    }
    match file.world {
        // A manifest running a bundled collector inherits the bundled manifest's list.
        World::Collector if predicate_types.is_empty() && file.bundled.is_none() => {
            return Err(Error::invalid(
                field("capabilities.predicate_types"),
                "[]",
                "the predicate types this collector may emit (a collector may vouch only for what it declares)",
            ));
        }
        World::GateCheck if !predicate_types.is_empty() => {
            return Err(Error::invalid(
                field("capabilities.predicate_types"),
                format!("{predicate_types:?}"),
                "nothing: only collectors emit statements",
            ));
        }
        _ => {}
    }
    let capabilities = Capabilities {
        predicate_types,
        ..capabilities
    };
    if file.bundled.is_some() && (file.wasm.is_some() || file.sha256.is_some()) {
        return Err(Error::invalid(
            field("bundled"),
            file.bundled.as_deref().unwrap_or_default(),
            "either `bundled` or `wasm` with `sha256`, not both",
        ));
    }
    if let Some(reference) = &file.oci {
        if file.bundled.is_some() || file.wasm.is_some() || file.sha256.is_some() {
            return Err(Error::invalid(
                field("oci"),
                reference,
                "either `oci` or `bundled` or `wasm` with `sha256`, not two of them",
            ));
        }
        let pinned = crate::oci::Reference::parse(reference).and_then(|r| {
            r.digest
                .map(|_| ())
                .ok_or_else(|| format!("{reference:?} is not pinned"))
        });
        if let Err(why) = pinned {
            return Err(Error::invalid(
                field("oci"),
                reference,
                format!("a reference pinned by digest, REGISTRY/REPOSITORY@sha256:HEX ({why})"),
            ));
        }
    }
    let wasm = file.wasm.map(|w| if w.is_absolute() { w } else { base.join(w) });
    Ok(Manifest {
        name: file.name,
        version: file.version,
        world: file.world,
        description: file.description,
        wasm,
        sha256: file.sha256,
        bundled: file.bundled,
        oci: file.oci,
        config,
        capabilities,
    })
}

/// What no plugin may read: the host's processes, devices and kernel state.
const SYSTEM_PATHS: [&str; 4] = ["/proc", "/dev", "/sys", "/run"];

/// One directory is the other or holds it.
fn overlaps(grant: &Path, protected: &Path) -> bool {
    grant.starts_with(protected) || protected.starts_with(grant)
}

/// Refuse a grant of (or around) a protected directory: the data directory
/// holds the private release key, the configuration directory the rest.
/// Both sides are compared after resolving symlinks.
pub fn refuse_protected(m: &Manifest, origin: &str, protected: &[PathBuf]) -> Result<()> {
    for (i, grant) in m.capabilities.allowed_paths.iter().enumerate() {
        for p in protected {
            let resolved = p.canonicalize().unwrap_or_else(|_| p.clone());
            if overlaps(grant, &resolved) {
                return Err(Error::invalid(
                    format!("{origin}: capabilities.allowed_paths[{i}]"),
                    grant.display().to_string(),
                    format!(
                        "a directory that neither is nor holds {} (Gatehouse's own data, keys or configuration)",
                        resolved.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn config_value(v: &toml::Value) -> Option<ConfigValue> {
    Some(match v {
        toml::Value::String(s) => ConfigValue::Text(s.clone()),
        toml::Value::Boolean(b) => ConfigValue::Boolean(*b),
        toml::Value::Integer(i) => ConfigValue::Integer(*i),
        toml::Value::Array(items) => ConfigValue::List(
            items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()?,
        ),
        _ => return None,
    })
}

pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `host` or `host:port`, as the authority of an http(s) URL.
fn valid_host(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (h, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    host_ok && port_ok
}

/// Whether a request to `host` on `port` is allowed by the grant list.
/// An entry without a port allows any port of that host.
pub fn host_allowed(allowed: &[String], host: &str, port: u16) -> bool {
    let host = host.to_ascii_lowercase();
    allowed.iter().any(|a| match a.rsplit_once(':') {
        Some((h, p)) => h == host && p.parse::<u16>().ok() == Some(port),
        None => *a == host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> PathBuf {
        std::env::temp_dir()
    }

    const GOOD: &str = r#"
name = "license-policy"
version = "0.1.0"
world = "gate-check"
wasm = "license_policy.wasm"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[config]
deny = ["GPL-3.0-only"]
strict = true
[capabilities]
allowed_hosts = ["scanner.example.com", "127.0.0.1:8080"]
timeout_ms = 200
"#;

    #[test]
    fn a_good_manifest_gets_deny_by_default_capabilities() {
        let m = parse(GOOD, "m.toml", &base()).unwrap();
        assert_eq!(m.world, World::GateCheck);
        assert_eq!(m.config["deny"], ConfigValue::List(vec!["GPL-3.0-only".into()]));
        assert_eq!(m.capabilities.timeout_ms, 200);
        assert_eq!(m.capabilities.max_memory_bytes, DEFAULT_MEMORY_BYTES);
        assert!(m.capabilities.allowed_paths.is_empty());
        assert_eq!(m.wasm.unwrap(), base().join("license_policy.wasm"));
    }

    #[test]
    fn unknown_fields_and_unenforceable_grants_are_refused_by_name() {
        let e = parse(&GOOD.replace("timeout_ms = 200", "allow_env = true"), "m.toml", &base())
            .unwrap_err()
            .to_string();
        assert!(e.contains("allow_env"), "{e}");
        let e = parse(
            &GOOD.replace("timeout_ms = 200", "max_memory_bytes = 4294967296"),
            "m.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("capabilities.max_memory_bytes") && e.contains("most this host can enforce"),
            "{e}"
        );
        let e = parse(
            &GOOD.replace("\"scanner.example.com\"", "\"https://scanner.example.com/\""),
            "m.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("allowed_hosts[0]"), "{e}");
        let e = parse(
            &GOOD.replace("\"scanner.example.com\"", "\"*.example.com\""),
            "m.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("wildcard"), "{e}");
        let e = parse(
            &GOOD.replace("timeout_ms = 200", "allowed_paths = [\"/definitely/not/here\"]"),
            "m.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("allowed_paths[0]") && e.contains("existing directory"),
            "{e}"
        );
        let e = parse(
            &GOOD.replace("timeout_ms = 200", "allowed_paths = [\"/\"]"),
            "m.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("root of the file system"), "{e}");
        let e = parse(&GOOD.replace("strict = true", "ratio = 0.5"), "m.toml", &base())
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.ratio"), "{e}");
        let e = parse(
            &GOOD.replace("world = \"gate-check\"", "world = \"exporter\""),
            "m.toml",
            &base(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("world") || e.contains("exporter"), "{e}");
    }

    fn with_grant(path: &str) -> String {
        GOOD.replace(
            "timeout_ms = 200",
            &format!("timeout_ms = 200\nallowed_paths = [{path:?}]"),
        )
    }

    #[test]
    fn grants_of_system_directories_are_refused_after_resolving_symlinks() {
        for dir in ["/proc", "/proc/self", "/dev", "/sys"] {
            let e = parse(&with_grant(dir), "m.toml", &base()).unwrap_err().to_string();
            assert!(e.contains("capabilities.allowed_paths[0]"), "{dir}: {e}");
            assert!(e.contains("exposes the host"), "{dir}: {e}");
        }
        // A symlink to /proc is judged by where it leads.
        let tmp = tempfile::tempdir().unwrap();
        let link = tmp.path().join("innocent");
        std::os::unix::fs::symlink("/proc", &link).unwrap();
        let e = parse(&with_grant(&link.display().to_string()), "m.toml", &base())
            .unwrap_err()
            .to_string();
        assert!(e.contains("resolves to /proc"), "{e}");
    }

    #[test]
    fn grants_of_the_data_or_config_directory_or_what_holds_them_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let reports = tmp.path().join("reports");
        std::fs::create_dir_all(data.join("keys")).unwrap();
        std::fs::create_dir_all(&reports).unwrap();
        let protected = vec![data.clone()];
        for grant in [data.join("keys"), data.clone(), tmp.path().to_path_buf()] {
            let m = parse(&with_grant(&grant.display().to_string()), "m.toml", &base()).unwrap();
            let e = refuse_protected(&m, "m.toml", &protected).unwrap_err().to_string();
            assert!(e.contains("Gatehouse's own data"), "{}: {e}", grant.display());
        }
        let link = tmp.path().join("via-link");
        std::os::unix::fs::symlink(&data, &link).unwrap();
        let m = parse(&with_grant(&link.display().to_string()), "m.toml", &base()).unwrap();
        assert!(refuse_protected(&m, "m.toml", &protected).is_err());
        let m = parse(&with_grant(&reports.display().to_string()), "m.toml", &base()).unwrap();
        refuse_protected(&m, "m.toml", &protected).unwrap();
    }

    #[test]
    fn collectors_declare_what_they_may_emit() {
        let collector = GOOD.replace("world = \"gate-check\"", "world = \"collector\"");
        let e = parse(&collector, "m.toml", &base()).unwrap_err().to_string();
        assert!(e.contains("capabilities.predicate_types"), "{e}");
        let declared = collector.replace(
            "timeout_ms = 200",
            "timeout_ms = 200\npredicate_types = [\"https://in-toto.io/attestation/test-result/v0.1\"]",
        );
        let m = parse(&declared, "m.toml", &base()).unwrap();
        assert_eq!(m.capabilities.predicate_types.len(), 1);
        let check = GOOD.replace("timeout_ms = 200", "timeout_ms = 200\npredicate_types = [\"x\"]");
        let e = parse(&check, "m.toml", &base()).unwrap_err().to_string();
        assert!(e.contains("only collectors emit statements"), "{e}");
    }

    #[test]
    fn hosts_match_with_and_without_port() {
        let allowed = vec!["scanner.example.com".to_string(), "127.0.0.1:8080".to_string()];
        assert!(host_allowed(&allowed, "Scanner.Example.com", 443));
        assert!(host_allowed(&allowed, "127.0.0.1", 8080));
        assert!(!host_allowed(&allowed, "127.0.0.1", 8081));
        assert!(!host_allowed(&allowed, "evil.example.com", 443));
        assert!(!host_allowed(&allowed, "scanner.example.com.evil.net", 443));
    }
}
