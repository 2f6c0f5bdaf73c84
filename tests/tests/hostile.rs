//! The hostile-load suite: the real binary on loopback, attacked the ways
//! outsiders found, each attack bounded in count and time. For each, the
//! sidecar must keep answering `/healthz` within a second, stay under
//! [`RSS_BUDGET_KIB`] of resident memory, and end within its drain timeout
//! on SIGTERM.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse_e2e::{Server, raw_request, request};
use serde_json::{Value, json};

/// The resident-memory budget this suite holds the sidecar to.
const RSS_BUDGET_KIB: u64 = 512 * 1024;

fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

fn assert_within_budget(server: &Server, when: &str) {
    let rss = rss_kib(server);
    assert!(
        rss < RSS_BUDGET_KIB,
        "{when}: RSS {rss} KiB over the budget of {RSS_BUDGET_KIB} KiB"
    );
}

/// `/healthz` answers 200 within a second, on a fresh connection.
fn assert_healthy(addr: SocketAddr, when: &str) {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{when}: cannot connect for /healthz: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    let read = stream.read_to_string(&mut raw);
    assert!(
        read.is_ok() && raw.starts_with("HTTP/1.1 200"),
        "{when}: /healthz answered {raw:?} ({read:?}) after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{when}: /healthz took {:?}",
        started.elapsed()
    );
}

/// SIGTERM, then the process must be gone within `limit`.
fn assert_terminates_within(server: &mut Server, limit: Duration) {
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            return;
        }
        assert!(
            started.elapsed() < limit,
            "still running {:?} after SIGTERM (drain timeout plus a second)",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send a request head (and nothing of its body); return the stream.
fn send_head(addr: SocketAddr, head: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s
}

fn read_status(s: &mut TcpStream) -> String {
    let mut buf = [0u8; 512];
    let mut got = Vec::new();
    while !got.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// True when the server has closed (or reset) the connection.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn bodies_are_not_read_before_the_token_is_checked_and_stay_within_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_env(
        dir.path(),
        &[],
        &[
            ("GATEHOUSE_BODY_BUDGET_BYTES", "20971520"),
            ("GATEHOUSE_DRAIN_TIMEOUT_MS", "1000"),
        ],
    );
    let token = server.token("uploader");
    let addr = server.addr;

    // 100 connections announce 15 MB uploads with no token: each is refused
    // from its headers, before a byte of its body is read.
    let mut held = Vec::new();
    for _ in 0..100 {
        let mut s = send_head(
            addr,
            "POST /v1/evidence HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 15000000\r\n\r\n",
        );
        assert_eq!(read_status(&mut s), "HTTP/1.1 401 Unauthorized");
        held.push(s);
    }
    assert_healthy(addr, "after 100 unauthenticated 15 MB uploads");
    assert_within_budget(&server, "after 100 unauthenticated 15 MB uploads");
    drop(held);

    // An ordinary route refuses a large declared body from the headers (1 MiB
    // by default); an upload route takes it.
    let big = vec![b' '; 2 * 1024 * 1024];
    let auth = format!("authorization: Bearer {token}\r\n");
    let mut s = send_head(
        addr,
        &format!(
            "POST /v1/waivers HTTP/1.1\r\nhost: x\r\n{auth}content-length: {}\r\n\r\n",
            big.len()
        ),
    );
    assert_eq!(read_status(&mut s), "HTTP/1.1 413 Payload Too Large");
    let mut bundle = Vec::from(&b"["[..]);
    bundle.extend_from_slice(&big);
    bundle.extend_from_slice(b"]");
    let raw = raw_request(addr, "POST", "/v1/evidence", Some(&bundle), &auth).unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.starts_with("HTTP/1.1 413"), "an upload route takes 2 MiB: {text}");

    // Authenticated clients that start 4 MiB uploads and stall share one
    // budget (20 MiB here): past it they are told `busy` instead of buffered.
    let chunk = vec![b' '; 4 * 1024 * 1024];
    let mut stalled = Vec::new();
    let mut busy = 0;
    for _ in 0..12 {
        let mut s = send_head(
            addr,
            &format!(
                "POST /v1/evidence HTTP/1.1\r\nhost: x\r\n{auth}content-type: application/json\r\ncontent-length: 16000000\r\n\r\n"
            ),
        );
        if s.write_all(&chunk).is_err() {
            busy += 1;
            continue;
        }
        std::thread::sleep(Duration::from_millis(100));
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(n) if n > 0 => {
                let line = String::from_utf8_lossy(&buf[..n]);
                assert!(line.starts_with("HTTP/1.1 503"), "{line}");
                assert!(line.contains("\"busy\""), "{line}");
                busy += 1;
            }
            _ => stalled.push(s),
        }
    }
    assert!(
        busy >= 6,
        "at most five 4 MiB bodies fit a 20 MiB budget; {busy} of 12 were refused"
    );
    assert!(!stalled.is_empty(), "the first uploads are received");
    assert_healthy(addr, "while uploads stall against the body budget");
    assert_within_budget(&server, "while uploads stall against the body budget");
    drop(stalled);
    assert_terminates_within(&mut server, Duration::from_secs(2));
}

#[test]
fn slow_and_idle_connections_are_cut_off_and_the_cap_refuses_cheaply() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut server = Server::start_logged(
        &dir.path().join("data"),
        &[],
        &[
            ("GATEHOUSE_HEADER_READ_TIMEOUT_MS", "700"),
            ("GATEHOUSE_BODY_READ_TIMEOUT_MS", "700"),
            ("GATEHOUSE_MAX_CONNECTIONS", "64"),
            ("GATEHOUSE_DRAIN_TIMEOUT_MS", "1000"),
        ],
        Stdio::from(std::fs::File::create(&log).unwrap()),
        None,
    );
    let token = server.token("slow");
    let addr = server.addr;

    // Headers trickled: held no longer than the header timeout.
    let mut trickling: Vec<TcpStream> = (0..30)
        .map(|_| send_head(addr, "GET /healthz HTTP/1.1\r\nhost:"))
        .collect();
    assert_healthy(addr, "with 30 trickling clients");
    for s in &mut trickling {
        assert!(
            closed_by_server(s, Duration::from_secs(3)),
            "a trickled head was held past its timeout"
        );
    }
    // A body trickled: 408, within the body timeout.
    let mut s = send_head(
        addr,
        &format!(
            "POST /v1/applications HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-length: 100\r\n\r\n{{"
        ),
    );
    let started = Instant::now();
    assert_eq!(read_status(&mut s), "HTTP/1.1 408 Request Timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Nothing was created by the cut-off request.
    assert_eq!(
        request(addr, "GET", "/v1/applications", None, Some(&token)).1["items"],
        json!([])
    );

    // 100 idle connections against a cap of 64: the extra ones are closed at
    // once, the held ones when their header timeout passes; then it serves.
    let mut idle: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let refused = idle
        .iter_mut()
        .filter_map(|s| closed_by_server(s, Duration::from_millis(200)).then_some(()))
        .count();
    assert!(
        refused >= 36,
        "only {refused} of 100 connections past the cap of 64 were closed at once"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_healthy(addr, "after idle connections timed out");
    let metrics = request(addr, "GET", "/metrics", None, None);
    assert_eq!(metrics.0, 200);
    drop(idle);
    assert_terminates_within(&mut server, Duration::from_secs(2));
    let text = std::fs::read_to_string(&log).unwrap();
    let refusals = text.matches("connection refused: max_connections are open").count();
    assert!(
        (1..=10).contains(&refusals),
        "{refusals} refusal lines; they are rate-limited:\n{text}"
    );
}

#[test]
fn out_of_descriptors_the_cap_is_lowered_and_the_log_stays_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut server = Server::start_logged(
        &dir.path().join("data"),
        &[],
        &[
            ("GATEHOUSE_HEADER_READ_TIMEOUT_MS", "1000"),
            ("GATEHOUSE_DRAIN_TIMEOUT_MS", "1000"),
        ],
        Stdio::from(std::fs::File::create(&log).unwrap()),
        Some("ulimit -n 256"),
    );
    let addr = server.addr;
    // Far more connections than descriptors: the lowered cap refuses them,
    // the kernel never has to.
    let mut held: Vec<TcpStream> = (0..600).filter_map(|_| TcpStream::connect(addr).ok()).collect();
    std::thread::sleep(Duration::from_millis(1500));
    drop(held.drain(..));
    std::thread::sleep(Duration::from_millis(200));
    assert_healthy(addr, "after 600 connections at a descriptor limit of 256");
    assert_within_budget(&server, "after 600 connections at a descriptor limit of 256");
    assert_terminates_within(&mut server, Duration::from_secs(2));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("cannot hold max_connections"), "{text}");
    assert!(
        text.lines().count() < 50,
        "the log grew to {} lines:\n{text}",
        text.lines().count()
    );
}

#[test]
fn invented_methods_do_not_grow_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let size = || {
        let raw = raw_request(server.addr, "GET", "/metrics", None, "").unwrap();
        raw.len()
    };
    for i in 0..200 {
        let _ = raw_request(server.addr, &format!("X{i}Y"), "/healthz", None, "");
        let _ = raw_request(server.addr, "GET", &format!("/nowhere/{i}"), None, "");
    }
    size(); // the first scrape adds /metrics' own series
    let before = size();
    for i in 200..2200 {
        let _ = raw_request(server.addr, &format!("X{i}Y"), "/healthz", None, "");
        let _ = raw_request(server.addr, "GET", &format!("/nowhere/{i}"), None, "");
    }
    let after = size();
    assert!(after < before + 512, "metrics grew from {before} to {after} bytes");
    let raw = String::from_utf8(raw_request(server.addr, "GET", "/metrics", None, "").unwrap()).unwrap();
    assert!(raw.contains(r#"route="(unmatched)",method="other""#), "{raw}");
    assert!(!raw.contains("X2000Y"));
}

/// A gate whose plugin runs far longer than the drain timeout: SIGTERM still
/// ends the process within the drain timeout (the running gate is abandoned;
/// its promotion never commits).
/// A sidecar on DIR/data with one plugin in DIR/plugins: the test guest
/// `guest` (a file of the build's wasm directory), pinned by its digest, under
/// a manifest of `head` (name, world) and `rest` (config, capabilities); a
/// drain timeout of 1 s.
fn serve_with_plugin(dir: &std::path::Path, guest: &str, head: &str, rest: &str) -> Server {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let wasm = plugins.join(guest);
    std::fs::copy(gatehouse_e2e::wasm_dir().join(guest), &wasm).unwrap();
    std::fs::write(
        plugins.join("plugin.toml"),
        format!(
            "{head}\nversion = \"0.1.0\"\nwasm = \"{guest}\"\nsha256 = \"{}\"\n{rest}",
            gatehouse_e2e::sha256_file(&wasm)
        ),
    )
    .unwrap();
    let config = dir.join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_dir = {:?}\ndrain_timeout_ms = 1000\n",
            plugins.display().to_string()
        ),
    )
    .unwrap();
    Server::start_with(&dir.join("data"), &["--config", config.to_str().unwrap()])
}

#[test]
fn sigterm_ends_within_the_drain_timeout_while_a_gate_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve_with_plugin(
        dir.path(),
        "hostile.wasm",
        "name = \"slow\"\nworld = \"gate-check\"",
        "[config]\nmode = \"loop\"\n[capabilities]\ntimeout_ms = 20000\n",
    );
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    let (s, r) = gatehouse_e2e::put_binding(&server, "slow", "plugin:slow", "dev", json!({}));
    assert_eq!(s, 200, "{r}");
    let addr = server.addr;
    let token = server.token("tester");
    let gate = std::thread::spawn(move || {
        gatehouse_e2e::try_request(
            addr,
            "POST",
            "/v1/applications/shop/versions/1.0.0/promote",
            Some(json!({"target_stage": "dev"}).to_string().as_bytes()),
            Some(&token),
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_terminates_within(&mut server, Duration::from_secs(2));
    let answer: std::io::Result<(u16, Value)> = gate.join().unwrap();
    assert!(
        answer.is_err() || answer.as_ref().is_ok_and(|(s, _)| *s != 200),
        "{answer:?}"
    );
    // The abandoned promotion never committed.
    let server = Server::start(&dir.path().join("data"));
    let (s, v) = server.get("/v1/applications/shop/versions/1.0.0");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["stage"], Value::Null, "{v}");
}

/// A collector that returns 200,000 statements: refused whole, nothing
/// stored, the sidecar keeps answering and stays under its memory budget.
#[test]
fn a_flooding_collector_is_refused_whole_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve_with_plugin(
        dir.path(),
        "hostile_collector.wasm",
        "name = \"flood\"\nworld = \"collector\"",
        "[capabilities]\nmax_memory_bytes = 268435456\nmax_output_bytes = 16777216\ntimeout_ms = 20000\npredicate_types = [\"https://in-toto.io/attestation/test-result/v0.1\"]\n",
    );
    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    let addr = server.addr;
    let token = server.token("tester");
    let collect = std::thread::spawn(move || {
        request(
            addr,
            "POST",
            "/v1/applications/shop/versions/1.0.0/collect",
            Some(json!({"plugin": "flood"}).to_string().as_bytes()),
            Some(&token),
        )
    });
    // While it runs, the sidecar answers.
    std::thread::sleep(Duration::from_millis(200));
    assert_healthy(addr, "while a collector floods");
    let (s, r) = collect.join().unwrap();
    assert_eq!(s, 409, "{r}");
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("returned 200000 statements; one call may return at most 1000"),
        "{r}"
    );
    assert_healthy(addr, "after a collector flooded");
    assert_within_budget(&server, "after a collector flooded");
    let (_, ev) = server.get("/v1/applications/shop/versions/1.0.0/evidence");
    assert_eq!(ev["items"], json!([]), "nothing half-written: {ev}");
    assert_terminates_within(&mut server, Duration::from_secs(2));
}

/// An advisory dump that is a zip bomb, and a directory that links back to
/// itself: each import ends, refusing the bomb by the bound it hit.
#[test]
fn advisory_imports_refuse_zip_bombs_and_survive_symlink_loops() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bomb = dir.path().join("all.zip");
    let made = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n\
             \x20   z.writestr('GHSA-ok.json', '{\"id\": \"GHSA-ok\", \"modified\": \"2024-01-01T00:00:00Z\"}')\n\
             \x20   with z.open('bomb.json', 'w', force_zip64=True) as f:\n\
             \x20       block = b' ' * (1 << 20)\n\
             \x20       for _ in range(1024): f.write(block)\n",
        )
        .arg(&bomb)
        .status()
        .unwrap();
    assert!(made.success());
    assert!(
        std::fs::metadata(&bomb).unwrap().len() < 4 << 20,
        "the bomb is small on disk"
    );
    let started = Instant::now();
    let o = gatehouse_e2e::cli(&data, &["vuln", "import", bomb.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", gatehouse_e2e::stderr(&o));
    assert!(
        gatehouse_e2e::stderr(&o).contains("bomb.json"),
        "{}",
        gatehouse_e2e::stderr(&o)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );

    let osv = dir.path().join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    std::fs::copy(gatehouse_e2e::data("osv/pypa/PYSEC-2024-57.json"), osv.join("one.json")).unwrap();
    std::os::unix::fs::symlink("..", osv.join("up")).unwrap();
    std::os::unix::fs::symlink(&osv, osv.join("again")).unwrap();
    let o = gatehouse_e2e::cli(&data, &["vuln", "import", osv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", gatehouse_e2e::stderr(&o));
}
