//! Access control: bearer tokens, roles, and what each role may do. Pure
//! functions; the store keeps only a token's SHA-256, never the secret.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Viewer,
    Developer,
    ReleaseManager,
    Approver,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::ReleaseManager => "release-manager",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Role> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| Error::invalid(field, s, "viewer, developer, release-manager, approver or admin"))
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// No token needed (health, metrics, the API document).
    Public,
    /// Any valid token.
    Read,
    /// Create and change draft versions, add evidence, request waivers.
    Develop,
    /// Promote, release, roll back.
    Transition,
    /// Approve or reject waivers.
    Approve,
    /// Applications, lifecycles, policies, plugins, keys, tokens.
    Administer,
}

impl Permission {
    /// The role that grants this permission (besides admin, which grants all).
    pub fn role(self) -> Option<Role> {
        match self {
            Permission::Public | Permission::Read => None,
            Permission::Develop => Some(Role::Developer),
            Permission::Transition => Some(Role::ReleaseManager),
            Permission::Approve => Some(Role::Approver),
            Permission::Administer => Some(Role::Admin),
        }
    }
}

/// Admin may do everything; every role may read; otherwise the role must match.
pub fn allows(role: Role, needed: Permission) -> bool {
    role == Role::Admin || needed.role().is_none_or(|r| r == role)
}

/// A token as stored: everything but the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Token {
    /// Short public id, used to list and revoke.
    pub id: String,
    /// The actor recorded in the activity log.
    pub name: String,
    pub role: Role,
    #[schemars(with = "crate::schema::Timestamp")]
    pub created_at: String,
    pub created_by: String,
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    pub expires_at: Option<String>,
    #[schemars(with = "Option<crate::schema::Timestamp>")]
    pub revoked_at: Option<String>,
}

/// The caller of a request, once authenticated.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

pub const TOKEN_PREFIX: &str = "ghs_";

/// A new secret: the prefix, the public id, and 32 random bytes (hex).
pub fn new_secret() -> Result<(String, String)> {
    let mut bytes = [0u8; 36];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal_msg(format!("no randomness from the operating system: {e}")))?;
    let (id, secret) = bytes.split_at(4);
    let id = hex::encode(id);
    Ok((id.clone(), format!("{TOKEN_PREFIX}{id}_{}", hex::encode(secret))))
}

/// SHA-256 of the whole secret: what the store keeps.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Why a presented token was refused (HTTP 401).
pub fn check_usable(token: &Token, now: &str) -> Result<(), String> {
    if let Some(at) = &token.revoked_at {
        return Err(format!("token {} ({}) was revoked at {at}", token.id, token.name));
    }
    if let Some(at) = token.expires_at.as_deref().filter(|at| now >= *at) {
        return Err(format!("token {} ({}) expired at {at}", token.id, token.name));
    }
    Ok(())
}

/// Parse an `Authorization` header value into the secret it carries.
pub fn bearer(header: Option<&str>) -> Result<&str, String> {
    let Some(value) = header else {
        return Err(
            "no bearer token: send `Authorization: Bearer <token>` (create one with `gatehouse token create`)".into(),
        );
    };
    let secret = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| "the Authorization header must be `Bearer <token>`".to_string())?
        .trim();
    let well_formed = secret
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(|rest| rest.len() == 8 + 1 + 64 && rest.chars().all(|c| c.is_ascii_hexdigit() || c == '_'));
    if !well_formed {
        return Err(format!(
            "malformed token: expected {TOKEN_PREFIX}<id>_<64 hex characters>"
        ));
    }
    Ok(secret)
}

/// The public id embedded in a well-formed secret.
pub fn secret_id(secret: &str) -> Option<&str> {
    secret.strip_prefix(TOKEN_PREFIX).and_then(|rest| rest.get(..8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_may_do_all_and_others_only_their_part() {
        use Permission::*;
        for p in [Public, Read, Develop, Transition, Approve, Administer] {
            assert!(allows(Role::Admin, p));
        }
        assert!(allows(Role::Viewer, Read));
        assert!(!allows(Role::Viewer, Develop));
        assert!(allows(Role::Developer, Develop));
        assert!(!allows(Role::Developer, Transition));
        assert!(allows(Role::ReleaseManager, Transition));
        assert!(!allows(Role::ReleaseManager, Approve));
        assert!(allows(Role::Approver, Approve));
        assert!(!allows(Role::Approver, Administer));
    }

    #[test]
    fn secrets_are_well_formed_and_only_their_hash_is_kept() {
        let (id, secret) = new_secret().unwrap();
        assert_eq!(bearer(Some(&format!("Bearer {secret}"))), Ok(secret.as_str()));
        assert_eq!(secret_id(&secret), Some(id.as_str()));
        assert_eq!(hash_secret(&secret).len(), 64);
        assert_ne!(hash_secret(&secret), secret);
        assert!(bearer(None).unwrap_err().contains("no bearer token"));
        assert!(bearer(Some("Basic abc")).unwrap_err().contains("Bearer"));
        assert!(bearer(Some("Bearer ghs_nothex")).unwrap_err().contains("malformed"));
    }

    #[test]
    fn expiry_and_revocation() {
        let t = Token {
            id: "abcd1234".into(),
            name: "ci".into(),
            role: Role::Developer,
            created_at: "t".into(),
            created_by: "admin".into(),
            expires_at: Some("2026-01-01T00:00:00.000000Z".into()),
            revoked_at: None,
        };
        assert!(check_usable(&t, "2025-12-31T00:00:00.000000Z").is_ok());
        assert!(
            check_usable(&t, "2026-01-01T00:00:00.000000Z")
                .unwrap_err()
                .contains("expired")
        );
        let r = Token {
            revoked_at: Some("x".into()),
            expires_at: None,
            ..t
        };
        assert!(
            check_usable(&r, "2025-01-01T00:00:00.000000Z")
                .unwrap_err()
                .contains("revoked")
        );
    }
}
