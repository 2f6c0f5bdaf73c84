//! The gate engine: a pure function from (context, checks, waivers) to a
//! verdict. Checks are bound to gates elsewhere (Rego policies, Wasm plugins);
//! this module runs them all and composes their outcomes, failing closed: a
//! block-mode check that fails *or errors* blocks the gate. An active waiver
//! turns a scoped `fail` into `waived`, and is reported only where it did so.

use serde::{Deserialize, Serialize};

use crate::app::Application;
use crate::evidence::EvidenceEntry;
use crate::lifecycle::GateRef;
use crate::version::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
    Error,
    /// A failure an active waiver suppressed.
    Waived,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Block,
    Warn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "GateDecision")]
pub enum Decision {
    Passed,
    PassedWithWarnings,
    Blocked,
}

/// A finding from a check: a policy's `deny`/`warn` message, a plugin's finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    pub level: Level,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// `info` to `critical`, when the check grades its findings (plugins do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Deny,
    Warn,
}

impl Finding {
    pub fn line(&self) -> String {
        let mut s = match &self.rule_id {
            Some(id) => format!("[{id}] {}", self.message),
            None => self.message.clone(),
        };
        if let Some(r) = &self.remediation {
            s.push_str(&format!(" — remediation: {r}"));
        }
        s
    }
}

/// What a check returns.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutput {
    pub outcome: Outcome,
    pub findings: Vec<Finding>,
    /// Why the outcome is `error`.
    pub error: Option<String>,
    /// The stable machine code of that error (`timeout`, `memory`, `trap`,
    /// `capability`, `policy_error`, …): what scripts and dashboards match on.
    pub error_code: Option<&'static str>,
}

impl CheckOutput {
    /// An `error` outcome: the check could not decide, so the gate blocks.
    pub fn error(code: &'static str, message: String) -> CheckOutput {
        CheckOutput {
            outcome: Outcome::Error,
            findings: Vec::new(),
            error: Some(message),
            error_code: Some(code),
        }
    }
}

/// What one check said about the context, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckResult {
    pub check: String,
    /// The binding that put this check on the gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
    pub mode: Mode,
    pub outcome: Outcome,
    /// One line per finding (and the error, if any), for people.
    pub messages: Vec<String>,
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Digest of what was evaluated (the policy text, the plugin's wasm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The waiver that turned this check's failure into `waived`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<String>,
    /// The machine code of an `error` outcome (see `CheckOutput::error_code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GateVerdict {
    pub gate: GateRef,
    pub decision: Decision,
    pub checks: Vec<CheckResult>,
    /// Set once the evaluation is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_id: Option<String>,
    /// SHA-256 of the input document the checks judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_digest: Option<String>,
}

/// Everything a check may look at.
pub struct Context<'a> {
    pub application: &'a Application,
    pub version: &'a Version,
    pub from_stage: Option<&'a str>,
    pub to_stage: Option<&'a str>,
    pub gate: &'a GateRef,
    /// Verified evidence for the version, still vouched for by a usable key.
    pub evidence: &'a [EvidenceEntry],
    /// The input document every check receives, as JSON text (docs/input-document.md).
    pub document: &'a str,
}

/// A check bound to a gate. Implementations must not panic on any input; an
/// internal failure is reported as [`Outcome::Error`].
pub trait Check: Send + Sync {
    fn id(&self) -> &str;
    fn mode(&self) -> Mode;
    fn evaluate(&self, ctx: &Context<'_>) -> CheckOutput;
    /// The binding that put the check here, if any.
    fn binding(&self) -> Option<&str> {
        None
    }
    /// Digest of what the check runs.
    fn digest(&self) -> Option<String> {
        None
    }
}

/// A waiver in force for this gate: it covers one check, or every check when `check` is None.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveWaiver {
    pub id: String,
    pub check: Option<String>,
    /// The checks it was approved for, each with the digest of what ran then:
    /// a check not listed, or whose digest changed, is not covered.
    pub covers: Vec<(String, Option<String>)>,
}

impl ActiveWaiver {
    fn covers(&self, r: &CheckResult) -> bool {
        self.check.as_deref().is_none_or(|c| c == r.check)
            && self
                .covers
                .iter()
                .any(|(check, digest)| *check == r.check && (digest.is_none() || *digest == r.digest))
    }
}

/// Run every check of one gate and compose the verdict. No check is skipped
/// because another failed: one failure must not hide the others.
///
/// A gate of [`SPREAD_FROM_CHECKS`] checks or more evaluated while no other
/// is spreads its checks over the idle cores (its latency is what the
/// promoting client waits for); a smaller gate, or one that starts while
/// others run, keeps to its own thread, since starting a thread costs more
/// than a few checks gain by it, and busy cores gain nothing.
pub fn evaluate(ctx: &Context<'_>, checks: &[&dyn Check], waivers: &[ActiveWaiver]) -> GateVerdict {
    let running = Running::enter();
    let threads = if running.alone && checks.len() >= SPREAD_FROM_CHECKS {
        crate::cores::available()
    } else {
        1
    };
    evaluate_on(ctx, checks, waivers, threads)
}

/// The fewest checks a gate spreads over the cores. Measured (bench
/// promote, docs/benchmarks.md): gates of one or two small policies, each
/// starting a helper thread, cost 130 µs more CPU a promotion and were
/// slower too; the ten-binding stage gate gains on two cores.
pub const SPREAD_FROM_CHECKS: usize = 4;

/// Gates being evaluated in this process right now.
static GATES_RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One gate counted in [`GATES_RUNNING`] until dropped.
struct Running {
    alone: bool,
}

impl Running {
    fn enter() -> Running {
        let before = GATES_RUNNING.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Running { alone: before == 0 }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        GATES_RUNNING.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// [`evaluate`] with the checks run on up to `threads` threads (each check
/// is independent of the others: a policy evaluates its own engine, a plugin
/// its own sandbox); the verdict lists them in the order given either way.
pub fn evaluate_on(ctx: &Context<'_>, checks: &[&dyn Check], waivers: &[ActiveWaiver], threads: usize) -> GateVerdict {
    let outputs = crate::cores::each(checks, threads, |c| c.evaluate(ctx));
    let results = checks
        .iter()
        .zip(outputs)
        .map(|(c, out)| {
            let mut messages: Vec<String> = out.findings.iter().map(Finding::line).collect();
            if let Some(e) = &out.error {
                messages.push(format!("error: {e}"));
            }
            CheckResult {
                check: c.id().to_string(),
                binding: c.binding().map(str::to_string),
                mode: c.mode(),
                outcome: out.outcome,
                messages,
                findings: out.findings,
                digest: c.digest(),
                waiver: None,
                error_code: out.error_code.map(str::to_string),
            }
        })
        .collect();
    compose(ctx.gate.clone(), apply_waivers(results, waivers))
}

/// Turn each `fail` that an active waiver covers into `waived`, naming the
/// waiver. Errors are never waived: a broken check must be fixed or unbound.
pub fn apply_waivers(results: Vec<CheckResult>, waivers: &[ActiveWaiver]) -> Vec<CheckResult> {
    results
        .into_iter()
        .map(|mut r| {
            if r.outcome == Outcome::Fail
                && let Some(w) = waivers.iter().find(|w| w.covers(&r))
            {
                r.outcome = Outcome::Waived;
                r.waiver = Some(w.id.clone());
            }
            r
        })
        .collect()
}

pub fn compose(gate: GateRef, checks: Vec<CheckResult>) -> GateVerdict {
    let blocks = checks
        .iter()
        .any(|c| c.mode == Mode::Block && matches!(c.outcome, Outcome::Fail | Outcome::Error));
    let warns = checks.iter().any(|c| c.outcome != Outcome::Pass);
    let decision = if blocks {
        Decision::Blocked
    } else if warns {
        Decision::PassedWithWarnings
    } else {
        Decision::Passed
    };
    GateVerdict {
        gate,
        decision,
        checks,
        evaluation_id: None,
        input_digest: None,
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
            Outcome::Waived => "waived",
        }
    }
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Passed => "passed",
            Decision::PassedWithWarnings => "passed_with_warnings",
            Decision::Blocked => "blocked",
        }
    }
}

/// The refusal a real (not dry-run) transition that was blocked answers
/// with: HTTP 409 `blocked` with every verdict, exit code 1.
pub fn blocked(verdicts: &[GateVerdict]) -> crate::error::Error {
    let explained: Vec<String> = verdicts
        .iter()
        .filter(|v| v.blocked())
        .map(GateVerdict::explain)
        .collect();
    crate::error::Error::Blocked {
        blocked: explained.len(),
        summary: explained.join("; "),
        gates: serde_json::to_value(verdicts).unwrap_or_default(),
    }
}

impl GateVerdict {
    pub fn blocked(&self) -> bool {
        self.decision == Decision::Blocked
    }

    /// One line: the gate and every check that did not pass, with its messages.
    pub fn explain(&self) -> String {
        let failing: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.outcome != Outcome::Pass)
            .map(|c| {
                let waiver = c
                    .waiver
                    .as_deref()
                    .map(|w| format!(" by waiver {w}"))
                    .unwrap_or_default();
                format!(
                    "{} {}{waiver} ({:?}): {}",
                    c.check,
                    c.outcome.as_str(),
                    c.mode,
                    c.messages.join(" | ")
                )
            })
            .collect();
        if failing.is_empty() {
            format!("gate {}: {}", self.gate, self.decision.as_str())
        } else {
            format!("gate {}: {}: {}", self.gate, self.decision.as_str(), failing.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::GateKind;

    fn result(check: &str, mode: Mode, outcome: Outcome) -> CheckResult {
        CheckResult {
            check: check.into(),
            binding: None,
            mode,
            outcome,
            messages: vec!["why".into()],
            findings: vec![],
            digest: None,
            waiver: None,
            error_code: None,
        }
    }

    fn gate() -> GateRef {
        GateRef {
            stage: "qa".into(),
            kind: GateKind::Entry,
        }
    }

    #[test]
    fn composition_fails_closed() {
        use Mode::Block;
        use Outcome::{Error, Fail, Pass};
        let table = [
            (vec![], Decision::Passed),
            (vec![result("a", Block, Pass)], Decision::Passed),
            (vec![result("a", Block, Outcome::Warn)], Decision::PassedWithWarnings),
            (vec![result("a", Mode::Warn, Fail)], Decision::PassedWithWarnings),
            (vec![result("a", Mode::Warn, Error)], Decision::PassedWithWarnings),
            (vec![result("a", Block, Error)], Decision::Blocked),
            (
                vec![result("a", Block, Pass), result("b", Block, Fail)],
                Decision::Blocked,
            ),
        ];
        for (checks, expected) in table {
            let v = compose(gate(), checks.clone());
            assert_eq!(v.decision, expected, "{checks:?}");
        }
    }

    #[test]
    fn waivers_suppress_only_the_failures_they_cover_and_never_errors() {
        let results = vec![
            result("a", Mode::Block, Outcome::Fail),
            result("b", Mode::Block, Outcome::Fail),
            result("c", Mode::Block, Outcome::Pass),
            result("d", Mode::Block, Outcome::Error),
        ];
        let everything: Vec<(String, Option<String>)> =
            ["a", "b", "c", "d"].iter().map(|c| (c.to_string(), None)).collect();
        let one = [ActiveWaiver {
            id: "w1".into(),
            check: Some("a".into()),
            covers: everything.clone(),
        }];
        let waived = apply_waivers(results.clone(), &one);
        assert_eq!(waived[0].outcome, Outcome::Waived);
        assert_eq!(waived[0].waiver.as_deref(), Some("w1"));
        assert_eq!(waived[1].outcome, Outcome::Fail);
        assert_eq!(
            waived[2].waiver, None,
            "a waiver is reported only where it suppressed a failure"
        );
        let only_a = [ActiveWaiver {
            id: "w3".into(),
            check: None,
            covers: vec![("a".into(), None)],
        }];
        let waived = apply_waivers(results.clone(), &only_a);
        assert_eq!(
            waived[1].outcome,
            Outcome::Fail,
            "a blanket waiver covers only the checks it was approved for"
        );
        let all = [ActiveWaiver {
            id: "w2".into(),
            check: None,
            covers: everything,
        }];
        let waived = apply_waivers(results, &all);
        assert_eq!(waived[1].outcome, Outcome::Waived);
        assert_eq!(waived[3].outcome, Outcome::Error);
        assert_eq!(
            compose(gate(), waived).decision,
            Decision::Blocked,
            "the error still blocks"
        );
    }

    #[test]
    fn explanation_names_every_failing_check() {
        let v = compose(
            gate(),
            vec![
                result("fails", Mode::Block, Outcome::Fail),
                result("errs", Mode::Block, Outcome::Error),
                result("passes", Mode::Block, Outcome::Pass),
            ],
        );
        let text = v.explain();
        assert!(
            text.contains("fails fail") && text.contains("errs error") && !text.contains("passes"),
            "{text}"
        );
        assert!(text.starts_with("gate qa/entry: blocked"));
    }
}
