//! Outbound notifications: a JSON POST to the configured webhook, retried
//! with exponential backoff, off the request path (a background thread).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Deliver `body` to `url` (plain `http://host:port/path`) in the background,
/// retrying up to `attempts` times with doubling delays from 200 ms.
pub fn deliver(url: &str, body: serde_json::Value, attempts: u32) {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=attempts.max(1) {
            match post(&url, &body.to_string()) {
                Ok(status) if (200..300).contains(&status) => {
                    tracing::info!(%url, attempt, "webhook delivered");
                    return;
                }
                Ok(status) => tracing::warn!(%url, attempt, status, "webhook refused"),
                Err(e) => tracing::warn!(%url, attempt, error = %e, "webhook failed"),
            }
            std::thread::sleep(delay);
            delay *= 2;
        }
        tracing::error!(%url, "webhook not delivered after {attempts} attempts");
    });
}

fn post(url: &str, body: &str) -> std::io::Result<u16> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("only http:// webhooks are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nuser-agent: gatehouse\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status in the answer"))
}
