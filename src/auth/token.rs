//! Bearer tokens: HS256 JWTs whose `cred` claim is the IMAP password, or the
//! caller's OAuth2 access token (`cred_type: oauth2`), sealed with
//! XChaCha20-Poly1305, so any gateway instance with the same secret can open the
//! user's session and nothing readable about the secret is in the token.
//!
//! Both keys are derived from the server secret with HKDF-SHA256 under distinct
//! labels. Verification pins the algorithm, issuer and audience (the backend URL,
//! so a token for one IMAP server is useless on a gateway for another) and expiry.
//! The sealed credential is bound to `sub`, `jti`, the audience and its kind through
//! the AEAD's associated data, so it cannot be lifted into another token nor a
//! password be passed off as an access token or the other way round.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::scopes::Scopes;
use crate::imap::{Credential, Identity, Username};
use crate::sasl::AccessToken;

/// The `iss` of every token.
pub const ISSUER: &str = "imap-gateway";

/// JWT claims.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: always [`ISSUER`].
    pub iss: String,
    /// Audience: the backend URL.
    pub aud: String,
    /// Subject: the IMAP user name.
    pub sub: String,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Not valid before (seconds since the epoch; the issue time).
    pub nbf: u64,
    /// Unique token id.
    pub jti: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The sealed secret: base64url(nonce || ciphertext).
    pub cred: String,
    /// What `cred` holds: `oauth2` for an access token; absent for a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred_type: Option<String>,
}

/// The `cred_type` of a token sealing an OAuth2 access token.
const OAUTH2_CRED_TYPE: &str = "oauth2";

/// Why a token was refused. Deliberately coarse: details help attackers, not users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// Signature, algorithm, issuer, audience, claims or sealed credential are wrong.
    #[error("the token is invalid")]
    Invalid,
}

/// A freshly issued token.
#[derive(Debug)]
pub struct IssuedToken {
    /// The JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Granted scopes.
    pub scopes: Scopes,
}

/// Issues and verifies tokens.
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ticket_validation: Validation,
    sealer: XChaCha20Poly1305,
    audience: String,
}

/// What a verified token says.
#[derive(Debug)]
pub struct Verified {
    /// Who to log in to IMAP as.
    pub identity: Identity,
    /// What the holder may do.
    pub scopes: Scopes,
    /// When it expires (seconds since the epoch).
    pub expires_at: u64,
}

/// The audience suffix of event tickets: a ticket is a token for another audience,
/// so the Bearer check refuses it and the ticket check refuses tokens.
const TICKET_AUDIENCE_SUFFIX: &str = "#events";

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// Label of the HKDF-derived HS256 signing key.
const SIGNING_KEY_LABEL: &[u8] = b"jwt hs256 signing key";

/// The HS256 key tokens are signed with, derived from the server secret (tools and
/// tests that mint or forge tokens need it; anyone holding the secret can derive it).
pub fn signing_key(secret: &SecretString) -> [u8; 32] {
    derive_key(secret, SIGNING_KEY_LABEL)
}

pub(crate) fn derive_key(secret: &SecretString, label: &[u8]) -> [u8; 32] {
    let hkdf = Hkdf::<Sha256>::new(Some(b"imap-gateway v1"), secret.expose_secret().as_bytes());
    let mut key = [0u8; 32];
    hkdf.expand(label, &mut key)
        .expect("BUG: 32 bytes is a valid HKDF-SHA256 output length");
    key
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl TokenService {
    /// Derives the signing and sealing keys from `secret`.
    pub fn new(secret: &SecretString, audience: impl Into<String>) -> Self {
        let signing = signing_key(secret);
        let sealing = derive_key(secret, b"credential sealing key");
        let audience = audience.into();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_audience(&[audience.as_str()]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        validation.validate_exp = true;
        let mut ticket_validation = validation.clone();
        ticket_validation.set_audience(&[format!("{audience}{TICKET_AUDIENCE_SUFFIX}")]);
        Self {
            encoding: EncodingKey::from_secret(&signing),
            decoding: DecodingKey::from_secret(&signing),
            validation,
            ticket_validation,
            sealer: XChaCha20Poly1305::new((&sealing).into()),
            audience,
        }
    }

    fn associated_data(
        &self,
        audience: &str,
        sub: &str,
        jti: &str,
        cred_type: Option<&str>,
    ) -> Vec<u8> {
        let mut aad = format!("{ISSUER}\0{audience}\0{sub}\0{jti}");
        if let Some(kind) = cred_type {
            aad.push('\0');
            aad.push_str(kind);
        }
        aad.into_bytes()
    }

    /// Issues an event ticket: a token good only for `GET /v1/events?ticket=` (read
    /// scope, its own audience), for EventSource, which cannot send headers. It
    /// expires with the caller's credentials: at `expires_at` (seconds since the
    /// epoch: the caller's token expiry), or after `ttl` for a password, so a
    /// browser's automatic reconnects work exactly as long as the sign-in does.
    pub fn issue_ticket(
        &self,
        identity: &Identity,
        expires_at: Option<u64>,
        ttl: Duration,
    ) -> IssuedToken {
        let now = now();
        let expires_at = expires_at.unwrap_or(now + ttl.as_secs());
        // Never outlives `expires_at`, even when that has passed already.
        let issued_at = now.min(expires_at);
        let audience = format!("{}{TICKET_AUDIENCE_SUFFIX}", self.audience);
        let ttl = Duration::from_secs(expires_at - issued_at);
        self.issue_for(&audience, identity, Scopes::READ, issued_at, ttl)
    }

    /// Verifies an event ticket.
    ///
    /// # Errors
    /// [`TokenError::Expired`] or [`TokenError::Invalid`] (a bearer token is not a
    /// ticket).
    pub fn verify_ticket(&self, ticket: &str) -> Result<Verified, TokenError> {
        let audience = format!("{}{TICKET_AUDIENCE_SUFFIX}", self.audience);
        self.verify_for(&audience, &self.ticket_validation, ticket)
    }

    /// Issues a token for `identity` valid for `ttl`.
    pub fn issue(&self, identity: &Identity, scopes: Scopes, ttl: Duration) -> IssuedToken {
        self.issue_at(identity, scopes, now(), ttl)
    }

    /// Issues a token as if it were `issued_at` (seconds since the epoch); tests use
    /// it to make expired tokens.
    pub fn issue_at(
        &self,
        identity: &Identity,
        scopes: Scopes,
        issued_at: u64,
        ttl: Duration,
    ) -> IssuedToken {
        self.issue_for(&self.audience, identity, scopes, issued_at, ttl)
    }

    fn issue_for(
        &self,
        audience: &str,
        identity: &Identity,
        scopes: Scopes,
        issued_at: u64,
        ttl: Duration,
    ) -> IssuedToken {
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let jti = URL_SAFE_NO_PAD.encode(id);
        let sub = identity.username().as_str().to_owned();
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cred_type = match identity.credential() {
            Credential::Password(_) => None,
            Credential::OAuth2 { .. } => Some(OAUTH2_CRED_TYPE),
        };
        let aad = self.associated_data(audience, &sub, &jti, cred_type);
        let sealed = self
            .sealer
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: identity.sealed_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .expect("BUG: XChaCha20-Poly1305 encryption of a short message cannot fail");
        let mut cred = nonce.to_vec();
        cred.extend_from_slice(&sealed);
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: audience.to_owned(),
            sub,
            iat: issued_at,
            exp: issued_at + ttl.as_secs(),
            nbf: issued_at,
            jti,
            scope: scopes.to_string(),
            cred: URL_SAFE_NO_PAD.encode(cred),
            cred_type: cred_type.map(str::to_owned),
        };
        let access_token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
                .expect("BUG: HS256 signing of serialisable claims cannot fail");
        IssuedToken {
            access_token,
            expires_in: ttl.as_secs(),
            scopes,
        }
    }

    /// Verifies a token and opens its sealed credential.
    ///
    /// # Errors
    /// [`TokenError::Expired`] or [`TokenError::Invalid`].
    pub fn verify(&self, token: &str) -> Result<(Identity, Scopes), TokenError> {
        self.verify_token(token)
            .map(|verified| (verified.identity, verified.scopes))
    }

    /// Verifies a bearer token, with its expiry.
    ///
    /// # Errors
    /// [`TokenError::Expired`] or [`TokenError::Invalid`] (an event ticket is not a
    /// bearer token).
    pub fn verify_token(&self, token: &str) -> Result<Verified, TokenError> {
        self.verify_for(&self.audience, &self.validation, token)
    }

    fn verify_for(
        &self,
        audience: &str,
        validation: &Validation,
        token: &str,
    ) -> Result<Verified, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            },
        )?;
        let claims = data.claims;
        let scopes = Scopes::parse(&claims.scope).map_err(|_| TokenError::Invalid)?;
        let username = Username::try_from(claims.sub.as_str()).map_err(|_| TokenError::Invalid)?;
        let sealed = URL_SAFE_NO_PAD
            .decode(&claims.cred)
            .map_err(|_| TokenError::Invalid)?;
        if sealed.len() < 24 {
            return Err(TokenError::Invalid);
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        let cred_type = claims.cred_type.as_deref();
        if cred_type.is_some_and(|kind| kind != OAUTH2_CRED_TYPE) {
            return Err(TokenError::Invalid);
        }
        let aad = self.associated_data(audience, &claims.sub, &claims.jti, cred_type);
        let secret = self
            .sealer
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| TokenError::Invalid)?;
        let secret = String::from_utf8(secret).map_err(|_| TokenError::Invalid)?;
        let credential = match cred_type {
            None => Credential::Password(SecretString::from(secret)),
            Some(_) => Credential::OAuth2 {
                token: AccessToken::parse(&secret).map_err(|_| TokenError::Invalid)?,
                expires_at: Some(claims.exp),
            },
        };
        Ok(Verified {
            identity: Identity::with_credential(username, credential),
            scopes,
            expires_at: claims.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(secret: &str, audience: &str) -> TokenService {
        TokenService::new(&SecretString::from(secret.to_owned()), audience)
    }

    fn alice() -> Identity {
        Identity::new(
            Username::try_from("alice").unwrap(),
            SecretString::from("s3cret".to_owned()),
        )
    }

    const SECRET: &str = "an-example-secret-of-at-least-32-bytes";

    #[test]
    fn round_trip_and_cross_instance() {
        let a = service(SECRET, "imap://mail:143");
        let b = service(SECRET, "imap://mail:143");
        let token = a.issue(&alice(), Scopes::ALL, Duration::from_secs(60));
        let (identity, scopes) = b.verify(&token.access_token).unwrap();
        assert_eq!(identity.key(), alice().key());
        assert_eq!(scopes, Scopes::ALL);
        // The password is not readable in the token.
        assert!(!token.access_token.contains("s3cret"));
        let payload = token.access_token.split('.').nth(1).unwrap();
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert!(!json.contains("s3cret"), "{json}");
    }

    #[test]
    fn refuses_wrong_secret_audience_expiry_and_tampering() {
        let good = service(SECRET, "imap://mail:143");
        let token = good
            .issue(&alice(), Scopes::ALL, Duration::from_secs(60))
            .access_token;
        assert_eq!(
            service("another-secret-of-at-least-32-bytes!!", "imap://mail:143")
                .verify(&token)
                .unwrap_err(),
            TokenError::Invalid
        );
        assert_eq!(
            service(SECRET, "imap://other:143")
                .verify(&token)
                .unwrap_err(),
            TokenError::Invalid
        );
        let expired = good
            .issue_at(&alice(), Scopes::ALL, now() - 3600, Duration::from_secs(60))
            .access_token;
        assert_eq!(good.verify(&expired).unwrap_err(), TokenError::Expired);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["scope"] = "read write delete".into();
        claims["sub"] = "mallory".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        assert_eq!(
            good.verify(&parts.join(".")).unwrap_err(),
            TokenError::Invalid
        );
        // alg=none is refused.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let forged = format!("{none_header}.{}.", token.split('.').nth(1).unwrap());
        assert_eq!(good.verify(&forged).unwrap_err(), TokenError::Invalid);
    }
}
