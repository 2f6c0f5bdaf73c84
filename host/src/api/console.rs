//! The web console at `/ui/`: server-rendered HTML over the same routes,
//! tokens and roles as the API (docs/console.md). Every page is built from
//! in-process calls of the API's own handlers, each checked against the
//! signed-in token's role exactly as an HTTP call would be, so the console
//! can never do what its user could not do with `curl`.
//!
//! Sessions: signing in with a token sets it as an HttpOnly, SameSite=Strict
//! cookie scoped to `/ui`; every state-changing form carries a CSRF token
//! derived from it. Answers carry a strict Content-Security-Policy (no script
//! at all, styles from `/ui/static/` only) and are never cached.

#![allow(
    clippy::indexing_slicing,
    reason = "serde_json's `value[\"key\"]` answers Null for a missing key or a non-object; it never panics"
)]

mod pages;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, HeaderValue, LOCATION, SET_COOKIE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Body, Call, Shared, intake, routes};
use crate::access::{Permission, Principal};
use crate::error::{Error, Result};
use crate::service::Gatehouse;

const COOKIE_NAME: &str = "gatehouse_session";
const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const STYLESHEET: &str = include_str!("console/console.css");
const ICON: &str = include_str!("console/favicon.svg");

/// What a console page answers: HTML, a redirect (after a form), or a
/// JSON file to save (a record, for `gatehouse verify`).
enum Page {
    Html(StatusCode, String),
    Redirect(String),
    Download { name: String, body: String },
}

/// Whether a path is the console's.
pub fn owns(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// Answer one console request: sign-in and static files without a session,
/// everything else with one (or a redirect to sign in).
pub(super) async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let asset = match path.as_str() {
        "/ui/static/console.css" => Some((STYLESHEET, "text/css; charset=utf-8")),
        "/ui/static/favicon.svg" => Some((ICON, "image/svg+xml")),
        _ => None,
    };
    if let Some((body, kind)) = asset {
        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(kind));
        secure(&mut r);
        return r;
    }
    let token = session_token(parts.headers.get_all(COOKIE).iter());
    // Behind a TLS-terminating proxy that says so, the cookie is sent over
    // HTTPS only. (A client that claims it over plain HTTP only makes its own
    // cookie stricter.)
    let https = parts
        .headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let form = if parts.method == Method::POST {
        match intake::read_body(
            body,
            declared,
            shared.opts.body_limit,
            &shared.budget,
            shared.opts.body_read_timeout,
        )
        .await
        {
            Ok(b) => b.bytes.clone(),
            Err(e) => {
                return respond(
                    Page::Html(StatusCode::BAD_REQUEST, pages::error(None, &e.to_string())),
                    None,
                );
            }
        }
    } else {
        Bytes::new()
    };
    let gh = shared.gh.clone();
    let method = parts.method.clone();
    let limit = shared.opts.request_timeout;
    let started = std::time::Instant::now();
    let work = tokio::task::spawn_blocking(move || {
        let _deadline = crate::deadline::set(started, limit);
        page(&gh, &method, &path, &query, token.as_deref(), &form)
    });
    match tokio::time::timeout(limit, work).await {
        Ok(Ok((page, cookie))) => respond(page, cookie.map(|c| if https { c + "; Secure" } else { c })),
        _ => respond(
            Page::Html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::error(None, "the page took too long; try again"),
            ),
            None,
        ),
    }
}

/// One GET of a console page in-process, signed in with `token`, as the
/// sidecar answers it (without HTTP): the status and the HTML (or the
/// redirect's target). What the console benchmark measures.
pub fn render(gh: &Gatehouse, path_and_query: &str, token: &str) -> (u16, String) {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    match page(gh, &Method::GET, path, query, Some(token), &[]).0 {
        Page::Html(status, html) => (status.as_u16(), html),
        Page::Redirect(to) => (StatusCode::SEE_OTHER.as_u16(), to),
        Page::Download { body, .. } => (StatusCode::OK.as_u16(), body),
    }
}

/// A Set-Cookie header value to send with the answer.
type SetCookie = Option<String>;

/// The page for one request (on the blocking pool).
fn page(
    gh: &Gatehouse,
    method: &Method,
    path: &str,
    query: &str,
    token: Option<&str>,
    form: &[u8],
) -> (Page, SetCookie) {
    let form: Vec<(String, String)> = form_urlencoded::parse(form).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if path == "/ui/login" {
        return if *method == Method::POST {
            sign_in(gh, field("token").unwrap_or(""))
        } else {
            (Page::Html(StatusCode::OK, pages::login(None)), None)
        };
    }
    let Some(token) = token else {
        return (Page::Redirect("/ui/login".into()), None);
    };
    let who = match authenticate(gh, token) {
        Ok(p) => p,
        // A revoked or expired token ends the session.
        Err(e) => {
            return (
                Page::Html(StatusCode::UNAUTHORIZED, pages::login(Some(&e.to_string()))),
                Some(clear_cookie()),
            );
        }
    };
    let session = pages::Session {
        name: who.name.clone(),
        role: who.role.as_str().to_string(),
        csrf: csrf_token(token),
    };
    if *method == Method::POST && field("csrf").is_none_or(|c| !same(c, &session.csrf)) {
        return (
            Page::Html(
                StatusCode::FORBIDDEN,
                pages::error(
                    Some(&session),
                    "the form's CSRF token is missing or wrong; reload the page and try again",
                ),
            ),
            None,
        );
    }
    let segments: Vec<String> = match path
        .trim_start_matches("/ui")
        .trim_matches('/')
        .split('/')
        .map(super::percent_decode)
        .collect::<Result<_>>()
    {
        Ok(s) => s,
        Err(e) => {
            return (
                Page::Html(StatusCode::BAD_REQUEST, pages::error(Some(&session), &e.to_string())),
                None,
            );
        }
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let result = match (method.as_str(), segments.as_slice()) {
        ("POST", ["logout"]) => return (Page::Redirect("/ui/login".into()), Some(clear_cookie())),
        ("GET", [""]) => applications(gh, &who, &session, query),
        ("GET", ["applications", app, "versions", version]) => version_page(gh, &who, &session, app, version, query),
        ("GET", ["applications", app, "gate-plan"]) => api(
            gh,
            &who,
            Method::GET,
            &format!("/v1/applications/{}/gate-plan", super::seg(app)),
            "",
        )
        .map(|plan| Page::Html(StatusCode::OK, pages::application_plan(&session, &plan))),
        ("GET", ["gate-plan"]) => {
            let app = form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "application")
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default();
            Ok(Page::Redirect(format!(
                "/ui/applications/{}/gate-plan",
                super::seg(&app)
            )))
        }
        (
            "POST",
            [
                "applications",
                app,
                "versions",
                version,
                action @ ("promote" | "release"),
            ],
        ) => transition(gh, &who, app, version, action, field("target_stage")),
        ("GET", ["applications", app, "versions", version, "record"]) => record_page(gh, &who, &session, app, version),
        ("GET", ["applications", app, "versions", version, "record.json"]) => {
            let base = format!("/v1/applications/{}/versions/{}", super::seg(app), super::seg(version));
            api(gh, &who, Method::GET, &format!("{base}/trusted-release"), "").map(|record| Page::Download {
                name: format!("{}-{}.trusted-release.json", file_safe(app), file_safe(version)),
                body: record.to_string(),
            })
        }
        ("POST", ["applications", app, "versions", version, "waivers"]) => {
            request_waiver(gh, &who, app, version, &field)
        }
        ("GET", ["waivers"]) => waivers_page(gh, &who, &session),
        ("GET", ["vulnerabilities"]) => vulnerabilities_page(gh, &who, &session, query),
        ("GET", ["policies"]) => policies_page(gh, &who, &session),
        ("GET", ["policies", name]) => api(gh, &who, Method::GET, &format!("/v1/policies/{}", super::seg(name)), "")
            .map(|p| Page::Html(StatusCode::OK, pages::policy(&session, &p))),
        ("GET", ["activity"]) => activity_page(gh, &who, &session, query),
        ("POST", ["waivers", id, decision @ ("approve" | "reject")]) => {
            let body = serde_json::json!({ "note": field("note").filter(|n| !n.trim().is_empty()) });
            api_with(
                gh,
                &who,
                Method::POST,
                &format!("/v1/waivers/{}/{decision}", super::seg(id)),
                "",
                Some(&body),
            )
            .map(|_| Page::Redirect("/ui/waivers".into()))
        }
        _ => Err(Error::NotFound {
            kind: "console page",
            id: path.to_string(),
        }),
    };
    match result {
        Ok(p) => (p, None),
        Err(e) => {
            let status = StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = if e.kind() == crate::error::Kind::Internal {
                tracing::error!(error = %e.chain(), "console page failed");
                "internal error; see the server log".to_string()
            } else {
                e.to_string()
            };
            (Page::Html(status, pages::error(Some(&session), &message)), None)
        }
    }
}

fn sign_in(gh: &Gatehouse, token: &str) -> (Page, SetCookie) {
    let token = token.trim();
    if !cookie_safe(token) {
        return (
            Page::Html(
                StatusCode::UNAUTHORIZED,
                pages::login(Some("that is not a Gatehouse token")),
            ),
            None,
        );
    }
    match authenticate(gh, token) {
        Ok(_) => (
            Page::Redirect("/ui/".into()),
            Some(format!("{COOKIE_NAME}={token}; Path=/ui; HttpOnly; SameSite=Strict")),
        ),
        Err(e) => (
            Page::Html(StatusCode::UNAUTHORIZED, pages::login(Some(&e.to_string()))),
            None,
        ),
    }
}

fn authenticate(gh: &Gatehouse, token: &str) -> Result<Principal> {
    gh.authenticate(Some(&format!("Bearer {token}")))
}

fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session cookie's token, if one is sent (and could be a token at all).
fn session_token<'a>(headers: impl Iterator<Item = &'a HeaderValue>) -> Option<String> {
    headers
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.to_string())
        .filter(|v| cookie_safe(v))
}

/// Tokens are `gh_…` in ASCII letters, digits and `_`: nothing else goes into a cookie.
fn cookie_safe(token: &str) -> bool {
    !token.is_empty() && token.len() <= 256 && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The CSRF token of a session: unguessable without the session's token.
pub(crate) fn csrf_token(token: &str) -> String {
    hex::encode(Sha256::digest(format!("gatehouse-console-csrf\0{token}").as_bytes()))
}

/// Equal in constant time (for equal lengths).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One API call in-process, held to the signed-in token's role as over HTTP.
fn api(gh: &Gatehouse, who: &Principal, method: Method, path: &str, query: &str) -> Result<Value> {
    api_with(gh, who, method, path, query, None)
}

/// [`api`] with a JSON body (the forms that change state).
fn api_with(
    gh: &Gatehouse,
    who: &Principal,
    method: Method,
    path: &str,
    query: &str,
    body: Option<&Value>,
) -> Result<Value> {
    let matched = routes::find(&method, path)?;
    let needed = matched.route.permission;
    if needed != Permission::Public && !crate::access::allows(who.role, needed) {
        return Err(Error::Forbidden {
            reason: format!(
                "token {:?} has role {}; this needs role {} (or admin)",
                who.name,
                who.role.as_str(),
                needed.role().map_or("any", crate::access::Role::as_str)
            ),
        });
    }
    let call = Call {
        method,
        path: path.to_string(),
        query: query.to_string(),
        body: body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())),
    };
    match routes::dispatch(gh, &matched, &call, who)? {
        (_, Body::Json(v)) => Ok(v),
        (_, Body::Text(t, _)) => Ok(Value::String(t)),
    }
}

/// Applications on one page of the console (each with all its versions).
const APPLICATIONS_PER_PAGE: usize = 100;
/// Activity events on one page of the console.
const EVENTS_PER_PAGE: usize = 200;

/// The page cursor a "Next page" link carries (the API's `next`).
fn after(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, v)| k == "after" && !v.is_empty())
        .map(|(_, v)| v.into_owned())
}

fn items(v: Value) -> Vec<Value> {
    match v.get("items") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    }
}

/// The applications page: filtered as `GET /v1/applications` filters, each
/// application's versions laid out by its lifecycle's stages.
fn applications(gh: &Gatehouse, who: &Principal, session: &pages::Session, query: &str) -> Result<Page> {
    let filters: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter(|(k, v)| ["project", "criticality", "owner", "label"].contains(&k.as_str()) && !v.is_empty())
        .collect();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(filters.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .extend_pairs(after(query).map(|a| ("after", a)))
        .append_pair("limit", &APPLICATIONS_PER_PAGE.to_string())
        .finish();
    let answer = api(gh, who, Method::GET, "/v1/applications", &q)?;
    let next = answer["next"].as_str().map(str::to_string);
    let apps = items(answer);
    let mut lifecycles: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut rows = Vec::with_capacity(apps.len());
    for app in apps {
        let key = app["key"].as_str().unwrap_or_default().to_string();
        let versions = items(api(
            gh,
            who,
            Method::GET,
            &format!("/v1/applications/{}/versions", super::seg(&key)),
            "limit=1000",
        )?);
        for v in &versions {
            let lc = v["lifecycle"].as_str().unwrap_or("default").to_string();
            if let std::collections::btree_map::Entry::Vacant(slot) = lifecycles.entry(lc) {
                let path = format!("/v1/lifecycles/{}", super::seg(slot.key()));
                let stages = api(gh, who, Method::GET, &path, "")
                    .map(|l| pages::stage_names(&l))
                    .unwrap_or_default();
                slot.insert(stages);
            }
        }
        rows.push((app, versions));
    }
    Ok(Page::Html(
        StatusCode::OK,
        pages::applications(session, &filters, &rows, &lifecycles, next.as_deref()),
    ))
}

/// One version: the next move with its gate plan (and the button that makes
/// it), its gates with each check's outcome and remediation, its SBOM's
/// components and findings, its evidence with who vouches for it, its
/// waivers and its timeline.
fn version_page(
    gh: &Gatehouse,
    who: &Principal,
    session: &pages::Session,
    app: &str,
    version: &str,
    query: &str,
) -> Result<Page> {
    let base = format!("/v1/applications/{}/versions/{}", super::seg(app), super::seg(version));
    let v = api(gh, who, Method::GET, &base, "")?;
    let stages = api(
        gh,
        who,
        Method::GET,
        &format!(
            "/v1/lifecycles/{}",
            super::seg(v["lifecycle"].as_str().unwrap_or_default())
        ),
        "",
    )
    .map(|l| pages::stage_names(&l))
    .unwrap_or_default();
    let next = next_move(
        &stages,
        v["stage"].as_str(),
        v["release_status"].as_str().unwrap_or_default(),
    );
    // The plan of the next move, or why there is none (a lifecycle rule, say).
    let plan = next.as_ref().map(|m| {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("target_stage", m.target())
            .finish();
        api(gh, who, Method::GET, &format!("{base}/gate-plan"), &q).map_err(|e| e.to_string())
    });
    let evaluations = items(api(gh, who, Method::GET, &format!("{base}/evaluations"), "")?);
    let components = items(api(gh, who, Method::GET, &format!("{base}/components"), "")?);
    let findings = items(api(gh, who, Method::GET, &format!("{base}/findings"), "")?);
    let evidence = items(api(gh, who, Method::GET, &format!("{base}/evidence"), "")?);
    let timeline = items(api(gh, who, Method::GET, &format!("{base}/timeline"), "limit=1000")?);
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("application", app)
        .append_pair("version", version)
        .finish();
    let waivers = items(api(gh, who, Method::GET, "/v1/waivers", &q)?);
    let blocked = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "blocked")
        .map(|(_, v)| v.into_owned());
    let view = pages::VersionView {
        v: &v,
        next: next.as_ref().map(|m| (m, plan.as_ref())),
        blocked: blocked.as_deref(),
        evaluations: &evaluations,
        components: &components,
        findings: &findings,
        evidence: &evidence,
        waivers: &waivers,
        timeline: &timeline,
        may_request: crate::access::allows(who.role, Permission::Develop),
        may_move: crate::access::allows(who.role, Permission::Transition),
    };
    Ok(Page::Html(StatusCode::OK, pages::version(session, &view)))
}

/// A version's next move through its lifecycle, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Move {
    Promote(String),
    Release,
}

impl Move {
    /// What the gate plan and the form name: the stage, or `release`.
    pub(crate) fn target(&self) -> &str {
        match self {
            Move::Promote(stage) => stage,
            Move::Release => "release",
        }
    }
}

/// The next stage of the lifecycle, or the release from its last stage; none
/// once released (or when the version's stage is not of the lifecycle).
pub(crate) fn next_move(stages: &[String], stage: Option<&str>, release_status: &str) -> Option<Move> {
    if release_status != "pre_release" {
        return None;
    }
    let next = match stage {
        None => 0,
        Some(current) => stages.iter().position(|s| s == current)? + 1,
    };
    match stages.get(next) {
        Some(s) => Some(Move::Promote(s.clone())),
        None if !stages.is_empty() => Some(Move::Release),
        None => None,
    }
}

/// Promote or release from the version's page. The API judges the gates;
/// a blocked move comes back to the page, where the gates say why.
fn transition(
    gh: &Gatehouse,
    who: &Principal,
    app: &str,
    version: &str,
    action: &str,
    target: Option<&str>,
) -> Result<Page> {
    let base = format!("/v1/applications/{}/versions/{}", super::seg(app), super::seg(version));
    let body = if action == "promote" {
        serde_json::json!({ "target_stage": target.unwrap_or_default() })
    } else {
        serde_json::json!({})
    };
    let link = pages::version_link(app, version);
    match api_with(gh, who, Method::POST, &format!("{base}/{action}"), "", Some(&body)) {
        Ok(_) => Ok(Page::Redirect(link)),
        Err(e) if e.kind() == crate::error::Kind::Blocked => {
            let moved = if action == "promote" {
                target.unwrap_or_default()
            } else {
                "release"
            };
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair("blocked", moved)
                .finish();
            Ok(Page::Redirect(format!("{link}?{q}")))
        }
        Err(e) => Err(e),
    }
}

/// The Trusted Release record and the checks `gatehouse verify` makes of it,
/// against the release keys the server publishes (`GET /v1/keys`).
fn record_page(gh: &Gatehouse, who: &Principal, session: &pages::Session, app: &str, version: &str) -> Result<Page> {
    let base = format!("/v1/applications/{}/versions/{}", super::seg(app), super::seg(version));
    let v = api(gh, who, Method::GET, &base, "")?;
    let record = api(gh, who, Method::GET, &format!("{base}/trusted-release"), "")?;
    let keys = items(api(gh, who, Method::GET, "/v1/keys", "")?);
    let withdrawal = match api(gh, who, Method::GET, &format!("{base}/withdrawal"), "") {
        Ok(w) => Some(w),
        Err(e) if e.kind() == crate::error::Kind::NotFound => None,
        Err(e) => return Err(e),
    };
    let artifacts: Vec<(String, String)> = v["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["name"].as_str().unwrap_or_default().to_string(),
                a["sha256"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let report = verify_record(&record, &keys, &artifacts, app, version, withdrawal.as_ref());
    Ok(Page::Html(
        StatusCode::OK,
        pages::record(session, app, version, &record, &report),
    ))
}

/// One check of a record, as `gatehouse verify` makes it.
pub(crate) struct RecordCheck {
    pub name: &'static str,
    /// None: not reached (an earlier check failed).
    pub outcome: Option<std::result::Result<String, String>>,
}

/// What verifying a record found: each check, the pinned key, the summary.
pub(crate) struct RecordReport {
    pub checks: Vec<RecordCheck>,
    pub keyid: Option<String>,
    pub summary: Option<crate::release::Summary>,
}

impl RecordReport {
    pub(crate) fn verified(&self) -> bool {
        self.checks.iter().all(|c| matches!(c.outcome, Some(Ok(_))))
    }
}

/// The checks of `gatehouse verify RECORD --keyid K --keys KEYS --app A
/// --version V --artifact …` (with the server's withdrawal), each on its own
/// so the page says which one failed: the signature by a published release
/// key (and the record's predicate type), the version's artifacts as
/// subjects, the record being about this version, and no withdrawal.
pub(crate) fn verify_record(
    record: &Value,
    published: &[Value],
    artifacts: &[(String, String)],
    app: &str,
    version: &str,
    withdrawal: Option<&Value>,
) -> RecordReport {
    use crate::{keys, release};
    let refused = |r: crate::evidence::Refusal| format!("{}: {}", r.code.as_str(), r.reason);
    let mut checks = Vec::new();
    let keyid = record["signatures"][0]["keyid"].as_str().map(str::to_string);
    let key = published
        .iter()
        .find(|k| k["keyid"].as_str().is_some_and(|id| Some(id) == keyid.as_deref()))
        .and_then(|k| keys::parse_public_key("public_key_pem", k["public_key_pem"].as_str()?).ok());
    let bytes = record.to_string();
    let signed = match (&keyid, key) {
        (Some(id), Some(vk)) => {
            let ring = keys::KeyRing::single(&format!("key {id}"), vk);
            release::verify(bytes.as_bytes(), &ring, &[])
                .map(|s| (ring, s))
                .map_err(refused)
        }
        (Some(id), None) => Err(format!("unknown_key: no published release key has the key id {id}")),
        (None, _) => Err("malformed_envelope: the record has no signature with a key id".to_string()),
    };
    let (ring, summary) = match signed {
        Ok((ring, summary)) => {
            checks.push(RecordCheck {
                name: "Signed by a published release key, as a Trusted Release record",
                outcome: Some(Ok(format!("signed by {}", summary.signers.join(", ")))),
            });
            (ring, summary)
        }
        Err(why) => {
            checks.push(RecordCheck {
                name: "Signed by a published release key, as a Trusted Release record",
                outcome: Some(Err(why)),
            });
            for name in ARTIFACTS_ABOUT_WITHDRAWN {
                checks.push(RecordCheck { name, outcome: None });
            }
            return RecordReport {
                checks,
                keyid,
                summary: None,
            };
        }
    };
    let [artifacts_check, about_check, withdrawn_check] = ARTIFACTS_ABOUT_WITHDRAWN;
    checks.push(RecordCheck {
        name: artifacts_check,
        outcome: Some(
            release::verify(bytes.as_bytes(), &ring, artifacts)
                .map(|_| match artifacts.len() {
                    0 => "the version has no artifacts: the record's subject is the version itself".to_string(),
                    n => format!("{n} of {n} artifacts are subjects"),
                })
                .map_err(refused),
        ),
    });
    checks.push(RecordCheck {
        name: about_check,
        outcome: Some(
            release::expect_about(&summary, Some(app), Some(version))
                .map(|()| format!("{app}@{version}"))
                .map_err(refused),
        ),
    });
    checks.push(RecordCheck {
        name: withdrawn_check,
        outcome: Some(
            release::check_withdrawals(
                &summary,
                withdrawal.map(std::slice::from_ref).unwrap_or_default(),
                &ring,
            )
            .map(|()| "no signed withdrawal".to_string())
            .map_err(refused),
        ),
    });
    RecordReport {
        checks,
        keyid,
        summary: Some(summary),
    }
}

const ARTIFACTS_ABOUT_WITHDRAWN: [&str; 3] = [
    "Every artifact of the version is a subject",
    "About this application and version",
    "Not withdrawn",
];

/// A name fit for a download's file name.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A developer asks for a waiver from a blocked gate's page (the API judges
/// it: the gate and check must be of the version, the expiry in the future).
fn request_waiver<'a>(
    gh: &Gatehouse,
    who: &Principal,
    app: &str,
    version: &str,
    field: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Page> {
    let body = serde_json::json!({
        "application": app,
        "version": version,
        "gate": { "stage": field("gate_stage").unwrap_or(""), "kind": field("gate_kind").unwrap_or("") },
        "check": field("check").filter(|c| !c.is_empty()),
        "justification": field("justification").unwrap_or(""),
        "expires_at": field("expires_at").unwrap_or(""),
    });
    api_with(gh, who, Method::POST, "/v1/waivers", "", Some(&body))?;
    Ok(Page::Redirect(pages::version_link(app, version)))
}

/// Waivers: pending requests first, each with approve and reject forms for
/// an approver (the API holds the four-eyes rule: nobody decides their own).
fn waivers_page(gh: &Gatehouse, who: &Principal, session: &pages::Session) -> Result<Page> {
    let mut all = items(api(gh, who, Method::GET, "/v1/waivers", "")?);
    all.sort_by_key(|w| {
        (
            w["status"] != "requested",
            std::cmp::Reverse(w["requested_at"].as_str().map(str::to_string)),
        )
    });
    let may_decide = crate::access::allows(who.role, Permission::Approve);
    Ok(Page::Html(StatusCode::OK, pages::waivers(session, &all, may_decide)))
}

/// The blast radius of an advisory (or an alias): trusted releases first.
fn vulnerabilities_page(gh: &Gatehouse, who: &Principal, session: &pages::Session, query: &str) -> Result<Page> {
    let id = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let radius = match &id {
        Some(id) => Some(api(
            gh,
            who,
            Method::GET,
            &format!("/v1/vulnerabilities/{}/blast-radius", super::seg(id)),
            "",
        )?),
        None => None,
    };
    Ok(Page::Html(
        StatusCode::OK,
        pages::vulnerabilities(session, id.as_deref(), radius.as_ref()),
    ))
}

/// Every binding and every policy with its digest.
fn policies_page(gh: &Gatehouse, who: &Principal, session: &pages::Session) -> Result<Page> {
    let policies = items(api(gh, who, Method::GET, "/v1/policies", "")?);
    let bindings = items(api(gh, who, Method::GET, "/v1/bindings", "")?);
    Ok(Page::Html(
        StatusCode::OK,
        pages::policies(session, &policies, &bindings),
    ))
}

/// The activity log, filtered as `GET /v1/activity` filters, with the
/// chain's verification.
fn activity_page(gh: &Gatehouse, who: &Principal, session: &pages::Session, query: &str) -> Result<Page> {
    let filters: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter(|(k, v)| ["application", "version", "action", "actor", "result"].contains(&k.as_str()) && !v.is_empty())
        .collect();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(filters.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .extend_pairs(after(query).map(|a| ("after", a)))
        .append_pair("limit", &EVENTS_PER_PAGE.to_string())
        .finish();
    let answer = api(gh, who, Method::GET, "/v1/activity", &q)?;
    let next = answer["next"].as_i64().map(|n| n.to_string());
    let events = items(answer);
    let now = form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "verify" && v == "now");
    if now {
        // The walk leaves its report as the newest verification, shown below.
        api(gh, who, Method::GET, "/v1/activity/verify", "")?;
    }
    let chain = gh.last_chain_verification();
    Ok(Page::Html(
        StatusCode::OK,
        pages::activity(session, &filters, &events, chain.as_ref(), next.as_deref()),
    ))
}

fn respond(page: Page, cookie: SetCookie) -> Response<Full<Bytes>> {
    let mut r = match page {
        Page::Html(status, html) => {
            let mut r = Response::new(Full::new(Bytes::from(html)));
            *r.status_mut() = status;
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            r
        }
        Page::Download { name, body } => {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                r.headers_mut().insert(hyper::header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Page::Redirect(to) => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::SEE_OTHER;
            if let Ok(v) = HeaderValue::from_str(&to) {
                r.headers_mut().insert(LOCATION, v);
            }
            r
        }
    };
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(SET_COOKIE, c);
    }
    secure(&mut r);
    r
}

/// The headers every console answer carries.
fn secure(r: &mut Response<Full<Bytes>>) {
    let h = r.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_session_cookie_is_read_and_only_if_it_could_be_a_token() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        let one = [h("a=b; gatehouse_session=gh_0a1b_ff00; c=d")];
        assert_eq!(session_token(one.iter()).as_deref(), Some("gh_0a1b_ff00"));
        let hostile = [h("gatehouse_session=x\\\"; Path=/")];
        assert_eq!(session_token(hostile.iter()), None);
        let other = [h("gatehouse_sessionx=gh_1; x=gatehouse_session")];
        assert_eq!(session_token(other.iter()), None);
    }

    #[test]
    fn the_next_move_is_the_next_stage_then_the_release_then_none() {
        let stages: Vec<String> = ["dev", "qa", "prod"].map(String::from).into();
        let promote = |s: &str| Some(Move::Promote(s.to_string()));
        assert_eq!(next_move(&stages, None, "pre_release"), promote("dev"));
        assert_eq!(next_move(&stages, Some("dev"), "pre_release"), promote("qa"));
        assert_eq!(next_move(&stages, Some("prod"), "pre_release"), Some(Move::Release));
        assert_eq!(next_move(&stages, Some("prod"), "trusted_release"), None);
        assert_eq!(
            next_move(&stages, Some("gone"), "pre_release"),
            None,
            "a stage not of the lifecycle"
        );
        assert_eq!(next_move(&[], None, "pre_release"), None);
    }

    /// A record as the release key signs it, for `app@version` with one artifact.
    fn signed_record(key: &ed25519_dalek::SigningKey, app: &str, version: &str, artifact: &str) -> Value {
        let subject = crate::evidence::Subject {
            name: "app.tgz".into(),
            digest: [("sha256".to_string(), artifact.to_string())].into(),
        };
        let predicate = serde_json::json!({
            "application": {"key": app}, "version": {"version": version},
            "released_at": "2026-12-01T00:00:00Z", "released_by": "rita", "stages": [], "waivers": []
        });
        crate::evidence::sign(key, vec![subject], crate::release::PREDICATE_TYPE, predicate)
    }

    #[test]
    fn the_record_view_says_which_check_of_gatehouse_verify_fails() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let vk = key.verifying_key();
        let published = [serde_json::json!({
            "keyid": crate::keys::keyid(&vk),
            "public_key_pem": crate::keys::public_key_pem(&vk).unwrap(),
        })];
        let art = "ab".repeat(32);
        let artifacts = [("app.tgz".to_string(), art.clone())];
        let record = signed_record(&key, "shop", "1.0.0", &art);
        let outcomes = |r: &RecordReport| -> Vec<Option<bool>> {
            r.checks.iter().map(|c| c.outcome.as_ref().map(|o| o.is_ok())).collect()
        };
        let ok = verify_record(&record, &published, &artifacts, "shop", "1.0.0", None);
        assert!(ok.verified());
        assert_eq!(outcomes(&ok), [Some(true); 4]);
        assert_eq!(ok.keyid, Some(crate::keys::keyid(&vk)));

        // Not published: the signature check fails and nothing else is judged.
        let r = verify_record(&record, &[], &artifacts, "shop", "1.0.0", None);
        assert_eq!(outcomes(&r), [Some(false), None, None, None]);
        assert!(matches!(&r.checks[0].outcome, Some(Err(e)) if e.starts_with("unknown_key")));
        // A payload changed after signing.
        let mut forged = record.clone();
        let other = signed_record(&key, "shop", "6.6.6", &art);
        forged["payload"] = other["payload"].clone();
        let r = verify_record(&forged, &published, &artifacts, "shop", "1.0.0", None);
        assert!(
            matches!(&r.checks[0].outcome, Some(Err(e)) if e.starts_with("bad_signature")),
            "{:?}",
            r.checks[0].outcome
        );
        // Another artifact, another version.
        let r = verify_record(
            &record,
            &published,
            &[("x".into(), "cd".repeat(32))],
            "shop",
            "1.0.0",
            None,
        );
        assert_eq!(outcomes(&r), [Some(true), Some(false), Some(true), Some(true)]);
        let r = verify_record(&other, &published, &artifacts, "shop", "1.0.0", None);
        assert_eq!(outcomes(&r), [Some(true), Some(true), Some(false), Some(true)]);
        assert!(!r.verified());
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_whole() {
        let (a, b) = (csrf_token("gh_a"), csrf_token("gh_b"));
        assert_ne!(a, b);
        assert!(same(&a, &csrf_token("gh_a")));
        assert!(!same(&a, &b));
        assert!(!same(&a, a.get(..10).unwrap_or_default()));
    }
}
