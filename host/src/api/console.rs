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

/// What a console page answers: HTML, or a redirect (after a form).
enum Page {
    Html(StatusCode, String),
    Redirect(String),
}

/// Whether a path is the console's.
pub fn owns(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// Answer one console request: sign-in and static files without a session,
/// everything else with one (or a redirect to sign in).
pub async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    if path == "/ui/static/console.css" {
        let mut r = Response::new(Full::new(Bytes::from_static(STYLESHEET.as_bytes())));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
        secure(&mut r);
        return r;
    }
    let token = session_token(parts.headers.get_all(COOKIE).iter());
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
        Ok(Ok((page, cookie))) => respond(page, cookie),
        _ => respond(
            Page::Html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::error(None, "the page took too long; try again"),
            ),
            None,
        ),
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
        ("GET", ["applications", app, "versions", version]) => version_page(gh, &who, &session, app, version),
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
        .append_pair("limit", "1000")
        .finish();
    let apps = items(api(gh, who, Method::GET, "/v1/applications", &q)?);
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
        pages::applications(session, &filters, &rows, &lifecycles),
    ))
}

/// One version: its gates with each check's outcome and remediation, its
/// evidence with who vouches for it, its waivers and its timeline.
fn version_page(gh: &Gatehouse, who: &Principal, session: &pages::Session, app: &str, version: &str) -> Result<Page> {
    let base = format!("/v1/applications/{}/versions/{}", super::seg(app), super::seg(version));
    let v = api(gh, who, Method::GET, &base, "")?;
    let evaluations = items(api(gh, who, Method::GET, &format!("{base}/evaluations"), "")?);
    let evidence = items(api(gh, who, Method::GET, &format!("{base}/evidence"), "")?);
    let timeline = items(api(gh, who, Method::GET, &format!("{base}/timeline"), "limit=1000")?);
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("application", app)
        .append_pair("version", version)
        .finish();
    let waivers = items(api(gh, who, Method::GET, "/v1/waivers", &q)?);
    let may_request = crate::access::allows(who.role, Permission::Develop);
    Ok(Page::Html(
        StatusCode::OK,
        pages::version(session, &v, &evaluations, &evidence, &waivers, &timeline, may_request),
    ))
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
        .append_pair("limit", "200")
        .finish();
    let events = items(api(gh, who, Method::GET, "/v1/activity", &q)?);
    let chain = api(gh, who, Method::GET, "/v1/activity/verify", "")?;
    Ok(Page::Html(
        StatusCode::OK,
        pages::activity(session, &filters, &events, &chain),
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
    fn csrf_tokens_differ_per_session_and_compare_whole() {
        let (a, b) = (csrf_token("gh_a"), csrf_token("gh_b"));
        assert_ne!(a, b);
        assert!(same(&a, &csrf_token("gh_a")));
        assert!(!same(&a, &b));
        assert!(!same(&a, a.get(..10).unwrap_or_default()));
    }
}
