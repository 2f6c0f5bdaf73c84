//! Applications: the first-class object that versions belong to.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    #[default]
    Unspecified,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Maturity {
    #[default]
    Unspecified,
    Experimental,
    Production,
    EndOfLife,
}

impl Criticality {
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Unspecified => "unspecified",
            Criticality::Low => "low",
            Criticality::Medium => "medium",
            Criticality::High => "high",
            Criticality::Critical => "critical",
        }
    }
}

impl Maturity {
    pub fn as_str(self) -> &'static str {
        match self {
            Maturity::Unspecified => "unspecified",
            Maturity::Experimental => "experimental",
            Maturity::Production => "production",
            Maturity::EndOfLife => "end_of_life",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Owners {
    #[serde(default)]
    #[schemars(inner(regex(pattern = crate::schema::PRINCIPAL)))]
    pub users: Vec<String>,
    #[serde(default)]
    #[schemars(inner(regex(pattern = crate::schema::PRINCIPAL)))]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Application {
    pub key: String,
    pub name: String,
    pub project: String,
    pub description: String,
    pub owners: Owners,
    pub criticality: Criticality,
    pub maturity: Maturity,
    #[schemars(with = "crate::schema::Labels")]
    pub labels: BTreeMap<String, String>,
    #[schemars(with = "crate::schema::Timestamp")]
    pub created_at: String,
    #[schemars(with = "crate::schema::Timestamp")]
    pub updated_at: String,
}

/// What a client sends to create an application.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    #[schemars(regex(pattern = crate::schema::APP_KEY))]
    pub key: String,
    /// Defaults to the key.
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::schema::NAME))]
    pub name: Option<String>,
    /// Defaults to `default`.
    #[schemars(regex(pattern = crate::schema::SLUG))]
    pub project: Option<String>,
    #[serde(default)]
    #[schemars(length(max = 4000), regex(pattern = crate::schema::MULTILINE))]
    pub description: String,
    #[serde(default)]
    pub owners: Owners,
    #[serde(default)]
    pub criticality: Criticality,
    #[serde(default)]
    pub maturity: Maturity,
    #[serde(default)]
    #[schemars(with = "crate::schema::Labels")]
    pub labels: BTreeMap<String, String>,
}

/// What a client sends to change an application; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationPatch {
    /// Present only so that an attempt to change it is refused by name.
    #[schemars(skip)]
    pub key: Option<serde_json::Value>,
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::schema::NAME))]
    pub name: Option<String>,
    #[schemars(regex(pattern = crate::schema::SLUG))]
    pub project: Option<String>,
    #[schemars(length(max = 4000), regex(pattern = crate::schema::MULTILINE))]
    pub description: Option<String>,
    pub owners: Option<Owners>,
    pub criticality: Option<Criticality>,
    pub maturity: Option<Maturity>,
    #[schemars(with = "Option<crate::schema::Labels>")]
    pub labels: Option<BTreeMap<String, String>>,
}

pub const DEFAULT_PROJECT: &str = "default";

impl NewApplication {
    pub fn into_application(self, now: &str) -> Result<Application> {
        validate_key(&self.key)?;
        let app = Application {
            name: self.name.unwrap_or_else(|| self.key.clone()),
            key: self.key,
            project: self.project.unwrap_or_else(|| DEFAULT_PROJECT.to_string()),
            description: self.description,
            owners: self.owners,
            criticality: self.criticality,
            maturity: self.maturity,
            labels: self.labels,
            created_at: now.to_string(),
            updated_at: now.to_string(),
        };
        app.validate()?;
        Ok(app)
    }
}

impl Application {
    /// Apply a patch, returning the changed application (the key never changes).
    pub fn patched(&self, patch: ApplicationPatch, now: &str) -> Result<Application> {
        if let Some(key) = patch.key
            && key.as_str() != Some(self.key.as_str())
        {
            return Err(Error::invalid(
                "key",
                key,
                format!("the key is immutable; it stays {:?}", self.key),
            ));
        }
        let mut app = self.clone();
        if let Some(v) = patch.name {
            app.name = v;
        }
        if let Some(v) = patch.project {
            app.project = v;
        }
        if let Some(v) = patch.description {
            app.description = v;
        }
        if let Some(v) = patch.owners {
            app.owners = v;
        }
        if let Some(v) = patch.criticality {
            app.criticality = v;
        }
        if let Some(v) = patch.maturity {
            app.maturity = v;
        }
        if let Some(v) = patch.labels {
            app.labels = v;
        }
        app.updated_at = now.to_string();
        app.validate()?;
        Ok(app)
    }

    fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() || self.name.chars().count() > 200 || !crate::text::printable(&self.name) {
            return Err(Error::invalid(
                "name",
                &self.name,
                "1 to 200 printable characters (no control or bidirectional-override characters), not only spaces",
            ));
        }
        validate_slug("project", &self.project)?;
        if self.description.chars().count() > 4000 {
            return Err(Error::invalid("description", "(too long)", "at most 4000 characters"));
        }
        if !crate::text::printable_multiline(&self.description) {
            return Err(Error::invalid(
                "description",
                &self.description,
                "text without control or bidirectional-override characters (line breaks and tabs are fine)",
            ));
        }
        for (i, user) in self.owners.users.iter().enumerate() {
            validate_principal(&format!("owners.users[{i}]"), user)?;
        }
        for (i, group) in self.owners.groups.iter().enumerate() {
            validate_principal(&format!("owners.groups[{i}]"), group)?;
        }
        for (k, v) in &self.labels {
            validate_label(k, v)?;
        }
        Ok(())
    }
}

/// Application keys: `^[a-z][a-z0-9-]{1,63}$`.
pub fn validate_key(key: &str) -> Result<()> {
    let ok = key.len() >= 2
        && key.len() <= 64
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "key",
            key,
            "2 to 64 characters matching ^[a-z][a-z0-9-]{1,63}$ (lowercase letter first, then lowercase letters, digits or '-')",
        ))
    }
}

/// Project and stage names: lowercase letters, digits, '-', '_' and '.', starting with a letter or digit.
pub fn validate_slug(field: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            value,
            "1 to 64 characters of [a-z0-9._-], starting with a letter or digit",
        ))
    }
}

pub(crate) fn validate_principal(field: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.chars().count() <= 128
        && !value.chars().any(|c| c.is_whitespace() || crate::text::is_unsafe(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            value,
            "a user or group name of 1 to 128 characters without spaces",
        ))
    }
}

pub(crate) fn validate_label(key: &str, value: &str) -> Result<()> {
    let key_ok = !key.is_empty()
        && key.len() <= 63
        && key.starts_with(|c: char| c.is_ascii_alphanumeric())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if !key_ok {
        return Err(Error::invalid(
            "labels",
            key,
            "label keys of 1 to 63 characters of [A-Za-z0-9._/-], starting with a letter or digit",
        ));
    }
    if value.chars().count() > 256 || !crate::text::printable(value) {
        return Err(Error::invalid(
            format!("labels.{key}"),
            value,
            "a value of at most 256 printable characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_pattern() {
        for good in ["ab", "payments", "a1-b2", &"a".repeat(64)] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in [
            "a",
            "1abc",
            "Payments",
            "pay_ments",
            "-ab",
            &"a".repeat(65),
            "pay ments",
            "",
        ] {
            let err = validate_key(bad).unwrap_err().to_string();
            assert!(err.contains("`key`") && err.contains("^[a-z]"), "{bad}: {err}");
        }
    }

    #[test]
    fn patch_cannot_change_the_key_and_keeps_absent_fields() {
        let app = NewApplication {
            key: "payments".into(),
            name: None,
            project: Some("shop".into()),
            description: "d".into(),
            owners: Owners::default(),
            criticality: Criticality::High,
            maturity: Maturity::Production,
            labels: BTreeMap::new(),
        }
        .into_application("t0")
        .unwrap();
        assert_eq!(app.name, "payments");
        let patch = ApplicationPatch {
            key: Some(serde_json::json!("other")),
            ..Default::default()
        };
        assert!(app.patched(patch, "t1").unwrap_err().to_string().contains("immutable"));
        let patch = ApplicationPatch {
            criticality: Some(Criticality::Low),
            ..Default::default()
        };
        let changed = app.patched(patch, "t1").unwrap();
        assert_eq!(changed.criticality, Criticality::Low);
        assert_eq!(changed.project, "shop");
        assert_eq!(changed.updated_at, "t1");
    }

    #[test]
    fn lengths_count_characters_as_the_documents_say() {
        // The OpenAPI document's maxLength counts characters: so does the
        // server (256 two-byte characters are 512 bytes).
        let with = |label: String, owner: String| {
            NewApplication {
                key: "payments".into(),
                name: None,
                project: None,
                description: String::new(),
                owners: Owners {
                    users: vec![owner],
                    groups: Vec::new(),
                },
                criticality: Criticality::High,
                maturity: Maturity::Production,
                labels: [("team".to_string(), label)].into(),
            }
            .into_application("t0")
        };
        assert!(with("é".repeat(256), "ü".repeat(128)).is_ok());
        assert!(
            with("é".repeat(257), "u".into())
                .unwrap_err()
                .to_string()
                .contains("labels.team")
        );
        assert!(
            with("e".into(), "ü".repeat(129))
                .unwrap_err()
                .to_string()
                .contains("owners.users[0]")
        );
    }
}
