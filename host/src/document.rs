//! The input document: the one JSON shape every check receives (Rego as
//! `input`, plugins as their context). Documented in docs/input-document.md.

use serde_json::{Value, json};

use crate::app::Application;
use crate::evidence::EvidenceEntry;
use crate::lifecycle::GateRef;
use crate::version::Version;
use crate::waiver::Waiver;

/// The document version, bumped when a field changes meaning.
pub const SCHEMA: &str = "gatehouse.dev/input/v1";

pub struct Transition<'a> {
    /// `promote` or `release`.
    pub action: &'a str,
    pub from_stage: Option<&'a str>,
    pub to_stage: Option<&'a str>,
    pub gate: &'a GateRef,
}

pub fn build(
    app: &Application,
    v: &Version,
    t: &Transition<'_>,
    evidence: &[EvidenceEntry],
    waivers: &[Waiver],
) -> Value {
    let evidence: Vec<Value> = evidence
        .iter()
        .map(|e| {
            let predicate = e
                .statement
                .as_ref()
                .and_then(|s| s.get("predicate"))
                .cloned()
                .unwrap_or(Value::Null);
            json!({
                "digest": e.binding.digest,
                "predicate_type": e.predicate_type,
                "subjects": e.subjects,
                "signers": e.binding.signers,
                "added_at": e.binding.added_at,
                "predicate": predicate,
            })
        })
        .collect();
    json!({
        "schema": SCHEMA,
        "application": {
            "key": app.key,
            "name": app.name,
            "project": app.project,
            "owners": app.owners,
            "criticality": app.criticality,
            "maturity": app.maturity,
            "labels": app.labels,
        },
        "version": {
            "version": v.version,
            "digest": v.digest(),
            "stage": v.stage,
            "release_status": v.release_status,
            "vcs": v.vcs,
            "tag": v.tag,
            "lifecycle": v.lifecycle,
        },
        "artifacts": v.artifacts,
        "transition": {
            "action": t.action,
            "from_stage": t.from_stage,
            "to_stage": t.to_stage,
            "gate": t.gate,
        },
        "evidence": evidence,
        "sbom": { "components": [] },
        "findings": [],
        "waivers": waivers,
    })
}
