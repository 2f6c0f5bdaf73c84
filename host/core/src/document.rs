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
        self.to_text().text
    }

    /// The JSON text checks receive, with where its lasting parts lie in it
    /// — the application, the artifacts, the evidence, the SBOM and the
    /// findings, which change only when the version gets new evidence,
    /// components or findings, unlike the version's stage, the transition
    /// and the waivers in force — so a converted copy of each can be kept
    /// across gates (`gatehouse_policy::PreparedInputs`). Written once: the
    /// same bytes `serde_json` writes for the whole document.
    pub fn to_text(&self) -> DocumentText {
        let mut out = Vec::with_capacity(4096 + 512 * self.evidence.len());
        let mut parts = [
            ("application", 0..0),
            ("artifacts", 0..0),
            ("evidence", 0..0),
            ("sbom", 0..0),
            ("findings", 0..0),
        ];
        let mut field = |out: &mut Vec<u8>, first: bool, name: &str, value: &dyn erased::Field| {
            out.extend_from_slice(if first { b"{\"" } else { b",\"" });
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            let start = out.len();
            value.write(out);
            if let Some((_, range)) = parts.iter_mut().find(|(n, _)| *n == name) {
                *range = start..out.len();
            }
        };
        field(&mut out, true, "schema", &self.schema);
        field(&mut out, false, "application", &self.application);
        field(&mut out, false, "version", &self.version);
        field(&mut out, false, "artifacts", &self.artifacts);
        field(&mut out, false, "transition", &self.transition);
        field(&mut out, false, "evidence", &self.evidence);
        field(&mut out, false, "sbom", &self.sbom);
        field(&mut out, false, "findings", &self.findings);
        field(&mut out, false, "waivers", &self.waivers);
        out.push(b'}');
        // serde_json writes valid UTF-8 only.
        let text = String::from_utf8(out).unwrap_or_else(|_| "{}".to_string());
        DocumentText { text, parts }
    }
}

/// An input document's text and the byte ranges of its lasting top-level parts.
#[derive(Debug, Clone)]
pub struct DocumentText {
    pub text: String,
    /// `application`, `artifacts`, `evidence`, `sbom` and `findings`:
    /// (field, range of its value in `text`).
    pub parts: [(&'static str, std::ops::Range<usize>); 5],
}

mod erased {
    /// A field value written as compact JSON (what `serde_json::to_writer` writes).
    pub trait Field {
        fn write(&self, out: &mut Vec<u8>);
    }

    impl<T: serde::Serialize + ?Sized> Field for T {
        fn write(&self, out: &mut Vec<u8>) {
            // Writing plain data into a Vec cannot fail; `null` keeps the text valid if it ever did.
            let start = out.len();
            if serde_json::to_writer(&mut *out, self).is_err() {
                out.truncate(start);
                out.extend_from_slice(b"null");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::NewApplication;
    use crate::error::parse_input;
    use crate::lifecycle::GateKind;
    use crate::version::NewVersion;
    use serde_json::json;

    #[test]
    fn the_text_is_what_serde_writes_and_its_parts_are_the_fields() {
        let app = parse_input::<NewApplication>("app", json!({"key": "shop", "project": "p", "labels": {"tier": "1"}}))
            .and_then(|a| a.into_application("t"))
            .expect("application");
        let version = parse_input::<NewVersion>(
            "v",
            json!({"version": "1.0.0", "vcs": {"repo": "r", "revision": "abc1234"}}),
        )
        .and_then(|v| v.into_version("shop", "default", "t"))
        .expect("version");
        let gate = GateRef {
            stage: "prod".into(),
            kind: GateKind::Entry,
        };
        let t = Transition {
            action: "promote",
            from_stage: Some("staging"),
            to_stage: Some("prod"),
            gate: &gate,
        };
        let components = vec![Component {
            purl: "pkg:pypi/jinja2@2.4.1".into(),
            ecosystem: Some("PyPI".into()),
            name: "jinja2".into(),
            version: "2.4.1".into(),
            licenses: vec!["BSD-3-Clause \"quoted\" \u{e9}".into()],
        }];
        let findings = vec![Finding {
            application: "shop".into(),
            version: "1.0.0".into(),
            purl: "pkg:pypi/jinja2@2.4.1".into(),
            advisory: "PYSEC-2019-217".into(),
            aliases: vec!["CVE-2019-10906".into()],
            severity: Some("high".into()),
            reason: "affected".into(),
            found_at: "2026-12-06T00:00:00Z".into(),
        }];
        let doc = build(&app, &version, &t, &[], &components, &findings, &[]);
        let text = doc.to_text();
        assert_eq!(text.text, serde_json::to_string(&doc).expect("serializes"));
        let whole: serde_json::Value = serde_json::from_str(&text.text).expect("valid JSON");
        for (field, range) in &text.parts {
            let part: serde_json::Value = serde_json::from_str(&text.text[range.clone()]).expect("a part is JSON");
            assert_eq!(Some(&part), whole.get(*field), "{field}");
        }
        assert_eq!(
            whole["sbom"]["components"][0]["licenses"][0],
            "BSD-3-Clause \"quoted\" \u{e9}"
        );
    }
}
