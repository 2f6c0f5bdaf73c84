//! The OpenAPI 3.1 document, generated: paths, methods and permissions from
//! the route table, request and answer schemas from the types the handlers
//! parse and serialise (`schemars`, JSON Schema 2020-12, the dialect of
//! OpenAPI 3.1), with the constraints the validators enforce
//! (`gatehouse_core::schema`). `GET /v1/openapi.json` serves it, and
//! docs/openapi.json is this document as committed: a test fails when they
//! differ, and `GATEHOUSE_BLESS=1 cargo test -p gatehouse-host --test openapi`
//! writes it anew.
//!
//! What the table below adds to the route table is what no type says: the
//! operation's id, tag, summary, the status of its answer, and the refusals
//! beyond those every route can give.

use std::sync::OnceLock;

use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use super::routes::{Deleted, IngestReport, List, NewToken, Page, ROUTES, RevokeRequest, Route, Status};
use crate::access::{Permission, Token};
use crate::app::{Application, ApplicationPatch, NewApplication};
use crate::audit::Event;
use crate::binding::{Binding, BindingSpec};
use crate::evidence::{EvidenceEntry, EvidenceRecord};
use crate::gate::GateVerdict;
use crate::keys::{NewTrustedKey, TrustedKey, TrustedRoot};
use crate::lifecycle::{Lifecycle, LifecycleSpec};
use crate::plugin::PluginInfo;
use crate::release::Checkpoint;
use crate::sbom::Component;
use crate::schema::Envelope;
use crate::service::{
    ApplicationGatePlan, BlastRadius, ChainReport, CollectOutcome, CollectRequest, CreatedToken, GateCall, GatePlan,
    ImportReport, PolicyUpload, PromoteRequest, PublicKey, ReleaseRequest, RollbackRequest, SbomAttached,
    TransitionOutcome,
};
use crate::version::{NewVersion, Version, VersionPatch};
use crate::vuln::Finding as VulnFinding;
use crate::waiver::{Decision as WaiverDecision, Waiver, WaiverRequest};
use gatehouse_core::policy::{Policy, PolicySummary};

/// Writes a schema into a generator and returns it (a `$ref` for named types).
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// What an operation takes as its body.
enum Body {
    None,
    Required(SchemaFn),
    /// An empty body is the default value.
    Optional(SchemaFn),
    /// One DSSE envelope, a JSON array of them, or JSON Lines.
    Evidence,
}

/// What an operation answers when it succeeds.
enum Answer {
    Json(u16, SchemaFn),
    Text(&'static str),
}

/// One operation: what the route table does not say.
struct Operation {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    description: &'static str,
    body: Body,
    answer: Answer,
    /// Error answers beyond those of every route (400, 401, 403, 413, 503).
    refusals: &'static [u16],
    /// Other answers with a body of their own: status, description, schema.
    also: &'static [(u16, &'static str, SchemaFn)],
}

const fn op(
    method: &'static str,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    answer: Answer,
) -> Operation {
    Operation {
        method,
        path,
        id,
        tag,
        summary,
        description: "",
        body: Body::None,
        answer,
        refusals: &[],
        also: &[],
    }
}

impl Operation {
    const fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    const fn refusals(mut self, refusals: &'static [u16]) -> Self {
        self.refusals = refusals;
        self
    }

    const fn also(mut self, also: &'static [(u16, &'static str, SchemaFn)]) -> Self {
        self.also = also;
        self
    }

    const fn describe(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }
}

/// An error answer (`{"error": {...}}`); `code` is one of [`crate::error::Kind`]'s codes.
struct ErrorAnswer;

impl JsonSchema for ErrorAnswer {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Error".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let codes: Vec<&str> = crate::error::Kind::all().iter().map(|k| k.code()).collect();
        let verdicts = g.subschema_for::<Vec<GateVerdict>>();
        let envelope = g.subschema_for::<Envelope>();
        json_schema!({
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": { "type": "string", "enum": codes },
                        "message": { "type": "string" },
                        "field": { "type": "string", "description": "With `invalid`: the field that was refused" },
                        "value": { "type": "string", "description": "With `invalid`: the value given" },
                        "expected": { "type": "string", "description": "With `invalid`: what the field takes" },
                        "limit": { "type": "integer", "description": "With `too_large`: the limit in bytes" },
                        "gates": verdicts,
                        "withdrawal": envelope
                    }
                }
            }
        })
    }
}

/// The body of `POST /v1/advisories`.
struct Advisories;

impl JsonSchema for Advisories {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Advisories".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "One OSV advisory (https://ossf.github.io/osv-schema/), a JSON array of them, or JSON Lines. Any JSON is taken: each document is checked on its own, and one that is not an OSV advisory is listed in `rejected` with why"
        })
    }
}

/// The body of `POST …/sboms`.
struct SbomDocument;

impl JsonSchema for SbomDocument {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SbomDocument".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A CycloneDX (1.4 to 1.6) or SPDX 2.3 JSON document",
            "type": "object"
        })
    }
}

/// This document.
struct Document;

impl JsonSchema for Document {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Document".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "object", "description": "OpenAPI 3.1" })
    }
}

/// The document, built once.
pub fn served() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| text(&document()))
}

/// The document as committed to docs/openapi.json: two-space indents, a
/// final newline.
pub fn text(doc: &Value) -> String {
    let mut out = serde_json::to_string_pretty(doc).unwrap_or_default();
    out.push('\n');
    out
}

/// Where each generator puts its named schemas. Requests are generated
/// under the deserialising contract (a field with a default is optional),
/// answers under the serialising one (a field always written is required);
/// a type whose two schemas differ is named twice (`…Input` for requests).
const ANSWERS: &str = "/components/schemas";
const REQUESTS: &str = "/components/requestSchemas";

fn generator(contract: Contract, path: &'static str) -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = path.into();
            s.meta_schema = None;
            s.contract = contract;
        })
        .into_generator()
}

/// Generate the whole document.
pub fn document() -> Value {
    let mut requests = generator(Contract::Deserialize, REQUESTS);
    let mut answers = generator(Contract::Serialize, ANSWERS);
    let error = answers.subschema_for::<ErrorAnswer>();
    let mut paths: std::collections::BTreeMap<&str, Map<String, Value>> = std::collections::BTreeMap::new();
    for route in ROUTES {
        let op = operation(route);
        paths.entry(route.path).or_default().insert(
            op.method.to_lowercase(),
            describe(route, op, &mut requests, &mut answers, &error),
        );
    }
    let mut schemas: std::collections::BTreeMap<String, Value> = answers.take_definitions(true).into_iter().collect();
    let requested: std::collections::BTreeMap<String, Value> = requests.take_definitions(true).into_iter().collect();
    // A request schema that differs from the answer schema of the same name
    // (after its references are pointed at the shared names) is named
    // `…Input`; renaming one can make another differ, so repeat until stable.
    let mut inputs = std::collections::BTreeSet::new();
    let renames = loop {
        let renames: Vec<(String, String)> = requested
            .keys()
            .map(|n| {
                let target = if inputs.contains(n) {
                    format!("{n}Input")
                } else {
                    n.clone()
                };
                (format!("#{REQUESTS}/{n}"), format!("#{ANSWERS}/{target}"))
            })
            .collect();
        let mut changed = false;
        for (name, s) in &requested {
            if inputs.contains(name) {
                continue;
            }
            if let Some(answer) = schemas.get(name) {
                let mut s = s.clone();
                rewrite_refs(&mut s, &renames);
                if s != *answer {
                    inputs.insert(name.clone());
                    changed = true;
                }
            }
        }
        if !changed {
            break renames;
        }
    };
    for (name, mut s) in requested {
        rewrite_refs(&mut s, &renames);
        let target = if inputs.contains(&name) {
            format!("{name}Input")
        } else {
            name
        };
        schemas.entry(target).or_insert(s);
    }
    let mut paths = json!(paths);
    rewrite_refs(&mut paths, &renames);
    let schemas: Map<String, Value> = schemas.into_iter().collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Gatehouse",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Release governance: versions climb a lifecycle only through gates that judge signed evidence. Every call but health, readiness, metrics, the public keys and this document needs a bearer token; `x-gatehouse-permission` names what each operation needs (admin may do everything). Generated from the server's types (host/src/api/openapi.rs)."
        },
        "servers": [{ "url": "http://127.0.0.1:8420" }],
        "security": [{ "bearer": [] }],
        "tags": TAGS.iter().map(|(name, description)| json!({ "name": name, "description": description })).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas
        }
    })
}

const TAGS: &[(&str, &str)] = &[
    ("operations", "Health, readiness, metrics and this document"),
    ("applications", "Applications: owners, criticality, maturity, labels"),
    ("versions", "Versions and their moves through a lifecycle's gates"),
    (
        "evidence",
        "Signed evidence (DSSE, in-toto) and the keys it must be signed with",
    ),
    ("activity", "The hash-chained activity log and its signed checkpoints"),
    ("lifecycles", "Lifecycles: the stages versions climb"),
    ("access", "Tokens and roles"),
    ("policies", "Rego policies and the bindings that run checks at gates"),
    ("waivers", "Scoped, time-limited, approved exceptions to a gate"),
    (
        "releases",
        "Trusted Release records, verification summaries, withdrawals, signing keys",
    ),
    ("vulnerabilities", "SBOMs, OSV advisories and findings"),
    ("plugins", "WebAssembly plugins (docs/plugins.md)"),
];

/// The operation of a route; every route has one (a test walks them all).
fn operation(route: &Route) -> &'static Operation {
    OPERATIONS
        .iter()
        .find(|o| o.method == route.method.as_str() && o.path == route.path)
        .unwrap_or_else(|| panic!("{} {} has no entry in OPERATIONS", route.method, route.path))
}

/// Whether every route has exactly one operation and every operation a route.
pub fn unmatched() -> Vec<String> {
    let mut out = Vec::new();
    for r in ROUTES {
        let n = OPERATIONS
            .iter()
            .filter(|o| o.method == r.method.as_str() && o.path == r.path)
            .count();
        if n != 1 {
            out.push(format!("route {} {} has {n} operations", r.method, r.path));
        }
    }
    for o in OPERATIONS {
        if !ROUTES.iter().any(|r| o.method == r.method.as_str() && o.path == r.path) {
            out.push(format!("operation {} ({} {}) has no route", o.id, o.method, o.path));
        }
    }
    out
}

fn describe(
    route: &Route,
    op: &Operation,
    requests: &mut SchemaGenerator,
    answers: &mut SchemaGenerator,
    error: &Schema,
) -> Value {
    let public = route.permission == Permission::Public;
    let mut responses = Map::new();
    let json_content = |s: Value| json!({ "application/json": { "schema": s } });
    match op.answer {
        Answer::Json(status, f) => {
            let description = if status == 201 { "Created" } else { "OK" };
            responses.insert(
                status.to_string(),
                json!({ "description": description, "content": json_content(f(answers).to_value()) }),
            );
        }
        Answer::Text(media) => {
            responses.insert(
                "200".into(),
                json!({ "description": "OK", "content": { media: { "schema": { "type": "string" } } } }),
            );
        }
    }
    for (status, description, f) in op.also {
        responses.insert(
            status.to_string(),
            json!({ "description": description, "content": json_content(f(answers).to_value()) }),
        );
    }
    let mut refusals: Vec<u16> = vec![400, 413, 503];
    if !public {
        refusals.extend([401, 403]);
    }
    refusals.extend(op.refusals);
    refusals.sort_unstable();
    for status in refusals {
        responses.entry(status.to_string()).or_insert_with(
            || json!({ "description": refusal(status), "content": json_content(error.clone().to_value()) }),
        );
    }
    let mut out = Map::new();
    out.insert("operationId".into(), json!(op.id));
    out.insert("summary".into(), json!(op.summary));
    out.insert("tags".into(), json!([op.tag]));
    out.insert("x-gatehouse-permission".into(), json!(route.permission));
    out.insert("responses".into(), Value::Object(responses));
    if !op.description.is_empty() {
        out.insert("description".into(), json!(op.description));
    }
    if public {
        out.insert("security".into(), json!([]));
    }
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    if let Some(f) = route.query {
        parameters.extend(query_parameters(&f(requests).to_value()));
    }
    if !parameters.is_empty() {
        out.insert("parameters".into(), json!(parameters));
    }
    let body = match op.body {
        Body::None => None,
        Body::Required(f) => Some((true, json_content(f(requests).to_value()))),
        Body::Optional(f) => Some((false, json_content(f(requests).to_value()))),
        Body::Evidence => Some((
            true,
            json!({
                "application/json": { "schema": requests.subschema_for::<Envelope>().to_value() },
                "application/x-ndjson": { "schema": { "type": "string", "description": "One DSSE envelope per line" } }
            }),
        )),
    };
    if let Some((required, content)) = body {
        out.insert(
            "requestBody".into(),
            json!({ "required": required, "content": content }),
        );
    }
    Value::Object(out)
}

fn refusal(status: u16) -> &'static str {
    match status {
        400 => "Invalid input; the message names the field",
        401 => "Missing, malformed, unknown, expired or revoked token",
        403 => "The token's role does not allow this",
        404 => "No such resource",
        409 => "The current state refuses it (conflict or blocked gate)",
        410 => "The release was withdrawn by a rollback; the body carries the signed withdrawal",
        413 => "Body over the limit",
        503 => "The request took longer than the configured timeout, or the sidecar is busy",
        _ => "Refused",
    }
}

/// The properties of a query struct's schema, as query parameters (a query
/// string cannot say null, so `Option`'s null is dropped).
fn query_parameters(schema: &Value) -> Vec<Value> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, s)| {
            let mut s = non_null(s.clone());
            let description = s.as_object_mut().and_then(|m| m.remove("description"));
            let mut p = Map::new();
            p.insert("name".into(), json!(name));
            p.insert("in".into(), json!("query"));
            p.insert("required".into(), json!(required.contains(&name.as_str())));
            p.insert("schema".into(), s);
            if let Some(d) = description {
                p.insert("description".into(), d);
            }
            Value::Object(p)
        })
        .collect()
}

/// `T` of a schema for `Option<T>`: `type: [T, "null"]` or `anyOf: [T, null]`.
fn non_null(s: Value) -> Value {
    let Value::Object(mut m) = s else {
        return s;
    };
    if let Some(Value::Array(types)) = m.get("type") {
        let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        let single = match rest.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(rest),
        };
        m.insert("type".into(), single);
    }
    if let Some(Value::Array(any)) = m.get("anyOf") {
        let rest: Vec<&Value> = any.iter().filter(|a| a.get("type") != Some(&json!("null"))).collect();
        if let [Value::Object(one)] = rest.as_slice() {
            let mut one = one.clone();
            if let Some(d) = m.get("description") {
                one.insert("description".into(), d.clone());
            }
            return Value::Object(one);
        }
    }
    Value::Object(m)
}

/// Point every `$ref` of the request generator at the schema it became.
fn rewrite_refs(v: &mut Value, renames: &[(String, String)]) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some((_, to)) = renames.iter().find(|(from, _)| from == r)
            {
                *r = to.clone();
            }
            m.values_mut().for_each(|x| rewrite_refs(x, renames));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_refs(x, renames)),
        _ => {}
    }
}

static OPERATIONS: &[Operation] = &[
    op("GET", "/healthz", "healthz", "operations", "Liveness", Answer::Json(200, schema::<Status>)),
    op("GET", "/readyz", "readyz", "operations", "Readiness: the store answers", Answer::Json(200, schema::<Status>))
        .also(&[(503, "not ready", schema::<Status>)]),
    op("GET", "/metrics", "metrics", "operations", "Prometheus metrics", Answer::Text("text/plain")),
    op("GET", "/v1/openapi.json", "openapi", "operations", "This document", Answer::Json(200, schema::<Document>)),
    op("GET", "/v1/applications", "listApplications", "applications", "List applications", Answer::Json(200, schema::<Page<Application, String>>)),
    op("POST", "/v1/applications", "createApplication", "applications", "Create an application", Answer::Json(201, schema::<Application>))
        .body(Body::Required(schema::<NewApplication>))
        .refusals(&[409]),
    op("GET", "/v1/applications/{app}", "getApplication", "applications", "Show an application", Answer::Json(200, schema::<Application>))
        .refusals(&[404]),
    op("PATCH", "/v1/applications/{app}", "updateApplication", "applications", "Change an application (the key is immutable)", Answer::Json(200, schema::<Application>))
        .body(Body::Required(schema::<ApplicationPatch>))
        .refusals(&[404]),
    op("DELETE", "/v1/applications/{app}", "deleteApplication", "applications", "Delete an application whose versions are all drafts", Answer::Json(200, schema::<Deleted<'static>>))
        .refusals(&[404, 409]),
    op("GET", "/v1/applications/{app}/versions", "listVersions", "versions", "List an application's versions", Answer::Json(200, schema::<Page<Version, i64>>))
        .refusals(&[404]),
    op("POST", "/v1/applications/{app}/versions", "createVersion", "versions", "Create a draft version", Answer::Json(201, schema::<Version>))
        .body(Body::Required(schema::<NewVersion>))
        .refusals(&[404, 409]),
    op("GET", "/v1/applications/{app}/versions/{version}", "getVersion", "versions", "Show a version", Answer::Json(200, schema::<Version>))
        .refusals(&[404]),
    op("PATCH", "/v1/applications/{app}/versions/{version}", "updateVersion", "versions", "Change a draft version", Answer::Json(200, schema::<Version>))
        .body(Body::Required(schema::<VersionPatch>))
        .refusals(&[404, 409]),
    op("POST", "/v1/applications/{app}/versions/{version}/promote", "promote", "versions", "Promote through the exit and entry gates", Answer::Json(200, schema::<TransitionOutcome>))
        .body(Body::Required(schema::<PromoteRequest>))
        .refusals(&[404, 409]),
    op("POST", "/v1/applications/{app}/versions/{version}/release", "release", "versions", "Release from the last stage through the release gate", Answer::Json(200, schema::<TransitionOutcome>))
        .body(Body::Optional(schema::<ReleaseRequest>))
        .refusals(&[404, 409]),
    op("POST", "/v1/applications/{app}/versions/{version}/rollback", "rollback", "versions", "Move back one stage", Answer::Json(200, schema::<TransitionOutcome>))
        .body(Body::Required(schema::<RollbackRequest>))
        .refusals(&[404, 409]),
    op("GET", "/v1/applications/{app}/versions/{version}/timeline", "timeline", "versions", "The version's events", Answer::Json(200, schema::<Page<Event, i64>>))
        .refusals(&[404]),
    op("GET", "/v1/applications/{app}/versions/{version}/evidence", "versionEvidence", "evidence", "The version's evidence", Answer::Json(200, schema::<List<EvidenceEntry>>))
        .refusals(&[404]),
    op("GET", "/v1/applications/{app}/versions/{version}/document", "gateDocument", "plugins", "The call a gate of the version's next move would make now: transition and input document (collectors not run; nothing written)", Answer::Json(200, schema::<GateCall>))
        .refusals(&[400, 404, 409])
        .describe("What `gatehouse plugin context APP VERSION STAGE` writes for `gatehouse plugin run --context`: replay a real gate's input against a plugin under development."),
    op("GET", "/v1/activity", "activity", "activity", "Activity-log events", Answer::Json(200, schema::<Page<Event, i64>>)),
    op("GET", "/v1/activity/verify", "verifyActivity", "activity", "Walk the hash chain", Answer::Json(200, schema::<ChainReport>)),
    op("GET", "/v1/lifecycles", "listLifecycles", "lifecycles", "Lifecycles, the built-in default included", Answer::Json(200, schema::<List<Lifecycle>>)),
    op("GET", "/v1/lifecycles/{name}", "getLifecycle", "lifecycles", "Show a lifecycle", Answer::Json(200, schema::<Lifecycle>))
        .refusals(&[404]),
    op("PUT", "/v1/lifecycles/{name}", "putLifecycle", "lifecycles", "Define or replace a lifecycle", Answer::Json(200, schema::<Lifecycle>))
        .body(Body::Required(schema::<LifecycleSpec>))
        .refusals(&[409]),
    op("GET", "/v1/trusted-keys", "listTrustedKeys", "evidence", "Keys trusted to sign evidence", Answer::Json(200, schema::<List<TrustedKey>>)),
    op("POST", "/v1/trusted-keys", "trustKey", "evidence", "Trust an ed25519 public key, or a keyless (Sigstore) signer by identity", Answer::Json(201, schema::<TrustedKey>))
        .body(Body::Required(schema::<NewTrustedKey>))
        .refusals(&[409]),
    op("GET", "/v1/trusted-keys/{keyid}", "getTrustedKey", "evidence", "Show a trusted key", Answer::Json(200, schema::<TrustedKey>))
        .refusals(&[404]),
    op("POST", "/v1/trusted-keys/{keyid}/revoke", "revokeKey", "evidence", "Revoke a trusted key", Answer::Json(200, schema::<TrustedKey>))
        .body(Body::Optional(schema::<RevokeRequest>))
        .refusals(&[404, 409]),
    op("GET", "/v1/trusted-roots", "listTrustedRoots", "evidence", "Sigstore trusted roots that bundles verify against", Answer::Json(200, schema::<List<TrustedRoot>>)),
    op("POST", "/v1/trusted-roots", "importTrustedRoot", "evidence", "Import (or replace, by name) a Sigstore trusted_root.json", Answer::Json(201, schema::<TrustedRoot>))
        .body(Body::Required(schema::<serde_json::Value>))
        .describe("The body is the file in Sigstore's protobuf-specs format (Fulcio CAs, transparency logs, CT logs, timestamp authorities, each with its validity window). It is checked whole before anything is written; a file that is not one is refused (400, field `trusted_root`). Bundles are verified offline against the roots that hold their transparency log."),
    op("POST", "/v1/evidence", "addEvidence", "evidence", "Ingest a DSSE envelope, a Sigstore bundle (v0.1-v0.3), or JSON Lines of them", Answer::Json(200, schema::<IngestReport>))
        .body(Body::Evidence)
        .refusals(&[404])
        .also(&[(422, "some envelope was refused; every result is listed", schema::<IngestReport>)]),
    op("GET", "/v1/evidence/{digest}", "getEvidence", "evidence", "A stored envelope by content address", Answer::Json(200, schema::<EvidenceRecord>))
        .refusals(&[404]),
    op("GET", "/v1/tokens", "listTokens", "access", "API tokens (never their secrets)", Answer::Json(200, schema::<List<Token>>)),
    op("POST", "/v1/tokens", "createToken", "access", "Create a token; its secret is returned once", Answer::Json(201, schema::<CreatedToken>))
        .body(Body::Required(schema::<NewToken>)),
    op("POST", "/v1/tokens/{id}/revoke", "revokeToken", "access", "Revoke a token", Answer::Json(200, schema::<Token>))
        .refusals(&[404, 409]),
    op("GET", "/v1/policies", "listPolicies", "policies", "Loaded policies: bundled, from the policy directory, uploaded", Answer::Json(200, schema::<List<PolicySummary>>)),
    op("GET", "/v1/policies/{name}", "getPolicy", "policies", "A policy with its text", Answer::Json(200, schema::<Policy>))
        .refusals(&[404]),
    op("PUT", "/v1/policies/{name}", "uploadPolicy", "policies", "Upload or replace a policy (it must compile)", Answer::Json(200, schema::<Policy>))
        .body(Body::Required(schema::<PolicyUpload>))
        .refusals(&[409]),
    op("GET", "/v1/bindings", "listBindings", "policies", "Bindings from the config file and the API", Answer::Json(200, schema::<List<Binding>>)),
    op("PUT", "/v1/bindings/{id}", "putBinding", "policies", "Define or replace a binding", Answer::Json(200, schema::<Binding>))
        .body(Body::Required(schema::<BindingSpec>))
        .refusals(&[409]),
    op("DELETE", "/v1/bindings/{id}", "deleteBinding", "policies", "Remove a binding", Answer::Json(200, schema::<Deleted<'static>>))
        .refusals(&[404, 409]),
    op("GET", "/v1/applications/{app}/gate-plan", "applicationGatePlan", "applications", "Every gate of the application's lifecycle and the checks each would run, with why", Answer::Json(200, schema::<ApplicationGatePlan>))
        .refusals(&[404]),
    op("GET", "/v1/applications/{app}/versions/{version}/gate-plan", "gatePlan", "versions", "Which checks a promotion would run, and which binding matched", Answer::Json(200, schema::<GatePlan>))
        .refusals(&[404, 409]),
    op("GET", "/v1/applications/{app}/versions/{version}/evaluations", "gateEvaluations", "versions", "Stored gate evaluations", Answer::Json(200, schema::<List<GateVerdict>>))
        .refusals(&[404]),
    op("GET", "/v1/waivers", "listWaivers", "waivers", "Waivers", Answer::Json(200, schema::<List<Waiver>>)),
    op("POST", "/v1/waivers", "requestWaiver", "waivers", "Request a waiver", Answer::Json(201, schema::<Waiver>))
        .body(Body::Required(schema::<WaiverRequest>))
        .refusals(&[404]),
    op("GET", "/v1/waivers/{id}", "getWaiver", "waivers", "A waiver", Answer::Json(200, schema::<Waiver>))
        .refusals(&[404]),
    op("POST", "/v1/waivers/{id}/approve", "approveWaiver", "waivers", "Approve (not by its requester)", Answer::Json(200, schema::<Waiver>))
        .body(Body::Optional(schema::<WaiverDecision>))
        .refusals(&[404, 409]),
    op("POST", "/v1/waivers/{id}/reject", "rejectWaiver", "waivers", "Reject (not by its requester)", Answer::Json(200, schema::<Waiver>))
        .body(Body::Optional(schema::<WaiverDecision>))
        .refusals(&[404, 409]),
    op("POST", "/v1/waivers/{id}/revoke", "revokeWaiver", "waivers", "Revoke", Answer::Json(200, schema::<Waiver>))
        .refusals(&[404, 409]),
    op("GET", "/v1/applications/{app}/versions/{version}/trusted-release", "trustedRelease", "releases", "The signed Trusted Release record (DSSE envelope)", Answer::Json(200, schema::<Envelope>))
        .refusals(&[404]),
    op("GET", "/v1/applications/{app}/versions/{version}/vsa", "verificationSummary", "releases", "The SLSA Verification Summary Attestation (DSSE envelope)", Answer::Json(200, schema::<Envelope>))
        .refusals(&[404, 410])
        .describe("A withdrawn release (rolled back after its release) answers 410 `withdrawn` with the signed withdrawal, so a consumer that asks for the VSA never gets a passing verdict for it; `include_withdrawn=true` serves the original VSA for audit."),
    op("GET", "/v1/keys", "publicKeys", "releases", "The public keys that sign records and checkpoints, current and earlier", Answer::Json(200, schema::<List<PublicKey>>)),
    op("GET", "/v1/activity/checkpoints", "listCheckpoints", "activity", "Signed checkpoints of the activity-log head", Answer::Json(200, schema::<List<Checkpoint>>)),
    op("POST", "/v1/activity/checkpoints", "createCheckpoint", "activity", "Sign the current activity-log head", Answer::Json(201, schema::<Checkpoint>)),
    op("POST", "/v1/applications/{app}/versions/{version}/sboms", "attachSbom", "vulnerabilities", "Attach a CycloneDX or SPDX JSON SBOM; its components are matched at once", Answer::Json(201, schema::<SbomAttached>))
        .body(Body::Required(schema::<SbomDocument>))
        .refusals(&[404, 409])
        .describe("A version that has entered a stage is frozen: its SBOM can no longer be uploaded (409); add it as signed evidence bound by subject instead."),
    op("GET", "/v1/applications/{app}/versions/{version}/components", "components", "vulnerabilities", "The components of the version's SBOM (normalised purls, by purl)", Answer::Json(200, schema::<List<Component>>))
        .refusals(&[404]),
    op("GET", "/v1/applications/{app}/versions/{version}/findings", "findings", "vulnerabilities", "The version's vulnerability findings", Answer::Json(200, schema::<List<VulnFinding>>))
        .refusals(&[404]),
    op("POST", "/v1/advisories", "importAdvisories", "vulnerabilities", "Import OSV advisories (one, a JSON array, or JSON Lines); new and changed ones are matched against every version", Answer::Json(200, schema::<ImportReport>))
        .body(Body::Required(schema::<Advisories>)),
    op("GET", "/v1/vulnerabilities/{id}/blast-radius", "blastRadius", "vulnerabilities", "Applications, versions, stages and trusted releases an advisory (or an alias) affects", Answer::Json(200, schema::<BlastRadius>))
        .refusals(&[404]),
    op("GET", "/v1/plugins", "listPlugins", "plugins", "Loaded plugins: bundled and from the plugin directory", Answer::Json(200, schema::<List<PluginInfo>>)),
    op("GET", "/v1/plugins/{name}", "getPlugin", "plugins", "One plugin: world, digest, signer, capabilities, config", Answer::Json(200, schema::<PluginInfo>))
        .refusals(&[404]),
    op("POST", "/v1/applications/{app}/versions/{version}/collect", "collect", "plugins", "Run a collector plugin now; its statements are signed by the host and stored as the version's evidence", Answer::Json(200, schema::<CollectOutcome>))
        .body(Body::Required(schema::<CollectRequest>))
        .refusals(&[404, 409]),
    op("GET", "/v1/applications/{app}/versions/{version}/withdrawal", "getWithdrawal", "releases", "The signed withdrawal of a version's Trusted Release (written when a trusted release is rolled back); 404 while it stands", Answer::Json(200, schema::<Envelope>))
        .refusals(&[404])
        .describe("A DSSE envelope of an in-toto statement (predicateType https://gatehouse.dev/withdrawal/v1) about the record's subjects, signed by the release key: application, version, the record's digest, withdrawn_at, withdrawn_by, reason. `gatehouse verify --withdrawals FILE` (or with --server) refuses a withdrawn record."),
];
