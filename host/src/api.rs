//! The REST API under `/v1`, over hyper. The only module that speaks HTTP.
//! Routes live in one table (`api/routes.rs`) that also says what each needs;
//! domain errors become statuses in exactly one place ([`error_response`]).
//! Store work runs on the blocking pool, bounded by a per-request timeout.

pub mod routes;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::access::{self, Permission, Principal};
use crate::error::{Error, Result};
use crate::service::Gatehouse;

/// Large enough for evidence bundles carrying SBOMs.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub body_limit: usize,
    /// How long one request may take before it is answered 503.
    pub request_timeout: Duration,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub drain: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: Duration::from_secs(30),
            drain: Duration::from_secs(10),
        }
    }
}

/// A response body: JSON for the API, text for metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Json(Value),
    Text(String, &'static str),
}

pub type Reply = Result<(StatusCode, Body)>;

/// One API call, however it arrived (HTTP, or the CLI in-process).
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: Bytes,
}

/// Serve until `shutdown` resolves, then stop accepting and drain.
pub async fn serve(
    gatehouse: Arc<Gatehouse>,
    listener: TcpListener,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let http = hyper::server::conn::http1::Builder::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let gh = gatehouse.clone();
                let opts = opts.clone();
                let svc = service_fn(move |req| {
                    let gh = gh.clone();
                    let opts = opts.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(gh, req, &opts, peer).await) }
                });
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), svc));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("drained"),
        () = tokio::time::sleep(opts.drain) => tracing::warn!("drain deadline passed; closing remaining connections"),
    }
    Ok(())
}

async fn handle(
    gh: Arc<Gatehouse>,
    req: Request<Incoming>,
    opts: &ServeOptions,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    use tracing::Instrument;
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), %peer);
    handle_in_span(gh, req, opts).instrument(span).await
}

async fn handle_in_span(gh: Arc<Gatehouse>, req: Request<Incoming>, opts: &ServeOptions) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let authorization = req.headers().get(AUTHORIZATION).map(|v| v.to_str().map(str::to_string));
    let found = routes::find(&method, &path);
    let template = found.as_ref().map_or("(unmatched)", |m| m.route.path);
    let result = match found {
        Err(e) => Err(e),
        Ok(matched) => {
            let body = match Limited::new(req.into_body(), opts.body_limit).collect().await {
                Ok(b) => Ok(b.to_bytes()),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Error::TooLarge { limit: opts.body_limit }),
                Err(e) => Err(Error::Malformed {
                    what: "request body".into(),
                    detail: e.to_string(),
                }),
            };
            match body {
                Err(e) => Err(e),
                Ok(body) => {
                    let call = Call {
                        method: method.clone(),
                        path,
                        query,
                        body,
                    };
                    let limit = opts.request_timeout;
                    let changes_state = method != Method::GET && method != Method::HEAD;
                    let work = tokio::task::spawn_blocking(move || {
                        let _deadline = crate::deadline::set(started, limit);
                        let header = match authorization {
                            None => None,
                            Some(Ok(h)) => Some(h),
                            Some(Err(_)) => {
                                return Err(Error::Unauthenticated {
                                    reason: "the Authorization header is not ASCII".into(),
                                });
                            }
                        };
                        let principal = authorize(&gh, matched.route.permission, header.as_deref())?;
                        routes::dispatch(&gh, &matched, &call, &principal)
                    });
                    // Reads are cut off at the limit. State-changing work is awaited: it
                    // refuses to commit past the deadline, so its answer — committed, or a
                    // timeout with nothing committed — is the truth about the store.
                    let finished = if changes_state {
                        Ok(work.await)
                    } else {
                        tokio::time::timeout(opts.request_timeout, work).await
                    };
                    match finished {
                        Ok(Ok(reply)) => reply,
                        Ok(Err(e)) => Err(Error::Store(format!("request task failed: {e}"))),
                        Err(_) => Err(Error::Timeout {
                            after: opts.request_timeout,
                        }),
                    }
                }
            }
        }
    };
    let response = match result {
        Ok((status, body)) => body_response(status, body),
        Err(e) => error_response(&e),
    };
    crate::metrics::record_request(template, method.as_str(), response.status().as_u16(), started.elapsed());
    tracing::info!(status = response.status().as_u16(), "handled");
    response
}

/// Authenticate (unless the route is public) and check the role.
fn authorize(gh: &Gatehouse, needed: Permission, header: Option<&str>) -> Result<Principal> {
    if needed == Permission::Public {
        return Ok(Principal {
            name: "anonymous".into(),
            role: access::Role::Viewer,
        });
    }
    let principal = gh.authenticate(header)?;
    if !access::allows(principal.role, needed) {
        let role = needed.role().map_or("any", access::Role::as_str);
        return Err(Error::Forbidden {
            reason: format!(
                "token {:?} has role {}; this needs role {role} (or admin)",
                principal.name,
                principal.role.as_str()
            ),
        });
    }
    Ok(principal)
}

fn body_response(status: StatusCode, body: Body) -> Response<Full<Bytes>> {
    let (bytes, content_type) = match body {
        Body::Json(v) => (Bytes::from(v.to_string()), "application/json"),
        Body::Text(t, ct) => (Bytes::from(t), ct),
    };
    let mut resp = Response::new(Full::new(bytes));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// The status and JSON body an error maps to: the one place this is decided.
pub fn error_status(e: &Error) -> (StatusCode, Value) {
    let (status, body) = match e {
        Error::Invalid { field, value, expected } => (
            StatusCode::BAD_REQUEST,
            json!({ "code": "invalid", "field": field, "value": value, "expected": expected, "message": e.to_string() }),
        ),
        Error::Malformed { .. } => (
            StatusCode::BAD_REQUEST,
            json!({ "code": "malformed", "message": e.to_string() }),
        ),
        Error::TooLarge { limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({ "code": "too_large", "limit": limit, "message": e.to_string() }),
        ),
        Error::Unauthenticated { .. } => (
            StatusCode::UNAUTHORIZED,
            json!({ "code": "unauthenticated", "message": e.to_string() }),
        ),
        Error::Forbidden { .. } => (
            StatusCode::FORBIDDEN,
            json!({ "code": "forbidden", "message": e.to_string() }),
        ),
        Error::NotFound { .. } => (
            StatusCode::NOT_FOUND,
            json!({ "code": "not_found", "message": e.to_string() }),
        ),
        Error::NoRoute { .. } => (
            StatusCode::NOT_FOUND,
            json!({ "code": "no_route", "message": e.to_string() }),
        ),
        Error::MethodNotAllowed { .. } => (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({ "code": "method_not_allowed", "message": e.to_string() }),
        ),
        Error::Conflict { .. } => (
            StatusCode::CONFLICT,
            json!({ "code": "conflict", "message": e.to_string() }),
        ),
        Error::Blocked { verdicts } => (
            StatusCode::CONFLICT,
            json!({ "code": "blocked", "message": e.to_string(), "gates": verdicts }),
        ),
        Error::Withdrawn { withdrawal, .. } => (
            StatusCode::GONE,
            json!({ "code": "withdrawn", "message": e.to_string(), "withdrawal": withdrawal }),
        ),
        Error::Timeout { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "code": "timeout", "message": e.to_string() }),
        ),
        Error::CorruptEvent { .. } | Error::Store(_) => {
            tracing::error!(error = %e, "internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "code": "internal", "message": "internal error; see the server log" }),
            )
        }
    };
    (status, json!({ "error": body }))
}

pub fn error_response(e: &Error) -> Response<Full<Bytes>> {
    let (status, body) = error_status(e);
    body_response(status, Body::Json(body))
}

/// Query parameters, percent-decoded.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Result<Query> {
        let mut pairs = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((
                percent_decode(&k.replace('+', " "))?,
                percent_decode(&v.replace('+', " "))?,
            ));
        }
        Ok(Query(pairs))
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>> {
        self.get(key)
            .map(|v| v.parse::<i64>().map_err(|_| Error::invalid(key, &v, "an integer")))
            .transpose()
    }

    pub fn limit(&self) -> Result<usize> {
        match self.get("limit") {
            None => Ok(0),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(Error::invalid("limit", &v, "a positive integer")),
            },
        }
    }

    /// A `true`/`false` parameter.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| match v.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(Error::invalid(key, &v, "true or false")),
            })
            .transpose()
    }

    pub fn parse_enum<T: serde::de::DeserializeOwned>(&self, key: &str, expected: &str) -> Result<Option<T>> {
        self.get(key)
            .map(|v| serde_json::from_value(Value::String(v.clone())).map_err(|_| Error::invalid(key, &v, expected)))
            .transpose()
    }
}

pub fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                None => return Err(Error::invalid("path", s, "valid percent-encoding (%XX)")),
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Error::invalid("path", s, "UTF-8 after percent-decoding"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("1.0.0%2Bbuild").unwrap(), "1.0.0+build");
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%").is_err());
        let q = Query::parse("label=team%3Dpay&limit=5&owner=a+b").unwrap();
        assert_eq!(q.get("label").as_deref(), Some("team=pay"));
        assert_eq!(q.get("owner").as_deref(), Some("a b"));
        assert_eq!(q.limit().unwrap(), 5);
        assert!(Query::parse("limit=0").unwrap().limit().is_err());
    }
}
