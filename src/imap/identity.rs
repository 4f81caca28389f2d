//! Who the gateway logs in as: an IMAP user name and a [`Credential`] (a password, or
//! an OAuth2 access token) in an [`Identity`]; the fingerprint that keys what is kept
//! per credential ([`IdentityKey`]: pools, watchers), and the account that keys what
//! every client of one mailbox store must share whatever credential it holds
//! ([`AccountKey`]: mailbox locks, Courier's flag serialisation).
//! The secret is exposed only to the login and to token sealing.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::types::Username;
use crate::sasl::AccessToken;

/// A fingerprint of (user name, kind of credential, secret): the key of a pool. A
/// refreshed access token is a new identity with pools of its own.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityKey([u8; 32]);

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IdentityKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// The account an identity logs in to: its user name on the gateway's one IMAP
/// server. Two clients of one user hold different credentials (two OAuth2 tokens, an
/// old and a new password) but change the same messages, so what serialises changes
/// is keyed by this, never by [`IdentityKey`].
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct AccountKey(String);

/// What proves the identity to the IMAP and SMTP servers.
#[derive(Clone)]
pub enum Credential {
    /// A password: LOGIN (AUTHENTICATE PLAIN when not ASCII), SMTP AUTH PLAIN/LOGIN.
    Password(SecretString),
    /// An OAuth2 access token: SASL OAUTHBEARER or XOAUTH2 on both servers.
    OAuth2 {
        /// The provider's access token.
        token: AccessToken,
        /// When the gateway stops using it (seconds since the epoch): the expiry of
        /// the gateway token that carries it, which never outlives the access token.
        /// Sessions it opened are closed then.
        expires_at: Option<u64>,
    },
}

impl Credential {
    /// The word naming the kind of credential (`password`, `oauth2`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Password(_) => "password",
            Self::OAuth2 { .. } => "oauth2",
        }
    }

    fn secret(&self) -> &str {
        match self {
            Self::Password(password) => password.expose_secret(),
            Self::OAuth2 { token, .. } => token.expose(),
        }
    }
}

/// Who the gateway logs in as: an IMAP user name and a credential.
#[derive(Clone)]
pub struct Identity {
    username: Username,
    credential: Credential,
    key: IdentityKey,
}

impl Identity {
    /// An identity proven by a password; the password is only ever exposed to LOGIN
    /// and token sealing.
    pub fn new(username: Username, password: SecretString) -> Self {
        Self::with_credential(username, Credential::Password(password))
    }

    /// An identity proven by an OAuth2 access token, used until `expires_at` (seconds
    /// since the epoch) at most.
    pub fn oauth2(username: Username, token: AccessToken, expires_at: Option<u64>) -> Self {
        Self::with_credential(username, Credential::OAuth2 { token, expires_at })
    }

    /// An identity from its parts.
    pub fn with_credential(username: Username, credential: Credential) -> Self {
        let mut hash = Sha256::new();
        match &credential {
            // Unchanged from before OAuth2, so the key of a password identity is stable.
            Credential::Password(_) => hash.update(b"imap-gateway identity v1\0"),
            Credential::OAuth2 { .. } => hash.update(b"imap-gateway oauth2 identity v1\0"),
        }
        hash.update(username.as_str().as_bytes());
        hash.update([0]);
        hash.update(credential.secret().as_bytes());
        let key = IdentityKey(hash.finalize().into());
        Self {
            username,
            credential,
            key,
        }
    }

    /// The IMAP user name.
    pub fn username(&self) -> &Username {
        &self.username
    }

    /// The credential (for the login and for sealing into a token; never log it).
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The secret as text, for sealing into a token only.
    pub fn sealed_secret(&self) -> &str {
        self.credential.secret()
    }

    /// When sessions of this identity must stop being used (seconds since the
    /// epoch): an OAuth2 identity's expiry; `None` for a password.
    pub fn expires_at(&self) -> Option<u64> {
        match &self.credential {
            Credential::Password(_) => None,
            Credential::OAuth2 { expires_at, .. } => *expires_at,
        }
    }

    /// How long the credential still works: `None` for one that does not expire (a
    /// password), zero once it has expired.
    pub fn time_left(&self) -> Option<Duration> {
        let expires_at = self.expires_at()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Some(Duration::from_secs(expires_at.saturating_sub(now)))
    }

    /// The pool key.
    pub fn key(&self) -> IdentityKey {
        self.key
    }

    /// The account, whatever the credential.
    pub fn account(&self) -> AccountKey {
        AccountKey(self.username.as_str().to_owned())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("username", &self.username)
            .field("credential", &self.credential.kind())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}
