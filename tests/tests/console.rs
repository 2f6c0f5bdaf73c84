//! The web console at /ui/ over real HTTP on loopback: sign-in with a token
//! into an HttpOnly, SameSite=Strict cookie, CSRF on forms, the security
//! headers, and the pages built from the same routes and roles as the API.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use gatehouse_e2e::{Server, cli, create_token, data, put_binding, request, seed, stderr};

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

    // The application's gate plan: every gate of its lifecycle, the check at dev's entry.
    let token = create_token(dir.path(), "vic", "viewer");
    let plan = http(
        server.addr,
        "GET",
        "/ui/applications/payments/gate-plan",
        Some(&token),
        &[],
    );
    assert_eq!(plan.status, 200, "{}", plan.body);
    for needle in [
        "Gate dev/entry",
        "policy:baseline.provenance",
        "binding provenance (block mode): stage dev, scope global",
        "Gate prod/release",
        "No check is bound to this gate: it passes.",
    ] {
        assert!(plan.body.contains(needle), "{needle}: {}", plan.body);
    }
    let a = http(
        server.addr,
        "GET",
        "/ui/gate-plan?application=payments",
        Some(&token),
        &[],
    );
    assert_eq!(
        (a.status, a.header("location")),
        (303, Some("/ui/applications/payments/gate-plan"))
    );

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

    // Behind a TLS-terminating proxy that says so, the cookie is also Secure.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let form = format!("token={token}");
    write!(
        stream,
        "POST /ui/login HTTP/1.1\r\nHost: gatehouse.example\r\nX-Forwarded-Proto: https\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let proxied = raw
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap();
    assert!(proxied.ends_with("; Secure"), "{proxied}");
    assert!(!cookie.contains("Secure"), "plain HTTP on loopback: {cookie}");

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
    assert!(a.body.contains("has not been verified since"), "{}", a.body);
    assert!(a.body.contains(r#"name="verify" value="now""#), "{}", a.body);
    let a = http(
        server.addr,
        "GET",
        "/ui/activity?actor=ann&verify=now",
        Some(&token),
        &[],
    );
    assert!(a.body.contains("The chain verifies"), "{}", a.body);
    // The walk is remembered: the next view shows it without walking again.
    let a = http(server.addr, "GET", "/ui/activity?actor=ann", Some(&token), &[]);
    assert!(a.body.contains("walked in full at"), "{}", a.body);
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

/// The value of a hidden form field the page carries.
fn field(page: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let at = page.find(&marker)?;
    let rest = &page[at + marker.len()..];
    Some(rest[..rest.find('"')?].to_string())
}

#[test]
fn a_release_manager_moves_a_version_through_its_lifecycle_from_the_console_and_its_record_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    seed(&server, "payments", "1.0.0");
    seed(&server, "payments", "2.0.0");
    let admin = server.token("tester");
    let sbom = std::fs::read(data("sbom/python/python-env.cdx-1.6.json")).unwrap();
    let (s, b) = request(
        server.addr,
        "POST",
        "/v1/applications/payments/versions/1.0.0/sboms",
        Some(&sbom),
        Some(&admin),
    );
    assert_eq!(s, 201, "{b}");
    let advisory = std::fs::read_to_string(data("osv/pypa/PYSEC-2019-217.json")).unwrap();
    let (s, b) = request(
        server.addr,
        "POST",
        "/v1/advisories",
        Some(advisory.as_bytes()),
        Some(&admin),
    );
    assert_eq!(s, 200, "{b}");
    let link = "/ui/applications/payments/versions/1.0.0";

    // A viewer sees the plan of the next move but no button, and may not move it.
    let viewer = create_token(dir.path(), "vic", "viewer");
    let page = http(server.addr, "GET", link, Some(&viewer), &[]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Next: promote to dev"), "{}", page.body);
    assert!(!page.body.contains(">Promote to dev<"), "{}", page.body);
    // The SBOM's components and the finding the advisory made.
    assert!(page.body.contains(" components</summary>"), "{}", page.body);
    assert!(
        page.body.contains(r#"href="/ui/vulnerabilities?id=PYSEC-2019-217""#),
        "{}",
        page.body
    );
    let a = http(
        server.addr,
        "POST",
        &format!("{link}/promote"),
        Some(&viewer),
        &[("csrf", &csrf(&page.body)), ("target_stage", "dev")],
    );
    assert_eq!(a.status, 403, "a viewer may not promote: {}", a.body);
    let (_, v) = server.get("/v1/applications/payments/versions/1.0.0");
    assert!(v["stage"].is_null(), "nothing moved: {v}");

    // A release manager promotes through every stage, then releases; each
    // page names the next move and the gates it will meet.
    let rm = create_token(dir.path(), "rita", "release-manager");
    for stage in ["dev", "qa", "staging", "prod"] {
        let page = http(server.addr, "GET", link, Some(&rm), &[]);
        assert!(
            page.body.contains(&format!("Next: promote to {stage}")),
            "{stage}: {}",
            page.body
        );
        assert!(
            page.body.contains(&format!("Gate {stage}/entry")),
            "{stage}: {}",
            page.body
        );
        assert_eq!(field(&page.body, "target_stage").as_deref(), Some(stage));
        let a = http(
            server.addr,
            "POST",
            &format!("{link}/promote"),
            Some(&rm),
            &[("csrf", &csrf(&page.body)), ("target_stage", stage)],
        );
        assert_eq!(
            (a.status, a.header("location")),
            (303, Some(link)),
            "{stage}: {}",
            a.body
        );
        let (_, v) = server.get("/v1/applications/payments/versions/1.0.0");
        assert_eq!(v["stage"], stage, "{v}");
    }
    let page = http(server.addr, "GET", link, Some(&rm), &[]);
    assert!(page.body.contains("Next: release"), "{}", page.body);
    assert!(page.body.contains("Gate prod/release"), "{}", page.body);
    let a = http(
        server.addr,
        "POST",
        &format!("{link}/release"),
        Some(&rm),
        &[("csrf", &csrf(&page.body))],
    );
    assert_eq!((a.status, a.header("location")), (303, Some(link)), "{}", a.body);
    let page = http(server.addr, "GET", link, Some(&rm), &[]);
    assert!(!page.body.contains("Next: "), "released: no next move: {}", page.body);
    assert!(page.body.contains("Trusted Release record: verify"), "{}", page.body);

    // The verify view makes the checks of `gatehouse verify`, and all pass.
    let record = http(server.addr, "GET", &format!("{link}/record"), Some(&viewer), &[]);
    assert_eq!(record.status, 200, "{}", record.body);
    assert!(record.body.contains("Verified: every check"), "{}", record.body);
    assert_eq!(record.body.matches("<td>pass</td>").count(), 4, "{}", record.body);
    assert!(record.body.contains("1 of 1 artifacts are subjects"), "{}", record.body);
    let (_, keys) = server.get("/v1/keys");
    let keyid = keys["items"][0]["keyid"].as_str().unwrap().to_string();
    assert!(record.body.contains(&format!("--keyid {keyid}")), "{}", record.body);

    // The downloaded record verifies offline with the command the page gives.
    let file = http(server.addr, "GET", &format!("{link}/record.json"), Some(&viewer), &[]);
    assert_eq!(file.status, 200);
    assert_eq!(
        file.header("content-disposition"),
        Some(r#"attachment; filename="payments-1.0.0.trusted-release.json""#)
    );
    let saved = dir.path().join("record.json");
    std::fs::write(&saved, &file.body).unwrap();
    let keys_file = dir.path().join("keys.json");
    std::fs::write(&keys_file, keys.to_string()).unwrap();
    let out = cli(
        dir.path(),
        &[
            "verify",
            saved.to_str().unwrap(),
            "--keyid",
            &keyid,
            "--keys",
            keys_file.to_str().unwrap(),
            "--app",
            "payments",
            "--version",
            "1.0.0",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // Rolled back after its release, the record is withdrawn: the view says so.
    let (s, b) = server.send(
        "POST",
        "/v1/applications/payments/versions/1.0.0/rollback",
        Some(br#"{"from_stage": "prod", "reason": "broken"}"#),
        "admin",
    );
    assert_eq!(s, 200, "{b}");
    let record = http(server.addr, "GET", &format!("{link}/record"), Some(&viewer), &[]);
    assert!(record.body.contains("Not verified"), "{}", record.body);
    assert!(
        record.body.contains("withdrawn: the Trusted Release"),
        "{}",
        record.body
    );

    // A blocked promotion comes back to the page, which says why.
    let (s, b) = put_binding(
        &server,
        "provenance",
        "policy:baseline.provenance",
        "dev",
        serde_json::json!({}),
    );
    assert!(s == 200 || s == 201, "{b}");
    let other = "/ui/applications/payments/versions/2.0.0";
    let page = http(server.addr, "GET", other, Some(&rm), &[]);
    assert!(
        page.body.contains("policy:baseline.provenance"),
        "the plan names the check: {}",
        page.body
    );
    let a = http(
        server.addr,
        "POST",
        &format!("{other}/promote"),
        Some(&rm),
        &[("csrf", &csrf(&page.body)), ("target_stage", "dev")],
    );
    let back = format!("{other}?blocked=dev");
    assert_eq!(
        (a.status, a.header("location")),
        (303, Some(back.as_str())),
        "{}",
        a.body
    );
    let page = http(server.addr, "GET", &back, Some(&rm), &[]);
    assert!(page.body.contains("was blocked"), "{}", page.body);
    assert!(page.body.contains("[BASELINE-PROV-1]"), "{}", page.body);
}

#[test]
fn long_lists_page_with_the_filters_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for i in 0..201 {
        let (s, b) = server.send(
            "POST",
            "/v1/applications",
            Some(format!(r#"{{"key": "app-{i:03}", "project": "big"}}"#).as_bytes()),
            "admin",
        );
        assert_eq!(s, 201, "{b}");
    }
    let token = create_token(dir.path(), "vic", "viewer");
    let first = http(server.addr, "GET", "/ui/?project=big", Some(&token), &[]);
    assert!(first.body.contains(r#"id="app-app-099""#), "{}", first.body);
    assert!(!first.body.contains(r#"id="app-app-100""#), "100 on a page");
    assert!(
        first.body.contains("/ui/?project=big&amp;after=app-099"),
        "{}",
        first.body
    );
    let second = http(server.addr, "GET", "/ui/?project=big&after=app-099", Some(&token), &[]);
    assert!(second.body.contains(r#"id="app-app-100""#), "{}", second.body);
    assert!(!second.body.contains(r#"id="app-app-000""#), "{}", second.body);
    let third = http(server.addr, "GET", "/ui/?project=big&after=app-199", Some(&token), &[]);
    assert!(third.body.contains(r#"id="app-app-200""#), "{}", third.body);
    assert!(!third.body.contains("Next page"), "the last page: {}", third.body);

    // 201 events: 200 on the first page, the rest behind its link.
    let created = |body: &str| body.matches("<td>application.create</td>").count();
    let first = http(
        server.addr,
        "GET",
        "/ui/activity?action=application.create",
        Some(&token),
        &[],
    );
    assert_eq!(created(&first.body), 200, "{}", first.body);
    let at = first
        .body
        .find("/ui/activity?action=application.create&amp;after=")
        .expect("a next link");
    let href = &first.body[at..];
    let href = href[..href.find('"').unwrap()].replace("&amp;", "&");
    let rest = http(server.addr, "GET", &href, Some(&token), &[]);
    assert_eq!(created(&rest.body), 1, "{}", rest.body);
}
