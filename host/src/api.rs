//! The REST API under `/v1`, over hyper. The only module that speaks HTTP.
//! Routes live in one table (`api/routes.rs`) that also says what each needs;
//! domain errors become statuses in exactly one place ([`error_response`]).
//! Store work runs on the blocking pool, bounded by a per-request timeout.

pub mod console;
pub mod intake;
pub mod openapi;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
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

/// The largest body of an ordinary request.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// The largest body of an upload: large enough for evidence bundles carrying SBOMs.
pub const DEFAULT_UPLOAD_LIMIT: usize = 16 * 1024 * 1024;

/// What the sidecar allows its clients; every field has a config key
/// (docs/operations.md lists them).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Largest body of an ordinary request.
    pub body_limit: usize,
    /// Largest body of an upload route (evidence, SBOMs, advisories, policies).
    pub upload_limit: usize,
    /// Body bytes buffered across all connections at once.
    pub body_budget: usize,
    /// Time to send a request's headers; also how long an idle keep-alive
    /// connection is held.
    pub header_read_timeout: Duration,
    /// Time to send a request's body.
    pub body_read_timeout: Duration,
    /// Open client connections; past it a new one is closed at once.
    pub max_connections: usize,
    /// How long one request may take before it is answered 503.
    pub request_timeout: Duration,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub drain: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            body_limit: DEFAULT_BODY_LIMIT,
            upload_limit: DEFAULT_UPLOAD_LIMIT,
            body_budget: 64 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 512,
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

/// What every request of one server shares.
struct Shared {
    gh: Arc<Gatehouse>,
    opts: ServeOptions,
    budget: intake::BodyBudget,
}

/// Serve until `shutdown` resolves, then stop accepting and drain for at most
/// `opts.drain`. Returns when the drain ended (or its deadline passed); work
/// still running on the blocking pool then is the caller's to abandon.
pub async fn serve(
    gatehouse: Arc<Gatehouse>,
    listener: TcpListener,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout);
    let cap = intake::effective_connection_cap(opts.max_connections, intake::descriptor_limit());
    if cap < opts.max_connections {
        tracing::warn!(
            max_connections = opts.max_connections,
            in_force = cap,
            "the descriptor limit (ulimit -n) cannot hold max_connections; raise it, or lower max_connections"
        );
    }
    let connections = Arc::new(tokio::sync::Semaphore::new(cap));
    let shared = Arc::new(Shared {
        gh: gatehouse,
        budget: intake::BodyBudget::new(opts.body_budget),
        opts,
    });
    let mut backoff = intake::AcceptBackoff::default();
    let mut accept_log = intake::Throttled::new(Duration::from_secs(1));
    let mut refused_log = intake::Throttled::new(Duration::from_secs(1));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => {
                        backoff.succeeded();
                        a
                    }
                    Err(e) => {
                        crate::metrics::record_accept_error();
                        if let Some(n) = accept_log.hit(Instant::now()) {
                            tracing::warn!(error = %e, times = n, "accept failed; backing off");
                        }
                        let pause = backoff.failed();
                        tokio::select! {
                            () = tokio::time::sleep(pause) => continue,
                            () = &mut shutdown => break,
                        }
                    }
                };
                let Ok(permit) = connections.clone().try_acquire_owned() else {
                    // Closing at once costs one descriptor for an instant.
                    drop(stream);
                    crate::metrics::record_connection_refused();
                    if let Some(n) = refused_log.hit(Instant::now()) {
                        tracing::warn!(max_connections = cap, times = n, "connection refused: max_connections are open");
                    }
                    continue;
                };
                let shared = shared.clone();
                let svc = service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(&shared, req, peer).await) }
                });
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), svc));
                crate::metrics::connection_opened();
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    crate::metrics::connection_closed();
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("drained"),
        () = tokio::time::sleep(shared.opts.drain) => tracing::warn!("drain deadline passed; closing remaining connections"),
    }
    Ok(())
}

async fn handle(shared: &Shared, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    use tracing::Instrument;
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), %peer);
    handle_in_span(shared, req).instrument(span).await
}

async fn handle_in_span(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().clone();
    if console::owns(req.uri().path()) {
        let response = console::handle(shared, req).await;
        crate::metrics::record_request("/ui", method.as_str(), response.status().as_u16(), started.elapsed());
        tracing::info!(status = response.status().as_u16(), "handled");
        return response;
    }
    let found = routes::find(&method, req.uri().path());
    let template = found.as_ref().map_or("(unmatched)", |m| m.route.path);
    let result = match found {
        Err(e) => Err(e),
        Ok(matched) => answer(shared, req, matched, started).await,
    };
    let response = match result {
        Ok((status, body)) => body_response(status, body),
        Err(e) => error_response(&e),
    };
    crate::metrics::record_request(template, method.as_str(), response.status().as_u16(), started.elapsed());
    tracing::info!(status = response.status().as_u16(), "handled");
    response
}

/// Authenticate from the headers, then read the body (bounded), then do the
/// work: a client without a valid token never gets a byte of its body read.
async fn answer(shared: &Shared, req: Request<Incoming>, matched: routes::Matched, started: Instant) -> Reply {
    let opts = &shared.opts;
    let (parts, body) = req.into_parts();
    let principal = match matched.route.permission {
        Permission::Public => anonymous(),
        needed => {
            let header = match parts.headers.get(AUTHORIZATION).map(HeaderValue::to_str) {
                None => None,
                Some(Ok(h)) => Some(h.to_string()),
                Some(Err(_)) => {
                    return Err(Error::Unauthenticated {
                        reason: "the Authorization header is not ASCII".into(),
                    });
                }
            };
            let gh = shared.gh.clone();
            let check = tokio::task::spawn_blocking(move || authorize(&gh, needed, header.as_deref()));
            match tokio::time::timeout(opts.request_timeout, check).await {
                Ok(Ok(p)) => p?,
                Ok(Err(e)) => return Err(Error::internal("authentication task failed", e)),
                Err(_) => {
                    return Err(Error::Timeout {
                        after: opts.request_timeout,
                    });
                }
            }
        }
    };
    let limit = if matched.route.upload {
        opts.upload_limit
    } else {
        opts.body_limit
    };
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let body = intake::read_body(body, declared, limit, &shared.budget, opts.body_read_timeout).await?;
    let call = Call {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        body: body.bytes.clone(),
    };
    let limit = opts.request_timeout;
    let changes_state = call.method != Method::GET && call.method != Method::HEAD;
    let gh = shared.gh.clone();
    let work = tokio::task::spawn_blocking(move || {
        let _deadline = crate::deadline::set(started, limit);
        routes::dispatch(&gh, &matched, &call, &principal)
    });
    // Reads are cut off at the limit. State-changing work is awaited: it
    // refuses to commit past the deadline, so its answer — committed, or a
    // timeout with nothing committed — is the truth about the store.
    let finished = if changes_state {
        Ok(work.await)
    } else {
        tokio::time::timeout(limit, work).await
    };
    drop(body);
    match finished {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => Err(Error::internal("request task failed", e)),
        Err(_) => Err(Error::Timeout { after: limit }),
    }
}

fn anonymous() -> Principal {
    Principal {
        name: "anonymous".into(),
        role: access::Role::Viewer,
    }
}

/// Authenticate (unless the route is public) and check the role.
fn authorize(gh: &Gatehouse, needed: Permission, header: Option<&str>) -> Result<Principal> {
    if needed == Permission::Public {
        return Ok(anonymous());
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
    let kind = e.kind();
    let status = StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = error_object(e);
    if kind == crate::error::Kind::Internal {
        // The detail is for the log, not for the client.
        tracing::error!(error = %e.chain(), "internal error");
        body.insert("message".into(), json!("internal error; see the server log"));
    }
    (status, json!({ "error": body }))
}

/// The `error` object of an answer, with every detail (the CLI on a local
/// data directory prints it whole; the API hides internal details).
pub fn error_object(e: &Error) -> serde_json::Map<String, Value> {
    let code = e.kind().code();
    let mut body = serde_json::Map::new();
    body.insert("code".into(), json!(code));
    body.insert("message".into(), json!(e.to_string()));
    match e {
        Error::Invalid { field, value, expected } => {
            body.insert("field".into(), json!(field));
            body.insert("value".into(), json!(value));
            body.insert("expected".into(), json!(expected));
        }
        Error::TooLarge { limit } => {
            body.insert("limit".into(), json!(limit));
        }
        Error::Blocked { gates, .. } => {
            body.insert("gates".into(), gates.clone());
        }
        Error::Withdrawn { withdrawal, .. } => {
            body.insert("withdrawal".into(), json!(withdrawal));
        }
        _ => {}
    }
    body
}

pub fn error_response(e: &Error) -> Response<Full<Bytes>> {
    let (status, body) = error_status(e);
    let mut resp = body_response(status, Body::Json(body));
    if let Error::MethodNotAllowed { allowed } = e
        && let Ok(value) = HeaderValue::from_str(allowed)
    {
        // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
        resp.headers_mut().insert(hyper::header::ALLOW, value);
    }
    resp
}

/// A query string's parameters, percent-decoded strictly (see
/// [`percent_decode`]): a value that would decode to something else than
/// the client meant is refused before any parameter is read.
fn decode_pairs(raw: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((
            percent_decode(&k.replace('+', " "))?,
            percent_decode(&v.replace('+', " "))?,
        ));
    }
    Ok(pairs)
}

/// Check a query string before a handler reads it: its encoding, and — for
/// a route that takes no parameters — that there are none (a misspelt
/// filter must not silently list everything).
pub fn checked_query(raw: &str, takes_parameters: bool) -> Result<&str> {
    let pairs = decode_pairs(raw)?;
    if !takes_parameters && let Some((k, v)) = pairs.first() {
        return Err(Error::invalid(
            format!("query parameter {k}"),
            v,
            "no query parameters: this route takes none",
        ));
    }
    Ok(raw)
}

/// Parse a query string into a route's query struct (`serde_urlencoded`;
/// the struct refuses parameters it does not name). Every refusal names
/// the parameter, the value and what it takes.
pub fn parse_query<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T> {
    let pairs = decode_pairs(raw)?;
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        query_error(&pairs, &path, &e.into_inner().to_string())
    })
}

/// serde's complaint about a query, as an `invalid` error.
fn query_error(pairs: &[(String, String)], path: &str, message: &str) -> Error {
    let value_of = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or_else(String::new, |(_, v)| v.clone())
    };
    // serde names fields and variants between backquotes.
    let named = message.split('`').nth(1).unwrap_or_default();
    let listed = |m: &str| m.split_once("expected ").map(|(_, list)| list.replace('`', ""));
    if message.starts_with("unknown field") {
        let expected = match listed(message) {
            Some(list) => format!("{} (the parameters this route takes)", list),
            None => "no query parameters: this route takes none".to_string(),
        };
        return Error::invalid(format!("query parameter {named}"), value_of(named), expected);
    }
    if message.starts_with("duplicate field") {
        return Error::invalid(format!("query parameter {named}"), value_of(named), "one value at most");
    }
    if message.starts_with("missing field") {
        return Error::invalid(named, "(missing)", "this parameter: the route needs it");
    }
    let expected = if message.starts_with("unknown variant") {
        listed(message).unwrap_or_else(|| message.to_string())
    } else if message.contains("`true` or `false`") {
        "true or false".to_string()
    } else if message.contains("digit") || message.contains("number") {
        "an integer in range".to_string()
    } else {
        message.to_string()
    };
    Error::invalid(path, value_of(path), expected)
}

/// Percent-encode one path segment (the inverse of [`percent_decode`]): the
/// CLI's calls and the console's links and in-process calls.
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

/// Percent-decode a path segment or query value, refusing what is not valid:
/// a `%` without two hex digits, or bytes that are not UTF-8 (400 naming
/// the text). Hand-written on purpose: `form_urlencoded`/`percent-encoding`
/// decode leniently (a stray `%zz` is kept as is, bad UTF-8 becomes U+FFFD),
/// so a mangled identifier would reach the store as another string.
pub fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            // Two hex digits, nothing else (from_str_radix alone takes "+f").
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok());
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
        assert!(percent_decode("%+f").is_err(), "a sign is not a hex digit");
        assert!(percent_decode("%ff").is_err(), "not UTF-8");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Filter {
        label: Option<String>,
        owner: Option<String>,
        limit: Option<usize>,
        verified: Option<bool>,
        result: Option<crate::audit::EventResult>,
    }

    #[test]
    fn a_query_is_read_into_its_struct() {
        let q: Filter = parse_query("label=team%3Dpay&limit=5&owner=a+b&verified=true&result=blocked").unwrap();
        assert_eq!(q.label.as_deref(), Some("team=pay"));
        assert_eq!(q.owner.as_deref(), Some("a b"));
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.verified, Some(true));
        assert_eq!(q.result, Some(crate::audit::EventResult::Blocked));
        let empty: Filter = parse_query("").unwrap();
        assert!(empty.label.is_none() && empty.limit.is_none());
    }

    #[test]
    fn every_refusal_of_a_query_names_the_parameter_and_what_it_takes() {
        let refused = |raw: &str| parse_query::<Filter>(raw).unwrap_err().to_string();
        let cases = [
            (
                "limit=5&stages=prod",
                "query parameter stages",
                "label, owner, limit, verified, result",
            ),
            ("limit=x", "`limit`: got \"x\"", "an integer"),
            ("limit=-1", "`limit`: got \"-1\"", "an integer"),
            ("verified=yes", "`verified`: got \"yes\"", "true or false"),
            (
                "result=nope",
                "`result`: got \"nope\"",
                "success, failure, blocked, warning",
            ),
            ("limit=1&limit=2", "query parameter limit", "one value at most"),
            ("label=%zz", "`path`", "percent-encoding"),
        ];
        for (raw, names, expects) in cases {
            let text = refused(raw);
            assert!(text.contains(names) && text.contains(expects), "{raw}: {text}");
        }
    }

    #[test]
    fn a_route_that_takes_no_parameters_refuses_any() {
        let e = checked_query("x=1", false).unwrap_err().to_string();
        assert!(e.contains("query parameter x") && e.contains("takes none"), "{e}");
        assert!(checked_query("", false).is_ok());
        assert!(checked_query("x=1", true).is_ok());
        assert!(checked_query("x=%zz", true).is_err());
    }
}
