//! Plugins as OCI artifacts: the one module that speaks the OCI distribution
//! protocol. A plugin is published as one image manifest, in the Wasm OCI
//! artifact layout that wkg and Spin use (config
//! `application/vnd.wasm.config.v0+json`, the component as the first layer,
//! `application/wasm`), with two more layers: the vendor's Gatehouse
//! manifest and, when signed, the component's signature.
//!
//! Everything read from a registry is hostile until checked: every blob
//! against its digest, sizes against bounds before a byte is fetched, media
//! types against the few we know. An operator pins a plugin by the digest of
//! its image manifest (`oci = "REGISTRY/REPO@sha256:…"`), which pins every
//! layer. A registry that asks for Basic credentials gets
//! `GATEHOUSE_REGISTRY_USERNAME`/`GATEHOUSE_REGISTRY_PASSWORD` (never sent to
//! another origin a blob redirects to); token (Bearer) authentication is
//! refused with a message that says so, for now.

use std::path::Path;
use std::time::Duration;

use gatehouse_http::{Blocking, Client, Options, Origin};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::sha256_hex;

pub const IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER: &str = "application/wasm";
pub const MANIFEST_LAYER: &str = "application/vnd.gatehouse.plugin.manifest.v1+toml";
pub const SIGNATURE_LAYER: &str = "application/vnd.gatehouse.plugin-signature+json";

const MAX_IMAGE_MANIFEST: u64 = 1 << 20;
const MAX_CONFIG: u64 = 1 << 20;
const MAX_WASM: u64 = 64 << 20;
const MAX_PLUGIN_MANIFEST: u64 = 256 << 10;
const MAX_SIGNATURE: u64 = 64 << 10;
const MAX_LAYERS: usize = 8;
const MAX_REDIRECTS: usize = 3;

/// `REGISTRY/REPOSITORY[:TAG][@sha256:HEX]`. The registry is always named
/// (no default registry); it is spoken to over plain HTTP only on loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    /// Lowercase hex of the image manifest's SHA-256.
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, String> {
        let expected = "REGISTRY/REPOSITORY[:TAG][@sha256:HEX], e.g. registry.example:5000/acme/check:1.0.0";
        let bad = |why: &str| format!("{text:?}: {why}; expected {expected}");
        if text.len() > 512 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("too long or holds spaces"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, d)) => {
                let hex = d
                    .strip_prefix("sha256:")
                    .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
                    .ok_or_else(|| bad("the digest is not sha256: and 64 lowercase hex digits"))?;
                (rest, Some(hex.to_string()))
            }
            None => (text, None),
        };
        let (registry, path) = rest.split_once('/').ok_or_else(|| bad("no registry"))?;
        let registry_ok = !registry.is_empty()
            && (registry.contains('.') || registry.contains(':') || registry == "localhost")
            && registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        if !registry_ok {
            return Err(bad(
                "the first part must be a registry host (with a dot or a port, or localhost)",
            ));
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_string())),
            _ => (path, None),
        };
        let repository_ok = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            });
        if !repository_ok {
            return Err(bad("the repository must be lowercase path parts of a-z, 0-9, . _ -"));
        }
        if let Some(t) = &tag {
            let tag_ok = (1..=128).contains(&t.len())
                && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !tag_ok {
                return Err(bad("the tag must be 1 to 128 of A-Z, a-z, 0-9, . _ -"));
            }
        }
        Ok(Reference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// The reference pinned to `digest`: `REGISTRY/REPOSITORY@sha256:HEX`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}/{}@sha256:{digest}", self.registry, self.repository)
    }

    fn origin(&self) -> Result<Origin, String> {
        let host = self
            .registry
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(self.registry.as_str(), |(h, _)| h);
        let loopback = matches!(host, "localhost" | "[::1]") || host.starts_with("127.");
        let scheme = if loopback { "http" } else { "https" };
        Origin::parse(&format!("{scheme}://{}", self.registry)).map_err(|e| e.to_string())
    }

    /// The manifest reference: the digest when pinned, else the tag.
    fn target(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => format!("sha256:{d}"),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

/// What a plugin artifact carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The vendor's `gatehouse-plugin.toml`, pinned to the component.
    pub manifest: String,
    pub wasm: Vec<u8>,
    /// The `PLUGIN.wasm.sig` file, when the vendor signed it.
    pub signature: Option<Vec<u8>>,
}

/// One layer (or the config) as an image manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    /// Lowercase hex of its SHA-256.
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: sha256_hex(bytes),
            size: bytes.len() as u64,
        }
    }

    fn json(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": format!("sha256:{}", self.digest), "size": self.size})
    }
}

/// The config blob and the image manifest for an artifact (pure: the bytes
/// pushed, in the order of the Wasm OCI artifact layout).
pub fn image(artifact: &Artifact, created: &str) -> (Vec<u8>, Vec<u8>) {
    let mut layers = vec![
        Descriptor::of(WASM_LAYER, &artifact.wasm),
        Descriptor::of(MANIFEST_LAYER, artifact.manifest.as_bytes()),
    ];
    if let Some(sig) = &artifact.signature {
        layers.push(Descriptor::of(SIGNATURE_LAYER, sig));
    }
    let config = json!({
        "created": created,
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": layers.iter().map(|l| format!("sha256:{}", l.digest)).collect::<Vec<_>>(),
    });
    let config = serde_json::to_vec(&config).unwrap_or_default();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": IMAGE_MANIFEST,
        "config": Descriptor::of(WASM_CONFIG, &config).json(),
        "layers": layers.iter().map(Descriptor::json).collect::<Vec<_>>(),
    });
    (config, serde_json::to_vec(&manifest).unwrap_or_default())
}

/// The layers of a plugin artifact's image manifest, each bounded and of a
/// known media type: exactly one component and one plugin manifest, at most
/// one signature.
pub fn read_image(bytes: &[u8]) -> Result<Vec<Descriptor>, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("the image manifest is not JSON: {e}"))?;
    if doc.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err("the image manifest's schemaVersion: expected 2".into());
    }
    let config = descriptor(doc.get("config"), "config")?;
    if config.size > MAX_CONFIG {
        return Err(format!("config: {} bytes, expected at most {MAX_CONFIG}", config.size));
    }
    if config.media_type != WASM_CONFIG {
        return Err(format!(
            "config.mediaType {:?}: expected {WASM_CONFIG} (not a Wasm artifact)",
            config.media_type
        ));
    }
    let layers = doc
        .get("layers")
        .and_then(Value::as_array)
        .ok_or("layers: expected a list")?;
    if layers.len() > MAX_LAYERS {
        return Err(format!(
            "layers: {} of them, expected at most {MAX_LAYERS}",
            layers.len()
        ));
    }
    let mut out = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let d = descriptor(Some(l), &format!("layers[{i}]"))?;
        let limit = match d.media_type.as_str() {
            WASM_LAYER => MAX_WASM,
            MANIFEST_LAYER => MAX_PLUGIN_MANIFEST,
            SIGNATURE_LAYER => MAX_SIGNATURE,
            other => {
                return Err(format!(
                    "layers[{i}].mediaType {other:?}: expected {WASM_LAYER}, {MANIFEST_LAYER} or {SIGNATURE_LAYER}"
                ));
            }
        };
        if d.size > limit {
            return Err(format!("layers[{i}]: {} bytes, expected at most {limit}", d.size));
        }
        if out.iter().any(|o: &Descriptor| o.media_type == d.media_type) {
            return Err(format!("layers[{i}]: a second {} layer", d.media_type));
        }
        out.push(d);
    }
    for needed in [WASM_LAYER, MANIFEST_LAYER] {
        if !out.iter().any(|d| d.media_type == needed) {
            return Err(format!("layers: no {needed} layer (not a Gatehouse plugin artifact)"));
        }
    }
    Ok(out)
}

fn descriptor(v: Option<&Value>, field: &str) -> Result<Descriptor, String> {
    let v = v.ok_or_else(|| format!("{field}: missing"))?;
    let media_type = v
        .get("mediaType")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{field}.mediaType: expected a string"))?;
    let digest = v
        .get("digest")
        .and_then(Value::as_str)
        .and_then(|d| d.strip_prefix("sha256:"))
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .ok_or_else(|| format!("{field}.digest: expected sha256: and 64 lowercase hex digits"))?;
    let size = v
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("{field}.size: expected a byte count"))?;
    Ok(Descriptor {
        media_type: media_type.to_string(),
        digest: digest.to_string(),
        size,
    })
}

/// A registry session: one client, on its own thread's runtime.
struct Registry {
    http: Blocking,
    origin: Origin,
    repository: String,
    /// `user:password` from the environment, offered only when asked.
    credentials: Option<String>,
    /// The Authorization header once the registry asked for it.
    authorization: std::cell::RefCell<Option<String>>,
}

pub const USERNAME_ENV: &str = "GATEHOUSE_REGISTRY_USERNAME";
pub const PASSWORD_ENV: &str = "GATEHOUSE_REGISTRY_PASSWORD";

fn credentials_from_env() -> Option<String> {
    let user = std::env::var(USERNAME_ENV).ok().filter(|u| !u.is_empty())?;
    let password = std::env::var(PASSWORD_ENV).unwrap_or_default();
    Some(format!("{user}:{password}"))
}

/// What to answer a 401's `WWW-Authenticate` challenge with, or why not.
fn answer_challenge(challenge: Option<&str>, credentials: Option<&str>, what: &str) -> Result<String, String> {
    use base64::Engine as _;
    let scheme = challenge
        .and_then(|c| c.split_whitespace().next())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match (scheme.as_str(), credentials) {
        ("basic", Some(c)) => Ok(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(c))),
        ("basic", None) => Err(format!(
            "{what}: the registry asks for credentials: set {USERNAME_ENV} and {PASSWORD_ENV}"
        )),
        ("bearer", _) => Err(format!(
            "{what}: the registry asks for token (Bearer) authentication, which Gatehouse does not speak yet; use a registry that takes Basic credentials or anonymous access"
        )),
        _ => Err(format!(
            "{what}: the registry refused access (401) with the challenge {:?}",
            challenge.unwrap_or("(none)")
        )),
    }
}

impl Registry {
    fn new(reference: &Reference) -> Result<Registry, String> {
        let client = Client::new(Options {
            timeout: Duration::from_secs(300),
            max_answer_bytes: usize::try_from(MAX_WASM).unwrap_or(usize::MAX),
            ..Options::default()
        });
        Ok(Registry {
            http: Blocking::new(client).map_err(|e| e.to_string())?,
            origin: reference.origin()?,
            repository: reference.repository.clone(),
            credentials: credentials_from_env(),
            authorization: std::cell::RefCell::new(None),
        })
    }

    /// One request to the registry's own origin, answering a Basic
    /// challenge once with the configured credentials.
    fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<gatehouse_http::Response, String> {
        let send = |body: Vec<u8>| {
            let auth = self.authorization.borrow().clone();
            let mut all: Vec<(&str, &str)> = headers.to_vec();
            if let Some(a) = &auth {
                all.push(("authorization", a));
            }
            self.http
                .request(&self.origin, method.clone(), path, &all, body)
                .map_err(|e| e.to_string())
        };
        let answer = send(body.clone())?;
        if answer.status != StatusCode::UNAUTHORIZED {
            return Ok(answer);
        }
        let what = format!("{method} {}{path}", self.origin.authority);
        if self.authorization.borrow().is_some() {
            return Err(format!(
                "{what}: the registry refused the credentials in {USERNAME_ENV}/{PASSWORD_ENV}"
            ));
        }
        let header = answer_challenge(
            header(&answer, "www-authenticate").as_deref(),
            self.credentials.as_deref(),
            &what,
        )?;
        *self.authorization.borrow_mut() = Some(header);
        let answer = send(body)?;
        if answer.status == StatusCode::UNAUTHORIZED {
            return Err(format!(
                "{what}: the registry refused the credentials in {USERNAME_ENV}/{PASSWORD_ENV}"
            ));
        }
        Ok(answer)
    }

    fn blob_exists(&self, d: &Descriptor) -> Result<bool, String> {
        let path = format!("/v2/{}/blobs/sha256:{}", self.repository, d.digest);
        Ok(self.call(Method::HEAD, &path, &[], Vec::new())?.status == StatusCode::OK)
    }

    fn put_blob(&self, media_type: &str, bytes: &[u8]) -> Result<(), String> {
        let d = Descriptor::of(media_type, bytes);
        if self.blob_exists(&d)? {
            return Ok(());
        }
        let start = format!("/v2/{}/blobs/uploads/", self.repository);
        let answer = self.call(Method::POST, &start, &[], Vec::new())?;
        if answer.status != StatusCode::ACCEPTED {
            return Err(refusal("starting an upload", &answer));
        }
        let location = header(&answer, "location").ok_or("the registry gave no upload location")?;
        let path = self.same_origin_path(&location)?;
        let sep = if path.contains('?') { '&' } else { '?' };
        let put = format!("{path}{sep}digest=sha256:{}", d.digest);
        let answer = self.call(
            Method::PUT,
            &put,
            &[("content-type", "application/octet-stream")],
            bytes.to_vec(),
        )?;
        if answer.status != StatusCode::CREATED {
            return Err(refusal(&format!("uploading a {media_type} blob"), &answer));
        }
        Ok(())
    }

    /// A path on this registry from a Location header (absolute or not).
    fn same_origin_path(&self, location: &str) -> Result<String, String> {
        if location.starts_with('/') {
            return Ok(location.to_string());
        }
        let base = self.origin.url();
        location
            .strip_prefix(base.trim_end_matches('/'))
            .filter(|p| p.starts_with('/'))
            .map(str::to_string)
            .ok_or_else(|| format!("the registry sent uploads to another origin ({location}); not followed"))
    }

    fn put_manifest(&self, tag: &str, bytes: &[u8]) -> Result<(), String> {
        let path = format!("/v2/{}/manifests/{tag}", self.repository);
        let answer = self.call(Method::PUT, &path, &[("content-type", IMAGE_MANIFEST)], bytes.to_vec())?;
        if answer.status != StatusCode::CREATED {
            return Err(refusal("storing the image manifest", &answer));
        }
        Ok(())
    }

    fn get_manifest(&self, target: &str) -> Result<Vec<u8>, String> {
        let path = format!("/v2/{}/manifests/{target}", self.repository);
        let answer = self.call(Method::GET, &path, &[("accept", IMAGE_MANIFEST)], Vec::new())?;
        if answer.status != StatusCode::OK {
            return Err(refusal(&format!("fetching the manifest {target}"), &answer));
        }
        if answer.body.len() as u64 > MAX_IMAGE_MANIFEST {
            return Err(format!("the image manifest is over {MAX_IMAGE_MANIFEST} bytes"));
        }
        Ok(answer.body.to_vec())
    }

    /// A blob, checked against its descriptor; a registry may redirect a
    /// blob to its storage (followed a few times, any origin).
    fn get_blob(&self, d: &Descriptor) -> Result<Vec<u8>, String> {
        let mut origin = self.origin.clone();
        let mut path = format!("/v2/{}/blobs/sha256:{}", self.repository, d.digest);
        for _ in 0..=MAX_REDIRECTS {
            // Credentials go to the registry only, never to storage it redirects to.
            let answer = if origin == self.origin {
                self.call(Method::GET, &path, &[("accept", "*/*")], Vec::new())?
            } else {
                self.http
                    .request(&origin, Method::GET, &path, &[("accept", "*/*")], Vec::new())
                    .map_err(|e| e.to_string())?
            };
            if answer.status.is_redirection() {
                let to = header(&answer, "location").ok_or("a redirect without a location")?;
                if to.starts_with('/') {
                    path = to;
                } else {
                    let (o, p) = split_url(&to)?;
                    origin = o;
                    path = p;
                }
                continue;
            }
            if answer.status != StatusCode::OK {
                return Err(refusal(&format!("fetching the blob sha256:{}", d.digest), &answer));
            }
            let body = answer.body.to_vec();
            if body.len() as u64 != d.size || sha256_hex(&body) != d.digest {
                return Err(format!(
                    "the blob sha256:{} the registry sent does not match its digest and size",
                    d.digest
                ));
            }
            return Ok(body);
        }
        Err(format!("more than {MAX_REDIRECTS} redirects for a blob"))
    }
}

fn split_url(url: &str) -> Result<(Origin, String), String> {
    let scheme_end = url.find("://").ok_or_else(|| format!("{url}: not a URL"))? + 3;
    let path_start = url
        .get(scheme_end..)
        .and_then(|r| r.find('/'))
        .map_or(url.len(), |i| i + scheme_end);
    let origin = Origin::parse(url.get(..path_start).unwrap_or(url)).map_err(|e| e.to_string())?;
    let path = url.get(path_start..).filter(|p| !p.is_empty()).unwrap_or("/");
    Ok((origin, path.to_string()))
}

fn header(answer: &gatehouse_http::Response, name: &str) -> Option<String> {
    answer
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn refusal(what: &str, answer: &gatehouse_http::Response) -> String {
    let body = String::from_utf8_lossy(&answer.body);
    let body: String = body.chars().take(300).collect();
    format!("{what}: the registry answered {} {}", answer.status, body.trim())
}

/// Run `f` on a thread of its own: the blocking client has a runtime of its
/// own, which must never start inside another (a sidecar loads plugins from
/// within its runtime).
fn off_runtime<T: Send>(f: impl FnOnce() -> Result<T, String> + Send) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|_| Err("the registry client stopped unexpectedly".into()))
    })
}

/// Publish `artifact` under `reference`'s tag; returns the image manifest's
/// digest (the pin).
pub fn push(reference: &Reference, artifact: &Artifact, created: &str) -> Result<String, String> {
    let tag = reference
        .tag
        .clone()
        .filter(|_| reference.digest.is_none())
        .ok_or_else(|| {
            format!(
                "{}/{}: push needs a tag (REGISTRY/REPOSITORY:TAG) and no digest",
                reference.registry, reference.repository
            )
        })?;
    let (config, manifest) = image(artifact, created);
    off_runtime(|| {
        let registry = Registry::new(reference)?;
        registry.put_blob(WASM_LAYER, &artifact.wasm)?;
        registry.put_blob(MANIFEST_LAYER, artifact.manifest.as_bytes())?;
        if let Some(sig) = &artifact.signature {
            registry.put_blob(SIGNATURE_LAYER, sig)?;
        }
        registry.put_blob(WASM_CONFIG, &config)?;
        registry.put_manifest(&tag, &manifest)?;
        Ok(sha256_hex(&manifest))
    })
}

/// What a pull fetched: the image manifest as the registry sent it, its
/// digest, and the artifact its layers make.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub digest: String,
    pub image: Vec<u8>,
    pub artifact: Artifact,
}

/// Fetch the artifact `reference` names. A pinned reference must fetch
/// exactly the pinned manifest.
pub fn pull(reference: &Reference) -> Result<Pulled, String> {
    off_runtime(|| {
        let registry = Registry::new(reference)?;
        let manifest = registry.get_manifest(&reference.target())?;
        let digest = sha256_hex(&manifest);
        if let Some(pin) = &reference.digest
            && *pin != digest
        {
            return Err(format!(
                "the registry sent a manifest of digest sha256:{digest}, not the pinned sha256:{pin}"
            ));
        }
        let layers = read_image(&manifest)?;
        let artifact = assemble(&layers, |d| registry.get_blob(d))?;
        Ok(Pulled {
            digest,
            image: manifest,
            artifact,
        })
    })
}

fn assemble(
    layers: &[Descriptor],
    mut fetch: impl FnMut(&Descriptor) -> Result<Vec<u8>, String>,
) -> Result<Artifact, String> {
    let mut artifact = Artifact {
        manifest: String::new(),
        wasm: Vec::new(),
        signature: None,
    };
    for d in layers {
        let bytes = fetch(d)?;
        match d.media_type.as_str() {
            WASM_LAYER => artifact.wasm = bytes,
            MANIFEST_LAYER => {
                artifact.manifest =
                    String::from_utf8(bytes).map_err(|_| "the plugin manifest layer is not UTF-8".to_string())?;
            }
            _ => artifact.signature = Some(bytes),
        }
    }
    Ok(artifact)
}

/// The artifact a manifest's `oci = "…@sha256:…"` pins: from the cache when
/// every blob there still matches its digest, else from the registry (and
/// then kept in the cache).
pub fn fetch_pinned(reference: &Reference, cache_dir: Option<&Path>) -> Result<Artifact, String> {
    let Some(pin) = reference.digest.clone() else {
        return Err("the reference is not pinned by digest".into());
    };
    let blobs = cache_dir.map(|c| c.join("oci").join("blobs").join("sha256"));
    if let Some(dir) = &blobs
        && let Some(a) = from_cache(dir, &pin)
    {
        return Ok(a);
    }
    let pulled = pull(reference)?;
    if let Some(dir) = &blobs {
        // A cache that cannot be written costs a fetch next time, nothing more.
        let _ = store(dir, &pulled);
    }
    Ok(pulled.artifact)
}

fn from_cache(dir: &Path, pin: &str) -> Option<Artifact> {
    let read = |digest: &str| -> Option<Vec<u8>> {
        let bytes = std::fs::read(dir.join(digest)).ok()?;
        (sha256_hex(&bytes) == digest).then_some(bytes)
    };
    let manifest = read(pin)?;
    let layers = read_image(&manifest).ok()?;
    assemble(&layers, |d| read(&d.digest).ok_or_else(String::new)).ok()
}

fn store(dir: &Path, pulled: &Pulled) -> std::io::Result<()> {
    let a = &pulled.artifact;
    let mut blobs: Vec<&[u8]> = vec![&a.wasm, a.manifest.as_bytes()];
    if let Some(sig) = &a.signature {
        blobs.push(sig);
    }
    for b in blobs {
        crate::sandbox::write_atomically(&dir.join(sha256_hex(b)), b)?;
    }
    // Last: a manifest in the cache means its layers are there.
    crate::sandbox::write_atomically(&dir.join(&pulled.digest), &pulled.image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_a_registry_a_repository_and_a_tag_or_digest() {
        let hex = "a".repeat(64);
        let r = Reference::parse(&format!("127.0.0.1:5000/acme/check@sha256:{hex}")).unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "acme/check")
        );
        assert_eq!((r.tag.as_deref(), r.digest.as_deref()), (None, Some(hex.as_str())));
        assert_eq!(r.origin().unwrap().url(), "http://127.0.0.1:5000");
        let r = Reference::parse("ghcr.io/acme/check:1.0.0").unwrap();
        assert_eq!(r.tag.as_deref(), Some("1.0.0"));
        assert!(r.origin().unwrap().tls, "only loopback is spoken to in plain HTTP");
        assert_eq!(r.pinned(&hex), format!("ghcr.io/acme/check@sha256:{hex}"));
        for bad in [
            "acme/check:1.0",                // no registry: Docker Hub is not assumed
            "ghcr.io/Acme/check",            // uppercase repository
            "ghcr.io/acme/check@sha256:abc", // short digest
            "ghcr.io/acme/check@md5:abcd",   // not sha256
            "ghcr.io/acme/check:bad tag",
            "ghcr.io/",
        ] {
            let e = Reference::parse(bad).unwrap_err();
            assert!(e.contains("expected REGISTRY/REPOSITORY"), "{bad}: {e}");
        }
    }

    fn artifact(signed: bool) -> Artifact {
        Artifact {
            manifest: "name = \"x\"\n".into(),
            wasm: b"\0asm component".to_vec(),
            signature: signed.then(|| b"{}".to_vec()),
        }
    }

    #[test]
    fn an_image_lists_the_component_first_and_reads_back_to_its_layers() {
        for signed in [false, true] {
            let a = artifact(signed);
            let (config, manifest) = image(&a, "2026-12-07T00:00:00Z");
            let config: Value = serde_json::from_slice(&config).unwrap();
            assert_eq!(
                (config["architecture"].as_str(), config["os"].as_str()),
                (Some("wasm"), Some("wasip2"))
            );
            let layers = read_image(&manifest).unwrap();
            assert_eq!(layers.first().map(|l| l.media_type.as_str()), Some(WASM_LAYER));
            assert_eq!(layers.len(), 2 + usize::from(signed));
            let back = assemble(&layers, |d| {
                Ok(match d.media_type.as_str() {
                    WASM_LAYER => a.wasm.clone(),
                    MANIFEST_LAYER => a.manifest.clone().into_bytes(),
                    _ => b"{}".to_vec(),
                })
            })
            .unwrap();
            assert_eq!(back, a);
        }
    }

    #[test]
    fn hostile_image_manifests_are_refused_before_anything_is_fetched() {
        let (_, manifest) = image(&artifact(true), "t");
        let doc: Value = serde_json::from_slice(&manifest).unwrap();
        let with = |f: &dyn Fn(&mut Value)| {
            let mut d = doc.clone();
            f(&mut d);
            read_image(&serde_json::to_vec(&d).unwrap()).unwrap_err()
        };
        let e = with(&|d| d["layers"][0]["size"] = json!(MAX_WASM + 1));
        assert!(e.contains("layers[0]") && e.contains("at most"), "{e}");
        let e = with(&|d| d["layers"][1]["mediaType"] = json!("application/x-other"));
        assert!(e.contains("layers[1].mediaType"), "{e}");
        let e = with(&|d| d["layers"][2] = d["layers"][0].clone());
        assert!(e.contains("a second application/wasm layer"), "{e}");
        let e = with(&|d| d["config"]["mediaType"] = json!("application/vnd.oci.image.config.v1+json"));
        assert!(e.contains("not a Wasm artifact"), "{e}");
        let e = with(&|d| d["layers"] = json!([d["layers"][0].clone()]));
        assert!(
            e.contains("no application/vnd.gatehouse.plugin.manifest.v1+toml layer"),
            "{e}"
        );
        let e = with(&|d| d["layers"] = json!(vec![d["layers"][0].clone(); 9]));
        assert!(e.contains("at most 8"), "{e}");
        let e = with(&|d| d["layers"][0]["digest"] = json!("sha256:XYZ"));
        assert!(e.contains("layers[0].digest"), "{e}");
    }

    #[test]
    fn a_basic_challenge_is_answered_only_with_credentials_and_a_bearer_one_is_refused() {
        let basic = answer_challenge(Some("Basic realm=\"r\""), Some("vendor:s3cret"), "GET x").unwrap();
        assert_eq!(basic, "Basic dmVuZG9yOnMzY3JldA==");
        let e = answer_challenge(Some("Basic realm=\"r\""), None, "GET x").unwrap_err();
        assert!(e.contains(USERNAME_ENV), "{e}");
        let e = answer_challenge(
            Some("Bearer realm=\"https://auth\",service=\"r\""),
            Some("a:b"),
            "GET x",
        )
        .unwrap_err();
        assert!(e.contains("token (Bearer) authentication"), "{e}");
        let e = answer_challenge(None, Some("a:b"), "GET x").unwrap_err();
        assert!(e.contains("(none)"), "{e}");
    }

    #[test]
    fn a_cached_artifact_is_used_only_while_every_blob_matches_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let a = artifact(true);
        let (_, image_bytes) = image(&a, "t");
        let pulled = Pulled {
            digest: sha256_hex(&image_bytes),
            image: image_bytes,
            artifact: a.clone(),
        };
        store(dir.path(), &pulled).unwrap();
        assert_eq!(from_cache(dir.path(), &pulled.digest), Some(a.clone()));
        std::fs::write(dir.path().join(sha256_hex(&a.wasm)), b"tampered").unwrap();
        assert_eq!(
            from_cache(dir.path(), &pulled.digest),
            None,
            "a changed component is fetched again"
        );
    }
}
