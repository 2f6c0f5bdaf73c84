//! Application versions: a build with its artifacts, climbing a lifecycle.
//!
//! A version is a mutable draft until its first promotion; from then on only
//! its position (stage, release status) changes, and only through gates.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    Package,
    Container,
    Build,
    File,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    #[schemars(length(min = 1, max = 256), regex(pattern = crate::schema::NOT_BLANK))]
    pub name: String,
    pub kind: ArtifactKind,
    /// Lowercase hex SHA-256; `sha256:` prefixes and upper case are accepted on input.
    #[schemars(regex(pattern = crate::schema::SHA256))]
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::schema::PURL))]
    pub purl: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vcs {
    #[schemars(regex(pattern = crate::schema::NOT_BLANK))]
    pub repo: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[schemars(regex(pattern = crate::schema::REVISION))]
    pub revision: String,
    /// RFC 3339; stored in UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    pub commit_time: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    PreRelease,
    Released,
    TrustedRelease,
}

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::PreRelease => "pre_release",
            ReleaseStatus::Released => "released",
            ReleaseStatus::TrustedRelease => "trusted_release",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Version {
    pub application: String,
    pub version: String,
    pub artifacts: Vec<Artifact>,
    pub vcs: Option<Vcs>,
    pub tag: Option<String>,
    /// The lifecycle the version climbs, fixed when it is created.
    pub lifecycle: String,
    /// `None` while the version is a draft that has entered no stage.
    pub stage: Option<String>,
    pub release_status: ReleaseStatus,
    pub draft: bool,
    /// Bumped by every change; the store refuses a write based on a stale revision.
    pub revision: u64,
    #[schemars(with = "crate::schema::Timestamp")]
    pub created_at: String,
    #[schemars(with = "crate::schema::Timestamp")]
    pub updated_at: String,
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    pub released_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// SemVer 2.0.
    #[schemars(regex(pattern = crate::schema::SEMVER))]
    pub version: String,
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    pub vcs: Option<Vcs>,
    #[schemars(regex(pattern = crate::schema::TAG))]
    pub tag: Option<String>,
}

/// Changes to a draft; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionPatch {
    pub artifacts: Option<Vec<Artifact>>,
    pub vcs: Option<Vcs>,
    #[schemars(regex(pattern = crate::schema::TAG))]
    pub tag: Option<String>,
}

impl NewVersion {
    pub fn into_version(self, application: &str, lifecycle: &str, now: &str) -> Result<Version> {
        let version = Version {
            application: application.to_string(),
            version: parse_semver(&self.version)?,
            artifacts: normalise_artifacts(self.artifacts)?,
            vcs: self.vcs.map(normalise_vcs).transpose()?,
            tag: self.tag,
            lifecycle: lifecycle.to_string(),
            stage: None,
            release_status: ReleaseStatus::PreRelease,
            draft: true,
            revision: 1,
            created_at: now.to_string(),
            updated_at: now.to_string(),
            released_at: None,
        };
        validate_tag(version.tag.as_deref())?;
        Ok(version)
    }
}

impl Version {
    /// Apply a patch to a draft; a frozen version refuses every change.
    pub fn patched(&self, patch: VersionPatch, now: &str) -> Result<Version> {
        if !self.draft {
            return Err(Error::conflict(format!(
                "version {}@{} is frozen since its first promotion (stage {}); create a new version instead",
                self.application,
                self.version,
                self.stage.as_deref().unwrap_or("-")
            )));
        }
        let mut v = self.clone();
        if let Some(artifacts) = patch.artifacts {
            v.artifacts = normalise_artifacts(artifacts)?;
        }
        if let Some(vcs) = patch.vcs {
            v.vcs = Some(normalise_vcs(vcs)?);
        }
        if let Some(tag) = patch.tag {
            v.tag = Some(tag);
        }
        validate_tag(v.tag.as_deref())?;
        v.updated_at = now.to_string();
        Ok(v)
    }

    /// The version's own digest, which evidence may name as its subject:
    /// SHA-256 of the canonical JSON `{"application","artifacts":[{"name","sha256"}…],"version"}`.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let arts: Vec<serde_json::Value> = self
            .artifacts
            .iter()
            .map(|a| serde_json::json!({ "name": a.name, "sha256": a.sha256 }))
            .collect();
        let doc = serde_json::json!({ "application": self.application, "version": self.version, "artifacts": arts });
        hex::encode(sha2::Sha256::digest(crate::audit::canonical_json(&doc)))
    }

    pub fn subject(&self) -> String {
        format!("version:{}@{}", self.application, self.version)
    }
}

/// SemVer 2.0, as written (no leading `v`).
pub fn parse_semver(value: &str) -> Result<String> {
    semver::Version::parse(value).map(|v| v.to_string()).map_err(|e| {
        Error::invalid(
            "version",
            value,
            format!("a SemVer 2.0 version such as 1.4.2 or 2.0.0-rc.1 ({e})"),
        )
    })
}

fn normalise_artifacts(artifacts: Vec<Artifact>) -> Result<Vec<Artifact>> {
    let mut seen = std::collections::BTreeSet::new();
    artifacts
        .into_iter()
        .enumerate()
        .map(|(i, mut a)| {
            if a.name.trim().is_empty() || a.name.chars().count() > 256 {
                return Err(Error::invalid(
                    format!("artifacts[{i}].name"),
                    &a.name,
                    "1 to 256 characters",
                ));
            }
            if !seen.insert(a.name.clone()) {
                return Err(Error::invalid(
                    format!("artifacts[{i}].name"),
                    &a.name,
                    "a name not used by another artifact of this version",
                ));
            }
            a.sha256 = normalise_sha256(&format!("artifacts[{i}].sha256"), &a.sha256)?;
            if let Some(purl) = &a.purl {
                validate_purl(&format!("artifacts[{i}].purl"), purl)?;
            }
            Ok(a)
        })
        .collect()
}

pub fn normalise_sha256(field: &str, value: &str) -> Result<String> {
    let hex = value.strip_prefix("sha256:").unwrap_or(value);
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(Error::invalid(
            field,
            value,
            "a SHA-256 digest: 64 hexadecimal characters, optionally prefixed with `sha256:`",
        ))
    }
}

/// A light shape check; full purl parsing arrives with SBOM matching.
fn validate_purl(field: &str, value: &str) -> Result<()> {
    let rest = value.strip_prefix("pkg:");
    let ok = rest.is_some_and(|r| {
        let mut parts = r.splitn(2, '/');
        let ty = parts.next().unwrap_or("");
        let name = parts.next().unwrap_or("");
        !ty.is_empty()
            && ty
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'))
            && !name.is_empty()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            value,
            "a package URL such as pkg:npm/left-pad@1.3.0",
        ))
    }
}

fn normalise_vcs(mut vcs: Vcs) -> Result<Vcs> {
    if vcs.repo.trim().is_empty() {
        return Err(Error::invalid("vcs.repo", &vcs.repo, "a repository URL or path"));
    }
    let rev_ok = (4..=64).contains(&vcs.revision.len()) && vcs.revision.chars().all(|c| c.is_ascii_hexdigit());
    if !rev_ok {
        return Err(Error::invalid(
            "vcs.revision",
            &vcs.revision,
            "a commit id of 4 to 64 hexadecimal characters",
        ));
    }
    vcs.revision = vcs.revision.to_ascii_lowercase();
    if let Some(t) = &vcs.commit_time {
        vcs.commit_time = Some(crate::time::parse("vcs.commit_time", t)?);
    }
    Ok(vcs)
}

pub(crate) fn validate_tag(tag: Option<&str>) -> Result<()> {
    match tag {
        Some(t)
            if t.is_empty() || t.chars().count() > 128 || t.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Err(Error::invalid("tag", t, "1 to 128 characters without spaces"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(name: &str, sha: &str) -> Artifact {
        Artifact {
            name: name.into(),
            kind: ArtifactKind::File,
            sha256: sha.into(),
            purl: None,
        }
    }

    #[test]
    fn semver_is_strict() {
        assert_eq!(parse_semver("1.2.3-rc.1+b5").unwrap(), "1.2.3-rc.1+b5");
        for bad in ["v1.2.3", "1.2", "01.2.3", "1.2.3.4", ""] {
            let e = parse_semver(bad).unwrap_err().to_string();
            assert!(e.contains("`version`") && e.contains("SemVer"), "{bad}: {e}");
        }
    }

    #[test]
    fn digests_are_normalised_and_checked() {
        let upper = format!("sha256:{}", "AB".repeat(32));
        let arts = normalise_artifacts(vec![artifact("a", &upper)]).unwrap();
        assert_eq!(arts[0].sha256, "ab".repeat(32));
        let e = normalise_artifacts(vec![artifact("a", &"ab".repeat(32)), artifact("b", "xyz")]).unwrap_err();
        assert!(e.to_string().contains("artifacts[1].sha256"), "{e}");
        let dup =
            normalise_artifacts(vec![artifact("a", &"ab".repeat(32)), artifact("a", &"cd".repeat(32))]).unwrap_err();
        assert!(dup.to_string().contains("artifacts[1].name"), "{dup}");
    }

    #[test]
    fn a_frozen_version_refuses_patches() {
        let mut v = NewVersion {
            version: "1.0.0".into(),
            artifacts: vec![],
            vcs: None,
            tag: None,
        }
        .into_version("payments", "default", "t0")
        .unwrap();
        let patched = v
            .patched(
                VersionPatch {
                    tag: Some("x".into()),
                    ..Default::default()
                },
                "t1",
            )
            .unwrap();
        assert_eq!(patched.tag.as_deref(), Some("x"));
        v.draft = false;
        v.stage = Some("dev".into());
        let e = v.patched(VersionPatch::default(), "t1").unwrap_err();
        assert!(matches!(e, Error::Conflict { .. }) && e.to_string().contains("frozen"));
    }
}
