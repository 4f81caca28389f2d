//! Mailbox watchers: one dedicated IDLE session per (identity, mailbox), shared by
//! every event stream of that identity on that mailbox, outside the request pools.
//!
//! A watcher only says *that* something changed (a counter on a `watch` channel,
//! so bursts coalesce); each subscriber then asks the changes engine what changed
//! since its own state, which keeps every stream exact without shared bookkeeping.
//! The watcher ticks once when its IDLE is in place, so a subscriber that computed
//! its starting point before then does not miss the gap.
//!
//! On servers without CONDSTORE/QRESYNC there is no changes engine to ask, so the
//! watcher itself keeps the mailbox's UID → flags map and, after every IDLE wake-up,
//! fetches all flags again and publishes the difference (created, flags changed,
//! deleted, or a reset when UIDVALIDITY changed) to its subscribers, each batch
//! numbered and carrying the position after it. Subscribers read the snapshot's
//! position first and skip batches it already includes. Servers without IDLE are
//! polled with NOOP every `poll_interval`.
//!
//! Invariants: a watcher lives exactly as long as its subscribers (the last drop
//! aborts the task, which closes the IMAP connection); watchers are bounded per
//! identity and globally; IDLE is re-issued every `idle_refresh` (below the 29
//! minutes after which servers may drop it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, watch, OwnedSemaphorePermit, Semaphore};

use super::connect::Backend;
use super::error::ImapError;
use super::identity::{Identity, IdentityKey};
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

/// One change a diffing watcher saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxChange {
    /// A new message.
    Created(u32),
    /// A message's flags are now these.
    FlagsChanged {
        /// The UID.
        uid: u32,
        /// The flags as the server spells them.
        flags: Vec<String>,
    },
    /// A message is gone.
    Deleted(u32),
    /// The mailbox's UIDVALIDITY changed (it was recreated): start over.
    Reset,
}

/// Where a diffing watcher's view of the mailbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchPosition {
    /// Batches published so far; a subscriber skips batches up to this number.
    pub version: u64,
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// Messages below this UID are known.
    pub uid_next: u32,
    /// Messages in the mailbox.
    pub messages: u32,
}

/// Changes found at one wake-up, and the position after them.
#[derive(Debug, Clone)]
pub struct ChangeBatch {
    /// What changed, in order.
    pub changes: Vec<MailboxChange>,
    /// The position after these changes (`version` numbers the batch).
    pub position: WatchPosition,
}

/// How many batches a slow subscriber may fall behind before it must start over.
const BATCHES_BUFFERED: usize = 256;

/// A running watcher.
struct Watcher {
    ticks: watch::Receiver<u64>,
    /// Diffing mode only: the latest position (`None` until the first snapshot, and
    /// always on servers with CONDSTORE).
    position: watch::Receiver<Option<WatchPosition>>,
    batches: broadcast::Sender<ChangeBatch>,
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
    batches: broadcast::Receiver<ChangeBatch>,
}

impl Subscription {
    /// On a server without CONDSTORE: waits (at most `timeout`) until the watcher has
    /// its first snapshot, and returns its position. Batches received from now on
    /// with a `version` above it are news.
    pub async fn snapshot_position(&self, timeout: Duration) -> Option<WatchPosition> {
        let mut position = self.watcher.position.clone();
        let ready = async { position.wait_for(Option::is_some).await.map(|found| *found) };
        tokio::time::timeout(timeout, ready).await.ok()?.ok()?
    }

    /// The next batch of changes (diffing watchers only). `Err(Lagged)` when this
    /// subscriber fell too far behind: it must start over from the current position.
    ///
    /// # Errors
    /// As [`broadcast::Receiver::try_recv`].
    pub fn next_batch(&mut self) -> Result<ChangeBatch, broadcast::error::TryRecvError> {
        self.batches.try_recv()
    }

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
            let batches = watcher.batches.subscribe();
            return Ok(Subscription {
                watcher,
                ticks,
                batches,
            });
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
        let (position_sender, position) = watch::channel(None);
        let (batch_sender, batches) = broadcast::channel(BATCHES_BUFFERED);
        let task = tokio::spawn(watch_loop(
            self.registry.backend.clone(),
            identity.clone(),
            mailbox.clone(),
            Outputs {
                ticks: sender,
                position: position_sender,
                batches: batch_sender.clone(),
            },
            self.registry.idle_refresh,
        ));
        let watcher = Arc::new(Watcher {
            ticks: ticks.clone(),
            position,
            batches: batch_sender,
            task: task.abort_handle(),
            _permit: permit,
        });
        watchers.insert(key, Arc::downgrade(&watcher));
        Ok(Subscription {
            watcher,
            ticks,
            batches,
        })
    }
}

/// Where a watcher publishes.
struct Outputs {
    ticks: watch::Sender<u64>,
    position: watch::Sender<Option<WatchPosition>>,
    batches: broadcast::Sender<ChangeBatch>,
}

/// How often a server without IDLE is polled.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Logs in, selects the mailbox and IDLEs forever (polls with NOOP on servers without
/// IDLE), ticking on every change; on servers without CONDSTORE also diffs and
/// publishes (see the module docs). After a failure it reconnects with backoff and
/// ticks again (changes may have happened).
async fn watch_loop(
    backend: Arc<Backend>,
    identity: Identity,
    mailbox: MailboxName,
    out: Outputs,
    idle_refresh: Duration,
) {
    let mut backoff = Duration::from_millis(250);
    let mut diff = Differ::default();
    loop {
        let result: Result<(), ImapError> = async {
            let mut session = backend.login(&identity).await?;
            session.ensure_selected(&mailbox, true).await?;
            let diffing = !session.tracks_changes();
            if diffing {
                diff.update(&mut session, &mailbox, &out).await?;
            }
            // In place: subscribers recompute, covering anything before this point.
            out.ticks.send_modify(|n| *n += 1);
            backoff = Duration::from_millis(250);
            let idle = session.capabilities().has("IDLE");
            loop {
                let changed = if idle {
                    session.idle(idle_refresh).await?
                } else {
                    tokio::time::sleep(POLL_INTERVAL).await;
                    session.check_alive().await?;
                    true
                };
                if changed {
                    if diffing {
                        diff.update(&mut session, &mailbox, &out).await?;
                    }
                    out.ticks.send_modify(|n| *n += 1);
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

/// The UID → flags map of a diffing watcher.
#[derive(Default)]
struct Differ {
    known: Option<(WatchPosition, HashMap<u32, Vec<String>>)>,
}

impl Differ {
    /// Fetches every message's flags, publishes what changed since the last call.
    async fn update(
        &mut self,
        session: &mut crate::imap::ImapSession,
        mailbox: &MailboxName,
        out: &Outputs,
    ) -> Result<(), ImapError> {
        let uid_validity = session
            .selected()
            .and_then(|s| s.uid_validity)
            .ok_or_else(|| ImapError::Protocol("SELECT without UIDVALIDITY".to_owned()))?;
        let now: HashMap<u32, Vec<String>> = session.all_flags().await?.into_iter().collect();
        let status_next = session.status(mailbox).await?.uid_next.unwrap_or(1);
        let max_next = now.keys().max().map_or(1, |uid| uid + 1);
        let (changes, version, uid_next) = match self.known.take() {
            None => (Vec::new(), 0, status_next.max(max_next)),
            Some((before, _)) if before.uid_validity != uid_validity => (
                vec![MailboxChange::Reset],
                before.version + 1,
                status_next.max(max_next),
            ),
            Some((before, old)) => {
                let changes = diff(&old, &now);
                let version = before.version + u64::from(!changes.is_empty());
                (changes, version, before.uid_next.max(max_next))
            }
        };
        let position = WatchPosition {
            version,
            uid_validity,
            uid_next,
            messages: u32::try_from(now.len()).unwrap_or(u32::MAX),
        };
        self.known = Some((position, now));
        if !changes.is_empty() {
            // Nobody listening is fine: subscribers come and go.
            let _ = out.batches.send(ChangeBatch { changes, position });
        }
        out.position.send_replace(Some(position));
        Ok(())
    }
}

/// What turns `before` into `now`: deletions, flag changes and creations, each in
/// UID order.
fn diff(before: &HashMap<u32, Vec<String>>, now: &HashMap<u32, Vec<String>>) -> Vec<MailboxChange> {
    let sorted = |map: &HashMap<u32, Vec<String>>| {
        let mut uids: Vec<u32> = map.keys().copied().collect();
        uids.sort_unstable();
        uids
    };
    let same = |a: &[String], b: &[String]| {
        let mut a: Vec<&String> = a.iter().collect();
        let mut b: Vec<&String> = b.iter().collect();
        a.sort();
        b.sort();
        a == b
    };
    let mut changes = Vec::new();
    for uid in sorted(before) {
        if !now.contains_key(&uid) {
            changes.push(MailboxChange::Deleted(uid));
        }
    }
    for uid in sorted(now) {
        match before.get(&uid) {
            None => changes.push(MailboxChange::Created(uid)),
            Some(old) if !same(old, &now[&uid]) => changes.push(MailboxChange::FlagsChanged {
                uid,
                flags: now[&uid].clone(),
            }),
            Some(_) => {}
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(u32, &[&str])]) -> HashMap<u32, Vec<String>> {
        entries
            .iter()
            .map(|(uid, flags)| (*uid, flags.iter().map(|f| (*f).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn diffs_deletions_flag_changes_and_creations() {
        let before = map(&[(1, &["\\Seen"]), (2, &[]), (3, &["$A", "\\Flagged"])]);
        let now = map(&[(2, &["\\Seen"]), (3, &["\\Flagged", "$A"]), (7, &[])]);
        assert_eq!(
            diff(&before, &now),
            vec![
                MailboxChange::Deleted(1),
                MailboxChange::FlagsChanged {
                    uid: 2,
                    flags: vec!["\\Seen".to_owned()]
                },
                MailboxChange::Created(7),
            ]
        );
        assert!(diff(&now, &now).is_empty(), "flag order does not matter");
    }
}
