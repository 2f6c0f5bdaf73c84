//! The gate engine: a pure function from (context, checks) to a verdict.
//!
//! Checks are bound to gates by a later layer (Rego policies, Wasm plugins);
//! this module composes their outcomes and fails closed: a block-mode check
//! that fails *or errors* blocks the gate.

use serde::{Deserialize, Serialize};

use crate::app::Application;
use crate::evidence::EvidenceEntry;
use crate::lifecycle::GateRef;
use crate::version::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Block,
    Warn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Passed,
    PassedWithWarnings,
    Blocked,
}

/// What one check said about the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: String,
    pub mode: Mode,
    pub outcome: Outcome,
    pub messages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateVerdict {
    pub gate: GateRef,
    pub decision: Decision,
    pub checks: Vec<CheckResult>,
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
}

/// A check bound to a gate. Implementations must not panic on any input; an
/// internal failure is reported as [`Outcome::Error`].
pub trait Check: Send + Sync {
    fn id(&self) -> &str;
    fn mode(&self) -> Mode;
    fn evaluate(&self, ctx: &Context<'_>) -> (Outcome, Vec<String>);
}

/// Run every check of one gate and compose the verdict. No check is skipped
/// because another failed: one failure must not hide the others.
pub fn evaluate(ctx: &Context<'_>, checks: &[&dyn Check]) -> GateVerdict {
    let results = checks
        .iter()
        .map(|c| {
            let (outcome, messages) = c.evaluate(ctx);
            CheckResult {
                check: c.id().to_string(),
                mode: c.mode(),
                outcome,
                messages,
            }
        })
        .collect();
    compose(ctx.gate.clone(), results)
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
    GateVerdict { gate, decision, checks }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
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

impl GateVerdict {
    pub fn blocked(&self) -> bool {
        self.decision == Decision::Blocked
    }

    /// One line: the gate and every failing check with its messages.
    pub fn explain(&self) -> String {
        let failing: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.outcome != Outcome::Pass)
            .map(|c| format!("{} {:?} ({:?}): {}", c.check, c.outcome, c.mode, c.messages.join(" | ")))
            .collect();
        if failing.is_empty() {
            format!("gate {}: {:?}", self.gate, self.decision)
        } else {
            format!("gate {}: {:?}: {}", self.gate, self.decision, failing.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::GateKind;

    fn result(mode: Mode, outcome: Outcome) -> CheckResult {
        CheckResult {
            check: format!("{mode:?}-{outcome:?}"),
            mode,
            outcome,
            messages: vec!["why".into()],
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
            (vec![result(Block, Pass)], Decision::Passed),
            (vec![result(Block, Outcome::Warn)], Decision::PassedWithWarnings),
            (vec![result(Mode::Warn, Fail)], Decision::PassedWithWarnings),
            (vec![result(Mode::Warn, Error)], Decision::PassedWithWarnings),
            (vec![result(Block, Error)], Decision::Blocked),
            (vec![result(Block, Pass), result(Block, Fail)], Decision::Blocked),
        ];
        for (checks, expected) in table {
            let v = compose(gate(), checks.clone());
            assert_eq!(v.decision, expected, "{checks:?}");
        }
    }

    #[test]
    fn explanation_names_every_failing_check() {
        let v = compose(
            gate(),
            vec![
                result(Mode::Block, Outcome::Fail),
                result(Mode::Block, Outcome::Error),
                result(Mode::Block, Outcome::Pass),
            ],
        );
        let text = v.explain();
        assert!(
            text.contains("Block-Fail") && text.contains("Block-Error") && !text.contains("Block-Pass"),
            "{text}"
        );
        assert!(text.starts_with("gate qa/entry: Blocked"));
    }
}
