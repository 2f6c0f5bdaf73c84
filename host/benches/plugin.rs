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
    let mut samples = vec![std::time::Duration::ZERO; 20_000];
    // Its floor, interleaved call by call with the sandbox so that both see
    // the same machine: bare wasmtime on the same component.
    let guest = std::fs::read(gatehouse_test_artifacts::component("hostile")).expect("guest");
    let floor = floor::Floor::new(&guest, false);
    let pooled = floor::Floor::new(&guest, true);
    assert!(
        floor.call() && pooled.call(),
        "the bare call passes as the sandboxed one does"
    );
    let mut bare: Vec<std::time::Duration> = Vec::with_capacity(samples.len());
    let mut bare_pooled: Vec<std::time::Duration> = Vec::with_capacity(samples.len());
    for sample in samples.iter_mut() {
        let t = std::time::Instant::now();
        black_box(host.check(&trivial, &ctx)).expect("pass");
        *sample = t.elapsed();
        let t = std::time::Instant::now();
        black_box(floor.call());
        bare.push(t.elapsed());
        let t = std::time::Instant::now();
        black_box(pooled.call());
        bare_pooled.push(t.elapsed());
    }
    let at = |v: &[std::time::Duration], p: usize| v.get((v.len() - 1) * p / 100).copied().unwrap_or_default();
    for (label, v) in [
        ("plugin_check/trivial/fresh_sandbox single calls", &mut samples),
        (
            "bare wasmtime fresh instantiate-and-call (the floor), interleaved",
            &mut bare,
        ),
        (
            "bare wasmtime with the pooling allocator, interleaved",
            &mut bare_pooled,
        ),
    ] {
        v.sort();
        println!("{label}: p50 {:?}, p90 {:?}, p99 {:?}", at(v, 50), at(v, 90), at(v, 99));
    }
    println!(
        "fresh sandbox / floor at p99: {:.2}x over the default engine, {:.2}x over the pooled one (goal: at most 1.5x)",
        at(&samples, 99).as_secs_f64() / at(&bare, 99).as_secs_f64(),
        at(&samples, 99).as_secs_f64() / at(&bare_pooled, 99).as_secs_f64()
    );
}

/// The floor under a fresh sandbox: the same component instantiated and
/// called with bare wasmtime — the default engine, a store holding nothing,
/// no fuel, no epoch deadline, no memory limits, no WASI (every import but
/// the plugin host's two traps if called; the trivial check calls none),
/// the host's `config` answering from a fixed table, logs dropped.
mod floor {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "gatehouse:plugin/gate-check@0.1.0",
    });

    use self::gatehouse::plugin::host as wit_host;
    use self::gatehouse::plugin::types as wit;

    pub struct Bare;

    impl wit::Host for Bare {}

    impl wit_host::Host for Bare {
        fn log(&mut self, _level: wit_host::Level, _message: String) {}
        fn config(&mut self, key: String) -> Option<wit_host::ConfigValue> {
            (key == "mode").then(|| wit_host::ConfigValue::Text("pass".into()))
        }
        fn config_keys(&mut self) -> Vec<String> {
            vec!["mode".into()]
        }
    }

    /// A prepared component and a context to call it with.
    pub struct Floor {
        engine: wasmtime::Engine,
        pre: GateCheckPre<Bare>,
        ctx: wit::Context,
    }

    impl Floor {
        /// `pooling`: instances from wasmtime's pooling allocator (as the
        /// sandbox's are) instead of the default on-demand mmaps.
        pub fn new(wasm: &[u8], pooling: bool) -> Floor {
            let mut config = wasmtime::Config::new();
            if pooling {
                config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(
                    wasmtime::PoolingAllocationConfig::default(),
                ));
            }
            let engine = wasmtime::Engine::new(&config).expect("engine");
            let component = wasmtime::component::Component::new(&engine, wasm).expect("compile");
            let mut linker = wasmtime::component::Linker::<Bare>::new(&engine);
            GateCheck::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s).expect("host");
            linker
                .define_unknown_imports_as_traps(&component)
                .expect("the rest as traps");
            let pre = GateCheckPre::new(linker.instantiate_pre(&component).expect("pre")).expect("world");
            let ctx = wit::Context {
                application: "bench".into(),
                version: "1.0.0".into(),
                transition: wit::Transition {
                    action: "promote".into(),
                    from_stage: Some("qa".into()),
                    to_stage: Some("staging".into()),
                    gate: "staging/entry".into(),
                },
                params: "{}".into(),
                input: "{}".into(),
            };
            Floor { engine, pre, ctx }
        }

        /// A fresh store, instantiate, call, drop: whether the check passed.
        pub fn call(&self) -> bool {
            let mut store = wasmtime::Store::new(&self.engine, Bare);
            let instance = self.pre.instantiate(&mut store).expect("instantiate");
            let verdict = instance
                .call_check(&mut store, &self.ctx)
                .expect("call")
                .expect("verdict");
            verdict.outcome == wit::Outcome::Pass
        }
    }
}

criterion_group!(plugin_benches, benches);
criterion_main!(plugin_benches);
