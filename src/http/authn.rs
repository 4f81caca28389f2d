//! Who is calling: the [`AuthUser`] and [`ClientAddr`] extractors.
//!
//! Missing, malformed, expired or forged credentials answer 401 with
//! `WWW-Authenticate` (never 400). The password of a Basic request is checked by the
//! IMAP LOGIN that opens the session (see `AppState::session`), where failures are
//! throttled.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use secrecy::SecretString;

use crate::auth::{AuthMethod, AuthUser, ClientAddr, Scopes, TokenError};
use crate::error::ApiError;
use crate::imap::types::check_credential_text;
use crate::imap::{Credential, Identity, Username};
use crate::state::AppState;

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientAddr(client) = ClientAddr::of(parts, &state.config.trusted_proxies);
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("credentials are required (Bearer token or Basic)")
        })?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is malformed"))?;
        let (scheme, credentials) = value
            .trim()
            .split_once(' ')
            .ok_or_else(|| ApiError::unauthorized("the Authorization header is malformed"))?;
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            let verified = state
                .tokens
                .verify_token(credentials)
                .map_err(|err| refused("token", err))?;
            check_still_accepted(state, &verified.identity)?;
            Ok(Self {
                identity: verified.identity,
                scopes: verified.scopes,
                method: AuthMethod::Bearer,
                client,
                expires_at: Some(verified.expires_at),
            })
        } else if scheme.eq_ignore_ascii_case("basic") {
            if !state.config.basic_auth {
                return Err(ApiError::unauthorized(
                    "Basic authentication is disabled; use a Bearer token",
                ));
            }
            if !state.config.auth_mechanisms.password {
                return Err(ApiError::unauthorized(
                    "password sign-in is disabled on this gateway; use a Bearer token",
                ));
            }
            let (username, password) = decode_basic(credentials)?;
            Ok(Self {
                identity: Identity::new(username, password),
                scopes: Scopes::ALL,
                method: AuthMethod::Password,
                client,
                expires_at: None,
            })
        } else {
            Err(ApiError::unauthorized(
                "unsupported authorization scheme (use Bearer or Basic)",
            ))
        }
    }
}

/// A token sealing a kind of credential the gateway no longer accepts
/// (`IMAP_GATEWAY_AUTH_MECHANISMS` changed since it was issued) is refused.
fn check_still_accepted(state: &AppState, identity: &Identity) -> Result<(), ApiError> {
    let mechanisms = state.config.auth_mechanisms;
    let accepted = match identity.credential() {
        Credential::Password(_) => mechanisms.password,
        Credential::OAuth2 { .. } => mechanisms.oauth2(),
    };
    if accepted {
        Ok(())
    } else {
        Err(ApiError::Unauthorized {
            detail: format!(
                "{} sign-in is disabled on this gateway",
                identity.credential().kind()
            ),
            bearer_error: Some("invalid_token"),
        })
    }
}

/// 401 `invalid_token` for a refused token or ticket; never says more than expired
/// or invalid.
fn refused(what: &str, err: TokenError) -> ApiError {
    ApiError::Unauthorized {
        detail: match err {
            TokenError::Expired => format!("the {what} has expired"),
            TokenError::Invalid => format!("the {what} is invalid"),
        },
        bearer_error: Some("invalid_token"),
    }
}

/// The caller of `GET /v1/events`: an event ticket in `?ticket=` (what a browser's
/// EventSource can send, since it cannot set headers), or the usual credentials.
/// The ticket travels in the URL, so it is good for nothing else (its own audience,
/// read only), and the gateway never logs URLs: access logs, spans, metrics and
/// problem `instance`s carry the route template or the path, never the query.
#[derive(Debug, Clone)]
pub struct EventsCaller(pub AuthUser);

impl FromRequestParts<AppState> for EventsCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ticket = parts.uri.query().and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "ticket")
                .map(|(_, value)| value.into_owned())
        });
        let Some(ticket) = ticket else {
            return AuthUser::from_request_parts(parts, state).await.map(Self);
        };
        let verified = state
            .tokens
            .verify_ticket(&ticket)
            .map_err(|err| refused("event ticket", err))?;
        check_still_accepted(state, &verified.identity)?;
        let ClientAddr(client) = ClientAddr::of(parts, &state.config.trusted_proxies);
        Ok(Self(AuthUser {
            identity: verified.identity,
            scopes: verified.scopes,
            method: AuthMethod::Bearer,
            client,
            expires_at: Some(verified.expires_at),
        }))
    }
}

fn decode_basic(encoded: &str) -> Result<(Username, SecretString), ApiError> {
    let malformed = || ApiError::unauthorized("the Basic credentials are malformed");
    let bytes = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let (user, password) = text.split_once(':').ok_or_else(malformed)?;
    let username = Username::try_from(user).map_err(|_| malformed())?;
    check_credential_text("password", password, 1024).map_err(|_| malformed())?;
    Ok((username, SecretString::from(password.to_owned())))
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, &state.config.trusted_proxies))
    }
}
