//! Builds the first-party plugins from ../../plugins for wasm32-wasip2 and
//! embeds them, so `gatehouse serve` runs them with nothing else on disk.

fn main() {
    let root = gatehouse_build::workspace_root(2);
    let first_party = gatehouse_build::first_party_plugins(&root);
    let wasm_dir = gatehouse_build::wasm_components(&root, &first_party);
    let mut code = String::from(
        "/// (manifest, component) of every first-party plugin, built from plugins/.\npub const PLUGINS: &[(&str, &[u8])] = &[\n",
    );
    for (name, dir) in &first_party {
        let wasm = gatehouse_build::component(&wasm_dir, name);
        let toml = dir.join("gatehouse-plugin.toml").canonicalize().expect("manifest path");
        code.push_str(&format!(
            "    (include_str!({:?}), include_bytes!({:?})),\n",
            toml.display().to_string(),
            wasm.display().to_string()
        ));
    }
    code.push_str("];\n");
    gatehouse_build::write_generated("bundled_plugins.rs", &code);
}
