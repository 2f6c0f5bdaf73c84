//! Outbound notifications, owned by the service (not the API): a JSON POST
//! to the configured webhook, off the request path, with the one HTTP client
//! (`gatehouse-http`, so `https://` receivers work with the system's roots).
//! A fixed pool of delivery threads takes notifications from a bounded queue;
//! each delivery (its retries included) ends by a deadline that no receiver
//! can stretch, not even one dripping a byte at a time.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gatehouse_http::{Client, Origin};
use tokio::runtime::Runtime;

use crate::error::{Error, Result};

/// Delivery threads: a receiver that never answers holds at most these.
const WORKERS: usize = 2;
/// Notifications waiting for a thread; past it new ones are dropped (and logged).
const QUEUE: usize = 1024;
/// One delivery, every attempt included.
const DEADLINE: Duration = Duration::from_secs(15);
/// One attempt's connect.
const CONNECT: Duration = Duration::from_secs(3);
/// Bytes of the answer read: only its status matters.
const ANSWER: usize = 64 * 1024;

/// A webhook URL, validated: `http(s)://host[:port][/path][?query]`, no
/// credentials, no fragment, no control characters anywhere; with the client
/// that delivers to it (the system's roots, or the CA file it was given).
#[derive(Clone)]
pub struct Webhook {
    origin: Origin,
    target: String,
    url: String,
    ca_file: Option<PathBuf>,
    client: Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl PartialEq for Webhook {
    fn eq(&self, other: &Self) -> bool {
        (&self.url, &self.ca_file) == (&other.url, &other.ca_file)
    }
}

impl Webhook {
    pub fn parse(field: &str, text: &str) -> Result<Webhook> {
        let expected = "an http:// or https://host[:port]/path URL without credentials, fragment or control characters";
        // The URL parser would silently drop CR, LF and tab; refuse them instead.
        // Nor normalise `http:///host` or backslashes into something else.
        let authority_first = ["http://", "https://"].iter().any(|scheme| {
            text.strip_prefix(scheme)
                .is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        });
        if text.chars().any(char::is_control) || text.contains([' ', '\\']) || !authority_first {
            return Err(Error::invalid(field, text, expected));
        }
        let url = url::Url::parse(text).map_err(|e| Error::invalid(field, text, format!("{expected} ({e})")))?;
        let host = url.host_str().filter(|h| !h.is_empty());
        let tls = url.scheme() == "https";
        if !matches!(url.scheme(), "http" | "https")
            || host.is_none()
            || !url.username().is_empty()
            || url.password().is_some()
            || url.fragment().is_some()
        {
            return Err(Error::invalid(field, text, expected));
        }
        let host = host.unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(if tls { 443 } else { 80 });
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        Ok(Webhook {
            origin: Origin::from_parts(tls, host, port),
            target,
            url: url.to_string(),
            ca_file: None,
            client: client(None),
        })
    }

    /// Deliver trusting only the CA certificates in `ca_file` (checked now:
    /// a file that holds none is refused at start, not at the first delivery).
    pub fn trusting(mut self, ca_file: Option<&Path>) -> Result<Webhook> {
        let Some(ca) = ca_file else {
            return Ok(self);
        };
        if !self.origin.tls {
            return Err(Error::invalid(
                "webhook_cacert",
                ca.display().to_string(),
                "no webhook_cacert without an https:// webhook_url",
            ));
        }
        let client = client(Some(ca.to_path_buf()));
        client.check_roots().map_err(|e| {
            Error::invalid(
                "webhook_cacert",
                ca.display().to_string(),
                format!("a readable PEM file of CA certificates ({e})"),
            )
        })?;
        self.ca_file = Some(ca.to_path_buf());
        self.client = client;
        Ok(self)
    }
}

struct Job {
    hook: Webhook,
    body: String,
}

fn queue() -> &'static SyncSender<Job> {
    static QUEUE_TX: OnceLock<SyncSender<Job>> = OnceLock::new();
    QUEUE_TX.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..WORKERS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("gatehouse-webhook-{i}"))
                .spawn(move || match runtime() {
                    Ok(runtime) => work(&rx, &runtime),
                    Err(e) => tracing::error!(error = %e, "cannot start a webhook delivery thread"),
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a webhook delivery thread");
            }
        }
        tx
    })
}

/// A delivery thread's runtime: current-thread, the thread is its only worker.
fn runtime() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// A delivery client: the system's roots, or only `ca_file`'s CAs (each
/// webhook carries its own; the TLS configuration is read once per client).
fn client(ca_file: Option<PathBuf>) -> Client {
    Client::new(gatehouse_http::Options {
        ca_file,
        connect_timeout: CONNECT,
        timeout: DEADLINE,
        max_answer_bytes: ANSWER,
    })
}

fn work(rx: &Mutex<Receiver<Job>>, runtime: &Runtime) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => deliver_now(runtime, &job.hook, &job.body, Instant::now() + DEADLINE),
            Err(_) => return,
        }
    }
}

/// Queue `body` for delivery to `hook`; never blocks the caller.
pub fn deliver(hook: &Webhook, body: &serde_json::Value) {
    let job = Job {
        hook: hook.clone(),
        body: body.to_string(),
    };
    match queue().try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(job)) => {
            tracing::error!(url = %job.hook.url, queued = QUEUE, "webhook queue full; notification dropped")
        }
        Err(TrySendError::Disconnected(job)) => {
            tracing::error!(url = %job.hook.url, "no webhook delivery thread; notification dropped")
        }
    }
}

/// Try until delivered or the deadline, doubling the pause from 200 ms.
fn deliver_now(runtime: &Runtime, hook: &Webhook, body: &str, deadline: Instant) {
    let mut pause = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match post(runtime, hook, body, deadline) {
            Ok(status) if (200..300).contains(&status) => {
                tracing::info!(url = %hook.url, attempt, "webhook delivered");
                return;
            }
            Ok(status) => tracing::warn!(url = %hook.url, attempt, status, "webhook refused"),
            Err(e) => tracing::warn!(url = %hook.url, attempt, error = %e, "webhook failed"),
        }
        if Instant::now() + pause >= deadline {
            tracing::error!(url = %hook.url, attempt, "webhook not delivered within {DEADLINE:?}");
            return;
        }
        std::thread::sleep(pause);
        pause *= 2;
    }
}

/// One attempt with the webhook's own client (its CA file, if any) on this
/// thread's runtime, bounded as a whole by what is left of the deadline.
fn post(
    runtime: &Runtime,
    hook: &Webhook,
    body: &str,
    deadline: Instant,
) -> std::result::Result<u16, gatehouse_http::Error> {
    let left = deadline.saturating_duration_since(Instant::now());
    let within = hook.client.with_timeout(left.max(Duration::from_millis(1)));
    let answer = runtime.block_on(within.request(
        &hook.origin,
        gatehouse_http::Method::POST,
        &hook.target,
        &[("user-agent", "gatehouse")],
        body.as_bytes().to_vec(),
    ))?;
    Ok(answer.status.as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_injected_lines_or_credentials_are_refused() {
        for bad in [
            "http://127.0.0.1:9/hook\r\nX-Injected: 1",
            "http://127.0.0.1:9/hook\nGET / HTTP/1.1",
            "http://127.0.0.1:9/a b",
            "https:///x",
            "http://user:pw@hooks.example/x",
            "http://hooks.example/x#frag",
            "http:///nohost",
            "http://hooks.example\\@evil.example/",
            "ftp://hooks.example/",
        ] {
            let e = Webhook::parse("webhook_url", bad).unwrap_err().to_string();
            assert!(e.contains("webhook_url"), "{bad:?}: {e}");
        }
        let ok = Webhook::parse("webhook_url", "http://hooks.example:8080/in?team=pay").unwrap();
        assert_eq!(ok.origin.authority, "hooks.example:8080");
        assert_eq!(ok.target, "/in?team=pay");
        let bare = Webhook::parse("webhook_url", "http://hooks.example").unwrap();
        assert_eq!(
            (bare.origin.authority.as_str(), bare.target.as_str()),
            ("hooks.example:80", "/")
        );
        let tls = Webhook::parse("webhook_url", "https://hooks.example/in").unwrap();
        assert!(tls.origin.tls);
        assert_eq!(tls.origin.authority, "hooks.example:443");
    }

    #[test]
    fn a_dripping_receiver_cannot_stretch_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            if let Ok((mut s, _)) = listener.accept() {
                for _ in 0..100 {
                    if s.write_all(b"H").is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        let hook = Webhook::parse("webhook_url", &format!("http://{addr}/hook")).unwrap();
        let runtime = runtime().unwrap();
        let started = Instant::now();
        let e = post(&runtime, &hook, "{}", Instant::now() + Duration::from_millis(500)).unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{took:?}: {e}");
    }
}
