//! Outbound notifications, owned by the service (not the API): a JSON POST
//! to the configured webhook, off the request path. A fixed pool of delivery threads takes notifications from a
//! bounded queue; each delivery (its retries included) ends by a deadline
//! that no receiver can stretch, not even one dripping a byte at a time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Delivery threads: a receiver that never answers holds at most these.
const WORKERS: usize = 2;
/// Notifications waiting for a thread; past it new ones are dropped (and logged).
const QUEUE: usize = 1024;
/// One delivery, every attempt included.
const DEADLINE: Duration = Duration::from_secs(15);
/// One attempt's connect.
const CONNECT: Duration = Duration::from_secs(3);
/// Bytes of the answer read: the status line is all we need.
const ANSWER: usize = 1024;

/// A webhook URL, validated: `http://host[:port][/path][?query]`, no
/// credentials, no fragment, no control characters anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    authority: String,
    target: String,
    url: String,
}

impl Webhook {
    pub fn parse(field: &str, text: &str) -> Result<Webhook> {
        let expected = "an http://host[:port]/path URL without credentials, fragment or control characters";
        // The URL parser would silently drop CR, LF and tab; refuse them instead.
        // Nor normalise `http:///host` or backslashes into something else.
        let authority_first = text.strip_prefix("http://").is_some_and(|r| !r.starts_with('/'));
        if text.chars().any(char::is_control) || text.contains([' ', '\\']) || !authority_first {
            return Err(Error::invalid(field, text, expected));
        }
        let url = url::Url::parse(text).map_err(|e| Error::invalid(field, text, format!("{expected} ({e})")))?;
        let host = url.host_str().filter(|h| !h.is_empty());
        if url.scheme() != "http"
            || host.is_none()
            || !url.username().is_empty()
            || url.password().is_some()
            || url.fragment().is_some()
        {
            return Err(Error::invalid(field, text, expected));
        }
        let host = host.unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        Ok(Webhook {
            authority: format!("{host}:{port}"),
            target,
            url: url.to_string(),
        })
    }

    /// The request head: every part came out of the URL parser, percent-encoded.
    fn head(&self, body_len: usize) -> String {
        format!(
            "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {body_len}\r\nuser-agent: gatehouse\r\nconnection: close\r\n\r\n",
            self.target, self.authority
        )
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
                .spawn(move || work(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a webhook delivery thread");
            }
        }
        tx
    })
}

fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => deliver_now(&job.hook, &job.body, Instant::now() + DEADLINE),
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
fn deliver_now(hook: &Webhook, body: &str, deadline: Instant) {
    let mut pause = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match post(hook, body, deadline) {
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

fn remaining(deadline: Instant) -> std::io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "delivery deadline passed",
        ))
    } else {
        Ok(left)
    }
}

/// One attempt; every read and write is bounded by what is left of the deadline.
fn post(hook: &Webhook, body: &str, deadline: Instant) -> std::io::Result<u16> {
    let addrs: Vec<SocketAddr> = hook.authority.to_socket_addrs()?.collect();
    let mut last = std::io::Error::other("the webhook host resolved to no address");
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?.min(CONNECT)) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = stream.ok_or(last)?;
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream.write_all(hook.head(body.len()).as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut answer = Vec::with_capacity(ANSWER);
    let mut chunk = [0u8; 256];
    while !answer.windows(2).any(|w| w == b"\r\n") && answer.len() < ANSWER {
        // Recomputed before every read: a byte now and then does not extend it.
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status in the answer"))
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
            "https://hooks.example/x",
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
        assert_eq!(ok.authority, "hooks.example:8080");
        assert_eq!(ok.target, "/in?team=pay");
        let head = ok.head(2);
        assert_eq!(head.matches("\r\n").count(), 7, "{head}");
        let bare = Webhook::parse("webhook_url", "http://hooks.example").unwrap();
        assert_eq!(
            (bare.authority.as_str(), bare.target.as_str()),
            ("hooks.example:80", "/")
        );
    }

    #[test]
    fn a_dripping_receiver_cannot_stretch_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
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
        let started = Instant::now();
        let e = post(&hook, "{}", Instant::now() + Duration::from_millis(500)).unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{took:?}: {e}");
    }
}
