//! The CLI against a sidecar behind TLS, as operators run it when the CLI is
//! not on the sidecar's machine: a TLS-terminating proxy in front of
//! `gatehouse serve`, with a certificate from the organisation's own CA.
//! `--server https://…` trusts the system's roots, or only `--cacert FILE`.

use std::process::{Command, Output};
use std::sync::Arc;

use gatehouse_e2e::{Server, gatehouse_bin, stderr, stdout};
use serde_json::Value;

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

/// A TLS-terminating proxy on loopback that forwards every connection to
/// `upstream`; returns its port.
fn tls_proxy(pki: &Pki, upstream: std::net::SocketAddr) -> u16 {
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
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
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
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: fine.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    }
                });
            }
        });
    });
    port
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
