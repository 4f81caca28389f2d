//! `POST /v1/auth/token`: exchange IMAP credentials for a bearer token.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::Json;
use secrecy::SecretString;

use super::extract::AppJson;
use super::ProblemResponses;
use crate::auth::ClientAddr;
use crate::auth::{AuthMethod, AuthUser, Scopes};
use crate::error::ApiError;
use crate::imap::types::check_credential_text;
use crate::imap::{Identity, Username};
use crate::model::auth::{TokenRequest, TokenResponse};
use crate::state::AppState;

/// Exchange an IMAP user name and password for a bearer token.
///
/// The gateway checks the credentials with an IMAP LOGIN (the session it opens stays in
/// the pool for the next request). The token is an HS256 JWT valid on every gateway
/// instance with the same secret; the password travels in it sealed with
/// XChaCha20-Poly1305. Failed logins are throttled per user name and client address.
#[utoipa::path(post, path = "/v1/auth/token", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Token issued", body = TokenResponse),
        ProblemResponses,
    ))]
pub async fn create_token(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AppJson(request): AppJson<TokenRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let username = Username::try_from(request.username.as_str())
        .map_err(|err| ApiError::bad_field("username", err.message))?;
    check_credential_text("password", &request.password, 1024)?;
    let scopes = match request.scope.as_deref() {
        None => Scopes::DEFAULT_TOKEN,
        Some(text) => Scopes::parse(text).map_err(|msg| ApiError::bad_field("scope", msg))?,
    };
    let max_ttl = state.config.token_ttl.as_secs();
    let ttl = match request.ttl_seconds {
        None => max_ttl,
        Some(seconds) if (1..=max_ttl).contains(&seconds) => seconds,
        Some(_) => {
            return Err(ApiError::unprocessable_field(
                "ttl_seconds",
                format!("must be between 1 and {max_ttl}"),
            ))
        }
    };
    let user = AuthUser {
        identity: Identity::new(username, SecretString::from(request.password)),
        scopes,
        method: AuthMethod::Password,
        client,
        expires_at: None,
    };
    // Logging in proves the credentials; the session goes back to the pool.
    drop(state.session(&user).await?);
    let issued = state
        .tokens
        .issue(&user.identity, scopes, Duration::from_secs(ttl));
    let body = TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer".to_owned(),
        expires_in: issued.expires_in,
        scope: issued.scopes.to_string(),
    };
    Ok((
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ],
        Json(body),
    ))
}
