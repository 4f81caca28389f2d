//! Session pools: one bounded deadpool pool per IMAP identity, under one global cap.
//!
//! Invariants:
//! - a pool belongs to exactly one [`Identity`] (user name + password fingerprint), so a
//!   session logged in as A is never handed to B, and a wrong password never reaches
//!   a pool of working sessions;
//! - every live session holds a permit of the global semaphore until its connection
//!   is closed; when it is exhausted, idle sessions of the least recently used other
//!   identities are logged out, and the request retries within a bounded wait, then
//!   fails with [`PoolFailure::GlobalLimit`];
//! - after the server refuses a login for a connection limit, logins of that identity
//!   are held back (`backoff.rs`) and requests wait for its existing sessions;
//! - a checked-out session that broke (timeout, BYE, I/O, cut-off command) is detached
//!   when its guard drops, never returned; recycling skips the NOOP for a session used
//!   moments ago (a NOOP costs a round trip on every request) and never sends CLOSE;
//! - the queue is LIFO, so a client's next request usually gets the session its
//!   last one used, with the same mailbox selected (deadpool cannot pick a session
//!   by what it has selected);
//! - pools idle longer than the idle TTL, and pools of OAuth2 identities whose
//!   credential has expired, are logged out and dropped by a background task;
//! - a credential is re-proven, never assumed from a warm pool: every login records
//!   when it was sent (the identity's *proof*); a checkout whose identity was last
//!   proven longer ago than the recheck interval (or before the instant the caller
//!   requires, for the token endpoint: now) first logs in afresh, and the new session
//!   takes the checked-out one's place. A refused credential drops the identity's
//!   whole pool, so a changed password stops working within the interval.

use std::collections::HashMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use deadpool::managed::{
    self, Metrics, Object, Pool, PoolError, QueueMode, RecycleError, RecycleResult, TimeoutType,
};
use deadpool::Runtime;

use tokio::sync::Semaphore;

use super::backoff::{LoginBackoff, LoginPermit};
use super::connect::Backend;
use super::error::{ImapError, PoolFailure};
use super::identity::{Identity, IdentityKey};
use super::mailbox_locks::MailboxLocks;
use super::session::ImapSession;

/// Pool sizes and timeouts.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Sessions per identity.
    pub per_identity: usize,
    /// Sessions across all identities.
    pub global: usize,
    /// How long a request waits for a session before 503.
    pub wait: Duration,
    /// Pools unused this long are logged out and dropped.
    pub idle_ttl: Duration,
    /// A session idle longer than this is checked with NOOP before reuse.
    pub check_after: Duration,
    /// Connect + login budget for a new session.
    pub create: Duration,
    /// A credential last proven by a login longer ago than this is proven again
    /// (a fresh login) before its pool serves another request.
    pub recheck: Duration,
}

/// When an identity's credential was last proven by a login the server accepted.
#[derive(Default)]
struct Proof {
    /// The instant the last accepted login was sent.
    at: Mutex<Option<Instant>>,
    /// Taken while re-proving, so concurrent checkouts log in once between them.
    proving: tokio::sync::Mutex<()>,
}

impl Proof {
    /// True when a login sent at or after `since` was accepted.
    fn covers(&self, since: Instant) -> bool {
        self.at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some_and(|at| at >= since)
    }

    fn record(&self, sent: Instant) {
        let mut at = self
            .at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *at = Some(at.map_or(sent, |known| known.max(sent)));
    }
}

/// deadpool manager for one identity.
struct SessionManager {
    backend: Arc<Backend>,
    identity: Identity,
    registry: Weak<Registry>,
    /// Holds logins back after the server refused one for a connection limit.
    backoff: LoginBackoff,
    proof: Proof,
}

impl SessionManager {
    /// Leave to log in now: refused while logins are held back. After `NO [LIMIT]`
    /// the server will refuse more sessions for a while: asking again on every
    /// request would turn one busy moment into a login storm.
    fn login_permit(&self) -> Result<LoginPermit<'_>, ImapError> {
        self.backoff.try_login().ok_or_else(|| {
            metrics::counter!("imap_logins_total", "outcome" => "held_back").increment(1);
            ImapError::Pool(PoolFailure::ServerLimit)
        })
    }

    /// Gives a logged-in session its place under the global cap and this account's
    /// flag locks.
    fn equip(
        &self,
        session: &mut ImapSession,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
        flag_locks: &Arc<MailboxLocks>,
    ) {
        if let Some(permit) = permit {
            session.attach_permit(permit);
        }
        session.attach_flag_locks(flag_locks.clone(), self.identity.account());
    }

    /// Logs in a new session for this identity (counted in metrics) and records the
    /// proof. The caller equips it ([`Self::equip`]).
    async fn login(&self, login_permit: LoginPermit<'_>) -> Result<ImapSession, ImapError> {
        let sent = Instant::now();
        let login = self.backend.login(&self.identity).await;
        let outcome = match &login {
            Ok(_) => "ok",
            Err(err) if err.is_auth_failure() => "rejected",
            Err(err) if err.is_server_limit() => "limited",
            Err(_) => "error",
        };
        metrics::counter!("imap_logins_total", "outcome" => outcome).increment(1);
        match login {
            Ok(session) => {
                login_permit.succeeded();
                self.proof.record(sent);
                Ok(session)
            }
            Err(err) if err.is_server_limit() => {
                login_permit.refused_for_limit();
                tracing::warn!(
                    user = %self.identity.username(),
                    "IMAP server refused another session (connection limit); holding back logins"
                );
                Err(ImapError::Pool(PoolFailure::ServerLimit))
            }
            Err(err) => Err(err),
        }
    }
}

impl managed::Manager for SessionManager {
    type Type = ImapSession;
    type Error = ImapError;

    async fn create(&self) -> Result<ImapSession, ImapError> {
        let registry = self
            .registry
            .upgrade()
            .ok_or(ImapError::Pool(PoolFailure::Closed))?;
        let login_permit = self.login_permit()?;
        let permit = registry.try_global_permit(self.identity.key())?;
        let mut session = self.login(login_permit).await?;
        self.equip(&mut session, Some(permit), &registry.flag_locks);
        tracing::debug!(user = %self.identity.username(), "IMAP session opened");
        Ok(session)
    }

    async fn recycle(&self, session: &mut ImapSession, _: &Metrics) -> RecycleResult<ImapError> {
        session.poll_idle_input();
        if session.is_broken() {
            return Err(RecycleError::message("session is broken"));
        }
        let check_after = self
            .registry
            .upgrade()
            .map_or(Duration::ZERO, |r| r.settings.check_after);
        session
            .begin_checkout(session.idle_for() >= check_after)
            .await
            .map_err(RecycleError::Backend)?;
        Ok(())
    }
}

/// How soon a request that found no free session (global cap, or logins held back)
/// tries again.
const RETRY_CHECKOUT_AFTER: Duration = Duration::from_millis(10);

/// Counts a request among those retrying for a global permit while it lives.
struct WaitingForPermit<'a>(&'a Registry);

impl<'a> WaitingForPermit<'a> {
    fn new(registry: &'a Registry) -> Self {
        registry.waiting_for_permit.fetch_add(1, Ordering::SeqCst);
        Self(registry)
    }
}

impl Drop for WaitingForPermit<'_> {
    fn drop(&mut self) {
        self.0.waiting_for_permit.fetch_sub(1, Ordering::SeqCst);
    }
}

struct PoolEntry {
    pool: Pool<SessionManager>,
    last_used: Instant,
}

struct Registry {
    backend: Arc<Backend>,
    settings: PoolSettings,
    pools: Mutex<HashMap<IdentityKey, PoolEntry>>,
    global: Arc<Semaphore>,
    /// Shed sessions whose LOGOUT is still under way (their permits come back then).
    logging_out: Arc<AtomicUsize>,
    /// Requests currently retrying for a global permit.
    waiting_for_permit: AtomicUsize,
    /// Set when the gateway shuts down: closed pools are then final.
    closing: AtomicBool,
    /// Flag changes serialised per user and mailbox on servers that need it.
    flag_locks: Arc<MailboxLocks>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IdentityKey, PoolEntry>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (every update is a single insert/remove), so poisoning is ignored.
        self.pools
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a global-cap permit if one is free, shedding idle sessions of other
    /// identities when none is. Never waits: the caller retries (see
    /// [`SessionPools::get`]), so a request waiting for the cap is not stuck inside
    /// deadpool's `create` while a session of its own identity comes back idle.
    fn try_global_permit(
        &self,
        requester: IdentityKey,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, ImapError> {
        if let Ok(permit) = self.global.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.global.is_closed() {
            return Err(ImapError::Pool(PoolFailure::Closed));
        }
        // Shed only while fewer sessions are logging out than requests wait for
        // their permits, so a crowd of waiters does not log out every idle session.
        let waiting = self.waiting_for_permit.load(Ordering::SeqCst).max(1);
        if self.logging_out.load(Ordering::SeqCst) < waiting {
            self.shed_idle_sessions(requester);
        }
        self.global
            .clone()
            .try_acquire_owned()
            .map_err(|_| ImapError::Pool(PoolFailure::GlobalLimit))
    }

    /// Logs out the idle sessions of the least recently used other identity that has
    /// any.
    fn shed_idle_sessions(&self, requester: IdentityKey) {
        let victims = {
            let pools = self.lock();
            let mut candidates: Vec<(&IdentityKey, &PoolEntry)> = pools
                .iter()
                .filter(|(key, entry)| **key != requester && entry.pool.status().size > 0)
                .collect();
            candidates.sort_by_key(|(_, entry)| entry.last_used);
            // `retain` only ever removes idle sessions; checked-out ones stay.
            candidates
                .iter()
                .map(|(_, entry)| entry.pool.retain(|_, _| false).removed)
                .find(|removed| !removed.is_empty())
                .unwrap_or_default()
        };
        self.logout_all(victims);
    }

    /// Logs sessions out in the background; each gives its global permit back once
    /// its connection is closed.
    fn logout_all(&self, sessions: Vec<ImapSession>) {
        for session in sessions {
            let logging_out = self.logging_out.clone();
            logging_out.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                session.logout().await;
                logging_out.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }
}

/// Counts for `/metrics` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Identities with a pool.
    pub pools: usize,
    /// Open sessions (idle + in use).
    pub sessions: usize,
    /// Sessions idle in pools.
    pub idle: usize,
}

/// All session pools of the gateway.
#[derive(Clone)]
pub struct SessionPools {
    registry: Arc<Registry>,
}

impl fmt::Debug for SessionPools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionPools")
            .field("stats", &self.stats())
            .finish()
    }
}

impl SessionPools {
    /// Creates an empty registry.
    pub fn new(backend: Arc<Backend>, settings: PoolSettings) -> Self {
        Self {
            registry: Arc::new(Registry {
                backend,
                global: Arc::new(Semaphore::new(settings.global)),
                settings,
                pools: Mutex::new(HashMap::new()),
                logging_out: Arc::new(AtomicUsize::new(0)),
                waiting_for_permit: AtomicUsize::new(0),
                closing: AtomicBool::new(false),
                flag_locks: Arc::new(MailboxLocks::default()),
            }),
        }
    }

    /// The backend these pools connect to.
    pub fn backend(&self) -> &Backend {
        &self.registry.backend
    }

    fn pool_for(&self, identity: &Identity) -> Pool<SessionManager> {
        let mut pools = self.registry.lock();
        let entry = pools.entry(identity.key()).or_insert_with(|| {
            let manager = SessionManager {
                backend: self.registry.backend.clone(),
                identity: identity.clone(),
                registry: Arc::downgrade(&self.registry),
                backoff: LoginBackoff::default(),
                proof: Proof::default(),
            };
            let settings = self.registry.settings;
            let pool = Pool::builder(manager)
                .max_size(settings.per_identity)
                .queue_mode(QueueMode::Lifo)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(settings.wait))
                .create_timeout(Some(settings.create))
                .recycle_timeout(Some(settings.create))
                .build()
                .expect("BUG: a runtime is set, so building a pool cannot fail");
            PoolEntry {
                pool,
                last_used: Instant::now(),
            }
        });
        entry.last_used = Instant::now();
        entry.pool.clone()
    }

    /// Checks out a session for `identity`, logging in when the pool has none idle,
    /// or afresh when the credential was last proven longer ago than the recheck
    /// interval.
    ///
    /// # Errors
    /// Login failures (`No { AuthenticationFailed }`), connection errors,
    /// [`PoolFailure::Busy`] or [`PoolFailure::GlobalLimit`] after the bounded wait.
    pub async fn get(&self, identity: &Identity) -> Result<PooledSession, ImapError> {
        let recheck = self.registry.settings.recheck;
        let since = Instant::now().checked_sub(recheck);
        self.checkout(identity, since).await
    }

    /// Like [`Self::get`], but the credential is proven by a login sent at or after
    /// `since` (the token endpoint passes the request's start: a token is issued
    /// only on the server's word now, never on a warm pool's).
    ///
    /// # Errors
    /// As [`Self::get`].
    pub async fn get_proven_since(
        &self,
        identity: &Identity,
        since: Instant,
    ) -> Result<PooledSession, ImapError> {
        self.checkout(identity, Some(since)).await
    }

    #[tracing::instrument(skip_all, fields(user = %identity.username()))]
    async fn checkout(
        &self,
        identity: &Identity,
        since: Option<Instant>,
    ) -> Result<PooledSession, ImapError> {
        let mut pool = self.pool_for(identity);
        let waiting = Instant::now();
        let mut checkout = pool.get().await;
        // Two waits happen here rather than inside deadpool's `create`, by retrying
        // `get` (which takes a session that came back idle meanwhile):
        // - the global cap is reached: idle sessions of other users are being shed
        //   and their permits come back as their LOGOUTs finish;
        // - logins are held back after `NO [LIMIT]`: the sessions the server did
        //   allow still serve, so wait for one of them rather than failing at once.
        // deadpool has no "returned" signal, so this polls, briefly, within the
        // same bound as any other wait for a session.
        let mut waiting_guard = None;
        loop {
            let retry = match &checkout {
                Err(PoolError::Backend(ImapError::Pool(PoolFailure::GlobalLimit))) => true,
                // The evictor dropped this identity's pool between our lookup and
                // checkout: try again with the identity's current pool (below).
                Err(PoolError::Closed) => !self.registry.closing.load(Ordering::SeqCst),
                Err(PoolError::Backend(ImapError::Pool(PoolFailure::ServerLimit))) => {
                    pool.status().size > 0
                }
                _ => false,
            };
            if !retry || waiting.elapsed() >= self.registry.settings.wait {
                break;
            }
            if matches!(
                checkout,
                Err(PoolError::Backend(ImapError::Pool(
                    PoolFailure::GlobalLimit
                )))
            ) {
                waiting_guard.get_or_insert_with(|| WaitingForPermit::new(&self.registry));
            }
            tokio::time::sleep(RETRY_CHECKOUT_AFTER).await;
            // Looking the pool up again marks it used, so the evictor does not drop
            // it while this request waits (a session created in a dropped pool could
            // not be returned to it and would be closed without LOGOUT).
            pool = self.pool_for(identity);
            checkout = pool.get().await;
        }
        drop(waiting_guard);
        metrics::histogram!("imap_pool_wait_seconds").record(waiting.elapsed().as_secs_f64());
        match checkout {
            Ok(object) => match since {
                Some(since) if !pool.manager().proof.covers(since) => {
                    self.prove_again(&pool, object, since).await
                }
                _ => Ok(PooledSession(Some(object))),
            },
            Err(PoolError::Backend(err)) => {
                if err.is_auth_failure() {
                    self.forget(identity.key());
                }
                Err(err)
            }
            Err(PoolError::Timeout(TimeoutType::Wait)) => Err(ImapError::Pool(PoolFailure::Busy)),
            Err(PoolError::Timeout(_)) => Err(ImapError::Timeout),
            Err(PoolError::Closed) => Err(ImapError::Pool(PoolFailure::Closed)),
            Err(other) => Err(ImapError::Protocol(format!("session pool: {other}"))),
        }
    }

    /// Proves `object`'s credential with a fresh login sent at or after `since`
    /// (unless a concurrent checkout just did) and hands out the new session in the
    /// old one's place; the old one is logged out. A refused credential drops the
    /// identity's pool.
    async fn prove_again(
        &self,
        pool: &Pool<SessionManager>,
        mut object: Object<SessionManager>,
        since: Instant,
    ) -> Result<PooledSession, ImapError> {
        let manager = pool.manager();
        let _turn = manager.proof.proving.lock().await;
        if manager.proof.covers(since) {
            return Ok(PooledSession(Some(object)));
        }
        let login = match manager.login_permit() {
            Ok(permit) => manager.login(permit).await,
            Err(err) => Err(err),
        };
        match login {
            Ok(mut fresh) => {
                metrics::counter!("imap_credential_rechecks_total", "outcome" => "ok").increment(1);
                manager.equip(&mut fresh, object.take_permit(), &self.registry.flag_locks);
                let old = std::mem::replace(&mut *object, fresh);
                tokio::spawn(old.logout());
                Ok(PooledSession(Some(object)))
            }
            Err(err) => {
                if err.is_auth_failure() {
                    metrics::counter!("imap_credential_rechecks_total", "outcome" => "rejected")
                        .increment(1);
                    tracing::info!(
                        user = %manager.identity.username(),
                        "IMAP server no longer accepts a pooled credential; its sessions are logged out"
                    );
                    drop(Object::take(object));
                    self.forget(manager.identity.key());
                }
                // Otherwise (unreachable, limit) the session goes back unproven: the
                // next checkout tries again.
                Err(err)
            }
        }
    }

    /// Drops the pool of an identity whose credential the server refused: its idle
    /// sessions are logged out, and sessions in use are closed when they come back
    /// (the pool is closed). Failed guesses thus leave no pools either.
    fn forget(&self, key: IdentityKey) {
        let Some(entry) = self.registry.lock().remove(&key) else {
            return;
        };
        self.registry
            .logout_all(entry.pool.retain(|_, _| false).removed);
        entry.pool.close();
    }

    /// Current counts.
    pub fn stats(&self) -> PoolStats {
        let pools = self.registry.lock();
        let mut stats = PoolStats {
            pools: pools.len(),
            ..PoolStats::default()
        };
        for entry in pools.values() {
            let status = entry.pool.status();
            stats.sessions += status.size;
            stats.idle += status.available;
        }
        stats
    }

    /// Logs out and drops pools with no session checked out that were unused for the
    /// idle TTL, or whose credential has expired (an OAuth2 identity past the expiry
    /// of the gateway token that carried it: nobody can use those sessions any more).
    pub fn evict_idle(&self) -> usize {
        let ttl = self.registry.settings.idle_ttl;
        let evicted: Vec<PoolEntry> = {
            let mut pools = self.registry.lock();
            let stale: Vec<IdentityKey> = pools
                .iter()
                .filter(|(_, e)| {
                    let expired = e
                        .pool
                        .manager()
                        .identity
                        .time_left()
                        .is_some_and(|left| left.is_zero());
                    (expired || e.last_used.elapsed() >= ttl)
                        && e.pool.status().size == e.pool.status().available
                })
                .map(|(key, _)| *key)
                .collect();
            stale.iter().filter_map(|key| pools.remove(key)).collect()
        };
        let count = evicted.len();
        for entry in evicted {
            self.registry
                .logout_all(entry.pool.retain(|_, _| false).removed);
            entry.pool.close();
        }
        count
    }

    /// Runs [`Self::evict_idle`] periodically until the registry is dropped.
    pub fn spawn_evictor(&self, every: Duration) {
        let weak = Arc::downgrade(&self.registry);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(registry) = weak.upgrade() else {
                    break;
                };
                let evicted = SessionPools { registry }.evict_idle();
                if evicted > 0 {
                    tracing::debug!(evicted, "idle session pools dropped");
                }
            }
        });
    }

    /// Shutdown: closes every pool and logs out idle sessions, within `budget`.
    pub async fn close(&self, budget: Duration) {
        self.registry.closing.store(true, Ordering::SeqCst);
        let entries: Vec<PoolEntry> = self.registry.lock().drain().map(|(_, e)| e).collect();
        let mut sessions = Vec::new();
        for entry in &entries {
            sessions.extend(entry.pool.retain(|_, _| false).removed);
            entry.pool.close();
        }
        let logouts = futures::future::join_all(sessions.into_iter().map(ImapSession::logout));
        let _ = tokio::time::timeout(budget, logouts).await;
        self.registry.global.close();
    }
}

/// A checked-out session. Derefs to [`ImapSession`]; a broken session is detached
/// from its pool on drop instead of being returned.
pub struct PooledSession(Option<Object<SessionManager>>);

impl Deref for PooledSession {
    type Target = ImapSession;

    fn deref(&self) -> &ImapSession {
        self.0.as_ref().expect("BUG: session used after drop")
    }
}

impl DerefMut for PooledSession {
    fn deref_mut(&mut self) -> &mut ImapSession {
        self.0.as_mut().expect("BUG: session used after drop")
    }
}

impl Drop for PooledSession {
    fn drop(&mut self) {
        let Some(object) = self.0.take() else {
            return;
        };
        if !object.is_broken() {
            return;
        }
        if object.can_finish_cancelled() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                // The request went away while its command's answer was being read
                // (the client disconnected): read the answer to its end in the
                // background and give the session back, rather than discard it and
                // make the next request log in again.
                runtime.spawn(async move {
                    let mut object = object;
                    let outcome = if object.finish_cancelled().await {
                        "recovered"
                    } else {
                        drop(Object::take(object));
                        "discarded"
                    };
                    metrics::counter!("imap_cancelled_commands_total", "outcome" => outcome)
                        .increment(1);
                });
                return;
            }
        }
        // Detach: the connection closes and its global permit is released now,
        // rather than when the next checkout fails to recycle it.
        drop(Object::take(object));
    }
}
