//! The checks of `host/benches/plugin.rs`, as an Extism plugin, for the side
//! by side benchmark: `trivial` reads its `mode` config and passes;
//! `provenance_builder` is the bundled plugin's logic (SLSA builder id against
//! an allow-list of exact ids and `prefix*` entries) over the same JSON.

use extism_pdk::*;
use serde_json::{Value, json};

#[plugin_fn]
pub fn trivial(_input: String) -> FnResult<String> {
    let mode = config::get("mode")?.unwrap_or_default();
    let _target = config::get("target")?;
    if mode == "pass" {
        Ok(r#"{"outcome":"pass","findings":[]}"#.to_string())
    } else {
        Err(WithReturnCode::new(Error::msg(format!("unknown mode {mode:?}")), 1))
    }
}

/// Input: `{"params": {...}, "input": {...}}`; output: a verdict as JSON.
#[plugin_fn]
pub fn provenance_builder(input: String) -> FnResult<String> {
    let call: Value = serde_json::from_str(&input)?;
    let allow: Vec<String> = call["params"]["allowed_builders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut builders = Vec::new();
    for e in call["input"]["evidence"].as_array().into_iter().flatten() {
        match e["predicate_type"].as_str() {
            Some("https://slsa.dev/provenance/v1") => {
                builders.push(e["predicate"]["runDetails"]["builder"]["id"].as_str().map(str::to_string))
            }
            Some("https://slsa.dev/provenance/v0.2") => {
                builders.push(e["predicate"]["builder"]["id"].as_str().map(str::to_string))
            }
            _ => {}
        }
    }
    let allowed = |b: &str| {
        allow.iter().any(|a| match a.strip_suffix('*') {
            Some(p) => b.starts_with(p),
            None => a == b,
        })
    };
    let mut findings = Vec::new();
    if builders.is_empty() {
        findings.push(json!({"rule": "PROV-001", "message": "no verified SLSA provenance for this version", "severity": "high"}));
    }
    for b in &builders {
        match b {
            None => findings.push(json!({"rule": "PROV-002", "message": "SLSA provenance names no builder id", "severity": "high"})),
            Some(id) if !allowed(id) => findings.push(json!({"rule": "PROV-003",
                "message": format!("builder {id} is not among the allowed builders ({})", allow.join(", ")), "severity": "high"})),
            Some(_) => {}
        }
    }
    let outcome = if findings.is_empty() { "pass" } else { "fail" };
    Ok(json!({"outcome": outcome, "findings": findings}).to_string())
}
