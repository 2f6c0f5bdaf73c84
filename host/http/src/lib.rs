//! The one HTTP client of Gatehouse: hyper 1's HTTP/1.1 client over plain
//! TCP or rustls. The CLI talks to a sidecar with it (`--server
//! https://…`, `--cacert FILE`), the notifier delivers webhooks with it, and
//! the load driver and the end-to-end tests drive the sidecar with it.
//!
//! Every exchange is bounded: one deadline covers connecting, the TLS
//! handshake, sending and reading the whole answer (so a server that drips a
//! byte now and then cannot stretch it), and the answer body is read up to a
//! limit. TLS trusts the operating system's roots, or — like curl's
//! `--cacert` — only the certificates of a PEM file when one is given.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{HeaderMap, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};

pub use http::{Method, StatusCode};

/// What went wrong, with its cause in the message (callers print or log the
/// message; the cause is not repeated as a `source`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot connect to {authority}: {cause}")]
    Connect { authority: String, cause: std::io::Error },
    #[error("TLS with {authority} failed: {cause}")]
    Tls { authority: String, cause: std::io::Error },
    #[error("no complete answer from {authority} within {after:?}")]
    Timeout { authority: String, after: Duration },
    #[error("the HTTP exchange with {authority} failed: {cause}")]
    Http { authority: String, cause: hyper::Error },
    #[error("the answer from {authority} is larger than {limit} bytes")]
    TooLarge { authority: String, limit: usize },
    #[error("cannot use the CA certificates in {path}: {reason}")]
    Roots { path: PathBuf, reason: String },
    #[error("cannot start the client's runtime: {0}")]
    Runtime(std::io::Error),
}

/// How a client connects and how long it waits.
#[derive(Debug, Clone)]
pub struct Options {
    /// A PEM file of CA certificates trusted instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Connecting (TCP and TLS handshake).
    pub connect_timeout: Duration,
    /// One whole exchange, connecting included.
    pub timeout: Duration,
    /// The largest answer body read.
    pub max_answer_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            max_answer_bytes: 64 << 20,
        }
    }
}

/// An answer: its status, headers and whole body.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Where requests go: `http://HOST[:PORT]` or `https://HOST[:PORT]`, with
/// nothing after the authority but an optional `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub tls: bool,
    /// `host:port` as given (the port defaulted by the scheme).
    pub authority: String,
    host: String,
    port: u16,
}

impl Origin {
    pub fn parse(url: &str) -> Result<Origin, Error> {
        let bad = |reason: &str| Error::Url {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url.parse().map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("expected http://HOST:PORT or https://HOST[:PORT]")),
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad(
                "expected nothing after HOST:PORT (the API paths are added per call)",
            ));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are not sent; use a token"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Origin {
            tls,
            authority: authority.as_str().to_string(),
            host,
            port,
        })
    }

    /// An origin from parts a URL parser already checked (`host` as in a
    /// URL: an IPv6 address in brackets).
    pub fn from_parts(tls: bool, host: &str, port: u16) -> Origin {
        Origin {
            tls,
            authority: format!("{host}:{port}"),
            host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
            port,
        }
    }

    /// The URL of this origin (for messages).
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.authority)
    }
}

/// A client: its options and, once the first `https://` call needs it, its
/// TLS configuration. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    options: Arc<Options>,
    tls: Arc<OnceLock<Result<Arc<rustls::ClientConfig>, String>>>,
}

impl Client {
    pub fn new(options: Options) -> Client {
        Client {
            options: Arc::new(options),
            tls: Arc::new(OnceLock::new()),
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The same client (and TLS configuration) with another whole-exchange deadline.
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        Client {
            options: Arc::new(Options {
                timeout,
                connect_timeout: self.options.connect_timeout.min(timeout),
                ..(*self.options).clone()
            }),
            tls: self.tls.clone(),
        }
    }

    /// Check now what the first TLS connection would otherwise find out:
    /// the CA file reads and holds certificates.
    pub fn check_roots(&self) -> Result<(), Error> {
        self.tls_config().map(|_| ())
    }

    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, Error> {
        let built = self
            .tls
            .get_or_init(|| tls_config(self.options.ca_file.as_deref()).map(Arc::new));
        built.clone().map_err(|reason| Error::Roots {
            path: self
                .options
                .ca_file
                .clone()
                .unwrap_or_else(|| PathBuf::from("the system's certificate store")),
            reason,
        })
    }

    /// Open one keep-alive connection to `origin`.
    pub async fn connect(&self, origin: &Origin) -> Result<Connection, Error> {
        let after = self.options.connect_timeout;
        let timed_out = || Error::Timeout {
            authority: origin.authority.clone(),
            after,
        };
        let sender = tokio::time::timeout(after, self.handshake(origin))
            .await
            .map_err(|_| timed_out())??;
        Ok(Connection {
            origin: origin.clone(),
            sender,
            options: self.options.clone(),
        })
    }

    async fn handshake(&self, origin: &Origin) -> Result<SendRequest<Full<Bytes>>, Error> {
        let tcp = tokio::net::TcpStream::connect((origin.host.as_str(), origin.port))
            .await
            .map_err(|cause| Error::Connect {
                authority: origin.authority.clone(),
                cause,
            })?;
        let _ = tcp.set_nodelay(true);
        if !origin.tls {
            return start(tcp, origin).await;
        }
        let name = ServerName::try_from(origin.host.clone()).map_err(|e| Error::Url {
            url: origin.url(),
            reason: format!("not a TLS server name: {e}"),
        })?;
        let tls = tokio_rustls::TlsConnector::from(self.tls_config()?)
            .connect(name, tcp)
            .await
            .map_err(|cause| Error::Tls {
                authority: origin.authority.clone(),
                cause,
            })?;
        start(tls, origin).await
    }

    /// One exchange on a connection of its own, within the whole-exchange deadline.
    pub async fn request(
        &self,
        origin: &Origin,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, Error> {
        let after = self.options.timeout;
        let exchange = async {
            let mut conn = self.connect(origin).await?;
            conn.exchange(method, path_and_query, headers, body).await
        };
        tokio::time::timeout(after, exchange)
            .await
            .map_err(|_| Error::Timeout {
                authority: origin.authority.clone(),
                after,
            })?
    }
}

/// Hand a connected stream to hyper; its connection task runs beside the requests.
async fn start<S>(stream: S, origin: &Origin) -> Result<SendRequest<Full<Bytes>>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|cause| Error::Http {
            authority: origin.authority.clone(),
            cause,
        })?;
    tokio::spawn(async move {
        // Ends when the server closes or the sender is dropped; request
        // errors are reported to the caller by the sender.
        let _ = conn.await;
    });
    Ok(sender)
}

/// One keep-alive HTTP/1.1 connection.
pub struct Connection {
    origin: Origin,
    sender: SendRequest<Full<Bytes>>,
    options: Arc<Options>,
}

impl Connection {
    /// Whether the server may still take a request on this connection.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Send a request (JSON content type unless `headers` names one) and read
    /// the whole answer, within the whole-exchange deadline.
    pub async fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, Error> {
        let after = self.options.timeout;
        let authority = self.origin.authority.clone();
        tokio::time::timeout(after, self.exchange(method, path_and_query, headers, body))
            .await
            .map_err(|_| Error::Timeout { authority, after })?
    }

    async fn exchange(
        &mut self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, Error> {
        let authority = &self.origin.authority;
        let http_error = |cause| Error::Http {
            authority: authority.clone(),
            cause,
        };
        let mut request = http::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(HOST, authority.as_str())
            .header(CONTENT_LENGTH, body.len());
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| Error::Url {
            url: format!("{}{path_and_query}", self.origin.url()),
            reason: e.to_string(),
        })?;
        self.sender.ready().await.map_err(http_error)?;
        let answer = self.sender.send_request(request).await.map_err(http_error)?;
        let (parts, body) = answer.into_parts();
        let limit = self.options.max_answer_bytes;
        let body = Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| match e.downcast::<hyper::Error>() {
                Ok(cause) => http_error(*cause),
                Err(_) => Error::TooLarge {
                    authority: authority.clone(),
                    limit,
                },
            })?;
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body: body.to_bytes(),
        })
    }
}

/// The TLS configuration: rustls with ring, HTTP/1.1 by ALPN, trusting the
/// system's roots or only the certificates of `ca_file`.
fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut config = client_config(ca_file)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A TLS client configuration as every client of Gatehouse's builds it
/// (this one and the PostgreSQL store's): rustls with ring, the server's
/// certificate and name verified against the system's roots or, with
/// `ca_file`, only against the CA certificates in that PEM file.
pub fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| e.to_string())?
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            if certs.is_empty() {
                return Err("no PEM certificate in the file".into());
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("not a usable CA certificate: {e}"))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found.errors.first().map(ToString::to_string).unwrap_or_default();
                return Err(format!(
                    "no usable CA certificate in the system's store (install ca-certificates, or name a CA file) {why}"
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A TLS client configuration that trusts no certificate: for a connector
/// that must exist but is not meant to be used.
pub fn trusting_nothing() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth())
}

/// The client for synchronous callers (the CLI, webhook delivery threads,
/// the load driver's clients, tests): a current-thread runtime of its own.
/// Never call it from inside a tokio runtime.
pub struct Blocking {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Blocking {
    pub fn new(client: Client) -> Result<Blocking, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(Blocking { runtime, client })
    }

    pub fn request(
        &self,
        origin: &Origin,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, Error> {
        self.runtime
            .block_on(self.client.request(origin, method, path_and_query, headers, body))
    }

    pub fn connect(&self, origin: &Origin) -> Result<Connection, Error> {
        self.runtime.block_on(self.client.connect(origin))
    }

    /// Send on a connection made by [`Blocking::connect`].
    pub fn send(
        &self,
        conn: &mut Connection,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, Error> {
        self.runtime.block_on(conn.send(method, path_and_query, headers, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn origins_take_a_scheme_and_an_authority_only() {
        let o = Origin::parse("https://gatehouse.example:8443/").unwrap();
        assert!(o.tls);
        assert_eq!((o.host.as_str(), o.port), ("gatehouse.example", 8443));
        let o = Origin::parse("http://[::1]:7777").unwrap();
        assert_eq!((o.host.as_str(), o.port, o.tls), ("::1", 7777, false));
        assert_eq!(Origin::parse("https://h").unwrap().port, 443);
        for bad in [
            "ftp://h",
            "h:80",
            "http://h/v1",
            "http://u:p@h",
            "http://h?x=1",
            "http://",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad} was taken");
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("gatehouse-http-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let client = Client::new(Options {
            ca_file: Some(empty.clone()),
            ..Options::default()
        });
        let e = client.check_roots().unwrap_err().to_string();
        assert!(e.contains("empty.pem") && e.contains("no PEM certificate"), "{e}");
        let missing = Client::new(Options {
            ca_file: Some(dir.join("missing.pem")),
            ..Options::default()
        });
        assert!(missing.check_roots().unwrap_err().to_string().contains("missing.pem"));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A server on loopback that reads one request and lets `answer` write
    /// to the connection.
    fn answer_once(answer: impl FnOnce(&mut std::net::TcpStream) + Send + 'static) -> Origin {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut request = [0u8; 1024];
                let _ = s.read(&mut request);
                answer(&mut s);
            }
        });
        Origin::parse(&format!("http://{addr}")).unwrap()
    }

    #[test]
    fn a_dripping_server_cannot_stretch_the_deadline() {
        let origin = answer_once(|s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n");
            for _ in 0..100 {
                if s.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let blocking = Blocking::new(Client::new(Options {
            timeout: Duration::from_millis(500),
            ..Options::default()
        }))
        .unwrap();
        let started = std::time::Instant::now();
        let e = blocking
            .request(&origin, Method::GET, "/", &[], Vec::new())
            .unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }

    #[test]
    fn answers_past_the_limit_are_refused() {
        let origin = answer_once(|s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4096\r\n\r\n");
            let _ = s.write_all(&[b'x'; 4096]);
        });
        let blocking = Blocking::new(Client::new(Options {
            max_answer_bytes: 1024,
            ..Options::default()
        }))
        .unwrap();
        let e = blocking
            .request(&origin, Method::GET, "/", &[], Vec::new())
            .unwrap_err();
        assert!(matches!(e, Error::TooLarge { limit: 1024, .. }), "{e}");
    }
}
