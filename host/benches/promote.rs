//! A promotion in-process, as the load driver's scenario makes it over HTTP:
//! one application with the driver's three bindings (tests before dev,
//! provenance advice at every entry, SBOM advice at qa), a version with one
//! signed test result, climbing dev → qa → staging → prod. Four promotions an
//! iteration, each two gates, the document and the commit (SQLite, `fsync`
//! on every commit, as the sidecar runs it); no HTTP, no token check.
//!
//!     cargo bench -p gatehouse-host --bench promote
//!
//! Instruction counts (steady on a noisy machine, docs/benchmarks.md): the
//! run with promotions minus the same run without them, every thread counted:
//!
//!     GATEHOUSE_PROFILE_VERSIONS=100 valgrind --tool=callgrind target/release/deps/promote-* --bench
//!     GATEHOUSE_PROFILE_VERSIONS=100 GATEHOUSE_PROFILE_CLIMB=0 valgrind --tool=callgrind …
//!
//! With `GATEHOUSE_PROFILE_VERSIONS=N` the binary skips criterion, makes N
//! versions and promotes each through the four stages once.

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use gatehouse::error::parse_input;
use gatehouse::evidence::{self, Subject};
use gatehouse::keys::{self, NewTrustedKey};
use gatehouse::service::{Gatehouse, PromoteRequest, Target};
use serde_json::json;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/shared/dsse/keys");
const STAGES: [&str; 4] = ["dev", "qa", "staging", "prod"];

struct Setup {
    _dir: tempfile::TempDir,
    gh: Gatehouse,
    key: ed25519_dalek::SigningKey,
    next: std::cell::Cell<usize>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let gh = Gatehouse::open(dir.path()).expect("store");
    let pem = std::fs::read_to_string(format!("{DATA}/primary.ed25519.pub.pem")).expect("test key");
    let trusted: NewTrustedKey = parse_input("key", json!({ "name": "ci", "public_key": pem })).expect("key");
    gh.trust_key("bench", trusted).expect("trust");
    let app = json!({ "key": "svc", "project": "bench", "criticality": "high" });
    gh.create_application("bench", parse_input("app", app).expect("app"))
        .expect("app");
    for (id, check, stage, mode) in [
        ("tests", "policy:baseline.tests", "dev", "block"),
        ("prov", "policy:baseline.provenance", "*", "warn"),
        ("sbom", "policy:baseline.sbom", "qa", "warn"),
    ] {
        let spec = json!({ "check": check, "gate": { "stage": stage, "kind": "entry" }, "mode": mode,
                           "scope": { "applications": ["svc"] } });
        gh.put_binding("bench", id, parse_input("binding", spec).expect("binding"))
            .expect("bind");
    }
    let pem = std::fs::read_to_string(format!("{DATA}/primary.ed25519.priv.pem")).expect("test key");
    let key = keys::parse_private_key("key", &pem).expect("test key parses");
    Setup {
        _dir: dir,
        gh,
        key,
        next: std::cell::Cell::new(0),
    }
}

impl Setup {
    /// A new version with its signed test result: what one iteration promotes.
    fn version(&self) -> String {
        let n = self.next.get();
        self.next.set(n + 1);
        let version = format!("1.0.{n}");
        let artifact = hex::encode(sha2::Digest::finalize(sha2::Digest::chain_update(
            <sha2::Sha256 as sha2::Digest>::new(),
            version.as_bytes(),
        )));
        let v = json!({ "version": version, "artifacts": [{ "name": "svc.tgz", "kind": "file", "sha256": artifact }] });
        self.gh
            .create_version("bench", "svc", parse_input("version", v).expect("version"))
            .expect("version");
        let subject = Subject {
            name: "svc.tgz".into(),
            digest: [("sha256".to_string(), artifact)].into(),
        };
        let predicate = json!({ "result": "PASSED", "passedTests": ["unit", "integration"] });
        let env = evidence::sign(
            &self.key,
            vec![subject],
            "https://in-toto.io/attestation/test-result/v0.1",
            predicate,
        );
        let target = Target::Version {
            application: "svc".into(),
            version: version.clone(),
        };
        let out = self
            .gh
            .add_evidence("bench", env.to_string().as_bytes(), &target, 1)
            .expect("evidence");
        assert!(out.iter().all(|o| o.accepted()));
        version
    }
}

/// Through the four stages; each promotion must pass.
fn climb(gh: &Gatehouse, version: &str) {
    for stage in STAGES {
        let req = PromoteRequest {
            target_stage: stage.into(),
            dry_run: false,
        };
        let out = gh.promote("bench", "svc", version, req).expect("promote");
        assert!(out.allowed, "{version} to {stage}: {out:?}");
    }
}

fn benches(c: &mut Criterion) {
    let s = setup();
    let mut group = c.benchmark_group("promote");
    group.throughput(Throughput::Elements(STAGES.len() as u64));
    group.bench_function("version_through_four_stages_two_gates_each", |b| {
        b.iter_batched(|| s.version(), |v| climb(&s.gh, &v), BatchSize::PerIteration)
    });
    group.finish();
}

criterion_group!(promote_benches, benches);

fn main() {
    if let Some(n) = std::env::var("GATEHOUSE_PROFILE_VERSIONS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let s = setup();
        let versions: Vec<String> = (0..n).map(|_| s.version()).collect();
        // `GATEHOUSE_PROFILE_CLIMB=0`: the same run without the promotions,
        // to subtract (a gate's checks run on helper threads as well, which
        // a toggle on `promote` would not count).
        if std::env::var("GATEHOUSE_PROFILE_CLIMB").as_deref() == Ok("0") {
            eprintln!("created {n} versions, promoted none");
            return;
        }
        for v in &versions {
            climb(&s.gh, v);
        }
        eprintln!("promoted {n} versions through {} stages", STAGES.len());
        return;
    }
    promote_benches();
    Criterion::default().configure_from_args().final_summary();
}
