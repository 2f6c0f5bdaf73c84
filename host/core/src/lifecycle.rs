//! Lifecycles and the version state machine, as pure functions: given a
//! lifecycle and where a version stands, say which gates a move must pass and
//! where it ends, or why it is refused.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::version::ReleaseStatus;

pub const DEFAULT_LIFECYCLE: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    #[schemars(regex(pattern = crate::schema::SLUG))]
    pub name: String,
    /// A promotion may jump over this stage.
    #[serde(default)]
    pub skippable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Lifecycle {
    pub name: String,
    /// Projects whose new versions climb this lifecycle; empty for the default.
    pub projects: Vec<String>,
    pub stages: Vec<Stage>,
}

/// What a client sends to define or replace a lifecycle.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleSpec {
    /// Projects whose new versions climb this lifecycle.
    #[serde(default)]
    #[schemars(inner(regex(pattern = crate::schema::SLUG)))]
    pub projects: Vec<String>,
    #[schemars(length(min = 1))]
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    Entry,
    Exit,
    Release,
}

/// One gate: a stage and which of its doors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GateRef {
    pub stage: String,
    pub kind: GateKind,
}

impl GateRef {
    pub fn kind_str(&self) -> String {
        match self.kind {
            GateKind::Entry => "entry",
            GateKind::Exit => "exit",
            GateKind::Release => "release",
        }
        .to_string()
    }
}

impl std::fmt::Display for GateRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            GateKind::Entry => "entry",
            GateKind::Exit => "exit",
            GateKind::Release => "release",
        };
        write!(f, "{}/{kind}", self.stage)
    }
}

/// A move the state machine allows, with the gates it must pass in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub from: Option<String>,
    pub to: Option<String>,
    pub gates: Vec<GateRef>,
    /// Stages jumped over by a promotion (each was marked skippable).
    pub skipped: Vec<String>,
}

impl Lifecycle {
    pub fn default_lifecycle() -> Lifecycle {
        let stage = |name: &str| Stage {
            name: name.to_string(),
            skippable: false,
        };
        Lifecycle {
            name: DEFAULT_LIFECYCLE.to_string(),
            projects: vec![],
            stages: vec![stage("dev"), stage("qa"), stage("staging"), stage("prod")],
        }
    }

    pub fn from_spec(name: &str, spec: LifecycleSpec) -> Result<Lifecycle> {
        crate::app::validate_slug("name", name)?;
        if spec.stages.is_empty() {
            return Err(Error::invalid("stages", "[]", "at least one stage"));
        }
        if name == DEFAULT_LIFECYCLE && !spec.projects.is_empty() {
            return Err(Error::invalid(
                "projects",
                &spec.projects,
                "no projects: the default lifecycle serves every project without its own",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, stage) in spec.stages.iter().enumerate() {
            crate::app::validate_slug(&format!("stages[{i}].name"), &stage.name)?;
            if !seen.insert(stage.name.as_str()) {
                return Err(Error::invalid(
                    format!("stages[{i}].name"),
                    &stage.name,
                    "a stage name used once",
                ));
            }
        }
        if spec.stages.last().is_some_and(|s| s.skippable) {
            return Err(Error::invalid(
                "stages",
                "last stage skippable",
                "a last stage that is not skippable: releases happen there",
            ));
        }
        for (i, p) in spec.projects.iter().enumerate() {
            crate::app::validate_slug(&format!("projects[{i}]"), p)?;
        }
        Ok(Lifecycle {
            name: name.to_string(),
            projects: spec.projects,
            stages: spec.stages,
        })
    }

    fn index_of(&self, field: &str, stage: &str) -> Result<usize> {
        self.stages.iter().position(|s| s.name == stage).ok_or_else(|| {
            Error::invalid(
                field,
                stage,
                format!(
                    "a stage of lifecycle {:?}: {}",
                    self.name,
                    self.stage_names().join(", ")
                ),
            )
        })
    }

    pub fn stage_names(&self) -> Vec<&str> {
        self.stages.iter().map(|s| s.name.as_str()).collect()
    }

    pub fn last_stage(&self) -> Option<&str> {
        self.stages.last().map(|s| s.name.as_str())
    }

    /// Promote from `current` (None: a draft outside the lifecycle) to `target`.
    pub fn plan_promotion(&self, current: Option<&str>, status: ReleaseStatus, target: &str) -> Result<Plan> {
        let to = self.index_of("target_stage", target)?;
        let from = current.map(|c| self.current_index(c)).transpose()?;
        if status != ReleaseStatus::PreRelease {
            return Err(Error::conflict(format!(
                "the version is already {}; roll it back before promoting it again",
                status.as_str()
            )));
        }
        let first_between = from.map_or(0, |f| f + 1);
        if to < first_between {
            return Err(Error::conflict(match current {
                Some(c) if c == target => format!("the version is already in stage {target}"),
                Some(c) => format!(
                    "stage {target} comes before the current stage {c}; promotions only move forward (use rollback)"
                ),
                None => format!("stage {target} is not ahead of the version"),
            }));
        }
        let between = self.stages.get(first_between..to).unwrap_or_default();
        if let Some(blocking) = between.iter().find(|s| !s.skippable) {
            return Err(Error::conflict(format!(
                "promotion to {target} would skip stage {}, which lifecycle {:?} does not allow to be skipped; promote to {} first",
                blocking.name, self.name, blocking.name
            )));
        }
        let mut gates = Vec::new();
        if let Some(c) = current {
            gates.push(GateRef {
                stage: c.to_string(),
                kind: GateKind::Exit,
            });
        }
        gates.push(GateRef {
            stage: target.to_string(),
            kind: GateKind::Entry,
        });
        Ok(Plan {
            from: current.map(str::to_string),
            to: Some(target.to_string()),
            gates,
            skipped: between.iter().map(|s| s.name.clone()).collect(),
        })
    }

    /// Release from the last stage, through its release gate.
    pub fn plan_release(&self, current: Option<&str>, status: ReleaseStatus) -> Result<Plan> {
        let last = self.last_stage().unwrap_or_default();
        match current {
            Some(c) if c == last => {}
            _ => {
                return Err(Error::conflict(format!(
                    "a version is released from the last stage {last}; it is in {}",
                    current.unwrap_or("no stage (draft)")
                )));
            }
        }
        if status != ReleaseStatus::PreRelease {
            return Err(Error::conflict(format!("the version is already {}", status.as_str())));
        }
        Ok(Plan {
            from: Some(last.to_string()),
            to: Some(last.to_string()),
            gates: vec![GateRef {
                stage: last.to_string(),
                kind: GateKind::Release,
            }],
            skipped: vec![],
        })
    }

    /// Roll back one stage; `from_stage` must name the current stage. From the
    /// first stage the version leaves the lifecycle (it stays frozen).
    pub fn plan_rollback(&self, current: Option<&str>, from_stage: &str) -> Result<Plan> {
        self.index_of("from_stage", from_stage)?;
        let Some(c) = current else {
            return Err(Error::conflict(
                "the version has entered no stage yet; there is nothing to roll back",
            ));
        };
        if c != from_stage {
            return Err(Error::conflict(format!(
                "from_stage is {from_stage} but the version is in stage {c}; rollback refused"
            )));
        }
        let idx = self.current_index(c)?;
        let to = idx
            .checked_sub(1)
            .and_then(|i| self.stages.get(i))
            .map(|s| s.name.clone());
        Ok(Plan {
            from: Some(c.to_string()),
            to,
            gates: vec![],
            skipped: vec![],
        })
    }

    fn current_index(&self, current: &str) -> Result<usize> {
        self.stages.iter().position(|s| s.name == current).ok_or_else(|| {
            Error::conflict(format!(
                "the version's stage {current} is no longer part of lifecycle {:?}",
                self.name
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReleaseStatus::PreRelease;

    fn gates(plan: &Plan) -> Vec<String> {
        plan.gates.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn promotion_runs_exit_then_entry_gate() {
        let lc = Lifecycle::default_lifecycle();
        let p = lc.plan_promotion(None, PreRelease, "dev").unwrap();
        assert_eq!(gates(&p), ["dev/entry"]);
        let p = lc.plan_promotion(Some("dev"), PreRelease, "qa").unwrap();
        assert_eq!(gates(&p), ["dev/exit", "qa/entry"]);
        assert!(p.skipped.is_empty());
    }

    #[test]
    fn skipping_needs_a_skippable_stage() {
        let lc = Lifecycle::default_lifecycle();
        let e = lc
            .plan_promotion(Some("dev"), PreRelease, "staging")
            .unwrap_err()
            .to_string();
        assert!(e.contains("skip stage qa"), "{e}");
        let e = lc.plan_promotion(None, PreRelease, "qa").unwrap_err().to_string();
        assert!(e.contains("skip stage dev"), "{e}");
        let mut lc = lc;
        lc.stages[1].skippable = true;
        let p = lc.plan_promotion(Some("dev"), PreRelease, "staging").unwrap();
        assert_eq!(p.skipped, ["qa"]);
        assert_eq!(gates(&p), ["dev/exit", "staging/entry"]);
    }

    #[test]
    fn no_backwards_or_repeated_promotion() {
        let lc = Lifecycle::default_lifecycle();
        assert!(
            lc.plan_promotion(Some("qa"), PreRelease, "qa")
                .unwrap_err()
                .to_string()
                .contains("already in stage qa")
        );
        assert!(lc.plan_promotion(Some("qa"), PreRelease, "dev").is_err());
        let e = lc.plan_promotion(Some("qa"), PreRelease, "preprod").unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }) && e.to_string().contains("target_stage"));
        assert!(
            lc.plan_promotion(Some("prod"), ReleaseStatus::Released, "prod")
                .is_err()
        );
    }

    #[test]
    fn release_only_from_the_last_stage() {
        let lc = Lifecycle::default_lifecycle();
        assert_eq!(
            gates(&lc.plan_release(Some("prod"), PreRelease).unwrap()),
            ["prod/release"]
        );
        assert!(lc.plan_release(Some("staging"), PreRelease).is_err());
        assert!(lc.plan_release(Some("prod"), ReleaseStatus::Released).is_err());
    }

    #[test]
    fn rollback_checks_from_stage() {
        let lc = Lifecycle::default_lifecycle();
        assert_eq!(lc.plan_rollback(Some("qa"), "qa").unwrap().to.as_deref(), Some("dev"));
        assert_eq!(lc.plan_rollback(Some("dev"), "dev").unwrap().to, None);
        assert!(
            lc.plan_rollback(Some("qa"), "staging")
                .unwrap_err()
                .to_string()
                .contains("from_stage is staging")
        );
        assert!(matches!(
            lc.plan_rollback(Some("qa"), "nope"),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn specs_are_validated() {
        let st = |n: &str, s: bool| Stage {
            name: n.into(),
            skippable: s,
        };
        let spec = |stages| LifecycleSpec {
            projects: vec!["shop".into()],
            stages,
        };
        assert!(Lifecycle::from_spec("shop", spec(vec![st("dev", false), st("prod", false)])).is_ok());
        assert!(Lifecycle::from_spec("shop", spec(vec![])).is_err());
        assert!(
            Lifecycle::from_spec("shop", spec(vec![st("dev", false), st("dev", false)]))
                .unwrap_err()
                .to_string()
                .contains("stages[1].name")
        );
        assert!(Lifecycle::from_spec("shop", spec(vec![st("dev", false), st("prod", true)])).is_err());
    }
}
