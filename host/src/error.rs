//! The one error type of the domain: every refusal names the field, the value
//! and what was expected, so both the API and the CLI can explain it as is.

use crate::gate::GateVerdict;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that can never succeed as given (HTTP 400, exit code 2).
    #[error("invalid `{field}`: got {value}, expected {expected}")]
    Invalid {
        field: String,
        value: String,
        expected: String,
    },
    /// The request body or file is not the JSON document asked for.
    #[error("malformed {what}: {detail}")]
    Malformed { what: String, detail: String },
    /// The body is larger than the configured limit (HTTP 413).
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// No usable credentials (HTTP 401).
    #[error("unauthenticated: {reason}")]
    Unauthenticated { reason: String },
    /// Credentials that do not allow this (HTTP 403).
    #[error("forbidden: {reason}")]
    Forbidden { reason: String },
    #[error("no route for {path}")]
    NoRoute { path: String },
    #[error("method not allowed; allowed: {allowed}")]
    MethodNotAllowed { allowed: String },
    #[error("the request took longer than {after:?}")]
    Timeout { after: std::time::Duration },
    /// The client did not send its request body in time (HTTP 408).
    #[error("the request body was not received within {after:?} (body_read_timeout_ms)")]
    SlowClient { after: std::time::Duration },
    /// The sidecar is at a limit shared by all clients (HTTP 503); retry.
    #[error("busy: {reason}")]
    Busy { reason: String },
    #[error("{kind} {id:?} not found")]
    NotFound { kind: &'static str, id: String },
    /// A well-formed request that the current state refuses (HTTP 409, exit 1).
    #[error("conflict: {reason}")]
    Conflict { reason: String },
    /// A gate blocked the transition (HTTP 409, exit 1); the verdicts explain why.
    #[error("blocked by {} gate(s): {}", .verdicts.iter().filter(|v| v.blocked()).count(), summary(.verdicts))]
    Blocked { verdicts: Vec<GateVerdict> },
    /// The Trusted Release was withdrawn by a rollback (HTTP 410); the signed
    /// withdrawal goes with the answer.
    #[error("the Trusted Release of {app}@{version} was withdrawn by a rollback; see its withdrawal")]
    Withdrawn {
        app: String,
        version: String,
        withdrawal: Box<serde_json::Value>,
    },
    /// A stored activity-log row cannot even be read back (it was edited).
    #[error("activity-log event {seq} is corrupt: {reason}")]
    CorruptEvent { seq: i64, reason: String },
    /// The store failed; the detail is for the log, not for the client.
    #[error("store error: {0}")]
    Store(String),
}

fn summary(verdicts: &[GateVerdict]) -> String {
    verdicts
        .iter()
        .filter(|v| v.blocked())
        .map(|v| v.explain())
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub fn invalid(field: impl Into<String>, value: impl std::fmt::Debug, expected: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            value: format!("{value:?}"),
            expected: expected.into(),
        }
    }

    pub fn conflict(reason: impl Into<String>) -> Self {
        Error::Conflict { reason: reason.into() }
    }

    /// True when the caller's input is at fault (usage error, exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Invalid { .. } | Error::Malformed { .. } | Error::TooLarge { .. }
        )
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(e.to_string())
    }
}

/// Parse a JSON value into an input type; serde's complaint keeps the path of
/// the offending field (`artifacts[1].kind: unknown variant ...`).
pub fn parse_input<T: serde::de::DeserializeOwned>(what: &str, value: serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." {
            Error::Malformed {
                what: what.to_string(),
                detail: inner,
            }
        } else {
            Error::Malformed {
                what: what.to_string(),
                detail: format!("field `{path}`: {inner}"),
            }
        }
    })
}

/// Parse raw bytes (an HTTP body or a file) as JSON, then as `T`.
pub fn parse_json_bytes<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::Malformed {
        what: what.to_string(),
        detail: format!("not valid JSON: {e}"),
    })?;
    parse_input(what, value)
}
