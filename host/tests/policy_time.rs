//! A hostile policy cannot hold a gate past three times its time limit
//! (plus the few steps regorus cannot interrupt, measured on this machine),
//! and one that ran past the limit never passes. Unbounded, the policies
//! below would run for minutes; twice the limit proved too tight for a
//! debug build on a loaded 2-core CI machine (534 ms once, ~300 ms idle).

use std::time::{Duration, Instant};

use gatehouse::gate::Outcome;
use gatehouse::policy::{Limits, Origin, Policy, PolicySet, digest};
use serde_json::json;

fn policy(name: &str, body: &str) -> Policy {
    let source = format!("package {name}\nimport rego.v1\n{body}\n");
    Policy {
        name: name.into(),
        path: format!("{name}.rego"),
        origin: Origin::Bundled,
        version: 1,
        digest: digest(&source),
        source,
        files: Vec::new(),
    }
}

#[test]
fn hostile_policies_fail_closed_within_three_times_the_limit() {
    let limit = Duration::from_millis(250);
    let cases = [
        // One builtin call turning two numbers into sixty million elements:
        // refused by size (regorus checks time only between steps).
        (
            "h.range",
            r#"deny contains "x" if { count(numbers.range(1, 60000000)) < 0 }"#,
        ),
        (
            "h.range_step",
            r#"deny contains "x" if { count(numbers.range_step(1, 600000000, 10)) < 0 }"#,
        ),
        // The largest ranges allowed, called over and over.
        (
            "h.ranges",
            r#"deny contains "x" if { count([n | some i in numbers.range(1, 100000); n := count(numbers.range(1, 100000))]) < 0 }"#,
        ),
        // Large values built step by step, then one builtin over them.
        (
            "h.sprintf",
            r#"xs := [i | some i in numbers.range(1, 100000); some j in numbers.range(1, 30)]
deny contains "x" if { count(sprintf("%v", [xs])) < 0 }"#,
        ),
        (
            "h.sort",
            r#"xs := [i | some j in numbers.range(1, 100); some i in numbers.range(1, 100000)]
deny contains "x" if { count(sort(xs)) < 0 }"#,
        ),
        (
            "h.nested",
            r#"deny contains "x" if { count([1 | some i in numbers.range(1, 5000); some j in numbers.range(1, 5000)]) < 0 }"#,
        ),
    ];
    let set = PolicySet::new(cases.iter().map(|(n, b)| policy(n, b)).collect()).unwrap();
    let input = PolicySet::input(&json!({}));
    // The timer is read between steps; the largest step these policies take
    // is one bounded builtin over 100,000 elements. Its cost on this machine,
    // now, is the slack allowed on top of the bound (a loaded CI
    // machine slows both alike; an unbounded policy would still overrun it).
    let step = PolicySet::new(vec![policy(
        "h.step",
        r#"deny contains "x" if { count([n | some i in numbers.range(1, 3); n := count(numbers.range(1, 100000))]) < 0 }"#,
    )])
    .unwrap();
    let slack = (0..3)
        .map(|_| {
            let started = Instant::now();
            step.evaluate("h.step", &input, &serde_json::Value::Null, Limits { time: limit });
            started.elapsed() / 3
        })
        .max()
        .unwrap_or_default()
        * 4;
    eprintln!("slack: {slack:?}");
    for (name, _) in cases {
        let started = Instant::now();
        let e = set.evaluate(name, &input, &serde_json::Value::Null, Limits { time: limit });
        let took = started.elapsed();
        eprintln!("{name}: {took:?} {:?}", e.error);
        assert_eq!(e.outcome, Outcome::Error, "{name}: {e:?}");
        assert!(
            took <= limit * 3 + slack,
            "{name} ran {took:?} against a limit of {limit:?} (slack {slack:?})"
        );
    }
    // Ranges a real policy uses still work, ascending and descending.
    let ok = PolicySet::new(vec![policy(
        "h.ok",
        r#"deny contains "x" if { numbers.range(3, 1) != [3, 2, 1] }
deny contains "y" if { numbers.range_step(0, 10, 5) != [0, 5, 10] }
deny contains "z" if { count(numbers.range(1, 100000)) != 100000 }"#,
    )])
    .unwrap();
    let e = ok.evaluate("h.ok", &input, &serde_json::Value::Null, Limits { time: limit });
    assert_eq!(e.outcome, Outcome::Pass, "{e:?}");
}
