//! `sarif-collector`: every `*.sarif` (or `*.sarif.json`) file under a
//! granted directory becomes one scan-summary statement per tool run: result
//! counts by level, and the rules that fired at level `error`.

use gatehouse_sdk::{Collector, Context, Error, Statement};
use serde_json::{Value, json};

pub const SCAN_SUMMARY: &str = "https://gatehouse.dev/attestation/scan-summary/v0.1";

struct SarifCollector;

impl Collector for SarifCollector {
    fn collect(ctx: Context) -> Result<Vec<Statement>, Error> {
        let params = ctx.params_json()?;
        let dir = params["dir"]
            .as_str()
            .map(str::to_string)
            .or_else(|| gatehouse_sdk::config::text("dir"))
            .ok_or_else(|| Error::new("config", "no scan directory: set config `dir` or binding param `dir`"))?
            .replace("{application}", &ctx.application)
            .replace("{version}", &ctx.version);
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| Error::new("read", format!("{dir}: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.to_string_lossy();
                n.ends_with(".sarif") || n.ends_with(".sarif.json")
            })
            .collect();
        files.sort();
        let mut out = Vec::new();
        for f in &files {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(f).map_err(|e| Error::new("read", format!("{name}: {e}")))?;
            out.extend(summaries(&name, &text)?);
        }
        if out.is_empty() {
            return Err(Error::new("no-scans", format!("{dir}: no SARIF runs")));
        }
        Ok(out)
    }
}

gatehouse_sdk::export_collector!(SarifCollector);

/// One statement per run of a SARIF log.
pub fn summaries(name: &str, text: &str) -> Result<Vec<Statement>, Error> {
    let log: Value = serde_json::from_str(text).map_err(|e| Error::new("bad-sarif", format!("{name}: {e}")))?;
    let runs = log["runs"]
        .as_array()
        .ok_or_else(|| Error::new("bad-sarif", format!("{name}: `runs` must be an array (SARIF 2.1.0)")))?;
    let mut out = Vec::new();
    for run in runs {
        let driver = &run["tool"]["driver"];
        let mut counts = json!({"error": 0, "warning": 0, "note": 0, "none": 0});
        let mut error_rules: Vec<String> = Vec::new();
        for r in run["results"].as_array().into_iter().flatten() {
            let level = r["level"].as_str().unwrap_or("warning");
            let level = if matches!(level, "error" | "warning" | "note" | "none") {
                level
            } else {
                "warning"
            };
            counts[level] = json!(counts[level].as_u64().unwrap_or(0) + 1);
            if level == "error"
                && let Some(rule) = r["ruleId"].as_str()
                && !error_rules.iter().any(|x| x == rule)
            {
                error_rules.push(rule.to_string());
            }
        }
        out.push(Statement::new(
            SCAN_SUMMARY,
            &json!({
                "source": name,
                "scanner": { "name": driver["name"], "version": driver["version"].as_str().or(driver["semanticVersion"].as_str()) },
                "results": counts,
                "errorRules": error_rules,
            }),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_counted_by_level_with_the_default_of_warning() {
        let sarif = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"semgrep","version":"1.2"}},
          "results":[{"ruleId":"sql-injection","level":"error"},{"ruleId":"weak-hash"},{"ruleId":"sql-injection","level":"error"}]}]}"#;
        let s = summaries("scan.sarif", sarif).unwrap();
        assert_eq!(s.len(), 1);
        let p: Value = serde_json::from_str(&s[0].predicate).unwrap();
        assert_eq!(p["results"], json!({"error": 2, "warning": 1, "note": 0, "none": 0}));
        assert_eq!(p["errorRules"], json!(["sql-injection"]));
        assert_eq!(p["scanner"]["name"], "semgrep");
    }

    #[test]
    fn a_log_without_runs_is_refused() {
        let err = summaries("x.sarif", r#"{"version":"2.1.0"}"#).unwrap_err();
        assert!(err.message.contains("runs"));
    }
}
