//! The input document: the one JSON shape every check receives (Rego as
//! `input`, plugins as their context). Documented in docs/input-document.md.
//! Built from borrowed parts and serialized once: no copies of the evidence.

use serde::Serialize;

use crate::app::{Application, Criticality, Maturity, Owners};
use crate::evidence::{EvidenceEntry, Origin, Subject};
use crate::lifecycle::GateRef;
use crate::sbom::Component;
use crate::version::{Artifact, ReleaseStatus, Vcs, Version};
use crate::vuln::Finding;
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

#[derive(Serialize)]
pub struct Document<'a> {
    schema: &'static str,
    application: ApplicationDoc<'a>,
    version: VersionDoc<'a>,
    artifacts: &'a [Artifact],
    transition: TransitionDoc<'a>,
    evidence: Vec<EvidenceDoc<'a>>,
    sbom: SbomDoc<'a>,
    findings: Vec<FindingDoc<'a>>,
    waivers: &'a [Waiver],
}

#[derive(Serialize)]
struct FindingDoc<'a> {
    purl: &'a str,
    advisory: &'a str,
    aliases: &'a [String],
    severity: Option<&'a str>,
    /// Known-exploited data is not imported yet: always false.
    known_exploited: bool,
}

#[derive(Serialize)]
struct ApplicationDoc<'a> {
    key: &'a str,
    name: &'a str,
    project: &'a str,
    owners: &'a Owners,
    criticality: Criticality,
    maturity: Maturity,
    labels: &'a std::collections::BTreeMap<String, String>,
}

#[derive(Serialize)]
struct VersionDoc<'a> {
    version: &'a str,
    digest: String,
    stage: Option<&'a str>,
    release_status: ReleaseStatus,
    vcs: Option<&'a Vcs>,
    tag: Option<&'a str>,
    lifecycle: &'a str,
}

#[derive(Serialize)]
struct TransitionDoc<'a> {
    action: &'a str,
    from_stage: Option<&'a str>,
    to_stage: Option<&'a str>,
    gate: &'a GateRef,
}

#[derive(Serialize)]
struct EvidenceDoc<'a> {
    digest: &'a str,
    predicate_type: Option<&'a str>,
    subjects: &'a [Subject],
    /// The subject that names a current artifact of the version.
    subject: Option<&'a Subject>,
    /// Key ids of every trusted, usable key whose signature verified.
    signers: &'a [String],
    /// Signed by trusted keys (with their names and owners), or collected by a plugin.
    origin: Option<&'a Origin>,
    added_at: &'a str,
    predicate: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct SbomDoc<'a> {
    components: Vec<ComponentDoc<'a>>,
}

#[derive(Serialize)]
struct ComponentDoc<'a> {
    name: &'a str,
    version: &'a str,
    purl: &'a str,
    ecosystem: Option<&'a str>,
    licenses: &'a [String],
}

pub fn build<'a>(
    app: &'a Application,
    v: &'a Version,
    t: &'a Transition<'a>,
    evidence: &'a [EvidenceEntry],
    components: &'a [Component],
    findings: &'a [Finding],
    waivers: &'a [Waiver],
) -> Document<'a> {
    Document {
        schema: SCHEMA,
        application: ApplicationDoc {
            key: &app.key,
            name: &app.name,
            project: &app.project,
            owners: &app.owners,
            criticality: app.criticality,
            maturity: app.maturity,
            labels: &app.labels,
        },
        version: VersionDoc {
            version: &v.version,
            digest: v.digest(),
            stage: v.stage.as_deref(),
            release_status: v.release_status,
            vcs: v.vcs.as_ref(),
            tag: v.tag.as_deref(),
            lifecycle: &v.lifecycle,
        },
        artifacts: &v.artifacts,
        transition: TransitionDoc {
            action: t.action,
            from_stage: t.from_stage,
            to_stage: t.to_stage,
            gate: t.gate,
        },
        evidence: evidence
            .iter()
            .map(|e| EvidenceDoc {
                digest: &e.binding.digest,
                predicate_type: e.predicate_type.as_deref(),
                subjects: &e.subjects,
                subject: e.matched_subject.as_ref(),
                signers: &e.binding.signers,
                origin: e.origin.as_ref(),
                added_at: &e.binding.added_at,
                predicate: e.statement.as_ref().and_then(|s| s.get("predicate")),
            })
            .collect(),
        sbom: SbomDoc {
            components: components
                .iter()
                .map(|c| ComponentDoc {
                    name: &c.name,
                    version: &c.version,
                    purl: &c.purl,
                    ecosystem: c.ecosystem.as_deref(),
                    licenses: &c.licenses,
                })
                .collect(),
        },
        findings: findings
            .iter()
            .map(|f| FindingDoc {
                purl: &f.purl,
                advisory: &f.advisory,
                aliases: &f.aliases,
                severity: f.severity.as_deref(),
                known_exploited: false,
            })
            .collect(),
        waivers,
    }
}

impl Document<'_> {
    /// The JSON text checks receive (its SHA-256 is recorded with each evaluation).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }
}
