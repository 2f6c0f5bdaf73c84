//! `license-policy`: fail a gate when a component in the version's SBOM
//! evidence (CycloneDX or SPDX 2.3) carries a licence from the deny list.
//!
//! The deny list is the manifest's `deny` config, replaced by the binding's
//! `deny` parameter when that is set. SPDX expressions are evaluated: `MIT OR
//! GPL-3.0-only` may ship under MIT, `MIT AND GPL-3.0-only` may not. Every
//! licence entry a component declares applies. A component is reported with
//! its purl and the denied identifiers that decided it.

use gatehouse_sdk::{Context, Error, Finding, GateCheck, Severity, Verdict};
use serde_json::Value;

const CYCLONEDX: &str = "https://cyclonedx.org/bom";
const SPDX: [&str; 2] = ["https://spdx.dev/Document", "https://spdx.dev/Document/v2.3"];

/// One SBOM component and the licence entries (SPDX expressions or names) it declares.
#[derive(Debug, Clone, PartialEq)]
pub struct Licensed {
    pub name: String,
    pub version: String,
    pub purl: Option<String>,
    pub licenses: Vec<String>,
}

struct LicensePolicy;

impl GateCheck for LicensePolicy {
    fn check(ctx: Context) -> Result<Verdict, Error> {
        let params = ctx.params_json()?;
        let deny = match params.get("deny") {
            Some(v) => {
                strings(v).ok_or_else(|| Error::new("bad-params", "params.deny must be a list of licence ids"))?
            }
            None => gatehouse_sdk::config::list("deny"),
        };
        let warn_unknown = params
            .get("warn_unknown")
            .and_then(Value::as_bool)
            .or_else(|| gatehouse_sdk::config::boolean("warn_unknown"))
            .unwrap_or(false);
        let input = ctx.input_json()?;
        let components = sbom_components(&input);
        if components.is_empty() {
            return Ok(Verdict::warn(vec![
                Finding::new("LIC-000", "no SBOM evidence: licences could not be checked")
                    .severity(Severity::Medium)
                    .remediation("attach a signed CycloneDX or SPDX SBOM to the version"),
            ]));
        }
        gatehouse_sdk::log::debug(&format!(
            "{} components, {} denied licences",
            components.len(),
            deny.len()
        ));
        Ok(Verdict::from_findings(judge(&components, &deny, warn_unknown)))
    }
}

gatehouse_sdk::export_gate_check!(LicensePolicy);

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(|s| s.as_str().map(str::to_string)).collect()
}

/// Components of every SBOM among the evidence items of the input document.
pub fn sbom_components(input: &Value) -> Vec<Licensed> {
    let mut out = Vec::new();
    for item in input["evidence"].as_array().into_iter().flatten() {
        let predicate_type = item["predicate_type"].as_str().unwrap_or_default();
        if predicate_type == CYCLONEDX {
            out.extend(cyclonedx(&item["predicate"]));
        } else if SPDX.contains(&predicate_type) {
            out.extend(spdx(&item["predicate"]));
        }
    }
    out
}

fn cyclonedx(bom: &Value) -> Vec<Licensed> {
    bom["components"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let mut licenses = Vec::new();
            for l in c["licenses"].as_array().into_iter().flatten() {
                if let Some(expr) = l["expression"].as_str() {
                    licenses.push(expr.to_string());
                } else if let Some(id) = l["license"]["id"].as_str() {
                    licenses.push(id.to_string());
                } else if let Some(name) = l["license"]["name"].as_str() {
                    licenses.push(name.to_string());
                }
            }
            licenses.dedup();
            Licensed {
                name: c["name"].as_str().unwrap_or_default().to_string(),
                version: c["version"].as_str().unwrap_or_default().to_string(),
                purl: c["purl"].as_str().map(str::to_string),
                licenses,
            }
        })
        .collect()
}

fn spdx(doc: &Value) -> Vec<Licensed> {
    doc["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let mut licenses = Vec::new();
            for field in ["licenseConcluded", "licenseDeclared"] {
                if let Some(expr) = p[field].as_str()
                    && expr != "NOASSERTION"
                    && expr != "NONE"
                {
                    licenses.push(expr.to_string());
                }
            }
            licenses.sort();
            licenses.dedup();
            let purl = p["externalRefs"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["referenceType"] == "purl")
                .and_then(|r| r["referenceLocator"].as_str())
                .map(str::to_string);
            Licensed {
                name: p["name"].as_str().unwrap_or_default().to_string(),
                version: p["versionInfo"].as_str().unwrap_or_default().to_string(),
                purl,
                licenses,
            }
        })
        .collect()
}

/// The licence identifiers of an SPDX expression (`(MIT OR Apache-2.0) AND BSD-3-Clause`).
pub fn expression_ids(expr: &str) -> Vec<String> {
    tokens(expr)
        .into_iter()
        .filter(|t| !matches!(t.as_str(), "AND" | "OR" | "WITH" | "(" | ")"))
        .map(|t| t.trim_end_matches('+').to_string())
        .collect()
}

fn tokens(expr: &str) -> Vec<String> {
    expr.replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Whether an expression can ship without a denied licence: `OR` needs one
/// allowed side, `AND` both; `X WITH exception` is judged as `X`. Anything
/// unparsable is judged by its identifiers alone (denied if any is).
pub fn allowed(expr: &str, deny: &[String]) -> bool {
    let toks = tokens(expr);
    let mut pos = 0;
    match parse_or(&toks, &mut pos, deny) {
        Some(ok) if pos == toks.len() => ok,
        _ => !expression_ids(expr).iter().any(|id| denied(id, deny)),
    }
}

fn denied(id: &str, deny: &[String]) -> bool {
    let id = id.trim_end_matches('+');
    deny.iter().any(|d| d.eq_ignore_ascii_case(id))
}

fn parse_or(t: &[String], pos: &mut usize, deny: &[String]) -> Option<bool> {
    let mut ok = parse_and(t, pos, deny)?;
    while t.get(*pos).is_some_and(|x| x == "OR") {
        *pos += 1;
        let rhs = parse_and(t, pos, deny)?;
        ok = ok || rhs;
    }
    Some(ok)
}

fn parse_and(t: &[String], pos: &mut usize, deny: &[String]) -> Option<bool> {
    let mut ok = parse_atom(t, pos, deny)?;
    while t.get(*pos).is_some_and(|x| x == "AND") {
        *pos += 1;
        let rhs = parse_atom(t, pos, deny)?;
        ok = ok && rhs;
    }
    Some(ok)
}

fn parse_atom(t: &[String], pos: &mut usize, deny: &[String]) -> Option<bool> {
    let tok = t.get(*pos)?;
    *pos += 1;
    if tok == "(" {
        let ok = parse_or(t, pos, deny)?;
        (t.get(*pos)? == ")").then_some(())?;
        *pos += 1;
        return Some(ok);
    }
    if matches!(tok.as_str(), ")" | "AND" | "OR" | "WITH") {
        return None;
    }
    if t.get(*pos).is_some_and(|x| x == "WITH") {
        *pos += 2;
    }
    Some(!denied(tok, deny))
}

/// One finding per component that carries a denied licence (and, when asked,
/// per component with no licence at all).
pub fn judge(components: &[Licensed], deny: &[String], warn_unknown: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    for c in components {
        let who = c.purl.clone().unwrap_or_else(|| format!("{}@{}", c.name, c.version));
        let refused: Vec<&String> = c.licenses.iter().filter(|l| !allowed(l, deny)).collect();
        if !refused.is_empty() {
            let mut ids: Vec<String> = refused
                .iter()
                .flat_map(|l| expression_ids(l))
                .filter(|id| denied(id, deny))
                .collect();
            ids.dedup();
            let declared: Vec<&str> = refused.iter().map(|s| s.as_str()).collect();
            findings.push(
                Finding::new(
                    "LIC-001",
                    format!(
                        "{who} is licensed under denied {} (declared: {})",
                        ids.join(", "),
                        declared.join("; ")
                    ),
                )
                .severity(Severity::High)
                .remediation("replace the component, or ask for a waiver with the legal team's approval"),
            );
        } else if warn_unknown && c.licenses.is_empty() {
            findings.push(
                Finding::new("LIC-002", format!("{who} states no licence"))
                    .severity(Severity::Low)
                    .remediation("fix the SBOM generator's licence detection or declare the licence"),
            );
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(predicate_type: &str, path: &str) -> Value {
        let text = std::fs::read_to_string(format!(
            "{}/../../tests/data/shared/sbom/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("shared SBOM");
        let predicate: Value = serde_json::from_str(&text).expect("json");
        serde_json::json!({ "evidence": [{ "predicate_type": predicate_type, "predicate": predicate }] })
    }

    #[test]
    fn the_whole_check_reads_its_config_from_the_host_and_params_override_it() {
        use gatehouse_sdk::testing::{MockHost, context};
        let input = evidence(CYCLONEDX, "python/python-env.cdx-1.6.json");
        let host = MockHost::new().config("deny", ["MPL-2.0"]).install();
        let verdict = LicensePolicy::check(context().input(input.clone()).build()).unwrap();
        assert_eq!(verdict.outcome, gatehouse_sdk::Outcome::Fail);
        assert!(verdict.findings.iter().any(|f| f.message.contains("MPL-2.0")));
        assert!(
            host.messages().iter().any(|m| m.contains("1 denied licences")),
            "{:?}",
            host.messages()
        );
        let params = serde_json::json!({"deny": ["GPL-3.0-only"]});
        let verdict = LicensePolicy::check(context().input(input).params(params).build()).unwrap();
        assert_eq!(verdict.outcome, gatehouse_sdk::Outcome::Pass);
        let nothing = LicensePolicy::check(context().build()).unwrap();
        assert_eq!(nothing.findings[0].rule, "LIC-000");
    }

    #[test]
    fn a_denied_licence_in_a_real_cyclonedx_sbom_is_named_with_its_purl() {
        let input = evidence(CYCLONEDX, "python/python-env.cdx-1.6.json");
        let components = sbom_components(&input);
        assert!(components.len() > 10);
        let findings = judge(&components, &["MPL-2.0".to_string()], false);
        assert_eq!(
            findings.len(),
            1,
            "{:?}",
            findings.iter().map(|f| &f.message).collect::<Vec<_>>()
        );
        assert!(findings[0].message.contains("pkg:pypi/"), "{}", findings[0].message);
        assert!(findings[0].message.contains("MPL-2.0"));
        assert!(judge(&components, &["GPL-3.0-only".to_string()], false).is_empty());
    }

    #[test]
    fn spdx_packages_are_read_from_declared_licences() {
        let input = evidence("https://spdx.dev/Document", "npm/npm-project.spdx-2.3.json");
        let components = sbom_components(&input);
        let isc = judge(&components, &["isc".to_string()], false);
        assert_eq!(isc.len(), 3);
        assert!(
            isc.iter().all(|f| f.message.contains("pkg:npm/")),
            "{:?}",
            isc[0].message
        );
    }

    #[test]
    fn or_needs_one_allowed_side_and_and_needs_both() {
        let deny = vec!["GPL-3.0-only".to_string()];
        assert!(allowed("MIT OR GPL-3.0-only", &deny));
        assert!(!allowed("MIT AND GPL-3.0-only", &deny));
        assert!(!allowed("(MIT OR Apache-2.0) AND GPL-3.0-only", &deny));
        assert!(allowed("GPL-3.0-only WITH Classpath-exception-2.0 OR MIT", &deny));
        assert!(!allowed("GPL-3.0-only+", &deny));
        assert!(!allowed("((GPL-3.0-only", &deny), "unparsable: judged by identifiers");
    }

    #[test]
    fn or_choices_in_the_real_cargo_sbom_are_honoured() {
        let path = format!(
            "{}/../../tests/data/shared/dsse/valid/cyclonedx-sbom.statement.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let statement: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let input =
            serde_json::json!({ "evidence": [{ "predicate_type": CYCLONEDX, "predicate": statement["predicate"] }] });
        let components = sbom_components(&input);
        assert_eq!(judge(&components, &["Unlicense".to_string()], false).len(), 0);
        assert_eq!(judge(&components, &["MIT".to_string()], false).len(), 3);
        assert_eq!(
            judge(&components, &["MIT".to_string(), "Apache-2.0".to_string()], false).len(),
            29
        );
    }

    #[test]
    fn expressions_are_split_into_identifiers() {
        assert_eq!(
            expression_ids("(MIT OR GPL-2.0+) AND Apache-2.0 WITH LLVM-exception"),
            ["MIT", "GPL-2.0", "Apache-2.0", "LLVM-exception"]
        );
    }
}
