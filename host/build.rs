//! Embeds the Rego packs from ../policies and the first-party plugins from
//! ../plugins into the binary, so `gatehouse serve` runs the bundled policies
//! and plugins with nothing else on disk. The plugins (and the test-only
//! guests in ../tests/guests) are built here from source for wasm32-wasip2
//! by a nested cargo with its own target directory.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rego") {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("../policies");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut code = String::from(
        "/// (path under policies/, text) of every bundled Rego module.\npub const BUNDLED: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let abs = f.canonicalize().unwrap_or_else(|_| f.clone());
        code.push_str(&format!(
            "    ({rel:?}, include_str!({:?})),\n",
            abs.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("bundled_policies.rs"), code).expect("write bundled_policies.rs");
    plugins(&manifest, &out_dir);
}

/// Crate directories under `dir` (each a plugin named after its directory).
fn crates(dir: &Path, marker: &str) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file() && p.join(marker).is_file())
        .filter_map(|p| Some((p.file_name()?.to_str()?.to_string(), p)))
        .collect();
    found.sort();
    found
}

fn plugins(manifest: &Path, out_dir: &Path) {
    let root = manifest.join("..");
    let first_party = crates(&root.join("plugins"), "gatehouse-plugin.toml");
    let guests = crates(&root.join("tests/guests"), "Cargo.toml");
    // The Rust crates only: plugins/ also holds JavaScript with a node_modules tree.
    for (_, dir) in first_party.iter().chain(&guests) {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    for watched in ["sdk", "wit", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    // OUT_DIR is TARGET/[TRIPLE/]PROFILE/build/PKG/out: build beside PROFILE.
    let target_root = out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map_or_else(|| out_dir.join("wasm"), |t| t.join("wasm-plugins"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--locked",
            "--profile",
            "plugin",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_root);
    for (name, _) in first_party.iter().chain(&guests) {
        cmd.args(["-p", name]);
    }
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_TERM_PROGRESS_WHEN", "never");
    let output = cmd.output().expect("run cargo to build the plugins");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
            "\nthe wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`"
        } else {
            ""
        };
        panic!("building the plugins for wasm32-wasip2 failed:\n{stderr}{hint}");
    }
    let wasm_dir = target_root.join("wasm32-wasip2").join("plugin");
    let mut code = String::from(
        "/// (manifest, component) of every first-party plugin, built from ../plugins.\npub const PLUGINS: &[(&str, &[u8])] = &[\n",
    );
    for (name, dir) in &first_party {
        let wasm = wasm_dir.join(format!("{}.wasm", name.replace('-', "_")));
        assert!(wasm.is_file(), "the build did not produce {}", wasm.display());
        let toml = dir.join("gatehouse-plugin.toml").canonicalize().expect("manifest path");
        code.push_str(&format!(
            "    (include_str!({:?}), include_bytes!({:?})),\n",
            toml.display().to_string(),
            wasm.display().to_string()
        ));
    }
    code.push_str("];\n");
    code.push_str(&format!(
        "/// Where the build put every component, the test-only guests included.\npub const WASM_DIR: &str = {:?};\n",
        wasm_dir.display().to_string()
    ));
    std::fs::write(out_dir.join("bundled_plugins.rs"), code).expect("write bundled_plugins.rs");
}
