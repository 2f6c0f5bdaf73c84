//! The OpenAPI document in docs/ and the route table describe the same API:
//! every route is documented with the permission it really needs, and every
//! documented operation exists.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use std::collections::BTreeMap;

use gatehouse::api::routes::{OPENAPI, ROUTES};

#[test]
fn the_document_and_the_route_table_agree_both_ways() {
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
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
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
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
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
    let text = OPENAPI;
    for part in text.split("\"$ref\": \"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref to {name}"
        );
    }
}
