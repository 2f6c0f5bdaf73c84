//! The plugin author's path on the real binary and real toolchains: a
//! project from `gatehouse plugin new`, built outside this workspace against
//! the SDK as `cargo package` makes it, tested with the SDK's mock host, run
//! with `plugin run`, signed, pushed to a real OCI registry on loopback,
//! pulled, loaded, bound, and blocking a gate with its own finding.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gatehouse_e2e::registry::Registry;
use gatehouse_e2e::{Server, check_result, gatehouse_bin, plugin_cache, put_binding, stderr, stdout};
use serde_json::json;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where builds made outside the workspace keep their artifacts (shared by
/// the tests, so each builds the SDK's dependencies once).
fn outside_target() -> PathBuf {
    gatehouse_e2e::target_dir().join("outside")
}

fn cargo() -> Command {
    let mut c = Command::new(option_env!("CARGO").unwrap_or("cargo"));
    c.env("CARGO_TARGET_DIR", outside_target()).env_remove("RUSTFLAGS");
    c
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The gatehouse CLI in `dir`, with no data directory of its own.
fn gatehouse(dir: &Path, args: &[&str]) -> Output {
    gatehouse_env(dir, args, &[])
}

fn gatehouse_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(gatehouse_bin())
        .args(args)
        .current_dir(dir)
        .env("GATEHOUSE_PLUGIN_CACHE_DIR", plugin_cache())
        .env_remove("GATEHOUSE_REGISTRY_USERNAME")
        .env_remove("GATEHOUSE_REGISTRY_PASSWORD")
        .envs(envs.iter().copied())
        .output()
        .expect("run gatehouse")
}

/// `cargo package` the SDK and unpack it: the crate exactly as crates.io
/// would serve it, in a directory outside the workspace.
fn packaged_sdk(into: &Path) -> PathBuf {
    let target = gatehouse_e2e::target_dir().join("sdk-package");
    ok(
        Command::new(option_env!("CARGO").unwrap_or("cargo"))
            .args([
                "package",
                "-p",
                "gatehouse-sdk",
                "--no-verify",
                "--allow-dirty",
                "--offline",
                "--target-dir",
            ])
            .arg(&target)
            .current_dir(repo())
            .output()
            .expect("cargo package"),
        "cargo package -p gatehouse-sdk",
    );
    let krate = target.join("package/gatehouse-sdk-0.1.0.crate");
    ok(
        Command::new("tar")
            .arg("xzf")
            .arg(&krate)
            .arg("-C")
            .arg(into)
            .output()
            .expect("tar"),
        "unpacking the packaged SDK",
    );
    let sdk = into.join("gatehouse-sdk-0.1.0");
    assert!(
        sdk.join("wit/gatehouse-plugin.wit").is_file(),
        "the package carries its WIT"
    );
    sdk
}

/// Build a Rust plugin project offline (the workspace's lock file pins the
/// same crates the workspace already fetched) and put the component where
/// its manifest says.
fn build_rust(project: &Path, crate_name: &str) -> String {
    std::fs::copy(repo().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    let tests = ok(
        cargo()
            .args(["test", "--offline"])
            .current_dir(project)
            .output()
            .unwrap(),
        "cargo test in the plugin project",
    );
    ok(
        cargo()
            .args(["build", "--offline", "--release", "--target", "wasm32-wasip2"])
            .current_dir(project)
            .output()
            .unwrap(),
        "cargo build of the component",
    );
    let built = outside_target().join(format!("wasm32-wasip2/release/{crate_name}.wasm"));
    let dest = project.join(format!("target/wasm32-wasip2/release/{crate_name}.wasm"));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(&built, &dest).unwrap();
    tests
}

#[test]
fn the_whole_vendor_path_from_plugin_new_to_a_gate_that_blocks() {
    let work = tempfile::tempdir().unwrap();
    let vendor = work.path().join("vendor");
    std::fs::create_dir_all(&vendor).unwrap();
    let sdk = packaged_sdk(work.path());

    // plugin new, against the packaged SDK, outside the workspace.
    let sdk_arg = sdk.to_str().unwrap();
    ok(
        gatehouse(&vendor, &["plugin", "new", "acme-provenance", "--sdk", sdk_arg]),
        "plugin new",
    );
    let project = vendor.join("acme-provenance");
    // Its own tests run under plain cargo test, on the SDK's mock host.
    let tests = build_rust(&project, "acme_provenance");
    assert!(tests.contains("test result: ok. 2 passed"), "{tests}");

    // plugin run: the default context has no evidence, so the check fails
    // with its finding (exit 1); the sample context carries provenance.
    let o = gatehouse(&project, &["plugin", "run", "gatehouse-plugin.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("ACME-PROVENANCE-001"), "{}", stdout(&o));
    assert!(stdout(&o).contains("not pinned"), "{}", stdout(&o));
    let o = gatehouse(
        &project,
        &["plugin", "run", "gatehouse-plugin.toml", "--context", "context.json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));

    // Sign with a vendor key, push to a real registry.
    let keys = work.path().join("acme-keys");
    ok(
        gatehouse(&vendor, &["keys", "generate", "--out", keys.to_str().unwrap()]),
        "keys generate",
    );
    let wasm = "target/wasm32-wasip2/release/acme_provenance.wasm";
    let key = keys.join("ed25519.priv.pem");
    ok(
        gatehouse(
            &project,
            &[
                "plugin",
                "sign",
                "--key",
                key.to_str().unwrap(),
                "--name",
                "acme-provenance",
                wasm,
            ],
        ),
        "plugin sign",
    );
    let registry = Registry::start();
    let tag = format!("{}/acme/acme-provenance:0.1.0", registry.host);
    let o = gatehouse(&project, &["--output", "json", "plugin", "push", &tag]);
    let pushed: serde_json::Value = serde_json::from_str(&ok(o, "plugin push")).unwrap();
    assert_eq!(pushed["signed"], true, "{pushed}");
    let pinned = pushed["pinned"].as_str().unwrap().to_string();
    assert!(
        pinned.starts_with(&format!("{}/acme/acme-provenance@sha256:", registry.host)),
        "{pinned}"
    );

    // An operator pulls it by tag and by pin; both give the same artifact,
    // which loads only with the vendor's key trusted.
    let operator = work.path().join("operator");
    std::fs::create_dir_all(&operator).unwrap();
    let pub_key = keys.join("ed25519.pub.pem");
    let pub_key = pub_key.to_str().unwrap();
    for (reference, dir) in [(tag.as_str(), "by-tag"), (pinned.as_str(), "by-pin")] {
        let o = gatehouse(
            &operator,
            &["--output", "json", "plugin", "pull", reference, "--dir", dir],
        );
        let pulled: serde_json::Value = serde_json::from_str(&ok(o, "plugin pull")).unwrap();
        assert_eq!(pulled["pinned"], pinned.as_str(), "{pulled}");
        let manifest = operator.join(dir).join("gatehouse-plugin.toml");
        let manifest = manifest.to_str().unwrap();
        let o = gatehouse(&operator, &["plugin", "load", manifest, "--require-signed"]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "no vendor key trusted: refused\n{}",
            stdout(&o)
        );
        let o = gatehouse(
            &operator,
            &["plugin", "load", manifest, "--require-signed", "--trusted-key", pub_key],
        );
        assert!(ok(o, "plugin load").contains("signer:"));
    }
    // A pin the registry does not hold is refused, not replaced by the tag.
    let wrong = format!("{}/acme/acme-provenance@sha256:{}", registry.host, "0".repeat(64));
    let o = gatehouse(&operator, &["plugin", "pull", &wrong, "--dir", "wrong"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("fetching the manifest"), "{}", stderr(&o));

    // The sidecar: a manifest naming the pinned artifact, signatures required.
    let plugins = operator.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(
        plugins.join("acme.toml"),
        format!(
            "name = \"acme-provenance\"\nversion = \"0.1.0\"\nworld = \"gate-check\"\noci = \"{pinned}\"\n\n[config]\nrequired = [\"https://slsa.dev/provenance/v1\"]\n"
        ),
    )
    .unwrap();
    let config = operator.join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_dir = {:?}\nrequire_signed_plugins = true\nplugin_keys = [{pub_key:?}]\n",
            plugins.display().to_string()
        ),
    )
    .unwrap();
    let data = operator.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let cache = operator.join("plugin-cache");
    let cache_str = cache.to_str().unwrap();
    let server = Server::start_env(
        &data,
        &["--config", config.to_str().unwrap()],
        &[("GATEHOUSE_PLUGIN_CACHE_DIR", cache_str)],
    );
    let (s, r) = server.get("/v1/plugins/acme-provenance");
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["digest"], pushed["component_sha256"], "{r}");
    assert_eq!(r["signer"]["kind"], "vendor", "{r}");
    assert!(
        cache
            .join("oci/blobs/sha256")
            .join(pinned.rsplit(':').next().unwrap())
            .is_file(),
        "the pinned artifact is kept in the plugin cache"
    );

    gatehouse_e2e::seed(&server, "shop", "1.0.0");
    let (s, r) = put_binding(&server, "acme", "plugin:acme-provenance", "dev", json!({}));
    assert_eq!(s, 200, "{r}");
    let (s, r) = server.post(
        "/v1/applications/shop/versions/1.0.0/promote",
        &json!({"target_stage": "dev"}),
    );
    assert_eq!(s, 409, "the gate blocks: {r}");
    let c = check_result(&r, "plugin:acme-provenance");
    assert_eq!(c["outcome"], "fail", "{c}");
    assert!(
        c.to_string()
            .contains("shop 1.0.0 has no verified evidence of type https://slsa.dev/provenance/v1"),
        "{c}"
    );
    drop(server);

    // The gate's real call, replayed against the project: plugin context
    // writes what the gate built, plugin run judges it the same way.
    let call = operator.join("shop-dev.json");
    let o = gatehouse_e2e::cli(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "plugin",
            "context",
            "shop",
            "1.0.0",
            "dev",
            "--out",
            call.to_str().unwrap(),
        ],
    );
    ok(o, "plugin context");
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&call).unwrap()).unwrap();
    assert_eq!(
        (
            &written["gate"],
            &written["action"],
            &written["input"]["application"]["key"]
        ),
        (&json!("dev/entry"), &json!("promote"), &json!("shop")),
        "{written}"
    );
    let o = gatehouse(
        &project,
        &[
            "plugin",
            "run",
            "gatehouse-plugin.toml",
            "--context",
            call.to_str().unwrap(),
            // Signed now: a present signature must verify, here as anywhere.
            "--trusted-key",
            pub_key,
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("shop 1.0.0 has no verified evidence of type https://slsa.dev/provenance/v1"),
        "{}",
        stdout(&o)
    );
    let o = gatehouse_e2e::cli(&data, &["plugin", "context", "shop", "1.0.0", "dev/release"]);
    assert_eq!(o.status.code(), Some(1), "not the version's next move: {}", stderr(&o));

    // With the registry gone, the sidecar starts from its cache.
    drop(registry);
    let server = Server::start_env(
        &data,
        &["--config", config.to_str().unwrap()],
        &[("GATEHOUSE_PLUGIN_CACHE_DIR", cache_str)],
    );
    let (s, r) = server.get("/v1/plugins/acme-provenance");
    assert_eq!(s, 200, "loaded from the cache with no registry: {r}");
}

/// Build a JavaScript or Python template and run it; the other languages'
/// toolchains come from the README's test command (npm ci, pip).
fn foreign(program: &str, args: &[&str], cwd: &Path) {
    let o = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed (the README's test command installs it): {e}"));
    ok(o, &format!("{program} {args:?}"));
}

#[test]
fn javascript_templates_build_and_run() {
    templates(&[("js-gate", "js", "gate-check"), ("js-collect", "js", "collector")]);
}

#[test]
fn python_templates_build_and_run() {
    templates(&[
        ("py-gate", "python", "gate-check"),
        ("py-collect", "python", "collector"),
    ]);
}

#[test]
fn the_rust_collector_template_builds_against_the_sdk_the_binary_carries() {
    // (The gate-check template is built against the packaged SDK above.)
    templates(&[("rs-collect", "rust", "collector")]);
}

/// Each (name, language, world): plugin new, build with the language's own
/// toolchain, plugin run with the default and the sample context.
fn templates(cases: &[(&str, &str, &str)]) {
    if gatehouse_e2e::on_postgres() {
        return; // no store involved: the embedded run covers it
    }
    let work = tempfile::tempdir().unwrap();
    let node_modules = repo().join("plugins/js-sbom-required/node_modules");
    assert!(
        node_modules.is_dir(),
        "npm ci --prefix plugins/js-sbom-required (the README's test command)"
    );
    for &(name, lang, world) in cases {
        ok(
            gatehouse(work.path(), &["plugin", "new", name, "--lang", lang, "--world", world]),
            "plugin new",
        );
        let project = work.path().join(name);
        let wasm = format!("{}.wasm", name.replace('-', "_"));
        match lang {
            "js" => {
                // The template pins the same componentize-js the repository's JS plugin uses.
                std::os::unix::fs::symlink(&node_modules, project.join("node_modules")).unwrap();
                foreign("node", &["build.mjs"], &project);
            }
            "python" => foreign(
                "componentize-py",
                &[
                    "-d",
                    "wit",
                    "-w",
                    &format!("gatehouse:plugin/{world}@0.1.0"),
                    "componentize",
                    "app",
                    "-o",
                    &wasm,
                ],
                &project,
            ),
            _ => {
                let tests = build_rust(&project, &name.replace('-', "_"));
                assert!(tests.contains("test result: ok. 2 passed"), "{tests}");
            }
        }
        let o = gatehouse(
            &project,
            &["--output", "json", "plugin", "run", "gatehouse-plugin.toml"],
        );
        let report: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{name}: {e}\n{}\n{}", stdout(&o), stderr(&o)));
        if world == "gate-check" {
            assert_eq!(o.status.code(), Some(1), "{name}: {report}");
            let rule = format!("{}-001", name.to_uppercase());
            assert_eq!(
                report["verdict"]["findings"][0]["rule"],
                rule.as_str(),
                "{name}: {report}"
            );
            let o = gatehouse(
                &project,
                &["plugin", "run", "gatehouse-plugin.toml", "--context", "context.json"],
            );
            assert_eq!(o.status.code(), Some(0), "{name}: {}\n{}", stdout(&o), stderr(&o));
            // Parameters replace the config, as a binding's do.
            let o = gatehouse(
                &project,
                &[
                    "plugin",
                    "run",
                    "gatehouse-plugin.toml",
                    "--params",
                    r#"{"required": 3}"#,
                ],
            );
            assert!(stdout(&o).contains("bad-params"), "{name}: {}", stdout(&o));
            // Hostile input the code did not expect: the runtime's own error
            // message comes back (JS: the template turns the TypeError into
            // {code, message}; Python: the traceback's last lines go with the trap).
            std::fs::write(project.join("hostile.json"), r#"{"input": {"evidence": [null]}}"#).unwrap();
            let o = gatehouse(
                &project,
                &["plugin", "run", "gatehouse-plugin.toml", "--context", "hostile.json"],
            );
            assert_eq!(o.status.code(), Some(1), "{name}: {}", stdout(&o));
            let why = if lang == "js" { "TypeError" } else { "AttributeError" };
            let error_line = stdout(&o)
                .lines()
                .find(|l| l.contains("error "))
                .unwrap_or_default()
                .to_string();
            assert!(error_line.contains(why), "{name}: {}", stdout(&o));
        } else {
            assert_eq!(o.status.code(), Some(0), "{name}: {report}");
            let statement = &report["statements"][0];
            assert_eq!(
                statement["predicate_type"],
                format!("https://example.com/{name}/build-info/v1").as_str(),
                "{name}: {report}"
            );
        }
        assert!(
            report["log"].to_string().contains("example 0.0.0"),
            "{name}: the plugin's log line is shown: {report}"
        );
    }
}

#[test]
fn a_registry_that_asks_for_credentials_gets_them_from_the_environment_only() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::copy(
        gatehouse_e2e::wasm_dir().join("license_policy.wasm"),
        dir.join("lp.wasm"),
    )
    .unwrap();
    std::fs::write(
        dir.join("gatehouse-plugin.toml"),
        "name = \"acme-licences\"\nversion = \"1.0.0\"\nworld = \"gate-check\"\nwasm = \"lp.wasm\"\n",
    )
    .unwrap();
    let registry = Registry::start_with_users(&[("vendor", "s3cret")]);
    let tag = format!("{}/acme/licences:1.0.0", registry.host);
    let good = [
        ("GATEHOUSE_REGISTRY_USERNAME", "vendor"),
        ("GATEHOUSE_REGISTRY_PASSWORD", "s3cret"),
    ];
    let bad = [
        ("GATEHOUSE_REGISTRY_USERNAME", "vendor"),
        ("GATEHOUSE_REGISTRY_PASSWORD", "guess"),
    ];

    let o = gatehouse(dir, &["plugin", "push", &tag]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("set GATEHOUSE_REGISTRY_USERNAME and GATEHOUSE_REGISTRY_PASSWORD"),
        "{}",
        stderr(&o)
    );
    let o = gatehouse_env(dir, &["plugin", "push", &tag], &bad);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("refused the credentials"), "{}", stderr(&o));

    let o = gatehouse_env(dir, &["--output", "json", "plugin", "push", &tag], &good);
    let pushed: serde_json::Value = serde_json::from_str(&ok(o, "plugin push with credentials")).unwrap();
    assert_eq!(pushed["signed"], false, "{pushed}");
    let pinned = pushed["pinned"].as_str().unwrap();

    let o = gatehouse(dir, &["plugin", "pull", pinned, "--dir", "anonymous"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(!dir.join("anonymous").exists(), "nothing written when the pull fails");
    ok(
        gatehouse_env(dir, &["plugin", "pull", pinned, "--dir", "pulled"], &good),
        "plugin pull with credentials",
    );
    assert_eq!(
        std::fs::read(dir.join("pulled/acme-licences.wasm")).unwrap(),
        std::fs::read(dir.join("lp.wasm")).unwrap()
    );
    // A manifest naming the pin loads with the same credentials.
    std::fs::write(
        dir.join("op.toml"),
        format!("name = \"acme-licences\"\nversion = \"1.0.0\"\nworld = \"gate-check\"\noci = \"{pinned}\"\n"),
    )
    .unwrap();
    let cache = dir.join("cache");
    let envs = [
        good[0],
        good[1],
        ("GATEHOUSE_PLUGIN_CACHE_DIR", cache.to_str().unwrap()),
    ];
    ok(
        gatehouse_env(dir, &["plugin", "load", "op.toml"], &envs),
        "plugin load of an oci manifest",
    );
}
