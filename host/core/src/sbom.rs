//! SBOMs: CycloneDX 1.4–1.6 JSON and SPDX 2.3 JSON, read leniently (real
//! generators have quirks) into components identified by purl. Quirks are
//! reported, not fatal; a document that is neither format is an error naming
//! the file.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// One component, normalised for matching.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Component {
    /// `pkg:type/namespace/name@version`, without qualifiers or subpath.
    pub purl: String,
    /// The OSV ecosystem (`PyPI`, `npm`, `crates.io`, …), when the purl type has one.
    pub ecosystem: Option<String>,
    /// The name as OSV spells it for the ecosystem (PEP 503 for PyPI, `@scope/name` for npm, `group:artifact` for Maven).
    pub name: String,
    pub version: String,
    /// Licences as the SBOM states them: SPDX ids, expressions or names.
    #[serde(default)]
    pub licenses: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sbom {
    pub format: String,
    pub components: Vec<Component>,
    /// What was odd but tolerated, each with where it was found.
    pub quirks: Vec<String>,
}

/// Parse an SBOM document; `source` names it in errors.
pub fn parse(source: &str, bytes: &[u8]) -> Result<Sbom> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| Error::Malformed {
        what: format!("SBOM {source}"),
        detail: format!("not valid JSON: {e}"),
    })?;
    let mut sbom = if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        cyclonedx(&doc)
    } else if doc.get("spdxVersion").is_some() {
        spdx(&doc)
    } else {
        return Err(Error::Malformed {
            what: format!("SBOM {source}"),
            detail: "neither CycloneDX (bomFormat) nor SPDX (spdxVersion) JSON".into(),
        });
    };
    sbom.components.sort();
    sbom.components.dedup();
    Ok(sbom)
}

fn cyclonedx(doc: &Value) -> Sbom {
    let spec = doc.get("specVersion").and_then(Value::as_str).unwrap_or("?");
    let mut sbom = Sbom {
        format: format!("CycloneDX {spec}"),
        ..Sbom::default()
    };
    if !matches!(spec, "1.4" | "1.5" | "1.6") {
        sbom.quirks.push(format!("specVersion {spec}: read as 1.4–1.6"));
    }
    if let Some(c) = doc.pointer("/metadata/component") {
        walk_cdx(c, "metadata.component", &mut sbom);
    }
    if let Some(list) = doc.get("components").and_then(Value::as_array) {
        for (i, c) in list.iter().enumerate() {
            walk_cdx(c, &format!("components[{i}]"), &mut sbom);
        }
    }
    sbom
}

/// A component and its nested components (npm's default output nests them).
fn walk_cdx(c: &Value, at: &str, sbom: &mut Sbom) {
    match c.get("purl").and_then(Value::as_str) {
        Some(p) => match component(p) {
            Ok(mut comp) => {
                comp.licenses = cdx_licenses(c);
                sbom.components.push(comp);
            }
            Err(e) => sbom.quirks.push(format!("{at}.purl: {e}")),
        },
        None => {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
            sbom.quirks.push(format!("{at} ({name}) has no purl: not matched"));
        }
    }
    if let Some(children) = c.get("components").and_then(Value::as_array) {
        for (i, child) in children.iter().enumerate() {
            walk_cdx(child, &format!("{at}.components[{i}]"), sbom);
        }
    }
}

/// CycloneDX `licenses`: `{license: {id}}`, `{license: {name}}` or `{expression}`.
fn cdx_licenses(c: &Value) -> Vec<String> {
    c.get("licenses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| {
            l.pointer("/license/id")
                .or_else(|| l.pointer("/license/name"))
                .or_else(|| l.get("expression"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

/// SPDX `licenseConcluded`, else `licenseDeclared` (NOASSERTION and NONE say nothing).
fn spdx_licenses(p: &Value) -> Vec<String> {
    ["licenseConcluded", "licenseDeclared"]
        .iter()
        .filter_map(|k| p.get(*k).and_then(Value::as_str))
        .find(|l| !matches!(*l, "NOASSERTION" | "NONE" | ""))
        .map(|l| vec![l.to_string()])
        .unwrap_or_default()
}

fn spdx(doc: &Value) -> Sbom {
    let version = doc.get("spdxVersion").and_then(Value::as_str).unwrap_or("?");
    let mut sbom = Sbom {
        format: version.to_string(),
        ..Sbom::default()
    };
    if let Some(created) = doc.pointer("/creationInfo/created").and_then(Value::as_str)
        && created.contains('.')
    {
        sbom.quirks.push(format!(
            "creationInfo.created {created:?} has fractional seconds (not allowed by SPDX 2.3; tolerated)"
        ));
    }
    for (i, p) in doc
        .get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let purls: Vec<&str> = p
            .get("externalRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| r.get("referenceType").and_then(Value::as_str) == Some("purl"))
            .filter_map(|r| r.get("referenceLocator").and_then(Value::as_str))
            .collect();
        if purls.is_empty() {
            let name = p.get("name").and_then(Value::as_str).unwrap_or("?");
            sbom.quirks.push(format!(
                "packages[{i}] ({name}) has no purl external reference: not matched"
            ));
        }
        for purl in purls {
            match component(purl) {
                Ok(mut c) => {
                    c.licenses = spdx_licenses(p);
                    sbom.components.push(c);
                }
                Err(e) => sbom.quirks.push(format!("packages[{i}].externalRefs purl: {e}")),
            }
        }
    }
    sbom
}

/// The OSV ecosystem of a purl type.
pub fn ecosystem(purl_type: &str) -> Option<&'static str> {
    Some(match purl_type {
        "pypi" => "PyPI",
        "npm" => "npm",
        "cargo" => "crates.io",
        "maven" => "Maven",
        "golang" => "Go",
        "gem" => "RubyGems",
        "nuget" => "NuGet",
        "composer" => "Packagist",
        "hex" => "Hex",
        "pub" => "Pub",
        _ => return None,
    })
}

/// PEP 503: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The name OSV uses for a package in an ecosystem.
pub fn osv_name(ecosystem: &str, name: &str) -> String {
    match ecosystem {
        "PyPI" => pep503(name),
        _ => name.to_string(),
    }
}

/// A component from a purl string.
pub fn component(purl: &str) -> std::result::Result<Component, String> {
    let p: packageurl::PackageUrl<'_> = purl
        .parse()
        .map_err(|e| format!("{purl:?} is not a package URL ({e})"))?;
    let version = p
        .version()
        .ok_or_else(|| format!("{purl:?} has no version"))?
        .to_string();
    let ty = p.ty().to_string();
    let eco = ecosystem(&ty);
    let full_name = match (ty.as_str(), p.namespace()) {
        ("npm", Some(ns)) => format!("{ns}/{}", p.name()),
        ("maven", Some(ns)) => format!("{ns}:{}", p.name()),
        (_, Some(ns)) => format!("{ns}/{}", p.name()),
        (_, None) => p.name().to_string(),
    };
    let name = eco.map_or_else(|| full_name.clone(), |e| osv_name(e, &full_name));
    let ns = p
        .namespace()
        .map(|n| format!("{}/", n.replace('@', "%40")))
        .unwrap_or_default();
    let purl_name = if ty == "pypi" {
        pep503(p.name())
    } else {
        p.name().to_string()
    };
    Ok(Component {
        purl: format!("pkg:{ty}/{ns}{purl_name}@{version}"),
        ecosystem: eco.map(str::to_string),
        name,
        version,
        licenses: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503_normalises_case_and_separators() {
        assert_eq!(pep503("Jinja2"), "jinja2");
        assert_eq!(pep503("zope.interface"), "zope-interface");
        assert_eq!(pep503("Foo__Bar-.baz"), "foo-bar-baz");
    }

    #[test]
    fn purls_become_components() {
        let c = component("pkg:pypi/Jinja2@2.10").unwrap();
        assert_eq!(
            (c.ecosystem.as_deref(), c.name.as_str(), c.version.as_str()),
            (Some("PyPI"), "jinja2", "2.10")
        );
        assert_eq!(c.purl, "pkg:pypi/jinja2@2.10");
        let c = component("pkg:npm/%40babel/core@7.0.0").unwrap();
        assert_eq!(c.name, "@babel/core");
        let c = component("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar").unwrap();
        assert_eq!(
            (c.name.as_str(), c.purl.as_str()),
            (
                "org.apache.logging.log4j:log4j-core",
                "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
            )
        );
        assert!(component("pkg:npm/left-pad").unwrap_err().contains("no version"));
        assert!(component("not a purl").is_err());
    }

    #[test]
    fn nested_cyclonedx_and_spdx_agree() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/shared/sbom/npm");
        let read = |f: &str| parse(f, &std::fs::read(format!("{dir}/{f}")).unwrap()).unwrap();
        let nested = read("npm-project.cdx-1.6.json");
        let flat = read("npm-project.cdx-1.5.flat.json");
        let spdx = read("npm-project.spdx-2.3.json");
        // The formats state licences differently (CycloneDX ids, SPDX concluded/declared): compare identities.
        let ids = |s: &Sbom| -> Vec<(String, String)> {
            s.components.iter().map(|c| (c.purl.clone(), c.name.clone())).collect()
        };
        assert_eq!(ids(&nested), ids(&flat));
        assert_eq!(ids(&nested), ids(&spdx));
        for sbom in [&nested, &spdx] {
            assert!(
                sbom.components.iter().any(|c| !c.licenses.is_empty()),
                "{}: no licence read",
                sbom.format
            );
        }
        assert!(
            spdx.quirks.iter().any(|q| q.contains("fractional seconds")),
            "{:?}",
            spdx.quirks
        );
        assert!(
            parse("x.json", b"{\"hello\": 1}")
                .unwrap_err()
                .to_string()
                .contains("x.json")
        );
    }
}
