//! Every route of the API in one table: method, path template, the
//! permission it needs, and its handler. The OpenAPI document is checked
//! against this table by a test, both ways.

use hyper::{Method, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Body, Call, Reply, percent_decode};
use crate::access::{Permission, Principal, Role};
use crate::app::{ApplicationPatch, Criticality, Maturity, NewApplication};
use crate::audit::EventResult;
use crate::binding::BindingSpec;
use crate::error::{Error, Result, parse_json_bytes};
use crate::evidence::EvidenceFilter;
use crate::keys::NewTrustedKey;
use crate::lifecycle::LifecycleSpec;
use crate::service::{Gatehouse, PromoteRequest, ReleaseRequest, RollbackRequest, Target};
use crate::store::{AppFilter, EventFilter, VersionFilter};
use crate::version::{NewVersion, ReleaseStatus, VersionPatch};
use crate::waiver::{Decision as WaiverDecision, WaiverRequest};
use gatehouse_core::policy::PolicySummary;

/// What a handler gets.
pub struct Req<'a> {
    pub params: &'a [String],
    /// The raw query string (its percent-encoding already checked).
    pub query: &'a str,
    pub body: &'a [u8],
    pub actor: &'a str,
}

impl Req<'_> {
    /// The query parameters, as the route's query struct.
    fn query<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        super::parse_query(self.query)
    }
}

type Handler = fn(&Gatehouse, &Req<'_>) -> Reply;

pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub permission: Permission,
    /// Takes bodies up to `upload_limit_bytes` (evidence, SBOMs, advisories,
    /// policies); every other route, `body_limit_bytes`.
    pub upload: bool,
    /// The query parameters it takes, as the schema of the struct its
    /// handler parses them into (which refuses any other, 400); `None`: it
    /// takes none.
    pub query: Option<super::openapi::SchemaFn>,
    handler: Handler,
}

const fn route(method: Method, path: &'static str, permission: Permission, handler: Handler) -> Route {
    Route {
        method,
        path,
        permission,
        upload: false,
        query: None,
        handler,
    }
}

/// A route that takes the query parameters of `Q`, the struct its handler parses.
const fn query<Q: JsonSchema>(mut r: Route) -> Route {
    r.query = Some(query_schema::<Q>);
    r
}

/// A query struct's schema, inline: its properties are the parameters.
fn query_schema<Q: JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    Q::json_schema(g)
}

/// A route that takes large bodies.
const fn upload(mut r: Route) -> Route {
    r.upload = true;
    r
}

use Permission::{Administer, Approve, Develop, Public, Read, Transition};

pub static ROUTES: &[Route] = &[
    route(Method::GET, "/healthz", Public, |_, _| {
        ok(json!(Status { status: "ok" }))
    }),
    route(Method::GET, "/readyz", Public, readyz),
    route(Method::GET, "/metrics", Public, |gh, _| {
        Ok((
            StatusCode::OK,
            Body::Text(crate::metrics::render(gh.store_gauges()), "text/plain; version=0.0.4"),
        ))
    }),
    route(Method::GET, "/v1/openapi.json", Public, openapi),
    query::<ApplicationsQuery>(route(Method::GET, "/v1/applications", Read, list_applications)),
    route(Method::POST, "/v1/applications", Administer, create_application),
    route(Method::GET, "/v1/applications/{app}", Read, |gh, r| {
        ok(json!(gh.application(p(r, 0))?))
    }),
    route(Method::PATCH, "/v1/applications/{app}", Administer, update_application),
    route(Method::DELETE, "/v1/applications/{app}", Administer, |gh, r| {
        gh.delete_application(r.actor, p(r, 0))?;
        ok(json!(Deleted { deleted: p(r, 0) }))
    }),
    query::<VersionsQuery>(route(
        Method::GET,
        "/v1/applications/{app}/versions",
        Read,
        list_versions,
    )),
    route(Method::POST, "/v1/applications/{app}/versions", Develop, create_version),
    route(
        Method::GET,
        "/v1/applications/{app}/versions/{version}",
        Read,
        |gh, r| ok(json!(gh.version(p(r, 0), p(r, 1))?)),
    ),
    route(
        Method::PATCH,
        "/v1/applications/{app}/versions/{version}",
        Develop,
        update_version,
    ),
    route(
        Method::POST,
        "/v1/applications/{app}/versions/{version}/promote",
        Transition,
        promote,
    ),
    route(
        Method::POST,
        "/v1/applications/{app}/versions/{version}/release",
        Transition,
        release,
    ),
    route(
        Method::POST,
        "/v1/applications/{app}/versions/{version}/rollback",
        Transition,
        rollback,
    ),
    query::<PageQuery>(route(
        Method::GET,
        "/v1/applications/{app}/versions/{version}/timeline",
        Read,
        timeline,
    )),
    query::<EvidenceQuery>(route(
        Method::GET,
        "/v1/applications/{app}/versions/{version}/evidence",
        Read,
        version_evidence,
    )),
    query::<DocumentQuery>(route(
        Method::GET,
        "/v1/applications/{app}/versions/{version}/document",
        Read,
        |gh, r| {
            let q: DocumentQuery = r.query()?;
            ok(json!(gh.gate_call(p(r, 0), p(r, 1), &q.gate)?))
        },
    )),
    query::<ActivityQuery>(route(Method::GET, "/v1/activity", Read, activity)),
    route(Method::GET, "/v1/activity/verify", Read, |gh, _| {
        ok(json!(gh.verify_chain()?))
    }),
    route(Method::GET, "/v1/lifecycles", Read, |gh, _| {
        ok(json!(List {
            items: gh.lifecycles()?
        }))
    }),
    route(Method::GET, "/v1/lifecycles/{name}", Read, |gh, r| {
        ok(json!(gh.lifecycle(p(r, 0))?))
    }),
    route(Method::PUT, "/v1/lifecycles/{name}", Administer, put_lifecycle),
    route(Method::GET, "/v1/trusted-keys", Read, |gh, _| {
        ok(json!(List {
            items: gh.trusted_keys()?
        }))
    }),
    route(Method::POST, "/v1/trusted-keys", Administer, trust_key),
    route(Method::GET, "/v1/trusted-keys/{keyid}", Read, |gh, r| {
        ok(json!(gh.trusted_key(p(r, 0))?))
    }),
    route(Method::POST, "/v1/trusted-keys/{keyid}/revoke", Administer, revoke_key),
    route(Method::GET, "/v1/trusted-roots", Read, |gh, _| {
        ok(json!(List {
            items: gh.trusted_roots()?
        }))
    }),
    query::<TrustedRootQuery>(route(
        Method::POST,
        "/v1/trusted-roots",
        Administer,
        import_trusted_root,
    )),
    upload(query::<IngestQuery>(route(
        Method::POST,
        "/v1/evidence",
        Develop,
        add_evidence,
    ))),
    route(Method::GET, "/v1/plugins", Read, |gh, _| {
        ok(json!(List { items: gh.plugins() }))
    }),
    route(Method::GET, "/v1/plugins/{name}", Read, |gh, r| {
        ok(json!(gh.plugin(p(r, 0))?))
    }),
    route(
        Method::POST,
        "/v1/applications/{app}/versions/{version}/collect",
        Develop,
        |gh, r| {
            let req: crate::service::CollectRequest = parse_json_bytes("collect request", r.body)?;
            ok(json!(gh.collect(r.actor, p(r, 0), p(r, 1), req)?))
        },
    ),
    route(Method::GET, "/v1/evidence/{digest}", Read, |gh, r| {
        ok(json!(gh.evidence(p(r, 0))?))
    }),
    route(Method::GET, "/v1/tokens", Administer, |gh, _| {
        ok(json!(List { items: gh.tokens()? }))
    }),
    route(Method::POST, "/v1/tokens", Administer, create_token),
    route(Method::POST, "/v1/tokens/{id}/revoke", Administer, |gh, r| {
        ok(json!(gh.revoke_token(r.actor, p(r, 0))?))
    }),
    route(Method::GET, "/v1/policies", Read, |gh, _| {
        let items: Vec<PolicySummary> = gh.policies().iter().map(PolicySummary::from).collect();
        ok(json!(List { items }))
    }),
    route(Method::GET, "/v1/policies/{name}", Read, |gh, r| {
        ok(json!(gh.policy(p(r, 0))?))
    }),
    upload(route(Method::PUT, "/v1/policies/{name}", Administer, |gh, r| {
        let upload = parse_json_bytes("policy upload", r.body)?;
        ok(json!(gh.upload_policy(r.actor, p(r, 0), upload)?))
    })),
    route(Method::GET, "/v1/bindings", Read, |gh, _| {
        ok(json!(List {
            items: gh.all_bindings()?
        }))
    }),
    route(Method::PUT, "/v1/bindings/{id}", Administer, |gh, r| {
        let spec: BindingSpec = parse_json_bytes("binding", r.body)?;
        ok(json!(gh.put_binding(r.actor, p(r, 0), spec)?))
    }),
    route(Method::DELETE, "/v1/bindings/{id}", Administer, |gh, r| {
        gh.delete_binding(r.actor, p(r, 0))?;
        ok(json!(Deleted { deleted: p(r, 0) }))
    }),
    route(Method::GET, "/v1/applications/{app}/gate-plan", Read, |gh, r| {
        ok(json!(gh.application_gate_plan(p(r, 0))?))
    }),
    query::<GatePlanQuery>(route(
        Method::GET,
        "/v1/applications/{app}/versions/{version}/gate-plan",
        Read,
        |gh, r| {
            let q: GatePlanQuery = r.query()?;
            ok(json!(gh.gate_plan(p(r, 0), p(r, 1), &q.target_stage)?))
        },
    )),
    route(
        Method::GET,
        "/v1/applications/{app}/versions/{version}/evaluations",
        Read,
        |gh, r| {
            ok(json!(List {
                items: gh.gate_evaluations(p(r, 0), p(r, 1))?
            }))
        },
    ),
    query::<WaiversQuery>(route(Method::GET, "/v1/waivers", Read, |gh, r| {
        let q: WaiversQuery = r.query()?;
        ok(json!(List {
            items: gh.waivers(q.application.as_deref(), q.version.as_deref())?
        }))
    })),
    route(Method::POST, "/v1/waivers", Develop, |gh, r| {
        let req: WaiverRequest = parse_json_bytes("waiver request", r.body)?;
        created(json!(gh.request_waiver(r.actor, req)?))
    }),
    route(Method::GET, "/v1/waivers/{id}", Read, |gh, r| {
        ok(json!(gh.waiver(p(r, 0))?))
    }),
    route(Method::POST, "/v1/waivers/{id}/approve", Approve, |gh, r| {
        let d: WaiverDecision = body_or_default("decision", r.body)?;
        ok(json!(gh.decide_waiver(r.actor, p(r, 0), true, d.note)?))
    }),
    route(Method::POST, "/v1/waivers/{id}/reject", Approve, |gh, r| {
        let d: WaiverDecision = body_or_default("decision", r.body)?;
        ok(json!(gh.decide_waiver(r.actor, p(r, 0), false, d.note)?))
    }),
    route(
        Method::GET,
        "/v1/applications/{app}/versions/{version}/trusted-release",
        Read,
        |gh, r| ok(gh.trusted_release(p(r, 0), p(r, 1))?.0),
    ),
    query::<VsaQuery>(route(
        Method::GET,
        "/v1/applications/{app}/versions/{version}/vsa",
        Read,
        |gh, r| {
            let q: VsaQuery = r.query()?;
            ok(gh.vsa(p(r, 0), p(r, 1), q.include_withdrawn.unwrap_or(false))?)
        },
    )),
    route(
        Method::GET,
        "/v1/applications/{app}/versions/{version}/withdrawal",
        Read,
        |gh, r| ok(gh.withdrawal(p(r, 0), p(r, 1))?),
    ),
    upload(query::<SbomQuery>(route(
        Method::POST,
        "/v1/applications/{app}/versions/{version}/sboms",
        Develop,
        |gh, r| {
            let q: SbomQuery = r.query()?;
            let source = q.source.unwrap_or_else(|| "upload".to_string());
            created(json!(gh.attach_sbom(r.actor, p(r, 0), p(r, 1), &source, r.body)?))
        },
    ))),
    route(
        Method::GET,
        "/v1/applications/{app}/versions/{version}/components",
        Read,
        |gh, r| {
            ok(json!(List {
                items: gh.components(p(r, 0), p(r, 1))?
            }))
        },
    ),
    route(
        Method::GET,
        "/v1/applications/{app}/versions/{version}/findings",
        Read,
        |gh, r| {
            ok(json!(List {
                items: gh.findings(p(r, 0), p(r, 1))?
            }))
        },
    ),
    upload(route(Method::POST, "/v1/advisories", Administer, |gh, r| {
        ok(json!(gh.import_advisories(r.actor, advisory_documents(r.body)?)?))
    })),
    route(Method::GET, "/v1/vulnerabilities/{id}/blast-radius", Read, |gh, r| {
        ok(json!(gh.blast_radius(p(r, 0))?))
    }),
    route(Method::GET, "/v1/keys", Public, |gh, _| {
        ok(json!(List {
            items: gh.public_keys()?
        }))
    }),
    route(Method::GET, "/v1/activity/checkpoints", Read, |gh, _| {
        ok(json!(List {
            items: gh.checkpoints()?
        }))
    }),
    route(Method::POST, "/v1/activity/checkpoints", Administer, |gh, r| {
        created(json!(gh.checkpoint(r.actor)?))
    }),
    route(Method::POST, "/v1/waivers/{id}/revoke", Approve, |gh, r| {
        ok(json!(gh.revoke_waiver(r.actor, p(r, 0))?))
    }),
];

/// One OSV document, a JSON array of them, or JSON Lines.
fn advisory_documents(body: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Malformed {
            what: "advisories".into(),
            detail: "the body is empty; expected an OSV advisory, a JSON array of them, or JSON Lines".into(),
        });
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => Ok(items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("body[{i}]"), v.to_string().into_bytes()))
            .collect()),
        Ok(_) => Ok(vec![("body".to_string(), body.to_vec())]),
        Err(_) => {
            let text = std::str::from_utf8(body).map_err(|_| Error::Malformed {
                what: "advisories".into(),
                detail: "neither JSON nor UTF-8 JSON Lines".into(),
            })?;
            Ok(text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| (format!("line {}", i + 1), l.as_bytes().to_vec()))
                .collect())
        }
    }
}

/// A route matched against a request path, with its parameters.
pub struct Matched {
    pub route: &'static Route,
    pub params: Vec<String>,
}

/// Find the route for a method and path: 404 when no template matches the
/// path, 405 (naming the allowed methods) when only the method is wrong.
pub fn find(method: &Method, path: &str) -> Result<Matched> {
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect::<Result<_>>()?;
    let mut allowed = Vec::new();
    for route in ROUTES {
        let Some(params) = match_template(route.path, &segments) else {
            continue;
        };
        if route.method == method {
            return Ok(Matched { route, params });
        }
        allowed.push(route.method.as_str());
    }
    if allowed.is_empty() {
        Err(Error::NoRoute { path: path.to_string() })
    } else {
        Err(Error::MethodNotAllowed {
            allowed: allowed.join(", "),
        })
    }
}

fn match_template(template: &str, segments: &[String]) -> Option<Vec<String>> {
    let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, seg) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            if seg.is_empty() {
                return None;
            }
            params.push(seg.clone());
        } else if part != seg {
            return None;
        }
    }
    Some(params)
}

/// Run a matched route for an authorised principal.
pub fn dispatch(gh: &Gatehouse, matched: &Matched, call: &Call, principal: &Principal) -> Reply {
    let req = Req {
        params: &matched.params,
        query: super::checked_query(&call.query, matched.route.query.is_some())?,
        body: &call.body,
        actor: &principal.name,
    };
    (matched.route.handler)(gh, &req)
}

/// Run a call in-process with full rights (the local CLI: whoever can open
/// the data directory already holds everything in it).
pub fn call_local(gh: &Gatehouse, call: &Call, actor: &str) -> Reply {
    let matched = find(&call.method, &call.path)?;
    let principal = Principal {
        name: actor.to_string(),
        role: Role::Admin,
    };
    dispatch(gh, &matched, call, &principal)
}

fn ok(v: Value) -> Reply {
    Ok((StatusCode::OK, Body::Json(v)))
}

fn created(v: Value) -> Reply {
    Ok((StatusCode::CREATED, Body::Json(v)))
}

/// Path parameter `i` (the table guarantees how many there are).
fn p<'a>(r: &'a Req<'_>, i: usize) -> &'a str {
    r.params.get(i).map_or("", String::as_str)
}

fn body_or_default<T: serde::de::DeserializeOwned + Default>(what: &str, body: &[u8]) -> Result<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json_bytes(what, body)
    }
}

/// A page of a listing and the cursor for the next, when this page was full.
fn page<T, C>(items: Vec<T>, limit: usize, last: impl Fn(&T) -> C) -> Page<T, C> {
    let limit = if limit == 0 { 100 } else { limit };
    let next = if items.len() >= limit {
        items.last().map(last)
    } else {
        None
    };
    Page { items, next }
}

/// `GET /healthz` and `/readyz`.
#[derive(Serialize, JsonSchema)]
pub struct Status {
    pub status: &'static str,
}

/// What a `DELETE` removed.
#[derive(Serialize, JsonSchema)]
pub struct Deleted<'a> {
    pub deleted: &'a str,
}

/// A whole listing.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "{T}List")]
pub struct List<T> {
    pub items: Vec<T>,
}

/// One page of a listing; `next` is the cursor for the following page
/// (`after=`), null when this page is the last.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "{T}Page")]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

/// What `POST /v1/evidence` did with each envelope (200 when every one was
/// accepted, 422 otherwise).
#[derive(Serialize, JsonSchema)]
pub struct IngestReport {
    pub items: Vec<crate::service::IngestOutcome>,
    pub accepted: usize,
    pub refused: usize,
}

fn readyz(gh: &Gatehouse, _: &Req<'_>) -> Reply {
    match gh.ready() {
        Ok(()) => ok(json!(Status { status: "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Ok((
                StatusCode::SERVICE_UNAVAILABLE,
                Body::Json(json!(Status { status: "unavailable" })),
            ))
        }
    }
}

/// The page-size parameter: 1 to 1000 (`service::MAX_PAGE`), 100 when absent.
const LIMIT: (usize, usize) = (1, 1000);

/// `GET /v1/applications`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ApplicationsQuery {
    project: Option<String>,
    criticality: Option<Criticality>,
    maturity: Option<Maturity>,
    /// A user or group among the owners.
    owner: Option<String>,
    /// `KEY` or `KEY=VALUE`.
    label: Option<String>,
    /// Cursor: the last key of the previous page.
    after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[schemars(range(min = LIMIT.0, max = LIMIT.1))]
    limit: Option<usize>,
}

/// `GET …/versions`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VersionsQuery {
    /// A stage name.
    stage: Option<String>,
    release_status: Option<ReleaseStatus>,
    /// Cursor from the previous page.
    after: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    #[schemars(range(min = LIMIT.0, max = LIMIT.1))]
    limit: Option<usize>,
}

/// A listing paged by sequence number.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    /// Cursor: the last seq of the previous page.
    after: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    #[schemars(range(min = LIMIT.0, max = LIMIT.1))]
    limit: Option<usize>,
}

/// `GET …/document`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DocumentQuery {
    /// `STAGE` (its entry gate), `STAGE/entry`, `STAGE/exit` or `STAGE/release`.
    gate: String,
}

/// `GET …/evidence`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EvidenceQuery {
    predicate_type: Option<String>,
    /// A key id.
    signer: Option<String>,
    verified: Option<bool>,
    /// RFC 3339.
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    since: Option<String>,
    /// RFC 3339.
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    until: Option<String>,
}

/// `GET /v1/activity`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ActivityQuery {
    application: Option<String>,
    version: Option<String>,
    action: Option<String>,
    actor: Option<String>,
    result: Option<EventResult>,
    /// RFC 3339, inclusive.
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    since: Option<String>,
    /// RFC 3339, exclusive.
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    until: Option<String>,
    /// Cursor: the last seq of the previous page.
    after: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    #[schemars(range(min = LIMIT.0, max = LIMIT.1))]
    limit: Option<usize>,
}

/// `POST /v1/evidence`: bind to this version (both given), or to every
/// version whose artifacts a subject names (neither).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IngestQuery {
    application: Option<String>,
    version: Option<String>,
    /// How many trusted keys must have signed (default 1).
    #[schemars(range(min = 1, max = 16))]
    threshold: Option<usize>,
}

/// `POST /v1/trusted-roots`: the body is the `trusted_root.json`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TrustedRootQuery {
    /// The operator's name for the root (e.g. `public-good`); importing a
    /// name again replaces that root.
    name: String,
}

/// `GET …/gate-plan`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GatePlanQuery {
    /// A stage, or `release`.
    target_stage: String,
}

/// `GET /v1/waivers`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WaiversQuery {
    application: Option<String>,
    version: Option<String>,
}

/// `GET …/vsa`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VsaQuery {
    /// Serve the original VSA even when the release was withdrawn.
    include_withdrawn: Option<bool>,
}

/// `POST …/sboms`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SbomQuery {
    /// A name for the SBOM in the log (default `upload`).
    source: Option<String>,
}

/// A page size: absent is the default, 0 is refused.
fn limit(limit: Option<usize>) -> Result<usize> {
    match limit {
        None => Ok(0),
        Some(0) => Err(Error::invalid("limit", 0, "a positive integer")),
        Some(n) => Ok(n),
    }
}

fn since_until(since: Option<String>, until: Option<String>) -> Result<(Option<String>, Option<String>)> {
    Ok((
        since.map(|t| crate::time::parse("since", &t)).transpose()?,
        until.map(|t| crate::time::parse("until", &t)).transpose()?,
    ))
}

fn openapi(_: &Gatehouse, _: &Req<'_>) -> Reply {
    Ok((
        StatusCode::OK,
        Body::Text(super::openapi::served().to_string(), "application/json"),
    ))
}

fn list_applications(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let q: ApplicationsQuery = r.query()?;
    let filter = AppFilter {
        project: q.project,
        criticality: q.criticality,
        maturity: q.maturity,
        owner: q.owner,
        label: q.label.map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (l, None),
        }),
        after: q.after,
        limit: limit(q.limit)?,
    };
    let apps = gh.applications(filter.clone())?;
    ok(json!(page(apps, filter.limit, |a| a.key.clone())))
}

fn create_application(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let input: NewApplication = parse_json_bytes("application", r.body)?;
    created(json!(gh.create_application(r.actor, input)?))
}

fn update_application(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let patch: ApplicationPatch = parse_json_bytes("application patch", r.body)?;
    ok(json!(gh.update_application(r.actor, p(r, 0), patch)?))
}

fn list_versions(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let q: VersionsQuery = r.query()?;
    let filter = VersionFilter {
        stage: q.stage,
        release_status: q.release_status,
        limit: limit(q.limit)?,
        after: q.after,
    };
    let rows = gh.versions(p(r, 0), filter.clone())?;
    let Page { items, next } = page(rows, filter.limit, |(id, _)| *id);
    let items: Vec<_> = items.into_iter().map(|(_, v)| v).collect();
    ok(json!(Page { items, next }))
}

fn create_version(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let input: NewVersion = parse_json_bytes("version", r.body)?;
    created(json!(gh.create_version(r.actor, p(r, 0), input)?))
}

fn update_version(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let patch: VersionPatch = parse_json_bytes("version patch", r.body)?;
    ok(json!(gh.update_version(r.actor, p(r, 0), p(r, 1), patch)?))
}

/// A transition's answer: 200 with the outcome, or — for a real one the
/// gates blocked (recorded already) — 409 `blocked` with every verdict. A
/// dry run that would block is a 200 that says so.
fn transition_answer(o: crate::service::TransitionOutcome) -> Reply {
    if !o.allowed && !o.dry_run {
        return Err(crate::gate::blocked(&o.gates));
    }
    ok(json!(o))
}

fn promote(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let req: PromoteRequest = parse_json_bytes("promotion request", r.body)?;
    transition_answer(gh.promote(r.actor, p(r, 0), p(r, 1), req)?)
}

fn release(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let req: ReleaseRequest = body_or_default("release request", r.body)?;
    transition_answer(gh.release(r.actor, p(r, 0), p(r, 1), req)?)
}

fn rollback(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let req: RollbackRequest = parse_json_bytes("rollback request", r.body)?;
    transition_answer(gh.rollback(r.actor, p(r, 0), p(r, 1), req)?)
}

fn timeline(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let q: PageQuery = r.query()?;
    let limit = limit(q.limit)?;
    let events = gh.timeline(p(r, 0), p(r, 1), q.after, limit)?;
    ok(json!(page(events, limit, |e| e.seq)))
}

fn version_evidence(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let q: EvidenceQuery = r.query()?;
    let (since, until) = since_until(q.since, q.until)?;
    let filter = EvidenceFilter {
        predicate_type: q.predicate_type,
        signer: q.signer,
        verified: q.verified,
        since,
        until,
    };
    ok(json!(List {
        items: gh.version_evidence(p(r, 0), p(r, 1), &filter)?
    }))
}

fn activity(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let q: ActivityQuery = r.query()?;
    let (since, until) = since_until(q.since, q.until)?;
    let filter = EventFilter {
        application: q.application,
        version: q.version,
        action: q.action,
        actor: q.actor,
        result: q.result,
        since,
        until,
        after_seq: q.after,
        limit: limit(q.limit)?,
    };
    let events = gh.activity(filter.clone())?;
    ok(json!(page(events, filter.limit, |e| e.seq)))
}

fn put_lifecycle(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let spec: LifecycleSpec = parse_json_bytes("lifecycle", r.body)?;
    ok(json!(gh.put_lifecycle(r.actor, p(r, 0), spec)?))
}

fn import_trusted_root(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let q: TrustedRootQuery = r.query()?;
    created(json!(gh.import_trusted_root(r.actor, &q.name, r.body)?))
}

fn trust_key(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let input: NewTrustedKey = parse_json_bytes("trusted key", r.body)?;
    created(json!(gh.trust_key(r.actor, input)?))
}

/// Why a key is revoked.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Revocation")]
pub struct RevokeRequest {
    reason: Option<String>,
}

fn revoke_key(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let req: RevokeRequest = body_or_default("revocation", r.body)?;
    ok(json!(gh.revoke_key(r.actor, p(r, 0), req.reason)?))
}

fn add_evidence(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let q: IngestQuery = r.query()?;
    let target = match (q.application, q.version) {
        (Some(application), Some(version)) => Target::Version { application, version },
        (None, None) => Target::BySubject,
        _ => {
            return Err(Error::invalid(
                "application",
                "(only one of application/version)",
                "both application and version, or neither",
            ));
        }
    };
    let threshold = q.threshold.unwrap_or(1);
    let items = gh.add_evidence(r.actor, r.body, &target, threshold)?;
    let accepted = items.iter().filter(|i| i.accepted()).count();
    let status = if accepted == items.len() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let refused = items.len() - accepted;
    Ok((
        status,
        Body::Json(json!(IngestReport {
            items,
            accepted,
            refused
        })),
    ))
}

/// A token to create.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[schemars(length(max = 128), regex(pattern = crate::schema::NAME))]
    name: String,
    #[schemars(with = "Role")]
    role: String,
    /// RFC 3339, in the future.
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    expires_at: Option<String>,
}

fn create_token(gh: &Gatehouse, r: &Req<'_>) -> Reply {
    let input: NewToken = parse_json_bytes("token", r.body)?;
    let role = Role::parse("role", &input.role)?;
    created(json!(gh.create_token(
        r.actor,
        &input.name,
        role,
        input.expires_at.as_deref()
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_segments() {
        let m = find(&Method::GET, "/v1/applications/pay/versions/1.0.0%2Bb1").unwrap();
        assert_eq!(m.route.path, "/v1/applications/{app}/versions/{version}");
        assert_eq!(m.params, ["pay", "1.0.0+b1"]);
        assert!(matches!(
            find(&Method::GET, "/v1/applications/pay/extra/x/y/z/w"),
            Err(Error::NoRoute { .. })
        ));
        match find(&Method::DELETE, "/v1/applications") {
            Err(Error::MethodNotAllowed { allowed }) => assert_eq!(allowed, "GET, POST"),
            _ => panic!("expected 405"),
        }
        assert!(find(&Method::GET, "/v1/activity/verify").unwrap().params.is_empty());
    }

    #[test]
    fn an_advisory_upload_without_a_body_is_malformed() {
        for body in [&b""[..], b"  \n"] {
            match advisory_documents(body) {
                Err(e @ Error::Malformed { .. }) => assert!(e.to_string().contains("the body is empty"), "{e}"),
                other => panic!("expected malformed, got {other:?}"),
            }
        }
        assert_eq!(advisory_documents(b"{}\n{}").unwrap().len(), 2);
    }
}
