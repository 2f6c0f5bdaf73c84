//! Rego policies, evaluated in-process by regorus. The only crate that
//! touches regorus. Policies are conftest-style, with conftest's rule names:
//! `deny`, `deny_<name>`, `violation`, `violation_<name>` fail;
//! `warn`, `warn_<name>` warn. A message is a string or an object with `msg`
//! and optionally `rule_id`, `title`, `rationale`, `remediation`.
//!
//! A policy is a package: every file that declares it, merged as OPA and
//! conftest merge them. Its digest covers every file; two files that define
//! the same complete rule with `:=` (or two defaults) are refused, naming both.
//!
//! Fail closed: a policy that does not compile is refused when loaded; an
//! evaluation error, a time limit hit or a missing policy is an `error`
//! outcome, never a pass.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use gatehouse_core::error::{Error, Result};
use gatehouse_core::gate::{CheckOutput as Evaluation, Finding, Level, Outcome};
pub use gatehouse_core::policy::{Origin, Policy, PolicyFile};

mod prepared;
pub use prepared::PreparedInputs;

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
    /// The conftest rules each policy defines, deny-level first, and where
    /// all of them are read at once.
    rules: Arc<BTreeMap<String, Rules>>,
    /// Prepared engines carrying `data.params`, one per distinct parameter set.
    with_params: Arc<std::sync::Mutex<BTreeMap<String, regorus::Engine>>>,
}

/// A policy's conftest rules (deny-level first) and, when it has several,
/// the generated rule that reads them all in one evaluation.
#[derive(Debug, Default)]
struct Rules {
    each: Vec<(String, Level)>,
    all_at: Option<String>,
}

/// The package of the generated rules that read each policy's conftest rules at once.
const READER_PACKAGE: &str = "gatehouse_reader";

/// A module defining `values`: for each rule, `[]` when it is undefined and
/// `[value]` when it is defined — so one `eval_rule` reads them all and the
/// helper rules they share are evaluated once (regorus forgets every rule's
/// value between two `eval_rule` calls).
fn reader_module(at: usize, policy: &str, rules: &[(String, Level)]) -> (String, String) {
    let each = rules
        .iter()
        .map(|(rule, _)| format!("[v | v := data.{policy}.{rule}]"))
        .collect::<Vec<_>>()
        .join(", ");
    (
        format!("data.{READER_PACKAGE}.p{at}.values"),
        format!("package {READER_PACKAGE}.p{at}\nimport rego.v1\nvalues := [{each}]\n"),
    )
}

/// Analyse and schedule the modules now, so clones start prepared.
fn warm(engine: &mut regorus::Engine) -> Result<()> {
    engine.set_input(regorus::Value::new_object());
    engine
        .eval_query("true".to_string(), false)
        .map(drop)
        .map_err(|e| Error::internal("policies could not be prepared", e))
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
        files: Vec::new(),
    })
}

/// Policies from files: one per package, each holding every file that
/// declares it (merged as OPA merges them). Conflicting definitions across
/// the files of a package are refused, naming the files.
pub fn from_files(files: Vec<(String, String)>, origin: Origin, version: u64) -> Result<Vec<Policy>> {
    let mut by_package: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (path, source) in files {
        let name = declared_package(&source)
            .ok_or_else(|| Error::invalid("policy", &path, "a Rego module starting with a `package` line"))?;
        by_package.entry(name).or_default().push((path, source));
    }
    by_package
        .into_iter()
        .map(|(name, files)| package(name, files, origin, version))
        .collect()
}

/// One package from its files (at least one).
fn package(name: String, mut files: Vec<(String, String)>, origin: Origin, version: u64) -> Result<Policy> {
    files.sort();
    check_conflicts(&files)?;
    if let [(path, source)] = files.as_slice() {
        return from_source(path, source, origin, version);
    }
    let path = files.first().map(|(p, _)| p.clone()).unwrap_or_default();
    let source = files
        .iter()
        .map(|(p, s)| format!("# file: {p}\n{s}"))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Policy {
        digest: digest_files(files.iter().map(|(_, s)| s.as_str())),
        name,
        path,
        origin,
        version,
        source,
        files: files
            .into_iter()
            .map(|(path, source)| PolicyFile { path, source })
            .collect(),
    })
}

/// The digest of a package: of its one file's text, or of the sorted
/// SHA-256s of its files' texts (so neither order nor file names change it).
pub fn digest_files<'a>(sources: impl Iterator<Item = &'a str>) -> String {
    let mut each: Vec<String> = sources.map(digest).collect();
    if let [one] = each.as_slice() {
        return one.clone();
    }
    each.sort();
    digest(&each.join("\n"))
}

/// How a top-level rule head defines its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadKind {
    /// `name := …` (a complete rule that may be defined once)
    Assign,
    /// `default name := …`
    Default,
    /// anything else (`contains`, `if`, `=`, `[`, functions)
    Other,
}

/// The rules a file's top-level heads define: (name, kind, line). Heads are
/// read from lines that start in the first column, as `opa fmt` writes them.
fn rule_heads(source: &str) -> Vec<(String, HeadKind, usize)> {
    let mut out = Vec::new();
    let mut in_raw_string = false;
    for (i, line) in source.lines().enumerate() {
        if line.matches('`').count() % 2 == 1 {
            in_raw_string = !in_raw_string;
            continue;
        }
        if in_raw_string || !line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            continue;
        }
        let (default, rest) = match line.strip_prefix("default ") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, line),
        };
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let (name, after) = rest.split_at(end);
        if matches!(name, "package" | "import") || name.is_empty() {
            continue;
        }
        let kind = if default {
            HeadKind::Default
        } else if after.trim_start().starts_with(":=") {
            HeadKind::Assign
        } else {
            HeadKind::Other
        };
        out.push((name.to_string(), kind, i + 1));
    }
    out
}

/// Two files of one package may not both define a complete rule with `:=`,
/// nor both give a default (OPA: "rule redeclared", "multiple default rules").
fn check_conflicts(files: &[(String, String)]) -> Result<()> {
    let mut seen: BTreeMap<(String, bool), (String, usize, HeadKind)> = BTreeMap::new();
    for (path, source) in files {
        for (name, kind, line) in rule_heads(source) {
            let key = (name.clone(), kind == HeadKind::Default);
            match seen.get(&key) {
                Some((first_path, first_line, first_kind))
                    if first_path != path && (kind != HeadKind::Other || *first_kind != HeadKind::Other) =>
                {
                    let what = if kind == HeadKind::Default {
                        "a default for"
                    } else {
                        "a definition of"
                    };
                    return Err(Error::conflict(format!(
                        "policy files {first_path} (line {first_line}) and {path} (line {line}) both give {what} rule {name} of package {}: OPA refuses such a package (rule redeclared); keep one",
                        declared_package(source).unwrap_or_default()
                    )));
                }
                Some(_) => {}
                None => {
                    seen.insert(key, (path.clone(), line, kind));
                }
            }
        }
    }
    Ok(())
}

/// The conftest rule names a policy defines, with the level each yields:
/// `deny`, `violation` (and `_<name>` variants) fail; `warn` (and variants) warn.
fn conftest_rules(p: &Policy) -> Vec<(String, Level)> {
    let mut rules: Vec<(String, Level)> = Vec::new();
    for (_, source) in p.files() {
        for (name, _, _) in rule_heads(source) {
            if let Some(level) = conftest_level(&name)
                && !rules.iter().any(|(n, _)| *n == name)
            {
                rules.push((name, level));
            }
        }
    }
    rules.sort_by(|a, b| (a.1 != Level::Deny, &a.0).cmp(&(b.1 != Level::Deny, &b.0)));
    rules
}

/// conftest's prefixes: `deny`, `violation`, `warn`, alone or followed by `_<name>`.
fn conftest_level(name: &str) -> Option<Level> {
    for (prefix, level) in [("deny", Level::Deny), ("violation", Level::Deny), ("warn", Level::Warn)] {
        if let Some(rest) = name.strip_prefix(prefix)
            && (rest.is_empty() || (rest.len() > 1 && rest.starts_with('_')))
        {
            return Some(level);
        }
    }
    None
}

/// The packs built into the binary.
pub fn bundled() -> Result<Vec<Policy>> {
    from_files(
        BUNDLED
            .iter()
            .map(|(path, text)| (format!("policies/{path}"), (*text).to_string()))
            .collect(),
        Origin::Bundled,
        1,
    )
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
    let texts = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f)
                .map_err(|e| Error::invalid("policy_dir", f.display().to_string(), format!("a readable file ({e})")))?;
            Ok((f.display().to_string(), text))
        })
        .collect::<Result<Vec<_>>>()?;
    from_files(texts, Origin::Directory, 1)
}

/// A policy bound to a gate, with its prepared input.
pub struct PolicyCheck {
    pub binding: String,
    pub check: String,
    pub mode: gatehouse_core::gate::Mode,
    pub params: serde_json::Value,
    pub set: Arc<PolicySet>,
    pub input: Input,
    pub limits: Limits,
}

impl gatehouse_core::gate::Check for PolicyCheck {
    fn id(&self) -> &str {
        &self.check
    }

    fn mode(&self) -> gatehouse_core::gate::Mode {
        self.mode
    }

    fn binding(&self) -> Option<&str> {
        Some(&self.binding)
    }

    fn digest(&self) -> Option<String> {
        let name = self.check.strip_prefix("policy:")?;
        self.set.get(name).map(|p| p.digest.clone())
    }

    fn evaluate(&self, _ctx: &gatehouse_core::gate::Context<'_>) -> Evaluation {
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
    add_module(&mut regorus::Engine::new(), path, source)
}

/// Compile one file into `engine`; the package it declares (without `data.`).
fn add_module(engine: &mut regorus::Engine, path: &str, source: &str) -> Result<String> {
    let package = engine.add_policy(path.to_string(), source.to_string()).map_err(|e| {
        Error::invalid(
            "policy",
            path,
            format!("Rego v1 that compiles: {}", first_lines(&e.to_string())),
        )
    })?;
    Ok(package.trim_start_matches("data.").to_string())
}

/// The most elements one `numbers.range` or `numbers.range_step` call may
/// make. Those two builtins turn two numbers into any amount of work in one
/// step, which regorus's time limit (checked between steps) cannot see; every
/// other large value is built step by step, under the limit.
pub const MAX_RANGE: i64 = 100_000;

/// Replace the amplifying builtins with bounded ones (extensions are looked
/// up before builtins).
fn bound_amplifiers(engine: &mut regorus::Engine) -> Result<()> {
    let add = |engine: &mut regorus::Engine,
               name: &str,
               nargs: u8,
               f: fn(Vec<regorus::Value>) -> anyhow::Result<regorus::Value>| {
        engine
            .add_extension(name.to_string(), nargs, Box::new(f))
            .map_err(|e| Error::internal(format!("cannot bound {name}"), e))
    };
    add(engine, "numbers.range", 2, |args| {
        bounded_range("numbers.range", args.first(), args.get(1), Some(1))
    })?;
    add(engine, "numbers.range_step", 3, |args| {
        let step = match args.get(2).map(regorus::Value::as_i64) {
            Some(Ok(s)) if s > 0 => s,
            _ => anyhow::bail!("numbers.range_step: step must be a positive integer"),
        };
        bounded_range("numbers.range_step", args.first(), args.get(1), Some(step))
    })?;
    Ok(())
}

/// `a..=b` (descending when `b < a`) by `step`, at most [`MAX_RANGE`]
/// elements; undefined unless both ends are integers, as in OPA.
fn bounded_range(
    name: &str,
    a: Option<&regorus::Value>,
    b: Option<&regorus::Value>,
    step: Option<i64>,
) -> anyhow::Result<regorus::Value> {
    let (Some(Ok(a)), Some(Ok(b))) = (a.map(regorus::Value::as_i64), b.map(regorus::Value::as_i64)) else {
        return Ok(regorus::Value::Undefined);
    };
    let step = step.unwrap_or(1).max(1);
    let span = a.abs_diff(b);
    let count = span / step.unsigned_abs() + 1;
    if count > MAX_RANGE as u64 {
        anyhow::bail!(
            "{name}({a}, {b}) would make {count} elements; a policy may make at most {MAX_RANGE} in one call"
        );
    }
    let dir = if b >= a { step } else { -step };
    let values: Vec<regorus::Value> = (0..count as i64).map(|i| regorus::Value::from(a + i * dir)).collect();
    Ok(regorus::Value::from(values))
}

impl PolicySet {
    /// Compile every policy into one engine; names must be unique.
    pub fn new(policies: Vec<Policy>) -> Result<PolicySet> {
        let mut engine = regorus::Engine::new();
        bound_amplifiers(&mut engine)?;
        let mut by_name = BTreeMap::new();
        let mut rules = BTreeMap::new();
        for p in policies {
            for (path, source) in p.files() {
                let package = add_module(&mut engine, path, source)?;
                if package != p.name {
                    return Err(Error::invalid(
                        "policy",
                        path,
                        format!("package {}, as its name says", p.name),
                    ));
                }
            }
            if p.name == READER_PACKAGE || p.name.starts_with(&format!("{READER_PACKAGE}.")) {
                return Err(Error::invalid(
                    "policy",
                    &p.path,
                    format!("a package outside {READER_PACKAGE} (reserved by Gatehouse)"),
                ));
            }
            let each = conftest_rules(&p);
            let all_at = if each.len() > 1 {
                let (path, module) = reader_module(rules.len(), &p.name, &each);
                engine
                    .add_policy(format!("(gatehouse reader of {})", p.name), module)
                    .map_err(|e| Error::internal(format!("the rules of {} cannot be read together", p.name), e))?;
                Some(path)
            } else {
                None
            };
            rules.insert(p.name.clone(), Rules { each, all_at });
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
            rules: Arc::new(rules),
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

    /// Evaluate one policy's conftest rules (`deny*`, `violation*`, `warn*`)
    /// against `input`, with `params` visible as `data.params`.
    pub fn evaluate(
        &self,
        name: &str,
        input: &regorus::Value,
        params: &serde_json::Value,
        limits: Limits,
    ) -> Evaluation {
        if !self.policies.contains_key(name) {
            return Evaluation::error(
                "policy_not_loaded",
                format!("policy {name} is not loaded (missing policies never pass)"),
            );
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
        let started = std::time::Instant::now();
        let mut findings = Vec::new();
        let no_rules = Rules::default();
        let rules = self.rules.get(name).unwrap_or(&no_rules);
        let values = match rule_values(&mut engine, name, rules) {
            Ok(v) => v,
            Err(e) => return error(e),
        };
        for ((_, level), value) in rules.each.iter().zip(&values) {
            match collect(*level, value) {
                Ok(mut f) => findings.append(&mut f),
                Err(e) => return error(e),
            }
        }
        // A builtin can run past the limit between two checks of regorus's
        // timer: an evaluation that took longer than its limit never passes.
        if started.elapsed() > limits.time {
            return Evaluation::error(
                "policy_timeout",
                format!(
                    "execution exceeded time limit (policy_time_limit_ms = {}; it took {} ms)",
                    limits.time.as_millis(),
                    started.elapsed().as_millis()
                ),
            );
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
            error_code: None,
        }
    }
}

/// The value of each of a policy's conftest rules (Undefined where a rule is
/// undefined), in their order.
fn rule_values(
    engine: &mut regorus::Engine,
    name: &str,
    rules: &Rules,
) -> std::result::Result<Vec<regorus::Value>, String> {
    let names = || {
        rules
            .each
            .iter()
            .map(|(r, _)| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(all_at) = &rules.all_at else {
        return rules
            .each
            .iter()
            .map(|(rule, _)| match engine.eval_rule(format!("data.{name}.{rule}")) {
                Ok(v) => Ok(v),
                Err(e) if is_undefined_rule(&e.to_string()) => Ok(regorus::Value::Undefined),
                Err(e) => Err(format!("evaluating {rule}: {}", first_lines(&e.to_string()))),
            })
            .collect();
    };
    let all = engine
        .eval_rule(all_at.clone())
        .map_err(|e| format!("evaluating {}: {}", names(), first_lines(&e.to_string())))?;
    let each = all
        .as_array()
        .map_err(|_| format!("evaluating {}: no result", names()))?;
    Ok(each
        .iter()
        .map(|one| {
            one.as_array()
                .ok()
                .and_then(|a| a.first().cloned())
                .unwrap_or(regorus::Value::Undefined)
        })
        .collect())
}

fn error(message: String) -> Evaluation {
    Evaluation::error("policy_error", message)
}

/// A policy without a `warn` (or `deny`) rule simply has none of those findings.
fn is_undefined_rule(message: &str) -> bool {
    message.contains("not a valid rule path") || message.contains("no rule") || message.contains("undefined")
}

fn first_lines(s: &str) -> String {
    s.lines().take(6).collect::<Vec<_>>().join(" | ")
}

/// Decodes a `deny`/`warn` result given as JSON, as a policy would return
/// it, into findings (the decoding a gate applies to every evaluation; a
/// fuzz target drives it with arbitrary values).
pub fn messages_from_json(level: Level, text: &str) -> std::result::Result<Vec<Finding>, String> {
    let value = regorus::Value::from_json_str(text).map_err(|e| format!("not JSON: {e}"))?;
    collect(level, &value)
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
            files: Vec::new(),
        }
    }

    const P: &str = r#"package t.p
import rego.v1
deny contains {"msg": "no tests", "rule_id": "T-1", "remediation": "add tests"} if not input.tests
warn contains "old" if input.old
deny contains msg if { some x in input.bad; msg := sprintf("bad %v (limit %v)", [x, data.params.limit]) }
"#;

    #[test]
    fn a_malformed_message_set_is_an_error_naming_what_was_expected() {
        let ok = messages_from_json(Level::Deny, r#"["a", {"msg": "b", "rule_id": "R-1"}]"#).unwrap();
        assert_eq!(ok.iter().map(Finding::line).collect::<Vec<_>>(), ["a", "[R-1] b"]);
        let err = messages_from_json(Level::Deny, r#"{"msg": "x"}"#).unwrap_err();
        assert!(err.contains("must be a set of messages"), "{err}");
        let err = messages_from_json(Level::Warn, r#"[{"rule_id": "R"}]"#).unwrap_err();
        assert!(err.contains("no string `msg`"), "{err}");
        let err = messages_from_json(Level::Warn, "[3]").unwrap_err();
        assert!(err.contains("a string or an object with `msg`"), "{err}");
    }

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
        // The same failures in policies with several rules (read in one evaluation).
        let also = "warn contains \"w\" if true\nviolation_x contains \"v\" if false\n";
        let set = PolicySet::new(vec![
            policy("t.rt", runtime),
            policy("t.slow", slow),
            policy("t.shape", shape),
            policy("t.rt2", &format!("{}{also}", runtime.replace("t.rt", "t.rt2"))),
            policy("t.slow2", &format!("{}{also}", slow.replace("t.slow", "t.slow2"))),
            policy("t.shape2", &format!("{}{also}", shape.replace("t.shape", "t.shape2"))),
        ])
        .unwrap();
        let input = PolicySet::input(&json!({"zero": 0}));
        let limits = Limits {
            time: Duration::from_millis(50),
        };
        for name in ["t.rt", "t.slow", "t.shape", "t.rt2", "t.slow2", "t.shape2", "t.missing"] {
            let e = set.evaluate(name, &input, &serde_json::Value::Null, limits);
            assert_eq!(e.outcome, Outcome::Error, "{name}: {e:?}");
            assert!(e.error.is_some());
        }
    }

    #[test]
    fn every_rule_of_a_policy_is_read_defined_or_not() {
        let source = "package t.many\nimport rego.v1\n\
            shared := [x | some x in input.items; x > 1]\n\
            deny contains sprintf(\"%v is over one\", [x]) if { some x in shared }\n\
            violation_empty contains \"never\" if false\n\
            warn_count := {sprintf(\"%v over one\", [count(shared)])} if count(shared) > 1\n\
            warn contains \"always\" if true\n";
        let set = PolicySet::new(vec![policy("t.many", source)]).unwrap();
        let messages = |items: serde_json::Value| {
            let e = set.evaluate(
                "t.many",
                &PolicySet::input(&json!({ "items": items })),
                &serde_json::Value::Null,
                Limits::default(),
            );
            let mut m: Vec<(Level, String)> = e.findings.into_iter().map(|f| (f.level, f.message)).collect();
            m.sort_by(|a, b| a.1.cmp(&b.1));
            (e.outcome, m)
        };
        assert_eq!(
            messages(json!([1, 2, 3])),
            (
                Outcome::Fail,
                vec![
                    (Level::Deny, "2 is over one".to_string()),
                    (Level::Warn, "2 over one".to_string()),
                    (Level::Deny, "3 is over one".to_string()),
                    (Level::Warn, "always".to_string()),
                ]
            )
        );
        // `warn_count` undefined, `deny` empty: only the unconditional warning.
        assert_eq!(
            messages(json!([1])),
            (Outcome::Warn, vec![(Level::Warn, "always".to_string())])
        );
    }

    #[test]
    fn the_reader_package_is_reserved() {
        let e = PolicySet::new(vec![policy(
            "gatehouse_reader.p0",
            "package gatehouse_reader.p0\nimport rego.v1\ndeny contains \"x\" if true\n",
        )])
        .unwrap_err()
        .to_string();
        assert!(e.contains("gatehouse_reader") && e.contains("reserved"), "{e}");
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

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect()
    }

    #[test]
    fn every_file_of_a_package_is_one_policy_as_opa_merges_them() {
        // Before: the last file of a package replaced the others, dropping a deny.
        let found = from_files(
            files(&[
                (
                    "a.rego",
                    "package main\nimport rego.v1\ndeny contains \"from a\" if input.a\n",
                ),
                (
                    "b.rego",
                    "package main\nimport rego.v1\nwarn contains \"from b\" if input.b\n",
                ),
                (
                    "c.rego",
                    "package other\nimport rego.v1\ndeny contains \"other\" if true\n",
                ),
            ]),
            Origin::Directory,
            1,
        )
        .unwrap();
        assert_eq!(found.len(), 2);
        let main = found.iter().find(|p| p.name == "main").unwrap();
        assert_eq!(main.files().len(), 2);
        let set = PolicySet::new(found.clone()).unwrap();
        let e = set.evaluate(
            "main",
            &PolicySet::input(&json!({"a": true, "b": true})),
            &serde_json::Value::Null,
            Limits::default(),
        );
        assert_eq!(e.outcome, Outcome::Fail, "the deny of a.rego still counts: {e:?}");
        assert_eq!(e.findings.len(), 2, "{e:?}");
    }

    #[test]
    fn a_package_digest_covers_every_file_and_not_their_order() {
        let a = "package main\nimport rego.v1\ndeny contains \"a\" if input.a\n";
        let b = "package main\nimport rego.v1\nwarn contains \"b\" if input.b\n";
        let one = from_files(files(&[("x.rego", a), ("y.rego", b)]), Origin::Uploaded, 1).unwrap();
        let two = from_files(files(&[("y.rego", b), ("x.rego", a)]), Origin::Uploaded, 1).unwrap();
        assert_eq!(one[0].digest, two[0].digest);
        let changed = from_files(
            files(&[("x.rego", a), ("y.rego", &b.replace("\"b\"", "\"c\""))]),
            Origin::Uploaded,
            1,
        )
        .unwrap();
        assert_ne!(one[0].digest, changed[0].digest);
        // A one-file package keeps the digest of its text (records written before stay comparable).
        let single = from_files(files(&[("x.rego", a)]), Origin::Uploaded, 1).unwrap();
        assert_eq!(single[0].digest, digest(a));
    }

    #[test]
    fn conflicting_definitions_across_files_are_refused_naming_both() {
        for (first, second) in [
            ("limit := 1\n", "limit := 2\n"),
            ("default allow := false\n", "default allow := true\n"),
        ] {
            let e = from_files(
                files(&[
                    ("one.rego", &format!("package main\nimport rego.v1\n{first}")),
                    ("two.rego", &format!("package main\nimport rego.v1\n{second}")),
                ]),
                Origin::Directory,
                1,
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("one.rego") && e.contains("two.rego"), "{e}");
        }
        // Partial rules may be spread over files, as OPA allows.
        from_files(
            files(&[
                (
                    "one.rego",
                    "package main\nimport rego.v1\ndeny contains \"x\" if input.x\n",
                ),
                (
                    "two.rego",
                    "package main\nimport rego.v1\ndeny contains \"y\" if input.y\n",
                ),
            ]),
            Origin::Directory,
            1,
        )
        .unwrap();
    }

    #[test]
    fn conftest_rule_names_judge_as_conftest_does() {
        let src = r#"package main
import rego.v1
deny_owners contains "no owners" if input.no_owners
violation contains {"msg": "structured", "details": {"k": 1}} if input.violate
violation_labels contains "no labels" if input.no_labels
warn_style contains "style" if input.style
denylist := {"x"}
warning := "not a rule conftest reads"
"#;
        let set = PolicySet::new(vec![policy("main", src)]).unwrap();
        let eval = |doc| {
            set.evaluate(
                "main",
                &PolicySet::input(&doc),
                &serde_json::Value::Null,
                Limits::default(),
            )
        };
        assert_eq!(eval(json!({})).outcome, Outcome::Pass);
        assert_eq!(eval(json!({"style": true})).outcome, Outcome::Warn);
        for flag in ["no_owners", "violate", "no_labels"] {
            let e = eval(json!({ flag: true }));
            assert_eq!(e.outcome, Outcome::Fail, "{flag}: {e:?}");
        }
        let e = eval(json!({"violate": true}));
        assert_eq!(e.findings[0].message, "structured");
        assert_eq!(conftest_level("denylist"), None);
        assert_eq!(conftest_level("warning"), None);
        assert_eq!(conftest_level("deny_"), None);
        assert_eq!(conftest_level("violation_x"), Some(Level::Deny));
    }
}
