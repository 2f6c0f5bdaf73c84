//! Helpers for end-to-end tests: the real `gatehouse` binary, started on port
//! 0 with a temporary data directory, driven over real HTTP on loopback and
//! through its CLI, and killed when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

pub mod registry;

/// The `gatehouse` binary built by this `cargo test` run (it sits beside the
/// directory that holds this test executable). A binary older than the
/// sources it is built from is refused: `cargo test -p gatehouse-e2e` alone
/// does not rebuild it, and a stale binary must never be the one tested.
pub fn gatehouse_bin() -> PathBuf {
    static CHECKED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            let dir = exe.parent().and_then(Path::parent).expect("target profile directory");
            let bin = dir.join(format!("gatehouse{}", std::env::consts::EXE_SUFFIX));
            let built = std::fs::metadata(&bin).and_then(|m| m.modified()).unwrap_or_else(|e| {
                panic!(
                    "{} is missing ({e}): run the suite with `cargo test --workspace`, which builds it",
                    bin.display()
                )
            });
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root");
            let sources = [
                "host/src",
                "host/Cargo.toml",
                "host/core",
                "host/policy",
                "host/plugin",
                "host/store",
                "host/store-postgres",
                "host/http",
                "host/build-support",
                "policies",
                "wit",
            ];
            if let Some((newest, path)) = sources.iter().filter_map(|s| newest_file(&root.join(s))).max()
                && newest > built
            {
                panic!(
                    "{} is older than {}: build it first (`cargo build -p gatehouse-host --bin gatehouse`, \
                     or run `cargo test --workspace`, which does)",
                    bin.display(),
                    path.display()
                );
            }
            bin
        })
        .clone()
}

/// The most recently modified file under `path` (a file or a directory).
fn newest_file(path: &Path) -> Option<(std::time::SystemTime, PathBuf)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.is_file() {
        return Some((meta.modified().ok()?, path.to_path_buf()));
    }
    if !meta.is_dir() {
        return None;
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| newest_file(&entry.path()))
        .max()
}

/// The cargo target directory of this run (`target/`).
pub fn target_dir() -> PathBuf {
    let bin = gatehouse_bin();
    bin.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target directory")
}

/// Where the test-artifacts crate built the plugin components, test-only
/// guests included.
pub fn wasm_dir() -> PathBuf {
    PathBuf::from(gatehouse_test_artifacts::WASM_DIR)
}

/// One compilation cache for every test's plugins: each component is compiled
/// once per run, not once per test.
pub fn plugin_cache() -> PathBuf {
    target_dir().join("plugin-cache-tests")
}

/// A running `gatehouse serve`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Admin tokens made for actor names, by name.
    tokens: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_env(data_dir, extra, &[])
    }

    /// Start with extra arguments and environment variables.
    pub fn start_env(data_dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        Server::start_logged(data_dir, extra, envs, Stdio::inherit(), None)
    }

    /// Start with the server's log (stderr) sent to `log`, and optionally a
    /// shell line run before `exec` (e.g. `ulimit -n 256`).
    pub fn start_logged(
        data_dir: &Path,
        extra: &[&str],
        envs: &[(&str, &str)],
        log: Stdio,
        shell_prefix: Option<&str>,
    ) -> Server {
        let mut cmd = match shell_prefix {
            Some(prefix) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("{prefix}; exec \"$0\" \"$@\""))
                    .arg(gatehouse_bin());
                c
            }
            None => Command::new(gatehouse_bin()),
        };
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("GATEHOUSE_LOG", "warn")
            .env("GATEHOUSE_PLUGIN_CACHE_DIR", plugin_cache())
            .envs(database_env(data_dir))
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start gatehouse serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .trim()
            .strip_prefix("gatehouse listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line from serve: {line:?}"))
            .parse()
            .expect("socket address");
        Server {
            child,
            addr,
            data_dir: data_dir.to_path_buf(),
            tokens: Default::default(),
        }
    }

    /// The secret of an admin token named `name` (made once, with the CLI on the data dir).
    pub fn token(&self, name: &str) -> String {
        let mut tokens = self.tokens.lock().unwrap();
        tokens
            .entry(name.to_string())
            .or_insert_with(|| create_token(&self.data_dir, name, "admin"))
            .clone()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        request(self.addr, "GET", path, None, Some(&self.token("tester")))
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        request(
            self.addr,
            "POST",
            path,
            Some(body.to_string().as_bytes()),
            Some(&self.token("tester")),
        )
    }

    /// A request as the actor `actor` (an admin token of that name).
    pub fn send(&self, method: &str, path: &str, body: Option<&[u8]>, actor: &str) -> (u16, Value) {
        request(self.addr, method, path, body, Some(&self.token(actor)))
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Create a token with the CLI on a data directory and return its secret.
pub fn create_token(data_dir: &Path, name: &str, role: &str) -> String {
    let o = cli(data_dir, &["token", "create", "--name", name, "--role", role]);
    assert!(o.status.success(), "token create: {}", stderr(&o));
    stdout(&o).trim().to_string()
}

/// One HTTP/1.1 request on a fresh connection, with a bearer token when
/// given; returns status and JSON body (`Value::Null` for a non-JSON body).
pub fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>, token: Option<&str>) -> (u16, Value) {
    try_request(addr, method, path, body, token).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    token: Option<&str>,
) -> std::io::Result<(u16, Value)> {
    let method = gatehouse_http::Method::from_bytes(method.as_bytes()).map_err(std::io::Error::other)?;
    let origin = gatehouse_http::Origin::parse(&format!("http://{addr}")).map_err(std::io::Error::other)?;
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let client = gatehouse_http::Client::new(gatehouse_http::Options {
        timeout: Duration::from_secs(60),
        ..gatehouse_http::Options::default()
    });
    let answer = gatehouse_http::Blocking::new(client)
        .and_then(|http| http.request(&origin, method, path, &headers, body.unwrap_or_default().to_vec()))
        .map_err(std::io::Error::other)?;
    Ok((
        answer.status.as_u16(),
        serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
    ))
}

/// Send a request with extra raw header lines (each ending in CRLF) and return the raw response.
pub fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &str,
) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or(b"");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{headers}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(raw)
}

/// Run the CLI on `data_dir` and return its output.
pub fn cli(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(gatehouse_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("GATEHOUSE_ACTOR", "cli-tester")
        .env("GATEHOUSE_PLUGIN_CACHE_DIR", plugin_cache())
        .envs(database_env(data_dir))
        .output()
        .expect("run gatehouse")
}

/// The databases of the data directories, when the suite runs on
/// PostgreSQL (`None`: that directory stays on the embedded store).
static DATABASES: std::sync::Mutex<std::collections::BTreeMap<PathBuf, Option<String>>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Whether this run puts the record in PostgreSQL: `GATEHOUSE_TEST_DATABASE=postgres`
/// runs every server and CLI of the end-to-end tests on one throwaway
/// cluster, with a database of its own per data directory.
pub fn on_postgres() -> bool {
    std::env::var("GATEHOUSE_TEST_DATABASE").as_deref() == Ok("postgres")
}

/// The environment that points a server or CLI on `data_dir` at its store.
pub fn database_env(data_dir: &Path) -> Vec<(&'static str, String)> {
    if !on_postgres() {
        return Vec::new();
    }
    let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    let url = databases.entry(data_dir.to_path_buf()).or_insert_with(|| {
        let cluster = gatehouse_test_postgres::Cluster::shared();
        Some(cluster.create_database().unwrap_or_else(|e| panic!("{e}")))
    });
    url.iter().map(|u| ("GATEHOUSE_DATABASE_URL", u.clone())).collect()
}

/// Keep `data_dir` on the embedded SQLite store whatever the run's backend:
/// for tests that open or edit `gatehouse.db` themselves.
pub fn embedded_only(data_dir: &Path) {
    DATABASES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(data_dir.to_path_buf(), None);
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn sha(byte: u8) -> String {
    format!("{byte:02x}").repeat(32)
}

/// Create an application and a version with one artifact over HTTP.
pub fn seed(server: &Server, app: &str, version: &str) {
    seed_with(server, &server.token("tester"), app, version)
}

/// A POST with a token of the caller's, the body as JSON.
pub fn post_as(server: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    request(
        server.addr,
        "POST",
        path,
        Some(body.to_string().as_bytes()),
        Some(token),
    )
}

/// [`seed`] with a token of the caller's (a server whose store the harness does not choose).
pub fn seed_with(server: &Server, token: &str, app: &str, version: &str) {
    let post = |path: &str, body: serde_json::Value| post_as(server, token, path, body);
    let (s, body) = post("/v1/applications", serde_json::json!({ "key": app, "project": "shop" }));
    assert!(s == 201 || s == 409, "create app: {s} {body}");
    let (s, body) = post(
        &format!("/v1/applications/{app}/versions"),
        serde_json::json!({ "version": version, "artifacts": [{ "name": "app.tgz", "kind": "file", "sha256": sha(0xab) }] }),
    );
    assert_eq!(s, 201, "create version: {body}");
}

/// SHA-256 of a file, as `sha256sum` prints it.
pub fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("run sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest from sha256sum")
        .to_string()
}

/// The result of check `name` in a transition's answer (allowed, or blocked as an error).
pub fn check_result<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["error"]["gates"]
        .as_array()
        .or_else(|| r["gates"].as_array())
        .into_iter()
        .flatten()
        .flat_map(|g| g["checks"].as_array().into_iter().flatten())
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no result for {name} in {r}"))
}

/// `PUT /v1/bindings/{id}` for an entry gate, as an admin; the answer.
pub fn put_binding(server: &Server, id: &str, check: &str, stage: &str, params: Value) -> (u16, Value) {
    let body = serde_json::json!({"check": check, "gate": {"stage": stage, "kind": "entry"}, "params": params});
    server.send(
        "PUT",
        &format!("/v1/bindings/{id}"),
        Some(body.to_string().as_bytes()),
        "admin",
    )
}

/// A file of the real-world test data (tests/data/shared, a copy of the project's shared data).
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/shared").join(rel)
}

/// Copy a directory tree (a fixture, before a test changes it).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
