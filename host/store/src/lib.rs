//! Persistence behind one narrow interface. Every method that changes state
//! takes the activity-log event that describes the change and commits both in
//! one transaction, or neither. Only this crate speaks SQL; [`deadline`] is
//! the check every commit makes first.

pub mod deadline;
pub mod export;
pub mod group;
pub mod rules;
mod sql;
mod sqlite;

use std::collections::HashMap;

use gatehouse_core::access::Token;
use gatehouse_core::app::{Application, Criticality, Maturity};
use gatehouse_core::audit::{Event, EventResult, LogFormat, NewEvent};
use gatehouse_core::binding::Binding;
use gatehouse_core::error::Result;
use gatehouse_core::evidence::{EvidenceBinding, EvidenceEntry, EvidenceFilter, EvidenceRecord};
use gatehouse_core::gate::GateVerdict;
use gatehouse_core::keys::{TrustedKey, TrustedRoot};
use gatehouse_core::lifecycle::Lifecycle;
use gatehouse_core::policy::Policy;
use gatehouse_core::release::{Checkpoint, LogHead, ReleaseWrite};
use gatehouse_core::sbom::Component;
use gatehouse_core::version::{ReleaseStatus, Version};
use gatehouse_core::vuln::{Advisory, Finding, PackageFinding, PackageVersion};
use gatehouse_core::waiver::Waiver;

/// A stored component at a package version ([`Store::components_at`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippedAt {
    /// The package version's position in the list asked about.
    pub package: usize,
    pub application: String,
    pub version: String,
    pub purl: String,
}

pub use sqlite::{DB_FILE, SqliteStore, head_message, verify_head};

#[derive(Debug, Clone, Default)]
pub struct AppFilter {
    pub project: Option<String>,
    pub criticality: Option<Criticality>,
    pub maturity: Option<Maturity>,
    /// A user or group that owns the application.
    pub owner: Option<String>,
    /// `key` (present) or `key=value`.
    pub label: Option<(String, Option<String>)>,
    /// Keyset paging: applications with a key after this one.
    pub after: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, Default)]
pub struct VersionFilter {
    pub stage: Option<String>,
    pub release_status: Option<ReleaseStatus>,
    pub limit: usize,
    /// Keyset paging on the store's insertion order.
    pub after: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub application: Option<String>,
    pub version: Option<String>,
    pub action: Option<String>,
    pub actor: Option<String>,
    pub result: Option<EventResult>,
    /// Inclusive lower and exclusive upper bound, normalised RFC 3339 UTC.
    pub since: Option<String>,
    pub until: Option<String>,
    pub after_seq: Option<i64>,
    pub limit: usize,
}

/// The log's head after a write transaction, signed by the release key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHead {
    pub seq: i64,
    pub keyid: String,
    pub hash: String,
    /// Hex ed25519 signature over [`sqlite::head_message`].
    pub sig: String,
}

/// What an allowed verdict relied on: checked again inside the commit, so a
/// waiver or key revoked while the gates ran cannot carry the transition.
#[derive(Debug, Clone, Default)]
pub struct Reliance {
    /// Waivers that turned a failure into `waived`.
    pub waivers: Vec<String>,
    /// Trusted keys whose signatures put evidence into the gates' input.
    pub keys: Vec<String>,
}

pub trait Store: Send + Sync {
    fn create_application(&self, app: &Application, event: NewEvent) -> Result<Event>;
    fn update_application(&self, app: &Application, event: NewEvent) -> Result<Event>;
    /// Removes the application and its (draft) versions.
    fn delete_application(&self, key: &str, event: NewEvent) -> Result<Event>;
    fn application(&self, key: &str) -> Result<Option<Application>>;
    fn applications(&self, filter: &AppFilter) -> Result<Vec<Application>>;

    fn create_version(&self, version: &Version, event: NewEvent) -> Result<Event>;
    /// Writes `version` only if the stored one still has `expected_revision`;
    /// otherwise nothing is written and a `Conflict` is returned.
    fn update_version(&self, version: &Version, expected_revision: u64, event: NewEvent) -> Result<Event>;
    fn version(&self, app: &str, version: &str) -> Result<Option<Version>>;
    /// With each version, its paging cursor.
    fn versions(&self, app: &str, filter: &VersionFilter) -> Result<Vec<(i64, Version)>>;
    /// True when `app` has any version that has entered a stage.
    fn has_frozen_versions(&self, app: &str) -> Result<bool>;

    fn lifecycle(&self, name: &str) -> Result<Option<Lifecycle>>;
    fn lifecycle_for_project(&self, project: &str) -> Result<Option<Lifecycle>>;
    fn lifecycles(&self) -> Result<Vec<Lifecycle>>;
    fn put_lifecycle(&self, lifecycle: &Lifecycle, event: NewEvent) -> Result<Event>;

    /// Trust a key (`replace` also updates an existing one, e.g. to revoke it).
    fn put_trusted_key(&self, key: &TrustedKey, replace: bool, event: NewEvent) -> Result<Event>;
    fn trusted_key(&self, keyid: &str) -> Result<Option<TrustedKey>>;
    fn trusted_keys(&self) -> Result<Vec<TrustedKey>>;
    /// Import (or replace, by name) a Sigstore trusted root.
    fn put_trusted_root(&self, root: &TrustedRoot, event: NewEvent) -> Result<Event>;
    fn trusted_roots(&self) -> Result<Vec<TrustedRoot>>;

    /// Versions that have an artifact with this digest: (application, version).
    fn versions_with_artifact(&self, sha256: &str) -> Result<Vec<(String, String)>>;
    fn evidence_binding(&self, digest: &str, app: &str, version: &str) -> Result<Option<EvidenceBinding>>;
    /// Store envelopes (once each) and bindings (insert or update) with their events, in one transaction.
    fn record_evidence(
        &self,
        records: &[EvidenceRecord],
        bindings: &[EvidenceBinding],
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>>;
    fn evidence(&self, digest: &str) -> Result<Option<EvidenceRecord>>;
    /// The first stored evidence carrying this statement (its signatures' message digest).
    fn evidence_by_statement(&self, statement_digest: &str) -> Result<Option<EvidenceRecord>>;
    fn version_evidence(&self, app: &str, version: &str, filter: &EvidenceFilter) -> Result<Vec<EvidenceEntry>>;

    fn put_token(&self, token: &Token, hash: &str, event: NewEvent) -> Result<Event>;
    fn update_token(&self, token: &Token, event: NewEvent) -> Result<Event>;
    fn token_by_hash(&self, hash: &str) -> Result<Option<Token>>;
    fn tokens(&self) -> Result<Vec<Token>>;
    /// Cheap proof that the store answers (readiness).
    fn ping(&self) -> Result<()>;

    fn put_binding(&self, binding: &Binding, event: NewEvent) -> Result<Event>;
    fn delete_binding(&self, id: &str, event: NewEvent) -> Result<Event>;
    fn bindings(&self) -> Result<Vec<Binding>>;
    fn put_policy(&self, policy: &Policy, event: NewEvent) -> Result<Event>;
    fn uploaded_policies(&self) -> Result<Vec<Policy>>;
    /// A short text that changes whenever an uploaded policy is added or
    /// replaced (by any process sharing the store).
    fn policies_fingerprint(&self) -> Result<String>;
    fn put_waiver(&self, waiver: &Waiver, event: NewEvent) -> Result<Event>;
    /// Change a waiver only if its status is still `expected` (compare-and-set):
    /// of two concurrent decisions exactly one commits; the other is a Conflict.
    fn update_waiver(
        &self,
        waiver: &Waiver,
        expected: gatehouse_core::waiver::WaiverStatus,
        event: NewEvent,
    ) -> Result<Event>;
    fn waiver(&self, id: &str) -> Result<Option<Waiver>>;
    fn waivers(&self, app: Option<&str>, version: Option<&str>) -> Result<Vec<Waiver>>;
    /// A transition's outcome in one transaction: the version's move (when
    /// allowed; compare-and-set on its revision, the target stage still in
    /// its lifecycle, every waiver and key the verdict relied on still in
    /// force), every gate evaluation, the event.
    #[allow(clippy::too_many_arguments)]
    fn commit_transition(
        &self,
        next: Option<(&Version, u64)>,
        evaluations: &[GateVerdict],
        release: Option<&ReleaseWrite>,
        application: &str,
        version: &str,
        relied: &Reliance,
        withdrawal: Option<&gatehouse_core::release::WithdrawalWrite>,
        event: NewEvent,
    ) -> Result<Event>;
    /// The signed withdrawal of a version's Trusted Release, if it was withdrawn.
    fn withdrawal(&self, app: &str, version: &str) -> Result<Option<serde_json::Value>>;
    fn gate_evaluations(&self, app: &str, version: &str) -> Result<Vec<GateVerdict>>;
    /// The (record, VSA) envelopes of a version's Trusted Release.
    fn trusted_release(&self, app: &str, version: &str) -> Result<Option<(serde_json::Value, serde_json::Value)>>;
    /// Every release key that signed something: (keyid, SPKI PEM, first used).
    fn release_keys(&self) -> Result<Vec<(String, String, String)>>;
    fn log_head(&self) -> Result<LogHead>;
    /// Store a checkpoint, and its key (`public_pem`) in the key history:
    /// every key that ever signed anything stays published.
    fn put_checkpoint(&self, checkpoint: &Checkpoint, public_pem: &str, event: NewEvent) -> Result<Event>;
    fn checkpoints(&self) -> Result<Vec<Checkpoint>>;
    /// Every signed log head, by sequence number.
    fn log_heads(&self) -> Result<Vec<SignedHead>>;
    /// Where the log switched to RFC 8785 for event hashes.
    fn log_format(&self) -> Result<LogFormat>;

    /// Attach SBOM components to a version (added to any it has).
    fn put_components(&self, app: &str, version: &str, components: &[Component], event: NewEvent) -> Result<Event>;
    fn components(&self, app: &str, version: &str) -> Result<Vec<Component>>;
    /// The distinct versions that stored components ship of these
    /// (ecosystem, name) packages (on the embedded store, also one that
    /// only a deleted application's components shipped: deciding it finds
    /// nothing more).
    fn package_versions(&self, packages: &[(String, String)]) -> Result<Vec<PackageVersion>>;
    /// Every stored component at one of these package versions: which
    /// package (its position in `packages`), application, version, purl.
    fn components_at(&self, packages: &[PackageVersion]) -> Result<Vec<ShippedAt>>;
    /// The stored `modified` time of each of these advisories that is stored.
    fn advisories_modified(&self, ids: &[&str]) -> Result<HashMap<String, String>>;
    fn advisories(&self) -> Result<Vec<Advisory>>;
    /// The stored advisories that name one of these (ecosystem, name)
    /// packages, each once, by id.
    fn advisories_naming(&self, packages: &[(String, String)]) -> Result<Vec<Advisory>>;
    fn advisory(&self, id: &str) -> Result<Option<Advisory>>;
    /// Store new or changed advisories, drop every finding of the `stale`
    /// ones — the changed ones — (per package version, and the per-version
    /// rows of earlier builds) and the packages they named, index the
    /// packages each advisory names now, add the new package findings, with
    /// their events: one transaction.
    fn import_advisories(
        &self,
        advisories: &[Advisory],
        findings: &[PackageFinding],
        stale: &[String],
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>>;
    /// Add the package findings not stored yet (one already stored keeps
    /// when it was first found), with the event.
    fn put_package_findings(&self, findings: &[PackageFinding], event: NewEvent) -> Result<Event>;
    /// Findings by application and version, or by advisory: each component
    /// at a package version with a package finding (found when both were
    /// there), merged with the per-version rows earlier builds stored
    /// ([`gatehouse_core::vuln::merge_findings`]).
    fn findings(&self, app: Option<&str>, version: Option<&str>, advisory: Option<&str>) -> Result<Vec<Finding>>;

    /// Commits so far and the writes they held, for a backend that groups
    /// writes into commits (`group.rs`).
    fn commit_stats(&self) -> Option<(u64, u64)> {
        None
    }

    /// The connection pool, for a backend with one: (open connections, idle ones).
    fn pool_state(&self) -> Option<(u32, u32)> {
        None
    }

    /// Record an event that changes no other state (a refusal, a conflict).
    fn append_event(&self, event: NewEvent) -> Result<Event>;
    fn events(&self, filter: &EventFilter) -> Result<Vec<Event>>;
}
