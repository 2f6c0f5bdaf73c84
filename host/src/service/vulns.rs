//! SBOMs on versions, advisory import with re-matching, findings, blast radius.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Gatehouse, validate_actor};
use crate::audit::{EventResult, NewEvent};
use crate::error::{Error, Result};
use crate::sbom;
use crate::store::VersionFilter;
use crate::version::{ReleaseStatus, Version};
use crate::vuln::{self, Advisory, Finding};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SbomAttached {
    pub format: String,
    pub components: usize,
    pub quirks: Vec<String>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImportReport {
    pub new: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: usize,
    pub withdrawn: Vec<String>,
    pub rejected: Vec<(String, String)>,
    pub new_findings: Vec<Finding>,
    /// Trusted releases that became affected (each notified to the webhook).
    pub trusted_releases_affected: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BlastRadius {
    pub advisory: String,
    pub aliases: Vec<String>,
    /// Other stored advisories sharing an alias (one group).
    pub group: Vec<String>,
    pub severity: Option<String>,
    pub affected: Vec<AffectedVersion>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AffectedVersion {
    pub application: String,
    pub version: String,
    pub stage: Option<String>,
    pub release_status: ReleaseStatus,
    pub trusted_release: bool,
    pub components: Vec<String>,
}

pub const SBOM_TYPES: [&str; 3] = [
    "https://cyclonedx.org/bom",
    "https://spdx.dev/Document",
    "https://spdx.dev/Document/v2.3",
];

impl Gatehouse {
    /// Attach an SBOM's components to a draft and match them against the
    /// stored advisories. What a version is made of is fixed when it freezes:
    /// after its first promotion an SBOM arrives only as signed evidence
    /// bound by subject; an unsigned upload is refused (and the refusal logged).
    pub fn attach_sbom(
        &self,
        actor: &str,
        app: &str,
        version: &str,
        source: &str,
        bytes: &[u8],
    ) -> Result<SbomAttached> {
        let actor = validate_actor(actor)?;
        let v = self.version(app, version)?;
        if !v.draft {
            let reason = format!(
                "{app}@{version} is frozen (it entered stage {}): its SBOM can no longer be replaced by an upload; add the SBOM as signed evidence whose subject is one of its artifacts",
                v.stage.as_deref().unwrap_or("-")
            );
            self.store.append_event(NewEvent {
                actor: actor.to_string(),
                action: "sbom.attach".into(),
                subject: v.subject(),
                application: Some(v.application.clone()),
                version: Some(v.version.clone()),
                result: EventResult::Failure,
                details: json!({ "source": source, "reason": reason }),
            })?;
            return Err(Error::conflict(reason));
        }
        self.store_sbom(actor, &v, source, bytes)
    }

    fn store_sbom(&self, actor: &str, v: &Version, source: &str, bytes: &[u8]) -> Result<SbomAttached> {
        let (app, version) = (v.application.as_str(), v.version.as_str());
        let doc = sbom::parse(source, bytes)?;
        let event = NewEvent {
            actor: actor.to_string(),
            action: "sbom.attach".into(),
            subject: v.subject(),
            application: Some(v.application.clone()),
            version: Some(v.version.clone()),
            result: EventResult::Success,
            details: json!({ "source": source, "format": doc.format, "components": doc.components.len(), "quirks": doc.quirks }),
        };
        self.store.put_components(app, version, &doc.components, event)?;
        let findings = self.rematch_version(actor, v)?;
        Ok(SbomAttached {
            format: doc.format,
            components: doc.components.len(),
            quirks: doc.quirks,
            findings,
        })
    }

    /// Match a version's components against every stored advisory; store what is new.
    fn rematch_version(&self, actor: &str, v: &Version) -> Result<Vec<Finding>> {
        let components = self.store.components(&v.application, &v.version)?;
        let index = vuln::Index::new(self.store.advisories()?);
        let known: BTreeSet<(String, String)> = self
            .store
            .findings(Some(&v.application), Some(&v.version), None)?
            .into_iter()
            .map(|f| (f.purl, f.advisory))
            .collect();
        let now = crate::time::now();
        let new: Vec<Finding> = index
            .matches(&components)
            .into_iter()
            .filter(|m| !known.contains(&(m.purl.clone(), m.advisory.clone())))
            .map(|m| finding(v, m, &now))
            .collect();
        if !new.is_empty() {
            let event = NewEvent {
                actor: actor.to_string(),
                action: "vuln.findings".into(),
                subject: v.subject(),
                application: Some(v.application.clone()),
                version: Some(v.version.clone()),
                result: EventResult::Warning,
                details: json!({ "new": new.iter().map(|f| json!([f.purl, f.advisory])).collect::<Vec<_>>() }),
            };
            self.store.put_findings(&new, event)?;
        }
        Ok(new)
    }

    /// SBOM evidence (a CycloneDX or SPDX predicate) attaches its components.
    pub(super) fn attach_sbom_evidence(
        &self,
        actor: &str,
        app: &str,
        version: &str,
        digest: &str,
        predicate: &serde_json::Value,
    ) {
        let bytes = predicate.to_string();
        let stored = self
            .version(app, version)
            .and_then(|v| self.store_sbom(actor, &v, &format!("evidence:{digest}"), bytes.as_bytes()));
        if let Err(e) = stored {
            tracing::warn!(%app, %version, %digest, error = %e, "SBOM evidence could not be read as an SBOM");
        }
    }

    /// Import OSV documents: new or changed ones (by `modified`) are stored and
    /// re-matched against every stored version; withdrawn ones lose their findings.
    ///
    /// The re-match reads the distinct versions shipped of each affected
    /// package, decides each once (over the cores), then reads only the
    /// components at the versions found affected. The log gets the import's
    /// event and one `vuln.findings` event per version with new findings,
    /// as attaching an SBOM writes, all in the transaction that stores them.
    pub fn import_advisories(&self, actor: &str, docs: Vec<(String, Vec<u8>)>) -> Result<ImportReport> {
        let actor = validate_actor(actor)?;
        let started = std::time::Instant::now();
        let mut report = ImportReport::default();
        let parsed = vuln::parse_advisories(&docs);
        let ids: Vec<&str> = parsed.iter().flatten().map(|a| a.id.as_str()).collect();
        let stored = self.store.advisories_modified(&ids)?;
        let mut changed: Vec<Advisory> = Vec::new();
        for ((source, _), a) in docs.iter().zip(parsed) {
            let a = match a {
                Ok(a) => a,
                Err(e) => {
                    report.rejected.push((source.clone(), e.to_string()));
                    continue;
                }
            };
            match stored.get(&a.id) {
                Some(m) if *m == a.modified => report.unchanged += 1,
                Some(_) => {
                    report.updated.push(a.id.clone());
                    changed.push(a);
                }
                None => {
                    report.new.push(a.id.clone());
                    changed.push(a);
                }
            }
        }
        drop(docs);
        let index = vuln::Index::new(changed);
        let findings = self.rematch(&index)?;
        let changed = index.advisories();
        report.withdrawn = changed
            .iter()
            .filter(|a| a.withdrawn.is_some())
            .map(|a| a.id.clone())
            .collect();
        let stale: Vec<String> = report.updated.clone();
        let mut events = vec![NewEvent {
            actor: actor.to_string(),
            action: "advisory.import".into(),
            subject: "advisories".into(),
            application: None,
            version: None,
            result: if report.rejected.is_empty() {
                EventResult::Success
            } else {
                EventResult::Warning
            },
            details: json!({ "new": report.new, "updated": report.updated, "unchanged": report.unchanged,
                             "withdrawn": report.withdrawn, "rejected": report.rejected.len(), "findings": findings.len() }),
        }];
        for found in findings.chunk_by(|a, b| a.application == b.application && a.version == b.version) {
            let Some(f) = found.first() else { continue };
            events.push(NewEvent {
                actor: actor.to_string(),
                action: "vuln.findings".into(),
                subject: format!("version:{}@{}", f.application, f.version),
                application: Some(f.application.clone()),
                version: Some(f.version.clone()),
                result: EventResult::Warning,
                details: json!({ "new": found.iter().map(|f| json!([f.purl, f.advisory])).collect::<Vec<_>>() }),
            });
        }
        let versions = events.len().saturating_sub(1);
        self.store.import_advisories(changed, &findings, &stale, events)?;
        tracing::info!(
            new = report.new.len(),
            updated = report.updated.len(),
            unchanged = report.unchanged,
            rejected = report.rejected.len(),
            findings = findings.len(),
            versions,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "advisories imported and re-matched"
        );
        let trusted = self.trusted_releases(&findings)?;
        for f in &findings {
            if trusted.get(&f.application).is_some_and(|vs| vs.contains(&f.version)) {
                report
                    .trusted_releases_affected
                    .push(format!("{}@{}", f.application, f.version));
                if let Some(hook) = &self.settings.webhook {
                    let body = json!({ "event": "trusted_release_affected", "application": f.application, "version": f.version,
                                       "purl": f.purl, "advisory": f.advisory, "aliases": f.aliases, "severity": f.severity });
                    crate::notify::deliver(hook, &body);
                }
            }
        }
        report.trusted_releases_affected.sort();
        report.trusted_releases_affected.dedup();
        report.new_findings = findings;
        Ok(report)
    }

    /// The findings the index's (non-withdrawn) advisories make on stored
    /// components, by application, version, purl and advisory.
    fn rematch(&self, index: &vuln::Index) -> Result<Vec<Finding>> {
        let packages: Vec<(String, String)> = index
            .advisories()
            .iter()
            .filter(|a| a.withdrawn.is_none())
            .flat_map(|a| a.affected.iter().map(|x| (x.ecosystem.clone(), x.name.clone())))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let shipped = self.store.package_versions(&packages)?;
        let decided = index.decide_each(&shipped);
        let affected: HashMap<vuln::PackageVersion, Vec<vuln::PackageMatch>> = shipped
            .into_iter()
            .zip(decided)
            .filter(|(_, hits)| !hits.is_empty())
            .collect();
        let keys: Vec<vuln::PackageVersion> = affected.keys().cloned().collect();
        let now = crate::time::now();
        let mut findings = Vec::new();
        for (app, ver, c) in self.store.components_at(&keys)? {
            let key = vuln::PackageVersion {
                ecosystem: c.ecosystem.unwrap_or_default(),
                name: c.name,
                version: c.version,
            };
            for hit in affected.get(&key).into_iter().flatten() {
                let m = hit.of(&c.purl);
                findings.push(Finding {
                    application: app.clone(),
                    version: ver.clone(),
                    purl: m.purl,
                    advisory: m.advisory,
                    aliases: m.aliases,
                    severity: m.severity,
                    reason: m.reason,
                    found_at: now.clone(),
                });
            }
        }
        findings.sort_by(|a, b| finding_key(a).cmp(&finding_key(b)));
        findings.dedup_by(|a, b| finding_key(a) == finding_key(b));
        Ok(findings)
    }

    /// The versions that are trusted releases, by application, of the
    /// applications these findings are on (read a page at a time).
    fn trusted_releases(&self, findings: &[Finding]) -> Result<BTreeMap<String, BTreeSet<String>>> {
        let apps: BTreeSet<&str> = findings.iter().map(|f| f.application.as_str()).collect();
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for app in apps {
            let mut filter = VersionFilter {
                release_status: Some(ReleaseStatus::TrustedRelease),
                limit: 1000,
                ..VersionFilter::default()
            };
            loop {
                let page = self.store.versions(app, &filter)?;
                let full = page.len() == filter.limit;
                filter.after = page.last().map(|(id, _)| *id);
                out.entry(app.to_string())
                    .or_default()
                    .extend(page.into_iter().map(|(_, v)| v.version));
                if !full {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub fn findings(&self, app: &str, version: &str) -> Result<Vec<Finding>> {
        self.version(app, version)?;
        self.store.findings(Some(app), Some(version), None)
    }

    /// Which applications, versions, stages and trusted releases contain an advisory (or its aliases).
    pub fn blast_radius(&self, id: &str) -> Result<BlastRadius> {
        let all = self.store.advisories()?;
        let a = all
            .iter()
            .find(|a| a.id == id || a.aliases.iter().any(|x| x == id))
            .ok_or_else(|| Error::NotFound {
                kind: "advisory",
                id: id.to_string(),
            })?;
        let names: BTreeSet<&str> = std::iter::once(a.id.as_str())
            .chain(a.aliases.iter().map(String::as_str))
            .collect();
        let group: Vec<String> = all
            .iter()
            .filter(|b| {
                b.id != a.id && (names.contains(b.id.as_str()) || b.aliases.iter().any(|x| names.contains(x.as_str())))
            })
            .map(|b| b.id.clone())
            .collect();
        let mut affected: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        for adv in std::iter::once(a.id.as_str()).chain(group.iter().map(String::as_str)) {
            for f in self.store.findings(None, None, Some(adv))? {
                affected.entry((f.application, f.version)).or_default().insert(f.purl);
            }
        }
        let mut out = Vec::new();
        for ((app, ver), comps) in affected {
            let v = self.version(&app, &ver)?;
            out.push(AffectedVersion {
                trusted_release: v.release_status == ReleaseStatus::TrustedRelease,
                stage: v.stage,
                release_status: v.release_status,
                application: app,
                version: ver,
                components: comps.into_iter().collect(),
            });
        }
        Ok(BlastRadius {
            advisory: a.id.clone(),
            aliases: a.aliases.clone(),
            group,
            severity: a.severity.clone(),
            affected: out,
        })
    }
}

/// What orders and identifies a stored finding.
fn finding_key(f: &Finding) -> (&str, &str, &str, &str) {
    (&f.application, &f.version, &f.purl, &f.advisory)
}

fn finding(v: &Version, m: vuln::Match, now: &str) -> Finding {
    Finding {
        application: v.application.clone(),
        version: v.version.clone(),
        purl: m.purl,
        advisory: m.advisory,
        aliases: m.aliases,
        severity: m.severity,
        reason: m.reason,
        found_at: now.to_string(),
    }
}
