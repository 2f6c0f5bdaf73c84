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

/// A value of a query parameter's schema.
fn sample(schema: &serde_json::Value, doc: &serde_json::Value) -> String {
    let schema = match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => schema,
    };
    if let Some(first) = schema["enum"].get(0) {
        return first.as_str().unwrap().to_string();
    }
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("integer"), _) => "1".into(),
        (Some("boolean"), _) => "true".into(),
        (_, Some("date-time")) => "2026-01-01T00:00:00Z".into(),
        _ => "x".into(),
    }
}

/// The parameter a refusal names, when the route does not take it at all
/// (a refusal of its value, alone or with others, is another matter).
fn refused_parameter(reply: &gatehouse::api::Reply) -> Option<String> {
    match reply {
        Err(gatehouse::Error::Invalid { field, .. }) => field.strip_prefix("query parameter ").map(str::to_string),
        _ => None,
    }
}

#[test]
fn every_route_takes_exactly_the_query_parameters_documented() {
    let doc = served();
    let dir = tempfile::tempdir().unwrap();
    let gh = gatehouse::Gatehouse::open(dir.path()).unwrap();
    let call = |r: &gatehouse::api::routes::Route, query: String| {
        let path = r
            .path
            .split('/')
            .map(|s| match s {
                "{version}" => "1.0.0",
                s if s.starts_with('{') => "none",
                s => s,
            })
            .collect::<Vec<_>>()
            .join("/");
        let call = gatehouse::api::Call {
            method: r.method.clone(),
            path,
            query,
            body: Default::default(),
        };
        gatehouse::api::routes::call_local(&gh, &call, "tester")
    };
    let mut checked = 0;
    for r in ROUTES.iter() {
        let op = &doc["paths"][r.path][r.method.as_str().to_lowercase()];
        let documented: Vec<&serde_json::Value> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .collect();
        for p in &documented {
            let name = p["name"].as_str().unwrap();
            let mut query = format!("{name}={}", sample(&p["schema"], &doc));
            // A required parameter goes with every other.
            for q in documented.iter().filter(|q| q["required"] == true && q["name"] != name) {
                query.push_str(&format!(
                    "&{}={}",
                    q["name"].as_str().unwrap(),
                    sample(&q["schema"], &doc)
                ));
            }
            let reply = call(r, query.clone());
            assert_eq!(
                refused_parameter(&reply),
                None,
                "{} {}?{query}: a documented parameter is refused: {:?}",
                r.method,
                r.path,
                reply.err()
            );
            checked += 1;
        }
        let reply = call(r, "undocumented=1".into());
        assert_eq!(
            refused_parameter(&reply).as_deref(),
            Some("undocumented"),
            "{} {}: an undocumented parameter is not refused by name",
            r.method,
            r.path
        );
    }
    assert!(checked >= 30, "only {checked} documented parameters were tried");
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
