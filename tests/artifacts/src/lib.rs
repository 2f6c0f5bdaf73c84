//! Test-only WebAssembly components: the hostile guests of tests/guests and
//! the first-party plugins, built from source for wasm32-wasip2 (the pattern
//! of wasmtime's `crates/test-programs/artifacts`). Tests and benchmarks
//! depend on this crate; the production build never builds a test guest.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));

/// The component built from the crate `name` (`hostile`, `license-policy`).
pub fn component(name: &str) -> std::path::PathBuf {
    std::path::Path::new(WASM_DIR).join(format!("{}.wasm", name.replace('-', "_")))
}
