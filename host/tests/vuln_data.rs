//! SBOM matching against the real advisories in tests/data/shared/osv, exactly
//! as tests/data/shared/expected says, and the traps the data README lists.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use std::collections::BTreeSet;
use std::path::Path;

use gatehouse::sbom::{self, Component};
use gatehouse::vuln::{self, Index};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/shared");

fn index() -> Index {
    let loaded = gatehouse::feed::load_path(&Path::new(DATA).join("osv")).unwrap();
    assert!(loaded.advisories.len() > 200, "{}", loaded.advisories.len());
    Index::new(loaded.advisories)
}

fn pairs(index: &Index, sbom_file: &str) -> BTreeSet<(String, String)> {
    let bytes = std::fs::read(Path::new(DATA).join("sbom").join(sbom_file)).unwrap();
    let doc = sbom::parse(sbom_file, &bytes).unwrap();
    index
        .matches(&doc.components)
        .into_iter()
        .map(|m| (m.purl, m.advisory))
        .collect()
}

fn expected(name: &str) -> BTreeSet<(String, String)> {
    std::fs::read_to_string(Path::new(DATA).join("expected").join(format!("{name}.pairs.tsv")))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (p, a) = l.split_once('\t').unwrap();
            (p.to_string(), a.to_string())
        })
        .collect()
}

#[test]
fn every_sbom_matches_exactly_the_expected_pairs() {
    let index = index();
    for (file, name) in [
        ("python/python-env.cdx-1.6.json", "python-env.cdx-1.6"),
        ("python/python-env.cdx-1.5.json", "python-env.cdx-1.5"),
        ("npm/npm-project.cdx-1.6.json", "npm-project.cdx-1.6"),
        ("npm/npm-project.cdx-1.5.flat.json", "npm-project.cdx-1.5.flat"),
        ("npm/npm-project.spdx-2.3.json", "npm-project.spdx-2.3"),
    ] {
        let got = pairs(&index, file);
        let want = expected(name);
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{file}: missing {missing:?}, extra {extra:?}"
        );
    }
}

fn one(purl: &str) -> Vec<Component> {
    vec![sbom::component(purl).unwrap()]
}

fn ids(index: &Index, purl: &str) -> BTreeSet<String> {
    index.matches(&one(purl)).into_iter().map(|m| m.advisory).collect()
}

#[test]
fn withdrawn_advisories_never_match() {
    let index = index();
    // PYSEC-2023-141 (pynetbox) is withdrawn; it lists 2.0.1 as affected.
    assert!(!ids(&index, "pkg:pypi/pynetbox@2.0.1").contains("PYSEC-2023-141"));
}

#[test]
fn pypi_names_are_pep503_normalised_and_versions_compared_by_pep440() {
    let index = index();
    let upper = ids(&index, "pkg:pypi/Jinja2@2.10");
    assert!(upper.contains("PYSEC-2019-217"), "{upper:?}");
    assert_eq!(upper, ids(&index, "pkg:pypi/jinja2@2.10"));
    assert_eq!(
        ids(&index, "pkg:pypi/django@3.2"),
        ids(&index, "pkg:pypi/django@3.2.0"),
        "3.2 == 3.2.0"
    );
}

#[test]
fn git_ranges_are_ignored_and_one_advisory_is_reported_once_per_component() {
    let index = index();
    // GHSA-9wv6-86v2-598j lists path-to-regexp in three affected entries.
    let m: Vec<_> = index
        .matches(&one("pkg:npm/path-to-regexp@0.1.7"))
        .into_iter()
        .filter(|m| m.advisory == "GHSA-9wv6-86v2-598j")
        .collect();
    assert_eq!(m.len(), 1);
    // PYSEC-2015-17 (requests) has a GIT range beside its ECOSYSTEM one: the GIT one does nothing.
    let a = vuln::parse_advisory(
        "PYSEC-2015-17",
        &std::fs::read(Path::new(DATA).join("osv/pypa/PYSEC-2015-17.json")).unwrap(),
    )
    .unwrap();
    assert!(a.affected.iter().all(|x| x.ranges.iter().all(|r| r.kind != "GIT")));
}

#[test]
fn alias_duplicates_are_both_reported_with_their_aliases() {
    let index = index();
    let m = index.matches(&one("pkg:pypi/jinja2@2.10"));
    let ghsa = m.iter().find(|m| m.advisory == "GHSA-462w-v97r-4m45").unwrap();
    let pysec = m.iter().find(|m| m.advisory == "PYSEC-2019-217").unwrap();
    assert!(
        ghsa.aliases.iter().any(|a| a == "CVE-2019-10906") && pysec.aliases.iter().any(|a| a == "CVE-2019-10906"),
        "{ghsa:?} {pysec:?}"
    );
}

#[test]
fn a_bad_advisory_is_reported_and_the_rest_still_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(DATA).join("osv/ghsa/GHSA-29mw-wpgm-hmr9.json"),
        dir.path().join("good.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.json"), "{ not json").unwrap();
    std::fs::write(dir.path().join("noid.json"), r#"{"modified": "2020-01-01T00:00:00Z"}"#).unwrap();
    let loaded = gatehouse::feed::load_path(dir.path()).unwrap();
    assert_eq!(loaded.advisories.len(), 1);
    assert_eq!(loaded.rejected.len(), 2);
    assert!(
        loaded
            .rejected
            .iter()
            .any(|(f, r)| f.ends_with("noid.json") && r.contains("`id`")),
        "{:?}",
        loaded.rejected
    );
    assert!(
        loaded
            .rejected
            .iter()
            .any(|(f, r)| f.ends_with("broken.json") && r.contains("JSON"))
    );
}

#[test]
fn a_zip_dump_loads_like_a_directory_and_alias_twins_group() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("PyPI.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    for f in [
        "pypa/PYSEC-2019-217.json",
        "ghsa/GHSA-462w-v97r-4m45.json",
        "pypa/PYSEC-2021-66.json",
    ] {
        let name = f.rsplit('/').next().unwrap();
        zip.start_file(name, options).unwrap();
        zip.write_all(&std::fs::read(Path::new(DATA).join("osv").join(f)).unwrap())
            .unwrap();
    }
    zip.start_file("README.txt", options).unwrap();
    zip.write_all(b"not an advisory").unwrap();
    zip.finish().unwrap();
    let loaded = gatehouse::feed::load_path(&zip_path).unwrap();
    assert_eq!(loaded.advisories.len(), 3);
    assert!(loaded.rejected.is_empty());
    let index = Index::new(loaded.advisories);
    let m = index.matches(&one("pkg:pypi/jinja2@2.10"));
    assert_eq!(m.len(), 3);
    let groups = vuln::alias_groups(&m);
    assert!(
        groups.contains(&vec!["GHSA-462w-v97r-4m45".to_string(), "PYSEC-2019-217".to_string()]),
        "{groups:?}"
    );
}

#[test]
fn an_advisory_rated_only_by_a_cvss_v4_vector_has_a_severity() {
    // RUSTSEC-2026-0009 carries one CVSS:4.0 vector and no rating of its own;
    // a v3-only scorer left it unrated, so no severity-based policy saw it.
    let path = Path::new(DATA).join("osv/rustsec/RUSTSEC-2026-0009.json");
    let a = vuln::parse_advisory("RUSTSEC-2026-0009.json", &std::fs::read(path).unwrap()).unwrap();
    let score = vuln::cvss_base_score("CVSS:4.0/AV:N/AC:H/AT:N/PR:L/UI:A/VC:N/VI:N/VA:H/SC:N/SI:N/SA:H").unwrap();
    assert_eq!(a.severity.as_deref(), Some("medium"), "score {score}");
}

#[test]
fn a_portfolio_matched_at_once_gets_each_versions_own_matches_in_order() {
    let index = index();
    let sboms: Vec<Vec<Component>> = [
        "python/python-env.cdx-1.6.json",
        "python/python-env.cdx-1.5.json",
        "npm/npm-project.cdx-1.6.json",
        "npm/npm-project.cdx-1.5.flat.json",
        "npm/npm-project.spdx-2.3.json",
    ]
    .iter()
    .map(|f| {
        let bytes = std::fs::read(Path::new(DATA).join("sbom").join(f)).unwrap();
        sbom::parse(f, &bytes).unwrap().components
    })
    .collect();
    // Versions that share package versions (as a portfolio's do), in pieces
    // and whole, more of them than cores, and one with no components.
    let mut versions: Vec<Vec<Component>> = Vec::new();
    for (n, comps) in sboms.iter().cycle().take(23).enumerate() {
        versions.push(comps.iter().skip(n % 4).step_by(1 + n % 3).cloned().collect());
    }
    versions.push(Vec::new());
    let slices: Vec<&[Component]> = versions.iter().map(Vec::as_slice).collect();
    let at_once = index.matches_each(&slices);
    assert_eq!(at_once.len(), versions.len());
    let mut any = 0;
    for (comps, got) in versions.iter().zip(&at_once) {
        assert_eq!(got, &index.matches(comps));
        any += got.len();
    }
    assert!(any > 100, "the portfolio has matches to compare: {any}");
}

/// The sidecar's path: SBOMs attached to versions of a store that holds no
/// advisory, then the real OSV documents imported. Each version gets exactly
/// its expected pairs, a version shipping nothing affected gets none, and
/// the log lists each affected package version with its advisories.
#[test]
fn an_advisory_import_finds_exactly_the_expected_pairs_on_stored_versions() {
    use gatehouse::error::parse_input;
    use gatehouse::store::EventFilter;
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let gh = gatehouse::Gatehouse::open(dir.path()).unwrap();
    gh.create_application("t", parse_input("application", json!({ "key": "svc" })).unwrap())
        .unwrap();
    let sboms = [
        ("python/python-env.cdx-1.6.json", "python-env.cdx-1.6"),
        ("python/python-env.cdx-1.5.json", "python-env.cdx-1.5"),
        ("npm/npm-project.cdx-1.6.json", "npm-project.cdx-1.6"),
        ("npm/npm-project.cdx-1.5.flat.json", "npm-project.cdx-1.5.flat"),
        ("npm/npm-project.spdx-2.3.json", "npm-project.spdx-2.3"),
    ];
    for (n, (file, _)) in sboms.iter().enumerate() {
        let version = format!("1.0.{n}");
        gh.create_version(
            "t",
            "svc",
            parse_input("version", json!({ "version": version })).unwrap(),
        )
        .unwrap();
        let bytes = std::fs::read(Path::new(DATA).join("sbom").join(file)).unwrap();
        let attached = gh.attach_sbom("t", "svc", &version, file, &bytes).unwrap();
        assert!(attached.findings.is_empty(), "no advisory is stored yet");
    }
    // A version whose only component is a package some advisory names, at a
    // version none affects.
    gh.create_version(
        "t",
        "svc",
        parse_input("version", json!({ "version": "2.0.0" })).unwrap(),
    )
    .unwrap();
    let safe = json!({ "bomFormat": "CycloneDX", "specVersion": "1.6", "components": [
        { "type": "library", "name": "jinja2", "version": "99.0", "purl": "pkg:pypi/jinja2@99.0" } ] });
    gh.attach_sbom("t", "svc", "2.0.0", "safe.cdx.json", safe.to_string().as_bytes())
        .unwrap();

    let docs = gatehouse::feed::read_documents(&Path::new(DATA).join("osv")).unwrap();
    let report = gh.import_advisories("t", docs.clone()).unwrap();
    assert!(report.new.len() > 200, "{}", report.new.len());
    for (n, (_, name)) in sboms.iter().enumerate() {
        let version = format!("1.0.{n}");
        let stored: BTreeSet<(String, String)> = gh
            .findings("svc", &version)
            .unwrap()
            .into_iter()
            .map(|f| (f.purl, f.advisory))
            .collect();
        let want = expected(name);
        assert_eq!(stored, want, "{name}");
    }
    // The log keeps what the import decided: each affected package version
    // with its advisory (a version's findings follow from its components).
    let events = gh
        .activity(EventFilter {
            action: Some("vuln.packages_affected".into()),
            limit: 100,
            ..EventFilter::default()
        })
        .unwrap();
    let listed: BTreeSet<(String, String)> = events
        .iter()
        .flat_map(|e| e.details["new"].as_array().unwrap().iter())
        .map(|p| (p[2].as_str().unwrap().to_string(), p[3].as_str().unwrap().to_string()))
        .collect();
    let want: BTreeSet<(String, String)> = sboms
        .iter()
        .flat_map(|(_, name)| expected(name))
        .map(|(purl, advisory)| (purl.rsplit_once('@').unwrap().1.to_string(), advisory))
        .collect();
    assert_eq!(listed, want, "the events list each package version's advisories");
    let pairs: usize = events.iter().map(|e| e.details["new"].as_array().unwrap().len()).sum();
    assert_eq!(pairs, report.package_findings);
    for (n, _) in sboms.iter().enumerate() {
        let none = gh
            .activity(EventFilter {
                version: Some(format!("1.0.{n}")),
                action: Some("vuln.findings".into()),
                limit: 100,
                ..EventFilter::default()
            })
            .unwrap();
        assert!(
            none.is_empty(),
            "an import logs package versions, not each version's findings"
        );
    }
    assert!(gh.findings("svc", "2.0.0").unwrap().is_empty());
    let reported: usize = sboms.iter().map(|(_, name)| expected(name).len()).sum();
    assert_eq!(report.new_findings_count, reported);
    assert_eq!(
        report.new_findings.len(),
        reported.min(gatehouse::service::NEW_FINDINGS_SHOWN)
    );
    assert_eq!(report.versions_affected, sboms.len());

    // The same feed again changes nothing and logs no findings.
    let again = gh.import_advisories("t", docs).unwrap();
    assert!(again.new.is_empty() && again.new_findings.is_empty() && again.new_findings_count == 0);
    assert_eq!(again.unchanged, report.new.len());
}

/// One package version shipped by several versions is one stored package
/// finding, yet a finding of each version; a version attached after the
/// import gets the findings as new, found when its components arrived, with
/// its own `vuln.findings` event.
#[test]
fn a_package_finding_reaches_every_version_that_ships_the_package() {
    use gatehouse::error::parse_input;
    use gatehouse::store::EventFilter;
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let gh = gatehouse::Gatehouse::open(dir.path()).unwrap();
    gh.create_application("t", parse_input("application", json!({ "key": "svc" })).unwrap())
        .unwrap();
    let sbom = json!({ "bomFormat": "CycloneDX", "specVersion": "1.6", "components": [
        { "type": "library", "name": "jinja2", "version": "2.10", "purl": "pkg:pypi/jinja2@2.10" },
        { "type": "library", "name": "jinja2", "version": "2.10.1", "purl": "pkg:pypi/jinja2@2.10.1" } ] })
    .to_string();
    let attach = |v: &str, sbom: &str| {
        gh.create_version("t", "svc", parse_input("version", json!({ "version": v })).unwrap())
            .unwrap();
        gh.attach_sbom("t", "svc", v, "jinja.cdx.json", sbom.as_bytes())
            .unwrap()
    };
    for v in ["1.0.0", "1.0.1", "1.0.2"] {
        attach(v, &sbom);
    }
    let doc = std::fs::read(Path::new(DATA).join("osv/pypa/PYSEC-2019-217.json")).unwrap();
    let report = gh
        .import_advisories("t", vec![("PYSEC-2019-217.json".into(), doc)])
        .unwrap();
    assert_eq!(report.package_findings, 1, "one package version, one advisory");
    assert_eq!((report.new_findings_count, report.versions_affected), (3, 3));
    for v in ["1.0.0", "1.0.1", "1.0.2"] {
        let f = gh.findings("svc", v).unwrap();
        let pairs: Vec<(&str, &str)> = f.iter().map(|f| (f.purl.as_str(), f.advisory.as_str())).collect();
        assert_eq!(pairs, [("pkg:pypi/jinja2@2.10", "PYSEC-2019-217")], "{v}");
    }
    let first_found = gh.findings("svc", "1.0.0").unwrap()[0].found_at.clone();

    // A version attached later: its finding is new to it, found when it arrived.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let attached = attach("1.1.0", &sbom);
    let later = gh.findings("svc", "1.1.0").unwrap();
    assert_eq!(attached.findings, later, "the upload answers what the store then reads");
    assert_eq!(later.len(), 1);
    assert!(
        later[0].found_at > first_found,
        "{} vs {first_found}",
        later[0].found_at
    );
    let events = gh
        .activity(EventFilter {
            version: Some("1.1.0".into()),
            action: Some("vuln.findings".into()),
            limit: 10,
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].details["new"],
        json!([["pkg:pypi/jinja2@2.10", "PYSEC-2019-217"]])
    );
    // The same SBOM again finds nothing new.
    let again = gh.attach_sbom("t", "svc", "1.1.0", "jinja.cdx.json", sbom.as_bytes());
    assert!(again.unwrap().findings.is_empty());
}

/// An import's answer stays bounded however many findings it makes: the
/// first ones in order, the count whole.
#[test]
fn an_import_answer_lists_a_bounded_number_of_findings_and_counts_them_all() {
    use gatehouse::error::parse_input;
    use gatehouse::service::NEW_FINDINGS_SHOWN;
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let gh = gatehouse::Gatehouse::open(dir.path()).unwrap();
    gh.create_application("t", parse_input("application", json!({ "key": "svc" })).unwrap())
        .unwrap();
    gh.create_version(
        "t",
        "svc",
        parse_input("version", json!({ "version": "1.0.0" })).unwrap(),
    )
    .unwrap();
    let many = NEW_FINDINGS_SHOWN + 200;
    let names: Vec<String> = (0..many).map(|i| format!("pkg{i:04}")).collect();
    let components: Vec<serde_json::Value> = names
        .iter()
        .map(|n| json!({ "type": "library", "name": n, "version": "1.0", "purl": format!("pkg:pypi/{n}@1.0") }))
        .collect();
    let sbom = json!({ "bomFormat": "CycloneDX", "specVersion": "1.6", "components": components }).to_string();
    gh.attach_sbom("t", "svc", "1.0.0", "many.cdx.json", sbom.as_bytes())
        .unwrap();
    let affected: Vec<serde_json::Value> = names
        .iter()
        .map(|n| json!({ "package": { "ecosystem": "PyPI", "name": n }, "versions": ["1.0"] }))
        .collect();
    let advisory = json!({ "id": "TEST-2026-1", "modified": "2026-12-01T00:00:00Z", "affected": affected });
    let report = gh
        .import_advisories(
            "t",
            vec![("TEST-2026-1.json".into(), advisory.to_string().into_bytes())],
        )
        .unwrap();
    assert_eq!((report.new_findings_count, report.package_findings), (many, many));
    assert_eq!(report.new_findings.len(), NEW_FINDINGS_SHOWN, "the answer is bounded");
    let shown: Vec<String> = report.new_findings.iter().map(|f| f.purl.clone()).collect();
    let first: Vec<String> = names
        .iter()
        .take(NEW_FINDINGS_SHOWN)
        .map(|n| format!("pkg:pypi/{n}@1.0"))
        .collect();
    assert_eq!(shown, first, "the first ones, in order");
    assert_eq!(gh.findings("svc", "1.0.0").unwrap().len(), many, "every one is stored");
}

/// An SBOM upload matches the advisories naming its packages, as each one
/// reads now: an advisory updated to name another package no longer
/// matches an upload of the first.
#[test]
fn an_upload_matches_the_advisories_naming_its_packages_as_last_imported() {
    use gatehouse::error::parse_input;
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let gh = gatehouse::Gatehouse::open(dir.path()).unwrap();
    gh.create_application("t", parse_input("application", json!({ "key": "svc" })).unwrap())
        .unwrap();
    let sbom = json!({ "bomFormat": "CycloneDX", "specVersion": "1.6", "components": [
        { "type": "library", "name": "jinja2", "version": "2.10", "purl": "pkg:pypi/jinja2@2.10" } ] })
    .to_string();
    let upload = |v: &str| {
        gh.create_version("t", "svc", parse_input("version", json!({ "version": v })).unwrap())
            .unwrap();
        let found = gh
            .attach_sbom("t", "svc", v, "jinja.cdx.json", sbom.as_bytes())
            .unwrap()
            .findings;
        found.into_iter().map(|f| f.advisory).collect::<Vec<_>>()
    };
    let text = std::fs::read_to_string(Path::new(DATA).join("osv/pypa/PYSEC-2019-217.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let import = |doc: &serde_json::Value| {
        gh.import_advisories("t", vec![("a.json".into(), doc.to_string().into_bytes())])
            .unwrap()
    };
    let names = |doc: &mut serde_json::Value, package: &str, modified: &str| {
        doc["modified"] = json!(modified);
        doc["affected"][0]["package"]["name"] = json!(package);
        doc["affected"][0]["package"]["purl"] = json!(format!("pkg:pypi/{package}"));
    };
    names(&mut doc, "flask", "2026-12-01T00:00:00Z");
    import(&doc);
    assert!(upload("1.0.0").is_empty(), "the advisory names flask");
    // Updated to name jinja2: a new upload finds it.
    names(&mut doc, "jinja2", "2026-12-02T00:00:00Z");
    assert_eq!(import(&doc).updated, ["PYSEC-2019-217"]);
    assert_eq!(upload("1.1.0"), ["PYSEC-2019-217"]);
    // And back to flask: no longer.
    names(&mut doc, "flask", "2026-12-03T00:00:00Z");
    assert_eq!(import(&doc).updated, ["PYSEC-2019-217"]);
    assert!(upload("1.2.0").is_empty(), "the advisory no longer names jinja2");
    assert!(
        gh.findings("svc", "1.1.0").unwrap().is_empty(),
        "and its old findings went"
    );
}
