//! Token use cases: create (the secret is shown once), list, revoke, and
//! authenticate a request.

use serde::Serialize;
use serde_json::json;

use super::{Gatehouse, validate_actor};
use crate::access::{self, Principal, Role, Token};
use crate::audit::{EventResult, NewEvent};
use crate::error::{Error, Result};

/// A token as created: the only time its secret is seen.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: Token,
    pub secret: String,
}

impl Gatehouse {
    pub fn create_token(&self, actor: &str, name: &str, role: Role, expires_at: Option<&str>) -> Result<CreatedToken> {
        let actor = validate_actor(actor)?;
        validate_actor(name).map_err(|e| match e {
            Error::Invalid { value, expected, .. } => Error::Invalid {
                field: "name".into(),
                value,
                expected,
            },
            other => other,
        })?;
        let now = crate::time::now();
        let expires_at = expires_at.map(|t| crate::time::parse("expires_at", t)).transpose()?;
        if let Some(at) = expires_at.as_deref().filter(|at| *at <= now.as_str()) {
            return Err(Error::invalid("expires_at", at, "a time in the future"));
        }
        let (id, secret) = access::new_secret()?;
        let token = Token {
            id,
            name: name.to_string(),
            role,
            created_at: now,
            created_by: actor.to_string(),
            expires_at,
            revoked_at: None,
        };
        let event = token_event(actor, "token.create", &token);
        self.store.put_token(&token, &access::hash_secret(&secret), event)?;
        Ok(CreatedToken { token, secret })
    }

    pub fn tokens(&self) -> Result<Vec<Token>> {
        self.store.tokens()
    }

    pub fn revoke_token(&self, actor: &str, id: &str) -> Result<Token> {
        let actor = validate_actor(actor)?;
        let mut token = self
            .store
            .tokens()?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| Error::NotFound {
                kind: "token",
                id: id.to_string(),
            })?;
        if token.revoked_at.is_some() {
            return Err(Error::conflict(format!("token {id} is already revoked")));
        }
        token.revoked_at = Some(crate::time::now());
        self.store
            .update_token(&token, token_event(actor, "token.revoke", &token))?;
        Ok(token)
    }

    /// Who is calling, from an `Authorization` header value.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal> {
        let unauthenticated = |reason: String| Error::Unauthenticated { reason };
        let secret = access::bearer(authorization).map_err(unauthenticated)?;
        let token = self
            .store
            .token_by_hash(&access::hash_secret(secret))?
            .ok_or_else(|| unauthenticated("unknown token".to_string()))?;
        access::check_usable(&token, &crate::time::now()).map_err(unauthenticated)?;
        Ok(Principal {
            name: token.name,
            role: token.role,
        })
    }

    /// Readiness: the store answers.
    /// Ready to serve gates: the store answers and every plugin has been
    /// compiled (or found unable to run) — so the first gate never waits for
    /// a compilation (`serve` compiles them at start).
    pub fn ready(&self) -> Result<()> {
        self.store.ping()?;
        if !self.plugins.warmed() {
            return Err(Error::Unavailable {
                reason: "the plugins are still being compiled".into(),
            });
        }
        Ok(())
    }
}

fn token_event(actor: &str, action: &str, token: &Token) -> NewEvent {
    NewEvent {
        actor: actor.to_string(),
        action: action.to_string(),
        subject: format!("token:{}", token.id),
        application: None,
        version: None,
        result: EventResult::Success,
        details: json!({ "token": token }),
    }
}
