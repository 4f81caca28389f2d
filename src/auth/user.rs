//! [`AuthUser`]: the caller's IMAP identity and scopes. `http/authn.rs` builds it
//! from `Authorization: Bearer` (a gateway token) or `Authorization: Basic` (user
//! name and password).

use std::net::IpAddr;

use super::scopes::{Scope, Scopes};
use crate::imap::Identity;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A gateway-issued bearer token (credentials verified when it was issued).
    Bearer,
    /// User name and password on this request (Basic, or the token endpoint).
    Password,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// Who to log in to IMAP as.
    pub identity: Identity,
    /// What the caller may do.
    pub scopes: Scopes,
    /// How the caller authenticated.
    pub method: AuthMethod,
    /// The client's address, for login throttling (see [`super::ClientAddr`]).
    pub client: Option<IpAddr>,
    /// When the caller's credentials stop working (seconds since the epoch): the
    /// token's expiry; `None` for a password, which works until it is changed.
    pub expires_at: Option<u64>,
}

impl AuthUser {
    /// Checks that the caller holds `scope`.
    ///
    /// # Errors
    /// [`MissingScope`] (a 403) naming it.
    pub fn require(&self, scope: Scope) -> Result<(), MissingScope> {
        if self.scopes.allows(scope) {
            Ok(())
        } else {
            Err(MissingScope(scope))
        }
    }
}

/// The caller's token does not grant this scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this token lacks the {:?} scope", .0.as_str())]
pub struct MissingScope(pub Scope);
