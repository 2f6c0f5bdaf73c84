//! `gatehouse plugin new`: a plugin project that builds, runs its own test
//! and runs under `gatehouse plugin run` — in Rust (against the SDK this
//! binary carries, or one named with `--sdk`), JavaScript (componentize-js)
//! or Python (componentize-py). Rendering is pure ([`files`]); [`write`]
//! puts the files on disk.

use std::path::{Path, PathBuf};

use crate::plugin::World;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Js,
    Python,
}

/// The SDK this binary was built with: what a Rust project compiles against
/// when `--sdk` does not name another copy (the crate is not on crates.io).
const SDK: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../sdk/Cargo.toml")),
    ("README.md", include_str!("../../../sdk/README.md")),
    ("src/lib.rs", include_str!("../../../sdk/src/lib.rs")),
    ("src/mock.rs", include_str!("../../../sdk/src/mock.rs")),
    ("src/testing.rs", include_str!("../../../sdk/src/testing.rs")),
    (
        "wit/gatehouse-plugin.wit",
        include_str!("../../../sdk/wit/gatehouse-plugin.wit"),
    ),
];
const WIT: &str = include_str!("../../../sdk/wit/gatehouse-plugin.wit");

/// Every file of a new project: (path relative to the project, contents).
pub fn files(name: &str, world: World, lang: Lang, sdk: Option<&Path>) -> Vec<(PathBuf, String)> {
    let crate_name = name.replace('-', "_");
    let world_name = world.as_str();
    let rule = format!("{}-001", name.to_ascii_uppercase());
    let (wasm, build, test, memory, timeout) = match lang {
        Lang::Rust => (
            format!("target/wasm32-wasip2/release/{crate_name}.wasm"),
            "cargo build --release --target wasm32-wasip2".to_string(),
            "cargo test                                                         # the mock host: gatehouse_sdk::testing\n",
            32 << 20,
            500,
        ),
        Lang::Js => (
            format!("{crate_name}.wasm"),
            "npm install && node build.mjs".to_string(),
            "",
            128 << 20,
            2000,
        ),
        Lang::Python => (
            format!("{crate_name}.wasm"),
            format!(
                "componentize-py -d wit -w gatehouse:plugin/{world_name}@0.1.0 componentize app -o {crate_name}.wasm"
            ),
            "",
            128 << 20,
            5000,
        ),
    };
    let source = match world {
        World::GateCheck => "check.js",
        World::Collector => "collect.js",
    };
    let sdk_path = match sdk {
        Some(p) => p.display().to_string(),
        None => "gatehouse-sdk".to_string(),
    };
    let language = match lang {
        Lang::Rust => "Rust",
        Lang::Js => "JavaScript",
        Lang::Python => "Python",
    };
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{world}}", world_name)
            .replace("{{rule}}", &rule)
            .replace("{{wasm}}", &wasm)
            .replace("{{build}}", &build)
            .replace("{{test}}", test)
            .replace("{{memory}}", &memory.to_string())
            .replace("{{timeout}}", &timeout.to_string())
            .replace("{{source}}", source)
            .replace("{{sdk}}", &sdk_path)
            .replace("{{language}}", language)
    };
    let manifest = match world {
        World::GateCheck => include_str!("templates/manifest.gate-check.toml"),
        World::Collector => include_str!("templates/manifest.collector.toml"),
    };
    let mut out = vec![
        (PathBuf::from("gatehouse-plugin.toml"), fill(manifest)),
        (PathBuf::from("README.md"), fill(include_str!("templates/README.md"))),
        (
            PathBuf::from("context.json"),
            include_str!("templates/context.json").to_string(),
        ),
    ];
    let by_world = |gate: &'static str, collector: &'static str| match world {
        World::GateCheck => gate,
        World::Collector => collector,
    };
    match lang {
        Lang::Rust => {
            out.push(("Cargo.toml".into(), fill(include_str!("templates/rust.Cargo.toml"))));
            let lib = by_world(
                include_str!("templates/rust.gate-check.rs"),
                include_str!("templates/rust.collector.rs"),
            );
            out.push(("src/lib.rs".into(), fill(lib)));
            out.push((".gitignore".into(), "/target\n".into()));
            if sdk.is_none() {
                for (path, text) in SDK {
                    out.push((Path::new("gatehouse-sdk").join(path), (*text).to_string()));
                }
            }
        }
        Lang::Js => {
            out.push(("package.json".into(), fill(include_str!("templates/js.package.json"))));
            out.push(("build.mjs".into(), fill(include_str!("templates/js.build.mjs"))));
            let src = by_world(
                include_str!("templates/js.gate-check.js"),
                include_str!("templates/js.collector.js"),
            );
            out.push((source.into(), fill(src)));
            out.push(("wit/gatehouse-plugin.wit".into(), WIT.to_string()));
            out.push((".gitignore".into(), "/node_modules\n*.wasm\n".into()));
        }
        Lang::Python => {
            let src = by_world(
                include_str!("templates/py.gate-check.py"),
                include_str!("templates/py.collector.py"),
            );
            out.push(("app.py".into(), fill(src)));
            out.push(("wit/gatehouse-plugin.wit".into(), WIT.to_string()));
            out.push((".gitignore".into(), "*.wasm\n__pycache__/\n".into()));
        }
    }
    out
}

/// Write the project into `dir`, which must not exist or be empty; nothing
/// is written when any check fails.
pub fn write<T: AsRef<[u8]>>(dir: &Path, files: &[(PathBuf, T)]) -> Result<(), String> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(format!("{}: expected a new or empty directory", dir.display()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled_in_every_language_and_world() {
        for lang in [Lang::Rust, Lang::Js, Lang::Python] {
            for world in [World::GateCheck, World::Collector] {
                let files = files("no-friday", world, lang, None);
                for (path, text) in &files {
                    assert!(!text.contains("{{"), "{lang:?} {world:?} {}: {text}", path.display());
                }
                let manifest = &files
                    .iter()
                    .find(|(p, _)| p == Path::new("gatehouse-plugin.toml"))
                    .unwrap()
                    .1;
                let parsed = crate::plugin::manifest::parse(manifest, "m.toml", Path::new("/p"));
                let m = parsed.unwrap_or_else(|e| panic!("{lang:?} {world:?}: {e}\n{manifest}"));
                assert_eq!((m.name.as_str(), m.world), ("no-friday", world));
                assert!(m.sha256.is_none(), "pinned by push, not by the template");
            }
        }
    }

    #[test]
    fn a_rust_project_carries_the_sdk_unless_one_is_named() {
        let carried = files("x-check", World::GateCheck, Lang::Rust, None);
        assert!(
            carried
                .iter()
                .any(|(p, _)| p == Path::new("gatehouse-sdk/wit/gatehouse-plugin.wit"))
        );
        let named = files("x-check", World::GateCheck, Lang::Rust, Some(Path::new("/opt/sdk")));
        assert!(!named.iter().any(|(p, _)| p.starts_with("gatehouse-sdk")));
        let cargo = &named.iter().find(|(p, _)| p == Path::new("Cargo.toml")).unwrap().1;
        assert!(cargo.contains(r#"path = "/opt/sdk""#), "{cargo}");
    }

    #[test]
    fn an_existing_project_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep"), "mine").unwrap();
        let err = write(dir.path(), &files("x", World::GateCheck, Lang::Js, None)).unwrap_err();
        assert!(err.contains("new or empty directory"), "{err}");
        assert_eq!(std::fs::read_to_string(dir.path().join("keep")).unwrap(), "mine");
    }
}
