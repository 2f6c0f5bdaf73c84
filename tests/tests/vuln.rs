//! `gatehouse vuln match` on the real binary: exactly the expected pairs, sorted.

use std::process::Command;

use gatehouse_e2e::{data, gatehouse_bin, stderr, stdout};

#[test]
fn vuln_match_prints_exactly_the_expected_pairs_sorted() {
    for (sbom, name) in [
        ("sbom/python/python-env.cdx-1.6.json", "python-env.cdx-1.6"),
        ("sbom/python/python-env.cdx-1.5.json", "python-env.cdx-1.5"),
        ("sbom/npm/npm-project.cdx-1.6.json", "npm-project.cdx-1.6"),
        ("sbom/npm/npm-project.cdx-1.5.flat.json", "npm-project.cdx-1.5.flat"),
        ("sbom/npm/npm-project.spdx-2.3.json", "npm-project.spdx-2.3"),
    ] {
        let o = Command::new(gatehouse_bin())
            .args(["vuln", "match", "--sbom"])
            .arg(data(sbom))
            .arg("--advisories")
            .arg(data("osv"))
            .args(["--output", "tsv"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{sbom}: {}", stderr(&o));
        let expected: String = std::fs::read_to_string(data(&format!("expected/{name}.pairs.tsv")))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(stdout(&o), expected, "{sbom}");
    }
    let o = Command::new(gatehouse_bin())
        .args(["vuln", "match", "--sbom", "/nonexistent.json", "--advisories"])
        .arg(data("osv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent.json"), "{}", stderr(&o));
}
