//! Waivers: an honest, scoped, time-limited exception to a gate, requested by
//! one actor and decided by another.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gate::ActiveWaiver;
use crate::lifecycle::GateRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaiverStatus {
    Requested,
    Approved,
    Rejected,
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Waiver {
    pub id: String,
    pub application: String,
    pub version: String,
    pub gate: GateRef,
    /// One check, or every check of the gate when absent.
    pub check: Option<String>,
    pub justification: String,
    #[schemars(with = "crate::schema::Timestamp")]
    pub expires_at: String,
    pub status: WaiverStatus,
    pub requested_by: String,
    #[schemars(with = "crate::schema::Timestamp")]
    pub requested_at: String,
    pub decided_by: Option<String>,
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    pub decided_at: Option<String>,
    pub decision_note: Option<String>,
    pub revoked_by: Option<String>,
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    pub revoked_at: Option<String>,
    /// What the approval was granted for (set when approved): the version's
    /// digest (its artifacts) then. A waiver covers nothing once it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_digest: Option<String>,
    /// The checks it covers, each with the digest of what ran (policy text,
    /// plugin component) when it was approved: the checks failing at the
    /// gate's latest evaluation, or, if the gate was not evaluated yet, the
    /// checks bound to it then. A check bound or changed later is not covered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covers: Option<Vec<CoveredCheck>>,
}

/// A check a waiver covers, and the digest it had when the waiver was approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CoveredCheck {
    pub check: String,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaiverRequest {
    pub application: String,
    pub version: String,
    pub gate: GateRef,
    /// One check (`policy:<package>` or `plugin:<name>`), or every check of the gate when absent.
    pub check: Option<String>,
    #[schemars(regex(pattern = crate::schema::MULTILINE))]
    pub justification: String,
    /// RFC 3339, in the future.
    #[schemars(with = "crate::schema::Timestamp")]
    pub expires_at: String,
}

/// An approver's decision on a waiver, with an optional note.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WaiverDecision")]
pub struct Decision {
    pub note: Option<String>,
}

impl WaiverRequest {
    pub fn into_waiver(self, id: String, actor: &str, now: &str) -> Result<Waiver> {
        if !crate::text::printable_multiline(&self.justification) {
            return Err(Error::invalid(
                "justification",
                &self.justification,
                "text without control or bidirectional-override characters",
            ));
        }
        if self.justification.trim().len() < 10 {
            return Err(Error::invalid(
                "justification",
                &self.justification,
                "at least 10 characters saying why",
            ));
        }
        let expires_at = crate::time::parse("expires_at", &self.expires_at)?;
        if expires_at.as_str() <= now {
            return Err(Error::invalid("expires_at", &self.expires_at, "a time in the future"));
        }
        Ok(Waiver {
            id,
            application: self.application,
            version: self.version,
            gate: self.gate,
            check: self.check,
            justification: self.justification,
            expires_at,
            status: WaiverStatus::Requested,
            requested_by: actor.to_string(),
            requested_at: now.to_string(),
            decided_by: None,
            decided_at: None,
            decision_note: None,
            revoked_by: None,
            revoked_at: None,
            version_digest: None,
            covers: None,
        })
    }
}

impl Waiver {
    /// Approve or reject: only a requested waiver, and never by its requester.
    /// An approval records what it is granted for: `version_digest` and the
    /// checks it covers (see [`Waiver::covers`]).
    pub fn decide(&self, approve: bool, actor: &str, now: &str, note: Option<String>) -> Result<Waiver> {
        if self.status != WaiverStatus::Requested {
            return Err(Error::conflict(
                format!("waiver {} is {:?}, not requested", self.id, self.status).to_lowercase(),
            ));
        }
        // Compared in normal form: a waiver stored by an older build may carry a raw name.
        if crate::text::normalize_name(actor) == crate::text::normalize_name(&self.requested_by) {
            return Err(Error::Forbidden {
                reason: format!(
                    "waiver {} was requested by {actor}; another approver must decide it",
                    self.id
                ),
            });
        }
        let mut w = self.clone();
        w.status = if approve {
            WaiverStatus::Approved
        } else {
            WaiverStatus::Rejected
        };
        w.decided_by = Some(actor.to_string());
        w.decided_at = Some(now.to_string());
        w.decision_note = note;
        Ok(w)
    }

    pub fn revoke(&self, actor: &str, now: &str) -> Result<Waiver> {
        if matches!(self.status, WaiverStatus::Revoked | WaiverStatus::Rejected) {
            return Err(Error::conflict(
                format!("waiver {} is already {:?}", self.id, self.status).to_lowercase(),
            ));
        }
        let mut w = self.clone();
        w.status = WaiverStatus::Revoked;
        w.revoked_by = Some(actor.to_string());
        w.revoked_at = Some(now.to_string());
        Ok(w)
    }

    /// In force for `gate` at `now` for a version whose digest is
    /// `version_digest`: approved, not expired, not revoked, approved for
    /// these artifacts. A waiver approved by a build that did not record what
    /// it was granted for is not in force (request a new one).
    pub fn active_for(&self, gate: &GateRef, now: &str, version_digest: &str) -> Option<ActiveWaiver> {
        let bound = self.version_digest.as_deref() == Some(version_digest) && self.covers.is_some();
        (bound && self.status == WaiverStatus::Approved && self.gate == *gate && now < self.expires_at.as_str()).then(
            || ActiveWaiver {
                id: self.id.clone(),
                check: self.check.clone(),
                covers: self
                    .covers
                    .iter()
                    .flatten()
                    .map(|c| (c.check.clone(), c.digest.clone()))
                    .collect(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::GateKind;

    fn request() -> Waiver {
        WaiverRequest {
            application: "payments".into(),
            version: "1.0.0".into(),
            gate: GateRef {
                stage: "qa".into(),
                kind: GateKind::Entry,
            },
            check: Some("policy:baseline.tests".into()),
            justification: "flaky suite quarantined, see INC-42".into(),
            expires_at: "2026-12-01T00:00:00Z".into(),
        }
        .into_waiver("w1".into(), "dev", "2026-11-26T00:00:00.000000Z")
        .unwrap()
    }

    #[test]
    fn the_requester_cannot_decide_and_only_approved_unexpired_waivers_are_active() {
        let w = request();
        let gate = w.gate.clone();
        let now = "2026-11-27T00:00:00.000000Z";
        assert!(w.active_for(&gate, now, "d1").is_none(), "requested is not active");
        assert!(matches!(w.decide(true, "dev", now, None), Err(Error::Forbidden { .. })));
        assert!(
            matches!(w.decide(true, "dev ", now, None), Err(Error::Forbidden { .. })),
            "the same name with a trailing space is the same actor"
        );
        assert!(matches!(
            w.decide(true, "\u{FF44}\u{FF45}\u{FF56}", now, None),
            Err(Error::Forbidden { .. })
        ));
        let mut approved = w.decide(true, "lead", now, Some("ok".into())).unwrap();
        assert!(
            approved.active_for(&gate, now, "d1").is_none(),
            "granted for nothing recorded: not in force"
        );
        approved.version_digest = Some("d1".into());
        approved.covers = Some(vec![]);
        assert!(approved.active_for(&gate, now, "d1").is_some());
        assert!(
            approved.active_for(&gate, now, "d2").is_none(),
            "other artifacts: not in force"
        );
        assert!(
            approved
                .active_for(&gate, "2026-12-01T00:00:00.000000Z", "d1")
                .is_none(),
            "expired"
        );
        let other = GateRef {
            stage: "prod".into(),
            kind: GateKind::Entry,
        };
        assert!(approved.active_for(&other, now, "d1").is_none(), "scoped to its gate");
        assert!(approved.decide(false, "lead2", now, None).is_err(), "decided once");
        let revoked = approved.revoke("lead", now).unwrap();
        assert!(revoked.active_for(&gate, now, "d1").is_none());
    }

    #[test]
    fn requests_need_a_reason_and_a_future_expiry() {
        let mut r = WaiverRequest {
            application: "a".into(),
            version: "1.0.0".into(),
            gate: GateRef {
                stage: "qa".into(),
                kind: GateKind::Entry,
            },
            check: None,
            justification: "short".into(),
            expires_at: "2026-12-01T00:00:00Z".into(),
        };
        assert!(
            r.clone()
                .into_waiver("w".into(), "d", "2026-11-26T00:00:00.000000Z")
                .unwrap_err()
                .to_string()
                .contains("justification")
        );
        r.justification = "a real reason for this".into();
        r.expires_at = "2020-01-01T00:00:00Z".into();
        assert!(
            r.into_waiver("w".into(), "d", "2026-11-26T00:00:00.000000Z")
                .unwrap_err()
                .to_string()
                .contains("expires_at")
        );
    }
}
