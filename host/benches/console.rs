//! The web console's pages with 1,000 applications × 20 versions in the
//! store (issue #21: each page under 100 ms of server time). Each iteration
//! is one GET of a page in-process, as the sidecar answers it after reading
//! the request: the token check, the API calls the page makes (held to the
//! token's role), the store's reads and the HTML (`gatehouse::api::console::render`).
//! No HTTP: loopback adds the same few tens of µs to every page.
//!
//!     cargo bench -p gatehouse-host --bench console
//!
//! The store: applications `app-0000` … `app-0999` in ten projects, each with
//! versions `1.0.0` … `1.0.19`; one version of every application carries an
//! SBOM (18 Python components) that one advisory affects, so the blast radius
//! spans 1,000 versions; `app-0000@1.0.19` climbed every stage through a
//! blocking gate with a waiver and was released (the version and record
//! pages). Seeding takes a minute or two (a commit, with `fsync`, per write).

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse::access::Role;
use gatehouse::error::parse_input;
use gatehouse::service::{Gatehouse, PromoteRequest, ReleaseRequest};
use serde_json::json;

const APPS: usize = 1000;
const VERSIONS: usize = 20;
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/shared");

fn seed(gh: &Gatehouse) {
    let sbom = std::fs::read(format!("{DATA}/sbom/python/python-env.cdx-1.6.json")).expect("test SBOM");
    for a in 0..APPS {
        let key = format!("app-{a:04}");
        let app = json!({ "key": key, "project": format!("project-{}", a % 10), "criticality": "high",
                          "owners": { "users": [format!("owner-{}", a % 50)] }, "labels": { "tier": "web" } });
        gh.create_application("seed", parse_input("app", app).expect("app"))
            .expect("app");
        for v in 0..VERSIONS {
            let version = json!({ "version": format!("1.0.{v}"),
                                  "artifacts": [{ "name": "app.tgz", "kind": "file", "sha256": format!("{a:04x}{v:04x}").repeat(8) }] });
            gh.create_version("seed", &key, parse_input("version", version).expect("version"))
                .expect("version");
        }
        gh.attach_sbom("seed", &key, "1.0.0", "upload", &sbom).expect("sbom");
    }
    let advisory = std::fs::read(format!("{DATA}/osv/pypa/PYSEC-2019-217.json")).expect("advisory");
    gh.import_advisories("seed", vec![("PYSEC-2019-217.json".into(), advisory)])
        .expect("import");
    // The version the version and record pages show: blocked, waived, promoted, released.
    let spec = json!({ "check": "policy:baseline.provenance", "gate": { "stage": "dev", "kind": "entry" },
                       "scope": { "applications": ["app-0000"] } });
    gh.put_binding("seed", "provenance", parse_input("binding", spec).expect("binding"))
        .expect("bind");
    let (app, version) = ("app-0000", "1.0.19");
    gh.attach_sbom("seed", app, version, "upload", &sbom).expect("sbom");
    let promote = |stage: &str| {
        gh.promote(
            "seed",
            app,
            version,
            PromoteRequest {
                target_stage: stage.into(),
                dry_run: false,
            },
        )
        .expect("promote")
    };
    assert!(!promote("dev").allowed, "the provenance gate blocks");
    let waiver = json!({ "application": app, "version": version, "gate": { "stage": "dev", "kind": "entry" },
                         "check": "policy:baseline.provenance", "justification": "reviewed by hand for the benchmark", "expires_at": "2099-01-01T00:00:00Z" });
    let w = gh
        .request_waiver("dana", parse_input("waiver", waiver).expect("waiver"))
        .expect("request");
    gh.decide_waiver("ann", &w.id, true, None).expect("approve");
    for stage in ["dev", "qa", "staging", "prod"] {
        assert!(promote(stage).allowed, "{stage}");
    }
    assert!(
        gh.release("seed", app, version, ReleaseRequest::default())
            .expect("release")
            .allowed
    );
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let gh = Gatehouse::open(dir.path()).expect("store");
    let started = std::time::Instant::now();
    seed(&gh);
    eprintln!(
        "seeded {APPS} applications × {VERSIONS} versions in {:.0?}",
        started.elapsed()
    );
    let token = gh
        .create_token("seed", "auditor", Role::Admin, None)
        .expect("token")
        .secret;
    // The walk "Verify the whole chain now" makes (every event, every signed
    // head); the Activity page itself shows the newest walk's result.
    let walk = std::time::Instant::now();
    let report = gh.verify_chain().expect("chain");
    assert!(report.broken.is_none());
    eprintln!(
        "one walk of the whole chain ({} events): {:.0?}",
        report.events,
        walk.elapsed()
    );
    let pages = [
        ("applications", "/ui/"),
        ("applications_page_6", "/ui/?after=app-0499"),
        ("applications_filtered", "/ui/?project=project-3&owner=owner-3"),
        ("version", "/ui/applications/app-0000/versions/1.0.19"),
        ("record", "/ui/applications/app-0000/versions/1.0.19/record"),
        ("waivers", "/ui/waivers"),
        ("vulnerabilities", "/ui/vulnerabilities?id=PYSEC-2019-217"),
        ("policies", "/ui/policies"),
        ("activity", "/ui/activity"),
        ("activity_filtered", "/ui/activity?actor=ann"),
    ];
    let mut group = c.benchmark_group("console_1000x20");
    group.sample_size(20);
    for (name, path) in pages {
        let (status, html) = gatehouse::api::console::render(&gh, path, &token);
        assert_eq!(status, 200, "{path}: {html}");
        group.bench_function(name, |b| b.iter(|| gatehouse::api::console::render(&gh, path, &token)));
    }
    group.finish();
}

criterion_group!(console, benches);
criterion_main!(console);
