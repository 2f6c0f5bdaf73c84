//! A whole stage gate in-process: ten bound policies over an input document
//! carrying a hundred evidence items — building the document, preparing it
//! once, evaluating every policy and composing the verdict — beside regorus
//! evaluating one small prepared policy alone.
//!
//!     cargo bench -p gatehouse-host --bench gate

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse::app::NewApplication;
use gatehouse::document::{self, Transition};
use gatehouse::error::parse_input;
use gatehouse::evidence::{EvidenceBinding, EvidenceEntry};
use gatehouse::gate::{self, Check, Mode};
use gatehouse::lifecycle::{GateKind, GateRef};
use gatehouse::policy::{self, Limits, PolicyCheck, PolicySet};
use gatehouse::version::NewVersion;
use serde_json::json;

fn evidence(n: usize) -> Vec<EvidenceEntry> {
    let types = [
        "https://slsa.dev/provenance/v1",
        "https://cyclonedx.org/bom",
        "https://in-toto.io/attestation/test-result/v0.1",
        "https://in-toto.io/attestation/vulns/v0.2",
    ];
    (0..n)
        .map(|i| EvidenceEntry {
            binding: EvidenceBinding {
                digest: format!("{i:064x}"),
                application: "bench".into(),
                version: "1.0.0".into(),
                verified: true,
                refusal: None,
                signers: vec!["68a5b8514aaf64c9d57aa10956c0ee7b72b0f5a3a1063c127c52c6480f1c6151".into()],
                added_by: "ci".into(),
                added_at: "2026-11-26T00:00:00.000000Z".into(),
            },
            predicate_type: types.get(i % types.len()).map(|t| t.to_string()),
            subjects: vec![],
            statement: Some(json!({ "predicate": {
                "result": "PASSED", "url": format!("https://ci/{i}"), "passedTests": ["a", "b"], "warnedTests": [], "failedTests": [],
                "runDetails": { "builder": { "id": "https://github.com/actions/runner" } },
            } })),
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let set = Arc::new(PolicySet::new(policy::bundled().expect("bundled policies")).expect("policies compile"));
    let app = parse_input::<NewApplication>("app", json!({"key": "bench", "project": "shop"}))
        .expect("app")
        .into_application("t")
        .expect("app");
    let v = json!({"version": "1.0.0", "artifacts": [{"name": "a", "kind": "file", "sha256": "ab".repeat(32)}],
                   "vcs": {"repo": "r", "revision": "abcdef1"}});
    let version = parse_input::<NewVersion>("v", v)
        .expect("v")
        .into_version("bench", "default", "t")
        .expect("v");
    let evidence = evidence(100);
    let gate_ref = GateRef {
        stage: "prod".into(),
        kind: GateKind::Entry,
    };
    let params = json!({ "allowed_builders": ["https://github.com/actions/runner"], "min_level": 2,
                         "builder_levels": { "https://github.com/actions/runner": 3 } });
    // Ten bindings over every bundled policy (one is bound twice, with other parameters in real use).
    let all: Vec<String> = set.policies().map(|p| p.name.clone()).collect();
    let names: Vec<String> = all.iter().cycle().take(10).cloned().collect();

    let whole_gate = || {
        let t = Transition {
            action: "promote",
            from_stage: Some("staging"),
            to_stage: Some("prod"),
            gate: &gate_ref,
        };
        let doc = document::build(&app, &version, &t, &evidence, &[], &[]).to_json();
        let input = PolicySet::input_from_json(&doc);
        let checks: Vec<PolicyCheck> = names
            .iter()
            .map(|n| PolicyCheck {
                binding: n.clone(),
                check: format!("policy:{n}"),
                mode: Mode::Block,
                params: params.clone(),
                set: set.clone(),
                input: input.clone(),
                limits: Limits::default(),
            })
            .collect();
        let refs: Vec<&dyn Check> = checks.iter().map(|c| c as &dyn Check).collect();
        let ctx = gate::Context {
            application: &app,
            version: &version,
            from_stage: Some("staging"),
            to_stage: Some("prod"),
            gate: &gate_ref,
            evidence: &evidence,
            document: &doc,
        };
        gate::evaluate(&ctx, &refs, &[])
    };
    let verdict = whole_gate();
    assert!(
        verdict.checks.iter().all(|c| c.outcome != gate::Outcome::Error),
        "{}",
        verdict.explain()
    );

    let mut group = c.benchmark_group("gate");
    group.bench_function("stage_gate_10_policies_100_evidence", |b| {
        b.iter(|| black_box(whole_gate()))
    });

    let small = PolicySet::new(vec![
        policy::from_source(
            "small.rego",
            "package small\nimport rego.v1\ndeny contains \"no\" if not input.ok\n",
            policy::Origin::Bundled,
            1,
        )
        .expect("small policy"),
    ])
    .expect("compiles");
    let small_input = PolicySet::input(&json!({ "ok": true }));
    group.bench_function("regorus_one_small_prepared_policy", |b| {
        b.iter(|| black_box(small.evaluate("small", &small_input, &serde_json::Value::Null, Limits::default())))
    });
    let t = Transition {
        action: "promote",
        from_stage: Some("staging"),
        to_stage: Some("prod"),
        gate: &gate_ref,
    };
    let doc = document::build(&app, &version, &t, &evidence, &[], &[]).to_json();
    group.bench_function("build_document_100_evidence", |b| {
        b.iter(|| black_box(document::build(&app, &version, &t, &evidence, &[], &[]).to_json()))
    });
    group.bench_function("prepare_input_100_evidence", |b| {
        b.iter(|| black_box(PolicySet::input_from_json(&doc)))
    });
    let input = PolicySet::input_from_json(&doc);
    group.bench_function("one_policy_no_params", |b| {
        b.iter(|| black_box(set.evaluate("baseline.tests", &input, &serde_json::Value::Null, Limits::default())))
    });
    group.bench_function("one_policy_with_params", |b| {
        b.iter(|| black_box(set.evaluate("baseline.tests", &input, &params, Limits::default())))
    });
    group.finish();
}

criterion_group!(gate_benches, benches);
criterion_main!(gate_benches);
