//! Input documents converted into regorus values, with their large parts
//! kept across gates and requests.
//!
//! Converting a document's text into regorus values is a third of a stage
//! gate (docs/benchmarks.md). Most of a document — its application,
//! artifacts, evidence, SBOM components and findings — changes only when its
//! version gets new evidence, components or findings; the rest (the version's
//! stage, the transition, the gate, the waivers in force) is small. So each
//! lasting part is converted once and kept per version; a later document of
//! the same version converts only its small rest.
//!
//! Exact by construction: a kept part is used only when the part's text is,
//! byte for byte, the text it was converted from. Nothing has to be told to
//! forget anything: changed evidence is different text, converted afresh.

use std::collections::HashMap;
use std::sync::Mutex;

use gatehouse_core::document::DocumentText;

use crate::Input;

/// Parts shorter than this are converted every time (they cost less than
/// looking them up: `[]`, `{"components":[]}`).
const MIN_KEPT_PART: usize = 64;

/// What an entry costs besides its text (key, bookkeeping), for the budget.
const ENTRY_OVERHEAD: usize = 256;

/// Converted parts of input documents, kept across gates and requests within
/// a byte budget (on their texts; the converted values take a few times more).
pub struct PreparedInputs {
    budget: usize,
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    /// `scope \0 field` → the part.
    parts: HashMap<String, Part>,
    bytes: usize,
    clock: u64,
}

struct Part {
    text: Box<str>,
    value: Input,
    used: u64,
}

impl std::fmt::Debug for PreparedInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (parts, bytes) = self.usage();
        f.debug_struct("PreparedInputs")
            .field("budget", &self.budget)
            .field("parts", &parts)
            .field("bytes", &bytes)
            .finish()
    }
}

impl PreparedInputs {
    /// Keep at most `budget` bytes of part texts (least recently used go first).
    pub fn new(budget: usize) -> PreparedInputs {
        PreparedInputs {
            budget,
            kept: Mutex::default(),
        }
    }

    /// How many parts are kept, and the bytes they count against the budget.
    pub fn usage(&self) -> (usize, usize) {
        self.kept.lock().map_or((0, 0), |k| (k.parts.len(), k.bytes))
    }

    /// The input for `doc`, a document of `scope` (one application version):
    /// equal to converting its whole text, with the large parts taken from
    /// earlier conversions of the same text. Unparsable text is Undefined, as
    /// in [`crate::PolicySet::input_from_json`].
    pub fn input(&self, scope: &str, doc: &DocumentText) -> Input {
        let mut parts: Vec<(&'static str, std::ops::Range<usize>)> = doc
            .parts
            .iter()
            .filter(|(_, r)| !r.is_empty() && r.end <= doc.text.len())
            .cloned()
            .collect();
        parts.sort_by_key(|(_, r)| r.start);
        let Some(rest) = rest_of(&doc.text, &parts) else {
            return Input::Undefined;
        };
        let mut input = match Input::from_json_str(&rest) {
            Ok(v) => v,
            Err(_) => return Input::Undefined,
        };
        for (field, range) in parts {
            let Some(text) = doc.text.get(range) else {
                return Input::Undefined;
            };
            let Some(value) = self.part(scope, field, text) else {
                return Input::Undefined;
            };
            match input.as_object_mut() {
                Ok(object) => {
                    object.insert(Input::from(field), value);
                }
                Err(_) => return Input::Undefined,
            }
        }
        input
    }

    /// One part's value: kept, or converted now (and kept when worth it).
    fn part(&self, scope: &str, field: &'static str, text: &str) -> Option<Input> {
        if text.len() < MIN_KEPT_PART {
            return Input::from_json_str(text).ok();
        }
        let key = format!("{scope}\0{field}");
        if let Ok(mut kept) = self.kept.lock() {
            kept.clock += 1;
            let now = kept.clock;
            if let Some(part) = kept.parts.get_mut(&key)
                && *part.text == *text
            {
                part.used = now;
                return Some(part.value.clone());
            }
        }
        let value = Input::from_json_str(text).ok()?;
        let cost = text.len() + ENTRY_OVERHEAD;
        if cost <= self.budget / 4
            && let Ok(mut kept) = self.kept.lock()
        {
            let used = kept.clock;
            let part = Part {
                text: text.into(),
                value: value.clone(),
                used,
            };
            if let Some(old) = kept.parts.insert(key, part) {
                kept.bytes -= old.text.len() + ENTRY_OVERHEAD;
            }
            kept.bytes += cost;
            if kept.bytes > self.budget {
                kept.shed(self.budget * 3 / 4);
            }
        }
        Some(value)
    }
}

impl Kept {
    /// Drop the least recently used parts until at most `target` bytes are kept
    /// (in one sweep, so a full cache sheds a quarter at once, not one part per insert).
    fn shed(&mut self, target: usize) {
        let mut by_age: Vec<(u64, String)> = self.parts.iter().map(|(k, p)| (p.used, k.clone())).collect();
        by_age.sort_unstable();
        for (_, key) in by_age {
            if self.bytes <= target {
                break;
            }
            if let Some(old) = self.parts.remove(&key) {
                self.bytes -= old.text.len() + ENTRY_OVERHEAD;
            }
        }
    }
}

/// The document's text with each part's value replaced by `null`.
fn rest_of(text: &str, parts: &[(&'static str, std::ops::Range<usize>)]) -> Option<String> {
    let mut rest = String::with_capacity(text.len().min(16 * 1024));
    let mut at = 0;
    for (_, range) in parts {
        rest.push_str(text.get(at..range.start)?);
        rest.push_str("null");
        at = range.end;
    }
    rest.push_str(text.get(at..)?);
    Some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A document text shaped as Gatehouse writes it, with its part ranges.
    fn doc(gate: &str, evidence: &serde_json::Value, findings: &serde_json::Value) -> DocumentText {
        let mut text = format!(r#"{{"schema":"s","transition":{{"gate":"{gate}"}},"evidence":"#);
        let e = text.len()..text.len() + evidence.to_string().len();
        text.push_str(&evidence.to_string());
        text.push_str(r#","sbom":"#);
        let sbom = json!({"components": []}).to_string();
        let s = text.len()..text.len() + sbom.len();
        text.push_str(&sbom);
        text.push_str(r#","findings":"#);
        let f = text.len()..text.len() + findings.to_string().len();
        text.push_str(&findings.to_string());
        text.push_str(r#","waivers":[]}"#);
        DocumentText {
            text,
            parts: [
                ("application", 0..0),
                ("artifacts", 0..0),
                ("evidence", e),
                ("sbom", s),
                ("findings", f),
            ],
        }
    }

    fn evidence(n: usize, result: &str) -> serde_json::Value {
        json!(
            (0..n)
                .map(|i| json!({"digest": format!("{i:064x}"), "predicate": {"result": result}}))
                .collect::<Vec<_>>()
        )
    }

    #[test]
    fn a_prepared_input_equals_the_whole_text_converted_and_never_goes_stale() {
        let cache = PreparedInputs::new(1 << 20);
        let findings = json!([{"advisory": "GHSA-1", "purl": "pkg:npm/a@1"}]);
        let first = doc("qa", &evidence(40, "PASSED"), &findings);
        let whole = |d: &DocumentText| Input::from_json_str(&d.text).expect("valid");
        assert_eq!(cache.input("shop/1.0", &first), whole(&first));
        assert_eq!(cache.usage().0, 1, "the evidence is kept; parts of a few bytes are not");
        // Another gate of the same version: the kept evidence, the new gate.
        let second = doc("staging", &evidence(40, "PASSED"), &findings);
        assert_eq!(cache.input("shop/1.0", &second), whole(&second));
        // The version's evidence changed: the new text is converted, never the kept one used.
        let changed = doc("staging", &evidence(40, "FAILED"), &findings);
        let input = cache.input("shop/1.0", &changed);
        assert_eq!(input, whole(&changed));
        assert_ne!(input, whole(&second));
        // Another version with the first version's evidence text gets its own entry.
        assert_eq!(cache.input("shop/2.0", &first), whole(&first));
        assert_eq!(cache.usage().0, 2);
        // Text that is not JSON is Undefined, as a whole-text conversion would be.
        let mut broken = first.clone();
        broken.text.insert(1, '!');
        assert_eq!(cache.input("shop/1.0", &broken), Input::Undefined);
    }

    #[test]
    fn kept_parts_stay_within_their_budget() {
        let cache = PreparedInputs::new(64 * 1024);
        let findings = json!([]);
        for v in 0..200 {
            let d = doc("qa", &evidence(20 + v % 7, "PASSED"), &findings);
            assert_eq!(
                cache.input(&format!("shop/{v}"), &d),
                Input::from_json_str(&d.text).expect("valid")
            );
            let (_, bytes) = cache.usage();
            assert!(bytes <= 64 * 1024, "{bytes} bytes kept after {v} versions");
        }
        let (parts, _) = cache.usage();
        assert!(parts > 4 && parts < 200, "{parts} parts kept");
    }
}
