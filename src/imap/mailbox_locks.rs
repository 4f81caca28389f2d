//! Per (account, mailbox) locks inside one gateway. Two uses:
//!
//! **Removals** (held by the HTTP layer): moves and deletions of the same user's
//! messages in one mailbox are serialised. Why: the pool gives one user several IMAP sessions, and Dovecot's MOVE (copy,
//! then expunge) is not atomic across sessions: two sessions moving the same
//! message at once both copy it, and it ends up in two mailboxes (seen in
//! `tests/data_safety.rs`: a message in Archive and Trash). Serialised, the second
//! request runs after the first finished; its own UID check then finds the message
//! gone and it answers 404. Copies, reads and flag changes are not serialised.
//! Across several gateway instances, or against other IMAP clients, the server's own
//! semantics apply. Keyed by account, not credential: two clients of one user
//! signed in with different tokens (or an old and a new password) change the same
//! messages.
//!
//! **Flag changes on servers that report changes late** (held by the session, see
//! `profile.rs`): Courier computes `STORE +FLAGS` from the session's stale copy of a
//! message's flags, so two sessions adding keywords at once lose one. Serialised, with
//! a NOOP first, each STORE starts from the current flags.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::identity::AccountKey;
use super::types::MailboxName;

/// (account, mailbox wire name).
type LockKey = (AccountKey, String);

/// Locks keyed by [`LockKey`]; entries die with their last guard.
#[derive(Debug, Default)]
pub struct MailboxLocks {
    locks: Mutex<HashMap<LockKey, Weak<AsyncMutex<()>>>>,
}

impl MailboxLocks {
    /// Waits for the right to change messages of `mailbox` in `account`.
    pub async fn acquire(&self, account: AccountKey, mailbox: &MailboxName) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // Forget locks nobody holds any more, so the map stays small.
            if locks.len() > 1024 {
                locks.retain(|_, weak| weak.strong_count() > 0);
            }
            let key = (account, mailbox.wire().to_owned());
            match locks.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(AsyncMutex::new(()));
                    locks.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::{Identity, Username};
    use secrecy::SecretString;

    fn key(user: &str) -> AccountKey {
        key_with(user, "pw")
    }

    fn key_with(user: &str, password: &str) -> AccountKey {
        Identity::new(
            Username::try_from(user).unwrap(),
            SecretString::from(password.to_owned()),
        )
        .account()
    }

    #[tokio::test]
    async fn one_holder_per_account_and_mailbox() {
        let locks = MailboxLocks::default();
        let inbox = MailboxName::try_from("INBOX").unwrap();
        let archive = MailboxName::try_from("Archive").unwrap();
        let held = locks.acquire(key("a"), &inbox).await;
        // Another mailbox, or another user, is not blocked.
        drop(locks.acquire(key("a"), &archive).await);
        drop(locks.acquire(key("b"), &inbox).await);
        let waiting = locks.acquire(key("a"), &inbox);
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        // The same user with another credential is the same account.
        let other_credential = locks.acquire(key_with("a", "new-pw"), &inbox);
        tokio::pin!(other_credential);
        assert!(futures::poll!(other_credential.as_mut()).is_pending());
        drop(held);
        drop(waiting.await);
        drop(other_credential.await);
    }
}
