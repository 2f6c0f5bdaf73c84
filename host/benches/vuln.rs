//! Matching at scale: 1,000 (and 10,000) versions × 300 components against
//! 50,000 advisories synthesised from the real ones by renaming, in memory;
//! one new advisory's blast radius over the same components; and the
//! sidecar's whole path at a tenth of the size and at the goal's —
//! importing the 50,000 OSV documents into a store holding 1,000 (10,000)
//! versions' components, re-matching and writing the findings with their events.
//!
//!     cargo bench -p gatehouse-host --bench vuln

#![allow(clippy::indexing_slicing)] // bench setup over data it just built

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gatehouse::sbom::Component;
use gatehouse::vuln::{self, Advisory, Index};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/shared");

fn renamed(a: &Advisory, k: usize) -> Advisory {
    let mut b = a.clone();
    b.id = format!("{}-{k}", a.id);
    for x in &mut b.affected {
        x.name = format!("{}-{k}", x.name);
    }
    b
}

fn benches(c: &mut Criterion) {
    let real: Vec<Advisory> = gatehouse::feed::load_path(&Path::new(DATA).join("osv"))
        .expect("advisories")
        .advisories;
    let copies = 50_000 / real.len() + 1;
    let advisories: Vec<Advisory> = (0..copies)
        .flat_map(|k| real.iter().map(move |a| renamed(a, k)))
        .take(50_000)
        .collect();
    // Components: the real affected packages (renamed like the advisories); one in
    // twenty at a vulnerable version (an `introduced` one), the rest at a newer one.
    let mut pool: Vec<Component> = Vec::new();
    for (n, a) in advisories.iter().take(20_000).enumerate() {
        for x in &a.affected {
            let vulnerable = x
                .ranges
                .iter()
                .flat_map(|r| r.events.iter())
                .find_map(|e| match e {
                    vuln::Event::Introduced(v) if v != "0" => Some(v.clone()),
                    _ => None,
                })
                .or_else(|| x.versions.first().cloned())
                .unwrap_or_else(|| "1.0.0".to_string());
            let version = if n % 20 == 0 {
                vulnerable
            } else {
                "9999.0.0".to_string()
            };
            pool.push(Component {
                purl: format!("pkg:x/{}@{version}", x.name),
                ecosystem: Some(x.ecosystem.clone()),
                name: x.name.clone(),
                version,
                licenses: Vec::new(),
            });
        }
    }
    // 1,000 versions keep a run of this bench within minutes; matching is
    // linear in components, and docs/benchmarks.md scales it to the 10,000 of the goal.
    let portfolio = |n: usize| -> Vec<Vec<Component>> {
        (0..n)
            .map(|v| {
                (0..300)
                    .map(|i| pool[(v * 7919 + i * 104_729) % pool.len()].clone())
                    .collect()
            })
            .collect()
    };
    let versions = portfolio(1_000);
    let index = Index::new(advisories.clone());

    let mut group = c.benchmark_group("vuln");
    group.sample_size(10);
    group.bench_function("rematch_1k_versions_x_300_components_vs_50k_advisories", |b| {
        b.iter(|| versions.iter().map(|comps| index.matches(comps).len()).sum::<usize>())
    });
    // The same portfolio at once: each package version decided once, the
    // versions split over the cores (what the sidecar runs after an import).
    let slices: Vec<&[Component]> = versions.iter().map(Vec::as_slice).collect();
    assert_eq!(
        index.matches_each(&slices).iter().map(Vec::len).sum::<usize>(),
        versions.iter().map(|comps| index.matches(comps).len()).sum::<usize>(),
        "both paths find the same matches"
    );
    group.bench_function(
        "rematch_portfolio_1k_versions_x_300_components_vs_50k_advisories",
        |b| b.iter(|| index.matches_each(&slices).iter().map(Vec::len).sum::<usize>()),
    );
    // The size, drawn the same way: 3,000,000 components.
    let versions_10k = portfolio(10_000);
    let ten_k: Vec<&[Component]> = versions_10k.iter().map(Vec::as_slice).collect();
    let distinct: std::collections::BTreeSet<(&str, &str)> = versions_10k
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.version.as_str()))
        .collect();
    eprintln!(
        "portfolio: {} components, {} distinct package versions",
        versions_10k.len() * 300,
        distinct.len()
    );
    group.bench_function(
        "rematch_portfolio_10k_versions_x_300_components_vs_50k_advisories",
        |b| b.iter(|| index.matches_each(&ten_k).iter().map(Vec::len).sum::<usize>()),
    );

    // Blast radius of one new advisory: look its packages up in a component index.
    let mut by_package: BTreeMap<(&str, &str), Vec<(usize, &Component)>> = BTreeMap::new();
    for (v, comps) in versions.iter().enumerate() {
        for comp in comps {
            if let Some(eco) = &comp.ecosystem {
                by_package
                    .entry((eco.as_str(), comp.name.as_str()))
                    .or_default()
                    .push((v, comp));
            }
        }
    }
    let new = advisories[123].clone();
    group.sample_size(50);
    group.bench_function("blast_radius_of_one_new_advisory", |b| {
        b.iter(|| {
            let mut hits = 0;
            for x in &new.affected {
                for (_, comp) in by_package
                    .get(&(x.ecosystem.as_str(), x.name.as_str()))
                    .into_iter()
                    .flatten()
                {
                    if vuln::affects(&new, &x.ecosystem, &comp.name, &comp.version).is_some() {
                        hits += 1;
                    }
                }
            }
            black_box(hits)
        })
    });

    // The sidecar's path: OSV documents renamed as the advisories above were.
    let raw: Vec<(String, serde_json::Value)> = gatehouse::feed::read_documents(&Path::new(DATA).join("osv"))
        .expect("documents")
        .into_iter()
        .filter(|(name, bytes)| vuln::parse_advisory(name, bytes).is_ok())
        .map(|(name, bytes)| (name, serde_json::from_slice(&bytes).expect("json")))
        .collect();
    assert_eq!(raw.len(), real.len());
    let docs: Vec<(String, Vec<u8>)> = (0..copies)
        .flat_map(|k| raw.iter().map(move |(name, doc)| (k, name, doc)))
        .take(50_000)
        .map(|(k, name, doc)| {
            let mut doc = doc.clone();
            doc["id"] = format!("{}-{k}", doc["id"].as_str().unwrap_or_default()).into();
            for x in doc["affected"].as_array_mut().into_iter().flatten() {
                let renamed = format!("{}-{k}", x["package"]["name"].as_str().unwrap_or_default());
                x["package"]["name"] = renamed.into();
            }
            (format!("{k}/{name}"), serde_json::to_vec(&doc).expect("encode"))
        })
        .collect();
    group.sample_size(10);
    group.bench_function("parse_50k_osv_documents", |b| {
        b.iter(|| {
            docs.iter()
                .filter(|(name, bytes)| vuln::parse_advisory(name, bytes).is_ok())
                .count()
        })
    });
    // At a tenth of the goal's size, then at the goal's (the seeded store of
    // 10,000 versions takes about a minute to build).
    for (name, portfolio) in [
        (
            "sidecar_import_50k_advisories_into_1k_versions_x_300_components",
            &versions,
        ),
        (
            "sidecar_import_50k_advisories_into_10k_versions_x_300_components",
            &versions_10k,
        ),
    ] {
        let seeded = seed_store(portfolio);
        let mut findings = 0;
        let mut package_findings = 0;
        let mut last: Option<(tempfile::TempDir, gatehouse::Gatehouse)> = None;
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("temp dir");
                    copy_dir(seeded.path(), dir.path());
                    let gh = gatehouse::Gatehouse::open(dir.path()).expect("open");
                    (dir, gh, docs.clone())
                },
                |(dir, gh, docs)| {
                    let report = gh.import_advisories("bench", docs).expect("import");
                    findings = report.new_findings_count;
                    package_findings = report.package_findings;
                    last = Some((dir, gh));
                },
                BatchSize::PerIteration,
            )
        });
        // Filtered out: nothing to check.
        let Some((_dir, gh)) = last.take() else { continue };
        let slices: Vec<&[Component]> = portfolio.iter().map(Vec::as_slice).collect();
        let each = index.matches_each(&slices);
        let expected: usize = each.iter().map(Vec::len).sum();
        assert_eq!(findings, expected, "the sidecar found what the matcher finds");
        eprintln!("{name}: {findings} findings, stored as {package_findings} package findings");
        // What a version's findings read back as (the gate document reads
        // them on every promotion): exactly the matcher's, then timed.
        for (v, want) in each.iter().enumerate().step_by(97) {
            let got: Vec<(String, String)> = gh
                .findings("portfolio", &format!("1.0.{v}"))
                .expect("findings")
                .into_iter()
                .map(|f| (f.purl, f.advisory))
                .collect();
            let want: Vec<(String, String)> = want.iter().map(|m| (m.purl.clone(), m.advisory.clone())).collect();
            assert_eq!(got, want, "version 1.0.{v} reads back the matcher's findings");
        }
        let read = format!(
            "findings_of_one_version_{}",
            name.trim_start_matches("sidecar_import_50k_advisories_into_")
        );
        group.bench_function(read, |b| {
            b.iter(|| gh.findings("portfolio", "1.0.7").expect("findings").len())
        });
    }
    group.finish();
}

/// A data directory holding 1,000 versions of one application, each with its
/// 300 components (as an SBOM attached to it would leave them), and no advisory.
fn seed_store(versions: &[Vec<Component>]) -> tempfile::TempDir {
    use gatehouse::error::parse_input;
    use gatehouse::store::Store;
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let gh = gatehouse::Gatehouse::open(dir.path()).expect("open");
        let app = parse_input("application", serde_json::json!({ "key": "portfolio" })).expect("input");
        gh.create_application("bench", app).expect("application");
        for v in 0..versions.len() {
            let input = parse_input("version", serde_json::json!({ "version": format!("1.0.{v}") })).expect("input");
            gh.create_version("bench", "portfolio", input).expect("version");
        }
    }
    let store = gatehouse::store::SqliteStore::open(dir.path()).expect("store");
    for (v, comps) in versions.iter().enumerate() {
        let event = gatehouse::audit::NewEvent {
            actor: "bench".into(),
            action: "sbom.attach".into(),
            subject: format!("version:portfolio@1.0.{v}"),
            application: Some("portfolio".into()),
            version: Some(format!("1.0.{v}")),
            result: gatehouse::audit::EventResult::Success,
            details: serde_json::json!({ "components": comps.len() }),
        };
        store
            .put_components("portfolio", &format!("1.0.{v}"), comps, event)
            .expect("components");
    }
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

criterion_group!(vuln_benches, benches);
criterion_main!(vuln_benches);
