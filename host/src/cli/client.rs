//! The API as the CLI sees it: in-process on a data directory, or over HTTP
//! to a running sidecar. Both answer with a status and a JSON body.

use std::path::PathBuf;

use hyper::Method;
use hyper::body::Bytes;
use serde_json::Value;

use super::{Failure, usage};
use crate::api::{self, Body, Call};
use crate::error::Kind;
use crate::service::Gatehouse;

pub enum Client {
    Local { gh: Box<Gatehouse>, actor: String },
    Remote(Box<Remote>),
}

/// A sidecar over HTTP or HTTPS.
pub struct Remote {
    origin: gatehouse_http::Origin,
    token: Option<String>,
    http: gatehouse_http::Blocking,
}

impl Client {
    pub fn local(config: &crate::config::Config, actor: &str) -> Result<Client, Failure> {
        Ok(Client::Local {
            gh: Box::new(Gatehouse::open_with(&config.data_dir, config.gates.clone())?),
            actor: actor.to_string(),
        })
    }

    /// `http://HOST:PORT` (the sidecar on loopback) or `https://HOST[:PORT]`
    /// (behind a TLS-terminating proxy), trusting the system's roots or only
    /// those in `cacert`.
    pub fn remote(url: &str, token: Option<String>, cacert: Option<PathBuf>) -> Result<Client, Failure> {
        let origin = gatehouse_http::Origin::parse(url).map_err(|e| usage(format!("--server: {e}")))?;
        if let Some(path) = &cacert
            && !origin.tls
        {
            return Err(usage(format!(
                "--cacert {}: only used with an https:// --server (got {url})",
                path.display()
            )));
        }
        let client = gatehouse_http::Client::new(gatehouse_http::Options {
            ca_file: cacert,
            ..gatehouse_http::Options::default()
        });
        if client.options().ca_file.is_some() {
            client.check_roots().map_err(|e| usage(format!("--cacert: {e}")))?;
        }
        let http = gatehouse_http::Blocking::new(client)
            .map_err(|e| Failure::undecided("internal", format!("cannot start the HTTP client: {e}")))?;
        Ok(Client::Remote(Box::new(Remote { origin, token, http })))
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
            Client::Remote(remote) => http(remote, method, path, &query, body),
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

pub use crate::api::seg;

fn encode_query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", seg(k), seg(v).replace('+', "%2B")))
        .collect::<Vec<_>>()
        .join("&")
}

/// One exchange with the sidecar; anything that keeps it from answering is
/// "could not decide" (exit 3).
fn http(remote: &Remote, method: Method, path: &str, query: &str, body: Vec<u8>) -> Result<(u16, Value), Failure> {
    let unreachable = |e: gatehouse_http::Error| {
        Failure::undecided(
            "unreachable",
            format!("cannot reach the sidecar at {}: {e}", remote.origin.url()),
        )
    };
    let target = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let auth = remote.token.as_ref().map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let answer = remote
        .http
        .request(&remote.origin, method, &target, &headers, body)
        .map_err(unreachable)?;
    let value = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&answer.body).into_owned()));
    Ok((answer.status.as_u16(), value))
}
