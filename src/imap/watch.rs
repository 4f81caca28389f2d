//! Mailbox watchers: one dedicated IDLE session per (identity, mailbox), shared by
//! every event stream of that identity on that mailbox, outside the request pools.
//!
//! A watcher only says *that* something changed (a counter on a `watch` channel,
//! so bursts coalesce); each subscriber then asks the changes engine what changed
//! since its own state, which keeps every stream exact without shared bookkeeping.
//! The watcher ticks once when its IDLE is in place, so a subscriber that computed
//! its starting point before then does not miss the gap.
//!
//! Invariants: a watcher lives exactly as long as its subscribers (the last drop
//! aborts the task, which closes the IMAP connection); watchers are bounded per
//! identity and globally; IDLE is re-issued every `idle_refresh` (below the 29
//! minutes after which servers may drop it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::connect::Backend;
use super::error::ImapError;
use super::pool::{Identity, IdentityKey};
use super::types::MailboxName;

/// Why a watch could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WatchLimit {
    /// This identity already watches as many mailboxes as allowed.
    #[error("too many watched mailboxes for this user")]
    PerIdentity,
    /// The gateway runs as many watchers as allowed.
    #[error("too many watched mailboxes on this gateway")]
    Global,
}

/// A running watcher.
struct Watcher {
    ticks: watch::Receiver<u64>,
    task: tokio::task::AbortHandle,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A subscriber's handle: changes arrive as ticks. Dropping the last one stops the
/// watcher.
pub struct Subscription {
    watcher: Arc<Watcher>,
    ticks: watch::Receiver<u64>,
}

impl Subscription {
    /// Waits for the next change notice.
    ///
    /// # Errors
    /// When the watcher ended (it never does while subscribed, short of a bug).
    pub async fn changed(&mut self) -> Result<(), watch::error::RecvError> {
        self.ticks.changed().await
    }

    /// Marks the current notice as seen.
    pub fn mark_seen(&mut self) {
        self.ticks.borrow_and_update();
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("subscribers", &Arc::strong_count(&self.watcher))
            .finish()
    }
}

type WatchKey = (IdentityKey, String);

struct Registry {
    backend: Arc<Backend>,
    watchers: Mutex<HashMap<WatchKey, Weak<Watcher>>>,
    per_identity: usize,
    global: Arc<Semaphore>,
    idle_refresh: Duration,
}

/// All watchers of the gateway.
#[derive(Clone)]
pub struct Watchers {
    registry: Arc<Registry>,
}

impl std::fmt::Debug for Watchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchers")
            .field("running", &self.running())
            .finish()
    }
}

impl Watchers {
    /// A registry allowing `per_identity` watched mailboxes per user and `global` in all.
    pub fn new(
        backend: Arc<Backend>,
        per_identity: usize,
        global: usize,
        idle_refresh: Duration,
    ) -> Self {
        Self {
            registry: Arc::new(Registry {
                backend,
                watchers: Mutex::new(HashMap::new()),
                per_identity,
                global: Arc::new(Semaphore::new(global)),
                idle_refresh,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<WatchKey, Weak<Watcher>>> {
        self.registry
            .watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Watchers currently running.
    pub fn running(&self) -> usize {
        self.lock()
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// Subscribes to changes of `mailbox` for `identity`, starting a watcher when
    /// none runs for that pair.
    ///
    /// # Errors
    /// [`WatchLimit`] when the bounds are reached.
    pub fn subscribe(
        &self,
        identity: &Identity,
        mailbox: &MailboxName,
    ) -> Result<Subscription, WatchLimit> {
        let key = (identity.key(), mailbox.wire().to_owned());
        let mut watchers = self.lock();
        watchers.retain(|_, w| w.strong_count() > 0);
        if let Some(watcher) = watchers.get(&key).and_then(Weak::upgrade) {
            let ticks = watcher.ticks.clone();
            return Ok(Subscription { watcher, ticks });
        }
        let mine = watchers
            .keys()
            .filter(|(owner, _)| *owner == identity.key())
            .count();
        if mine >= self.registry.per_identity {
            return Err(WatchLimit::PerIdentity);
        }
        let permit = self
            .registry
            .global
            .clone()
            .try_acquire_owned()
            .map_err(|_| WatchLimit::Global)?;
        let (sender, ticks) = watch::channel(0u64);
        let task = tokio::spawn(watch_loop(
            self.registry.backend.clone(),
            identity.clone(),
            mailbox.clone(),
            sender,
            self.registry.idle_refresh,
        ));
        let watcher = Arc::new(Watcher {
            ticks: ticks.clone(),
            task: task.abort_handle(),
            _permit: permit,
        });
        watchers.insert(key, Arc::downgrade(&watcher));
        Ok(Subscription { watcher, ticks })
    }
}

/// Logs in, selects the mailbox and IDLEs forever, ticking on every change; after
/// a failure it reconnects with backoff and ticks again (changes may have happened).
async fn watch_loop(
    backend: Arc<Backend>,
    identity: Identity,
    mailbox: MailboxName,
    ticks: watch::Sender<u64>,
    idle_refresh: Duration,
) {
    use secrecy::ExposeSecret as _;
    let mut backoff = Duration::from_millis(250);
    loop {
        let result: Result<(), ImapError> = async {
            let mut session = backend
                .login(identity.username(), identity.password().expose_secret())
                .await?;
            session.ensure_selected(&mailbox, true).await?;
            // In place: subscribers recompute, covering anything before this point.
            ticks.send_modify(|n| *n += 1);
            backoff = Duration::from_millis(250);
            loop {
                if session.idle(idle_refresh).await? {
                    ticks.send_modify(|n| *n += 1);
                }
            }
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "mailbox watcher lost its IMAP session; reconnecting");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
