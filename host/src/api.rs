//! The REST API under `/v1`, over hyper. The only module that speaks HTTP:
//! it parses requests into domain calls and maps domain errors to statuses in
//! exactly one place (`error_response`). Store work runs on the blocking pool.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::app::{ApplicationPatch, NewApplication};
use crate::audit::EventResult;
use crate::error::{Error, Result, parse_json_bytes};
use crate::evidence::EvidenceFilter;
use crate::keys::NewTrustedKey;
use crate::lifecycle::LifecycleSpec;
use crate::service::{Gatehouse, PromoteRequest, ReleaseRequest, RollbackRequest, Target};
use crate::store::{AppFilter, EventFilter, VersionFilter};
use crate::version::{NewVersion, VersionPatch};

/// The header that names the actor until bearer tokens replace it.
pub const ACTOR_HEADER: &str = "x-gatehouse-actor";
/// Large enough for evidence bundles carrying SBOMs.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub body_limit: usize,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub drain: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            body_limit: DEFAULT_BODY_LIMIT,
            drain: Duration::from_secs(10),
        }
    }
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
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let actor = match req.headers().get(ACTOR_HEADER).map(HeaderValue::to_str) {
        None => Ok("anonymous".to_string()),
        Some(Ok(a)) => Ok(a.to_string()),
        Some(Err(_)) => Err(Error::invalid(ACTOR_HEADER, "(non-ASCII)", "printable ASCII")),
    };
    let body = match Limited::new(req.into_body(), opts.body_limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Error::TooLarge { limit: opts.body_limit }),
        Err(e) => Err(Error::Malformed {
            what: "request body".into(),
            detail: e.to_string(),
        }),
    };
    let result = match (actor, body) {
        (Ok(actor), Ok(body)) => {
            let call = Call {
                method,
                path,
                query,
                actor,
                body,
            };
            tokio::task::spawn_blocking(move || route(&gh, &call))
                .await
                .unwrap_or_else(|e| Err(Error::Store(format!("request task failed: {e}"))))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let response = match result {
        Ok((status, body)) => json_response(status, &body),
        Err(e) => error_response(&e),
    };
    tracing::info!(status = response.status().as_u16(), "handled");
    response
}

struct Call {
    method: Method,
    path: String,
    query: String,
    actor: String,
    body: Bytes,
}

type Reply = Result<(StatusCode, Value)>;

fn route(gh: &Gatehouse, call: &Call) -> Reply {
    let segments: Vec<String> = call
        .path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect::<Result<_>>()?;
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let q = Query::parse(&call.query)?;
    let actor = call.actor.as_str();
    let m = &call.method;
    match segs.as_slice() {
        ["healthz"] if m == Method::GET => Ok((StatusCode::OK, json!({ "status": "ok" }))),
        ["v1", "applications"] => match *m {
            Method::GET => {
                let filter = AppFilter {
                    project: q.get("project"),
                    criticality: q.parse_enum("criticality", "unspecified, low, medium, high or critical")?,
                    maturity: q.parse_enum("maturity", "unspecified, experimental, production or end_of_life")?,
                    owner: q.get("owner"),
                    label: q.get("label").map(|l| match l.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (l, None),
                    }),
                    after: q.get("after"),
                    limit: q.limit()?,
                };
                let apps = gh.applications(filter.clone())?;
                let next = page_next(apps.len(), gh_limit(filter.limit), apps.last().map(|a| json!(a.key)));
                Ok((StatusCode::OK, json!({ "items": apps, "next": next })))
            }
            Method::POST => {
                let input: NewApplication = parse_json_bytes("application", &call.body)?;
                Ok((StatusCode::CREATED, json!(gh.create_application(actor, input)?)))
            }
            _ => method_not_allowed("GET, POST"),
        },
        ["v1", "applications", app] => match *m {
            Method::GET => Ok((StatusCode::OK, json!(gh.application(app)?))),
            Method::PATCH => {
                let patch: ApplicationPatch = parse_json_bytes("application patch", &call.body)?;
                Ok((StatusCode::OK, json!(gh.update_application(actor, app, patch)?)))
            }
            Method::DELETE => {
                gh.delete_application(actor, app)?;
                Ok((StatusCode::OK, json!({ "deleted": app })))
            }
            _ => method_not_allowed("GET, PATCH, DELETE"),
        },
        ["v1", "applications", app, "versions"] => match *m {
            Method::GET => {
                let filter = VersionFilter {
                    stage: q.get("stage"),
                    release_status: q.parse_enum("release_status", "pre_release, released or trusted_release")?,
                    limit: q.limit()?,
                    after: q.int("after")?,
                };
                let rows = gh.versions(app, filter.clone())?;
                let next = page_next(rows.len(), gh_limit(filter.limit), rows.last().map(|(id, _)| json!(id)));
                let items: Vec<_> = rows.into_iter().map(|(_, v)| v).collect();
                Ok((StatusCode::OK, json!({ "items": items, "next": next })))
            }
            Method::POST => {
                let input: NewVersion = parse_json_bytes("version", &call.body)?;
                Ok((StatusCode::CREATED, json!(gh.create_version(actor, app, input)?)))
            }
            _ => method_not_allowed("GET, POST"),
        },
        ["v1", "applications", app, "versions", version] => match *m {
            Method::GET => Ok((StatusCode::OK, json!(gh.version(app, version)?))),
            Method::PATCH => {
                let patch: VersionPatch = parse_json_bytes("version patch", &call.body)?;
                Ok((StatusCode::OK, json!(gh.update_version(actor, app, version, patch)?)))
            }
            _ => method_not_allowed("GET, PATCH"),
        },
        ["v1", "applications", app, "versions", version, action] => match (*action, m) {
            ("promote", &Method::POST) => {
                let req: PromoteRequest = parse_json_bytes("promotion request", &call.body)?;
                Ok((StatusCode::OK, json!(gh.promote(actor, app, version, req)?)))
            }
            ("release", &Method::POST) => {
                let req: ReleaseRequest = if call.body.iter().all(u8::is_ascii_whitespace) {
                    ReleaseRequest::default()
                } else {
                    parse_json_bytes("release request", &call.body)?
                };
                Ok((StatusCode::OK, json!(gh.release(actor, app, version, req)?)))
            }
            ("rollback", &Method::POST) => {
                let req: RollbackRequest = parse_json_bytes("rollback request", &call.body)?;
                Ok((StatusCode::OK, json!(gh.rollback(actor, app, version, req)?)))
            }
            ("timeline", &Method::GET) => {
                let events = gh.timeline(app, version, q.int("after")?, q.limit()?)?;
                Ok((StatusCode::OK, json!({ "items": events })))
            }
            ("evidence", &Method::GET) => {
                let filter = evidence_filter(&q)?;
                Ok((
                    StatusCode::OK,
                    json!({ "items": gh.version_evidence(app, version, &filter)? }),
                ))
            }
            ("promote" | "release" | "rollback", _) => method_not_allowed("POST"),
            ("timeline" | "evidence", _) => method_not_allowed("GET"),
            _ => no_route(&call.path),
        },
        ["v1", "activity"] if m == Method::GET => {
            let filter = EventFilter {
                application: q.get("application"),
                version: q.get("version"),
                action: q.get("action"),
                actor: q.get("actor"),
                result: q
                    .get("result")
                    .map(|r| {
                        EventResult::parse(&r)
                            .ok_or_else(|| Error::invalid("result", &r, "success, failure, blocked or warning"))
                    })
                    .transpose()?,
                since: q.get("since").map(|t| crate::time::parse("since", &t)).transpose()?,
                until: q.get("until").map(|t| crate::time::parse("until", &t)).transpose()?,
                after_seq: q.int("after")?,
                limit: q.limit()?,
            };
            let events = gh.activity(filter.clone())?;
            let next = page_next(
                events.len(),
                gh_limit(filter.limit),
                events.last().map(|e| json!(e.seq)),
            );
            Ok((StatusCode::OK, json!({ "items": events, "next": next })))
        }
        ["v1", "trusted-keys"] => match *m {
            Method::GET => Ok((StatusCode::OK, json!({ "items": gh.trusted_keys()? }))),
            Method::POST => {
                let input: NewTrustedKey = parse_json_bytes("trusted key", &call.body)?;
                Ok((StatusCode::CREATED, json!(gh.trust_key(actor, input)?)))
            }
            _ => method_not_allowed("GET, POST"),
        },
        ["v1", "trusted-keys", keyid] if m == Method::GET => Ok((StatusCode::OK, json!(gh.trusted_key(keyid)?))),
        ["v1", "trusted-keys", keyid, "revoke"] if m == Method::POST => {
            let req: RevokeRequest = if call.body.iter().all(u8::is_ascii_whitespace) {
                RevokeRequest::default()
            } else {
                parse_json_bytes("revocation", &call.body)?
            };
            Ok((StatusCode::OK, json!(gh.revoke_key(actor, keyid, req.reason)?)))
        }
        ["v1", "evidence"] if m == Method::POST => {
            let target = match (q.get("application"), q.get("version")) {
                (Some(application), Some(version)) => Target::Version { application, version },
                (None, None) => Target::BySubject,
                _ => {
                    return Err(Error::invalid(
                        "application",
                        "(one of application/version)",
                        "both application and version, or neither",
                    ));
                }
            };
            let threshold = q.int("threshold")?.unwrap_or(1);
            let threshold =
                usize::try_from(threshold).map_err(|_| Error::invalid("threshold", threshold, "a positive integer"))?;
            let items = gh.add_evidence(actor, &call.body, &target, threshold)?;
            let accepted = items.iter().filter(|i| i.accepted()).count();
            let status = if accepted == items.len() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            Ok((
                status,
                json!({ "items": items, "accepted": accepted, "refused": items.len() - accepted }),
            ))
        }
        ["v1", "evidence", digest] if m == Method::GET => Ok((StatusCode::OK, json!(gh.evidence(digest)?))),
        ["v1", "activity", "verify"] if m == Method::GET => Ok((StatusCode::OK, json!(gh.verify_chain()?))),
        ["v1", "lifecycles"] if m == Method::GET => Ok((StatusCode::OK, json!({ "items": gh.lifecycles()? }))),
        ["v1", "lifecycles", name] => match *m {
            Method::GET => Ok((StatusCode::OK, json!(gh.lifecycle(name)?))),
            Method::PUT => {
                let spec: LifecycleSpec = parse_json_bytes("lifecycle", &call.body)?;
                Ok((StatusCode::OK, json!(gh.put_lifecycle(actor, name, spec)?)))
            }
            _ => method_not_allowed("GET, PUT"),
        },
        _ => no_route(&call.path),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    reason: Option<String>,
}

fn evidence_filter(q: &Query) -> Result<EvidenceFilter> {
    Ok(EvidenceFilter {
        predicate_type: q.get("predicate_type"),
        signer: q.get("signer"),
        verified: q
            .get("verified")
            .map(|v| match v.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(Error::invalid("verified", &v, "true or false")),
            })
            .transpose()?,
        since: q.get("since").map(|t| crate::time::parse("since", &t)).transpose()?,
        until: q.get("until").map(|t| crate::time::parse("until", &t)).transpose()?,
    })
}

fn gh_limit(requested: usize) -> usize {
    if requested == 0 { 100 } else { requested }
}

/// The cursor for the next page, when this page was full.
fn page_next(len: usize, limit: usize, last: Option<Value>) -> Value {
    if len >= limit {
        last.unwrap_or(Value::Null)
    } else {
        Value::Null
    }
}

fn no_route(path: &str) -> Reply {
    Ok((
        StatusCode::NOT_FOUND,
        json!({ "error": { "code": "no_route", "message": format!("no route for {path}") } }),
    ))
}

fn method_not_allowed(allowed: &str) -> Reply {
    Ok((
        StatusCode::METHOD_NOT_ALLOWED,
        json!({ "error": { "code": "method_not_allowed", "message": format!("allowed methods: {allowed}") } }),
    ))
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// The one place where domain errors become HTTP statuses.
pub fn error_response(e: &Error) -> Response<Full<Bytes>> {
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
        Error::NotFound { .. } => (
            StatusCode::NOT_FOUND,
            json!({ "code": "not_found", "message": e.to_string() }),
        ),
        Error::Conflict { .. } => (
            StatusCode::CONFLICT,
            json!({ "code": "conflict", "message": e.to_string() }),
        ),
        Error::Blocked { verdicts } => (
            StatusCode::CONFLICT,
            json!({ "code": "blocked", "message": e.to_string(), "gates": verdicts }),
        ),
        Error::CorruptEvent { .. } | Error::Store(_) => {
            tracing::error!(error = %e, "internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "code": "internal", "message": "internal error; see the server log" }),
            )
        }
    };
    json_response(status, &json!({ "error": body }))
}

/// Query parameters, percent-decoded.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Result<Query> {
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

    fn get(&self, key: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    fn int(&self, key: &str) -> Result<Option<i64>> {
        self.get(key)
            .map(|v| v.parse::<i64>().map_err(|_| Error::invalid(key, &v, "an integer")))
            .transpose()
    }

    fn limit(&self) -> Result<usize> {
        match self.get("limit") {
            None => Ok(0),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(Error::invalid("limit", &v, "a positive integer")),
            },
        }
    }

    fn parse_enum<T: serde::de::DeserializeOwned>(&self, key: &str, expected: &str) -> Result<Option<T>> {
        self.get(key)
            .map(|v| serde_json::from_value(Value::String(v.clone())).map_err(|_| Error::invalid(key, &v, expected)))
            .transpose()
    }
}

fn percent_decode(s: &str) -> Result<String> {
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
