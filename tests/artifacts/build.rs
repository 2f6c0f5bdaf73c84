//! Builds the test-only guests (tests/guests) and the first-party plugins
//! for wasm32-wasip2, outside every production build.

fn main() {
    let root = gatehouse_build::workspace_root(2);
    let mut packages = gatehouse_build::first_party_plugins(&root);
    packages.extend(gatehouse_build::crates(&root.join("tests/guests"), "Cargo.toml"));
    let wasm_dir = gatehouse_build::wasm_components(&root, &packages);
    for (name, _) in &packages {
        gatehouse_build::component(&wasm_dir, name);
    }
    gatehouse_build::write_generated(
        "artifacts.rs",
        &format!(
            "/// The directory that holds every component (`<crate_name>.wasm`), test guests included.\npub const WASM_DIR: &str = {:?};\n",
            wasm_dir.display().to_string()
        ),
    );
}
