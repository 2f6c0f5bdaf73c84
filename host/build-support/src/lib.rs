//! What the build scripts share: finding the Rego files under `policies/` and
//! building WebAssembly components from the workspace's crates (first-party
//! plugins, test guests) for wasm32-wasip2 with a nested cargo.
//!
//! Build scripts panic with the reason: cargo shows it as the build error.

use std::path::{Path, PathBuf};

/// The workspace root, from a crate directory `levels` below it.
pub fn workspace_root(levels: usize) -> PathBuf {
    let mut dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    for _ in 0..levels {
        dir.pop();
    }
    dir
}

/// The build script's `OUT_DIR`.
pub fn out_dir() -> PathBuf {
    PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
}

/// Every `.rego` file under `dir`, sorted.
pub fn rego_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rego") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
}

/// Crate directories under `dir` that hold `marker` (each a component named
/// after its directory), sorted by name.
pub fn crates(dir: &Path, marker: &str) -> Vec<(String, PathBuf)> {
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

/// The first-party plugins: crates under `plugins/` with a manifest (the
/// Rust ones only: plugins/ also holds JavaScript with a node_modules tree).
pub fn first_party_plugins(root: &Path) -> Vec<(String, PathBuf)> {
    crates(&root.join("plugins"), "gatehouse-plugin.toml")
}

/// Build `packages` of the workspace at `root` for wasm32-wasip2 with the
/// `plugin` profile, in a target directory beside the outer build's profile
/// directories (`TARGET/wasm-plugins`). Returns the directory that holds the
/// components (`<name>.wasm`, dashes as underscores).
pub fn wasm_components(root: &Path, packages: &[(String, PathBuf)]) -> PathBuf {
    for (_, dir) in packages {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    for watched in ["sdk", "wit", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let out_dir = out_dir();
    // OUT_DIR is TARGET/[TRIPLE/]PROFILE/build/PKG/out: build beside PROFILE.
    let target_root = out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map_or_else(|| out_dir.join("wasm"), |t| t.join("wasm-plugins"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(root)
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
    for (name, _) in packages {
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
    target_root.join("wasm32-wasip2").join("plugin")
}

/// The component a crate named `name` builds into `wasm_dir`.
pub fn component(wasm_dir: &Path, name: &str) -> PathBuf {
    let wasm = wasm_dir.join(format!("{}.wasm", name.replace('-', "_")));
    assert!(wasm.is_file(), "the build did not produce {}", wasm.display());
    wasm
}

/// Write a generated Rust file into `OUT_DIR`.
pub fn write_generated(file: &str, code: &str) {
    std::fs::write(out_dir().join(file), code).unwrap_or_else(|e| panic!("write {file}: {e}"));
}
