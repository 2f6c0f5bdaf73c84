//! Every bundled policy pack against its own table of cases (policies/*/tests.json).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use std::collections::{BTreeMap, BTreeSet};

use gatehouse::gate::Level;
use gatehouse::policy::{self, Limits, PolicySet};
use serde_json::Value;

#[test]
fn every_pack_passes_its_table_and_every_policy_has_a_pass_and_a_fail() {
    let set = PolicySet::new(policy::bundled().unwrap()).unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies");
    let mut seen: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    let mut cases = 0;
    for pack in std::fs::read_dir(root).unwrap() {
        let dir = pack.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let table: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("tests.json"))
                .unwrap_or_else(|_| panic!("{} has no tests.json", dir.display())),
        )
        .unwrap();
        for group in table.as_array().unwrap() {
            let name = group["policy"].as_str().unwrap();
            for case in group["cases"].as_array().unwrap() {
                let input = PolicySet::input(&case["input"]);
                let e = set.evaluate(name, &input, &group["params"], Limits::default());
                assert!(e.error.is_none(), "{name} / {}: {:?}", case["name"], e.error);
                let ids = |level: Level| -> BTreeSet<String> {
                    e.findings
                        .iter()
                        .filter(|f| f.level == level)
                        .map(|f| f.rule_id.clone().unwrap_or_else(|| f.message.clone()))
                        .collect()
                };
                let expect = |k: &str| -> BTreeSet<String> {
                    case[k]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect()
                };
                assert_eq!(ids(Level::Deny), expect("deny"), "{name} / {}: deny", case["name"]);
                assert_eq!(ids(Level::Warn), expect("warn"), "{name} / {}: warn", case["name"]);
                let entry = seen.entry(name.to_string()).or_default();
                if expect("deny").is_empty() {
                    entry.0 = true;
                } else {
                    entry.1 = true;
                }
                cases += 1;
            }
        }
    }
    for p in set.policies() {
        assert_eq!(
            seen.get(&p.name),
            Some(&(true, true)),
            "{} needs a passing and a failing case",
            p.name
        );
        for f in p.source.split("\"rule_id\":").skip(1) {
            let id = f.split('"').nth(1).unwrap();
            assert!(
                p.source.contains("\"remediation\""),
                "{}: rule {id} lacks a remediation",
                p.name
            );
        }
    }
    assert!(cases >= 20, "{cases} cases");
}

/// A conftest-style directory (one package over several files, conftest's
/// rule names) is one policy and judges as conftest would: before, only the
/// last file of the package was kept and the others' denials were dropped.
#[test]
fn a_conftest_style_directory_is_one_policy_with_every_rule() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/conftest-style"));
    let found = policy::from_directory(dir).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].name, "main");
    assert_eq!(
        found[0].files().len(),
        5,
        "every file of the package, the unit test included"
    );
    let set = PolicySet::new(found).unwrap();
    let bare = serde_json::json!({
        "application": {"key": "shop", "owners": {"users": [], "groups": []}, "labels": {}, "criticality": "unspecified"},
        "version": {"version": "1.0.0", "vcs": null},
    });
    let e = set.evaluate("main", &PolicySet::input(&bare), &Value::Null, Limits::default());
    assert!(e.error.is_none(), "{e:?}");
    let lines: Vec<(Level, String)> = e.findings.iter().map(|f| (f.level, f.message.clone())).collect();
    for (level, text) in [
        (Level::Deny, "application shop has no owners"),
        (Level::Deny, "application shop lacks the label team"),
        (Level::Deny, "version 1.0.0 has no VCS revision"),
        (Level::Warn, "application shop has criticality unspecified: rate it"),
    ] {
        assert!(lines.contains(&(level, text.to_string())), "{text}: {lines:?}");
    }
    let good = serde_json::json!({
        "application": {"key": "shop", "owners": {"users": ["ann"], "groups": []}, "labels": {"team": "pay"}, "criticality": "high"},
        "version": {"version": "1.0.0", "vcs": {"revision": "abc"}},
    });
    let e = set.evaluate("main", &PolicySet::input(&good), &Value::Null, Limits::default());
    assert!(e.findings.is_empty(), "{e:?}");
}
