//! Embeds the Rego packs from ../../policies, so the bundled policies run
//! with nothing else on disk.

fn main() {
    let root = gatehouse_build::workspace_root(2).join("policies");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut code = String::from(
        "/// (path under policies/, text) of every bundled Rego module.\npub const BUNDLED: &[(&str, &str)] = &[\n",
    );
    for f in gatehouse_build::rego_files(&root) {
        let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
        let abs = f.canonicalize().unwrap_or_else(|_| f.clone());
        code.push_str(&format!(
            "    ({rel:?}, include_str!({:?})),\n",
            abs.display().to_string()
        ));
    }
    code.push_str("];\n");
    gatehouse_build::write_generated("bundled_policies.rs", &code);
}
