//! Write Gatehouse plugins in Rust: gate checks that judge a version before it
//! moves to the next stage, and collectors that find evidence for it.
//!
//! A plugin is a WebAssembly component built for `wasm32-wasip2`. The host
//! runs it in a fresh sandbox for every call, with only what its manifest
//! grants: no environment, no arguments, no files outside `allowed_paths`, no
//! network beyond `allowed_hosts`, and limits on memory, time and output.
//!
//! The bindings are generated from the `gatehouse:plugin@0.1.0` WIT package in
//! the repository's `wit/` directory; this crate adds constructors and helpers.
//!
//! # A gate check
//!
//! ```no_run
//! use gatehouse_sdk::{Context, Error, Finding, GateCheck, Severity, Verdict};
//!
//! struct RequireTests;
//!
//! impl GateCheck for RequireTests {
//!     fn check(ctx: Context) -> Result<Verdict, Error> {
//!         let input = ctx.input_json()?;
//!         let tested = input["evidence"]
//!             .as_array()
//!             .into_iter()
//!             .flatten()
//!             .any(|e| e["predicate_type"] == "https://in-toto.io/attestation/test-result/v0.1");
//!         if tested {
//!             return Ok(Verdict::pass());
//!         }
//!         Ok(Verdict::from_findings(vec![
//!             Finding::new("TEST-001", format!("{} {} has no test results", ctx.application, ctx.version))
//!                 .severity(Severity::High)
//!                 .remediation("attach a signed test-result attestation"),
//!         ]))
//!     }
//! }
//!
//! gatehouse_sdk::export_gate_check!(RequireTests);
//! ```
//!
//! # A collector
//!
//! ```no_run
//! use gatehouse_sdk::{Collector, Context, Error, Statement};
//!
//! struct BuildInfo;
//!
//! impl Collector for BuildInfo {
//!     fn collect(ctx: Context) -> Result<Vec<Statement>, Error> {
//!         let dir = gatehouse_sdk::config::text("dir").ok_or_else(|| Error::new("config", "set `dir`"))?;
//!         let text = std::fs::read_to_string(format!("{dir}/build.json"))
//!             .map_err(|e| Error::new("read", format!("{dir}/build.json: {e}")))?;
//!         let predicate: serde_json::Value =
//!             serde_json::from_str(&text).map_err(|e| Error::new("parse", e.to_string()))?;
//!         gatehouse_sdk::log::info(&format!("collected build info for {}", ctx.version));
//!         Ok(vec![Statement::new("https://example.com/build-info/v1", &predicate)])
//!     }
//! }
//!
//! gatehouse_sdk::export_collector!(BuildInfo);
//! ```

#[doc(hidden)]
pub mod bindings {
    /// The `gate-check` world: the shared types, the host interface, and the `check` export.
    pub mod gate_check {
        wit_bindgen::generate!({
            path: "wit",
            world: "gatehouse:plugin/gate-check@0.1.0",
            pub_export_macro: true,
            export_macro_name: "export_gate_check",
            default_bindings_module: "gatehouse_sdk::bindings::gate_check",
        });
    }

    /// The `collector` world, reusing the types of the `gate-check` bindings.
    pub mod collector {
        wit_bindgen::generate!({
            path: "wit",
            world: "gatehouse:plugin/collector@0.1.0",
            pub_export_macro: true,
            export_macro_name: "export_collector",
            default_bindings_module: "gatehouse_sdk::bindings::collector",
            with: {
                "gatehouse:plugin/types@0.1.0": crate::bindings::gate_check::gatehouse::plugin::types,
                "gatehouse:plugin/host@0.1.0": crate::bindings::gate_check::gatehouse::plugin::host,
            },
        });
    }
}

pub use bindings::collector::Guest as Collector;
/// `export_collector!(MyType)`: make `MyType`'s [`Collector`] impl the component's `collect` export.
pub use bindings::collector::export_collector;
pub use bindings::gate_check::Guest as GateCheck;
/// `export_gate_check!(MyType)`: make `MyType`'s [`GateCheck`] impl the component's `check` export.
pub use bindings::gate_check::export_gate_check;
pub use bindings::gate_check::gatehouse::plugin::host::{ConfigValue, Level};
pub use bindings::gate_check::gatehouse::plugin::types::{
    Context, Error, Finding, Outcome, Severity, Statement, Transition, Verdict,
};

impl Verdict {
    /// Nothing against the transition.
    pub fn pass() -> Verdict {
        Verdict {
            outcome: Outcome::Pass,
            findings: Vec::new(),
        }
    }

    /// The transition may go on, with these findings shown.
    pub fn warn(findings: Vec<Finding>) -> Verdict {
        Verdict {
            outcome: Outcome::Warn,
            findings,
        }
    }

    /// The transition must not go on.
    pub fn fail(findings: Vec<Finding>) -> Verdict {
        Verdict {
            outcome: Outcome::Fail,
            findings,
        }
    }

    /// The outcome the findings call for: `pass` when there are none, `fail`
    /// when any is `high` or `critical`, `warn` otherwise.
    pub fn from_findings(findings: Vec<Finding>) -> Verdict {
        let outcome = if findings.is_empty() {
            Outcome::Pass
        } else if findings
            .iter()
            .any(|f| matches!(f.severity, Severity::High | Severity::Critical))
        {
            Outcome::Fail
        } else {
            Outcome::Warn
        };
        Verdict { outcome, findings }
    }
}

impl Finding {
    /// A `medium` finding with no remediation; refine it with the builders.
    pub fn new(rule: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            rule: rule.into(),
            message: message.into(),
            severity: Severity::Medium,
            remediation: None,
        }
    }

    pub fn severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }

    pub fn remediation(mut self, remediation: impl Into<String>) -> Finding {
        self.remediation = Some(remediation.into());
        self
    }
}

impl Error {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Error {
        Error {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl Statement {
    /// A statement of `predicate_type` carrying `predicate` (a JSON object).
    pub fn new(predicate_type: impl Into<String>, predicate: &serde_json::Value) -> Statement {
        Statement {
            predicate_type: predicate_type.into(),
            predicate: predicate.to_string(),
        }
    }
}

impl Context {
    /// The input document (docs/input-document.md) as JSON.
    pub fn input_json(&self) -> Result<serde_json::Value, Error> {
        serde_json::from_str(&self.input).map_err(|e| Error::new("bad-input", format!("input document: {e}")))
    }

    /// The binding's parameters as a JSON object.
    pub fn params_json(&self) -> Result<serde_json::Value, Error> {
        serde_json::from_str(&self.params).map_err(|e| Error::new("bad-params", format!("params: {e}")))
    }
}

/// The plugin's manifest `[config]` values.
pub mod config {
    use super::ConfigValue;
    #[cfg(target_arch = "wasm32")]
    use super::bindings::gate_check::gatehouse::plugin::host;

    /// The raw value of `key`.
    pub fn get(key: &str) -> Option<ConfigValue> {
        #[cfg(target_arch = "wasm32")]
        return host::config(key);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::mock::config(key);
    }

    /// Every key the manifest sets.
    pub fn keys() -> Vec<String> {
        #[cfg(target_arch = "wasm32")]
        return host::config_keys();
        #[cfg(not(target_arch = "wasm32"))]
        return crate::mock::config_keys();
    }

    /// A text value (integers and booleans are given as their text).
    pub fn text(key: &str) -> Option<String> {
        match get(key)? {
            ConfigValue::Text(s) => Some(s),
            ConfigValue::Integer(i) => Some(i.to_string()),
            ConfigValue::Boolean(b) => Some(b.to_string()),
            ConfigValue::List(_) => None,
        }
    }

    /// A list value; a single text value is a list of one.
    pub fn list(key: &str) -> Vec<String> {
        match get(key) {
            Some(ConfigValue::List(items)) => items,
            Some(ConfigValue::Text(s)) => vec![s],
            _ => Vec::new(),
        }
    }

    pub fn boolean(key: &str) -> Option<bool> {
        match get(key)? {
            ConfigValue::Boolean(b) => Some(b),
            _ => None,
        }
    }

    pub fn integer(key: &str) -> Option<i64> {
        match get(key)? {
            ConfigValue::Integer(i) => Some(i),
            _ => None,
        }
    }
}

/// Outbound HTTP through `wasi:http`. The host sends a request only to a host
/// the manifest lists in `allowed_hosts`; any other is refused before a
/// connection is made, and the plugin sees [`Error`] with code `http-denied`.
pub mod http {
    use super::Error;
    #[cfg(target_arch = "wasm32")]
    use wasip2::http::outgoing_handler;
    #[cfg(target_arch = "wasm32")]
    use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingRequest, Scheme};
    #[cfg(target_arch = "wasm32")]
    use wasip2::io::streams::StreamError;

    /// A response: status code and the whole body.
    #[derive(Debug, Clone)]
    pub struct Response {
        pub status: u16,
        pub body: Vec<u8>,
    }

    /// GET `url` (`http://host[:port]/path?query` or `https://…`), reading at
    /// most `max_body` bytes of the body.
    pub fn get(url: &str, max_body: usize) -> Result<Response, Error> {
        #[cfg(not(target_arch = "wasm32"))]
        return crate::mock::http_get(url, max_body);
        #[cfg(target_arch = "wasm32")]
        return wasi_get(url, max_body);
    }

    #[cfg(target_arch = "wasm32")]
    fn wasi_get(url: &str, max_body: usize) -> Result<Response, Error> {
        let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
            (Scheme::Https, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (Scheme::Http, r)
        } else {
            return Err(Error::new("bad-url", format!("{url}: expected http:// or https://")));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let request = OutgoingRequest::new(Fields::new());
        let set = request
            .set_method(&Method::Get)
            .and_then(|()| request.set_scheme(Some(&scheme)))
            .and_then(|()| request.set_authority(Some(authority)))
            .and_then(|()| request.set_path_with_query(Some(path)));
        if set.is_err() {
            return Err(Error::new("bad-url", format!("{url}: not a valid request target")));
        }
        let pending = outgoing_handler::handle(request, None).map_err(|e| refused(url, &e))?;
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(r))) => r,
            Some(Ok(Err(e))) => return Err(refused(url, &e)),
            _ => return Err(Error::new("http", format!("{url}: no response"))),
        };
        let status = response.status();
        let body = response
            .consume()
            .map_err(|()| Error::new("http", format!("{url}: response body unavailable")))?;
        let stream = body
            .stream()
            .map_err(|()| Error::new("http", format!("{url}: response body unavailable")))?;
        let mut out = Vec::new();
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    out.extend_from_slice(&chunk);
                    if out.len() > max_body {
                        return Err(Error::new("too-large", format!("{url}: body over {max_body} bytes")));
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(Error::new(
                        "http",
                        format!("{url}: reading the body: {}", e.to_debug_string()),
                    ));
                }
            }
        }
        drop(stream);
        Ok(Response { status, body: out })
    }

    #[cfg(target_arch = "wasm32")]
    fn refused(url: &str, e: &ErrorCode) -> Error {
        match e {
            ErrorCode::HttpRequestDenied => Error::new("http-denied", format!("{url}: the host refused the request")),
            other => Error::new("http", format!("{url}: {other:?}")),
        }
    }
}

/// Lines in the host's log, prefixed with the plugin's name.
pub mod log {
    use super::Level;
    #[cfg(target_arch = "wasm32")]
    use super::bindings::gate_check::gatehouse::plugin::host;

    pub fn write(level: Level, message: &str) {
        #[cfg(target_arch = "wasm32")]
        host::log(level, message);
        #[cfg(not(target_arch = "wasm32"))]
        crate::mock::log(level, message);
    }
    pub fn debug(message: &str) {
        write(Level::Debug, message);
    }
    pub fn info(message: &str) {
        write(Level::Info, message);
    }
    pub fn warn(message: &str) {
        write(Level::Warn, message);
    }
    pub fn error(message: &str) {
        write(Level::Error, message);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod mock;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcome_follows_the_worst_finding() {
        assert_eq!(Verdict::from_findings(Vec::new()).outcome, Outcome::Pass);
        let low = Finding::new("R1", "minor").severity(Severity::Low);
        assert_eq!(Verdict::from_findings(vec![low.clone()]).outcome, Outcome::Warn);
        let high = Finding::new("R2", "major").severity(Severity::High);
        assert_eq!(Verdict::from_findings(vec![low, high]).outcome, Outcome::Fail);
    }

    #[test]
    fn builders_fill_every_field() {
        let f = Finding::new("LIC-001", "GPL found")
            .severity(Severity::Critical)
            .remediation("replace it");
        assert_eq!(f.rule, "LIC-001");
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.remediation.as_deref(), Some("replace it"));
        let s = Statement::new("https://x/v1", &serde_json::json!({"a": 1}));
        assert_eq!(s.predicate, r#"{"a":1}"#);
    }

    #[test]
    fn bad_params_name_the_field() {
        let ctx = Context {
            application: "a".into(),
            version: "1".into(),
            transition: Transition {
                action: "promote".into(),
                from_stage: None,
                to_stage: Some("dev".into()),
                gate: "stage:dev:entry".into(),
            },
            params: "{not json".into(),
            input: "{}".into(),
        };
        let err = ctx.params_json().unwrap_err();
        assert_eq!(err.code, "bad-params");
        assert!(ctx.input_json().is_ok());
    }
}

#[cfg(all(test, feature = "testing"))]
mod mock_host {
    use super::testing::{MockHost, context};
    use super::*;

    #[test]
    fn config_log_and_http_reach_the_installed_host_and_leave_with_it() {
        {
            let host = MockHost::new()
                .config("deny", ["GPL-3.0-only"])
                .config("limit", 3)
                .http("https://scanner.example/v1/report", 200, "{}")
                .install();
            assert_eq!(config::list("deny"), ["GPL-3.0-only"]);
            assert_eq!(config::integer("limit"), Some(3));
            assert_eq!(config::text("limit").as_deref(), Some("3"));
            assert_eq!(config::keys(), ["deny", "limit"]);
            log::warn("careful");
            assert_eq!(host.logs(), [(Level::Warn, "careful".to_owned())]);
            assert_eq!(
                http::get("https://scanner.example/v1/report", 10)
                    .map(|r| r.status)
                    .ok(),
                Some(200)
            );
            let refused = http::get("https://elsewhere.example/", 10).unwrap_err();
            assert_eq!(refused.code, "http-denied");
            let big = http::get("https://scanner.example/v1/report", 1).unwrap_err();
            assert_eq!(big.code, "too-large");
        }
        assert!(config::get("deny").is_none(), "the host left with its guard");
        let other = std::thread::spawn(config::keys).join().unwrap();
        assert!(other.is_empty());
    }

    #[test]
    fn the_default_context_is_a_promotion_into_dev() {
        let ctx = context().params(serde_json::json!({"min": 1})).build();
        assert_eq!(ctx.transition.to_stage.as_deref(), Some("dev"));
        assert_eq!(ctx.transition.gate, "dev/entry");
        assert_eq!(ctx.params_json().unwrap()["min"], 1);
        assert_eq!(ctx.input_json().unwrap()["evidence"], serde_json::json!([]));
    }
}
