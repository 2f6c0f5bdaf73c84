//! The console's pages: pure functions from the API's JSON answers to HTML.
//! maud escapes every interpolated value; nothing here reads the store.

#![allow(
    clippy::indexing_slicing,
    reason = "serde_json's `value[\"key\"]` answers Null for a missing key or a non-object; it never panics"
)]

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

/// Who is signed in, and the CSRF token their forms carry.
pub struct Session {
    pub name: String,
    pub role: String,
    pub csrf: String,
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn layout(title: &str, session: Option<&Session>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Gatehouse" }
                link rel="stylesheet" href="/ui/static/console.css";
                link rel="icon" href="/ui/static/favicon.svg" type="image/svg+xml";
            }
            body {
                header {
                    nav aria-label="Main" {
                        a href="/ui/" class="brand" { "Gatehouse" }
                        @if session.is_some() {
                            a href="/ui/" { "Applications" }
                            a href="/ui/waivers" { "Waivers" }
                            a href="/ui/vulnerabilities" { "Vulnerabilities" }
                            a href="/ui/policies" { "Policies" }
                            a href="/ui/activity" { "Activity" }
                        }
                    }
                    @if let Some(session) = session {
                        form method="post" action="/ui/logout" class="session" {
                            span { "Signed in as " strong { (session.name) } " (" (session.role) ")" }
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

pub fn login(problem: Option<&str>) -> String {
    layout(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(p) = problem {
                p role="alert" class="problem" { (p) }
            }
            form method="post" action="/ui/login" {
                label for="token" { "API token" }
                input id="token" name="token" type="password" autocomplete="off" required;
                p class="hint" { "A token made with " code { "gatehouse token create" } "; the console has its role, no more." }
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub fn error(session: Option<&Session>, message: &str) -> String {
    layout(
        "Problem",
        session,
        html! {
            h1 { "That did not work" }
            p role="alert" class="problem" { (message) }
            p { a href="/ui/" { "Back to the applications" } }
        },
    )
}

/// A lifecycle's stage names, in order.
pub fn stage_names(lifecycle: &Value) -> Vec<String> {
    lifecycle["stages"]
        .as_array()
        .map(|stages| {
            stages
                .iter()
                .map(|st| st.get("name").map_or_else(|| s(st).to_string(), |n| s(n).to_string()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn version_link(app: &str, version: &str) -> String {
    format!(
        "/ui/applications/{}/versions/{}",
        crate::api::seg(app),
        crate::api::seg(version)
    )
}

/// Applications with their versions by stage (`rows`: each application and its versions).
pub fn applications(
    session: &Session,
    filters: &[(String, String)],
    rows: &[(Value, Vec<Value>)],
    lifecycles: &BTreeMap<String, Vec<String>>,
    next: Option<&str>,
) -> String {
    let filter = |k: &str| {
        filters
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    layout(
        "Applications",
        Some(session),
        html! {
            h1 { "Applications" }
            form method="get" action="/ui/" class="filters" {
                @for (name, label) in [("project", "Project"), ("criticality", "Criticality"), ("owner", "Owner"), ("label", "Label (key or key=value)")] {
                    div {
                        label for=(name) { (label) }
                        input id=(name) name=(name) type="text" value=(filter(name));
                    }
                }
                button type="submit" { "Filter" }
            }
            @if rows.is_empty() {
                p { "No application matches." }
            }
            (stage_chart(rows, lifecycles))
            @for (app, versions) in rows {
                @let key = s(&app["key"]);
                @let lifecycle = versions.first().map_or("default", |v| s(&v["lifecycle"]));
                @let stages = lifecycles.get(lifecycle).cloned().unwrap_or_default();
                section class="application" aria-labelledby=(format!("app-{key}")) {
                    h2 id=(format!("app-{key}")) { (s(&app["name"])) " " span class="key" { "(" (key) ")" } }
                    p class="meta" {
                        a href=(format!("/ui/applications/{}/gate-plan", crate::api::seg(key))) { "Gate plan" } " · "
                        "project " strong { (s(&app["project"])) }
                        " · criticality " strong { (s(&app["criticality"])) }
                        @let users = app["owners"]["users"].as_array().cloned().unwrap_or_default();
                        @let groups = app["owners"]["groups"].as_array().cloned().unwrap_or_default();
                        @if !users.is_empty() || !groups.is_empty() {
                            " · owners "
                            @for o in users.iter().chain(groups.iter()) { span class="tag" { (s(o)) } " " }
                        }
                        @if let Some(labels) = app["labels"].as_object() {
                            @for (k, v) in labels { span class="tag" { (k) "=" (s(v)) } " " }
                        }
                    }
                    table class="board" {
                        caption { "Versions of " (key) " by stage (lifecycle " (lifecycle) ")" }
                        thead { tr {
                            th scope="col" { "not yet in a stage" }
                            @for st in &stages { th scope="col" { (st) } }
                        } }
                        tbody { tr {
                            @for column in std::iter::once(None).chain(stages.iter().map(Some)) {
                                td {
                                    ul {
                                        @for v in versions.iter().filter(|v| v["stage"].as_str() == column.map(String::as_str)) {
                                            li {
                                                a href=(version_link(key, s(&v["version"]))) { (s(&v["version"])) }
                                                @if v["release_status"] != "pre_release" && !v["release_status"].is_null() {
                                                    " " span class=(format!("status {}", s(&v["release_status"]))) { (s(&v["release_status"]).replace('_', " ")) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        } }
                    }
                }
            }
            (next_page("/ui/", filters, next))
        },
    )
}

/// How many versions on the page sit in each stage (stages in the order
/// their lifecycles give them, first seen first), and how many are released.
pub fn stage_counts(rows: &[(Value, Vec<Value>)], lifecycles: &BTreeMap<String, Vec<String>>) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = vec![("not yet in a stage".into(), 0)];
    for (_, versions) in rows {
        let lifecycle = versions.first().map_or("default", |v| s(&v["lifecycle"]));
        for stage in lifecycles.get(lifecycle).into_iter().flatten() {
            if !counts.iter().any(|(name, _)| name == stage) {
                counts.push((stage.clone(), 0));
            }
        }
    }
    let mut released = 0;
    for v in rows.iter().flat_map(|(_, versions)| versions) {
        let column = v["stage"].as_str().unwrap_or("not yet in a stage");
        match counts.iter_mut().find(|(name, _)| name == column) {
            Some((_, n)) => *n += 1,
            None => counts.push((column.to_string(), 1)),
        }
        if v["release_status"] == "trusted_release" {
            released += 1;
        }
    }
    counts.push(("trusted releases".into(), released));
    counts
}

/// A bar chart of [`stage_counts`], drawn by the server as SVG (no script),
/// its numbers also in its accessible title.
fn stage_chart(rows: &[(Value, Vec<Value>)], lifecycles: &BTreeMap<String, Vec<String>>) -> Markup {
    let counts = stage_counts(rows, lifecycles);
    let most = counts.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let (bar, label, width) = (22usize, 170usize, 420usize);
    let height = counts.len() * (bar + 6);
    let title = counts
        .iter()
        .map(|(name, n)| format!("{name}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        @if counts.iter().any(|(_, n)| *n > 0) {
            figure class="chart" {
                svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="stage-chart-title"
                    width=(label + width + 60) height=(height) viewBox=(format!("0 0 {} {height}", label + width + 60)) {
                    title id="stage-chart-title" { "Versions on this page by stage — " (title) }
                    @for (i, (name, n)) in counts.iter().enumerate() {
                        @let y = i * (bar + 6);
                        text x=(label - 8) y=(y + bar - 6) text-anchor="end" fill="#1b1f24" font-size="14" { (name) }
                        rect x=(label) y=(y) width=(width * n / most) height=(bar) fill=(if name == "trusted releases" { "#146c2e" } else { "#0b57d0" }) {}
                        text x=(label + width * n / most + 6) y=(y + bar - 6) fill="#1b1f24" font-size="14" { (n) }
                    }
                }
                figcaption { "Versions of the applications on this page, by stage" }
            }
        }
    }
}

/// Evidence grouped by the stage the version was in when it arrived (from
/// the timeline's moves: a promotion, release or rollback that was not
/// blocked puts the version in its `to_stage` from its time on), in the
/// order the stages were reached.
pub fn evidence_by_stage<'a>(evidence: &'a [Value], timeline: &[Value]) -> Vec<(String, Vec<&'a Value>)> {
    const DRAFT: &str = "a draft (before its first stage)";
    let moves: Vec<(&str, String)> = timeline
        .iter()
        .filter(|e| {
            matches!(s(&e["action"]), "version.promote" | "version.rollback")
                && matches!(s(&e["result"]), "success" | "warning")
        })
        .filter_map(|e| Some((s(&e["time"]), format!("in {}", e["details"]["to_stage"].as_str()?))))
        .collect();
    let mut groups: Vec<(String, Vec<&Value>)> = Vec::new();
    for e in evidence {
        let added = s(&e["added_at"]);
        let stage = moves
            .iter()
            .rev()
            .find(|(t, _)| *t <= added)
            .map_or(DRAFT.to_string(), |(_, st)| st.clone());
        match groups.iter_mut().find(|(g, _)| *g == stage) {
            Some((_, items)) => items.push(e),
            None => groups.push((stage, vec![e])),
        }
    }
    let reached = |g: &str| moves.iter().position(|(_, st)| st == g).map_or(0, |i| i + 1);
    groups.sort_by_key(|(g, _)| reached(g));
    groups
}

/// What the version page shows (the API's answers).
pub struct VersionView<'a> {
    pub v: &'a Value,
    /// The next move and its gate plan (or why there is none).
    pub next: Option<(&'a super::Move, Option<&'a Result<Value, String>>)>,
    /// The target of a move that was just blocked.
    pub blocked: Option<&'a str>,
    pub evaluations: &'a [Value],
    pub components: &'a [Value],
    pub findings: &'a [Value],
    pub evidence: &'a [Value],
    pub waivers: &'a [Value],
    pub timeline: &'a [Value],
    pub may_request: bool,
    pub may_move: bool,
}

/// At most this many components are listed on a page (the API has them all).
const COMPONENTS_SHOWN: usize = 500;

/// One version: next move, gates, SBOM, evidence, waivers, timeline.
pub fn version(session: &Session, view: &VersionView<'_>) -> String {
    let VersionView {
        v,
        evaluations,
        evidence,
        waivers,
        timeline,
        may_request,
        ..
    } = *view;
    let app = s(&v["application"]);
    // A week from now, the default expiry a developer edits.
    let week = crate::time::hours_from_now(24 * 7);
    let version = s(&v["version"]);
    let link = version_link(app, version);
    layout(
        &format!("{app}@{version}"),
        Some(session),
        html! {
            h1 { (app) "@" (version) }
            @if let Some(target) = view.blocked {
                p role="alert" class="problem" {
                    @if target == "release" { "The release was blocked" } @else { "The promotion to " strong { (target) } " was blocked" }
                    ": the gates below say why and what to do."
                }
            }
            dl class="facts" {
                dt { "Stage" } dd { (v["stage"].as_str().unwrap_or("not yet in a stage")) }
                dt { "Lifecycle" } dd { (s(&v["lifecycle"])) }
                dt { "Release" } dd {
                    (s(&v["release_status"]).replace('_', " "))
                    @if v["release_status"] == "trusted_release" {
                        " — " a href=(format!("{link}/record")) { "Trusted Release record: verify" }
                    }
                }
                dt { "Draft" } dd { (if v["draft"].as_bool().unwrap_or(false) { "yes (artifacts may change)" } else { "no (frozen)" }) }
                @if let Some(arts) = v["artifacts"].as_array() {
                    @for a in arts {
                        dt { "Artifact" } dd { (s(&a["name"])) " " code { "sha256:" (s(&a["sha256"])) } }
                    }
                }
            }
            @if let Some((next, plan)) = view.next {
                section class="next" aria-labelledby="next-move" {
                    h2 id="next-move" {
                        @match next {
                            super::Move::Promote(stage) => { "Next: promote to " (stage) }
                            super::Move::Release => { "Next: release (Trusted Release record)" }
                        }
                    }
                    @match plan {
                        Some(Ok(plan)) => { (gate_plan(plan)) }
                        Some(Err(why)) => { p class="problem" { (why) } }
                        None => {}
                    }
                    @if view.may_move {
                        @let action = if matches!(next, super::Move::Release) { "release" } else { "promote" };
                        form method="post" action=(format!("{link}/{action}")) {
                            input type="hidden" name="csrf" value=(session.csrf);
                            input type="hidden" name="target_stage" value=(next.target());
                            button type="submit" {
                                @match next {
                                    super::Move::Promote(stage) => { "Promote to " (stage) }
                                    super::Move::Release => { "Release" }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Gates" }
            @if evaluations.is_empty() { p { "No gate has judged this version yet." } }
            @for g in evaluations {
                section class=(format!("gate {}", s(&g["decision"]))) {
                    h3 { "Gate " (s(&g["gate"]["stage"])) "/" (s(&g["gate"]["kind"])) ": " strong { (s(&g["decision"])) } }
                    table {
                        thead { tr { th scope="col" { "Check" } th scope="col" { "Mode" } th scope="col" { "Outcome" } th scope="col" { "Why, and what to do" } } }
                        tbody {
                            @for c in g["checks"].as_array().into_iter().flatten() {
                                tr class=(format!("outcome {}", s(&c["outcome"]))) {
                                    td { (s(&c["check"])) @if let Some(b) = c["binding"].as_str() { br; small { "binding " (b) } } }
                                    td { (s(&c["mode"])) }
                                    td { (s(&c["outcome"])) @if let Some(w) = c["waiver"].as_str() { br; small { "waived by " (w) } } }
                                    td {
                                        @for f in c["findings"].as_array().into_iter().flatten() {
                                            p {
                                                @if let Some(r) = f["rule_id"].as_str() { "[" (r) "] " }
                                                (s(&f["message"]))
                                            }
                                            @if let Some(r) = f["remediation"].as_str() { p class="remediation" { "Remediation: " (r) } }
                                        }
                                        @if c["findings"].as_array().is_none_or(Vec::is_empty) {
                                            @for m in c["messages"].as_array().into_iter().flatten() { p { (s(m)) } }
                                        }
                                        @if may_request && g["decision"] == "blocked" && matches!(s(&c["outcome"]), "fail" | "error") && c["mode"] == "block" {
                                            @let id = format!("why-{}-{}-{}", s(&g["gate"]["stage"]), s(&g["gate"]["kind"]), s(&c["check"]).replace([':', '.', '/'], "-"));
                                            details {
                                                summary { "Request a waiver" }
                                                form method="post" action=(format!("{}/waivers", version_link(app, version))) {
                                                    input type="hidden" name="csrf" value=(session.csrf);
                                                    input type="hidden" name="gate_stage" value=(s(&g["gate"]["stage"]));
                                                    input type="hidden" name="gate_kind" value=(s(&g["gate"]["kind"]));
                                                    input type="hidden" name="check" value=(s(&c["check"]));
                                                    label for=(id) { "Justification" }
                                                    textarea id=(id) name="justification" required rows="3" {}
                                                    label for=(format!("{id}-expires")) { "Expires at (RFC 3339)" }
                                                    input id=(format!("{id}-expires")) name="expires_at" type="text" value=(week) required;
                                                    button type="submit" { "Request" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "SBOM" }
            @if view.components.is_empty() { p { "No SBOM is attached." } }
            @if !view.findings.is_empty() {
                table {
                    caption { "Vulnerability findings (" (view.findings.len()) ")" }
                    thead { tr { th scope="col" { "Advisory" } th scope="col" { "Severity" } th scope="col" { "Component" } th scope="col" { "Why" } th scope="col" { "Found" } } }
                    tbody {
                        @for f in view.findings {
                            tr {
                                td {
                                    a href=(format!("/ui/vulnerabilities?id={}", crate::api::seg(s(&f["advisory"])))) { (s(&f["advisory"])) }
                                    @for a in f["aliases"].as_array().into_iter().flatten() { " " small { (s(a)) } }
                                }
                                td { (f["severity"].as_str().unwrap_or("-")) }
                                td { code { (s(&f["purl"])) } }
                                td { (s(&f["reason"])) }
                                td { (s(&f["found_at"])) }
                            }
                        }
                    }
                }
            }
            @if !view.components.is_empty() {
                details {
                    summary { (view.components.len()) " components" }
                    table {
                        thead { tr { th scope="col" { "Package URL" } th scope="col" { "Ecosystem" } th scope="col" { "Licences" } } }
                        tbody {
                            @for c in view.components.iter().take(COMPONENTS_SHOWN) {
                                tr {
                                    td { code { (s(&c["purl"])) } }
                                    td { (c["ecosystem"].as_str().unwrap_or("-")) }
                                    td { @for (i, l) in c["licenses"].as_array().into_iter().flatten().enumerate() { @if i > 0 { ", " } (s(l)) } }
                                }
                            }
                        }
                    }
                    @if view.components.len() > COMPONENTS_SHOWN {
                        p class="hint" { "The first " (COMPONENTS_SHOWN) " are shown; " code { "GET /v1/applications/…/components" } " has all " (view.components.len()) "." }
                    }
                }
            }
            h2 { "Evidence" }
            @if evidence.is_empty() { p { "No evidence." } }
            @for (stage, items) in evidence_by_stage(evidence, timeline) {
                table {
                    caption { "Added while " (stage) }
                    thead { tr { th scope="col" { "Predicate type" } th scope="col" { "Verdict" } th scope="col" { "Who vouches" } th scope="col" { "Added" } } }
                    tbody {
                        @for e in items {
                            tr {
                                td { (e["predicate_type"].as_str().unwrap_or("-")) }
                                td { @if e["verified"].as_bool() == Some(true) { "verified" } @else { "refused: " (s(&e["refusal"]["code"])) } }
                                td { (origin(e)) }
                                td { (s(&e["added_at"])) " by " (s(&e["added_by"])) }
                            }
                        }
                    }
                }
            }
            h2 { "Waivers" }
            @if waivers.is_empty() { p { "No waiver was requested for this version." } }
            @for w in waivers {
                p class=(format!("waiver {}", s(&w["status"]))) {
                    strong { (s(&w["status"])) } " — gate " (s(&w["gate"]["stage"])) "/" (s(&w["gate"]["kind"]))
                    @if let Some(c) = w["check"].as_str() { ", check " (c) }
                    ", requested by " (s(&w["requested_by"])) ", expires " (s(&w["expires_at"])) ": " (s(&w["justification"]))
                }
            }
            h2 { "Timeline" }
            ol class="timeline" {
                @for ev in timeline {
                    li { time datetime=(s(&ev["time"])) { (s(&ev["time"])) } " " strong { (s(&ev["action"])) } " by " (s(&ev["actor"])) " — " (s(&ev["result"])) }
                }
            }
        },
    )
}

/// The checks each gate of a move will run, and why each applies.
fn gate_plan(plan: &Value) -> Markup {
    html! {
        @for g in plan["gates"].as_array().into_iter().flatten() {
            h3 { "Gate " (s(&g["gate"]["stage"])) "/" (s(&g["gate"]["kind"])) }
            @let checks = g["checks"].as_array().cloned().unwrap_or_default();
            @if checks.is_empty() { p { "No check is bound to this gate: it passes." } }
            @if !checks.is_empty() {
                table {
                    thead { tr { th scope="col" { "Check" } th scope="col" { "Mode" } th scope="col" { "Why it applies" } th scope="col" { "Policy" } } }
                    tbody {
                        @for c in &checks {
                            tr {
                                td { (s(&c["check"])) br; small { "binding " (s(&c["binding"])) } }
                                td { (s(&c["mode"])) }
                                td { (s(&c["why"])) }
                                td {
                                    @if let Some(name) = c["policy"]["name"].as_str() {
                                        a href=(format!("/ui/policies/{}", crate::api::seg(name))) { (name) }
                                        " " small { code { (s(&c["policy"]["digest"]).get(..19).unwrap_or_default()) "…" } }
                                    }
                                    @if let Some(p) = c["problem"].as_str() { p class="problem" { (p) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Every gate of an application's lifecycle with the checks it would run.
pub fn application_plan(session: &Session, plan: &Value) -> String {
    let app = s(&plan["application"]);
    layout(
        &format!("Gate plan of {app}"),
        Some(session),
        html! {
            h1 { "Gate plan of " (app) }
            p class="meta" {
                "What a new version of " (app) " meets from draft to Trusted Release on lifecycle "
                strong { (s(&plan["lifecycle"])) } ": every gate, the checks the bindings attach to it and why."
            }
            (gate_plan(plan))
        },
    )
}

/// A Trusted Release record with the checks `gatehouse verify` makes of it.
pub fn record(session: &Session, app: &str, version: &str, record: &Value, report: &super::RecordReport) -> String {
    let link = version_link(app, version);
    let pretty = serde_json::to_string_pretty(record).unwrap_or_default();
    let payload = crate::evidence::parse_envelope_value(record)
        .ok()
        .and_then(|env| serde_json::from_slice::<Value>(&env.payload).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    let file = format!("{app}-{version}.trusted-release.json");
    layout(
        &format!("Record of {app}@{version}"),
        Some(session),
        html! {
            h1 { "Trusted Release record of " a href=(link) { (app) "@" (version) } }
            @if report.verified() {
                p class="verdict pass" role="status" { "Verified: every check " code { "gatehouse verify" } " makes passes." }
            } @else {
                p class="verdict fail" role="alert" { "Not verified: a check failed." }
            }
            table class="checks" {
                caption { "The checks of " code { "gatehouse verify" } ", against the release keys this server publishes" }
                thead { tr { th scope="col" { "Check" } th scope="col" { "Outcome" } th scope="col" { "Detail" } } }
                tbody {
                    @for c in &report.checks {
                        @let (class, word, detail) = match &c.outcome {
                            Some(Ok(d)) => ("outcome pass", "pass", d.as_str()),
                            Some(Err(d)) => ("outcome fail", "fail", d.as_str()),
                            None => ("outcome skipped", "not reached", "an earlier check failed"),
                        };
                        tr class=(class) { td { (c.name) } td { (word) } td { (detail) } }
                    }
                }
            }
            @if let Some(sum) = &report.summary {
                dl class="facts" {
                    dt { "Released" } dd { (sum.released_at) " by " (sum.released_by) }
                    dt { "Stages" } dd { (sum.stages.join(" → ")) }
                    dt { "Checks recorded" } dd { (sum.checks) }
                    dt { "Waivers" } dd { @if sum.waivers.is_empty() { "none" } @else { (sum.waivers.join(", ")) } }
                    @for subject in &sum.subjects {
                        dt { "Subject" } dd { (subject.name) " " code { "sha256:" (subject.digest.get("sha256").map(String::as_str).unwrap_or("-")) } }
                    }
                }
            }
            h2 { "Verify it yourself" }
            p { "Offline, with no server, after saving the record and the key list:" }
            pre { code {
                "curl -o keys.json $GATEHOUSE/v1/keys\n"
                "gatehouse verify " (file) " \\\n"
                "  --keyid " (report.keyid.as_deref().unwrap_or("KEYID")) " --keys keys.json \\\n"
                "  --app " (app) " --version " (version) " --artifact FILE…"
            } }
            p { a href=(format!("{link}/record.json")) download=(file) { "Download the record (" (file) ")" } }
            details {
                summary { "The signed statement" }
                @if let Some(p) = payload { pre { code { (p) } } }
            }
            details {
                summary { "The DSSE envelope" }
                pre { code { (pretty) } }
            }
        },
    )
}

/// Waivers, pending first; approve/reject forms for an approver.
pub fn waivers(session: &Session, all: &[Value], may_decide: bool) -> String {
    layout(
        "Waivers",
        Some(session),
        html! {
            h1 { "Waivers" }
            @if all.is_empty() { p { "No waiver has been requested." } }
            @if !all.is_empty() {
                table {
                    caption { "Open requests first. Nobody decides a waiver they requested." }
                    thead { tr {
                        th scope="col" { "Version" } th scope="col" { "Gate and check" } th scope="col" { "Justification" }
                        th scope="col" { "Requested" } th scope="col" { "Expires" } th scope="col" { "Status" }
                    } }
                    tbody {
                        @for w in all {
                            tr {
                                td { a href=(version_link(s(&w["application"]), s(&w["version"]))) { (s(&w["application"])) "@" (s(&w["version"])) } }
                                td { (s(&w["gate"]["stage"])) "/" (s(&w["gate"]["kind"])) @if let Some(c) = w["check"].as_str() { br; (c) } }
                                td { (s(&w["justification"])) }
                                td { (s(&w["requested_by"])) br; small { (s(&w["requested_at"])) } }
                                td { (s(&w["expires_at"])) }
                                td {
                                    strong { (s(&w["status"])) }
                                    @if let Some(by) = w["decided_by"].as_str() { br; small { "by " (by) } }
                                    @if may_decide && w["status"] == "requested" {
                                        @let id = s(&w["id"]);
                                        form method="post" action=(format!("/ui/waivers/{id}/approve")) {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            label for=(format!("note-{id}")) { "Note" }
                                            input id=(format!("note-{id}")) name="note" type="text";
                                            button type="submit" { "Approve" }
                                        }
                                        form method="post" action=(format!("/ui/waivers/{id}/reject")) {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            button type="submit" { "Reject" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A text field of a GET filter form, labelled, holding its current value.
/// A "Next page" link that keeps the filters, when the API has a next page.
fn next_page(base: &str, filters: &[(String, String)], next: Option<&str>) -> Markup {
    let href = next.map(|n| {
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(filters.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .append_pair("after", n)
            .finish();
        format!("{base}?{q}")
    });
    html! {
        @if let Some(href) = href {
            nav aria-label="Pages" class="pages" { a href=(href) rel="next" { "Next page" } }
        }
    }
}

fn filter_field(name: &str, label: &str, filters: &[(String, String)]) -> Markup {
    let value = filters
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    html! {
        div {
            label for=(name) { (label) }
            input id=(name) name=(name) type="text" value=(value);
        }
    }
}

/// An advisory's blast radius: every version it affects, trusted releases first.
pub fn vulnerabilities(session: &Session, id: Option<&str>, radius: Option<&Value>) -> String {
    layout(
        "Vulnerabilities",
        Some(session),
        html! {
            h1 { "Vulnerabilities" }
            form method="get" action="/ui/vulnerabilities" class="filters" {
                (filter_field("id", "Advisory or alias (e.g. GHSA-…, CVE-…)", &id.map(|i| vec![("id".to_string(), i.to_string())]).unwrap_or_default()))
                button type="submit" { "Show blast radius" }
            }
            @if let Some(r) = radius {
                h2 { "Blast radius of " (s(&r["advisory"])) }
                p class="meta" {
                    @if let Some(sev) = r["severity"].as_str() { "severity " strong { (sev) } " · " }
                    "aliases: " (r["aliases"].as_array().map(|a| a.iter().map(s).collect::<Vec<_>>().join(", ")).unwrap_or_default())
                }
                @let affected = trusted_first(r);
                @if affected.is_empty() { p { "No stored version is affected." } }
                @if !affected.is_empty() {
                    table {
                        caption { "Affected versions, trusted releases first" }
                        thead { tr { th scope="col" { "Version" } th scope="col" { "Stage" } th scope="col" { "Release" } th scope="col" { "Components" } } }
                        tbody {
                            @for a in &affected {
                                tr {
                                    td { a href=(version_link(s(&a["application"]), s(&a["version"]))) { (s(&a["application"])) "@" (s(&a["version"])) } }
                                    td { (a["stage"].as_str().unwrap_or("not yet in a stage")) }
                                    td { @if a["trusted_release"].as_bool() == Some(true) { strong { "trusted release" } } @else { (s(&a["release_status"]).replace('_', " ")) } }
                                    td { (a["components"].as_array().map(|c| c.iter().map(s).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// The versions an advisory affects, trusted releases first (stable otherwise).
fn trusted_first(radius: &Value) -> Vec<Value> {
    let mut affected = radius["affected"].as_array().cloned().unwrap_or_default();
    affected.sort_by_key(|a| !a["trusted_release"].as_bool().unwrap_or(false));
    affected
}

/// Policies with their digests, and every binding: which check runs at which gate.
pub fn policies(session: &Session, policies: &[Value], bindings: &[Value]) -> String {
    layout(
        "Policies",
        Some(session),
        html! {
            h1 { "Policies and bindings" }
            form method="get" action="/ui/gate-plan" class="filters" {
                (filter_field("application", "Gate plan of the application", &[]))
                button type="submit" { "Show" }
            }
            h2 { "Bindings" }
            table {
                caption { "Which check runs at which gate, for which applications" }
                thead { tr { th scope="col" { "Binding" } th scope="col" { "Check" } th scope="col" { "Gate" } th scope="col" { "Mode" } th scope="col" { "Scope" } th scope="col" { "Parameters" } } }
                tbody {
                    @for b in bindings {
                        tr {
                            td { (s(&b["id"])) }
                            td { (s(&b["check"])) }
                            td { (s(&b["gate"]["stage"])) "/" (s(&b["gate"]["kind"])) }
                            td { (s(&b["mode"])) }
                            td { code { (b["scope"].to_string()) } }
                            td { code { (b["params"].to_string()) } }
                        }
                    }
                }
            }
            h2 { "Policies" }
            table {
                thead { tr { th scope="col" { "Policy" } th scope="col" { "Origin" } th scope="col" { "Digest" } } }
                tbody {
                    @for p in policies {
                        @let name = s(&p["name"]);
                        tr {
                            td { a href=(format!("/ui/policies/{}", crate::api::seg(name))) { (name) } }
                            td { (p["origin"].as_str().map_or_else(|| p["origin"].to_string(), str::to_string)) }
                            td { code { (s(&p["digest"])) } }
                        }
                    }
                }
            }
        },
    )
}

/// One policy: its digest and source.
pub fn policy(session: &Session, p: &Value) -> String {
    layout(
        s(&p["name"]),
        Some(session),
        html! {
            h1 { "Policy " (s(&p["name"])) }
            p class="meta" { "digest " code { (s(&p["digest"])) } }
            pre { code { (s(&p["source"])) } }
        },
    )
}

/// The activity log with its filters and the chain's verification.
pub fn activity(
    session: &Session,
    filters: &[(String, String)],
    events: &[Value],
    chain: Option<&crate::service::VerifiedChain>,
    next: Option<&str>,
) -> String {
    layout(
        "Activity",
        Some(session),
        html! {
            h1 { "Activity" }
            @match chain {
                None => { p class="chain" { "The chain has not been verified since this sidecar started." } }
                Some(c) => {
                    @match &c.report.broken {
                        None => {
                            p class="chain ok" {
                                "The chain verifies: " (c.report.events) " events, head " (c.report.head_seq) " " code { (c.report.head_hash) }
                                " — walked in full at " (c.verified_at) "."
                            }
                        }
                        Some(b) => {
                            p role="alert" class="problem" {
                                "The chain is broken at event " (b.seq) ": " (b.reason) " (walked at " (c.verified_at) ")."
                            }
                        }
                    }
                }
            }
            form method="get" action="/ui/activity" class="filters" {
                @for (k, v) in filters { input type="hidden" name=(k) value=(v); }
                input type="hidden" name="verify" value="now";
                button type="submit" { "Verify the whole chain now" }
                span class="hint" { "Walks every event and checks every signed head (as " code { "gatehouse audit verify" } " does); seconds for a large log." }
            }
            form method="get" action="/ui/activity" class="filters" {
                (filter_field("application", "Application", filters))
                (filter_field("version", "Version", filters))
                (filter_field("action", "Action", filters))
                (filter_field("actor", "Actor", filters))
                (filter_field("result", "Result (success or failure)", filters))
                button type="submit" { "Filter" }
            }
            table {
                caption { "Events, oldest first (up to 200)" }
                thead { tr { th scope="col" { "Seq" } th scope="col" { "Time" } th scope="col" { "Actor" } th scope="col" { "Action" } th scope="col" { "Subject" } th scope="col" { "Result" } } }
                tbody {
                    @for e in events {
                        tr {
                            td { (e["seq"].as_i64().unwrap_or(0)) }
                            td { (s(&e["time"])) }
                            td { (s(&e["actor"])) }
                            td { (s(&e["action"])) }
                            td { (s(&e["subject"])) }
                            td { (s(&e["result"])) }
                        }
                    }
                }
            }
            (next_page("/ui/activity", filters, next))
        },
    )
}

/// Who vouches for a piece of evidence: its signers (keys or keyless
/// identities) or the collector that produced it.
fn origin(e: &Value) -> Markup {
    let o = &e["origin"];
    html! {
        @match s(&o["kind"]) {
            "collected" => { "collected by " (s(&o["plugin"])) " for " (s(&o["triggered_by"])) }
            _ => {
                @for sig in o["signers"].as_array().into_iter().flatten() {
                    (s(&sig["name"]))
                    @if let Some(k) = sig["keyless"].as_object() {
                        " (" (k.get("identity").map(s).unwrap_or_default())
                        @if let Some(i) = k.get("log_index").and_then(Value::as_u64) { ", log index " (i) }
                        ")"
                    }
                    " "
                }
                @if o["signers"].as_array().is_none_or(Vec::is_empty) {
                    @if let Some(k) = e["keyless"].as_object() { "keyless: " (k.get("identity").map(s).unwrap_or_default()) }
                    @else { "-" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session() -> Session {
        Session {
            name: "alice".into(),
            role: "admin".into(),
            csrf: "c5rf".into(),
        }
    }

    #[test]
    fn hostile_names_are_escaped_and_forms_carry_the_csrf_token() {
        let app = json!({"key": "shop", "name": "<script>alert(1)</script>", "project": "p\"><img src=x>", "criticality": "high",
                         "owners": {"users": ["<b>"], "groups": []}, "labels": {"k": "<i>"}});
        let v = json!({"application": "shop", "version": "1.0.0<x>", "lifecycle": "default", "stage": "dev", "release_status": "none"});
        let lifecycles = [("default".to_string(), vec!["dev".to_string(), "prod".to_string()])].into();
        let page = applications(&session(), &[], &[(app, vec![v])], &lifecycles, None);
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<img src=x>") && !page.contains("<b>") && !page.contains("<i>"));
        assert!(page.contains(r#"name="csrf" value="c5rf""#), "{page}");
        // The version sits in its stage's column, linked with its name encoded.
        assert!(
            page.contains(r#"href="/ui/applications/shop/versions/1.0.0%3Cx%3E""#),
            "{page}"
        );
    }

    #[test]
    fn the_stage_chart_counts_every_version_once_in_lifecycle_order() {
        let v = |stage: Option<&str>, status: &str| json!({"lifecycle": "default", "stage": stage, "release_status": status});
        let rows = vec![
            (
                json!({"key": "a"}),
                vec![
                    v(Some("prod"), "trusted_release"),
                    v(None, "pre_release"),
                    v(Some("dev"), "pre_release"),
                ],
            ),
            (
                json!({"key": "b"}),
                vec![
                    v(Some("dev"), "pre_release"),
                    v(None, "pre_release"),
                    v(Some("gone"), "pre_release"),
                ],
            ),
        ];
        let lifecycles = [("default".to_string(), ["dev", "qa", "prod"].map(String::from).into())].into();
        let counts = stage_counts(&rows, &lifecycles);
        let want: Vec<(String, usize)> = [
            ("not yet in a stage", 2),
            ("dev", 2),
            ("qa", 0),
            ("prod", 1),
            ("gone", 1),
            ("trusted releases", 1),
        ]
        .map(|(k, n)| (k.to_string(), n))
        .into();
        assert_eq!(
            counts, want,
            "the lifecycle's order, empty stages too, unknown ones after"
        );
        let chart = stage_chart(&rows, &lifecycles).into_string();
        assert!(chart.contains("<svg") && !chart.contains("<script"), "{chart}");
        assert!(
            chart.contains("not yet in a stage: 2, dev: 2, qa: 0, prod: 1, gone: 1, trusted releases: 1"),
            "{chart}"
        );
        assert!(
            stage_chart(&[], &lifecycles).into_string().is_empty(),
            "nothing to draw, no chart"
        );
    }

    #[test]
    fn evidence_is_grouped_by_the_stage_the_version_was_in_when_it_arrived() {
        let ev = |t: &str| json!({"added_at": t, "predicate_type": t});
        let mv = |t: &str, action: &str, result: &str, to: &str| json!({"time": t, "action": action, "result": result, "details": {"to_stage": to}});
        let timeline = [
            mv("2026-01-02T00:00:00Z", "version.promote", "blocked", "dev"),
            mv("2026-01-03T00:00:00Z", "version.promote", "success", "dev"),
            mv("2026-01-05T00:00:00Z", "version.promote", "warning", "qa"),
            mv("2026-01-07T00:00:00Z", "version.rollback", "success", "dev"),
        ];
        let evidence = [
            ev("2026-01-01T00:00:00Z"),
            ev("2026-01-02T12:00:00Z"),
            ev("2026-01-04T00:00:00Z"),
            ev("2026-01-06T00:00:00Z"),
            ev("2026-01-08T00:00:00Z"),
        ];
        let groups: Vec<(String, Vec<&str>)> = evidence_by_stage(&evidence, &timeline)
            .into_iter()
            .map(|(g, items)| (g, items.iter().map(|e| s(&e["added_at"])).collect()))
            .collect();
        assert_eq!(
            groups,
            vec![
                (
                    "a draft (before its first stage)".to_string(),
                    vec!["2026-01-01T00:00:00Z", "2026-01-02T12:00:00Z"]
                ),
                (
                    "in dev".to_string(),
                    vec!["2026-01-04T00:00:00Z", "2026-01-08T00:00:00Z"]
                ),
                ("in qa".to_string(), vec!["2026-01-06T00:00:00Z"]),
            ],
            "a blocked promotion moves nothing; a rollback returns to dev"
        );
    }

    #[test]
    fn a_blocked_gate_shows_each_finding_with_its_remediation() {
        let v = json!({"application": "shop", "version": "1.0.0", "lifecycle": "default", "stage": null, "release_status": "none", "draft": true});
        let gate = json!({"gate": {"stage": "dev", "kind": "entry"}, "decision": "blocked", "checks": [
            {"check": "policy:baseline.provenance", "mode": "block", "outcome": "fail", "binding": "b1",
             "findings": [{"level": "deny", "rule_id": "BASELINE-PROV-1", "message": "no provenance", "remediation": "sign it"}]}]});
        let view = VersionView {
            v: &v,
            next: None,
            blocked: None,
            evaluations: &[gate],
            components: &[],
            findings: &[],
            evidence: &[],
            waivers: &[],
            timeline: &[],
            may_request: true,
            may_move: true,
        };
        let page = version(&session(), &view);
        assert!(page.contains("Request a waiver"), "{page}");
        assert!(page.contains("[BASELINE-PROV-1] no provenance"), "{page}");
        assert!(page.contains("Remediation: sign it"), "{page}");
        assert!(page.contains("not yet in a stage"));
    }
}
