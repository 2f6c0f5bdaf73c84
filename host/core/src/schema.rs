//! What the validators enforce, said as JSON Schema (2020-12, the dialect of
//! OpenAPI 3.1): the patterns and named schemas the request types carry
//! through `#[schemars(...)]`, so the OpenAPI document generated from the
//! types states the rules the server applies. Each pattern sits beside the
//! validator it describes in the domain module; schemathesis (tests/e2e)
//! checks that the two agree by sending what the document allows.
//!
//! Patterns use ECMA-262 syntax (`\uXXXX`), as JSON Schema requires.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// The characters [`crate::text::is_unsafe`] refuses, as a class body.
macro_rules! unsafe_chars {
    () => {
        r"\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    };
}

/// No control or bidirectional-override character ([`crate::text::printable`]).
pub const PRINTABLE: &str = concat!("^[^", unsafe_chars!(), "]*$");

/// Printable, and not blank (names of applications, keys and tokens).
pub const NAME: &str = concat!(
    "^[^",
    unsafe_chars!(),
    r"]*[^\s",
    unsafe_chars!(),
    "][^",
    unsafe_chars!(),
    "]*$"
);

/// Printable, but line breaks and tabs allowed ([`crate::text::printable_multiline`]).
pub const MULTILINE: &str =
    r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*$";

/// A user or group name in `owners`: 1 to 128 printable, non-space characters.
pub const PRINCIPAL: &str = concat!(r"^[^\s", unsafe_chars!(), "]{1,128}$");

/// Project and stage names.
pub const SLUG: &str = "^[a-z0-9][a-z0-9._-]{0,63}$";

/// A stage, or `*` for every stage.
pub const STAGE_SELECTOR: &str = r"^(\*|[a-z0-9][a-z0-9._-]{0,63})$";

/// An application key.
pub const APP_KEY: &str = "^[a-z][a-z0-9-]{1,63}$";

/// A label key.
pub const LABEL_KEY: &str = "^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$";

/// SemVer 2.0 whose numeric parts fit in 64 bits (the `semver` crate's limit).
pub const SEMVER: &str = r"^(0|[1-9]\d{0,18})\.(0|[1-9]\d{0,18})\.(0|[1-9]\d{0,18})(-(0|[1-9]\d{0,18}|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d{0,18}|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?(\+[0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*)?$";

/// A SHA-256 digest in hex, optionally prefixed `sha256:`.
pub const SHA256: &str = "^(sha256:)?[0-9a-fA-F]{64}$";

/// The shape of a package URL (the `packageurl` crate checks the rest).
pub const PURL: &str = r"^pkg:[A-Za-z0-9.+-]+/[\s\S]+$";

/// A VCS revision: 4 to 64 hex digits.
pub const REVISION: &str = "^[0-9a-fA-F]{4,64}$";

/// A version tag: 1 to 128 characters, no space or control character.
pub const TAG: &str = r"^[^\s\u0000-\u001f\u007f-\u009f]{1,128}$";

/// Something other than blanks.
pub const NOT_BLANK: &str = r"\S";

/// One word, no whitespace (predicate types).
pub const WORD: &str = r"^\S+$";

/// A check a binding runs.
pub const CHECK: &str = "^(policy|plugin):.+$";

/// Labels: keys as [`LABEL_KEY`], printable values of at most 256 characters.
pub struct Labels;

impl JsonSchema for Labels {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Labels".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "Key/value labels: keys of 1 to 63 characters (letters, digits, `._/-`), printable values of at most 256 characters",
            "propertyNames": { "pattern": LABEL_KEY },
            "additionalProperties": { "type": "string", "maxLength": 256, "pattern": PRINTABLE }
        })
    }
}

/// An RFC 3339 timestamp (`format: date-time`); as `with = "Timestamp"` on a
/// `String` field.
pub struct Timestamp;

impl JsonSchema for Timestamp {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date-time" })
    }
}

/// Any JSON value (`params`, raw documents).
pub fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({})
}

/// A DSSE envelope (<https://github.com/secure-systems-lab/dsse>): what
/// evidence, Trusted Release records, verification summaries, withdrawals and
/// checkpoints travel in. Served as stored, byte for byte.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct Envelope {
    /// The media type of the payload (`application/vnd.in-toto+json`).
    #[schemars(rename = "payloadType")]
    payload_type: String,
    /// The signed bytes, base64.
    payload: String,
    signatures: Vec<Signature>,
}

/// One signature of a DSSE envelope.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct Signature {
    /// The signing key's id (securesystemslib: SHA-256 of the canonical key JSON).
    keyid: Option<String>,
    /// The signature, base64.
    sig: String,
}

/// An object with no members (`{}`): the only value some fields take.
pub fn empty_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "maxProperties": 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{NewApplication, validate_key, validate_label, validate_principal, validate_slug};
    use crate::version::{parse_semver, validate_tag};

    /// The pattern and the validator agree on every sample: what the
    /// document allows the server takes, and what it refuses the server refuses.
    fn agree(pattern: &str, validator: impl Fn(&str) -> bool, samples: &[&str]) {
        let re = regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        for s in samples {
            assert_eq!(
                re.is_match(s),
                validator(s),
                "pattern {pattern} and the validator differ on {s:?}"
            );
        }
    }

    fn long(c: char, n: usize) -> String {
        std::iter::repeat_n(c, n).collect()
    }

    #[test]
    fn patterns_say_what_the_validators_enforce() {
        let (a63, a64, a65) = (long('a', 63), long('a', 64), long('a', 65));
        agree(
            APP_KEY,
            |s| validate_key(s).is_ok(),
            &[
                "ab",
                "a",
                "a-1",
                "1ab",
                "Ab",
                "a_b",
                &a64,
                &a65,
                "pay-ments",
                "ab\n",
                "é1",
            ],
        );
        agree(
            SLUG,
            |s| validate_slug("project", s).is_ok(),
            &["default", "a", "a.b_c-d", ".a", "A", "", &a64, &a65, "é", "a b"],
        );
        agree(
            LABEL_KEY,
            |s| validate_label(s, "v").is_ok(),
            &["team", "a/b.c_d-e", "_a", "", &a63, &a64, "A9", "a b", "a=b"],
        );
        agree(
            PRINTABLE,
            |s| validate_label("k", s).is_ok(),
            &[
                "",
                "plain",
                "ünïcode — ok",
                "tab\there",
                "esc\u{1b}[31m",
                "rlo\u{202e}x",
                "nbsp\u{a0}",
                &long('v', 256),
            ],
        );
        agree(
            PRINCIPAL,
            |s| validate_principal("owners.users[0]", s).is_ok(),
            &[
                "alice",
                "team/pay",
                "",
                "a b",
                "a\u{2066}",
                &long('u', 128),
                &long('u', 129),
                "ünï",
            ],
        );
        agree(
            TAG,
            |s| validate_tag(Some(s)).is_ok(),
            &["v1.0.0", "", "a b", "x\u{7f}", &long('t', 128), &long('t', 129), "ünï"],
        );
        // Numeric parts of 20 digits that still fit in 64 bits are the one
        // difference: the pattern refuses them all, the server takes those
        // up to 18446744073709551615.
        agree(
            SEMVER,
            |s| parse_semver(s).is_ok(),
            &[
                "1.0.0",
                "01.0.0",
                "1.0",
                "1.0.0-rc.1",
                "1.0.0+b.1",
                "1.0.0-01",
                "1.0.0-",
                "v1.0.0",
                "1.0.0-alpha-1.x.7",
                "9999999999999999999.0.0",
                "99999999999999999999.0.0",
            ],
        );
        agree(
            NAME,
            |s| {
                let app = NewApplication {
                    key: "ab".into(),
                    name: Some(s.into()),
                    project: None,
                    description: String::new(),
                    owners: Default::default(),
                    criticality: Default::default(),
                    maturity: Default::default(),
                    labels: Default::default(),
                };
                app.into_application("2026-01-01T00:00:00Z").is_ok()
            },
            &["Payments", " padded ", " ", "", "a\u{1b}b", "two\nlines", "ünï — ok"],
        );
    }
}
