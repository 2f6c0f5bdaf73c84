//! A gate-check plugin call: in a fresh sandbox (a new store, the manifest's
//! limits armed, instantiation from `InstancePre`, the call, the store
//! dropped) and warm (the same instance called again). Two checks: a trivial
//! one (the test guest in `pass` mode: two host config calls, then `pass`),
//! and the bundled `provenance-builder` parsing a real SLSA provenance
//! document (6 KB of input JSON).
//!
//!     cargo bench -p gatehouse-host --bench plugin

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse::plugin::{self, CallContext, PluginHost, PluginSettings, WarmCheck};

fn host_with_guest(dir: &std::path::Path) -> Arc<PluginHost> {
    let wasm = gatehouse_test_artifacts::component("hostile");
    let bytes = std::fs::read(&wasm).expect("the build puts the test guest here");
    std::fs::write(dir.join("guest.wasm"), &bytes).expect("copy guest");
    std::fs::write(
        dir.join("trivial.toml"),
        format!(
            "name = \"trivial\"\nversion = \"0.1.0\"\nworld = \"gate-check\"\nwasm = \"guest.wasm\"\nsha256 = \"{}\"\n[config]\nmode = \"pass\"\n",
            plugin::sha256_hex(&bytes)
        ),
    )
    .expect("manifest");
    let settings = PluginSettings {
        dir: Some(dir.to_path_buf()),
        ..PluginSettings::default()
    };
    let host = Arc::new(PluginHost::load(&settings).expect("plugins load"));
    host.warm().expect("plugins compile");
    host
}

fn provenance_input() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/shared/dsse/valid/slsa-provenance-v1.statement.json"
    );
    let statement: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    serde_json::json!({
        "schema": "gatehouse.dev/input/v1",
        "evidence": [{ "predicate_type": statement.get("predicateType"), "predicate": statement.get("predicate") }],
    })
    .to_string()
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = host_with_guest(dir.path());
    let mut ctx = CallContext {
        application: "bench".into(),
        version: "1.0.0".into(),
        action: "promote".into(),
        from_stage: Some("qa".into()),
        to_stage: Some("staging".into()),
        gate: "staging/entry".into(),
        params: "{}".into(),
        input: "{}".into(),
    };
    let trivial = host.get("trivial").expect("trivial plugin");
    let mut group = c.benchmark_group("plugin_check");
    group.bench_function("trivial/fresh_sandbox", |b| {
        b.iter(|| black_box(host.check(&trivial, &ctx)).expect("pass"))
    });
    let mut warm = WarmCheck::new(host.clone(), trivial.clone()).expect("warm");
    group.bench_function("trivial/warm", |b| {
        b.iter(|| black_box(warm.check(&ctx)).expect("pass"))
    });

    ctx.input = provenance_input();
    ctx.params = r#"{"allowed_builders": ["https://example.com/relgov-fixture/builders/*"]}"#.into();
    let prov = host.get("provenance-builder").expect("bundled");
    let answer = host.check(&prov, &ctx).expect("runs");
    assert_eq!(answer.outcome, plugin::Outcome::Pass, "{answer:?}");
    group.bench_function("provenance_builder/fresh_sandbox", |b| {
        b.iter(|| black_box(host.check(&prov, &ctx)).expect("pass"))
    });
    let mut warm = WarmCheck::new(host.clone(), prov.clone()).expect("warm");
    group.bench_function("provenance_builder/warm", |b| {
        b.iter(|| black_box(warm.check(&ctx)).expect("pass"))
    });
    group.finish();

    // Criterion reports means; the goal is about the tail. Time single calls.
    ctx.input = "{}".into();
    ctx.params = "{}".into();
    let mut samples: Vec<std::time::Duration> = (0..20_000)
        .map(|_| {
            let t = std::time::Instant::now();
            black_box(host.check(&trivial, &ctx)).expect("pass");
            t.elapsed()
        })
        .collect();
    samples.sort();
    let at = |p: usize| samples.get((samples.len() - 1) * p / 100).copied().unwrap_or_default();
    println!(
        "plugin_check/trivial/fresh_sandbox single calls: p50 {:?}, p90 {:?}, p99 {:?}",
        at(50),
        at(90),
        at(99)
    );
}

criterion_group!(plugin_benches, benches);
criterion_main!(plugin_benches);
