//! Vulnerability matching: OSV advisories against SBOM components, exactly
//! per the OSV schema (`affected[].versions`, `ranges` of type ECOSYSTEM and
//! SEMVER with `introduced`/`fixed`/`last_affected`; GIT ranges ignored;
//! withdrawn advisories never match), with per-ecosystem version ordering.

pub mod ordering;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::sbom::{Component, osv_name};

/// An advisory as matching needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: String,
    pub aliases: Vec<String>,
    pub modified: String,
    pub withdrawn: Option<String>,
    pub summary: Option<String>,
    /// `critical|high|medium|low`, from the advisory's own rating or its CVSS vector.
    pub severity: Option<String>,
    pub affected: Vec<Affected>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    pub ecosystem: String,
    /// Normalised as components are (PEP 503 for PyPI).
    pub name: String,
    pub versions: Vec<String>,
    pub ranges: Vec<Range>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// `ECOSYSTEM` or `SEMVER` (`GIT` ranges are dropped when parsing).
    pub kind: String,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

/// Parse one OSV document; `source` names it in errors.
pub fn parse_advisory(source: &str, bytes: &[u8]) -> Result<Advisory> {
    let bad = |detail: String| Error::Malformed {
        what: format!("advisory {source}"),
        detail,
    };
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let text = |v: &Value, field: &str| v.get(field).and_then(Value::as_str).map(str::to_string);
    let id = text(&doc, "id").ok_or_else(|| bad("field `id` is missing or not a string".into()))?;
    let modified = text(&doc, "modified").ok_or_else(|| bad("field `modified` is missing or not a string".into()))?;
    let aliases = doc
        .get("aliases")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let mut affected = Vec::new();
    for (i, a) in doc
        .get("affected")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let pkg = a
            .get("package")
            .ok_or_else(|| bad(format!("`affected[{i}].package` is missing")))?;
        let ecosystem =
            text(pkg, "ecosystem").ok_or_else(|| bad(format!("`affected[{i}].package.ecosystem` is missing")))?;
        // "PyPI", "Debian:11": the part before ':' names the ordering.
        let ecosystem = ecosystem.split(':').next().unwrap_or_default().to_string();
        let name = text(pkg, "name").ok_or_else(|| bad(format!("`affected[{i}].package.name` is missing")))?;
        let versions = a
            .get("versions")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        let mut ranges = Vec::new();
        for (j, r) in a
            .get("ranges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let kind = text(r, "type").ok_or_else(|| bad(format!("`affected[{i}].ranges[{j}].type` is missing")))?;
            if kind == "GIT" {
                continue;
            }
            let mut events = Vec::new();
            for e in r.get("events").and_then(Value::as_array).into_iter().flatten() {
                let ev = if let Some(v) = text(e, "introduced") {
                    Event::Introduced(v)
                } else if let Some(v) = text(e, "fixed") {
                    Event::Fixed(v)
                } else if let Some(v) = text(e, "last_affected") {
                    Event::LastAffected(v)
                } else if let Some(v) = text(e, "limit") {
                    Event::Limit(v)
                } else {
                    return Err(bad(format!(
                        "`affected[{i}].ranges[{j}].events` has an event of no known kind: {e}"
                    )));
                };
                events.push(ev);
            }
            ranges.push(Range { kind, events });
        }
        affected.push(Affected {
            name: osv_name(&ecosystem, &name),
            ecosystem,
            versions,
            ranges,
        });
    }
    Ok(Advisory {
        severity: severity(&doc),
        summary: text(&doc, "summary"),
        withdrawn: text(&doc, "withdrawn"),
        id,
        aliases,
        modified,
        affected,
    })
}

/// The advisory's own rating, else the worst CVSS v3/v4 base score among its vectors.
fn severity(doc: &Value) -> Option<String> {
    if let Some(s) = doc.pointer("/database_specific/severity").and_then(Value::as_str) {
        let s = s.to_ascii_lowercase();
        if matches!(s.as_str(), "critical" | "high" | "medium" | "moderate" | "low") {
            return Some(if s == "moderate" { "medium".into() } else { s });
        }
    }
    let scores = doc
        .get("severity")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("score").and_then(Value::as_str))
        .filter_map(cvss_base_score);
    let best = scores.fold(None::<f64>, |acc, s| Some(acc.map_or(s, |a| a.max(s))))?;
    Some(
        match best {
            s if s >= 9.0 => "critical",
            s if s >= 7.0 => "high",
            s if s >= 4.0 => "medium",
            s if s > 0.0 => "low",
            _ => "none",
        }
        .to_string(),
    )
}

/// The CVSS base score of a v3.0, v3.1 or v4.0 vector such as
/// `CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`, scored by RustSec's `cvss`
/// crate (v3.0 and v3.1 round as their own specifications say). None for a
/// v2 vector, a malformed one, or a v3 vector missing a base metric.
pub fn cvss_base_score(vector: &str) -> Option<f64> {
    const V3_BASE_METRICS: usize = 8;
    let parsed: cvss::Cvss = vector.parse().ok()?;
    match &parsed {
        cvss::Cvss::CvssV30(v) | cvss::Cvss::CvssV31(v) if v.metrics().count() < V3_BASE_METRICS => None,
        cvss::Cvss::CvssV30(_) | cvss::Cvss::CvssV31(_) | cvss::Cvss::CvssV40(_) => Some(parsed.score()),
        _ => None,
    }
}

/// Groups of advisory ids that share an alias (PYSEC and GHSA for one CVE).
pub fn alias_groups(matches: &[Match]) -> Vec<Vec<String>> {
    let mut groups: Vec<(BTreeSet<String>, BTreeSet<String>)> = Vec::new();
    for m in matches {
        let names: BTreeSet<String> = std::iter::once(m.advisory.clone())
            .chain(m.aliases.iter().cloned())
            .collect();
        match groups.iter_mut().find(|(_, n)| !n.is_disjoint(&names)) {
            Some((ids, n)) => {
                ids.insert(m.advisory.clone());
                n.extend(names);
            }
            None => groups.push(([m.advisory.clone()].into(), names)),
        }
    }
    groups
        .into_iter()
        .filter(|(ids, _)| ids.len() > 1)
        .map(|(ids, _)| ids.into_iter().collect())
        .collect()
}

/// Advisories indexed by (ecosystem, normalised name).
#[derive(Debug, Default)]
pub struct Index {
    advisories: Vec<Advisory>,
    /// Per advisory, per affected entry: its versions and range events,
    /// parsed on first use (a feed's advisories mostly name packages no
    /// version ships, and an OSV entry can list hundreds of versions).
    prepared: Vec<Vec<std::sync::OnceLock<Prepared>>>,
    /// ecosystem → name → advisories (two levels, so lookups borrow and never allocate).
    by_package: BTreeMap<String, BTreeMap<String, Vec<usize>>>,
}

/// A stored finding: a version's component affected by an advisory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "VulnFinding")]
pub struct Finding {
    pub application: String,
    pub version: String,
    pub purl: String,
    pub advisory: String,
    pub aliases: Vec<String>,
    pub severity: Option<String>,
    pub reason: String,
    #[schemars(with = "crate::schema::Timestamp")]
    pub found_at: String,
}

/// One component affected by one advisory, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Match {
    pub purl: String,
    pub advisory: String,
    pub aliases: Vec<String>,
    pub severity: Option<String>,
    pub reason: String,
}

impl Index {
    pub fn new(advisories: Vec<Advisory>) -> Index {
        let mut by_package: BTreeMap<String, BTreeMap<String, Vec<usize>>> = BTreeMap::new();
        for (i, a) in advisories.iter().enumerate() {
            let keys: BTreeSet<(&str, &str)> = a
                .affected
                .iter()
                .map(|x| (x.ecosystem.as_str(), x.name.as_str()))
                .collect();
            for (eco, name) in keys {
                by_package
                    .entry(eco.to_string())
                    .or_default()
                    .entry(name.to_string())
                    .or_default()
                    .push(i);
            }
        }
        let prepared = advisories
            .iter()
            .map(|a| a.affected.iter().map(|_| std::sync::OnceLock::new()).collect())
            .collect();
        Index {
            advisories,
            prepared,
            by_package,
        }
    }

    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    /// The advisories, in the order given to [`Index::new`].
    pub fn advisories(&self) -> &[Advisory] {
        &self.advisories
    }

    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// Every (component, advisory) pair that matches, each advisory once per component.
    pub fn matches(&self, components: &[Component]) -> Vec<Match> {
        let mut out = BTreeSet::new();
        for c in components {
            for (i, reason) in self.decide(c) {
                out.insert(self.matched(c, i, reason));
            }
        }
        out.into_iter().collect()
    }

    /// [`Index::matches`] for many versions at once (a whole portfolio after
    /// an advisory import), in the order given. A package version is decided
    /// once however many versions ship it (portfolios share most of their
    /// dependencies), and the versions are split over the machine's cores.
    pub fn matches_each(&self, versions: &[&[Component]]) -> Vec<Vec<Match>> {
        crate::cores::in_shares(versions, |part| self.matches_memoised(part))
    }

    /// What affects each of these distinct package versions (ecosystem,
    /// name, version), in the order given, split over the machine's cores:
    /// the whole decision of a re-match, made once per package version
    /// whatever number of components ship it.
    pub fn decide_each(&self, packages: &[PackageVersion]) -> Vec<Vec<PackageMatch>> {
        crate::cores::in_shares(packages, |part| {
            part.iter()
                .map(|p| {
                    let hits = self.decide_package(&p.ecosystem, &p.name, &p.version);
                    hits.into_iter()
                        .map(|(i, reason)| self.package_match(i, reason))
                        .collect()
                })
                .collect()
        })
    }

    /// One thread's share of [`Index::matches_each`], with its own memo.
    fn matches_memoised(&self, versions: &[&[Component]]) -> Vec<Vec<Match>> {
        type Decided = Vec<(usize, String)>;
        let mut memo: std::collections::HashMap<(&str, &str, &str), Decided> = std::collections::HashMap::new();
        versions
            .iter()
            .map(|components| {
                let mut out = BTreeSet::new();
                for c in *components {
                    let Some(eco) = &c.ecosystem else { continue };
                    let hits = memo
                        .entry((eco.as_str(), c.name.as_str(), c.version.as_str()))
                        .or_insert_with(|| self.decide(c));
                    for (i, reason) in hits.iter() {
                        out.insert(self.matched(c, *i, reason.clone()));
                    }
                }
                out.into_iter().collect()
            })
            .collect()
    }

    /// The advisories (by position) that affect this package version, and
    /// why: what a component's ecosystem, name and version decide, nothing else.
    fn decide(&self, c: &Component) -> Vec<(usize, String)> {
        match &c.ecosystem {
            Some(eco) => self.decide_package(eco, &c.name, &c.version),
            None => Vec::new(),
        }
    }

    /// [`Index::decide`] for a package version named by its parts.
    fn decide_package(&self, eco: &str, name: &str, version: &str) -> Vec<(usize, String)> {
        let Some(ids) = self.by_package.get(eco).and_then(|m| m.get(name)) else {
            return Vec::new();
        };
        let parsed = Lazy::new(eco, version);
        let mut hits = Vec::new();
        for &i in ids {
            let Some(a) = self.advisories.get(i) else { continue };
            if a.withdrawn.is_some() {
                continue;
            }
            let preps = self.prepared.get(i).map(Vec::as_slice).unwrap_or_default();
            let hit = a
                .affected
                .iter()
                .zip(preps)
                .filter(|(x, _)| x.ecosystem == eco && x.name == name)
                .find_map(|(x, p)| p.get_or_init(|| Prepared::new(x)).affects(eco, version, &parsed));
            if let Some(reason) = hit {
                hits.push((i, reason));
            }
        }
        hits
    }

    /// The match of component `c` by the advisory at position `i`.
    fn matched(&self, c: &Component, i: usize, reason: String) -> Match {
        self.package_match(i, reason).of(&c.purl)
    }

    /// What the advisory at position `i` says of a package version it affects.
    fn package_match(&self, i: usize, reason: String) -> PackageMatch {
        let a = self.advisories.get(i);
        PackageMatch {
            advisory: a.map(|a| a.id.clone()).unwrap_or_default(),
            aliases: a.map(|a| a.aliases.clone()).unwrap_or_default(),
            severity: a.and_then(|a| a.severity.clone()),
            reason,
        }
    }
}

/// What the store keeps of a re-match: one advisory affecting one package
/// version. A version's findings are derived from these and its components
/// (every component shipping the package version is affected), so an
/// advisory naming a package a thousand versions ship is one row, not a
/// thousand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFinding {
    pub package: PackageVersion,
    pub advisory: String,
    pub aliases: Vec<String>,
    pub severity: Option<String>,
    pub reason: String,
    /// When this package version was first found affected.
    pub found_at: String,
}

/// A [`PackageFinding`]'s stored document (its key columns aside).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageFindingDoc {
    pub aliases: Vec<String>,
    pub severity: Option<String>,
    pub reason: String,
    pub found_at: String,
}

impl PackageFinding {
    pub fn new(package: PackageVersion, m: PackageMatch, found_at: &str) -> PackageFinding {
        PackageFinding {
            package,
            advisory: m.advisory,
            aliases: m.aliases,
            severity: m.severity,
            reason: m.reason,
            found_at: found_at.to_string(),
        }
    }

    pub fn doc(&self) -> PackageFindingDoc {
        PackageFindingDoc {
            aliases: self.aliases.clone(),
            severity: self.severity.clone(),
            reason: self.reason.clone(),
            found_at: self.found_at.clone(),
        }
    }
}

impl PackageFindingDoc {
    /// The finding on the component `purl` of `application@version`, which
    /// ships the package version this document was stored for. It was found
    /// when both were there: the later of the package's finding and the
    /// component's attachment (unknown for components stored before 13).
    pub fn on(
        self,
        application: String,
        version: String,
        purl: String,
        advisory: String,
        attached_at: Option<String>,
    ) -> Finding {
        let found_at = match attached_at {
            Some(t) if t > self.found_at => t,
            _ => self.found_at,
        };
        Finding {
            application,
            version,
            purl,
            advisory,
            aliases: self.aliases,
            severity: self.severity,
            reason: self.reason,
            found_at,
        }
    }
}

/// The package findings of what [`Index::decide_each`] decided of
/// `packages`, found at `found_at`, ordered by package version and advisory,
/// each pair once.
pub fn package_findings(
    packages: Vec<PackageVersion>,
    decided: Vec<Vec<PackageMatch>>,
    found_at: &str,
) -> Vec<PackageFinding> {
    let mut found: Vec<PackageFinding> = packages
        .into_iter()
        .zip(decided)
        .flat_map(|(p, hits)| {
            hits.into_iter()
                .map(move |m| PackageFinding::new(p.clone(), m, found_at))
        })
        .collect();
    found.sort_by(|a, b| (&a.package, &a.advisory).cmp(&(&b.package, &b.advisory)));
    found.dedup_by(|a, b| (&a.package, &a.advisory) == (&b.package, &b.advisory));
    found
}

/// Merge a version's findings derived from package findings with the
/// per-version rows earlier builds stored (which win where both name the
/// same component and advisory), ordered by application, version, purl and
/// advisory.
pub fn merge_findings(derived: Vec<Finding>, legacy: Vec<Finding>) -> Vec<Finding> {
    let mut by_key: std::collections::BTreeMap<(String, String, String, String), Finding> =
        std::collections::BTreeMap::new();
    for f in derived.into_iter().chain(legacy) {
        by_key.insert(
            (
                f.application.clone(),
                f.version.clone(),
                f.purl.clone(),
                f.advisory.clone(),
            ),
            f,
        );
    }
    by_key.into_values().collect()
}

/// A package version as components name it: ecosystem, normalised name, version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageVersion {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
}

/// One advisory affecting a package version, and why: a [`Match`] for
/// every component that ships that package version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageMatch {
    pub advisory: String,
    pub aliases: Vec<String>,
    pub severity: Option<String>,
    pub reason: String,
}

impl PackageMatch {
    /// The match of the component `purl` (which ships this package version).
    pub fn of(&self, purl: &str) -> Match {
        Match {
            purl: purl.to_string(),
            advisory: self.advisory.clone(),
            aliases: self.aliases.clone(),
            severity: self.severity.clone(),
            reason: self.reason.clone(),
        }
    }
}

/// Parse many OSV documents (source, bytes), split over the machine's
/// cores; each result in the place of its document.
pub fn parse_advisories(docs: &[(String, Vec<u8>)]) -> Vec<Result<Advisory>> {
    crate::cores::in_shares(docs, |part| {
        part.iter()
            .map(|(source, bytes)| parse_advisory(source, bytes))
            .collect()
    })
}

/// Why `version` of the package is affected by `a`, or None.
pub fn affects(a: &Advisory, ecosystem: &str, name: &str, version: &str) -> Option<String> {
    let parsed = ordering::parse(ecosystem, version);
    for x in a.affected.iter().filter(|x| x.ecosystem == ecosystem && x.name == name) {
        // Ranges first: a few events, where `versions` lists can hold hundreds.
        for r in &x.ranges {
            let scheme = if r.kind == "SEMVER" { "SEMVER" } else { ecosystem };
            if let Some(why) = in_range(scheme, version, &r.events) {
                return Some(why);
            }
        }
        if x.versions.iter().any(|v| v == version) {
            return Some(format!("{version} is listed in affected versions"));
        }
        let listed = parsed.as_ref().is_some_and(|p| {
            x.versions.iter().any(|v| {
                ordering::parse(ecosystem, v).is_some_and(|q| ordering::compare(p, &q) == Some(Ordering::Equal))
            })
        });
        if listed {
            return Some(format!("{version} equals a listed affected version"));
        }
    }
    None
}

/// An affected entry with its versions and events parsed once.
#[derive(Debug)]
struct Prepared {
    /// Listed versions as written, for an exact match.
    listed_raw: std::collections::HashSet<String>,
    /// Listed versions parsed and sorted, for a binary search.
    listed: Vec<ordering::Parsed>,
    ranges: Vec<PreparedRange>,
}

/// A range's scheme and its events sorted by version (None is the `0` sentinel).
type PreparedRange = (String, Vec<(Option<ordering::Parsed>, Event)>);

/// A component's version parsed per scheme on first use.
struct Lazy<'a> {
    ecosystem: &'a str,
    version: &'a str,
    native: std::cell::OnceCell<Option<ordering::Parsed>>,
    semver: std::cell::OnceCell<Option<ordering::Parsed>>,
}

impl<'a> Lazy<'a> {
    fn new(ecosystem: &'a str, version: &'a str) -> Lazy<'a> {
        Lazy {
            ecosystem,
            version,
            native: std::cell::OnceCell::new(),
            semver: std::cell::OnceCell::new(),
        }
    }

    fn get(&self, scheme: &str) -> Option<&ordering::Parsed> {
        if scheme == "SEMVER" {
            self.semver
                .get_or_init(|| ordering::parse("SEMVER", self.version))
                .as_ref()
        } else {
            self.native
                .get_or_init(|| ordering::parse(self.ecosystem, self.version))
                .as_ref()
        }
    }
}

impl Prepared {
    fn new(x: &Affected) -> Prepared {
        let listed_raw = x.versions.iter().cloned().collect();
        let mut listed: Vec<ordering::Parsed> = x
            .versions
            .iter()
            .filter_map(|v| ordering::parse(&x.ecosystem, v))
            .collect();
        listed.sort_by(|a, b| ordering::compare(a, b).unwrap_or(Ordering::Equal));
        let ranges = x
            .ranges
            .iter()
            .filter_map(|r| {
                let scheme = if r.kind == "SEMVER" {
                    "SEMVER".to_string()
                } else {
                    x.ecosystem.clone()
                };
                if !ordering::orderable(&scheme) {
                    return None;
                }
                let mut events: Vec<(Option<ordering::Parsed>, Event)> = r
                    .events
                    .iter()
                    .map(|e| {
                        let s = match e {
                            Event::Introduced(s) | Event::Fixed(s) | Event::LastAffected(s) | Event::Limit(s) => s,
                        };
                        (if s == "0" { None } else { ordering::parse(&scheme, s) }, e.clone())
                    })
                    .filter(|(p, e)| p.is_some() || matches!(e, Event::Introduced(s) if s == "0"))
                    .collect();
                events.sort_by(|(a, _), (b, _)| match (a, b) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => ordering::compare(x, y).unwrap_or(Ordering::Equal),
                });
                Some((scheme, events))
            })
            .collect();
        Prepared {
            listed_raw,
            listed,
            ranges,
        }
    }

    fn affects(&self, _ecosystem: &str, version: &str, parsed: &Lazy<'_>) -> Option<String> {
        for (scheme, events) in &self.ranges {
            let Some(v) = parsed.get(scheme) else { continue };
            let mut open = None::<&str>;
            for (p, e) in events {
                let cmp = match p {
                    None => Ordering::Greater,
                    Some(p) => match ordering::compare(v, p) {
                        Some(o) => o,
                        None => continue,
                    },
                };
                match e {
                    Event::Introduced(s) if cmp != Ordering::Less => open = Some(s),
                    Event::Fixed(_) | Event::Limit(_) if cmp != Ordering::Less => open = None,
                    Event::LastAffected(_) if cmp == Ordering::Greater => open = None,
                    _ => {}
                }
            }
            if let Some(s) = open {
                return Some(format!("{version} in range: introduced {s}"));
            }
        }
        if self.listed_raw.contains(version) {
            return Some(format!("{version} is listed in affected versions"));
        }
        let v = parsed.get(parsed.ecosystem)?;
        self.listed
            .binary_search_by(|q| ordering::compare(q, v).unwrap_or(Ordering::Less))
            .is_ok()
            .then(|| format!("{version} equals a listed affected version"))
    }
}

/// OSV range evaluation: sorted events; introduced opens, fixed closes at
/// (not including) its version, last_affected closes after it.
fn in_range(scheme: &str, version: &str, events: &[Event]) -> Option<String> {
    if !ordering::orderable(scheme) {
        return None;
    }
    let v = ordering::parse(scheme, version)?;
    // Each event's version parsed; "0" is the lowest of all.
    let mut parsed: Vec<(Option<ordering::Parsed>, &Event)> = events
        .iter()
        .map(|e| {
            let s = match e {
                Event::Introduced(s) | Event::Fixed(s) | Event::LastAffected(s) | Event::Limit(s) => s,
            };
            let p = if s == "0" { None } else { ordering::parse(scheme, s) };
            (p, e)
        })
        .filter(|(p, e)| p.is_some() || matches!(e, Event::Introduced(s) if s == "0"))
        .collect();
    parsed.sort_by(|(a, _), (b, _)| match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => ordering::compare(x, y).unwrap_or(Ordering::Equal),
    });
    let mut affected = None::<String>;
    for (p, e) in &parsed {
        let cmp = p
            .as_ref()
            .map_or(Some(Ordering::Greater), |p| ordering::compare(&v, p))?;
        match e {
            Event::Introduced(s) if cmp != Ordering::Less => affected = Some(format!("introduced {s}")),
            Event::Fixed(_) if cmp != Ordering::Less => affected = None,
            Event::LastAffected(_) if cmp == Ordering::Greater => affected = None,
            Event::Limit(_) if cmp != Ordering::Less => affected = None,
            _ => {}
        }
    }
    affected.map(|why| {
        let closing = parsed
            .iter()
            .find_map(|(p, e)| match e {
                Event::Fixed(s)
                    if p.as_ref()
                        .is_some_and(|p| ordering::compare(&v, p) == Some(Ordering::Less)) =>
                {
                    Some(format!(", fixed in {s}"))
                }
                Event::LastAffected(s)
                    if p.as_ref()
                        .is_some_and(|p| ordering::compare(&v, p) != Some(Ordering::Greater)) =>
                {
                    Some(format!(", last affected {s}"))
                }
                _ => None,
            })
            .unwrap_or_else(|| ", no fix".to_string());
        format!("{version} in range: {why}{closing}")
    })
}

#[cfg(test)]
mod tests {

    use super::*;

    fn adv(events: Vec<Event>, versions: Vec<&str>) -> Advisory {
        Advisory {
            id: "T-1".into(),
            aliases: vec![],
            modified: "2026-01-01T00:00:00Z".into(),
            withdrawn: None,
            summary: None,
            severity: None,
            affected: vec![Affected {
                ecosystem: "npm".into(),
                name: "pkg".into(),
                versions: versions.into_iter().map(str::to_string).collect(),
                ranges: vec![Range {
                    kind: "SEMVER".into(),
                    events,
                }],
            }],
        }
    }

    #[test]
    fn ranges_follow_the_osv_rules() {
        use Event::*;
        let a = adv(vec![Fixed("2.0.0".into()), Introduced("1.0.0".into())], vec![]);
        assert!(
            affects(&a, "npm", "pkg", "1.5.0").is_some(),
            "unsorted events are sorted"
        );
        assert!(affects(&a, "npm", "pkg", "2.0.0").is_none(), "fixed is not affected");
        assert!(affects(&a, "npm", "pkg", "0.9.0").is_none());
        let a = adv(vec![Introduced("0".into()), LastAffected("1.2.0".into())], vec![]);
        assert!(affects(&a, "npm", "pkg", "1.2.0").is_some());
        assert!(affects(&a, "npm", "pkg", "1.2.1").is_none());
        let a = adv(vec![Introduced("5.0.0-alpha.1".into())], vec![]);
        assert!(affects(&a, "npm", "pkg", "5.0.0").is_some(), "no fix: open-ended");
        assert!(affects(&a, "npm", "pkg", "4.9.9").is_none());
        let a = adv(
            vec![
                Introduced("0".into()),
                Fixed("1.0.0".into()),
                Introduced("2.0.0".into()),
                Fixed("2.1.0".into()),
            ],
            vec![],
        );
        assert!(affects(&a, "npm", "pkg", "1.5.0").is_none(), "between two ranges");
        assert!(affects(&a, "npm", "pkg", "2.0.5").is_some());
        let a = adv(vec![], vec!["3.2.0"]);
        assert!(affects(&a, "npm", "pkg", "3.2.0").is_some());
    }

    #[test]
    fn cvss_scores() {
        assert_eq!(
            cvss_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Some(9.8)
        );
        assert_eq!(
            cvss_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"),
            Some(6.1)
        );
        assert_eq!(
            cvss_base_score("CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N"),
            Some(0.0)
        );
        // CVSS v4.0 (FIRST's calculator gives 9.3 for this vector).
        assert_eq!(
            cvss_base_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
            Some(9.3)
        );
        assert_eq!(cvss_base_score("CVSS:2.0/AV:N"), None);
        assert_eq!(cvss_base_score("AV:N/AC:L/Au:N/C:P/I:P/A:P"), None, "v2 is not scored");
        assert_eq!(cvss_base_score("CVSS:3.1/AV:N/AC:L"), None, "base metrics missing");
        assert_eq!(cvss_base_score("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), None);
    }
}
