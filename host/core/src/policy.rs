//! A Rego policy as Gatehouse stores and serves it: a package of one or more
//! files, its digest and where it came from. Compiling and evaluating it is
//! the policy engine's (`gatehouse-policy`, the only crate that uses regorus).

use serde::{Deserialize, Serialize};

/// Where a policy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "PolicyOrigin")]
pub enum Origin {
    Bundled,
    Directory,
    Uploaded,
}

/// One policy module: its package is its name (`baseline.provenance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Policy {
    pub name: String,
    /// Where the text was read from (a path, or `upload`).
    pub path: String,
    pub origin: Origin,
    /// Increments each time an uploaded policy's text changes.
    pub version: u64,
    /// SHA-256 of the text; for a package of several files, of the sorted
    /// SHA-256s of its files (one per line).
    pub digest: String,
    /// The text (of a package of several files: each file after a `# file:` comment line).
    pub source: String,
    /// Every file of the package, when it has more than one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PolicyFile>,
}

/// A policy without its text, as listings show it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PolicySummary {
    pub name: String,
    pub path: String,
    pub origin: Origin,
    pub version: u64,
    pub digest: String,
}

impl From<&Policy> for PolicySummary {
    fn from(p: &Policy) -> Self {
        PolicySummary {
            name: p.name.clone(),
            path: p.path.clone(),
            origin: p.origin,
            version: p.version,
            digest: p.digest.clone(),
        }
    }
}

/// One Rego file of a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PolicyFile {
    pub path: String,
    pub source: String,
}

impl Policy {
    /// Every file of the policy: (path, text).
    pub fn files(&self) -> Vec<(&str, &str)> {
        if self.files.is_empty() {
            vec![(self.path.as_str(), self.source.as_str())]
        } else {
            self.files
                .iter()
                .map(|f| (f.path.as_str(), f.source.as_str()))
                .collect()
        }
    }
}
