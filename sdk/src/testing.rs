//! Run a plugin's logic under plain `cargo test` (feature `testing`).
//!
//! Off `wasm32` the SDK's [`config`](crate::config), [`log`](crate::log) and
//! [`http`](crate::http) talk to a mock host held per thread, so each test
//! installs its own and tests run in parallel without seeing each other's.
//!
//! ```
//! use gatehouse_sdk::testing::{MockHost, context};
//! use gatehouse_sdk::{GateCheck, Context, Error, Verdict, Finding, Severity};
//!
//! struct NoLatest;
//! impl GateCheck for NoLatest {
//!     fn check(ctx: Context) -> Result<Verdict, Error> {
//!         let banned = gatehouse_sdk::config::list("banned");
//!         gatehouse_sdk::log::info(&format!("checking {}", ctx.version));
//!         if banned.contains(&ctx.version) {
//!             return Ok(Verdict::fail(vec![Finding::new("VER-001", "banned version").severity(Severity::High)]));
//!         }
//!         Ok(Verdict::pass())
//!     }
//! }
//!
//! let host = MockHost::new().config("banned", ["latest"]).install();
//! let verdict = NoLatest::check(context().version("latest").build()).unwrap();
//! assert_eq!(verdict.findings[0].rule, "VER-001");
//! assert_eq!(host.messages(), ["checking latest"]);
//! ```

use crate::mock::{STATE, State};
use crate::{ConfigValue, Context, Level, Transition};

/// The host a test sets up: the manifest's `[config]` values and the answers
/// to outbound HTTP GETs. Nothing is set until [`MockHost::install`].
#[derive(Default)]
#[must_use = "a mock host does nothing until it is installed"]
pub struct MockHost {
    state: State,
}

impl MockHost {
    pub fn new() -> MockHost {
        MockHost::default()
    }

    /// A `[config]` value, as the manifest would set it.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<ConfigValue>) -> MockHost {
        let key = key.into();
        self.state.config.retain(|(k, _)| *k != key);
        self.state.config.push((key, value.into()));
        self
    }

    /// The answer to a GET of exactly `url`; a URL with no answer is refused
    /// with `http-denied`, as a host outside `allowed_hosts` is.
    pub fn http(mut self, url: impl Into<String>, status: u16, body: impl Into<Vec<u8>>) -> MockHost {
        self.state.http.push((url.into(), status, body.into()));
        self
    }

    /// Make this the host of the current thread until the returned guard drops.
    pub fn install(self) -> Installed {
        STATE.with(|s| *s.borrow_mut() = self.state);
        Installed {
            _not_send: std::marker::PhantomData,
        }
    }
}

/// The installed mock host: read what the plugin logged. Dropping it
/// empties the thread's host again.
pub struct Installed {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Installed {
    /// Every line logged so far, with its level.
    pub fn logs(&self) -> Vec<(Level, String)> {
        STATE.with(|s| s.borrow().logs.clone())
    }

    /// Every message logged so far, without levels.
    pub fn messages(&self) -> Vec<String> {
        STATE.with(|s| s.borrow().logs.iter().map(|(_, m)| m.clone()).collect())
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        STATE.with(|s| *s.borrow_mut() = State::default());
    }
}

/// A context like the one the host passes: by default a promotion of
/// `example` 0.0.0 into `dev` at the `dev/entry` gate, no parameters and an
/// input document with no evidence — what `gatehouse plugin run` uses
/// without `--context`.
pub fn context() -> ContextBuilder {
    ContextBuilder {
        application: "example".into(),
        version: "0.0.0".into(),
        action: "promote".into(),
        from_stage: None,
        to_stage: Some("dev".into()),
        gate: "dev/entry".into(),
        params: serde_json::json!({}),
        input: serde_json::json!({
            "schema": "gatehouse.dev/input/v1",
            "evidence": [],
            "sbom": {"components": []},
            "findings": [],
            "waivers": [],
        }),
    }
}

/// Builds a [`Context`]; see [`context`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ContextBuilder {
    application: String,
    version: String,
    action: String,
    from_stage: Option<String>,
    to_stage: Option<String>,
    gate: String,
    params: serde_json::Value,
    input: serde_json::Value,
}

impl ContextBuilder {
    pub fn application(mut self, name: impl Into<String>) -> Self {
        self.application = name.into();
        self
    }
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }
    /// `promote`, `deploy`, `release` or `rollback`.
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = action.into();
        self
    }
    pub fn from_stage(mut self, stage: impl Into<String>) -> Self {
        self.from_stage = Some(stage.into());
        self
    }
    pub fn to_stage(mut self, stage: impl Into<String>) -> Self {
        self.to_stage = Some(stage.into());
        self
    }
    pub fn gate(mut self, gate: impl Into<String>) -> Self {
        self.gate = gate.into();
        self
    }
    /// The binding's parameters (a JSON object).
    pub fn params(mut self, params: serde_json::Value) -> Self {
        self.params = params;
        self
    }
    /// The whole input document (docs/input-document.md), e.g. one written
    /// by `gatehouse plugin context`.
    pub fn input(mut self, input: serde_json::Value) -> Self {
        self.input = input;
        self
    }
    pub fn build(self) -> Context {
        Context {
            application: self.application,
            version: self.version,
            transition: Transition {
                action: self.action,
                from_stage: self.from_stage,
                to_stage: self.to_stage,
                gate: self.gate,
            },
            params: self.params.to_string(),
            input: self.input.to_string(),
        }
    }
}

impl From<&str> for ConfigValue {
    fn from(v: &str) -> ConfigValue {
        ConfigValue::Text(v.to_owned())
    }
}
impl From<String> for ConfigValue {
    fn from(v: String) -> ConfigValue {
        ConfigValue::Text(v)
    }
}
impl From<i64> for ConfigValue {
    fn from(v: i64) -> ConfigValue {
        ConfigValue::Integer(v)
    }
}
impl From<bool> for ConfigValue {
    fn from(v: bool) -> ConfigValue {
        ConfigValue::Boolean(v)
    }
}
impl From<Vec<String>> for ConfigValue {
    fn from(v: Vec<String>) -> ConfigValue {
        ConfigValue::List(v)
    }
}
impl From<Vec<&str>> for ConfigValue {
    fn from(v: Vec<&str>) -> ConfigValue {
        ConfigValue::List(v.into_iter().map(str::to_owned).collect())
    }
}
impl<const N: usize> From<[&str; N]> for ConfigValue {
    fn from(v: [&str; N]) -> ConfigValue {
        ConfigValue::List(v.iter().map(|s| (*s).to_owned()).collect())
    }
}
