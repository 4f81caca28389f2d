//! Who the gateway logs in as: an IMAP user name and password ([`Identity`]), and the
//! fingerprint that keys everything kept per identity ([`IdentityKey`]: pools,
//! watchers, mailbox locks). The password is exposed only to LOGIN.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::types::Username;

/// A fingerprint of (user name, password): the key of a pool.
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

/// Who the gateway logs in as: an IMAP user name and password.
#[derive(Clone)]
pub struct Identity {
    username: Username,
    password: SecretString,
    key: IdentityKey,
}

impl Identity {
    /// Builds an identity; the password is only ever exposed to LOGIN.
    pub fn new(username: Username, password: SecretString) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"imap-gateway identity v1\0");
        hash.update(username.as_str().as_bytes());
        hash.update([0]);
        hash.update(password.expose_secret().as_bytes());
        let key = IdentityKey(hash.finalize().into());
        Self {
            username,
            password,
            key,
        }
    }

    /// The IMAP user name.
    pub fn username(&self) -> &Username {
        &self.username
    }

    /// The password (for sealing into a token; never log it).
    pub fn password(&self) -> &SecretString {
        &self.password
    }

    /// The pool key.
    pub fn key(&self) -> IdentityKey {
        self.key
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("username", &self.username)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}
