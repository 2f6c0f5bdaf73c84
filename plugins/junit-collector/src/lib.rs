//! `junit-collector`: every `*.xml` JUnit report under a granted directory
//! becomes one in-toto test-result v0.1 statement: `PASSED` when no test
//! failed or errored, `FAILED` otherwise, with the test names in
//! `passedTests` / `failedTests` and skipped ones in `warnedTests`.

use gatehouse_sdk::{Collector, Context, Error, Statement};
use serde_json::json;

pub const TEST_RESULT: &str = "https://in-toto.io/attestation/test-result/v0.1";

/// Counts and names from the reports read so far.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    pub passed: Vec<String>,
    pub failed: Vec<String>,
    pub skipped: Vec<String>,
    pub reports: Vec<String>,
}

struct JunitCollector;

impl Collector for JunitCollector {
    fn collect(ctx: Context) -> Result<Vec<Statement>, Error> {
        let params = ctx.params_json()?;
        let template = params["dir"]
            .as_str()
            .map(str::to_string)
            .or_else(|| gatehouse_sdk::config::text("dir"))
            .ok_or_else(|| Error::new("config", "no report directory: set config `dir` or binding param `dir`"))?;
        let dir = template
            .replace("{application}", &ctx.application)
            .replace("{version}", &ctx.version);
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| Error::new("read", format!("{dir}: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::new("no-reports", format!("{dir}: no *.xml JUnit reports")));
        }
        let mut tally = Tally::default();
        for f in &files {
            let text = std::fs::read_to_string(f).map_err(|e| Error::new("read", format!("{}: {e}", f.display())))?;
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            read_report(&name, &text, &mut tally)?;
        }
        gatehouse_sdk::log::info(&format!(
            "{} reports: {} passed, {} failed, {} skipped",
            tally.reports.len(),
            tally.passed.len(),
            tally.failed.len(),
            tally.skipped.len()
        ));
        Ok(vec![statement(&tally)])
    }
}

gatehouse_sdk::export_collector!(JunitCollector);

/// Add one report's test cases to the tally.
pub fn read_report(name: &str, xml: &str, tally: &mut Tally) -> Result<(), Error> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| Error::new("bad-report", format!("{name}: {e}")))?;
    let root = doc.root_element();
    if !matches!(root.tag_name().name(), "testsuites" | "testsuite") {
        return Err(Error::new(
            "bad-report",
            format!(
                "{name}: root element is <{}>, expected <testsuites> or <testsuite>",
                root.tag_name().name()
            ),
        ));
    }
    for case in root.descendants().filter(|n| n.has_tag_name("testcase")) {
        let test = match case.attribute("classname") {
            Some(class) if !class.is_empty() => format!("{class}::{}", case.attribute("name").unwrap_or("?")),
            _ => case.attribute("name").unwrap_or("?").to_string(),
        };
        let failed = case
            .children()
            .any(|c| c.has_tag_name("failure") || c.has_tag_name("error"));
        let skipped = case.children().any(|c| c.has_tag_name("skipped"));
        if failed {
            tally.failed.push(test);
        } else if skipped {
            tally.skipped.push(test);
        } else {
            tally.passed.push(test);
        }
    }
    tally.reports.push(name.to_string());
    Ok(())
}

pub fn statement(t: &Tally) -> Statement {
    let result = if t.failed.is_empty() { "PASSED" } else { "FAILED" };
    Statement::new(
        TEST_RESULT,
        &json!({
            "result": result,
            "configuration": t.reports.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
            "passedTests": t.passed,
            "warnedTests": t.skipped,
            "failedTests": t.failed,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"<?xml version="1.0"?>
<testsuites><testsuite name="api" tests="3">
  <testcase classname="api.auth" name="login"/>
  <testcase classname="api.auth" name="logout"><failure message="boom">trace</failure></testcase>
  <testcase name="slow"><skipped/></testcase>
</testsuite></testsuites>"#;

    #[test]
    fn failures_make_the_statement_failed_and_are_named() {
        let mut t = Tally::default();
        read_report("a.xml", REPORT, &mut t).unwrap();
        let s = statement(&t);
        let p: serde_json::Value = serde_json::from_str(&s.predicate).unwrap();
        assert_eq!(p["result"], "FAILED");
        assert_eq!(p["failedTests"], json!(["api.auth::logout"]));
        assert_eq!(p["passedTests"], json!(["api.auth::login"]));
        assert_eq!(p["warnedTests"], json!(["slow"]));
    }

    #[test]
    fn a_non_junit_document_is_refused_by_name() {
        let err = read_report("b.xml", "<html/>", &mut Tally::default()).unwrap_err();
        assert!(
            err.message.contains("b.xml") && err.message.contains("<html>"),
            "{}",
            err.message
        );
    }
}
