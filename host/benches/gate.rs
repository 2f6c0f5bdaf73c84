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
use gatehouse::evidence::{EvidenceBinding, EvidenceEntry, Origin, SignerInfo};
use gatehouse::gate::{self, Check, Mode};
use gatehouse::lifecycle::{GateKind, GateRef};
use gatehouse::policy::{self, Limits, PolicyCheck, PolicySet, PreparedInputs};
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
                collected: None,
                keyless: None,
            },
            predicate_type: types.get(i % types.len()).map(|t| t.to_string()),
            subjects: vec![],
            matched_subject: None,
            origin: Some(Origin::Signed {
                signers: vec![SignerInfo {
                    keyid: "68a5b8514aaf64c9d57aa10956c0ee7b72b0f5a3a1063c127c52c6480f1c6151".into(),
                    name: "ci".into(),
                    owner: "platform".into(),
                    keyless: None,
                }],
            }),
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

    // What the sidecar keeps across requests: the evidence converted once per
    // version and evidence set (a version's second gate on, e.g. staging exit
    // then prod entry, or a dry run then the promotion).
    let kept = PreparedInputs::new(16 << 20);
    let gate_of = |names: &[String], threads: usize, prepared: &PreparedInputs| {
        let t = Transition {
            action: "promote",
            from_stage: Some("staging"),
            to_stage: Some("prod"),
            gate: &gate_ref,
        };
        let text = document::build(&app, &version, &t, &evidence, &[], &[], &[]).to_text();
        let input = prepared.input("bench/1.0.0", &text);
        let doc = text.text;
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
        gate::evaluate_on(&ctx, &refs, &[], threads)
    };
    let whole_gate = || gate_of(&names, gatehouse::cores::available(), &kept);
    let verdict = whole_gate();
    assert!(
        verdict.checks.iter().all(|c| c.outcome != gate::Outcome::Error),
        "{}",
        verdict.explain()
    );
    let first = gate_of(&names, 1, &PreparedInputs::new(16 << 20));
    assert_eq!(
        serde_json::to_value(&first.checks).expect("checks"),
        serde_json::to_value(&verdict.checks).expect("checks"),
        "a kept evidence part changes no outcome"
    );

    let mut group = c.benchmark_group("gate");
    group.bench_function("stage_gate_10_policies_100_evidence", |b| {
        b.iter(|| black_box(whole_gate()))
    });
    // The same gate with its checks one after another on the calling thread
    // (what every gate did before 2026-12-02; what a gate gets when every
    // core is busy with other requests).
    group.bench_function("stage_gate_10_policies_100_evidence_one_thread", |b| {
        b.iter(|| black_box(gate_of(&names, 1, &kept)))
    });
    // The version's first gate with this evidence: every part converted.
    group.bench_function("stage_gate_10_policies_100_evidence_first_of_version", |b| {
        b.iter(|| {
            black_box(gate_of(
                &names,
                gatehouse::cores::available(),
                &PreparedInputs::new(16 << 20),
            ))
        })
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
    let doc = document::build(&app, &version, &t, &evidence, &[], &[], &[]).to_json();
    group.bench_function("build_document_100_evidence", |b| {
        b.iter(|| black_box(document::build(&app, &version, &t, &evidence, &[], &[], &[]).to_json()))
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
    let three = PolicySet::new(vec![
        policy::from_source("three.rego", THREE_RULES, policy::Origin::Bundled, 1).expect("three-rule policy"),
    ])
    .expect("compiles");
    group.bench_function("three_rule_policy_100_evidence", |b| {
        b.iter(|| black_box(three.evaluate("three", &input, &serde_json::Value::Null, Limits::default())))
    });
    group.finish();

    // What each bundled policy costs alone on the same input (with the
    // gate's parameters): the longest bounds a gate run on both cores, and
    // the floor — regorus on an empty policy, same input — is what no
    // policy can go under.
    println!("\neach policy alone, same document and parameters, medians in µs:");
    for name in &all {
        let us = median_us(
            || drop(black_box(set.evaluate(name, &input, &params, Limits::default()))),
            9,
            200,
        );
        println!("  {name:<28} {us:>8.1}");
    }
    let empty = PolicySet::new(vec![
        policy::from_source(
            "empty.rego",
            "package empty\nimport rego.v1\ndeny contains \"never\" if false\n",
            policy::Origin::Bundled,
            1,
        )
        .expect("empty policy"),
    ])
    .expect("compiles");
    let floor = median_us(
        || drop(black_box(empty.evaluate("empty", &input, &params, Limits::default()))),
        9,
        2000,
    );
    println!(
        "  {:<28} {floor:>8.1}  (the floor: an empty policy on the same input)",
        "(empty)"
    );

    // rego-cpp beside us, in this run: the same policies, parameters and document.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("policies")).expect("dir");
    for p in set.policies() {
        std::fs::write(dir.path().join("policies").join(format!("{}.rego", p.name)), &p.source).expect("write policy");
    }
    std::fs::write(dir.path().join("input.json"), &doc).expect("write input");
    std::fs::write(dir.path().join("params.json"), params.to_string()).expect("write params");
    std::fs::write(dir.path().join("bound.txt"), names.join("\n")).expect("write bound");
    std::fs::write(dir.path().join("three.rego"), THREE_RULES).expect("write three");
    let ours_three = median_us(
        || {
            drop(black_box(three.evaluate(
                "three",
                &input,
                &serde_json::Value::Null,
                Limits::default(),
            )))
        },
        9,
        100,
    );
    let ours_loop = median_us(|| black_box(()), 9, 10_000);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peers/regopy_gate.py");
    match std::process::Command::new("python3")
        .arg(script)
        .arg(dir.path())
        .output()
    {
        Ok(o) if o.status.success() => {
            let peer: serde_json::Value = serde_json::from_slice(&o.stdout).expect("peer JSON");
            let compared: Vec<String> = peer
                .get("compared")
                .and_then(serde_json::Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            // rego-cpp runs on one thread and converts its whole input each gate: so does ours here.
            let same_gate = || gate_of(&compared, 1, &PreparedInputs::new(16 << 20));
            let ours_gate = median_us(|| drop(black_box(same_gate())), 7, 30);
            if let Some(u) = peer.get("unsupported").and_then(serde_json::Value::as_object) {
                for (name, why) in u {
                    println!("rego-cpp cannot evaluate {name} (left out on both sides): {why}");
                }
            }
            let theirs = |k: &str| {
                peer.get(k)
                    .and_then(|v| v.get(0))
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(f64::NAN)
            };
            println!("\nrego-cpp (regopy) beside Gatehouse, same policies and document, medians in µs:");
            println!(
                "  whole gate ({} bindings x deny+warn, 100 evidence): gatehouse {:.1}, rego-cpp {:.1} -> {:.1}x",
                compared.len(),
                ours_gate,
                theirs("whole_gate_us"),
                theirs("whole_gate_us") / ours_gate
            );
            println!(
                "  three-rule policy, one query:                      gatehouse {:.2}, rego-cpp {:.1} -> {:.0}x",
                ours_three,
                theirs("three_rule_query_us"),
                theirs("three_rule_query_us") / ours_three
            );
            println!(
                "  rego-cpp's floor (a query of an undefined rule):    {:.1}",
                theirs("undefined_rule_query_us")
            );
            println!(
                "  harness cost per call: Rust loop {:.4}, Python loop {:.4}",
                ours_loop,
                theirs("python_loop_per_call_us")
            );
        }
        Ok(o) => println!("\nrego-cpp comparison failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => println!("\nrego-cpp comparison skipped: python3 not runnable ({e}); pip install regopy==1.5.2"),
    }
}

const THREE_RULES: &str = r#"package three
import rego.v1

deny contains "the application names no owners" if count(input.application.owners.users) == 0
deny contains msg if {
	some e in input.evidence
	e.predicate_type == "https://in-toto.io/attestation/test-result/v0.1"
	e.predicate.result == "FAILED"
	msg := sprintf("failed tests in %v", [e.digest])
}
warn contains "no provenance" if {
	not any_provenance
}
any_provenance if {
	some e in input.evidence
	e.predicate_type == "https://slsa.dev/provenance/v1"
}
"#;

/// Median over `rounds` of the mean of `inner` calls, in µs: the same method as the Python side.
fn median_us(mut f: impl FnMut(), rounds: usize, inner: usize) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..inner {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / inner as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

criterion_group!(gate_benches, benches);
criterion_main!(gate_benches);
