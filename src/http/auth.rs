//! `POST /v1/auth/token`: exchange IMAP credentials (a password, or an OAuth2 access
//! token) for a bearer token.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use secrecy::SecretString;

use super::extract::AppJson;
use super::ProblemResponses;
use crate::auth::ClientAddr;
use crate::auth::{AuthMethod, AuthUser, Scopes};
use crate::error::ApiError;
use crate::imap::types::check_credential_text;
use crate::imap::{Identity, Username};
use crate::model::auth::{TokenRequest, TokenResponse};
use crate::sasl::AccessToken;
use crate::state::AppState;

/// Exchange an IMAP user name and password, or an OAuth2 access token, for a bearer
/// token.
///
/// The gateway checks the credentials by logging in to IMAP afresh (LOGIN for a
/// password, AUTHENTICATE OAUTHBEARER or XOAUTH2 for an access token), never on the
/// strength of a pooled session; the session it opens stays in the pool for the next
/// request. The token is an HS256 JWT valid on every
/// gateway instance with the same secret; the password or access token travels in
/// it sealed with XChaCha20-Poly1305. A token sealing an access token never outlives
/// it: `expires_in` (or the access token's own `exp`, when it is a JWT) caps its
/// lifetime. Failed password logins are throttled per user name and client address;
/// refused access tokens per client address only.
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
    let scopes = match request.scope.as_deref() {
        None => Scopes::DEFAULT_TOKEN,
        Some(text) => Scopes::parse(text).map_err(|msg| ApiError::bad_field("scope", msg))?,
    };
    let max_ttl = state.config.token_ttl.as_secs();
    let mut ttl = match request.ttl_seconds {
        None => max_ttl,
        Some(seconds) if (1..=max_ttl).contains(&seconds) => seconds,
        Some(_) => {
            return Err(ApiError::unprocessable_field(
                "ttl_seconds",
                format!("must be between 1 and {max_ttl}"),
            ))
        }
    };
    let mechanisms = state.config.auth_mechanisms;
    let identity = match (request.password, request.access_token) {
        (Some(password), None) => {
            if request.expires_in.is_some() {
                return Err(ApiError::unprocessable_field(
                    "expires_in",
                    "only an access_token expires; a password has no expires_in",
                ));
            }
            if !mechanisms.password {
                return Err(ApiError::unprocessable_field(
                    "password",
                    "password sign-in is disabled on this gateway; use an OAuth2 access_token",
                ));
            }
            check_credential_text("password", &password, 1024)?;
            Identity::new(username, SecretString::from(password))
        }
        (None, Some(token)) => {
            let token = AccessToken::parse(&token)
                .map_err(|msg| ApiError::bad_field("access_token", msg))?;
            if !mechanisms.oauth2() {
                return Err(ApiError::unprocessable_field(
                    "access_token",
                    "OAuth2 sign-in is disabled on this gateway; use a password",
                ));
            }
            ttl = ttl.min(access_token_lifetime(&token, request.expires_in)?);
            let expires_at = crate::auth::token::now() + ttl;
            Identity::oauth2(username, token, Some(expires_at))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::unprocessable_field(
                "access_token",
                "give either a password or an access_token, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::unprocessable_field(
                "password",
                "a password or an access_token is required",
            ))
        }
    };
    let user = AuthUser {
        identity,
        scopes,
        method: AuthMethod::Password,
        client,
        expires_at: None,
    };
    // A fresh login proves the credentials, whatever the pool holds (a warm session
    // proves only that they were right once); the session goes back to the pool.
    drop(state.proven_session(&user).await?);
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

/// How many more seconds the access token is good for, as far as the gateway can
/// tell: `expires_in` when given, and the token's own `exp` claim when it is a JWT
/// (Microsoft's are; Google's are opaque). Either only ever shortens the gateway
/// token's life, so the unverified `exp` is safe to read.
///
/// # Errors
/// 422 for `expires_in` of 0; 401 `oauth2-token-rejected` for a JWT whose `exp` has
/// passed (no server would take it).
fn access_token_lifetime(token: &AccessToken, expires_in: Option<u64>) -> Result<u64, ApiError> {
    let mut lifetime = u64::MAX;
    if let Some(seconds) = expires_in {
        if seconds == 0 {
            return Err(ApiError::unprocessable_field(
                "expires_in",
                "must be at least 1 (the access token has expired)",
            ));
        }
        lifetime = seconds;
    }
    if let Some(exp) = jwt_expiry(token.expose()) {
        let now = crate::auth::token::now();
        if exp <= now {
            return Err(ApiError::imap(
                crate::mail::Op::Login,
                crate::imap::ImapError::TokenRejected {
                    status: Some("expired".to_owned()),
                },
            ));
        }
        lifetime = lifetime.min(exp - now);
    }
    Ok(lifetime)
}

/// The `exp` claim of a JWT-shaped token, read without verifying it.
fn jwt_expiry(token: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Expiry {
        exp: u64,
    }
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Expiry>(&json).ok().map(|e| e.exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn reads_the_expiry_of_jwt_shaped_tokens_only() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1900000000,"aud":"x"}"#)),
            Some(1_900_000_000)
        );
        assert_eq!(jwt_expiry("ya29.a0AfB_byC"), None);
        assert_eq!(jwt_expiry(&jwt(r#"{"aud":"x"}"#)), None);
        assert_eq!(jwt_expiry("a.b.c.d"), None);
    }

    #[test]
    fn the_lifetime_is_the_shortest_known() {
        let now = crate::auth::token::now();
        let soon = AccessToken::parse(&jwt(&format!(r#"{{"exp":{}}}"#, now + 100))).unwrap();
        let lifetime = access_token_lifetime(&soon, Some(3599)).unwrap();
        assert!((99..=100).contains(&lifetime), "{lifetime}");
        let opaque = AccessToken::parse("ya29.opaque").unwrap();
        assert_eq!(access_token_lifetime(&opaque, Some(60)).unwrap(), 60);
        assert_eq!(access_token_lifetime(&opaque, None).unwrap(), u64::MAX);
        assert!(access_token_lifetime(&opaque, Some(0)).is_err());
        let gone = AccessToken::parse(&jwt(&format!(r#"{{"exp":{}}}"#, now - 5))).unwrap();
        assert_eq!(
            access_token_lifetime(&gone, None).unwrap_err().status(),
            axum::http::StatusCode::UNAUTHORIZED
        );
    }
}
