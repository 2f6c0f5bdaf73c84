//! The API as the CLI sees it: in-process on a data directory, or over HTTP
//! to a running sidecar. Both answer with a status and a JSON body.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use hyper::Method;
use hyper::body::Bytes;
use serde_json::Value;

use super::{Failure, usage};
use crate::api::{self, Body, Call};
use crate::error::Kind;
use crate::service::Gatehouse;

pub enum Client {
    Local { gh: Box<Gatehouse>, actor: String },
    Remote { authority: String, token: Option<String> },
}

impl Client {
    pub fn local(config: &crate::config::Config, actor: &str) -> Result<Client, Failure> {
        Ok(Client::Local {
            gh: Box::new(Gatehouse::open_with(&config.data_dir, config.gates.clone())?),
            actor: actor.to_string(),
        })
    }

    /// `http://host:port` (plain HTTP: the sidecar listens on loopback).
    pub fn remote(url: &str, token: Option<String>) -> Result<Client, Failure> {
        if url.starts_with("https://") {
            return Err(usage(format!(
                "--server {url}: TLS is not supported by the CLI; talk to the sidecar on loopback (http://127.0.0.1:PORT) or through a local TLS-terminating proxy"
            )));
        }
        let authority = url
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| usage(format!("--server {url:?}: expected http://HOST:PORT")))?;
        Ok(Client::Remote {
            authority: authority.to_string(),
            token,
        })
    }

    /// Send a call and return the status and body, whatever the status.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<(u16, Value), Failure> {
        let query = encode_query(query);
        match self {
            Client::Local { gh, actor } => {
                let call = Call {
                    method,
                    path: path.to_string(),
                    query,
                    body: Bytes::from(body),
                };
                Ok(match api::routes::call_local(gh, &call, actor) {
                    Ok((status, Body::Json(v))) => (status.as_u16(), v),
                    Ok((status, Body::Text(t, _))) => (status.as_u16(), Value::String(t)),
                    // In-process the operator sees every detail, internal ones too
                    // (and the server log is not involved).
                    Err(e) => (
                        e.kind().http_status(),
                        serde_json::json!({ "error": api::error_object(&e) }),
                    ),
                })
            }
            Client::Remote { authority, token } => http(authority, token.as_deref(), &method, path, &query, &body),
        }
    }

    /// Send a call; anything but 2xx becomes a failure carrying the server's reason.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let (status, value) = self.send(method, path, query, bytes)?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(failure(status, &value))
        }
    }

    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Failure> {
        self.call(Method::GET, path, query, None)
    }
}

/// The failure an error answer maps to: its `error.code` names the kind
/// (and so the exit code); an answer without one is judged by its status.
pub fn failure(status: u16, body: &Value) -> Failure {
    let kind = body
        .pointer("/error/code")
        .and_then(Value::as_str)
        .and_then(Kind::from_code)
        .unwrap_or_else(|| Kind::from_status(status));
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map_or_else(|| format!("HTTP {status}: {body}"), str::to_string);
    let gates = serde_json::from_value(body.pointer("/error/gates").cloned().unwrap_or_default()).unwrap_or_default();
    let mut object = body
        .pointer("/error")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    object.entry("code").or_insert(Value::from(kind.code()));
    object.entry("message").or_insert(Value::from(message.clone()));
    object.insert("status".into(), Value::from(status));
    Failure {
        code: kind.exit_code(),
        error: anyhow::anyhow!(message),
        gates,
        object,
    }
}

/// Percent-encode one path segment.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", seg(k), seg(v).replace('+', "%2B")))
        .collect::<Vec<_>>()
        .join("&")
}

fn http(
    authority: &str,
    token: Option<&str>,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> Result<(u16, Value), Failure> {
    let unreachable = |e: std::io::Error| {
        Failure::undecided(
            "unreachable",
            format!("cannot reach the sidecar at http://{authority}: {e}"),
        )
    };
    let mut stream = TcpStream::connect(authority).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(unreachable)?;
    let target = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(t) = token {
        head.push_str(&format!("authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(unreachable)?;
    stream.write_all(body).map_err(unreachable)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(unreachable)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Failure::undecided("unreachable", "the sidecar sent no HTTP answer".into()))?;
    let (head, rest) = raw.split_at(split);
    let body = rest.get(4..).unwrap_or_default();
    let head = String::from_utf8_lossy(head);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure::undecided("unreachable", "the sidecar sent a malformed status line".into()))?;
    let value =
        serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    Ok((status, value))
}
