//! Token endpoint DTOs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/auth/token` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// IMAP user name.
    #[schema(example = "alice")]
    pub username: String,
    /// IMAP password (checked with a LOGIN; sealed into the token, never logged).
    #[schema(example = "secret")]
    pub password: String,
    /// Space-separated scopes to grant, a subset of `read write delete` (default: all).
    #[schema(example = "read write")]
    pub scope: Option<String>,
    /// Lifetime in seconds, at most the gateway's configured token TTL (default: that TTL).
    #[schema(example = 900)]
    pub ttl_seconds: Option<u64>,
}

/// An issued bearer token (RFC 6749 section 5.1 shape).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the token expires.
    #[schema(example = 3600)]
    pub expires_in: u64,
    /// Granted scopes, space-separated.
    #[schema(example = "read write delete")]
    pub scope: String,
}
