//! A load driver for a running `gatehouse serve`: many clients on keep-alive
//! HTTP/1.1 connections, each promoting its own versions through real gates
//! (real policy evaluation, real store commits) or ingesting freshly signed
//! evidence; bounded by a request count and a time limit. Setup requests
//! (application, bindings, versions, keys) are not timed.
//!
//!     gatehouse-load --server http://127.0.0.1:8420 --token $ADMIN \
//!         --scenario promote --concurrency 64 --requests 20000 --seconds 60
//!
//! or, with `--spawn`, against a sidecar it starts itself (the `gatehouse`
//! binary beside this one, a fresh data directory, an admin token):
//!
//!     cargo build --release --bin gatehouse --bin gatehouse-load && \
//!         ./target/release/gatehouse-load --spawn --scenario promote
//!
//! Several sidecars on one PostgreSQL database: `--servers URL1,URL2,…`
//! spreads the clients over them (client i talks to server i mod N); with
//! `--spawn --postgres --sidecars 3` the driver makes a throwaway cluster
//! (Debian's postgresql package) and starts the sidecars itself, sharing one
//! database and one release key.
//!
//! `--scenario commit-rate` measures what the disk allows instead: one-row
//! commits, one after the other, for `--seconds` — SQLite in WAL mode with
//! `synchronous = FULL` (as the embedded store commits), and with `--postgres`
//! single-client `pgbench` (simple-update, synchronous_commit on) too.
//!
//! `--acknowledged FILE` writes what the sidecars acknowledged, one line per
//! promotion answered 200 (`APPLICATION VERSION STAGE`): a test that kills a
//! sidecar mid-burst checks each is in the record.
//!
//! Prints throughput and latency percentiles (and JSON with --json).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

struct Args {
    server: String,
    /// Every server the clients are spread over (the first does the setup).
    servers: Vec<String>,
    sidecars: usize,
    postgres: bool,
    token: String,
    scenario: String,
    concurrency: usize,
    requests: usize,
    seconds: u64,
    json: bool,
    spawn: bool,
    acknowledged: Option<std::path::PathBuf>,
}

fn usage(msg: &str) -> ! {
    eprintln!("gatehouse-load: {msg}");
    eprintln!(
        "usage: gatehouse-load (--server http://HOST:PORT | --servers URL1,URL2,… --token ADMIN_TOKEN \
         | --spawn [--postgres] [--sidecars N]) [--scenario promote|evidence|commit-rate] \
         [--concurrency 64] [--requests 20000] [--seconds 60] [--json] [--acknowledged FILE]"
    );
    exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        server: "http://127.0.0.1:8420".into(),
        servers: Vec::new(),
        sidecars: 1,
        postgres: false,
        token: std::env::var("GATEHOUSE_TOKEN").unwrap_or_default(),
        scenario: "promote".into(),
        concurrency: 64,
        requests: 20_000,
        seconds: 60,
        json: false,
        spawn: false,
        acknowledged: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number = |v: String, what: &str| -> usize {
            v.parse()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| usage(&format!("{what}: expected a positive number, got {v:?}")))
        };
        match flag.as_str() {
            "--server" => a.server = value(),
            "--servers" => a.servers = value().split(',').map(str::to_string).collect(),
            "--sidecars" => a.sidecars = number(value(), "--sidecars"),
            "--postgres" => a.postgres = true,
            "--token" => a.token = value(),
            "--scenario" => a.scenario = value(),
            "--concurrency" => a.concurrency = number(value(), "--concurrency"),
            "--requests" => a.requests = number(value(), "--requests"),
            "--seconds" => a.seconds = number(value(), "--seconds") as u64,
            "--json" => a.json = true,
            "--spawn" => a.spawn = true,
            "--acknowledged" => a.acknowledged = Some(value().into()),
            "-h" | "--help" => usage("drive a running gatehouse serve"),
            other => usage(&format!("unknown flag {other}")),
        }
    }
    if a.token.is_empty() && !a.spawn && a.scenario != "commit-rate" {
        usage("--token (or GATEHOUSE_TOKEN) is required: an admin token, from `gatehouse token create --role admin`");
    }
    if !matches!(a.scenario.as_str(), "promote" | "evidence" | "commit-rate") {
        usage(&format!(
            "--scenario {:?}: expected promote, evidence or commit-rate",
            a.scenario
        ));
    }
    if a.sidecars > 1 && !(a.spawn && a.postgres) {
        usage("--sidecars N > 1 needs --spawn --postgres (sidecars share a PostgreSQL database)");
    }
    a
}

/// One keep-alive HTTP/1.1 connection, through the project's HTTP client.
struct Conn {
    origin: gatehouse_http::Origin,
    auth: String,
    http: gatehouse_http::Blocking,
    conn: Option<gatehouse_http::Connection>,
}

impl Conn {
    fn new(addr: SocketAddr, token: &str) -> Conn {
        let client = gatehouse_http::Client::new(gatehouse_http::Options {
            timeout: Duration::from_secs(60),
            ..gatehouse_http::Options::default()
        });
        let http = gatehouse_http::Blocking::new(client).unwrap_or_else(|e| {
            eprintln!("gatehouse-load: {e}");
            exit(1)
        });
        let origin = gatehouse_http::Origin::parse(&format!("http://{addr}")).unwrap_or_else(|e| {
            eprintln!("gatehouse-load: {e}");
            exit(1)
        });
        Conn {
            origin,
            auth: format!("Bearer {token}"),
            http,
            conn: None,
        }
    }

    fn call(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        let method = gatehouse_http::Method::from_bytes(method.as_bytes()).map_err(std::io::Error::other)?;
        for attempt in 0..2 {
            let conn = match self.conn.take() {
                Some(c) if c.is_open() => c,
                _ => self.http.connect(&self.origin).map_err(std::io::Error::other)?,
            };
            let mut conn = conn;
            let headers = [("authorization", self.auth.as_str())];
            match self.http.send(&mut conn, method.clone(), path, &headers, body.to_vec()) {
                Ok(answer) => {
                    self.conn = Some(conn);
                    return Ok((answer.status.as_u16(), answer.body.to_vec()));
                }
                // The server may have closed an idle connection: reconnect once.
                Err(_) if attempt == 0 => {}
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
        Err(std::io::Error::other("unreachable"))
    }

    fn json(&mut self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        match self.call(method, path, body.to_string().as_bytes()) {
            Ok((s, b)) => (s, serde_json::from_slice(&b).unwrap_or(Value::Null)),
            Err(e) => {
                eprintln!("gatehouse-load: {method} {path}: {e}");
                exit(1)
            }
        }
    }
}

fn expect(what: &str, (status, body): (u16, Value), ok: &[u16]) -> Value {
    if !ok.contains(&status) {
        eprintln!("gatehouse-load: setup failed: {what}: HTTP {status} {body}");
        exit(1);
    }
    body
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Create versions `1.0.0` … of `app`, each with one artifact; return their digests.
fn create_versions(setup: &mut Conn, app: &str, run: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let digest = sha256_hex(format!("{run}-{i}").as_bytes());
            let v = json!({"version": format!("1.0.{i}"),
                           "artifacts": [{"name": "load.tgz", "kind": "file", "sha256": digest}]});
            expect(
                "create version",
                setup.json("POST", &format!("/v1/applications/{app}/versions"), &v),
                &[201],
            );
            digest
        })
        .collect()
}

/// A signed test-result statement about one artifact digest (DSSE, in-toto v1).
fn envelope(key: &SigningKey, keyid: &str, digest: &str, n: usize) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "load.tgz", "digest": {"sha256": digest}}],
        "predicateType": "https://in-toto.io/attestation/test-result/v0.1",
        "predicate": {"result": "PASSED", "url": format!("https://ci.example/run/{n}"), "passedTests": ["unit", "integration"], "failedTests": []},
    })
    .to_string();
    let payload_type = "application/vnd.in-toto+json";
    let pae = format!(
        "DSSEv1 {} {payload_type} {} {statement}",
        payload_type.len(),
        statement.len()
    );
    let sig = key.sign(pae.as_bytes());
    json!({"payload": b64.encode(&statement), "payloadType": payload_type,
           "signatures": [{"keyid": keyid, "sig": b64.encode(sig.to_bytes())}]})
    .to_string()
    .into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The sidecar started by `--spawn`, stopped by [`exit`] whatever the outcome.
static SIDECAR: Mutex<Option<Spawned>> = Mutex::new(None);

fn exit(code: i32) -> ! {
    if let Ok(mut s) = SIDECAR.lock() {
        drop(s.take());
    }
    std::process::exit(code)
}

/// The sidecars this driver started (killed, and their data removed, on
/// drop), and the cluster they share, if any (stopped after them).
struct Spawned {
    children: Vec<std::process::Child>,
    dir: std::path::PathBuf,
    cluster: Option<gatehouse_test_postgres::Cluster>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        drop(self.cluster.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `gatehouse` binary beside this one.
fn gatehouse_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| usage(&format!("cannot find myself: {e}")));
    let bin = exe.with_file_name(format!("gatehouse{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        usage(&format!(
            "--spawn needs {} (cargo build --release --bin gatehouse)",
            bin.display()
        ));
    }
    bin
}

/// Start `count` sidecars of the `gatehouse` beside this binary, each on a
/// fresh data directory — on one throwaway PostgreSQL database with one
/// release key when `postgres` — (kept in [`SIDECAR`]); their URLs and an
/// admin token.
#[expect(
    clippy::zombie_processes,
    reason = "the children are kept in SIDECAR, whose Drop kills and waits for them"
)]
fn spawn_sidecars(count: usize, postgres: bool) -> (Vec<String>, String) {
    let bin = gatehouse_bin();
    let dir = std::env::temp_dir().join(format!("gatehouse-load-{}", std::process::id()));
    let mut env: Vec<(&str, String)> = Vec::new();
    let cluster = if postgres {
        let cluster = gatehouse_test_postgres::Cluster::start().unwrap_or_else(|e| usage(&e.to_string()));
        let url = cluster.create_database().unwrap_or_else(|e| usage(&e.to_string()));
        let keys = dir.join("shared-keys");
        let made = std::process::Command::new(&bin)
            .args(["keys", "generate", "--out"])
            .arg(&keys)
            .output()
            .unwrap_or_else(|e| usage(&format!("cannot run {}: {e}", bin.display())));
        if !made.status.success() {
            usage(&format!(
                "keys generate failed: {}",
                String::from_utf8_lossy(&made.stderr)
            ));
        }
        env.push(("GATEHOUSE_DATABASE_URL", url));
        env.push((
            "GATEHOUSE_RELEASE_KEY",
            keys.join("ed25519.priv.pem").display().to_string(),
        ));
        Some(cluster)
    } else {
        None
    };
    if let Ok(mut slot) = SIDECAR.lock() {
        *slot = Some(Spawned {
            children: Vec::new(),
            dir: dir.clone(),
            cluster,
        });
    }
    let token = std::process::Command::new(&bin)
        .arg("--data-dir")
        .arg(dir.join("sidecar-0"))
        .args(["token", "create", "--name", "load", "--role", "admin"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| usage(&format!("cannot run {}: {e}", bin.display())));
    if !token.status.success() {
        usage(&format!(
            "token create failed: {}",
            String::from_utf8_lossy(&token.stderr)
        ));
    }
    let mut urls = Vec::new();
    for i in 0..count {
        let mut child = std::process::Command::new(&bin)
            .arg("--data-dir")
            .arg(dir.join(format!("sidecar-{i}")))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("GATEHOUSE_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| usage(&format!("cannot start {}: {e}", bin.display())));
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        if let Ok(mut slot) = SIDECAR.lock()
            && let Some(spawned) = slot.as_mut()
        {
            spawned.children.push(child);
        }
        let url = line
            .trim()
            .strip_prefix("gatehouse listening on ")
            .unwrap_or_default()
            .to_string();
        if url.is_empty() {
            usage(&format!("sidecar {i} did not start: {line:?}"));
        }
        urls.push(url);
    }
    (urls, String::from_utf8_lossy(&token.stdout).trim().to_string())
}

/// `--scenario commit-rate`: one-row commits, one after the other, for
/// `seconds`: the disk's serial commit rate, next to which group commit is judged.
fn commit_rates(seconds: u64, postgres: bool, json_out: bool) {
    let dir = std::env::temp_dir().join(format!("gatehouse-commit-rate-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let sqlite = {
        let db = rusqlite::Connection::open(dir.join("rate.db")).unwrap_or_else(|e| usage(&e.to_string()));
        let setup = db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE t (n INTEGER NOT NULL, text TEXT NOT NULL);",
        );
        setup.unwrap_or_else(|e| usage(&e.to_string()));
        let until = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut commits = 0u64;
        while Instant::now() < until {
            db.execute(
                "INSERT INTO t (n, text) VALUES (?1, 'one row, one commit')",
                [commits as i64],
            )
            .unwrap_or_else(|e| usage(&e.to_string()));
            commits += 1;
        }
        commits as f64 / started.elapsed().as_secs_f64()
    };
    let _ = std::fs::remove_dir_all(&dir);
    let pgbench = postgres.then(|| {
        let cluster = gatehouse_test_postgres::Cluster::start().unwrap_or_else(|e| usage(&e.to_string()));
        let url = cluster.create_database().unwrap_or_else(|e| usage(&e.to_string()));
        let bin = std::process::Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("pgbench"))
            .unwrap_or_else(|| "pgbench".into());
        let run = |args: &[&str]| {
            let out = std::process::Command::new(&bin)
                .args(args)
                .arg(&url)
                .output()
                .unwrap_or_else(|e| usage(&format!("pgbench: {e}")));
            if !out.status.success() {
                usage(&format!("pgbench failed: {}", String::from_utf8_lossy(&out.stderr)));
            }
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        run(&["-i", "-q"]);
        let report = run(&["-N", "-c", "1", "-T", &seconds.to_string()]);
        report
            .lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|t| t.split_whitespace().next())
            .and_then(|t| t.parse::<f64>().ok())
            .unwrap_or(0.0)
    });
    if json_out {
        println!(
            "{}",
            json!({ "scenario": "commit-rate", "sqlite_wal_full_commits_per_s": sqlite, "pgbench_single_client_tps": pgbench })
        );
    } else {
        println!("SQLite, WAL + synchronous=FULL, one-row commits: {sqlite:.0}/s");
        if let Some(tps) = pgbench {
            println!("PostgreSQL, pgbench -N (simple-update), 1 client:   {tps:.0} tps");
        }
    }
}

fn main() {
    let mut args = parse_args();
    if args.scenario == "commit-rate" {
        commit_rates(args.seconds, args.postgres, args.json);
        exit(0);
    }
    if args.spawn {
        (args.servers, args.token) = spawn_sidecars(args.sidecars, args.postgres);
    }
    if args.servers.is_empty() {
        args.servers = vec![args.server.clone()];
    }
    let addrs: Vec<SocketAddr> = args
        .servers
        .iter()
        .map(|server| {
            let hostport = server
                .strip_prefix("http://")
                .unwrap_or_else(|| usage("--server must be http://HOST:PORT"));
            hostport
                .trim_end_matches('/')
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .unwrap_or_else(|| usage(&format!("cannot resolve {hostport}")))
        })
        .collect();
    let addr = addrs[0];
    let mut setup = Conn::new(addr, &args.token);
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let app = format!("load-{run}");
    expect(
        "create application",
        setup.json(
            "POST",
            "/v1/applications",
            &json!({"key": app, "project": format!("load{run}"), "criticality": "high"}),
        ),
        &[201],
    );
    // A CI key the server trusts, for the evidence the gates need.
    let seed: [u8; 32] = {
        use sha2::Digest;
        sha2::Sha256::digest(format!("gatehouse-load {run}").as_bytes()).into()
    };
    let key = SigningKey::from_bytes(&seed);
    let public_hex = hex(key.verifying_key().as_bytes());
    let trusted = expect(
        "trust the load key",
        setup.json(
            "POST",
            "/v1/trusted-keys",
            &json!({"name": format!("load-{run}"), "public_key": public_hex}),
        ),
        &[201],
    );
    let keyid = trusted["keyid"].as_str().unwrap_or_default().to_string();
    // Real gates, scoped to this application: tests before dev, provenance advice
    // at every entry (warn), SBOM advice at qa (warn).
    for (id, check, stage, mode) in [
        ("tests", "policy:baseline.tests", "dev", "block"),
        ("prov", "policy:baseline.provenance", "*", "warn"),
        ("sbom", "policy:baseline.sbom", "qa", "warn"),
    ] {
        let spec = json!({"check": check, "gate": {"stage": stage, "kind": "entry"}, "mode": mode,
                          "scope": {"applications": [app]}});
        expect(
            "bind",
            setup.json("PUT", &format!("/v1/bindings/load-{run}-{id}"), &spec),
            &[200],
        );
    }

    let n = args.requests;
    let work: Vec<Vec<u8>> = match args.scenario.as_str() {
        "promote" => {
            // Each version climbs dev → qa → staging → prod: four promotions.
            eprintln!("setup: {} versions with signed test results…", n.div_ceil(4));
            for (i, digest) in create_versions(&mut setup, &app, &run, n.div_ceil(4))
                .iter()
                .enumerate()
            {
                let env = envelope(&key, &keyid, digest, i);
                let r = setup
                    .call("POST", "/v1/evidence", &env)
                    .unwrap_or_else(|e| usage(&e.to_string()));
                if r.0 != 200 {
                    eprintln!("gatehouse-load: evidence refused: {}", String::from_utf8_lossy(&r.1));
                    exit(1);
                }
            }
            Vec::new()
        }
        _ => {
            let digests = create_versions(&mut setup, &app, &run, n.div_ceil(50).max(1));
            (0..n)
                .map(|i| envelope(&key, &keyid, &digests[i % digests.len()], i))
                .collect()
        }
    };
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let threads: Vec<_> = (0..args.concurrency)
        .map(|client| {
            let (work, next, latencies, failures) = (work.clone(), next.clone(), latencies.clone(), failures.clone());
            let acknowledged = acknowledged.clone();
            let addrs = addrs.clone();
            let (token, app, scenario) = (args.token.clone(), app.clone(), args.scenario.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::new(addrs[client % addrs.len()], &token);
                let mut mine = Vec::new();
                let mut acked = Vec::new();
                loop {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let (method, path, body) = if scenario == "promote" {
                        // Versions are taken whole, so one client walks each through its stages in order.
                        let v = next.fetch_add(1, Ordering::Relaxed);
                        if v * 4 >= n {
                            break;
                        }
                        for stage in ["dev", "qa", "staging", "prod"] {
                            let body = format!("{{\"target_stage\": \"{stage}\"}}");
                            let path = format!("/v1/applications/{app}/versions/1.0.{v}/promote");
                            let t = Instant::now();
                            match conn.call("POST", &path, body.as_bytes()) {
                                Ok((200, _)) => {
                                    mine.push(t.elapsed());
                                    acked.push(format!("{app} 1.0.{v} {stage}"));
                                }
                                Ok((s, b)) => {
                                    if failures.fetch_add(1, Ordering::Relaxed) < 3 {
                                        eprintln!("client {client}: HTTP {s}: {}", String::from_utf8_lossy(&b));
                                    }
                                    break;
                                }
                                Err(e) => {
                                    failures.fetch_add(1, Ordering::Relaxed);
                                    eprintln!("client {client}: {e}");
                                    break;
                                }
                            }
                        }
                        continue;
                    } else {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(env) = work.get(i) else { break };
                        ("POST", "/v1/evidence".to_string(), env.clone())
                    };
                    let t = Instant::now();
                    match conn.call(method, &path, &body) {
                        Ok((200, _)) => mine.push(t.elapsed()),
                        Ok((s, b)) => {
                            if failures.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("client {client}: HTTP {s}: {}", String::from_utf8_lossy(&b));
                            }
                        }
                        Err(e) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            eprintln!("client {client}: {e}");
                        }
                    }
                }
                if let Ok(mut all) = latencies.lock() {
                    all.extend(mine);
                }
                if let Ok(mut all) = acknowledged.lock() {
                    all.extend(acked);
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let elapsed = started.elapsed();
    let mut all = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    all.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let report = json!({
        "scenario": args.scenario,
        "concurrency": args.concurrency,
        "servers": addrs.len(),
        "backend": if args.postgres { "postgres" } else { "sqlite" },
        "completed": all.len(),
        "failed": failures.load(Ordering::Relaxed),
        "seconds": elapsed.as_secs_f64(),
        "throughput_per_s": all.len() as f64 / elapsed.as_secs_f64(),
        "p50_ms": ms(percentile(&all, 50.0)),
        "p90_ms": ms(percentile(&all, 90.0)),
        "p99_ms": ms(percentile(&all, 99.0)),
        "max_ms": ms(all.last().copied().unwrap_or_default()),
    });
    if let Some(path) = &args.acknowledged {
        let lines: String = acknowledged
            .lock()
            .map(|a| a.iter().map(|l| format!("{l}\n")).collect())
            .unwrap_or_default();
        if let Err(e) = std::fs::write(path, lines) {
            eprintln!("gatehouse-load: --acknowledged {}: {e}", path.display());
            exit(1);
        }
    }
    if args.json {
        println!("{report}");
    } else {
        println!(
            "{} {}: {} ok, {} failed in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            report["scenario"].as_str().unwrap_or_default(),
            args.concurrency,
            all.len(),
            report["failed"],
            elapsed.as_secs_f64(),
            report["throughput_per_s"].as_f64().unwrap_or_default(),
            report["p50_ms"].as_f64().unwrap_or_default(),
            report["p90_ms"].as_f64().unwrap_or_default(),
            report["p99_ms"].as_f64().unwrap_or_default(),
            report["max_ms"].as_f64().unwrap_or_default(),
        );
    }
    if failures.load(Ordering::Relaxed) > 0 {
        exit(1);
    }
    exit(0)
}
