//! Rego policies, evaluated in-process by regorus. The only module that
//! touches regorus. Policies are conftest-style: `deny contains msg if …` and
//! `warn contains msg if …`, where a message is a string or an object with
//! `msg` and optionally `rule_id`, `title`, `rationale`, `remediation`.
//!
//! Fail closed: a policy that does not compile is refused when loaded; an
//! evaluation error, a time limit hit or a missing policy is an `error`
//! outcome, never a pass.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::gate::{CheckOutput as Evaluation, Finding, Level, Outcome};

/// Where a policy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Bundled,
    Directory,
    Uploaded,
}

/// One policy module: its package is its name (`baseline.provenance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    /// Where the text was read from (a path, or `upload`).
    pub path: String,
    pub origin: Origin,
    /// Increments each time an uploaded policy's text changes.
    pub version: u64,
    /// SHA-256 of the text.
    pub digest: String,
    pub source: String,
}

/// Limits on one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Duration::from_millis(250),
        }
    }
}

/// An input document prepared for evaluation (converted once, shared by every check of a gate).
pub type Input = regorus::Value;

/// A compiled set of policies: one prepared engine, cloned per evaluation.
#[derive(Clone)]
pub struct PolicySet {
    /// Prepared once (analysed, scheduled); clones share the compiled policy.
    engine: regorus::Engine,
    policies: Arc<BTreeMap<String, Policy>>,
    /// Prepared engines carrying `data.params`, one per distinct parameter set.
    with_params: Arc<std::sync::Mutex<BTreeMap<String, regorus::Engine>>>,
}

/// Analyse and schedule the modules now, so clones start prepared.
fn warm(engine: &mut regorus::Engine) -> Result<()> {
    engine.set_input(regorus::Value::new_object());
    engine
        .eval_query("true".to_string(), false)
        .map(drop)
        .map_err(|e| Error::Store(format!("policies could not be prepared: {e}")))
}

/// How many parameter sets keep a prepared engine.
const PARAM_ENGINES: usize = 256;

impl std::fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySet")
            .field("policies", &self.policies.keys().collect::<Vec<_>>())
            .finish()
    }
}

include!(concat!(env!("OUT_DIR"), "/bundled_policies.rs"));

/// The `package` a module declares, read from its first `package` line.
pub fn declared_package(source: &str) -> Option<String> {
    source
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("package "))
        .map(|p| p.trim().to_string())
}

/// A policy from its text; its name is the package it declares.
pub fn from_source(path: &str, source: &str, origin: Origin, version: u64) -> Result<Policy> {
    let name = declared_package(source)
        .ok_or_else(|| Error::invalid("policy", path, "a Rego module starting with a `package` line"))?;
    Ok(Policy {
        name,
        path: path.to_string(),
        origin,
        version,
        digest: digest(source),
        source: source.to_string(),
    })
}

/// The packs built into the binary.
pub fn bundled() -> Result<Vec<Policy>> {
    BUNDLED
        .iter()
        .map(|(path, text)| from_source(&format!("policies/{path}"), text, Origin::Bundled, 1))
        .collect()
}

/// Every `.rego` file under a directory.
pub fn from_directory(dir: &std::path::Path) -> Result<Vec<Policy>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "rego") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|e| {
        Error::invalid(
            "policy_dir",
            dir.display().to_string(),
            format!("a readable directory ({e})"),
        )
    })?;
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f)
                .map_err(|e| Error::invalid("policy_dir", f.display().to_string(), format!("a readable file ({e})")))?;
            from_source(&f.display().to_string(), &text, Origin::Directory, 1)
        })
        .collect()
}

/// A policy bound to a gate, with its prepared input.
pub struct PolicyCheck {
    pub binding: String,
    pub check: String,
    pub mode: crate::gate::Mode,
    pub params: serde_json::Value,
    pub set: Arc<PolicySet>,
    pub input: Input,
    pub limits: Limits,
}

impl crate::gate::Check for PolicyCheck {
    fn id(&self) -> &str {
        &self.check
    }

    fn mode(&self) -> crate::gate::Mode {
        self.mode
    }

    fn binding(&self) -> Option<&str> {
        Some(&self.binding)
    }

    fn digest(&self) -> Option<String> {
        let name = self.check.strip_prefix("policy:")?;
        self.set.get(name).map(|p| p.digest.clone())
    }

    fn evaluate(&self, _ctx: &crate::gate::Context<'_>) -> Evaluation {
        match self.check.strip_prefix("policy:") {
            Some(name) => self.set.evaluate(name, &self.input, &self.params, self.limits),
            None => error(format!("{} is not a policy check", self.check)),
        }
    }
}

pub fn digest(source: &str) -> String {
    hex::encode(Sha256::digest(source.as_bytes()))
}

/// The package a Rego module declares (`package a.b` → `a.b`), checked by compiling it.
pub fn package_of(path: &str, source: &str) -> Result<String> {
    let mut engine = regorus::Engine::new();
    let package = engine.add_policy(path.to_string(), source.to_string()).map_err(|e| {
        Error::invalid(
            "policy",
            path,
            format!("Rego v1 that compiles: {}", first_lines(&e.to_string())),
        )
    })?;
    Ok(package.trim_start_matches("data.").to_string())
}

impl PolicySet {
    /// Compile every policy into one engine; names must be unique.
    pub fn new(policies: Vec<Policy>) -> Result<PolicySet> {
        let mut engine = regorus::Engine::new();
        let mut by_name = BTreeMap::new();
        for p in policies {
            let package = engine.add_policy(p.path.clone(), p.source.clone()).map_err(|e| {
                Error::invalid(
                    "policy",
                    &p.path,
                    format!("Rego v1 that compiles: {}", first_lines(&e.to_string())),
                )
            })?;
            let package = package.trim_start_matches("data.").to_string();
            if package != p.name {
                return Err(Error::invalid(
                    "policy",
                    &p.path,
                    format!("package {}, as its name says", p.name),
                ));
            }
            if let Some(other) = by_name.insert(p.name.clone(), p) {
                return Err(Error::conflict(format!(
                    "two policies declare package {} ({})",
                    other.name, other.path
                )));
            }
        }
        warm(&mut engine)?;
        Ok(PolicySet {
            engine,
            policies: Arc::new(by_name),
            with_params: Arc::default(),
        })
    }

    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.policies.get(name)
    }

    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies.values()
    }

    /// Convert a JSON document once, for several evaluations.
    pub fn input(doc: &serde_json::Value) -> Input {
        regorus::Value::from(doc.clone())
    }

    /// `input` with the values at the given paths replaced, sharing everything
    /// else (regorus values are copy-on-write). None when a path is not an object.
    pub fn input_with(input: &Input, replacements: &[(&[&str], &serde_json::Value)]) -> Option<Input> {
        let mut out = input.clone();
        for (path, value) in replacements {
            let (last, parents) = path.split_last()?;
            let mut at = &mut out;
            for key in parents {
                at = at.as_object_mut().ok()?.get_mut(&regorus::Value::from(*key))?;
            }
            at.as_object_mut()
                .ok()?
                .insert(regorus::Value::from(*last), regorus::Value::from((*value).clone()));
        }
        Some(out)
    }

    /// Parse a JSON text once, for several evaluations; unparsable text is
    /// Undefined, which every policy then judges as missing data.
    pub fn input_from_json(text: &str) -> Input {
        regorus::Value::from_json_str(text).unwrap_or(regorus::Value::Undefined)
    }

    /// A prepared engine with `params` as `data.params` (cached per parameter set).
    fn engine_for(&self, params: &serde_json::Value) -> std::result::Result<regorus::Engine, String> {
        if params.is_null() {
            return Ok(self.engine.clone());
        }
        let key = params.to_string();
        if let Ok(cache) = self.with_params.lock()
            && let Some(e) = cache.get(&key)
        {
            return Ok(e.clone());
        }
        let mut engine = self.engine.clone();
        engine
            .add_data(regorus::Value::from(serde_json::json!({ "params": params })))
            .map_err(|e| format!("parameters could not be loaded: {e}"))?;
        warm(&mut engine).map_err(|e| e.to_string())?;
        if let Ok(mut cache) = self.with_params.lock()
            && cache.len() < PARAM_ENGINES
        {
            cache.insert(key, engine.clone());
        }
        Ok(engine)
    }

    /// Evaluate one policy's `deny` and `warn` against `input`, with
    /// `params` visible as `data.params`.
    pub fn evaluate(
        &self,
        name: &str,
        input: &regorus::Value,
        params: &serde_json::Value,
        limits: Limits,
    ) -> Evaluation {
        if !self.policies.contains_key(name) {
            return error(format!("policy {name} is not loaded (missing policies never pass)"));
        }
        let mut engine = match self.engine_for(params) {
            Ok(e) => e,
            Err(e) => return error(e),
        };
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: limits.time,
            check_interval: NonZeroU32::new(1024).unwrap_or(NonZeroU32::MIN),
        });
        engine.set_input(input.clone());
        let mut findings = Vec::new();
        for level in [Level::Deny, Level::Warn] {
            let rule = match level {
                Level::Deny => "deny",
                Level::Warn => "warn",
            };
            let value = match engine.eval_rule(format!("data.{name}.{rule}")) {
                Ok(v) => v,
                Err(e) if is_undefined_rule(&e.to_string()) => continue,
                Err(e) => return error(format!("evaluating {rule}: {}", first_lines(&e.to_string()))),
            };
            match collect(level, &value) {
                Ok(mut f) => findings.append(&mut f),
                Err(e) => return error(e),
            }
        }
        let outcome = if findings.iter().any(|f| f.level == Level::Deny) {
            Outcome::Fail
        } else if findings.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Warn
        };
        Evaluation {
            outcome,
            findings,
            error: None,
        }
    }
}

fn error(message: String) -> Evaluation {
    Evaluation {
        outcome: Outcome::Error,
        findings: Vec::new(),
        error: Some(message),
    }
}

/// A policy without a `warn` (or `deny`) rule simply has none of those findings.
fn is_undefined_rule(message: &str) -> bool {
    message.contains("not a valid rule path") || message.contains("no rule") || message.contains("undefined")
}

fn first_lines(s: &str) -> String {
    s.lines().take(6).collect::<Vec<_>>().join(" | ")
}

/// Messages of a `deny`/`warn` set: strings, or objects with `msg`.
fn collect(level: Level, value: &regorus::Value) -> std::result::Result<Vec<Finding>, String> {
    if *value == regorus::Value::Undefined {
        return Ok(Vec::new());
    }
    let json: serde_json::Value =
        serde_json::to_value(value).map_err(|e| format!("the {level:?} set cannot be read: {e}"))?;
    let items = match json {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Null => return Ok(Vec::new()),
        other => return Err(format!("{level:?} must be a set of messages, got {other}")),
    };
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::String(message) => Ok(Finding {
                level,
                message,
                rule_id: None,
                title: None,
                rationale: None,
                remediation: None,
                severity: None,
            }),
            serde_json::Value::Object(map) => {
                let text = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_string);
                let message =
                    text("msg").ok_or_else(|| format!("a {level:?} message object has no string `msg`: {map:?}"))?;
                Ok(Finding {
                    level,
                    message,
                    rule_id: text("rule_id"),
                    title: text("title"),
                    rationale: text("rationale"),
                    remediation: text("remediation"),
                    severity: None,
                })
            }
            other => Err(format!(
                "a {level:?} message must be a string or an object with `msg`, got {other}"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(name: &str, source: &str) -> Policy {
        Policy {
            name: name.into(),
            path: format!("{name}.rego"),
            origin: Origin::Bundled,
            version: 1,
            digest: digest(source),
            source: source.into(),
        }
    }

    const P: &str = r#"package t.p
import rego.v1
deny contains {"msg": "no tests", "rule_id": "T-1", "remediation": "add tests"} if not input.tests
warn contains "old" if input.old
deny contains msg if { some x in input.bad; msg := sprintf("bad %v (limit %v)", [x, data.params.limit]) }
"#;

    #[test]
    fn deny_and_warn_become_findings() {
        let set = PolicySet::new(vec![policy("t.p", P)]).unwrap();
        let eval = |doc| set.evaluate("t.p", &PolicySet::input(&doc), &json!({"limit": 3}), Limits::default());
        let e = eval(json!({"tests": true}));
        assert_eq!((e.outcome, e.findings.len()), (Outcome::Pass, 0));
        let e = eval(json!({"tests": true, "old": true}));
        assert_eq!(e.outcome, Outcome::Warn);
        let e = eval(json!({"old": true, "bad": ["x"]}));
        assert_eq!(e.outcome, Outcome::Fail);
        let lines: Vec<String> = e.findings.iter().map(Finding::line).collect();
        assert!(
            lines.contains(&"[T-1] no tests — remediation: add tests".to_string()),
            "{lines:?}"
        );
        assert!(lines.contains(&"bad x (limit 3)".to_string()), "{lines:?}");
    }

    #[test]
    fn failures_to_evaluate_are_errors_never_passes() {
        let runtime =
            "package t.rt\nimport rego.v1\ndeny contains msg if { msg := sprintf(\"%v\", [1 / input.zero]) }\n";
        let slow = "package t.slow\nimport rego.v1\ndeny contains \"never\" if { count([1 | some i in numbers.range(1, 10000); some j in numbers.range(1, 10000)]) < 0 }\n";
        let shape = "package t.shape\nimport rego.v1\ndeny contains 42 if true\n";
        let set = PolicySet::new(vec![
            policy("t.rt", runtime),
            policy("t.slow", slow),
            policy("t.shape", shape),
        ])
        .unwrap();
        let input = PolicySet::input(&json!({"zero": 0}));
        let limits = Limits {
            time: Duration::from_millis(50),
        };
        for name in ["t.rt", "t.slow", "t.shape", "t.missing"] {
            let e = set.evaluate(name, &input, &serde_json::Value::Null, limits);
            assert_eq!(e.outcome, Outcome::Error, "{name}: {e:?}");
            assert!(e.error.is_some());
        }
    }

    #[test]
    fn replacing_fields_equals_parsing_the_changed_document() {
        let a = json!({"transition": {"action": "promote", "gate": {"stage": "dev", "kind": "exit"}}, "waivers": [], "evidence": [1, 2]});
        let b = json!({"transition": {"action": "promote", "gate": {"stage": "qa", "kind": "entry"}}, "waivers": [{"id": "w1"}], "evidence": [1, 2]});
        let base = PolicySet::input_from_json(&a.to_string());
        let swapped = PolicySet::input_with(
            &base,
            &[
                (&["transition", "gate"], &b["transition"]["gate"]),
                (&["waivers"], &b["waivers"]),
            ],
        )
        .unwrap();
        assert_eq!(swapped, PolicySet::input_from_json(&b.to_string()));
        assert_eq!(
            base,
            PolicySet::input_from_json(&a.to_string()),
            "the base is untouched"
        );
    }

    #[test]
    fn policies_that_do_not_compile_are_refused_by_path() {
        let e = PolicySet::new(vec![policy("t.x", "package t.x\ndeny contains if {")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.x.rego"), "{e}");
        let e = PolicySet::new(vec![policy("t.y", "package t.other\nimport rego.v1\n")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("package t.y"), "{e}");
    }
}
