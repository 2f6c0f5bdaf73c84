//! Builds ../extism-guest for wasm32-unknown-unknown (nested cargo, own
//! target directory) and tells the benchmark where it is.

use std::path::PathBuf;

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let guest = here.join("../extism-guest");
    println!("cargo:rerun-if-changed={}", guest.join("src").display());
    println!("cargo:rerun-if-changed={}", guest.join("Cargo.toml").display());
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("guest-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "--release", "--target", "wasm32-unknown-unknown", "--manifest-path"])
        .arg(guest.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&out);
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_TARGET_DIR"] {
        cmd.env_remove(var);
    }
    let o = cmd.output().expect("run cargo for the Extism guest");
    assert!(
        o.status.success(),
        "building the Extism guest failed (is wasm32-unknown-unknown installed? rustup target add wasm32-unknown-unknown):\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let wasm = out.join("wasm32-unknown-unknown/release/extism_peer_guest.wasm");
    assert!(wasm.is_file(), "no {}", wasm.display());
    println!("cargo:rustc-env=EXTISM_GUEST_WASM={}", wasm.display());
}
