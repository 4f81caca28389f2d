//! Token endpoint DTOs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/auth/token` body: a user name with either a password or an OAuth2
/// access token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// IMAP user name (for OAuth2: the mailbox address the provider's token is for).
    #[schema(example = "alice")]
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")]
    pub username: String,
    /// IMAP password (checked with a LOGIN; sealed into the token, never logged).
    /// Exactly one of `password` and `access_token`.
    #[schema(example = "secret")]
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")]
    pub password: Option<String>,
    /// An OAuth2 access token from the mail provider (checked with AUTHENTICATE
    /// OAUTHBEARER or XOAUTH2; sealed into the token, never logged). The caller runs
    /// the OAuth2 flow and refreshes the token; the gateway only uses it.
    #[schema(example = "ya29.a0AfB_byC", pattern = "^[A-Za-z0-9._~+/-]+=*$")]
    pub access_token: Option<String>,
    /// Seconds the access token stays valid (the provider's `expires_in`): the
    /// gateway token expires no later. Only with `access_token`.
    #[schema(example = 3599)]
    pub expires_in: Option<u64>,
    /// Space-separated scopes to grant, a subset of `read write delete` (default: all).
    #[schema(
        example = "read write",
        pattern = "^ *(read|write|delete)( +(read|write|delete))* *$"
    )]
    pub scope: Option<String>,
    /// Lifetime in seconds, at most the gateway's configured token TTL (default: that
    /// TTL), and for an access token at most its `expires_in`.
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
