//! The use cases. Each one validates its input, asks the state machine and the
//! gates, and hands the store one change together with its activity-log event.
//! Refusals that depend on state (conflicts, blocked gates) are logged too;
//! malformed input writes nothing.

mod access;
mod evidence;
mod gates;
mod plugins;
mod records;
mod vulns;

pub use access::CreatedToken;
pub use evidence::{BindingOutcome, IngestOutcome, Target};
pub use gates::{ApplicationGatePlan, GatePlan, PlannedGate, PolicyUpload};
pub use plugins::{CollectOutcome, CollectRequest, GateCall};
pub use records::PublicKey;
pub use vulns::{BlastRadius, ImportReport, NEW_FINDINGS_SHOWN, SbomAttached};

use std::path::Path;

use sha2::Digest;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::{Application, ApplicationPatch, NewApplication};
use crate::audit::{Break, ChainVerifier, Event, EventResult, NewEvent};
use crate::error::{Error, Result};
use crate::gate::{self, Check, Decision, GateVerdict};
use crate::lifecycle::{DEFAULT_LIFECYCLE, GateRef, Lifecycle, LifecycleSpec, Plan};
use crate::store::{AppFilter, EventFilter, SqliteStore, Store, VersionFilter};
use crate::version::{NewVersion, ReleaseStatus, Version, VersionPatch};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    pub target_stage: String,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub from_stage: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// What a promotion, release or rollback did (or, for a dry run, would do).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TransitionOutcome {
    pub version: Version,
    pub from_stage: Option<String>,
    pub to_stage: Option<String>,
    pub skipped: Vec<String>,
    pub gates: Vec<GateVerdict>,
    pub allowed: bool,
    pub dry_run: bool,
    pub event_seq: Option<i64>,
}

/// The result of walking the whole activity log.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChainReport {
    pub events: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub broken: Option<Break>,
    /// Events from this sequence number on are hashed over RFC 8785 (JCS)
    /// (absent from the answers of sidecars built before the switch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jcs_from_seq: Option<i64>,
}

/// A check attached directly to one gate (tests, embedders); configured
/// checks come from bindings.
#[derive(Clone)]
pub struct DirectCheck {
    pub gate: GateRef,
    pub check: Arc<dyn Check>,
}

/// What the gates run with, beyond the store.
#[derive(Debug, Clone, Default)]
pub struct GateSettings {
    /// A directory of `.rego` files loaded beside the bundled packs.
    pub policy_dir: Option<std::path::PathBuf>,
    /// Bindings from the configuration file (read-only through the API).
    pub bindings: Vec<crate::binding::Binding>,
    pub limits: crate::policy::Limits,
    /// Where to POST when a trusted release becomes affected by an advisory.
    pub webhook: Option<crate::notify::Webhook>,
    /// The release key (PKCS#8 PEM). Default: DATA_DIR/keys/release.ed25519.priv.pem,
    /// generated on first start.
    pub release_key: Option<std::path::PathBuf>,
    /// Where plugins come from and what they must carry.
    pub plugins: crate::plugin::PluginSettings,
    /// Distinct trusted signers a statement of a predicate type needs (default 1).
    pub evidence_thresholds: std::collections::BTreeMap<String, usize>,
    /// Keep the record in this PostgreSQL database instead of the embedded store.
    pub database_url: Option<String>,
    /// Trust only these CA certificates for the database's TLS certificate.
    pub database_cacert: Option<std::path::PathBuf>,
}

impl GateSettings {
    /// How the PostgreSQL store connects.
    pub fn database_options(&self) -> gatehouse_store_postgres::Options {
        gatehouse_store_postgres::Options {
            ca_file: self.database_cacert.clone(),
            ..Default::default()
        }
    }

    /// How many distinct trusted keys must sign a statement of this predicate type.
    pub fn required_signers(&self, predicate_type: &str) -> usize {
        self.evidence_thresholds
            .get(predicate_type)
            .copied()
            .unwrap_or(1)
            .max(1)
    }
}

pub struct Gatehouse {
    store: Arc<dyn Store>,
    direct: Vec<DirectCheck>,
    settings: GateSettings,
    /// The compiled policies: bundled, then the directory, then uploads (later
    /// wins), with the store's policy fingerprint they were compiled from.
    policies: std::sync::RwLock<(String, Arc<crate::policy::PolicySet>)>,
    /// Signs Trusted Release records and log checkpoints.
    release_key: ed25519_dalek::SigningKey,
    /// The plugin registry and sandboxes.
    plugins: Arc<crate::plugin::PluginHost>,
    /// Signs the statements collectors return.
    collector_key: ed25519_dalek::SigningKey,
    /// Keys whose signed log heads vouch for the log: the release key and the
    /// release public keys in the key files (never the database).
    head_keys: std::collections::BTreeMap<String, ed25519_dalek::VerifyingKey>,
    /// The large parts of input documents (evidence, SBOM, findings) converted
    /// for Rego once per version and content, kept across requests.
    prepared: crate::policy::PreparedInputs,
    /// The newest walk of the whole chain this process made, and when.
    last_verification: std::sync::Mutex<Option<VerifiedChain>>,
}

/// A walk of the whole activity log and when it ended.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedChain {
    pub report: ChainReport,
    pub verified_at: String,
}

/// The byte budget of [`Gatehouse::prepared`] (part texts; the converted
/// values take a few times more): a 100-item evidence part is about 50 KB.
const PREPARED_INPUT_BYTES: usize = 16 << 20;

const MAX_PAGE: usize = 1000;

impl Gatehouse {
    pub fn new(
        store: Arc<dyn Store>,
        settings: GateSettings,
        release_key: ed25519_dalek::SigningKey,
    ) -> Result<Gatehouse> {
        let fingerprint = store.policies_fingerprint()?;
        let set = gates::compile(&*store, &settings)?;
        let plugins = Arc::new(crate::plugin::PluginHost::load(&settings.plugins)?);
        let vk = release_key.verifying_key();
        let head_keys = std::iter::once((crate::keys::keyid(&vk), vk)).collect();
        Ok(Gatehouse {
            store,
            direct: Vec::new(),
            settings,
            policies: std::sync::RwLock::new((fingerprint, Arc::new(set))),
            release_key,
            plugins,
            collector_key: crate::keys::generate()?,
            head_keys,
            prepared: crate::policy::PreparedInputs::new(PREPARED_INPUT_BYTES),
            last_verification: std::sync::Mutex::new(None),
        })
    }

    /// Open the embedded store under `data_dir`, with the bundled policies.
    pub fn open(data_dir: &Path) -> Result<Gatehouse> {
        Gatehouse::open_with(data_dir, GateSettings::default())
    }

    pub fn open_with(data_dir: &Path, mut settings: GateSettings) -> Result<Gatehouse> {
        let key = records::load_release_key(data_dir, settings.release_key.as_deref())?;
        let head_keys = records::release_key_files(data_dir);
        let store: Arc<dyn Store> = match &settings.database_url {
            Some(url) => {
                let mut store = gatehouse_store_postgres::PgStore::open(url, &settings.database_options())?;
                store.sign_heads_with(&key, &head_keys)?;
                Arc::new(store)
            }
            None => {
                let mut store = SqliteStore::open(data_dir)?;
                store.sign_heads_with(&key, &head_keys)?;
                Arc::new(store)
            }
        };
        if !settings.plugins.protected_paths.iter().any(|p| p == data_dir) {
            settings.plugins.protected_paths.push(data_dir.to_path_buf());
        }
        if settings.plugins.cache_dir.is_none() {
            settings.plugins.cache_dir = Some(data_dir.join("plugin-cache"));
        }
        let collector_key = records::load_collector_key(data_dir)?;
        let mut gh = Gatehouse::new(store, settings, key)?;
        for (i, b) in gh.settings.bindings.iter().enumerate() {
            gh.check_stage_exists(b, &format!("bindings[{i}].stage ({})", b.id))?;
        }
        gh.collector_key = collector_key;
        gh.head_keys
            .extend(head_keys.into_iter().map(|k| (crate::keys::keyid(&k), k)));
        Ok(gh)
    }

    /// What the store reports of itself for `/metrics`.
    pub(crate) fn store_gauges(&self) -> crate::metrics::StoreGauges {
        crate::metrics::StoreGauges {
            commits: self.store.commit_stats(),
            pool: self.store.pool_state(),
        }
    }

    /// Attach a check directly to a gate.
    pub fn bind(&mut self, gate: GateRef, check: Arc<dyn Check>) {
        self.direct.push(DirectCheck { gate, check });
    }

    // ---- applications -------------------------------------------------

    pub fn create_application(&self, actor: &str, input: NewApplication) -> Result<Application> {
        let actor = validate_actor(actor)?;
        let app = input.into_application(&crate::time::now())?;
        let event = app_event(
            actor,
            "application.create",
            &app.key,
            EventResult::Success,
            json!({ "application": app }),
        );
        self.store.create_application(&app, event)?;
        Ok(app)
    }

    pub fn application(&self, key: &str) -> Result<Application> {
        self.store.application(key)?.ok_or_else(|| Error::NotFound {
            kind: "application",
            id: key.to_string(),
        })
    }

    pub fn applications(&self, mut filter: AppFilter) -> Result<Vec<Application>> {
        filter.limit = page_limit(filter.limit)?;
        self.store.applications(&filter)
    }

    pub fn update_application(&self, actor: &str, key: &str, patch: ApplicationPatch) -> Result<Application> {
        let actor = validate_actor(actor)?;
        let current = self.application(key)?;
        let app = current.patched(patch, &crate::time::now())?;
        let event = app_event(
            actor,
            "application.update",
            key,
            EventResult::Success,
            json!({ "before": current, "after": app }),
        );
        self.store.update_application(&app, event)?;
        Ok(app)
    }

    /// Delete an application whose versions are all still drafts; once a
    /// version has entered a stage its history must stay.
    pub fn delete_application(&self, actor: &str, key: &str) -> Result<()> {
        let actor = validate_actor(actor)?;
        let app = self.application(key)?;
        if self.store.has_frozen_versions(key)? {
            let reason = format!(
                "application {key:?} has versions that entered a stage; it cannot be deleted (set maturity to end_of_life instead)"
            );
            self.store.append_event(app_event(
                actor,
                "application.delete",
                key,
                EventResult::Failure,
                json!({ "reason": reason }),
            ))?;
            return Err(Error::conflict(reason));
        }
        let event = app_event(
            actor,
            "application.delete",
            key,
            EventResult::Success,
            json!({ "application": app }),
        );
        self.store.delete_application(key, event)?;
        Ok(())
    }

    // ---- versions -----------------------------------------------------

    pub fn create_version(&self, actor: &str, app_key: &str, input: NewVersion) -> Result<Version> {
        let actor = validate_actor(actor)?;
        let app = self.application(app_key)?;
        let lifecycle = self.lifecycle_for_project(&app.project)?;
        let version = input.into_version(app_key, &lifecycle.name, &crate::time::now())?;
        let event = version_event(
            actor,
            "version.create",
            &version,
            EventResult::Success,
            json!({ "version": version }),
        );
        self.store.create_version(&version, event)?;
        Ok(version)
    }

    pub fn version(&self, app: &str, version: &str) -> Result<Version> {
        self.application(app)?;
        self.store.version(app, version)?.ok_or_else(|| Error::NotFound {
            kind: "version",
            id: format!("{app}@{version}"),
        })
    }

    pub fn versions(&self, app: &str, mut filter: VersionFilter) -> Result<Vec<(i64, Version)>> {
        self.application(app)?;
        filter.limit = page_limit(filter.limit)?;
        self.store.versions(app, &filter)
    }

    pub fn update_version(&self, actor: &str, app: &str, version: &str, patch: VersionPatch) -> Result<Version> {
        let actor = validate_actor(actor)?;
        let current = self.version(app, version)?;
        let mut next = current.patched(patch, &crate::time::now())?;
        next.revision = current.revision + 1;
        let event = version_event(
            actor,
            "version.update",
            &next,
            EventResult::Success,
            json!({ "before": current, "after": next }),
        );
        self.store.update_version(&next, current.revision, event)?;
        Ok(next)
    }

    pub fn promote(&self, actor: &str, app: &str, version: &str, req: PromoteRequest) -> Result<TransitionOutcome> {
        let actor = validate_actor(actor)?;
        let (application, current, lifecycle) = self.load(app, version)?;
        let plan = lifecycle.plan_promotion(current.stage.as_deref(), current.release_status, &req.target_stage);
        self.transition(
            actor,
            "version.promote",
            &application,
            current,
            plan,
            req.dry_run,
            json!({ "target_stage": req.target_stage }),
            |v, plan| {
                v.stage = plan.to.clone();
                v.draft = false;
            },
        )
    }

    pub fn release(&self, actor: &str, app: &str, version: &str, req: ReleaseRequest) -> Result<TransitionOutcome> {
        let actor = validate_actor(actor)?;
        let (application, current, lifecycle) = self.load(app, version)?;
        let plan = lifecycle.plan_release(current.stage.as_deref(), current.release_status);
        self.transition(
            actor,
            "version.release",
            &application,
            current,
            plan,
            req.dry_run,
            json!({}),
            |v, _| {
                v.release_status = ReleaseStatus::TrustedRelease;
                v.released_at = Some(v.updated_at.clone());
            },
        )
    }

    pub fn rollback(&self, actor: &str, app: &str, version: &str, req: RollbackRequest) -> Result<TransitionOutcome> {
        let actor = validate_actor(actor)?;
        let (application, current, lifecycle) = self.load(app, version)?;
        let plan = lifecycle.plan_rollback(current.stage.as_deref(), &req.from_stage);
        let request = json!({ "from_stage": req.from_stage, "reason": req.reason, "release_status_before": current.release_status });
        self.transition(
            actor,
            "version.rollback",
            &application,
            current,
            plan,
            false,
            request,
            |v, plan| {
                v.stage = plan.to.clone();
                v.release_status = ReleaseStatus::PreRelease;
                v.released_at = None;
            },
        )
    }

    /// The one path by which a version moves: plan → gates → commit with its event.
    #[allow(clippy::too_many_arguments)]
    fn transition(
        &self,
        actor: &str,
        action: &str,
        application: &Application,
        current: Version,
        plan: Result<Plan>,
        dry_run: bool,
        request: serde_json::Value,
        apply: impl FnOnce(&mut Version, &Plan),
    ) -> Result<TransitionOutcome> {
        let plan = match plan {
            Ok(plan) => plan,
            Err(e @ Error::Conflict { .. }) if !dry_run => {
                let details = json!({ "request": request, "stage": current.stage, "reason": e.to_string() });
                self.store
                    .append_event(version_event(actor, action, &current, EventResult::Failure, details))?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let kind = if action == "version.release" {
            "release"
        } else {
            "promote"
        };
        let (mut gates, relied_keys) = self.run_gates(actor, application, &current, &plan, kind, !dry_run)?;
        if !dry_run {
            for verdict in &mut gates {
                verdict.evaluation_id = Some(gates::new_id("ev")?);
                crate::metrics::record_gate(&verdict.gate.kind_str(), verdict.decision.as_str());
                for check in &verdict.checks {
                    crate::metrics::record_check(check.outcome.as_str());
                }
            }
        }
        let allowed = !gates.iter().any(GateVerdict::blocked);
        let mut next = current.clone();
        if allowed {
            next.updated_at = crate::time::now();
            next.revision = current.revision + 1;
            apply(&mut next, &plan);
        }
        let mut outcome = TransitionOutcome {
            version: next,
            from_stage: plan.from.clone(),
            to_stage: plan.to.clone(),
            skipped: plan.skipped.clone(),
            gates,
            allowed,
            dry_run,
            event_seq: None,
        };
        if dry_run {
            outcome.version = current;
            return Ok(outcome);
        }
        let details = json!({
            "request": request,
            "from_stage": plan.from,
            "to_stage": plan.to,
            "skipped": plan.skipped,
            "gates": outcome.gates,
        });
        let (app_key, ver) = (current.application.clone(), current.version.clone());
        if !allowed {
            let event = version_event(actor, action, &current, EventResult::Blocked, details);
            self.store.commit_transition(
                None,
                &outcome.gates,
                None,
                &app_key,
                &ver,
                &crate::store::Reliance::default(),
                None,
                event,
            )?;
            // Blocked is an outcome: the caller (API, CLI) says so as a refusal.
            return Ok(outcome);
        }
        let warned = outcome.gates.iter().any(|g| g.decision == Decision::PassedWithWarnings);
        let result = if warned {
            EventResult::Warning
        } else {
            EventResult::Success
        };
        let event = version_event(actor, action, &outcome.version, result, details);
        let release = if action == "version.release" {
            Some(self.release_write(application, &outcome.version, &outcome.gates, actor)?)
        } else {
            None
        };
        // Rolling back a Trusted Release withdraws it: a signed statement about
        // the same subjects, written in the rollback's transaction.
        let withdrawal = if action == "version.rollback" && current.release_status == ReleaseStatus::TrustedRelease {
            self.withdrawal_write(&current, actor, request.get("reason").and_then(|r| r.as_str()))?
        } else {
            None
        };
        let next = Some((&outcome.version, current.revision));
        let relied = crate::store::Reliance {
            waivers: outcome
                .gates
                .iter()
                .flat_map(|g| &g.checks)
                .filter_map(|c| c.waiver.clone())
                .collect(),
            keys: relied_keys.into_iter().collect(),
        };
        match self.store.commit_transition(
            next,
            &outcome.gates,
            release.as_ref(),
            &app_key,
            &ver,
            &relied,
            withdrawal.as_ref(),
            event,
        ) {
            Ok(e) => {
                outcome.event_seq = Some(e.seq);
                Ok(outcome)
            }
            Err(e @ Error::Conflict { .. }) => {
                let details = json!({ "request": request, "reason": e.to_string() });
                self.store
                    .append_event(version_event(actor, action, &current, EventResult::Failure, details))?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Evaluate every gate of a plan: first the gate's bound collectors (whose
    /// statements become evidence), then the bound checks (and direct ones)
    /// over the input document, with the waivers in force. `collect` is false
    /// for dry runs: collectors are then reported, not run.
    fn run_gates(
        &self,
        actor: &str,
        application: &Application,
        version: &Version,
        plan: &Plan,
        kind: &str,
        collect: bool,
    ) -> Result<(Vec<GateVerdict>, std::collections::BTreeSet<String>)> {
        let mut relied_keys = std::collections::BTreeSet::new();
        if plan.gates.is_empty() {
            return Ok((Vec::new(), relied_keys));
        }
        let mut evidence = self.gate_evidence(version)?;
        let findings = self
            .store
            .findings(Some(&version.application), Some(&version.version), None)?;
        let components = self.store.components(&version.application, &version.version)?;
        let version_digest = version.digest();
        let waivers = self.store.waivers(Some(&version.application), Some(&version.version))?;
        let bindings = self.all_bindings()?;
        let set = self.policy_set();
        let now = crate::time::now();
        let mut verdicts = Vec::with_capacity(plan.gates.len());
        for gate_ref in &plan.gates {
            let (is_collector, is_check): (Vec<&crate::binding::Binding>, Vec<&crate::binding::Binding>) = bindings
                .iter()
                .filter(|b| b.applies(application, gate_ref).is_some())
                .partition(|b| self.is_collector(&b.check));
            let transition = crate::document::Transition {
                action: kind,
                from_stage: plan.from.as_deref(),
                to_stage: plan.to.as_deref(),
                gate: gate_ref,
            };
            let collected: Vec<Box<dyn Check>> = is_collector
                .iter()
                .map(|b| self.run_collector(b, application, version, &transition, collect, actor))
                .collect::<Result<_>>()?;
            if collect && !collected.is_empty() {
                // New evidence: every document from here on is built afresh.
                evidence = self.gate_evidence(version)?;
            }
            let active: Vec<crate::gate::ActiveWaiver> = waivers
                .iter()
                .filter_map(|w| w.active_for(gate_ref, &now, &version_digest))
                .collect();
            let in_force: Vec<crate::waiver::Waiver> = waivers
                .iter()
                .filter(|w| w.active_for(gate_ref, &now, &version_digest).is_some())
                .cloned()
                .collect();
            let document = crate::document::build(
                application,
                version,
                &transition,
                &evidence,
                &components,
                &findings,
                &in_force,
            )
            .to_text();
            // The evidence, SBOM and findings were converted by an earlier gate
            // of this version when their texts are unchanged: only the rest is converted here.
            let scope = format!("{}\0{}", version.application, version.version);
            let input = self.prepared.input(&scope, &document);
            let document = document.text;
            let bound: Vec<Box<dyn Check>> = is_check
                .iter()
                .map(|b| gates::check_for(b, &set, &input, self.settings.limits, &self.plugins))
                .collect();
            let mut checks: Vec<&dyn Check> = collected.iter().chain(&bound).map(|c| c.as_ref()).collect();
            checks.extend(
                self.direct
                    .iter()
                    .filter(|d| &d.gate == gate_ref)
                    .map(|d| d.check.as_ref()),
            );
            let ctx = gate::Context {
                application,
                version,
                from_stage: plan.from.as_deref(),
                to_stage: plan.to.as_deref(),
                gate: gate_ref,
                evidence: &evidence,
                document: &document,
            };
            let mut verdict = gate::evaluate(&ctx, &checks, &active);
            verdict.input_digest = Some(hex::encode(sha2::Sha256::digest(document.as_bytes())));
            verdicts.push(verdict);
            relied_keys.extend(evidence.iter().flat_map(|e| e.binding.signers.iter().cloned()));
        }
        Ok((verdicts, relied_keys))
    }

    fn load(&self, app: &str, version: &str) -> Result<(Application, Version, Lifecycle)> {
        let application = self.application(app)?;
        let v = self.version(app, version)?;
        let lifecycle = self.lifecycle(&v.lifecycle)?;
        Ok((application, v, lifecycle))
    }

    // ---- lifecycles -----------------------------------------------------

    /// A stored lifecycle, or the built-in default until one replaces it.
    pub fn lifecycle(&self, name: &str) -> Result<Lifecycle> {
        match self.store.lifecycle(name)? {
            Some(lc) => Ok(lc),
            None if name == DEFAULT_LIFECYCLE => Ok(Lifecycle::default_lifecycle()),
            None => Err(Error::NotFound {
                kind: "lifecycle",
                id: name.to_string(),
            }),
        }
    }

    pub fn lifecycles(&self) -> Result<Vec<Lifecycle>> {
        let mut all = self.store.lifecycles()?;
        if !all.iter().any(|l| l.name == DEFAULT_LIFECYCLE) {
            all.insert(0, Lifecycle::default_lifecycle());
        }
        Ok(all)
    }

    fn lifecycle_for_project(&self, project: &str) -> Result<Lifecycle> {
        match self.store.lifecycle_for_project(project)? {
            Some(lc) => Ok(lc),
            None => self.lifecycle(DEFAULT_LIFECYCLE),
        }
    }

    /// Define or replace a lifecycle. Stages where versions stand cannot be removed.
    pub fn put_lifecycle(&self, actor: &str, name: &str, spec: LifecycleSpec) -> Result<Lifecycle> {
        let actor = validate_actor(actor)?;
        // Whether versions stand in a stage it drops is checked by the store,
        // in the same transaction as the change.
        let lc = Lifecycle::from_spec(name, spec)?;
        let event = NewEvent {
            actor: actor.to_string(),
            action: "lifecycle.put".into(),
            subject: format!("lifecycle:{name}"),
            application: None,
            version: None,
            result: EventResult::Success,
            details: json!({ "lifecycle": lc }),
        };
        self.store.put_lifecycle(&lc, event)?;
        Ok(lc)
    }

    // ---- activity log ---------------------------------------------------

    pub fn activity(&self, mut filter: EventFilter) -> Result<Vec<Event>> {
        filter.limit = page_limit(filter.limit)?;
        self.store.events(&filter)
    }

    pub fn timeline(&self, app: &str, version: &str, after_seq: Option<i64>, limit: usize) -> Result<Vec<Event>> {
        let v = self.version(app, version)?;
        self.activity(EventFilter {
            application: Some(v.application),
            version: Some(v.version),
            after_seq,
            limit,
            ..EventFilter::default()
        })
    }

    /// Walk the whole chain and report the first broken event, if any.
    pub fn verify_chain(&self) -> Result<ChainReport> {
        let format = self.store.log_format()?;
        let mut verifier = ChainVerifier::new(format);
        let mut broken = None;
        'pages: loop {
            let (after, _) = verifier.head();
            let page = match self.store.events(&EventFilter {
                after_seq: Some(after),
                limit: MAX_PAGE,
                ..EventFilter::default()
            }) {
                Ok(page) => page,
                Err(Error::CorruptEvent { seq, reason }) => {
                    // Verify the readable events before the corrupt one first.
                    let before = self.store.events(&EventFilter {
                        after_seq: Some(after),
                        limit: usize::try_from(seq - after - 1).unwrap_or(0),
                        ..EventFilter::default()
                    })?;
                    for e in &before {
                        if let Err(b) = verifier.push(e) {
                            broken = Some(b);
                            break 'pages;
                        }
                    }
                    broken = Some(Break { seq, reason });
                    break;
                }
                Err(e) => return Err(e),
            };
            if page.is_empty() {
                break;
            }
            for e in &page {
                if let Err(b) = verifier.push(e) {
                    broken = Some(b);
                    break 'pages;
                }
            }
        }
        if broken.is_none() {
            broken = self.check_checkpoints(verifier.head().0)?;
        }
        if broken.is_none() {
            let (seq, hash) = verifier.head();
            broken = self.check_heads(seq, hash)?;
        }
        let (head_seq, head_hash) = verifier.head();
        let report = ChainReport {
            events: verifier.checked,
            head_seq,
            head_hash: head_hash.to_string(),
            broken,
            jcs_from_seq: Some(format.jcs_from_seq),
        };
        if let Ok(mut last) = self.last_verification.lock() {
            *last = Some(VerifiedChain {
                report: report.clone(),
                verified_at: crate::time::now(),
            });
        }
        Ok(report)
    }

    /// The newest walk of the whole chain this process made (through the
    /// API, the CLI on this process, or the console), if any: the console
    /// shows it rather than walk every event — and check every signed head —
    /// on each view (seconds for tens of thousands of events).
    pub fn last_chain_verification(&self) -> Option<VerifiedChain> {
        self.last_verification.lock().ok().and_then(|l| l.clone())
    }
}

impl Gatehouse {
    /// Every signed checkpoint must verify and match the chain: an event it
    /// vouched for that is gone means the log was truncated or rewritten.
    fn check_checkpoints(&self, head_seq: i64) -> Result<Option<Break>> {
        let keys: std::collections::BTreeMap<String, ed25519_dalek::VerifyingKey> = self
            .public_keys()?
            .into_iter()
            .filter_map(|k| {
                crate::keys::parse_public_key("key", &k.public_key_pem)
                    .ok()
                    .map(|vk| (k.keyid, vk))
            })
            .collect();
        for cp in self.store.checkpoints()? {
            if let Err(reason) = crate::release::verify_checkpoint(&cp, &keys) {
                return Ok(Some(Break {
                    seq: cp.head.seq,
                    reason: format!(
                        "the checkpoint of {} for event {} is invalid: {reason}",
                        cp.time, cp.head.seq
                    ),
                }));
            }
            if cp.head.seq > head_seq {
                return Ok(Some(Break {
                    seq: head_seq + 1,
                    reason: format!(
                        "events {} to {} are missing: a checkpoint signed at {} vouches for {} events (the log was truncated)",
                        head_seq + 1,
                        cp.head.seq,
                        cp.time,
                        cp.head.seq
                    ),
                }));
            }
            if cp.head.seq > 0 {
                let at = self.store.events(&EventFilter {
                    after_seq: Some(cp.head.seq - 1),
                    limit: 1,
                    ..EventFilter::default()
                })?;
                if at.first().map(|e| e.hash.as_str()) != Some(cp.head.hash.as_str()) {
                    return Ok(Some(Break {
                        seq: cp.head.seq,
                        reason: format!(
                            "event {} differs from the checkpoint signed at {}",
                            cp.head.seq, cp.time
                        ),
                    }));
                }
            }
        }
        Ok(None)
    }
}

impl Gatehouse {
    /// Every signed head must verify with a published release key and match
    /// its event; the newest event must be covered by a head signed by the
    /// current release key. Since each event's hash commits to every event
    /// before it, that one signature vouches for the whole log: changing or
    /// re-chaining any event needs the key.
    fn check_heads(&self, last_seq: i64, last_hash: &str) -> Result<Option<Break>> {
        if last_seq == 0 {
            return Ok(None);
        }
        let mut newest_covered = false;
        for h in self.store.log_heads()? {
            if !self.head_keys.contains_key(&h.keyid) {
                // Signed by a key no key file vouches for: it proves nothing either way.
                continue;
            }
            if !crate::store::verify_head(&self.head_keys, h.seq, &h.keyid, &h.hash, &h.sig) {
                return Ok(Some(Break {
                    seq: h.seq,
                    reason: format!(
                        "the signed head for event {} does not verify with release key {}",
                        h.seq, h.keyid
                    ),
                }));
            }
            if h.seq > last_seq {
                return Ok(Some(Break {
                    seq: last_seq + 1,
                    reason: format!(
                        "events {} to {} are missing: a signed head vouches for event {} (the log was truncated)",
                        last_seq + 1,
                        h.seq,
                        h.seq
                    ),
                }));
            }
            let at = self.store.events(&EventFilter {
                after_seq: Some(h.seq - 1),
                limit: 1,
                ..EventFilter::default()
            })?;
            if at.first().map(|e| e.hash.as_str()) != Some(h.hash.as_str()) {
                return Ok(Some(Break {
                    seq: h.seq,
                    reason: format!(
                        "event {} differs from the head the release key signed after it was written",
                        h.seq
                    ),
                }));
            }
            if h.seq == last_seq && h.hash == last_hash {
                newest_covered = true;
            }
        }
        if !newest_covered {
            return Ok(Some(Break {
                seq: last_seq,
                reason: format!(
                    "event {last_seq} (the newest) is not covered by a head signed with a release key from the key files: events were appended, changed or re-chained without the key"
                ),
            }));
        }
        Ok(None)
    }
}

fn page_limit(requested: usize) -> Result<usize> {
    match requested {
        0 => Ok(100),
        n if n <= MAX_PAGE => Ok(n),
        n => Err(Error::invalid("limit", n, format!("1 to {MAX_PAGE}"))),
    }
}

/// Actor names (token names, `--actor`) are compared by name, so they must
/// be printable and already in the one form names are compared in: trimmed,
/// Unicode NFKC. `"dev1 "` is refused rather than taken for another actor
/// than `"dev1"`.
pub fn validate_actor(actor: &str) -> Result<&str> {
    if actor.is_empty() || actor.chars().count() > 128 || !crate::text::printable(actor) {
        return Err(Error::invalid(
            "actor",
            actor,
            "1 to 128 printable characters (no control or bidirectional-override characters)",
        ));
    }
    if crate::text::normalize_name(actor) != actor {
        return Err(Error::invalid(
            "actor",
            actor,
            format!(
                "a name in normal form, without leading or trailing spaces: {:?} (Unicode NFKC)",
                crate::text::normalize_name(actor)
            ),
        ));
    }
    Ok(actor)
}

fn app_event(actor: &str, action: &str, key: &str, result: EventResult, details: serde_json::Value) -> NewEvent {
    NewEvent {
        actor: actor.to_string(),
        action: action.to_string(),
        subject: format!("application:{key}"),
        application: Some(key.to_string()),
        version: None,
        result,
        details,
    }
}

fn version_event(actor: &str, action: &str, v: &Version, result: EventResult, details: serde_json::Value) -> NewEvent {
    NewEvent {
        actor: actor.to_string(),
        action: action.to_string(),
        subject: v.subject(),
        application: Some(v.application.clone()),
        version: Some(v.version.clone()),
        result,
        details,
    }
}
