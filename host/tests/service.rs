//! The use cases against the real embedded store in a temporary directory.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use std::sync::Arc;

use gatehouse::Error;
use gatehouse::app::NewApplication;
use gatehouse::audit::EventResult;
use gatehouse::error::parse_input;
use gatehouse::gate::{Check, CheckOutput, Context, Finding, Level, Mode, Outcome};
use gatehouse::lifecycle::{GateKind, GateRef, LifecycleSpec};
use gatehouse::service::{Gatehouse, PromoteRequest, ReleaseRequest, RollbackRequest};
use gatehouse::store::{AppFilter, EventFilter};
use gatehouse::version::{NewVersion, VersionPatch};
use serde_json::json;

fn open() -> (tempfile::TempDir, Gatehouse) {
    let dir = tempfile::tempdir().unwrap();
    let gh = Gatehouse::open(dir.path()).unwrap();
    (dir, gh)
}

fn new_app(key: &str, project: &str) -> NewApplication {
    parse_input(
        "application",
        json!({ "key": key, "project": project, "criticality": "high" }),
    )
    .unwrap()
}

fn new_version(v: &str) -> NewVersion {
    parse_input(
        "version",
        json!({ "version": v, "artifacts": [{ "name": "app.tgz", "kind": "file", "sha256": "ab".repeat(32) }] }),
    )
    .unwrap()
}

fn promote(target: &str) -> PromoteRequest {
    PromoteRequest {
        target_stage: target.into(),
        dry_run: false,
    }
}

fn all_events(gh: &Gatehouse) -> Vec<gatehouse::audit::Event> {
    gh.activity(EventFilter {
        limit: 1000,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn a_version_climbs_to_prod_and_is_released_with_every_step_logged() {
    let (_dir, gh) = open();
    gh.create_application("alice", new_app("payments", "shop")).unwrap();
    gh.create_version("ci", "payments", new_version("1.0.0")).unwrap();
    for stage in ["dev", "qa", "staging", "prod"] {
        let o = gh.promote("rm", "payments", "1.0.0", promote(stage)).unwrap();
        assert_eq!(o.version.stage.as_deref(), Some(stage));
        assert!(o.allowed && !o.version.draft);
    }
    let o = gh
        .release("rm", "payments", "1.0.0", ReleaseRequest::default())
        .unwrap();
    assert_eq!(o.version.release_status.as_str(), "trusted_release");
    assert_eq!(o.gates.len(), 1);
    assert_eq!(o.gates[0].gate.kind, GateKind::Release);

    let actions: Vec<String> = all_events(&gh).iter().map(|e| e.action.clone()).collect();
    assert_eq!(
        actions,
        [
            "application.create",
            "version.create",
            "version.promote",
            "version.promote",
            "version.promote",
            "version.promote",
            "version.release"
        ]
    );
    let timeline = gh.timeline("payments", "1.0.0", None, 100).unwrap();
    assert_eq!(timeline.len(), 6);
    assert!(timeline.iter().all(|e| e.version.as_deref() == Some("1.0.0")));
    let report = gh.verify_chain().unwrap();
    assert!(report.broken.is_none());
    assert_eq!(report.events, 7);
}

struct Fixed(&'static str, Mode, Outcome);

impl Check for Fixed {
    fn id(&self) -> &str {
        self.0
    }
    fn mode(&self) -> Mode {
        self.1
    }
    fn evaluate(&self, ctx: &Context<'_>) -> CheckOutput {
        CheckOutput {
            outcome: self.2,
            findings: vec![Finding {
                level: Level::Deny,
                message: format!("{} judged {}", self.0, ctx.version.version),
                rule_id: None,
                title: None,
                rationale: None,
                remediation: None,
                severity: None,
            }],
            error: None,
            error_code: None,
        }
    }
}

#[test]
fn a_blocking_gate_stops_the_move_and_the_refusal_is_logged() {
    let (_dir, mut gh) = open();
    let qa_entry = GateRef {
        stage: "qa".into(),
        kind: GateKind::Entry,
    };
    gh.bind(
        qa_entry.clone(),
        Arc::new(Fixed("needs-tests", Mode::Block, Outcome::Fail)),
    );
    gh.bind(qa_entry.clone(), Arc::new(Fixed("style", Mode::Warn, Outcome::Fail)));
    gh.bind(qa_entry, Arc::new(Fixed("broken-policy", Mode::Block, Outcome::Error)));
    gh.create_application("alice", new_app("payments", "shop")).unwrap();
    gh.create_version("ci", "payments", new_version("1.0.0")).unwrap();
    gh.promote("rm", "payments", "1.0.0", promote("dev")).unwrap();

    let dry = gh
        .promote(
            "rm",
            "payments",
            "1.0.0",
            PromoteRequest {
                target_stage: "qa".into(),
                dry_run: true,
            },
        )
        .unwrap();
    assert!(!dry.allowed && dry.dry_run);
    let before = all_events(&gh).len();

    // A block is an outcome of the service, and a refusal for its callers.
    let o = gh.promote("rm", "payments", "1.0.0", promote("qa")).unwrap();
    assert!(!o.allowed && !o.dry_run);
    // Every check is reported, not only the first failure.
    let entry = o.gates.iter().find(|v| v.gate.stage == "qa").unwrap();
    assert_eq!(entry.checks.len(), 3);
    let err = gatehouse::gate::blocked(&o.gates);
    assert!(matches!(err, Error::Blocked { blocked: 1, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("needs-tests") && text.contains("broken-policy"), "{text}");

    assert_eq!(gh.version("payments", "1.0.0").unwrap().stage.as_deref(), Some("dev"));
    let events = all_events(&gh);
    assert_eq!(
        events.len(),
        before + 1,
        "dry runs write nothing; the block writes one event"
    );
    let last = events.last().unwrap();
    assert_eq!(last.result, EventResult::Blocked);
    assert_eq!(last.details["gates"][1]["decision"], "blocked");
}

#[test]
fn warn_mode_failures_pass_with_a_warning_event() {
    let (_dir, mut gh) = open();
    gh.bind(
        GateRef {
            stage: "dev".into(),
            kind: GateKind::Entry,
        },
        Arc::new(Fixed("style", Mode::Warn, Outcome::Fail)),
    );
    gh.create_application("alice", new_app("payments", "shop")).unwrap();
    gh.create_version("ci", "payments", new_version("1.0.0")).unwrap();
    let o = gh.promote("rm", "payments", "1.0.0", promote("dev")).unwrap();
    assert!(o.allowed);
    assert_eq!(all_events(&gh).last().unwrap().result, EventResult::Warning);
}

#[test]
fn refusals_that_depend_on_state_are_logged_and_bad_input_writes_nothing() {
    let (_dir, gh) = open();
    gh.create_application("alice", new_app("payments", "shop")).unwrap();
    gh.create_version("ci", "payments", new_version("1.0.0")).unwrap();
    gh.promote("rm", "payments", "1.0.0", promote("dev")).unwrap();
    let n = all_events(&gh).len();

    // Bad input: nothing written.
    assert!(matches!(
        gh.promote("rm", "payments", "1.0.0", promote("preprod")),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        gh.create_application("alice", new_app("Bad", "shop")),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        gh.create_version("ci", "payments", new_version("v2")),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        gh.create_application("alice", new_app("payments", "shop")),
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        gh.update_version("ci", "payments", "1.0.0", VersionPatch::default()),
        Err(Error::Conflict { .. })
    ));
    assert_eq!(all_events(&gh).len(), n);

    // State refusals: one failure event each.
    let e = gh.promote("rm", "payments", "1.0.0", promote("staging")).unwrap_err();
    assert!(e.to_string().contains("skip stage qa"), "{e}");
    let e = gh
        .rollback(
            "rm",
            "payments",
            "1.0.0",
            RollbackRequest {
                from_stage: "qa".into(),
                reason: None,
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("from_stage is qa"), "{e}");
    let events = all_events(&gh);
    let failures: Vec<_> = events[n..].iter().map(|e| (e.action.as_str(), e.result)).collect();
    assert_eq!(
        failures,
        [
            ("version.promote", EventResult::Failure),
            ("version.rollback", EventResult::Failure)
        ]
    );
    assert_eq!(gh.version("payments", "1.0.0").unwrap().stage.as_deref(), Some("dev"));
}

#[test]
fn rollback_moves_back_and_clears_the_release() {
    let (_dir, gh) = open();
    gh.create_application("alice", new_app("payments", "shop")).unwrap();
    gh.create_version("ci", "payments", new_version("1.0.0")).unwrap();
    for stage in ["dev", "qa", "staging", "prod"] {
        gh.promote("rm", "payments", "1.0.0", promote(stage)).unwrap();
    }
    gh.release("rm", "payments", "1.0.0", ReleaseRequest::default())
        .unwrap();
    let o = gh
        .rollback(
            "rm",
            "payments",
            "1.0.0",
            RollbackRequest {
                from_stage: "prod".into(),
                reason: Some("incident 42".into()),
            },
        )
        .unwrap();
    assert_eq!(o.version.stage.as_deref(), Some("staging"));
    assert_eq!(o.version.release_status.as_str(), "pre_release");
    assert!(o.version.released_at.is_none());
    let last = all_events(&gh).pop().unwrap();
    assert_eq!(last.details["request"]["reason"], "incident 42");
    assert_eq!(last.details["request"]["release_status_before"], "trusted_release");
}

#[test]
fn project_lifecycles_apply_to_new_versions_and_allow_declared_skips() {
    let (_dir, gh) = open();
    let spec: LifecycleSpec = parse_input(
        "lifecycle",
        json!({ "projects": ["shop"], "stages": [{"name": "build"}, {"name": "canary", "skippable": true}, {"name": "live"}] }),
    )
    .unwrap();
    gh.put_lifecycle("admin", "fast", spec).unwrap();
    gh.create_application("alice", new_app("payments", "shop")).unwrap();
    gh.create_application("alice", new_app("ledger", "finance")).unwrap();
    let v = gh.create_version("ci", "payments", new_version("1.0.0")).unwrap();
    assert_eq!(v.lifecycle, "fast");
    assert_eq!(
        gh.create_version("ci", "ledger", new_version("1.0.0"))
            .unwrap()
            .lifecycle,
        "default"
    );
    gh.promote("rm", "payments", "1.0.0", promote("build")).unwrap();
    let o = gh.promote("rm", "payments", "1.0.0", promote("live")).unwrap();
    assert_eq!(o.skipped, ["canary"]);
    assert_eq!(
        o.gates.iter().map(|g| g.gate.to_string()).collect::<Vec<_>>(),
        ["build/exit", "live/entry"]
    );

    // A stage where a version stands cannot be removed.
    let shrink: LifecycleSpec = parse_input(
        "lifecycle",
        json!({ "projects": ["shop"], "stages": [{"name": "build"}] }),
    )
    .unwrap();
    let e = gh.put_lifecycle("admin", "fast", shrink).unwrap_err();
    assert!(e.to_string().contains("live"), "{e}");
    // A project climbs one lifecycle only.
    let other: LifecycleSpec =
        parse_input("lifecycle", json!({ "projects": ["shop"], "stages": [{"name": "x1"}] })).unwrap();
    assert!(matches!(
        gh.put_lifecycle("admin", "other", other),
        Err(Error::Conflict { .. })
    ));
    assert!(
        gh.lifecycle("other").is_err(),
        "the refused lifecycle was not half-written"
    );
}

#[test]
fn applications_with_history_cannot_be_deleted() {
    let (_dir, gh) = open();
    gh.create_application("alice", new_app("payments", "shop")).unwrap();
    gh.create_application("alice", new_app("scratch", "shop")).unwrap();
    gh.create_version("ci", "payments", new_version("1.0.0")).unwrap();
    gh.create_version("ci", "scratch", new_version("0.1.0")).unwrap();
    gh.promote("rm", "payments", "1.0.0", promote("dev")).unwrap();
    assert!(matches!(
        gh.delete_application("alice", "payments"),
        Err(Error::Conflict { .. })
    ));
    gh.delete_application("alice", "scratch").unwrap();
    assert!(matches!(gh.application("scratch"), Err(Error::NotFound { .. })));
    assert!(gh.verify_chain().unwrap().broken.is_none());
}

#[test]
fn application_list_filters() {
    let (_dir, gh) = open();
    let mk = |doc| {
        gh.create_application("alice", parse_input("application", doc).unwrap())
            .unwrap()
    };
    mk(
        json!({"key": "aa", "project": "p1", "criticality": "high", "owners": {"users": ["bob"]}, "labels": {"team": "pay"}}),
    );
    mk(json!({"key": "bb", "project": "p1", "criticality": "low", "owners": {"groups": ["sre"]}}));
    mk(json!({"key": "cc", "project": "p2", "maturity": "production", "labels": {"team": "core"}}));
    let keys = |f: AppFilter| {
        gh.applications(f)
            .unwrap()
            .into_iter()
            .map(|a| a.key)
            .collect::<Vec<_>>()
    };
    let by_project = AppFilter {
        project: Some("p1".into()),
        ..Default::default()
    };
    assert_eq!(keys(by_project), ["aa", "bb"]);
    let by_group = AppFilter {
        owner: Some("sre".into()),
        ..Default::default()
    };
    assert_eq!(keys(by_group), ["bb"]);
    let by_user = AppFilter {
        owner: Some("bob".into()),
        ..Default::default()
    };
    assert_eq!(keys(by_user), ["aa"]);
    let has_label = AppFilter {
        label: Some(("team".into(), None)),
        ..Default::default()
    };
    assert_eq!(keys(has_label), ["aa", "cc"]);
    let label_value = AppFilter {
        label: Some(("team".into(), Some("core".into()))),
        ..Default::default()
    };
    assert_eq!(keys(label_value), ["cc"]);
    let page = AppFilter {
        after: Some("aa".into()),
        limit: 1,
        ..Default::default()
    };
    assert_eq!(keys(page), ["bb"]);
    let low = AppFilter {
        criticality: Some(gatehouse::app::Criticality::Low),
        ..Default::default()
    };
    assert_eq!(keys(low), ["bb"]);
}

#[test]
fn tampering_with_the_log_database_is_named_by_verify() {
    let (dir, gh) = open();
    gh.create_application("alice", new_app("payments", "shop")).unwrap();
    gh.create_version("ci", "payments", new_version("1.0.0")).unwrap();
    gh.promote("rm", "payments", "1.0.0", promote("dev")).unwrap();
    gh.promote("rm", "payments", "1.0.0", promote("qa")).unwrap();
    drop(gh);
    let db = dir.path().join("gatehouse.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    // The append-only triggers refuse casual edits…
    assert!(
        conn.execute("UPDATE activity SET actor = 'mallory' WHERE seq = 3", [])
            .is_err()
    );
    // …and a determined editor who drops them is caught by the chain.
    conn.execute_batch("DROP TRIGGER activity_no_update; DROP TRIGGER activity_no_delete;")
        .unwrap();
    conn.execute("UPDATE activity SET result = 'approved' WHERE seq = 4", [])
        .unwrap();
    conn.execute("UPDATE activity SET actor = 'mallory' WHERE seq = 3", [])
        .unwrap();
    drop(conn);
    let gh = Gatehouse::open(dir.path()).unwrap();
    let broken = gh.verify_chain().unwrap().broken.unwrap();
    assert_eq!(broken.seq, 3, "the first broken event, not a later unreadable one");
    assert!(broken.reason.contains("edited"), "{}", broken.reason);
}

#[test]
fn a_gate_call_is_the_transition_and_document_of_the_next_move_and_writes_nothing() {
    let (_dir, gh) = open();
    gh.create_application("alice", new_app("payments", "shop")).unwrap();
    gh.create_version("ci", "payments", new_version("1.0.0")).unwrap();
    let call = gh.gate_call("payments", "1.0.0", "dev").unwrap();
    assert_eq!((call.gate.as_str(), call.action.as_str()), ("dev/entry", "promote"));
    assert_eq!(
        (call.from_stage.as_deref(), call.to_stage.as_deref()),
        (None, Some("dev"))
    );
    assert_eq!(call.input["application"]["key"], "payments");
    assert_eq!(
        call.input["transition"]["gate"],
        json!({"stage": "dev", "kind": "entry"})
    );
    let before = all_events(&gh).len();

    gh.promote("rm", "payments", "1.0.0", promote("dev")).unwrap();
    let exit = gh.gate_call("payments", "1.0.0", "dev/exit").unwrap();
    assert_eq!((exit.gate.as_str(), exit.to_stage.as_deref()), ("dev/exit", Some("qa")));
    let entry = gh.gate_call("payments", "1.0.0", "qa/entry").unwrap();
    assert_eq!(entry.from_stage.as_deref(), Some("dev"));
    assert_eq!(all_events(&gh).len(), before + 1, "only the promotion wrote an event");

    for (gate, needle) in [
        ("qa/exit", "the exit gate of the stage the version is in (dev)"),
        ("dev/sideways", "STAGE, STAGE/entry"),
        ("", "with a stage of lifecycle \"default\": dev, qa, staging, prod"),
        ("preprod/entry", "`gate`"),
    ] {
        let e = gh.gate_call("payments", "1.0.0", gate).unwrap_err().to_string();
        assert!(e.contains(needle), "{gate}: {e}");
    }
    assert!(matches!(
        gh.gate_call("payments", "1.0.0", "prod/release"),
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        gh.gate_call("payments", "9.9.9", "dev"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn an_applications_gate_plan_is_every_gate_of_its_projects_lifecycle_with_the_checks_that_apply() {
    let (_dir, gh) = open();
    let spec: LifecycleSpec = parse_input(
        "lifecycle",
        json!({ "projects": ["shop"], "stages": [{"name": "build"}, {"name": "live"}] }),
    )
    .unwrap();
    gh.put_lifecycle("admin", "fast", spec).unwrap();
    gh.create_application("alice", new_app("payments", "shop")).unwrap();
    gh.create_application("alice", new_app("ledger", "finance")).unwrap();
    let scoped = json!({ "check": "policy:baseline.provenance", "gate": { "stage": "live", "kind": "release" },
                         "scope": { "applications": ["payments"] } });
    gh.put_binding("admin", "prov", parse_input("binding", scoped).unwrap())
        .unwrap();
    let everywhere =
        json!({ "check": "policy:baseline.sbom", "gate": { "stage": "*", "kind": "entry" }, "mode": "warn" });
    gh.put_binding("admin", "sbom", parse_input("binding", everywhere).unwrap())
        .unwrap();

    let plan = gh.application_gate_plan("payments").unwrap();
    assert_eq!(plan.lifecycle, "fast");
    let gates: Vec<String> = plan
        .gates
        .iter()
        .map(|g| {
            format!(
                "{}/{}:{}",
                g.gate.stage,
                json!(g.gate.kind).as_str().unwrap(),
                g.checks.len()
            )
        })
        .collect();
    assert_eq!(
        gates,
        [
            "build/entry:1",
            "build/exit:0",
            "live/entry:1",
            "live/exit:0",
            "live/release:1"
        ]
    );
    let release = &plan.gates[4].checks[0];
    assert_eq!(release.check, "policy:baseline.provenance");
    assert!(release.policy.is_some() && release.problem.is_none());
    let sbom = &plan.gates[0].checks[0];
    assert_eq!((sbom.binding.as_str(), json!(sbom.mode)), ("sbom", json!("warn")));
    assert!(sbom.why.contains("every stage"), "{}", sbom.why);

    // Another project: the default lifecycle, and the scoped binding does not apply.
    let other = gh.application_gate_plan("ledger").unwrap();
    assert_eq!(other.lifecycle, "default");
    assert_eq!(other.gates.len(), 9, "four stages, entry and exit, and the release");
    assert!(other.gates.iter().flat_map(|g| &g.checks).all(|c| c.binding == "sbom"));
    assert!(matches!(gh.application_gate_plan("nope"), Err(Error::NotFound { .. })));
}
