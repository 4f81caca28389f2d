//! No double sends without a database: an `Idempotency-Key` becomes a Message-ID
//! that is the same for every retry of one user's request, and the Sent copy that
//! carries it is the record that the message went out (see [`super::sent`]). Two
//! retries that arrive at once on one instance are told apart here: the second waits
//! for nothing and gets a 409.

use std::collections::HashSet;
use std::sync::Mutex;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::error::MailError;
use crate::imap::ValidationError;

/// Longest `Idempotency-Key`, in bytes.
pub const MAX_KEY_BYTES: usize = 200;

/// A client's `Idempotency-Key`: 1 to [`MAX_KEY_BYTES`] visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Validates the header's value.
    ///
    /// # Errors
    /// 400 for an empty, long or non-ASCII key, or one with spaces or controls.
    pub fn new(value: &str) -> Result<Self, ValidationError> {
        let field = "Idempotency-Key";
        if value.is_empty() || value.len() > MAX_KEY_BYTES {
            return Err(ValidationError::new(
                field,
                format!("must be 1 to {MAX_KEY_BYTES} characters"),
            ));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                field,
                "may hold visible ASCII characters only (no spaces)",
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

/// Derives Message-IDs from idempotency keys and tracks the sends in progress.
pub struct SendLedger {
    /// HMAC key derived from the server secret: every instance with the same secret
    /// derives the same Message-ID, and nobody without it can predict one.
    key: [u8; 32],
    /// `(username, Message-ID)` of the sends running on this instance.
    in_flight: Mutex<HashSet<(String, String)>>,
}

impl SendLedger {
    /// A ledger whose Message-IDs are keyed with `key`.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            key,
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    /// The unique part (before `@`) of the Message-ID of `username`'s request with
    /// `key`: 32 hex digits of HMAC-SHA256(username, key).
    pub fn unique_part(&self, username: &str, key: &IdempotencyKey) -> String {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(username.as_bytes());
        mac.update(&[0]);
        mac.update(key.0.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Marks `username`'s send of `message_id` as running until the returned guard
    /// is dropped.
    ///
    /// # Errors
    /// 409 `send-in-progress` while the same send runs on this instance.
    pub fn claim(&self, username: &str, message_id: &str) -> Result<InFlight<'_>, MailError> {
        let entry = (username.to_owned(), message_id.to_owned());
        let mut running = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !running.insert(entry.clone()) {
            return Err(MailError::Conflict {
                detail: "the same message is being sent by an earlier request; retry once it \
                         has answered"
                    .to_owned(),
                slug: "send-in-progress",
            });
        }
        Ok(InFlight {
            ledger: self,
            entry,
        })
    }
}

impl std::fmt::Debug for SendLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("SendLedger").finish_non_exhaustive()
    }
}

/// A send in progress; removed from the ledger when dropped (also when the request
/// is cancelled).
pub struct InFlight<'a> {
    ledger: &'a SendLedger,
    entry: (String, String),
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.ledger
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_and_bounded() {
        assert!(IdempotencyKey::new("order-42/attempt:1").is_ok());
        for bad in ["", "a b", "a\tb", "ключ", &"k".repeat(MAX_KEY_BYTES + 1)] {
            assert!(IdempotencyKey::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn message_ids_are_stable_per_user_and_key() {
        let ledger = SendLedger::new([7; 32]);
        let key = IdempotencyKey::new("k1").unwrap();
        let once = ledger.unique_part("alice", &key);
        assert_eq!(once, ledger.unique_part("alice", &key));
        assert_eq!(once.len(), 32);
        assert_ne!(once, ledger.unique_part("bob", &key));
        assert_ne!(
            once,
            ledger.unique_part("alice", &IdempotencyKey::new("k2").unwrap())
        );
        assert_ne!(once, SendLedger::new([8; 32]).unique_part("alice", &key));
    }

    #[test]
    fn a_running_send_is_claimed_once() {
        let ledger = SendLedger::new([0; 32]);
        let first = ledger.claim("alice", "id@x").unwrap();
        assert!(ledger.claim("alice", "id@x").is_err());
        assert!(ledger.claim("bob", "id@x").is_ok());
        drop(first);
        assert!(ledger.claim("alice", "id@x").is_ok());
    }
}
