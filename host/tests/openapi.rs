//! The OpenAPI document is generated from the route table and the types
//! (host/src/api/openapi.rs); docs/openapi.json is that document as
//! committed. Here: the two are identical, and the document and the route
//! table describe the same API (every route documented with the permission
//! it really needs, every documented operation served).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use std::collections::BTreeMap;
use std::path::Path;

use gatehouse::api::openapi;
use gatehouse::api::routes::ROUTES;

/// The generated document, as served.
fn served() -> serde_json::Value {
    serde_json::from_str(openapi::served()).unwrap()
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let generated = openapi::served();
    if std::env::var_os("GATEHOUSE_BLESS").is_some() {
        std::fs::write(&path, generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or(committed.lines().count().min(generated.lines().count()), |i| i);
        panic!(
            "docs/openapi.json differs from the document generated from the types, first at line {}:\n  committed: {}\n  generated: {}\n\
             Regenerate it with: GATEHOUSE_BLESS=1 cargo test -p gatehouse-host --test openapi",
            line + 1,
            committed.lines().nth(line).unwrap_or("(end)"),
            generated.lines().nth(line).unwrap_or("(end)"),
        );
    }
}

#[test]
fn every_route_has_one_operation() {
    assert_eq!(openapi::unmatched(), Vec::<String>::new());
}

#[test]
fn the_document_and_the_route_table_agree_both_ways() {
    let doc = served();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let permission = op["x-gatehouse-permission"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no x-gatehouse-permission"));
            documented.insert((method.to_uppercase(), path.clone()), permission.to_string());
        }
    }
    let mut served = BTreeMap::new();
    for r in ROUTES.iter() {
        let permission = serde_json::to_value(r.permission)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        served.insert((r.method.as_str().to_string(), r.path.to_string()), permission);
    }
    for (route, permission) in &served {
        match documented.get(route) {
            None => panic!("{route:?} is served but missing from docs/openapi.json"),
            Some(p) => assert_eq!(
                p, permission,
                "{route:?}: documented permission differs from the one enforced"
            ),
        }
    }
    for route in documented.keys() {
        assert!(served.contains_key(route), "{route:?} is documented but not served");
    }
}

#[test]
fn every_route_takes_exactly_the_query_parameters_documented() {
    let doc = served();
    for r in ROUTES.iter() {
        let op = &doc["paths"][r.path][r.method.as_str().to_lowercase()];
        let mut documented: Vec<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| match p["$ref"].as_str() {
                Some(reference) => &doc["components"]["parameters"][reference.rsplit('/').next().unwrap()],
                None => p,
            })
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        let mut served: Vec<String> = r.query.iter().map(|s| s.to_string()).collect();
        documented.sort();
        served.sort();
        assert_eq!(served, documented, "{} {}", r.method, r.path);
    }
}

#[test]
fn every_reference_resolves() {
    let doc = served();
    let text = serde_json::to_string_pretty(&doc).unwrap();
    for part in text.split("\"$ref\": \"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref to {name}"
        );
    }
}
