//! Gate use cases: the policy set, bindings, the gate plan, waivers and
//! stored evaluations.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{GateSettings, Gatehouse, validate_actor};
use crate::app::Application;
use crate::audit::{EventResult, NewEvent};
use crate::binding::{Binding, BindingOrigin, BindingSpec};
use crate::error::{Error, Result};
use crate::gate::{Check, CheckOutput, GateVerdict, Mode, Outcome};
use crate::lifecycle::{GateKind, GateRef};
use crate::policy::{self, Limits, Origin, Policy, PolicyCheck, PolicySet};
use crate::store::Store;
use crate::waiver::{CoveredCheck, Waiver, WaiverRequest};

/// A random id with a prefix (`ev_…`, `wv_…`).
pub fn new_id(prefix: &str) -> Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal_msg(format!("no randomness from the operating system: {e}")))?;
    Ok(format!("{prefix}_{}", hex::encode(bytes)))
}

/// Bundled packs, then the policy directory, then uploads: a later one with
/// the same name replaces an earlier one.
pub fn compile(store: &dyn Store, settings: &GateSettings) -> Result<PolicySet> {
    let mut by_name = std::collections::BTreeMap::new();
    let mut all = policy::bundled()?;
    if let Some(dir) = &settings.policy_dir {
        all.extend(policy::from_directory(dir)?);
    }
    all.extend(store.uploaded_policies()?);
    for p in all {
        by_name.insert(p.name.clone(), p);
    }
    PolicySet::new(by_name.into_values().collect())
}

/// The check a binding puts on a gate. Unknown kinds fail closed.
pub fn check_for(
    b: &Binding,
    set: &Arc<PolicySet>,
    input: &policy::Input,
    limits: Limits,
    plugins: &Arc<crate::plugin::PluginHost>,
) -> Box<dyn Check> {
    if let Some(name) = b.check.strip_prefix("plugin:") {
        Box::new(super::plugins::PluginCheck {
            binding: b.id.clone(),
            check: b.check.clone(),
            mode: b.mode,
            params: b.params.clone(),
            plugin: plugins.get(name),
            host: plugins.clone(),
        })
    } else if b.check.starts_with("policy:") {
        Box::new(PolicyCheck {
            binding: b.id.clone(),
            check: b.check.clone(),
            mode: b.mode,
            params: b.params.clone(),
            set: set.clone(),
            input: input.clone(),
            limits,
        })
    } else {
        Box::new(Unavailable {
            binding: b.id.clone(),
            check: b.check.clone(),
            mode: b.mode,
        })
    }
}

/// A bound check of a kind this build cannot run: it errors, so a block-mode
/// binding blocks.
struct Unavailable {
    binding: String,
    check: String,
    mode: Mode,
}

impl Check for Unavailable {
    fn id(&self) -> &str {
        &self.check
    }
    fn mode(&self) -> Mode {
        self.mode
    }
    fn binding(&self) -> Option<&str> {
        Some(&self.binding)
    }
    fn evaluate(&self, _ctx: &crate::gate::Context<'_>) -> CheckOutput {
        CheckOutput::error(
            "unknown_check",
            format!("{} cannot run: only policy: and plugin: checks exist", self.check),
        )
    }
}

/// Every gate of an application's lifecycle and the checks each would run.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApplicationGatePlan {
    pub application: String,
    /// The lifecycle its new versions climb (its project's, or the default).
    pub lifecycle: String,
    pub gates: Vec<PlannedGate>,
}

/// Which checks a promotion would run, and why each binding matched.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GatePlan {
    pub application: String,
    pub version: String,
    pub from_stage: Option<String>,
    pub to_stage: Option<String>,
    pub gates: Vec<PlannedGate>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlannedGate {
    pub gate: GateRef,
    pub checks: Vec<PlannedCheck>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlannedCheck {
    pub check: String,
    pub binding: String,
    pub mode: Mode,
    pub why: String,
    /// The policy's digest and origin, or why it cannot run.
    pub policy: Option<PolicyRef>,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PolicyRef {
    pub name: String,
    pub digest: String,
    pub origin: Origin,
    pub version: u64,
}

/// An uploaded policy: one file's `source`, or every file of the package.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    description = "Either `source` (one Rego file) or `files` (every file of the package, merged as OPA and conftest merge them); every file must declare the package named by the path. Two files that both define a complete rule with := (or both a default) are refused (409) naming the files.",
    extend("oneOf" = [{ "required": ["source"] }, { "required": ["files"] }])
)]
pub struct PolicyUpload {
    /// Rego v1 text whose package is the policy's name.
    #[serde(default)]
    #[schemars(with = "String")]
    pub source: Option<String>,
    #[serde(default)]
    pub files: Vec<policy::PolicyFile>,
}

impl PolicyUpload {
    /// The files, named `upload:NAME` (one) or `upload:NAME/PATH` (several).
    fn into_files(self, name: &str) -> Result<Vec<(String, String)>> {
        match (self.source, self.files.is_empty()) {
            (Some(source), true) => Ok(vec![(format!("upload:{name}"), source)]),
            (None, false) => {
                let mut out = Vec::new();
                for (i, f) in self.files.into_iter().enumerate() {
                    if f.path.is_empty() || f.path.len() > 256 || f.path.chars().any(char::is_control) {
                        return Err(Error::invalid(
                            format!("files[{i}].path"),
                            &f.path,
                            "a file name of 1 to 256 printable characters",
                        ));
                    }
                    let path = format!("upload:{name}/{}", f.path);
                    if out.iter().any(|(p, _): &(String, String)| *p == path) {
                        return Err(Error::invalid(format!("files[{i}].path"), &f.path, "a name used once"));
                    }
                    out.push((path, f.source));
                }
                Ok(out)
            }
            _ => Err(Error::invalid(
                "source",
                "(both or neither of source and files)",
                "either `source` (one Rego file) or `files` (every file of the package: [{path, source}])",
            )),
        }
    }
}

impl Gatehouse {
    /// The policies in force: whatever the store holds now, whoever wrote it
    /// (another CLI on the data directory, another sidecar). One small query
    /// per call; the set is recompiled only when the store's policies changed.
    /// If they no longer compile, the last good set stays and the error is logged.
    pub(super) fn policy_set(&self) -> Arc<PolicySet> {
        let (known, set) = match self.policies.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let current = match self.store.policies_fingerprint() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the stored policies; using the set compiled before");
                return set;
            }
        };
        if current == known {
            return set;
        }
        match compile(&*self.store, &self.settings) {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                if let Ok(mut guard) = self.policies.write() {
                    *guard = (current, fresh.clone());
                }
                fresh
            }
            Err(e) => {
                tracing::error!(error = %e, "the stored policies changed but do not compile; the set compiled before stays in force");
                set
            }
        }
    }

    /// Config bindings first, then stored ones (ids are unique across both).
    pub fn all_bindings(&self) -> Result<Vec<Binding>> {
        let mut all = self.settings.bindings.clone();
        all.extend(self.store.bindings()?);
        Ok(all)
    }

    pub fn put_binding(&self, actor: &str, id: &str, spec: BindingSpec) -> Result<Binding> {
        let actor = validate_actor(actor)?;
        if self.settings.bindings.iter().any(|b| b.id == id) {
            return Err(Error::conflict(format!(
                "binding {id} comes from the configuration file; change it there"
            )));
        }
        let binding = spec.into_binding(id, BindingOrigin::Api)?;
        self.check_stage_exists(&binding, "gate.stage")?;
        if let Some(name) = binding.check.strip_prefix("policy:")
            && self.policy_set().get(name).is_none()
        {
            return Err(Error::invalid(
                "check",
                &binding.check,
                "a loaded policy (see GET /v1/policies)",
            ));
        }
        if let Some(name) = binding.check.strip_prefix("plugin:")
            && self.plugins.get(name).is_none()
        {
            return Err(Error::invalid(
                "check",
                &binding.check,
                "a loaded plugin (see GET /v1/plugins)",
            ));
        }
        let event = simple_event(
            actor,
            "binding.put",
            &format!("binding:{id}"),
            json!({ "binding": binding }),
        );
        self.store.put_binding(&binding, event)?;
        Ok(binding)
    }

    /// A binding to a stage that no lifecycle has would never run: refuse it,
    /// naming the stages that exist.
    pub(super) fn check_stage_exists(&self, binding: &Binding, field: &str) -> Result<()> {
        if binding.gate.stage == "*" {
            return Ok(());
        }
        let mut stages: Vec<String> = Vec::new();
        for lc in self.lifecycles()? {
            for s in lc.stage_names() {
                if !stages.iter().any(|x| x == s) {
                    stages.push(s.to_string());
                }
            }
        }
        if stages.contains(&binding.gate.stage) {
            return Ok(());
        }
        Err(Error::invalid(
            field,
            &binding.gate.stage,
            format!("a stage of some lifecycle, or * ({})", stages.join(", ")),
        ))
    }

    pub fn delete_binding(&self, actor: &str, id: &str) -> Result<()> {
        let actor = validate_actor(actor)?;
        if self.settings.bindings.iter().any(|b| b.id == id) {
            return Err(Error::conflict(format!(
                "binding {id} comes from the configuration file; change it there"
            )));
        }
        self.store.delete_binding(
            id,
            simple_event(actor, "binding.delete", &format!("binding:{id}"), json!({})),
        )?;
        Ok(())
    }

    pub fn policies(&self) -> Vec<Policy> {
        self.policy_set().policies().cloned().collect()
    }

    pub fn policy(&self, name: &str) -> Result<Policy> {
        self.policy_set().get(name).cloned().ok_or_else(|| Error::NotFound {
            kind: "policy",
            id: name.to_string(),
        })
    }

    /// Upload (or replace) a policy; it must compile with every other loaded policy.
    pub fn upload_policy(&self, actor: &str, name: &str, upload: PolicyUpload) -> Result<Policy> {
        let actor = validate_actor(actor)?;
        let previous = self.policy_set().get(name).cloned();
        let files = upload.into_files(name)?;
        let mut found = policy::from_files(files, Origin::Uploaded, 1)?;
        let mut p = match found.as_slice() {
            [one] if one.name == name => found.remove(0),
            _ => {
                return Err(Error::invalid(
                    "source",
                    format!(
                        "package {}",
                        found.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    format!("package {name} in every file, as the path says"),
                ));
            }
        };
        p.version = previous
            .as_ref()
            .map_or(1, |q| if q.digest == p.digest { q.version } else { q.version + 1 });
        let mut all: Vec<Policy> = self
            .policy_set()
            .policies()
            .filter(|q| q.name != name)
            .cloned()
            .collect();
        all.push(p.clone());
        let set = PolicySet::new(all)?;
        let event = simple_event(
            actor,
            "policy.upload",
            &format!("policy:{name}"),
            json!({ "name": name, "version": p.version, "digest": p.digest, "previous_digest": previous.map(|q| q.digest) }),
        );
        self.store.put_policy(&p, event)?;
        if let (Ok(mut guard), Ok(fingerprint)) = (self.policies.write(), self.store.policies_fingerprint()) {
            *guard = (fingerprint, Arc::new(set));
        }
        Ok(p)
    }

    /// Which checks a promotion of the version to `target` would run, and why.
    pub fn gate_plan(&self, app: &str, version: &str, target: &str) -> Result<GatePlan> {
        let (application, v, lifecycle) = self.load(app, version)?;
        let plan = if target == "release" {
            lifecycle.plan_release(v.stage.as_deref(), v.release_status)?
        } else {
            lifecycle.plan_promotion(v.stage.as_deref(), v.release_status, target)?
        };
        let bindings = self.all_bindings()?;
        let set = self.policy_set();
        let gates = plan
            .gates
            .iter()
            .map(|g| PlannedGate {
                gate: g.clone(),
                checks: self.planned_checks(&application, g, &bindings, &set),
            })
            .collect();
        Ok(GatePlan {
            application: app.to_string(),
            version: v.version,
            from_stage: plan.from,
            to_stage: plan.to,
            gates,
        })
    }

    /// Every gate of the lifecycle the application's new versions climb
    /// (each stage's entry and exit, the last stage's release), with the
    /// checks each would run and why: what the application must meet from
    /// draft to Trusted Release.
    pub fn application_gate_plan(&self, app: &str) -> Result<ApplicationGatePlan> {
        let application = self.application(app)?;
        let lifecycle = self.lifecycle_for_project(&application.project)?;
        let bindings = self.all_bindings()?;
        let set = self.policy_set();
        let last = lifecycle.stages.len().saturating_sub(1);
        let gates = lifecycle
            .stages
            .iter()
            .enumerate()
            .flat_map(|(i, st)| {
                let kinds: &[GateKind] = if i == last {
                    &[GateKind::Entry, GateKind::Exit, GateKind::Release]
                } else {
                    &[GateKind::Entry, GateKind::Exit]
                };
                kinds.iter().map(|kind| GateRef {
                    stage: st.name.clone(),
                    kind: *kind,
                })
            })
            .map(|g| PlannedGate {
                checks: self.planned_checks(&application, &g, &bindings, &set),
                gate: g,
            })
            .collect();
        Ok(ApplicationGatePlan {
            application: application.key.clone(),
            lifecycle: lifecycle.name,
            gates,
        })
    }

    /// The checks the bindings attach to one gate for an application, each
    /// with why it applies and its policy (or why it cannot run).
    fn planned_checks(
        &self,
        application: &Application,
        g: &GateRef,
        bindings: &[Binding],
        set: &crate::policy::PolicySet,
    ) -> Vec<PlannedCheck> {
        bindings
            .iter()
            .filter_map(|b| b.applies(application, g).map(|why| (b, why)))
            .map(|(b, why)| {
                let p = b.check.strip_prefix("policy:").and_then(|n| set.get(n));
                let problem = match (b.check.strip_prefix("policy:"), p) {
                    (Some(_), Some(_)) => None,
                    (Some(n), None) => Some(format!("policy {n} is not loaded: this check will error and block")),
                    (None, _) => match b.check.strip_prefix("plugin:").map(|n| (n, self.plugins.get(n))) {
                        Some((_, Some(_))) => None,
                        Some((n, None)) => Some(format!("plugin {n} is not loaded: this check will error and block")),
                        None => Some("unknown kind of check: it will error".to_string()),
                    },
                };
                PlannedCheck {
                    check: b.check.clone(),
                    binding: b.id.clone(),
                    mode: b.mode,
                    why,
                    policy: p.map(|p| PolicyRef {
                        name: p.name.clone(),
                        digest: p.digest.clone(),
                        origin: p.origin,
                        version: p.version,
                    }),
                    problem,
                }
            })
            .collect()
    }

    pub fn gate_evaluations(&self, app: &str, version: &str) -> Result<Vec<GateVerdict>> {
        self.version(app, version)?;
        self.store.gate_evaluations(app, version)
    }

    // ---- waivers ----------------------------------------------------------

    pub fn request_waiver(&self, actor: &str, req: WaiverRequest) -> Result<Waiver> {
        let actor = validate_actor(actor)?;
        self.version(&req.application, &req.version)?;
        let lifecycle = self.lifecycle(&self.version(&req.application, &req.version)?.lifecycle)?;
        if !lifecycle.stage_names().contains(&req.gate.stage.as_str()) {
            return Err(Error::invalid(
                "gate.stage",
                &req.gate.stage,
                format!(
                    "a stage of lifecycle {}: {}",
                    lifecycle.name,
                    lifecycle.stage_names().join(", ")
                ),
            ));
        }
        let w = req.into_waiver(new_id("wv")?, actor, &crate::time::now())?;
        self.store
            .put_waiver(&w, waiver_event(actor, "waiver.request", &w, EventResult::Success))?;
        Ok(w)
    }

    pub fn waiver(&self, id: &str) -> Result<Waiver> {
        self.store.waiver(id)?.ok_or_else(|| Error::NotFound {
            kind: "waiver",
            id: id.to_string(),
        })
    }

    pub fn waivers(&self, app: Option<&str>, version: Option<&str>) -> Result<Vec<Waiver>> {
        self.store.waivers(app, version)
    }

    /// Approve or reject. A refusal (the requester deciding, a decided
    /// waiver) is logged too.
    pub fn decide_waiver(&self, actor: &str, id: &str, approve: bool, note: Option<String>) -> Result<Waiver> {
        let actor = validate_actor(actor)?;
        let w = self.waiver(id)?;
        let action = if approve { "waiver.approve" } else { "waiver.reject" };
        let decided = w
            .decide(approve, actor, &crate::time::now(), note)
            .and_then(|mut decided| {
                if approve {
                    let v = self.version(&w.application, &w.version)?;
                    decided.version_digest = Some(v.digest());
                    decided.covers = Some(self.waivable_checks(&w, &v)?);
                }
                self.store.update_waiver(
                    &decided,
                    w.status,
                    waiver_event(actor, action, &decided, EventResult::Success),
                )?;
                Ok(decided)
            });
        match decided {
            Ok(decided) => Ok(decided),
            Err(e) => {
                let mut event = waiver_event(actor, action, &w, EventResult::Failure);
                event.details = json!({ "waiver": w.id, "reason": e.to_string() });
                self.store.append_event(event)?;
                Err(e)
            }
        }
    }

    /// What an approval covers: the checks failing at the gate's latest
    /// stored evaluation for this version, or, when the gate was not evaluated
    /// yet, the checks bound to it now — each with the digest of what ran —
    /// narrowed to the waiver's one check when it names one.
    fn waivable_checks(&self, w: &Waiver, v: &crate::version::Version) -> Result<Vec<CoveredCheck>> {
        let wanted = |check: &str| w.check.as_deref().is_none_or(|c| c == check);
        let latest = self
            .store
            .gate_evaluations(&w.application, &w.version)?
            .into_iter()
            .rev()
            .find(|e| e.gate == w.gate);
        if let Some(e) = latest {
            return Ok(e
                .checks
                .iter()
                .filter(|c| c.outcome == Outcome::Fail && wanted(&c.check))
                .map(|c| CoveredCheck {
                    check: c.check.clone(),
                    digest: c.digest.clone(),
                })
                .collect());
        }
        let application = self.application(&v.application)?;
        let set = self.policy_set();
        Ok(self
            .all_bindings()?
            .iter()
            .filter(|b| b.applies(&application, &w.gate).is_some() && wanted(&b.check))
            .map(|b| CoveredCheck {
                check: b.check.clone(),
                digest: match (b.check.strip_prefix("policy:"), b.check.strip_prefix("plugin:")) {
                    (Some(p), _) => set.get(p).map(|p| p.digest.clone()),
                    (_, Some(p)) => self.plugins.get(p).map(|p| p.digest.clone()),
                    _ => None,
                },
            })
            .collect())
    }

    pub fn revoke_waiver(&self, actor: &str, id: &str) -> Result<Waiver> {
        let actor = validate_actor(actor)?;
        let current = self.waiver(id)?;
        let revoked = current.revoke(actor, &crate::time::now())?;
        self.store.update_waiver(
            &revoked,
            current.status,
            waiver_event(actor, "waiver.revoke", &revoked, EventResult::Success),
        )?;
        Ok(revoked)
    }
}

fn simple_event(actor: &str, action: &str, subject: &str, details: serde_json::Value) -> NewEvent {
    NewEvent {
        actor: actor.to_string(),
        action: action.to_string(),
        subject: subject.to_string(),
        application: None,
        version: None,
        result: EventResult::Success,
        details,
    }
}

fn waiver_event(actor: &str, action: &str, w: &Waiver, result: EventResult) -> NewEvent {
    NewEvent {
        actor: actor.to_string(),
        action: action.to_string(),
        subject: format!("waiver:{}", w.id),
        application: Some(w.application.clone()),
        version: Some(w.version.clone()),
        result,
        details: json!({ "waiver": w }),
    }
}
