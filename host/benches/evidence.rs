//! Evidence ingestion beside its physical floor, ed25519 verification alone,
//! in the same run. Throughput is in envelopes per second.
//!
//!     cargo bench -p gatehouse-host --bench evidence

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::Signer;
use gatehouse::error::parse_input;
use gatehouse::evidence::{self, Subject};
use gatehouse::keys::{self, NewTrustedKey};
use gatehouse::service::{Gatehouse, Target};
use serde_json::json;

const BUNDLE: usize = 100;
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/shared/dsse/keys");

fn signing_key() -> ed25519_dalek::SigningKey {
    let pem = std::fs::read_to_string(format!("{DATA}/primary.ed25519.priv.pem")).expect("test key");
    keys::parse_private_key("key", &pem).expect("test key parses")
}

/// `BUNDLE` distinct test-result envelopes about one artifact, as JSON Lines.
fn bundle(sk: &ed25519_dalek::SigningKey, artifact: &str) -> String {
    (0..BUNDLE)
        .map(|i| {
            let subject = Subject {
                name: "app.tgz".into(),
                digest: [("sha256".to_string(), artifact.to_string())].into(),
            };
            let predicate = json!({ "result": "PASSED", "url": format!("https://ci.example/run/{i}"), "passedTests": ["a", "b", "c"] });
            evidence::sign(sk, vec![subject], "https://in-toto.io/attestation/test-result/v0.1", predicate).to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn store_with_version(artifact: &str) -> (tempfile::TempDir, Gatehouse) {
    let dir = tempfile::tempdir().expect("temp dir");
    let gh = Gatehouse::open(dir.path()).expect("store");
    let pem = std::fs::read_to_string(format!("{DATA}/primary.ed25519.pub.pem")).expect("test key");
    let key: NewTrustedKey = parse_input("key", json!({ "name": "ci", "public_key": pem })).expect("key");
    gh.trust_key("bench", key).expect("trust");
    gh.create_application("bench", parse_input("app", json!({ "key": "bench-app" })).expect("app"))
        .expect("app");
    let v = json!({ "version": "1.0.0", "artifacts": [{ "name": "app.tgz", "kind": "file", "sha256": artifact }] });
    gh.create_version("bench", "bench-app", parse_input("version", v).expect("version"))
        .expect("version");
    (dir, gh)
}

fn benches(c: &mut Criterion) {
    let sk = signing_key();
    let artifact = "ab".repeat(32);
    let body = bundle(&sk, &artifact);
    let first = body.lines().next().expect("one envelope").to_string();
    let env = evidence::parse_envelope(first.as_bytes()).expect("envelope");
    let message = evidence::pae(&env.payload_type, &env.payload);
    let sig = sk.sign(&message);
    let vk = sk.verifying_key();

    let mut group = c.benchmark_group("evidence");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ed25519_verify_only", |b| {
        b.iter(|| vk.verify_strict(black_box(&message), black_box(&sig)))
    });

    let trusted: keys::TrustedKey =
        parse_input::<NewTrustedKey>("key", json!({ "name": "ci", "public_key": hex::encode(vk.as_bytes()) }))
            .expect("key")
            .into_key("bench", "t")
            .expect("key");
    let ring = keys::KeyRing::new([trusted]);
    group.bench_function("parse_and_verify_envelope", |b| {
        b.iter(|| {
            let env = evidence::parse_envelope(black_box(first.as_bytes())).expect("parses");
            evidence::verify(&env, &ring, "2026-11-26T00:00:00.000000Z", 1).expect("verifies")
        })
    });

    group.throughput(Throughput::Elements(BUNDLE as u64));
    group.sample_size(20);
    group.bench_function("ingest_bundle_of_100_verified_and_stored", |b| {
        b.iter_batched(
            || store_with_version(&artifact),
            |(_dir, gh)| {
                let target = Target::Version {
                    application: "bench-app".into(),
                    version: "1.0.0".into(),
                };
                let out = gh.add_evidence("bench", body.as_bytes(), &target, 1).expect("ingest");
                assert!(out.iter().all(|o| o.accepted()));
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(evidence_benches, benches);
criterion_main!(evidence_benches);
