//! {{name}}: a Gatehouse gate check. It blocks a transition unless the
//! version carries verified evidence of every predicate type `[config]
//! required` names (a binding's `params.required` replaces the list).

use gatehouse_sdk::{Context, Error, Finding, GateCheck, Severity, Verdict};
use serde_json::Value;

struct Check;

impl GateCheck for Check {
    fn check(ctx: Context) -> Result<Verdict, Error> {
        let params = ctx.params_json()?;
        let required: Vec<String> = match params.get("required") {
            Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            Some(_) => return Err(Error::new("bad-params", "params.required must be a list of predicate types")),
            None => gatehouse_sdk::config::list("required"),
        };
        let input = ctx.input_json()?;
        let present: Vec<&str> = input["evidence"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["predicate_type"].as_str())
            .collect();
        gatehouse_sdk::log::info(&format!(
            "{} {}: {} evidence item(s), {} type(s) required",
            ctx.application,
            ctx.version,
            present.len(),
            required.len()
        ));
        let findings = required
            .iter()
            .filter(|t| !present.contains(&t.as_str()))
            .map(|t| {
                Finding::new("{{rule}}", format!("{} {} has no verified evidence of type {t}", ctx.application, ctx.version))
                    .severity(Severity::High)
                    .remediation(format!("sign a statement of type {t} in CI and add it as evidence"))
            })
            .collect();
        Ok(Verdict::from_findings(findings))
    }
}

gatehouse_sdk::export_gate_check!(Check);

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_sdk::Outcome;
    use gatehouse_sdk::testing::{MockHost, context};

    const PROVENANCE: &str = "https://slsa.dev/provenance/v1";

    #[test]
    fn missing_evidence_blocks_and_present_evidence_passes() {
        let host = MockHost::new().config("required", [PROVENANCE]).install();
        let verdict = Check::check(context().build()).unwrap();
        assert_eq!(verdict.outcome, Outcome::Fail);
        assert_eq!(verdict.findings[0].rule, "{{rule}}");
        assert_eq!(host.messages().len(), 1);

        let input = serde_json::json!({"evidence": [{"predicate_type": PROVENANCE}]});
        let verdict = Check::check(context().input(input).build()).unwrap();
        assert_eq!(verdict.outcome, Outcome::Pass);
    }

    #[test]
    fn params_replace_the_config() {
        let _host = MockHost::new().config("required", [PROVENANCE]).install();
        let ctx = context().params(serde_json::json!({"required": []})).build();
        assert_eq!(Check::check(ctx).unwrap().outcome, Outcome::Pass);
        let bad = context().params(serde_json::json!({"required": "x"})).build();
        assert_eq!(Check::check(bad).unwrap_err().code, "bad-params");
    }
}
