//! The activity log: append-only and hash-chained. Each event's hash covers
//! its canonical encoding and the previous event's hash, so an edited,
//! inserted or deleted row breaks the chain at that point.
//!
//! Two canonical encodings exist, switched at a position the store records
//! once ([`LogFormat`]): events before it keep the sorted-keys encoding they
//! were hashed with, events from it on are hashed over RFC 8785 (JCS), which
//! any JCS implementation (Python's `rfc8785`, Go's, Java's) reproduces.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventResult {
    Success,
    Failure,
    Blocked,
    Warning,
}

impl EventResult {
    pub fn as_str(self) -> &'static str {
        match self {
            EventResult::Success => "success",
            EventResult::Failure => "failure",
            EventResult::Blocked => "blocked",
            EventResult::Warning => "warning",
        }
    }

    pub fn parse(s: &str) -> Option<EventResult> {
        Some(match s {
            "success" => EventResult::Success,
            "failure" => EventResult::Failure,
            "blocked" => EventResult::Blocked,
            "warning" => EventResult::Warning,
            _ => return None,
        })
    }
}

/// An event before the store gives it a place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub application: Option<String>,
    pub version: Option<String>,
    pub result: EventResult,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    pub seq: i64,
    #[schemars(with = "crate::schema::Timestamp")]
    pub time: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub application: Option<String>,
    pub version: Option<String>,
    pub result: EventResult,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The encoding an event's hash is computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Compact JSON, object keys sorted by their UTF-8 bytes at every depth,
    /// strings and numbers as serde_json writes them (every event written
    /// before the log recorded its switch to JCS).
    SortedKeys,
    /// RFC 8785, the JSON Canonicalization Scheme.
    Jcs,
}

/// Where the log switched to RFC 8785: events with `seq >= jcs_from_seq`
/// are hashed over JCS. Recorded once by the store (a new log: from event 1;
/// a log written before: from its next event), never changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFormat {
    pub jcs_from_seq: i64,
}

/// The largest integer JCS writes exactly (JCS numbers are IEEE doubles).
const JCS_EXACT: u64 = 1 << 53;

impl LogFormat {
    /// A log hashed over JCS from its first event.
    pub const JCS: LogFormat = LogFormat { jcs_from_seq: 1 };

    /// The encoding of `event`: JCS from the recorded position on — unless
    /// the event holds an integer beyond ±2^53, which JCS (numbers are
    /// doubles) would round, so that two different values hashed alike; such
    /// an event keeps the sorted-keys encoding. Both rules follow from the
    /// event itself and the recorded position, so a verifier decides the same.
    pub fn encoding(&self, event: &Event) -> Encoding {
        if event.seq >= self.jcs_from_seq && exact_in_jcs(&event.details) {
            Encoding::Jcs
        } else {
            Encoding::SortedKeys
        }
    }
}

/// Whether every number in `value` is one JCS writes exactly.
fn exact_in_jcs(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.unsigned_abs() <= JCS_EXACT
            } else if let Some(u) = n.as_u64() {
                u <= JCS_EXACT
            } else {
                true
            }
        }
        Value::Array(items) => items.iter().all(exact_in_jcs),
        Value::Object(map) => map.values().all(exact_in_jcs),
        _ => true,
    }
}

impl NewEvent {
    /// Place the event after `prev` (sequence number and hash), at `time`,
    /// hashed as the log's format says.
    pub fn seal(self, prev_seq: i64, prev_hash: &str, time: String, format: LogFormat) -> Event {
        let mut event = Event {
            seq: prev_seq + 1,
            time,
            actor: self.actor,
            action: self.action,
            subject: self.subject,
            application: self.application,
            version: self.version,
            result: self.result,
            details: self.details,
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        event.hash = event.compute_hash(format.encoding(&event));
        event
    }
}

impl Event {
    /// The canonical encoding: a JSON object of every field but `hash`, in
    /// the given encoding (both: keys sorted at every depth, no insignificant
    /// whitespace, UTF-8).
    pub fn canonical_bytes(&self, encoding: Encoding) -> Vec<u8> {
        let value = serde_json::json!({
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "application": self.application,
            "version": self.version,
            "result": self.result,
            "details": self.details,
            "prev_hash": self.prev_hash,
        });
        match encoding {
            Encoding::SortedKeys => canonical_json(&value),
            Encoding::Jcs => jcs(&value),
        }
    }

    /// SHA-256 (lowercase hex) of the canonical encoding.
    pub fn compute_hash(&self, encoding: Encoding) -> String {
        hex::encode(Sha256::digest(self.canonical_bytes(encoding)))
    }
}

/// RFC 8785 (JCS) bytes of `value`. A serde_json value has no NaN and no
/// lone surrogate, so nothing here can fail; the sorted-keys bytes would
/// stand in if it ever did. Integers beyond ±2^53 are rounded, as JCS
/// numbers are doubles: callers that hash arbitrary input check first
/// (`LogFormat::encoding`).
///
/// Objects, arrays and strings are written here: keys sorted by UTF-16 code
/// units, strings escaped as serde_json escapes them (the set RFC 8785
/// prescribes: quote, backslash, and controls as `\b \t \n \f \r` or as
/// lowercase `\u00xx`). Numbers, booleans and null go through
/// `serde_json_canonicalizer`, whose per-key work (each key re-parsed and
/// re-encoded to sort it) was most of a promotion's log hashing (callgrind,
/// docs/benchmarks.md); its output is the reference the tests hold this to.
pub fn jcs(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    match write_jcs(value, &mut out) {
        Ok(()) => out,
        Err(_) => canonical_json(value),
    }
}

fn write_jcs(value: &serde_json::Value, out: &mut Vec<u8>) -> serde_json::Result<()> {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k)?;
                out.push(b':');
                write_jcs(v, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_jcs(v, out)?;
            }
            out.push(b']');
        }
        Value::String(s) => serde_json::to_writer(&mut *out, s)?,
        scalar => out.extend(serde_json_canonicalizer::to_vec(scalar)?),
    }
    Ok(())
}

/// Compact JSON with object keys sorted at every depth, whatever order the
/// map type keeps (so a feature flag elsewhere cannot change a hash).
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Writing a string or a scalar into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

/// Where and why the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Break {
    pub seq: i64,
    pub reason: String,
}

/// Walks the chain in sequence order, one event at a time, so a log of any
/// length is checked in constant memory.
#[derive(Debug)]
pub struct ChainVerifier {
    prev_seq: i64,
    prev_hash: String,
    format: LogFormat,
    pub checked: u64,
}

impl ChainVerifier {
    /// A verifier for a log of this format, from its first event.
    pub fn new(format: LogFormat) -> ChainVerifier {
        ChainVerifier {
            prev_seq: 0,
            prev_hash: GENESIS_HASH.to_string(),
            format,
            checked: 0,
        }
    }

    pub fn push(&mut self, e: &Event) -> Result<(), Break> {
        let expected_seq = self.prev_seq + 1;
        if e.seq != expected_seq {
            return Err(Break {
                seq: expected_seq,
                reason: format!(
                    "event {expected_seq} is missing (the next event present is {}): rows were deleted",
                    e.seq
                ),
            });
        }
        if e.prev_hash != self.prev_hash {
            return Err(Break {
                seq: e.seq,
                reason: format!(
                    "prev_hash {} does not match the hash {} of event {}",
                    e.prev_hash, self.prev_hash, self.prev_seq
                ),
            });
        }
        let recomputed = e.compute_hash(self.format.encoding(e));
        if recomputed != e.hash {
            return Err(Break {
                seq: e.seq,
                reason: format!(
                    "content does not match its hash (stored {}, recomputed {}): the event was edited",
                    e.hash, recomputed
                ),
            });
        }
        self.prev_seq = e.seq;
        self.prev_hash = e.hash.clone();
        self.checked += 1;
        Ok(())
    }

    /// The last verified event: (sequence number, hash).
    pub fn head(&self) -> (i64, &str) {
        (self.prev_seq, &self.prev_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize, details: serde_json::Value) -> NewEvent {
        NewEvent {
            actor: "alice".into(),
            action: "application.create".into(),
            subject: format!("application:a{i}"),
            application: Some(format!("a{i}")),
            version: None,
            result: EventResult::Success,
            details,
        }
    }

    fn chain_of(details: &[serde_json::Value], format: LogFormat) -> Vec<Event> {
        let mut out: Vec<Event> = Vec::new();
        for (i, d) in details.iter().enumerate() {
            let (seq, hash) = out
                .last()
                .map_or((0, GENESIS_HASH.to_string()), |e| (e.seq, e.hash.clone()));
            out.push(event(i, d.clone()).seal(seq, &hash, format!("2026-01-01T00:00:0{i}.000000Z"), format));
        }
        out
    }

    fn chain(n: usize) -> Vec<Event> {
        let details: Vec<_> = (0..n).map(|i| serde_json::json!({"b": 1, "a": [i]})).collect();
        chain_of(&details, LogFormat::JCS)
    }

    fn verify_as(events: &[Event], format: LogFormat) -> Result<u64, Break> {
        let mut v = ChainVerifier::new(format);
        for e in events {
            v.push(e)?;
        }
        Ok(v.checked)
    }

    fn verify(events: &[Event]) -> Result<u64, Break> {
        verify_as(events, LogFormat::JCS)
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn edits_and_deletions_name_the_first_broken_event() {
        let mut edited = chain(5);
        edited[2].actor = "mallory".into();
        assert_eq!(verify(&edited).unwrap_err().seq, 3);

        let mut deleted = chain(5);
        deleted.remove(1);
        let b = verify(&deleted).unwrap_err();
        assert_eq!(b.seq, 2);
        assert!(b.reason.contains("missing"));

        // Re-hashing an edited event does not help: the next link breaks.
        let mut rehashed = chain(5);
        rehashed[1].details = serde_json::json!({"forged": true});
        rehashed[1].hash = rehashed[1].compute_hash(Encoding::Jcs);
        let b = verify(&rehashed).unwrap_err();
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("prev_hash"));
    }

    #[test]
    fn canonical_encoding_sorts_keys() {
        let e = &chain(1)[0];
        for encoding in [Encoding::SortedKeys, Encoding::Jcs] {
            let text = String::from_utf8(e.canonical_bytes(encoding)).unwrap();
            assert!(
                text.starts_with(
                    r#"{"action":"application.create","actor":"alice","application":"a0","details":{"a":[0],"b":1}"#
                ),
                "{text}"
            );
        }
    }

    /// The writer here and serde_json_canonicalizer give the same bytes:
    /// UTF-16 key order (astral, BMP, accented, control characters),
    /// escapes, numbers at JCS's edges, nesting.
    #[test]
    fn jcs_writes_what_the_reference_canonicalizer_writes() {
        let values = [
            r#"{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001,-0,1e21,1e-7,9007199254740993],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}"#,
            r#"{"\uffff":1,"\ud800\udc00":2,"é":3,"e":4,"\u0001":5,"":6,"aa":7,"a":8,"\u007f":[{"z":{},"y":[]}]}"#,
            r#"[{"b":"\b\t\n\f\r\u0000\u001f\u2028\u2029 ✓ 😀"},"",0,-1.5,123456789012,1.0,0.1]"#,
        ];
        for text in values {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            let reference = serde_json_canonicalizer::to_vec(&v).unwrap();
            assert_eq!(
                String::from_utf8(jcs(&v)).unwrap(),
                String::from_utf8(reference).unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn jcs_is_rfc_8785() {
        // The example of RFC 8785 section 3.2.2, as an event's details.
        let input = r#"{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}"#;
        let e = event(0, serde_json::from_str(input).unwrap()).seal(0, GENESIS_HASH, "t".into(), LogFormat::JCS);
        let text = String::from_utf8(e.canonical_bytes(Encoding::Jcs)).unwrap();
        let expected = r#""details":{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
        assert!(text.contains(expected), "{text}");
        // Keys sort by UTF-16 code units: U+10000 (D800 DC00) before U+FFFF.
        let keys = serde_json::json!({"\u{ffff}": 1, "\u{10000}": 2});
        let e = event(0, keys).seal(0, GENESIS_HASH, "t".into(), LogFormat::JCS);
        let jcs = String::from_utf8(e.canonical_bytes(Encoding::Jcs)).unwrap();
        assert!(jcs.contains("{\"\u{10000}\":2,\"\u{ffff}\":1}"), "{jcs}");
        let sorted = String::from_utf8(e.canonical_bytes(Encoding::SortedKeys)).unwrap();
        assert!(sorted.contains("{\"\u{ffff}\":1,\"\u{10000}\":2}"), "{sorted}");
    }

    #[test]
    fn the_switch_keeps_every_older_hash_and_is_not_movable() {
        // Details whose two encodings differ: JCS writes `0.000001` and
        // `100000000000000000000` where serde_json writes `1e-6` and `1e+20`.
        let details: Vec<_> = (0..6)
            .map(|i| serde_json::json!({"m": 0.000001, "n": 1e20, "i": i}))
            .collect();
        let switched = LogFormat { jcs_from_seq: 4 };
        let log = chain_of(&details, switched);
        assert_eq!(verify_as(&log, switched), Ok(6));
        // Events 1-3 were hashed exactly as before the switch existed.
        let old = chain_of(&details[..3], LogFormat { jcs_from_seq: i64::MAX });
        assert_eq!(log.get(..3), Some(old.as_slice()));
        // Verifying with the switch elsewhere breaks at the first event hashed otherwise.
        assert_eq!(verify_as(&log, LogFormat { jcs_from_seq: 5 }).unwrap_err().seq, 4);
        assert_eq!(verify_as(&log, LogFormat::JCS).unwrap_err().seq, 1);
    }

    #[test]
    fn a_signed_envelope_has_one_canonical_form() {
        // Record digests moved to JCS: an envelope (ASCII strings only)
        // encodes to the same bytes in both forms, so old digests stand.
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let envelope = crate::evidence::sign(
            &key,
            Vec::new(),
            "https://example.com/p",
            serde_json::json!({"n": 1e21}),
        );
        assert_eq!(jcs(&envelope), canonical_json(&envelope));
    }

    #[test]
    fn integers_jcs_would_round_keep_the_exact_encoding() {
        let big = |n: u64| event(0, serde_json::json!({ "n": n })).seal(0, GENESIS_HASH, "t".into(), LogFormat::JCS);
        let (a, b) = (big((1 << 53) + 1), big(1 << 53));
        assert_eq!(LogFormat::JCS.encoding(&a), Encoding::SortedKeys);
        assert_eq!(LogFormat::JCS.encoding(&b), Encoding::Jcs);
        assert_ne!(a.hash, b.hash);
        assert!(
            String::from_utf8(a.canonical_bytes(Encoding::SortedKeys))
                .unwrap()
                .contains("9007199254740993")
        );
        assert_eq!(verify(&[a]), Ok(1));
    }
}
