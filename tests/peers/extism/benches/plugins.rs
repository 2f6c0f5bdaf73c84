//! Gatehouse's component plugins beside the same checks as Extism 1.30
//! plugins, in one criterion run on one machine. Both sides: a fresh instance
//! per call (Gatehouse: a new store with its limits armed, instantiated from
//! `InstancePre`; Extism: `Plugin::new_from_compiled`) and a warm instance
//! called again. The inputs are the same bytes of JSON.
//!
//!     cargo bench --manifest-path tests/peers/extism/Cargo.toml
//!
//! Unset RUST_BACKTRACE first: it slows both hosts' error paths, Extism's most.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use extism::{CompiledPlugin, Manifest, Plugin, PluginBuilder, Wasm};
use gatehouse::plugin::{self, CallContext, PluginHost, PluginSettings, WarmCheck};

fn gatehouse_host(dir: &std::path::Path) -> Arc<PluginHost> {
    let bytes = std::fs::read(gatehouse_test_artifacts::component("hostile")).expect("guest");
    std::fs::write(dir.join("guest.wasm"), &bytes).expect("copy");
    std::fs::write(
        dir.join("trivial.toml"),
        format!(
            "name = \"trivial\"\nversion = \"0.1.0\"\nworld = \"gate-check\"\nwasm = \"guest.wasm\"\nsha256 = \"{}\"\n[config]\nmode = \"pass\"\n",
            plugin::sha256_hex(&bytes)
        ),
    )
    .expect("manifest");
    let host = Arc::new(
        PluginHost::load(&PluginSettings {
            dir: Some(dir.to_path_buf()),
            ..PluginSettings::default()
        })
        .expect("load"),
    );
    host.warm().expect("compile");
    host
}

fn provenance_document() -> (serde_json::Value, serde_json::Value) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/shared/dsse/valid/slsa-provenance-v1.statement.json");
    let statement: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let input = serde_json::json!({
        "schema": "gatehouse.dev/input/v1",
        "evidence": [{ "predicate_type": statement.get("predicateType"), "predicate": statement.get("predicate") }],
    });
    let params = serde_json::json!({"allowed_builders": ["https://example.com/relgov-fixture/builders/*"]});
    (input, params)
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = gatehouse_host(dir.path());
    let (input, params) = provenance_document();
    let trivial_ctx = CallContext {
        application: "bench".into(),
        version: "1.0.0".into(),
        action: "promote".into(),
        from_stage: Some("qa".into()),
        to_stage: Some("staging".into()),
        gate: "staging/entry".into(),
        params: "{}".into(),
        input: "{}".into(),
    };
    let prov_ctx = CallContext {
        params: params.to_string(),
        input: input.to_string(),
        ..trivial_ctx.clone()
    };
    let extism_input = serde_json::json!({"params": params, "input": input}).to_string();

    let manifest = Manifest::new([Wasm::file(env!("EXTISM_GUEST_WASM"))]).with_config_key("mode", "pass");
    let compiled = CompiledPlugin::new(PluginBuilder::new(manifest).with_wasi(false)).expect("extism compiles");
    let mut extism_warm = Plugin::new_from_compiled(&compiled).expect("extism instance");
    let out: String = extism_warm.call("provenance_builder", extism_input.as_str()).expect("extism call");
    assert!(out.contains("\"outcome\":\"pass\""), "{out}");

    let trivial = host.get("trivial").expect("trivial");
    let prov = host.get("provenance-builder").expect("bundled");
    assert_eq!(host.check(&prov, &prov_ctx).expect("runs").outcome, plugin::Outcome::Pass);

    let mut g = c.benchmark_group("trivial_check");
    g.bench_function("gatehouse/fresh", |b| b.iter(|| black_box(host.check(&trivial, &trivial_ctx)).expect("ok")));
    g.bench_function("extism/fresh", |b| {
        b.iter(|| {
            let mut p = Plugin::new_from_compiled(&compiled).expect("instance");
            black_box(p.call::<&str, String>("trivial", "").expect("ok"))
        })
    });
    let mut warm = WarmCheck::new(host.clone(), trivial.clone()).expect("warm");
    g.bench_function("gatehouse/warm", |b| b.iter(|| black_box(warm.check(&trivial_ctx)).expect("ok")));
    g.bench_function("extism/warm", |b| {
        b.iter(|| black_box(extism_warm.call::<&str, String>("trivial", "").expect("ok")))
    });
    g.finish();

    let mut g = c.benchmark_group("provenance_check");
    g.bench_function("gatehouse/fresh", |b| b.iter(|| black_box(host.check(&prov, &prov_ctx)).expect("ok")));
    g.bench_function("extism/fresh", |b| {
        b.iter(|| {
            let mut p = Plugin::new_from_compiled(&compiled).expect("instance");
            black_box(p.call::<&str, String>("provenance_builder", extism_input.as_str()).expect("ok"))
        })
    });
    let mut warm = WarmCheck::new(host.clone(), prov.clone()).expect("warm");
    g.bench_function("gatehouse/warm", |b| b.iter(|| black_box(warm.check(&prov_ctx)).expect("ok")));
    g.bench_function("extism/warm", |b| {
        b.iter(|| black_box(extism_warm.call::<&str, String>("provenance_builder", extism_input.as_str()).expect("ok")))
    });
    g.finish();
}

criterion_group!(peer_benches, benches);
criterion_main!(peer_benches);
