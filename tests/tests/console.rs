//! The web console at /ui/ over real HTTP on loopback: sign-in with a token
//! into an HttpOnly, SameSite=Strict cookie, CSRF on forms, the security
//! headers, and the pages built from the same routes and roles as the API.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use gatehouse_e2e::{Server, create_token, put_binding, seed};

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 exchange, as a browser would send it (cookie and form).
fn http(addr: SocketAddr, method: &str, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().copied())
        .finish();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: gatehouse_session={c}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

fn promote_to_dev(server: &Server) -> (u16, serde_json::Value) {
    server.send(
        "POST",
        "/v1/applications/payments/versions/1.0.0/promote",
        Some(br#"{"target_stage": "dev"}"#),
        "admin",
    )
}

fn csrf(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).expect("a form with a csrf field");
    let rest = &page[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[test]
fn sign_in_then_the_pages_show_versions_by_stage_and_a_blocked_gate_with_its_remediation() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    seed(&server, "payments", "1.0.0");
    seed(&server, "payments", "1.1.0");
    let (s, b) = put_binding(
        &server,
        "provenance",
        "policy:baseline.provenance",
        "dev",
        serde_json::json!({}),
    );
    assert!(s == 200 || s == 201, "{b}");
    let (s, b) = promote_to_dev(&server);
    assert_eq!(s, 409, "the provenance gate blocks: {b}");

    // No session: every page sends the browser to sign in.
    let a = http(server.addr, "GET", "/ui/", None, &[]);
    assert_eq!((a.status, a.header("location")), (303, Some("/ui/login")));
    let login = http(server.addr, "GET", "/ui/login", None, &[]);
    assert_eq!(login.status, 200);
    let csp = login.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!login.body.contains("<script"), "no script at all");
    assert_eq!(login.header("x-frame-options"), Some("DENY"));
    assert!(login.body.contains(r#"<label for="token">"#), "labelled input");

    // A wrong token is refused and sets nothing.
    let a = http(server.addr, "POST", "/ui/login", None, &[("token", "gh_0000_ffff")]);
    assert_eq!(a.status, 401);
    assert!(a.header("set-cookie").is_none());
    assert!(a.body.contains("role=\"alert\""), "{}", a.body);

    // A developer's token signs in: an HttpOnly, SameSite=Strict cookie scoped to /ui.
    let token = create_token(dir.path(), "dana", "developer");
    let a = http(server.addr, "POST", "/ui/login", None, &[("token", &token)]);
    assert_eq!((a.status, a.header("location")), (303, Some("/ui/")));
    let cookie = a.header("set-cookie").unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(flag), "{cookie}");
    }

    let apps = http(server.addr, "GET", "/ui/", Some(&token), &[]);
    assert_eq!(apps.status, 200, "{}", apps.body);
    assert!(
        apps.body.contains("Signed in as <strong>dana</strong> (developer)"),
        "{}",
        apps.body
    );
    assert!(
        apps.body.contains(r#"href="/ui/applications/payments/versions/1.1.0""#),
        "{}",
        apps.body
    );
    for stage in ["dev", "qa", "staging", "prod"] {
        assert!(
            apps.body.contains(&format!(r#"<th scope="col">{stage}</th>"#)),
            "{stage}: {}",
            apps.body
        );
    }
    // Filters are the API's: a project nobody has shows nothing.
    let none = http(server.addr, "GET", "/ui/?project=nothing-here", Some(&token), &[]);
    assert!(none.body.contains("No application matches."), "{}", none.body);

    let page = http(
        server.addr,
        "GET",
        "/ui/applications/payments/versions/1.0.0",
        Some(&token),
        &[],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Gate dev/entry"), "{}", page.body);
    assert!(page.body.contains("[BASELINE-PROV-1]"), "{}", page.body);
    assert!(page.body.contains("Remediation: "), "{}", page.body);
    assert!(
        page.body.contains("promote"),
        "the timeline shows the blocked promotion: {}",
        page.body
    );
    let missing = http(
        server.addr,
        "GET",
        "/ui/applications/payments/versions/9.9.9",
        Some(&token),
        &[],
    );
    assert_eq!(missing.status, 404);

    // The developer asks for a waiver from the blocked gate's page.
    assert!(page.body.contains("Request a waiver"), "{}", page.body);
    let form = [
        ("csrf", csrf(&page.body)),
        ("gate_stage", "dev".to_string()),
        ("gate_kind", "entry".to_string()),
        ("check", "policy:baseline.provenance".to_string()),
        (
            "justification",
            "provenance <b>comes</b> with the next build".to_string(),
        ),
        ("expires_at", "2099-01-01T00:00:00Z".to_string()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = http(
        server.addr,
        "POST",
        "/ui/applications/payments/versions/1.0.0/waivers",
        Some(&token),
        &form,
    );
    assert_eq!(a.status, 303, "{}", a.body);
    // A developer sees the request but no approve button; nor may they decide it.
    let w = http(server.addr, "GET", "/ui/waivers", Some(&token), &[]);
    assert!(
        w.body.contains("requested") && w.body.contains("provenance &lt;b&gt;comes&lt;/b&gt;"),
        "{}",
        w.body
    );
    assert!(!w.body.contains(">Approve<"), "{}", w.body);
    let (_, list) = server.get("/v1/waivers");
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let a = http(
        server.addr,
        "POST",
        &format!("/ui/waivers/{id}/approve"),
        Some(&token),
        &[("csrf", &csrf(&w.body))],
    );
    assert_eq!(a.status, 403, "a developer may not approve: {}", a.body);

    // Another user, an approver, approves it; the version then enters dev.
    let approver = create_token(dir.path(), "ann", "approver");
    let w = http(server.addr, "GET", "/ui/waivers", Some(&approver), &[]);
    assert!(w.body.contains(">Approve<"), "{}", w.body);
    let a = http(
        server.addr,
        "POST",
        &format!("/ui/waivers/{id}/approve"),
        Some(&approver),
        &[("csrf", &csrf(&w.body)), ("note", "ok for one week")],
    );
    assert_eq!(
        (a.status, a.header("location")),
        (303, Some("/ui/waivers")),
        "{}",
        a.body
    );
    let (_, waiver) = server.get(&format!("/v1/waivers/{id}"));
    assert_eq!(waiver["status"], "approved", "{waiver}");
    assert_eq!(waiver["decided_by"], "ann");
    let (s, b) = promote_to_dev(&server);
    assert_eq!(s, 200, "the waiver lets it pass: {b}");

    // Policies and bindings, one policy's source, the activity log and its chain.
    let p = http(server.addr, "GET", "/ui/policies", Some(&token), &[]);
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("<td>provenance</td>") && p.body.contains("policy:baseline.provenance"),
        "{}",
        p.body
    );
    let p = http(
        server.addr,
        "GET",
        "/ui/policies/baseline.provenance",
        Some(&token),
        &[],
    );
    assert!(p.body.contains("package baseline.provenance"), "{}", p.body);
    let a = http(server.addr, "GET", "/ui/activity?actor=ann", Some(&token), &[]);
    assert!(a.body.contains("The chain verifies"), "{}", a.body);
    assert!(
        a.body.contains("<td>ann</td>") && !a.body.contains("<td>dana</td>"),
        "{}",
        a.body
    );
    let v = http(server.addr, "GET", "/ui/vulnerabilities", Some(&token), &[]);
    assert!(v.body.contains(r#"<label for="id">"#), "{}", v.body);
    let v = http(
        server.addr,
        "GET",
        "/ui/vulnerabilities?id=GHSA-none-none-none",
        Some(&token),
        &[],
    );
    assert_eq!(v.status, 404, "{}", v.body);

    // A form without the session's CSRF token changes nothing.
    let a = http(server.addr, "POST", "/ui/logout", Some(&token), &[]);
    assert_eq!(a.status, 403);
    let a = http(
        server.addr,
        "POST",
        "/ui/logout",
        Some(&token),
        &[("csrf", "0".repeat(64).as_str())],
    );
    assert_eq!(a.status, 403);
    let a = http(
        server.addr,
        "POST",
        "/ui/logout",
        Some(&token),
        &[("csrf", &csrf(&apps.body))],
    );
    assert_eq!((a.status, a.header("location")), (303, Some("/ui/login")));
    assert!(a.header("set-cookie").unwrap().contains("Max-Age=0"));

    // A revoked token ends its session.
    let id = token.split('_').nth(1).unwrap();
    let (s, b) = server.send("POST", &format!("/v1/tokens/{id}/revoke"), Some(b"{}"), "admin");
    assert_eq!(s, 200, "{b}");
    let a = http(server.addr, "GET", "/ui/", Some(&token), &[]);
    assert_eq!(a.status, 401);
    assert!(a.header("set-cookie").unwrap().contains("Max-Age=0"));

    // The stylesheet is the only asset, served by the sidecar itself.
    let css = http(server.addr, "GET", "/ui/static/console.css", None, &[]);
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
}
