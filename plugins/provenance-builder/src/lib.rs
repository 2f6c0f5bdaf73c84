//! `provenance-builder`: the version must carry verified SLSA provenance, and
//! every provenance statement about it must name a builder from the
//! allow-list (`allowed_builders`: manifest config, replaced by the binding's
//! parameter of the same name). Entries are exact builder ids or prefixes
//! ending in `*`.

use gatehouse_sdk::{Context, Error, Finding, GateCheck, Severity, Verdict};
use serde_json::Value;

const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";

struct ProvenanceBuilder;

impl GateCheck for ProvenanceBuilder {
    fn check(ctx: Context) -> Result<Verdict, Error> {
        let params = ctx.params_json()?;
        let allowed = match params.get("allowed_builders") {
            Some(v) => v
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|s| s.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| Error::new("bad-params", "params.allowed_builders must be a list of builder ids"))?,
            None => gatehouse_sdk::config::list("allowed_builders"),
        };
        let input = ctx.input_json()?;
        Ok(Verdict::from_findings(judge(&builders(&input), &allowed)))
    }
}

gatehouse_sdk::export_gate_check!(ProvenanceBuilder);

/// The builder id of every provenance statement in the input (None when a
/// statement names none).
pub fn builders(input: &Value) -> Vec<Option<String>> {
    input["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| match e["predicate_type"].as_str()? {
            SLSA_V1 => Some(
                e["predicate"]["runDetails"]["builder"]["id"]
                    .as_str()
                    .map(str::to_string),
            ),
            SLSA_V02 => Some(e["predicate"]["builder"]["id"].as_str().map(str::to_string)),
            _ => None,
        })
        .collect()
}

pub fn allowed(builder: &str, allow: &[String]) -> bool {
    allow.iter().any(|a| match a.strip_suffix('*') {
        Some(prefix) => builder.starts_with(prefix),
        None => a == builder,
    })
}

pub fn judge(builders: &[Option<String>], allow: &[String]) -> Vec<Finding> {
    if builders.is_empty() {
        return vec![
            Finding::new("PROV-001", "no verified SLSA provenance for this version")
                .severity(Severity::High)
                .remediation("have the build sign SLSA provenance (v1 or v0.2) and add it as evidence"),
        ];
    }
    let mut findings = Vec::new();
    for b in builders {
        match b {
            None => findings.push(
                Finding::new("PROV-002", "SLSA provenance names no builder id")
                    .severity(Severity::High)
                    .remediation("fix the provenance generator: runDetails.builder.id is required"),
            ),
            Some(id) if !allowed(id, allow) => findings.push(
                Finding::new(
                    "PROV-003",
                    if allow.is_empty() {
                        format!("builder {id} is not allowed: the allow-list is empty")
                    } else {
                        format!("builder {id} is not among the allowed builders ({})", allow.join(", "))
                    },
                )
                .severity(Severity::High)
                .remediation("build on an allowed builder, or add this one to allowed_builders"),
            ),
            Some(_) => {}
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_input() -> Value {
        let path = format!(
            "{}/../../tests/data/shared/dsse/valid/slsa-provenance-v1.statement.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let statement: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
        serde_json::json!({ "evidence": [{ "predicate_type": statement["predicateType"], "predicate": statement["predicate"] }] })
    }

    #[test]
    fn the_real_provenance_builder_is_judged_against_the_allow_list() {
        let found = builders(&fixture_input());
        assert_eq!(
            found,
            [Some("https://example.com/relgov-fixture/builders/local@v1".to_string())]
        );
        assert!(judge(&found, &["https://example.com/relgov-fixture/builders/*".to_string()]).is_empty());
        let refused = judge(&found, &["https://github.com/actions/runner".to_string()]);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].rule, "PROV-003");
        assert!(refused[0].message.contains("local@v1"));
    }

    #[test]
    fn no_provenance_fails() {
        let f = judge(&builders(&serde_json::json!({"evidence": []})), &[]);
        assert_eq!(f[0].rule, "PROV-001");
    }
}
