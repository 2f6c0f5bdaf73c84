//! Bindings: which check runs at which gate, for which applications, in which
//! mode, with which parameters. Matching is a pure function that also says why.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::{Application, Criticality};
use crate::error::{Error, Result};
use crate::gate::Mode;
use crate::lifecycle::{GateKind, GateRef};

/// Which applications a binding covers. Every selector given must match;
/// all empty means every application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = crate::schema::SLUG)))]
    pub projects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<String>,
    /// Every label given must be on the application with this value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "crate::schema::Labels")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criticality: Vec<Criticality>,
}

/// Which gate: a stage (`*` for every stage) and a kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateSelector {
    /// A stage, or `*` for every stage.
    #[schemars(regex(pattern = crate::schema::STAGE_SELECTOR))]
    pub stage: String,
    pub kind: GateKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BindingOrigin {
    Config,
    Api,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Binding {
    pub id: String,
    /// `policy:<package>` (or, later, `plugin:<name>`).
    pub check: String,
    pub scope: Scope,
    pub gate: GateSelector,
    pub mode: Mode,
    /// Visible to the policy as `data.params`.
    #[schemars(schema_with = "crate::schema::any_value")]
    pub params: serde_json::Value,
    pub origin: BindingOrigin,
}

/// What a client (or the config file) gives to define a binding.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingSpec {
    /// `policy:<package>` or `plugin:<name>`.
    #[schemars(regex(pattern = crate::schema::CHECK))]
    pub check: String,
    #[serde(default)]
    pub scope: Scope,
    pub gate: GateSelector,
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// Visible to the policy as `data.params` (a plugin gets them as its parameters).
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::any_value")]
    pub params: serde_json::Value,
}

fn default_mode() -> Mode {
    Mode::Block
}

/// A binding from the config file: a spec with its id.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigBinding {
    pub id: String,
    #[serde(flatten)]
    pub spec: BindingSpec,
}

impl BindingSpec {
    pub fn into_binding(self, id: &str, origin: BindingOrigin) -> Result<Binding> {
        crate::app::validate_slug("id", id)?;
        let (kind, name) = self.check.split_once(':').unwrap_or(("", ""));
        if !matches!(kind, "policy" | "plugin") || name.is_empty() {
            return Err(Error::invalid(
                "check",
                &self.check,
                "policy:<package> or plugin:<name>",
            ));
        }
        if self.gate.stage != "*" {
            crate::app::validate_slug("gate.stage", &self.gate.stage)?;
        }
        if !(self.params.is_null() || self.params.is_object()) {
            return Err(Error::invalid(
                "params",
                &self.params,
                "an object (visible to the policy as data.params)",
            ));
        }
        Ok(Binding {
            id: id.to_string(),
            check: self.check,
            scope: self.scope,
            gate: self.gate,
            mode: self.mode,
            params: self.params,
            origin,
        })
    }
}

impl Binding {
    /// Why this binding applies to `app` at `gate`, or None when it does not.
    pub fn applies(&self, app: &Application, gate: &GateRef) -> Option<String> {
        if self.gate.kind != gate.kind || (self.gate.stage != "*" && self.gate.stage != gate.stage) {
            return None;
        }
        let s = &self.scope;
        let mut why = Vec::new();
        if !s.projects.is_empty() {
            if !s.projects.contains(&app.project) {
                return None;
            }
            why.push(format!("project {}", app.project));
        }
        if !s.applications.is_empty() {
            if !s.applications.contains(&app.key) {
                return None;
            }
            why.push(format!("application {}", app.key));
        }
        for (k, v) in &s.labels {
            if app.labels.get(k) != Some(v) {
                return None;
            }
            why.push(format!("label {k}={v}"));
        }
        if !s.criticality.is_empty() {
            if !s.criticality.contains(&app.criticality) {
                return None;
            }
            why.push(format!("criticality {}", app.criticality.as_str()));
        }
        let scope = if why.is_empty() {
            "global".to_string()
        } else {
            why.join(", ")
        };
        let stage = if self.gate.stage == "*" {
            "every stage".to_string()
        } else {
            format!("stage {}", self.gate.stage)
        };
        let mode = match self.mode {
            Mode::Block => "block",
            Mode::Warn => "warn",
        };
        Some(format!("binding {} ({mode} mode): {stage}, scope {scope}", self.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::NewApplication;
    use crate::error::parse_input;
    use serde_json::json;

    fn app() -> Application {
        let n: NewApplication = parse_input(
            "app",
            json!({"key": "payments", "project": "shop", "criticality": "high", "labels": {"tier": "backend"}}),
        )
        .unwrap();
        n.into_application("t").unwrap()
    }

    fn binding(scope: serde_json::Value, stage: &str) -> Binding {
        let spec: BindingSpec = parse_input(
            "binding",
            json!({"check": "policy:baseline.tests", "scope": scope, "gate": {"stage": stage, "kind": "entry"}}),
        )
        .unwrap();
        spec.into_binding("b1", BindingOrigin::Api).unwrap()
    }

    #[test]
    fn scopes_match_every_selector_and_say_why() {
        let qa = GateRef {
            stage: "qa".into(),
            kind: GateKind::Entry,
        };
        let why = binding(json!({}), "*").applies(&app(), &qa).unwrap();
        assert!(
            why.contains("scope global") && why.contains("every stage") && why.contains("block mode"),
            "{why}"
        );
        let why = binding(
            json!({"projects": ["shop"], "criticality": ["high", "critical"], "labels": {"tier": "backend"}}),
            "qa",
        )
        .applies(&app(), &qa)
        .unwrap();
        assert!(
            why.contains("project shop") && why.contains("criticality high") && why.contains("label tier=backend"),
            "{why}"
        );
        assert!(
            binding(json!({"projects": ["other"]}), "qa")
                .applies(&app(), &qa)
                .is_none()
        );
        assert!(
            binding(json!({"labels": {"tier": "frontend"}}), "qa")
                .applies(&app(), &qa)
                .is_none()
        );
        assert!(
            binding(json!({"criticality": ["low"]}), "qa")
                .applies(&app(), &qa)
                .is_none()
        );
        assert!(binding(json!({}), "prod").applies(&app(), &qa).is_none());
        let exit = GateRef {
            stage: "qa".into(),
            kind: GateKind::Exit,
        };
        assert!(binding(json!({}), "qa").applies(&app(), &exit).is_none());
    }

    #[test]
    fn specs_are_validated() {
        let bad: BindingSpec = parse_input(
            "binding",
            json!({"check": "rego:x", "gate": {"stage": "qa", "kind": "entry"}}),
        )
        .unwrap();
        assert!(
            bad.into_binding("b", BindingOrigin::Api)
                .unwrap_err()
                .to_string()
                .contains("`check`")
        );
        let bad: BindingSpec = parse_input(
            "binding",
            json!({"check": "policy:x", "gate": {"stage": "qa", "kind": "entry"}, "params": [1]}),
        )
        .unwrap();
        assert!(
            bad.into_binding("b", BindingOrigin::Api)
                .unwrap_err()
                .to_string()
                .contains("params")
        );
    }
}
