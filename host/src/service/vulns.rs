//! SBOMs on versions, advisory import with re-matching, findings, blast radius.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Gatehouse, validate_actor};
use crate::audit::{EventResult, NewEvent};
use crate::error::{Error, Result};
use crate::sbom;
use crate::store::{ShippedAt, VersionFilter};
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
    /// The first [`NEW_FINDINGS_SHOWN`] new findings, by application,
    /// version, purl and advisory (a feed can make millions: read the rest
    /// per version or per advisory).
    pub new_findings: Vec<Finding>,
    /// How many new findings, all told.
    pub new_findings_count: usize,
    /// How many versions have new findings.
    pub versions_affected: usize,
    /// How many (package version, advisory) pairs were found: what the
    /// store keeps, each affecting every component at that package version.
    pub package_findings: usize,
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

/// New findings listed in an import's answer (the count is always whole).
pub const NEW_FINDINGS_SHOWN: usize = 1000;

/// Package findings listed in one `vuln.packages_affected` event.
const PACKAGES_PER_EVENT: usize = 1000;

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
        // What the version had before: a component added now joins package
        // findings already stored, and those are new to this version.
        let known: BTreeSet<(String, String)> = self
            .store
            .findings(Some(app), Some(version), None)?
            .into_iter()
            .map(|f| (f.purl, f.advisory))
            .collect();
        self.store.put_components(app, version, &doc.components, event)?;
        let findings = self.rematch_version(actor, v, &known)?;
        Ok(SbomAttached {
            format: doc.format,
            components: doc.components.len(),
            quirks: doc.quirks,
            findings,
        })
    }

    /// Match a version's components against the stored advisories naming
    /// its packages; store
    /// the package findings not stored yet, log the findings new to the
    /// version (those not in `known`).
    fn rematch_version(&self, actor: &str, v: &Version, known: &BTreeSet<(String, String)>) -> Result<Vec<Finding>> {
        let components = self.store.components(&v.application, &v.version)?;
        let now = crate::time::now();
        let mut packages: Vec<vuln::PackageVersion> = components
            .iter()
            .filter_map(|c| {
                Some(vuln::PackageVersion {
                    ecosystem: c.ecosystem.clone()?,
                    name: c.name.clone(),
                    version: c.version.clone(),
                })
            })
            .collect();
        packages.sort();
        packages.dedup();
        // Only the advisories that name one of its packages (not every one stored).
        let named: Vec<(String, String)> = packages
            .iter()
            .map(|p| (p.ecosystem.clone(), p.name.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let index = vuln::Index::new(self.store.advisories_naming(&named)?);
        let decided = index.decide_each(&packages);
        let affected: HashMap<&vuln::PackageVersion, &Vec<vuln::PackageMatch>> =
            packages.iter().zip(&decided).filter(|(_, h)| !h.is_empty()).collect();
        let mut new: Vec<Finding> = Vec::new();
        for c in &components {
            let Some(eco) = &c.ecosystem else { continue };
            let key = vuln::PackageVersion {
                ecosystem: eco.clone(),
                name: c.name.clone(),
                version: c.version.clone(),
            };
            for hit in affected.get(&key).into_iter().flat_map(|h| h.iter()) {
                if !known.contains(&(c.purl.clone(), hit.advisory.clone())) {
                    new.push(finding(v, hit.of(&c.purl), &now));
                }
            }
        }
        new.sort_by(|a, b| finding_key(a).cmp(&finding_key(b)));
        new.dedup_by(|a, b| finding_key(a) == finding_key(b));
        if !new.is_empty() {
            let stored = vuln::package_findings(packages, decided, &now);
            let event = NewEvent {
                actor: actor.to_string(),
                action: "vuln.findings".into(),
                subject: v.subject(),
                application: Some(v.application.clone()),
                version: Some(v.version.clone()),
                result: EventResult::Warning,
                details: json!({ "new": new.iter().map(|f| json!([f.purl, f.advisory])).collect::<Vec<_>>() }),
            };
            self.store.put_package_findings(&stored, event)?;
            // As the store tells them (found when both the component and the
            // package's finding were there).
            let fresh: BTreeSet<(&str, &str)> = new.iter().map(|f| (f.purl.as_str(), f.advisory.as_str())).collect();
            let stored = self
                .store
                .findings(Some(&v.application), Some(&v.version), None)?
                .into_iter()
                .filter(|f| fresh.contains(&(f.purl.as_str(), f.advisory.as_str())))
                .collect();
            return Ok(stored);
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
    /// package and decides each once (over the cores); what it stores is one
    /// package finding per package version and advisory (a version's
    /// findings are derived from them when read). It then reads the
    /// components at the affected package versions to count the findings,
    /// list the first ones and notify trusted releases. The log gets the
    /// import's event and its `vuln.packages_affected` events, in the
    /// transaction that stores them.
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
        let found = self.rematch(&index)?;
        let changed = index.advisories();
        report.withdrawn = changed
            .iter()
            .filter(|a| a.withdrawn.is_some())
            .map(|a| a.id.clone())
            .collect();
        let stale: Vec<String> = report.updated.clone();
        let on_versions = self.findings_on_versions(&found)?;
        report.new_findings_count = on_versions.count;
        report.versions_affected = on_versions.versions;
        report.package_findings = found.len();
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
                             "withdrawn": report.withdrawn, "rejected": report.rejected.len(),
                             "findings": on_versions.count, "versions": on_versions.versions,
                             "package_findings": found.len() }),
        }];
        events.extend(packages_affected_events(actor, &found));
        self.store.import_advisories(changed, &found, &stale, events)?;
        tracing::info!(
            new = report.new.len(),
            updated = report.updated.len(),
            unchanged = report.unchanged,
            rejected = report.rejected.len(),
            package_findings = found.len(),
            findings = on_versions.count,
            versions = on_versions.versions,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "advisories imported and re-matched"
        );
        for f in &on_versions.on_trusted_releases {
            report
                .trusted_releases_affected
                .push(format!("{}@{}", f.application, f.version));
            if let Some(hook) = &self.settings.webhook {
                let body = json!({ "event": "trusted_release_affected", "application": f.application, "version": f.version,
                                   "purl": f.purl, "advisory": f.advisory, "aliases": f.aliases, "severity": f.severity });
                crate::notify::deliver(hook, &body);
            }
        }
        report.trusted_releases_affected.sort();
        report.trusted_releases_affected.dedup();
        report.new_findings = on_versions.shown;
        Ok(report)
    }

    /// What the index's (non-withdrawn) advisories decide of the package
    /// versions stored components ship: one package finding per package
    /// version and advisory.
    fn rematch(&self, index: &vuln::Index) -> Result<Vec<vuln::PackageFinding>> {
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
        Ok(vuln::package_findings(shipped, decided, &crate::time::now()))
    }

    /// What package findings mean on stored versions: how many findings and
    /// versions, the first [`NEW_FINDINGS_SHOWN`] findings, and every one on
    /// a Trusted Release (each is notified). Reads the components at the
    /// affected package versions, keeps only what it reports.
    fn findings_on_versions(&self, found: &[vuln::PackageFinding]) -> Result<OnVersions> {
        // `found` is sorted by package version: one run of hits each.
        let runs: Vec<&[vuln::PackageFinding]> = found.chunk_by(|a, b| a.package == b.package).collect();
        let keys: Vec<vuln::PackageVersion> = runs
            .iter()
            .filter_map(|r| r.first())
            .map(|f| f.package.clone())
            .collect();
        let shipped = self.store.components_at(&keys)?;
        let hits_of = |s: &ShippedAt| runs.get(s.package).copied().unwrap_or_default();
        let apps: BTreeSet<&str> = shipped.iter().map(|s| s.application.as_str()).collect();
        let trusted = self.trusted_releases(apps)?;
        let mut out = OnVersions::default();
        let mut versions: HashSet<(&str, &str)> = HashSet::new();
        for s in &shipped {
            out.count += hits_of(s).len();
            versions.insert((&s.application, &s.version));
            if trusted.get(&s.application).is_some_and(|vs| vs.contains(&s.version)) {
                out.on_trusted_releases
                    .extend(hits_of(s).iter().map(|hit| finding_at(s, hit)));
            }
        }
        out.versions = versions.len();
        out.on_trusted_releases
            .sort_by(|a, b| finding_key(a).cmp(&finding_key(b)));
        // The first ones in the order findings are listed: every shipped
        // component has a finding, so the first components in that order
        // hold them (a partial sort: the rest stay unordered).
        let order = |a: &&ShippedAt, b: &&ShippedAt| {
            (&a.application, &a.version, &a.purl).cmp(&(&b.application, &b.version, &b.purl))
        };
        let mut first: Vec<&ShippedAt> = shipped.iter().collect();
        if first.len() > NEW_FINDINGS_SHOWN {
            first.select_nth_unstable_by(NEW_FINDINGS_SHOWN, order);
            first.truncate(NEW_FINDINGS_SHOWN);
        }
        first.sort_unstable_by(order);
        out.shown = first
            .into_iter()
            .flat_map(|s| hits_of(s).iter().map(move |hit| finding_at(s, hit)))
            .take(NEW_FINDINGS_SHOWN)
            .collect();
        Ok(out)
    }

    /// The versions that are trusted releases, by application, of the
    /// applications these findings are on (read a page at a time).
    fn trusted_releases(&self, apps: BTreeSet<&str>) -> Result<BTreeMap<String, BTreeSet<String>>> {
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

    /// The components of the version's SBOM, by purl.
    pub fn components(&self, app: &str, version: &str) -> Result<Vec<sbom::Component>> {
        self.version(app, version)?;
        self.store.components(app, version)
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

/// What an import's package findings make on stored versions.
#[derive(Default)]
struct OnVersions {
    count: usize,
    versions: usize,
    shown: Vec<Finding>,
    on_trusted_releases: Vec<Finding>,
}

/// The `vuln.packages_affected` events of an import: every package finding
/// it made, as `[ecosystem, name, version, advisory]`, a bounded number to
/// an event (a version's findings follow from its components).
fn packages_affected_events(actor: &str, found: &[vuln::PackageFinding]) -> Vec<NewEvent> {
    found
        .chunks(PACKAGES_PER_EVENT)
        .map(|part| NewEvent {
            actor: actor.to_string(),
            action: "vuln.packages_affected".into(),
            subject: "advisories".into(),
            application: None,
            version: None,
            result: EventResult::Warning,
            details: json!({ "new": part.iter().map(|f| json!([f.package.ecosystem, f.package.name, f.package.version, f.advisory])).collect::<Vec<_>>() }),
        })
        .collect()
}

/// The finding a package finding makes on one component shipping it.
fn finding_at(s: &ShippedAt, hit: &vuln::PackageFinding) -> Finding {
    Finding {
        application: s.application.clone(),
        version: s.version.clone(),
        purl: s.purl.clone(),
        advisory: hit.advisory.clone(),
        aliases: hit.aliases.clone(),
        severity: hit.severity.clone(),
        reason: hit.reason.clone(),
        found_at: hit.found_at.clone(),
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
