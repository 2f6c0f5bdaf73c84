//! The CLI against a sidecar behind TLS, as operators run it when the CLI is
//! not on the sidecar's machine: a TLS-terminating proxy in front of
//! `gatehouse serve`, with a certificate from the organisation's own CA.
//! `--server https://…` trusts the system's roots, or only `--cacert FILE`.

use std::process::{Command, Output};
use std::sync::Arc;

use gatehouse_e2e::{Server, data, gatehouse_bin, request, stderr, stdout};
use serde_json::{Value, json};

/// A CA, and a certificate it issued for `localhost`, as PEM.
struct Pki {
    ca_pem: String,
    leaf_der: rustls::pki_types::CertificateDer<'static>,
    leaf_key_der: Vec<u8>,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Gatehouse test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        leaf_der: leaf.der().clone(),
        leaf_key_der: leaf_key.serialize_der(),
    }
}

fn acceptor(pki: &Pki) -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.leaf_der.clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(pki.leaf_key_der.clone().into()),
        )
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

type TlsStream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// A TLS server on loopback with the test CA's certificate for `localhost`,
/// on a runtime of its own: `handle` gets each connection once its handshake
/// succeeded (a client that refuses the certificate ends it: fine). Returns
/// its port.
fn tls_server<F, Fut>(pki: &Pki, handle: F) -> u16
where
    F: Fn(TlsStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let acceptor = acceptor(pki);
    let handle = Arc::new(handle);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, handle) = (acceptor.clone(), handle.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        handle(tls).await;
                    }
                });
            }
        });
    });
    port
}

/// A TLS-terminating proxy that forwards every connection to `upstream`.
fn tls_proxy(pki: &Pki, upstream: std::net::SocketAddr) -> u16 {
    tls_server(pki, move |mut tls| async move {
        if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
        }
    })
}

fn gatehouse(args: &[&str]) -> Output {
    Command::new(gatehouse_bin())
        .args(args)
        .env_remove("GATEHOUSE_CACERT")
        .output()
        .expect("run gatehouse")
}

#[test]
fn the_cli_talks_to_a_sidecar_behind_tls_trusting_the_given_ca_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = server.token("tls-operator");
    let pki = pki();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let port = tls_proxy(&pki, server.addr);
    let url = format!("https://localhost:{port}");
    let ca_arg = ca.to_str().unwrap();

    // Trusting the organisation's CA: the whole exchange works, a change included.
    let o = gatehouse(&[
        "--server",
        &url,
        "--cacert",
        ca_arg,
        "--token",
        &token,
        "app",
        "create",
        "payments",
        "--project",
        "shop",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = gatehouse(&[
        "--server", &url, "--cacert", ca_arg, "--token", &token, "--output", "json", "app", "list",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let apps: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(apps.to_string().contains("payments"), "{apps}");

    // The system's roots do not know that CA: refused, nothing decided (exit 3),
    // and the answer says why.
    let o = gatehouse(&["--server", &url, "--token", &token, "--output", "json", "app", "list"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let error: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("TLS") && message.to_lowercase().contains("certificate"),
        "{error}"
    );

    // A CA file that is not one, or --cacert without https: usage errors (exit 2).
    let bogus = dir.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate\n").unwrap();
    let o = gatehouse(&["--server", &url, "--cacert", bogus.to_str().unwrap(), "app", "list"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bogus.pem"), "{}", stderr(&o));
    let o = gatehouse(&["--server", &server.url(), "--cacert", ca_arg, "app", "list"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("only used with an https://"), "{}", stderr(&o));
}

/// An https webhook receiver with a certificate from the test CA: answers 200
/// and hands over each request body. Returns its port.
fn https_receiver(pki: &Pki) -> (u16, std::sync::mpsc::Receiver<Value>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, rx) = std::sync::mpsc::channel();
    let port = tls_server(pki, move |mut tls| {
        let tx = tx.clone();
        async move {
            let mut raw = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then as many body bytes as content-length says.
            let body = loop {
                let Ok(n) = tls.read(&mut chunk).await else { break None };
                if n == 0 {
                    break None;
                }
                raw.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&raw).to_string();
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if rest.len() >= length {
                        break Some(rest.to_string());
                    }
                }
            };
            let _ = tls
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
            let _ = tls.shutdown().await;
            if let Some(body) = body {
                let _ = tx.send(serde_json::from_str(&body).unwrap_or(Value::Null));
            }
        }
    });
    (port, rx)
}

#[test]
fn a_webhook_behind_an_internal_ca_is_delivered_with_webhook_cacert() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = pki();
    let ca = d.join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let (port, deliveries) = https_receiver(&pki);
    let config = d.join("gatehouse.toml");

    // Refused at start, naming the key: a CA file for an http:// URL, a file without certificates.
    let bogus = d.join("bogus.pem");
    std::fs::write(&bogus, "not a certificate\n").unwrap();
    for (url, file) in [
        (format!("http://localhost:{port}/hook"), &ca),
        (format!("https://localhost:{port}/hook"), &bogus),
    ] {
        std::fs::write(
            &config,
            format!("webhook_url = {url:?}\nwebhook_cacert = {:?}\n", file.to_str().unwrap()),
        )
        .unwrap();
        let o = Command::new(gatehouse_bin())
            .args(["--config", config.to_str().unwrap(), "--data-dir"])
            .arg(d.join("refused"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{url}: {}", stderr(&o));
        assert!(stderr(&o).contains("webhook_cacert"), "{}", stderr(&o));
    }

    std::fs::write(
        &config,
        format!(
            "webhook_url = \"https://localhost:{port}/hooks/gatehouse\"\nwebhook_cacert = {:?}\n",
            ca.to_str().unwrap()
        ),
    )
    .unwrap();
    let server = Server::start_with(d, &["--config", config.to_str().unwrap()]);
    let admin = server.token("tls-admin");
    let call = |method: &str, path: &str, body: Vec<u8>| request(server.addr, method, path, Some(&body), Some(&admin));
    let json_call = |method: &str, path: &str, body: Value| call(method, path, body.to_string().into_bytes());
    assert_eq!(json_call("POST", "/v1/applications", json!({"key": "svc"})).0, 201);
    assert_eq!(
        json_call("POST", "/v1/applications/svc/versions", json!({"version": "1.0.0"})).0,
        201
    );
    let sbom = std::fs::read(data("sbom/python/python-env.cdx-1.6.json")).unwrap();
    assert_eq!(call("POST", "/v1/applications/svc/versions/1.0.0/sboms", sbom).0, 201);
    for stage in ["dev", "qa", "staging", "prod"] {
        let (s, r) = json_call(
            "POST",
            "/v1/applications/svc/versions/1.0.0/promote",
            json!({"target_stage": stage}),
        );
        assert_eq!(s, 200, "{r}");
    }
    assert_eq!(
        json_call("POST", "/v1/applications/svc/versions/1.0.0/release", json!({})).0,
        200
    );
    let advisory: Value =
        serde_json::from_str(&std::fs::read_to_string(data("osv/pypa/PYSEC-2019-217.json")).unwrap()).unwrap();
    let (s, report) = json_call("POST", "/v1/advisories", json!([advisory]));
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["trusted_releases_affected"], json!(["svc@1.0.0"]));
    let body = deliveries
        .recv_timeout(std::time::Duration::from_secs(15))
        .expect("a delivery over TLS to the receiver the CA file vouches for");
    assert_eq!(body["event"], "trusted_release_affected", "{body}");
}
