//! The one error type of the domain: every refusal names the field, the value
//! and what was expected, so both the API and the CLI can explain it as is.
//! A leaf: it names no domain type (a blocked transition carries its
//! verdicts as the JSON the API serves).

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
    /// The database cannot be reached (HTTP 503, exit 3): nothing was
    /// decided; retry when it is back.
    #[error("unavailable: {reason}")]
    Unavailable { reason: String },
    #[error("{kind} {id:?} not found")]
    NotFound { kind: &'static str, id: String },
    /// A well-formed request that the current state refuses (HTTP 409, exit 1).
    #[error("conflict: {reason}")]
    Conflict { reason: String },
    /// A gate blocked the transition (HTTP 409, exit 1): the service returns
    /// that as an outcome; the API and CLI answer with this. `gates` holds
    /// every verdict as served (see `gate::blocked`).
    #[error("blocked by {blocked} gate(s): {summary}")]
    Blocked {
        blocked: usize,
        summary: String,
        gates: serde_json::Value,
    },
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
    /// Something inside failed (the store, the operating system, a task):
    /// nothing was decided. The detail is for the log, not for the client;
    /// the source error is kept for the log's `caused by` chain.
    #[error("{what}")]
    Internal {
        what: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    pub fn invalid(field: impl Into<String>, value: impl std::fmt::Debug, expected: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            value: format!("{value:?}"),
            expected: expected.into(),
        }
    }

    /// An internal failure with its cause.
    pub fn internal(what: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// An internal failure that has no error value of its own.
    pub fn internal_msg(what: impl Into<String>) -> Self {
        Error::Internal {
            what: what.into(),
            source: None,
        }
    }

    /// The message with every cause (`what: cause: cause`), for the log.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }

    pub fn conflict(reason: impl Into<String>) -> Self {
        Error::Conflict { reason: reason.into() }
    }

    /// The one classification of this error: its machine code, HTTP status
    /// and exit code all follow from it.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Invalid { .. } => Kind::Invalid,
            Error::Malformed { .. } => Kind::Malformed,
            Error::TooLarge { .. } => Kind::TooLarge,
            Error::Unauthenticated { .. } => Kind::Unauthenticated,
            Error::Forbidden { .. } => Kind::Forbidden,
            Error::NoRoute { .. } => Kind::NoRoute,
            Error::MethodNotAllowed { .. } => Kind::MethodNotAllowed,
            Error::Timeout { .. } => Kind::Timeout,
            Error::SlowClient { .. } => Kind::SlowClient,
            Error::Busy { .. } => Kind::Busy,
            Error::Unavailable { .. } => Kind::Unavailable,
            Error::NotFound { .. } => Kind::NotFound,
            Error::Conflict { .. } => Kind::Conflict,
            Error::Blocked { .. } => Kind::Blocked,
            Error::Withdrawn { .. } => Kind::Withdrawn,
            Error::CorruptEvent { .. } | Error::Internal { .. } => Kind::Internal,
        }
    }
}

/// Exit code: the command did what was asked.
pub const EXIT_OK: u8 = 0;
/// Exit code: refused by a policy or by the state (blocked gate, conflict,
/// not found, withdrawn record, invalid signature, broken log).
pub const EXIT_REFUSED: u8 = 1;
/// Exit code: the command line, a file or the input is wrong (usage).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: nothing was decided (sidecar unreachable or busy, token
/// missing, refused or lacking the role, internal error); retry or fix access.
pub const EXIT_UNDECIDED: u8 = 3;

/// Every way a request can fail, as a client sees it. `code()` is the stable
/// `error.code` of an API answer; status and exit code follow from the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    Malformed,
    TooLarge,
    Unauthenticated,
    Forbidden,
    NotFound,
    NoRoute,
    MethodNotAllowed,
    Conflict,
    Blocked,
    Withdrawn,
    Timeout,
    SlowClient,
    Busy,
    Unavailable,
    Internal,
}

impl Kind {
    const ALL: [Kind; 16] = [
        Kind::Invalid,
        Kind::Malformed,
        Kind::TooLarge,
        Kind::Unauthenticated,
        Kind::Forbidden,
        Kind::NotFound,
        Kind::NoRoute,
        Kind::MethodNotAllowed,
        Kind::Conflict,
        Kind::Blocked,
        Kind::Withdrawn,
        Kind::Timeout,
        Kind::SlowClient,
        Kind::Busy,
        Kind::Unavailable,
        Kind::Internal,
    ];

    /// Every kind, in a fixed order (the OpenAPI document lists their codes).
    pub fn all() -> [Kind; 16] {
        Kind::ALL
    }

    /// The machine code in `{"error": {"code": …}}`.
    pub fn code(self) -> &'static str {
        self.row().0
    }

    pub fn http_status(self) -> u16 {
        self.row().1
    }

    pub fn exit_code(self) -> u8 {
        self.row().2
    }

    /// The kind an API answer names (a client reading `error.code`).
    pub fn from_code(code: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The kind of an error answer whose code is unknown (another proxy in
    /// between, or a newer server): by its status class.
    pub fn from_status(status: u16) -> Kind {
        match status {
            400 => Kind::Invalid,
            413 => Kind::TooLarge,
            401 => Kind::Unauthenticated,
            403 => Kind::Forbidden,
            404 => Kind::NotFound,
            405 => Kind::MethodNotAllowed,
            408 => Kind::SlowClient,
            409 => Kind::Conflict,
            410 => Kind::Withdrawn,
            503 => Kind::Busy,
            _ => Kind::Internal,
        }
    }

    /// (code, HTTP status, exit code): the one table.
    fn row(self) -> (&'static str, u16, u8) {
        match self {
            Kind::Invalid => ("invalid", 400, EXIT_USAGE),
            Kind::Malformed => ("malformed", 400, EXIT_USAGE),
            Kind::TooLarge => ("too_large", 413, EXIT_USAGE),
            Kind::NoRoute => ("no_route", 404, EXIT_USAGE),
            Kind::MethodNotAllowed => ("method_not_allowed", 405, EXIT_USAGE),
            Kind::NotFound => ("not_found", 404, EXIT_REFUSED),
            Kind::Conflict => ("conflict", 409, EXIT_REFUSED),
            Kind::Blocked => ("blocked", 409, EXIT_REFUSED),
            Kind::Withdrawn => ("withdrawn", 410, EXIT_REFUSED),
            Kind::Unauthenticated => ("unauthenticated", 401, EXIT_UNDECIDED),
            Kind::Forbidden => ("forbidden", 403, EXIT_UNDECIDED),
            Kind::Timeout => ("timeout", 503, EXIT_UNDECIDED),
            Kind::SlowClient => ("request_timeout", 408, EXIT_UNDECIDED),
            Kind::Busy => ("busy", 503, EXIT_UNDECIDED),
            Kind::Unavailable => ("unavailable", 503, EXIT_UNDECIDED),
            Kind::Internal => ("internal", 500, EXIT_UNDECIDED),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_names_one_kind() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_code(k.code()), Some(k));
            assert!(matches!(k.exit_code(), EXIT_REFUSED | EXIT_USAGE | EXIT_UNDECIDED));
        }
        assert_eq!(Kind::from_code("nonsense"), None);
    }

    #[test]
    fn a_policy_no_and_an_outage_exit_differently() {
        let blocked = Error::Blocked {
            blocked: 1,
            summary: String::new(),
            gates: serde_json::Value::Null,
        };
        assert_eq!(blocked.kind().exit_code(), EXIT_REFUSED);
        assert_eq!(Error::internal_msg("disk").kind().exit_code(), EXIT_UNDECIDED);
        assert_eq!(Error::invalid("name", "", "a name").kind().exit_code(), EXIT_USAGE);
        assert_eq!(Kind::from_status(502).exit_code(), EXIT_UNDECIDED);
    }
}
