//! Plugin use cases: plugin checks at gates, collectors (before a gate's
//! checks and on demand), and the registry as the API shows it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Gatehouse, IngestOutcome, Target, validate_actor};
use crate::app::Application;
use crate::error::{Error, Result};
use crate::evidence::{Collection, Subject};
use crate::gate::{Check, CheckOutput, Context, Finding, Level, Mode, Outcome};
use crate::plugin::{self, CallContext, Plugin, PluginHost, PluginInfo, World};
use crate::version::Version;

/// A gate-check plugin bound to a gate.
pub struct PluginCheck {
    pub binding: String,
    pub check: String,
    pub mode: Mode,
    pub params: serde_json::Value,
    /// None when no plugin of that name is loaded (the check errors).
    pub plugin: Option<Arc<Plugin>>,
    pub host: Arc<PluginHost>,
}

fn error(code: &'static str, message: String) -> CheckOutput {
    CheckOutput::error(code, message)
}

impl Check for PluginCheck {
    fn id(&self) -> &str {
        &self.check
    }
    fn mode(&self) -> Mode {
        self.mode
    }
    fn binding(&self) -> Option<&str> {
        Some(&self.binding)
    }
    fn digest(&self) -> Option<String> {
        self.plugin.as_ref().map(|p| p.digest.clone())
    }

    fn evaluate(&self, ctx: &Context<'_>) -> CheckOutput {
        let Some(plugin) = &self.plugin else {
            return error(
                "plugin_not_loaded",
                format!(
                    "{}: no plugin of that name is loaded (gatehouse plugin list)",
                    self.check
                ),
            );
        };
        if plugin.manifest.world != World::GateCheck {
            return error(
                "wrong_world",
                format!(
                    "{} is a {}, not a gate check",
                    self.check,
                    plugin.manifest.world.as_str()
                ),
            );
        }
        let call = CallContext {
            application: ctx.application.key.clone(),
            version: ctx.version.version.clone(),
            action: if ctx.gate.kind == crate::lifecycle::GateKind::Release {
                "release".into()
            } else {
                "promote".into()
            },
            from_stage: ctx.from_stage.map(str::to_string),
            to_stage: ctx.to_stage.map(str::to_string),
            gate: ctx.gate.to_string(),
            params: params_text(&self.params),
            input: ctx.document.to_string(),
        };
        match self.host.check(plugin, &call) {
            Ok(v) => {
                let level = if v.outcome == plugin::Outcome::Fail {
                    Level::Deny
                } else {
                    Level::Warn
                };
                CheckOutput {
                    outcome: match v.outcome {
                        plugin::Outcome::Pass => Outcome::Pass,
                        plugin::Outcome::Warn => Outcome::Warn,
                        plugin::Outcome::Fail => Outcome::Fail,
                    },
                    findings: v
                        .findings
                        .into_iter()
                        .map(|f| Finding {
                            level,
                            message: f.message,
                            rule_id: Some(f.rule),
                            title: None,
                            rationale: None,
                            remediation: f.remediation,
                            severity: Some(f.severity.as_str().to_string()),
                        })
                        .collect(),
                    error: None,
                    error_code: None,
                }
            }
            Err(f) => error(f.code(), format!("{} {f}", self.check)),
        }
    }
}

fn params_text(params: &serde_json::Value) -> String {
    if params.is_null() {
        "{}".to_string()
    } else {
        params.to_string()
    }
}

/// A collector's part in a gate, decided before the checks run.
struct Collected {
    binding: String,
    check: String,
    mode: Mode,
    digest: Option<String>,
    output: CheckOutput,
}

impl Check for Collected {
    fn id(&self) -> &str {
        &self.check
    }
    fn mode(&self) -> Mode {
        self.mode
    }
    fn binding(&self) -> Option<&str> {
        Some(&self.binding)
    }
    fn digest(&self) -> Option<String> {
        self.digest.clone()
    }
    fn evaluate(&self, _ctx: &Context<'_>) -> CheckOutput {
        self.output.clone()
    }
}

/// `POST /v1/applications/{app}/versions/{version}/collect`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectRequest {
    /// A collector plugin's name.
    pub plugin: String,
    /// Must be empty (or absent): an on-demand collect runs with the
    /// manifest's configuration only. Parameters decide what a collector
    /// vouches for, so they come from a binding, never from the caller; any
    /// other value is refused (400).
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::empty_object")]
    pub params: serde_json::Value,
}

/// What a collector run stored.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CollectOutcome {
    pub plugin: String,
    pub digest: String,
    pub evidence: Vec<IngestOutcome>,
}

impl Gatehouse {
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.plugins.list()
    }

    pub fn plugin(&self, name: &str) -> Result<PluginInfo> {
        self.plugins.get(name).map(|p| p.info()).ok_or_else(|| Error::NotFound {
            kind: "plugin",
            id: name.to_string(),
        })
    }

    /// Compile every plugin now (`serve` does this at start).
    pub fn warm_plugins(&self) -> Result<()> {
        self.plugins.warm()
    }

    pub(super) fn is_collector(&self, check: &str) -> bool {
        check
            .strip_prefix("plugin:")
            .and_then(|n| self.plugins.get(n))
            .is_some_and(|p| p.manifest.world == World::Collector)
    }

    /// Run one collector binding for a gate; the result becomes that binding's check result.
    pub(super) fn run_collector(
        &self,
        b: &crate::binding::Binding,
        application: &Application,
        version: &Version,
        transition: &crate::document::Transition<'_>,
        collect: bool,
        actor: &str,
    ) -> Result<Box<dyn Check>> {
        let plugin = b.check.strip_prefix("plugin:").and_then(|n| self.plugins.get(n));
        let digest = plugin.as_ref().map(|p| p.digest.clone());
        let output = match plugin {
            None => error(
                "plugin_not_loaded",
                format!("{}: no plugin of that name is loaded", b.check),
            ),
            Some(_) if !collect => CheckOutput {
                outcome: Outcome::Warn,
                findings: vec![Finding {
                    level: Level::Warn,
                    message: "dry run: the collector did not run, so its evidence is not part of this evaluation"
                        .into(),
                    rule_id: None,
                    title: None,
                    rationale: None,
                    remediation: None,
                    severity: None,
                }],
                error: None,
                error_code: None,
            },
            Some(p) => {
                let call = CallContext {
                    application: application.key.clone(),
                    version: version.version.clone(),
                    action: transition.action.to_string(),
                    from_stage: transition.from_stage.map(str::to_string),
                    to_stage: transition.to_stage.map(str::to_string),
                    gate: transition.gate.to_string(),
                    params: params_text(&b.params),
                    input: "{}".into(),
                };
                let how = Collection {
                    plugin: p.manifest.name.clone(),
                    plugin_digest: p.digest.clone(),
                    plugin_signer: p.signer.to_string(),
                    triggered_by: actor.to_string(),
                    binding: Some(b.id.clone()),
                    params: b.params.clone(),
                };
                match self.collect_and_store(&p, &call, version, &how) {
                    Ok(stored) => summary(&stored),
                    Err(e) => error("collector_failed", format!("{} {e}", b.check)),
                }
            }
        };
        Ok(Box::new(Collected {
            binding: b.id.clone(),
            check: b.check.clone(),
            mode: b.mode,
            digest,
            output,
        }))
    }

    /// Run a collector on demand (`gatehouse collect`). It runs with its
    /// manifest's configuration only: parameters decide what a collector
    /// vouches for, so they come from a binding (set by an operator), never
    /// from whoever asks for an on-demand run.
    pub fn collect(&self, actor: &str, app: &str, version: &str, req: CollectRequest) -> Result<CollectOutcome> {
        let actor = validate_actor(actor)?;
        let application = self.application(app)?;
        let v = self.version(app, version)?;
        let plugin = self.plugins.get(&req.plugin).ok_or_else(|| Error::NotFound {
            kind: "plugin",
            id: req.plugin.clone(),
        })?;
        if plugin.manifest.world != World::Collector {
            return Err(Error::invalid("plugin", &req.plugin, "a collector plugin"));
        }
        if !(req.params.is_null() || req.params.as_object().is_some_and(serde_json::Map::is_empty)) {
            return Err(Error::invalid(
                "params",
                req.params.to_string(),
                "no parameters: an on-demand collect runs with the manifest's configuration; parameters come from a binding (bind the collector to a gate with params)",
            ));
        }
        let call = CallContext {
            application: application.key.clone(),
            version: v.version.clone(),
            action: "collect".into(),
            from_stage: v.stage.clone(),
            to_stage: None,
            gate: String::new(),
            params: "{}".into(),
            input: "{}".into(),
        };
        let how = Collection {
            plugin: plugin.manifest.name.clone(),
            plugin_digest: plugin.digest.clone(),
            plugin_signer: plugin.signer.to_string(),
            triggered_by: actor.to_string(),
            binding: None,
            params: serde_json::json!({}),
        };
        let evidence = self
            .collect_and_store(&plugin, &call, &v, &how)
            .map_err(|e| Error::conflict(format!("collector {} {e}", req.plugin)))?;
        Ok(CollectOutcome {
            plugin: req.plugin,
            digest: plugin.digest.clone(),
            evidence,
        })
    }

    /// Call the collector, sign each statement with the collector key, and
    /// ingest it as evidence of the version (one transaction per statement
    /// batch, through the same path as evidence from outside).
    fn collect_and_store(
        &self,
        plugin: &Plugin,
        call: &CallContext,
        version: &Version,
        how: &Collection,
    ) -> std::result::Result<Vec<IngestOutcome>, String> {
        let statements = self.plugins.collect(plugin, call).map_err(|f| f.to_string())?;
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        // A collector may only emit the predicate types its manifest declares:
        // anything else is a capability violation and nothing is stored.
        let allowed = &plugin.manifest.capabilities.predicate_types;
        if let Some(s) = statements.iter().find(|s| !allowed.contains(&s.predicate_type)) {
            return Err(format!(
                "violated its capabilities: it returned a statement of predicate type {:?}, which its manifest does not declare (capabilities.predicate_types = {:?}); nothing was stored",
                s.predicate_type, allowed
            ));
        }
        self.trust_collector_key()
            .map_err(|e| format!("cannot trust the collector key: {e}"))?;
        let subjects = subjects_of(version);
        let mut bundle = String::new();
        for s in statements {
            let env = crate::evidence::sign(&self.collector_key, subjects.clone(), &s.predicate_type, s.predicate);
            bundle.push_str(&env.to_string());
            bundle.push('\n');
        }
        let actor = format!("plugin:{}@sha256:{}", plugin.manifest.name, plugin.digest);
        let target = Target::Version {
            application: version.application.clone(),
            version: version.version.clone(),
        };
        let outcomes = self
            .ingest(&actor, bundle.as_bytes(), &target, 1, Some(how))
            .map_err(|e| format!("storing its statements failed: {e}"))?;
        if let Some(refused) = outcomes.iter().find(|o| !o.accepted()) {
            let reason = refused
                .refusal
                .as_ref()
                .or_else(|| refused.bindings.iter().find_map(|b| b.refusal.as_ref()))
                .map_or_else(|| "refused".to_string(), |r| r.reason.clone());
            return Err(format!("returned a statement the evidence store refused: {reason}"));
        }
        Ok(outcomes)
    }

    /// The collector key must be a trusted evidence key; the first collection
    /// trusts it (a logged change). A revoked collector key stays revoked.
    fn trust_collector_key(&self) -> Result<()> {
        let vk = self.collector_key.verifying_key();
        let keyid = crate::keys::keyid(&vk);
        if self.store.trusted_keys()?.iter().any(|k| k.keyid == keyid) {
            return Ok(());
        }
        self.trust_key(
            "gatehouse",
            crate::keys::NewTrustedKey {
                name: "gatehouse-collectors".into(),
                owner: "gatehouse".into(),
                public_key: Some(hex::encode(vk.as_bytes())),
                identity: None,
                allowed_predicate_types: Vec::new(),
                not_before: None,
                not_after: None,
            },
        )?;
        Ok(())
    }
}

/// What collected statements are about: the version's artifacts, or the version itself.
fn subjects_of(v: &Version) -> Vec<Subject> {
    let artifacts: Vec<Subject> = v
        .artifacts
        .iter()
        .map(|a| Subject {
            name: a.name.clone(),
            digest: [("sha256".to_string(), a.sha256.clone())].into_iter().collect(),
        })
        .collect();
    if artifacts.is_empty() {
        vec![Subject {
            name: format!("{}@{}", v.application, v.version),
            digest: [("sha256".to_string(), v.digest())].into_iter().collect(),
        }]
    } else {
        artifacts
    }
}

fn summary(stored: &[IngestOutcome]) -> CheckOutput {
    let digests: Vec<String> = stored
        .iter()
        .filter_map(|o| o.digest.as_ref())
        .map(|d| format!("sha256:{}", &d[..d.len().min(12)]))
        .collect();
    CheckOutput {
        outcome: Outcome::Pass,
        findings: vec![Finding {
            level: Level::Warn,
            message: if digests.is_empty() {
                "collected no statements".to_string()
            } else {
                format!(
                    "collected {} statement(s) as evidence: {}",
                    digests.len(),
                    digests.join(", ")
                )
            },
            rule_id: None,
            title: None,
            rationale: None,
            remediation: None,
            severity: Some("info".into()),
        }],
        error: None,
        error_code: None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn null_params_are_an_empty_object() {
        assert_eq!(super::params_text(&serde_json::Value::Null), "{}");
        assert_eq!(super::params_text(&serde_json::json!({"a": 1})), r#"{"a":1}"#);
    }
}

/// The call a gate check would get now (`GET …/document?gate=STAGE/KIND`):
/// the transition and the input document the gate would build, what
/// `gatehouse plugin context` writes for `plugin run --context`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GateCall {
    pub application: String,
    pub version: String,
    pub action: String,
    pub from_stage: Option<String>,
    pub to_stage: Option<String>,
    /// `STAGE/entry|exit|release`.
    pub gate: String,
    /// Empty: a binding's parameters are the binding's (pass `--params`).
    pub params: serde_json::Value,
    /// The input document (docs/input-document.md).
    pub input: serde_json::Value,
}

impl Gatehouse {
    /// The call the gate `gate` ("STAGE", "STAGE/entry", "STAGE/exit" or
    /// "STAGE/release") of the version's next move would make: a promotion
    /// into STAGE for entry and exit gates (exit: of the stage it is in now),
    /// a release for the release gate. Collectors are not run; the evidence
    /// is what is stored now. Nothing is written.
    pub fn gate_call(&self, app: &str, version: &str, gate: &str) -> Result<GateCall> {
        let (stage, kind) = match gate.split_once('/') {
            Some((s, k)) => (s, k),
            None => (gate, "entry"),
        };
        let (application, v, lifecycle) = self.load(app, version)?;
        if !lifecycle.stages.iter().any(|s| s.name == stage) {
            let names: Vec<&str> = lifecycle.stages.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::invalid(
                "gate",
                gate,
                format!(
                    "STAGE[/entry|exit|release] with a stage of lifecycle {:?}: {}",
                    lifecycle.name,
                    names.join(", ")
                ),
            ));
        }
        let (plan, action) = match kind {
            "entry" => (
                lifecycle.plan_promotion(v.stage.as_deref(), v.release_status, stage)?,
                "promote",
            ),
            "exit" => {
                if v.stage.as_deref() != Some(stage) {
                    return Err(Error::invalid(
                        "gate",
                        gate,
                        format!(
                            "the exit gate of the stage the version is in ({})",
                            v.stage.as_deref().unwrap_or("none: it is a draft")
                        ),
                    ));
                }
                let next = lifecycle
                    .stages
                    .iter()
                    .skip_while(|s| s.name != stage)
                    .nth(1)
                    .map(|s| s.name.clone())
                    .ok_or_else(|| {
                        Error::invalid(
                            "gate",
                            gate,
                            "an exit gate of a stage a promotion leaves (the last one is left by release)",
                        )
                    })?;
                (
                    lifecycle.plan_promotion(v.stage.as_deref(), v.release_status, &next)?,
                    "promote",
                )
            }
            "release" => (lifecycle.plan_release(v.stage.as_deref(), v.release_status)?, "release"),
            _ => {
                return Err(Error::invalid(
                    "gate",
                    gate,
                    "STAGE, STAGE/entry, STAGE/exit or STAGE/release",
                ));
            }
        };
        let Some(gate_ref) = plan
            .gates
            .iter()
            .find(|g| g.stage == stage && g.kind_str() == kind)
            .cloned()
        else {
            return Err(Error::invalid("gate", gate, "a gate of the version's next move"));
        };
        let evidence = self.gate_evidence(&v)?;
        let findings = self.store.findings(Some(&v.application), Some(&v.version), None)?;
        let components = self.store.components(&v.application, &v.version)?;
        let now = crate::time::now();
        let digest = v.digest();
        let in_force: Vec<crate::waiver::Waiver> = self
            .store
            .waivers(Some(&v.application), Some(&v.version))?
            .into_iter()
            .filter(|w| w.active_for(&gate_ref, &now, &digest).is_some())
            .collect();
        let transition = crate::document::Transition {
            action,
            from_stage: plan.from.as_deref(),
            to_stage: plan.to.as_deref(),
            gate: &gate_ref,
        };
        let text = crate::document::build(
            &application,
            &v,
            &transition,
            &evidence,
            &components,
            &findings,
            &in_force,
        )
        .to_text()
        .text;
        let input = serde_json::from_str(&text).map_err(|e| Error::internal("the input document", e))?;
        Ok(GateCall {
            application: application.key.clone(),
            version: v.version.clone(),
            action: action.to_string(),
            from_stage: plan.from.clone(),
            to_stage: plan.to.clone(),
            gate: gate_ref.to_string(),
            params: serde_json::json!({}),
            input,
        })
    }
}
