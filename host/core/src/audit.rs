//! The activity log: append-only and hash-chained. Each event's hash covers
//! its canonical encoding and the previous event's hash, so an edited,
//! inserted or deleted row breaks the chain at that point.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: i64,
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

impl NewEvent {
    /// Place the event after `prev` (sequence number and hash), at `time`.
    pub fn seal(self, prev_seq: i64, prev_hash: &str, time: String) -> Event {
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
        event.hash = event.compute_hash();
        event
    }
}

impl Event {
    /// SHA-256 over the canonical encoding: a JSON object of every field but
    /// `hash`, keys sorted at every depth, no insignificant whitespace, UTF-8.
    pub fn canonical_bytes(&self) -> Vec<u8> {
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
        canonical_json(&value)
    }

    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_bytes()))
    }
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            prev_seq: 0,
            prev_hash: GENESIS_HASH.to_string(),
            checked: 0,
        }
    }
}

impl ChainVerifier {
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
        let recomputed = e.compute_hash();
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

    fn chain(n: usize) -> Vec<Event> {
        let mut out: Vec<Event> = Vec::new();
        for i in 0..n {
            let (seq, hash) = out
                .last()
                .map_or((0, GENESIS_HASH.to_string()), |e| (e.seq, e.hash.clone()));
            let e = NewEvent {
                actor: "alice".into(),
                action: "application.create".into(),
                subject: format!("application:a{i}"),
                application: Some(format!("a{i}")),
                version: None,
                result: EventResult::Success,
                details: serde_json::json!({"b": 1, "a": [i]}),
            }
            .seal(seq, &hash, format!("2026-01-01T00:00:0{i}.000000Z"));
            out.push(e);
        }
        out
    }

    fn verify(events: &[Event]) -> Result<u64, Break> {
        let mut v = ChainVerifier::default();
        for e in events {
            v.push(e)?;
        }
        Ok(v.checked)
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
        rehashed[1].hash = rehashed[1].compute_hash();
        let b = verify(&rehashed).unwrap_err();
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("prev_hash"));
    }

    #[test]
    fn canonical_encoding_sorts_keys() {
        let e = &chain(1)[0];
        let text = String::from_utf8(e.canonical_bytes()).unwrap();
        assert!(
            text.starts_with(
                r#"{"action":"application.create","actor":"alice","application":"a0","details":{"a":[0],"b":1}"#
            ),
            "{text}"
        );
    }
}
