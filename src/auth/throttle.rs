//! Failed-login throttling per user name and per client address, so the gateway
//! cannot be used to brute-force the IMAP server.
//!
//! Fixed one-minute windows in memory: each gateway instance throttles on its own
//! (no shared store, by design), which bounds guesses to `limit × instances` per minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Entries kept before expired ones are pruned.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Client(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Counts failed logins and refuses further attempts for the rest of the window.
#[derive(Debug)]
pub struct LoginThrottle {
    per_user: u32,
    per_client: u32,
    windows: Mutex<HashMap<Key, Window>>,
}

impl LoginThrottle {
    /// Allows `per_user` failures per user name and `per_client` per address per minute.
    pub fn new(per_user: u32, per_client: u32) -> Self {
        Self {
            per_user,
            per_client,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn keys(user: Option<&str>, client: Option<IpAddr>) -> impl Iterator<Item = Key> {
        user.map(|name| Key::User(name.to_lowercase()))
            .into_iter()
            .chain(client.map(Key::Client))
    }

    fn limit(&self, key: &Key) -> u32 {
        match key {
            Key::User(_) => self.per_user,
            Key::Client(_) => self.per_client,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Window>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a login may be attempted now.
    ///
    /// # Errors
    /// The time until the blocking window ends.
    pub fn check(&self, user: &str, client: Option<IpAddr>) -> Result<(), Duration> {
        self.check_keys(Some(user), client)
    }

    /// Whether a sign-in counted per client address only may be attempted now: an
    /// OAuth2 access token, which cannot be guessed, so failures with it never block
    /// the user name (a stranger sending bad tokens must not lock the user out).
    ///
    /// # Errors
    /// The time until the blocking window ends.
    pub fn check_client(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        self.check_keys(None, client)
    }

    fn check_keys(&self, user: Option<&str>, client: Option<IpAddr>) -> Result<(), Duration> {
        let windows = self.lock();
        let mut wait = Duration::ZERO;
        for key in Self::keys(user, client) {
            if let Some(window) = windows.get(&key) {
                let age = window.started.elapsed();
                if age < WINDOW && window.failures >= self.limit(&key) {
                    wait = wait.max(WINDOW - age);
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// Records a failed login.
    pub fn record_failure(&self, user: &str, client: Option<IpAddr>) {
        self.record_keys(Some(user), client);
    }

    /// Records a failed sign-in against the client address only (see
    /// [`LoginThrottle::check_client`]).
    pub fn record_client_failure(&self, client: Option<IpAddr>) {
        self.record_keys(None, client);
    }

    fn record_keys(&self, user: Option<&str>, client: Option<IpAddr>) {
        let mut windows = self.lock();
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, w| w.started.elapsed() < WINDOW);
        }
        for key in Self::keys(user, client) {
            let window = windows.entry(key).or_insert(Window {
                started: Instant::now(),
                failures: 0,
            });
            if window.started.elapsed() >= WINDOW {
                *window = Window {
                    started: Instant::now(),
                    failures: 0,
                };
            }
            window.failures += 1;
        }
    }

    /// Records a successful login: the user's count starts over (the address's does not,
    /// so one valid account cannot launder guesses against others).
    pub fn record_success(&self, user: &str) {
        self.lock().remove(&Key::User(user.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_per_user_and_per_client() {
        let throttle = LoginThrottle::new(2, 3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(throttle.check("alice", Some(ip)).is_ok());
        throttle.record_failure("alice", Some(ip));
        throttle.record_failure("Alice", Some(ip));
        let wait = throttle.check("alice", None).unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= WINDOW);
        // Another user from the same address still has one attempt left.
        assert!(throttle.check("bob", Some(ip)).is_ok());
        throttle.record_failure("bob", Some(ip));
        assert!(throttle.check("carol", Some(ip)).is_err());
        assert!(throttle.check("carol", None).is_ok());
        throttle.record_success("alice");
        assert!(throttle.check("alice", None).is_ok());
    }

    #[test]
    fn client_only_failures_never_block_the_user_name() {
        let throttle = LoginThrottle::new(1, 2);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        throttle.record_client_failure(Some(ip));
        assert!(throttle.check("alice", Some(other)).is_ok());
        assert!(throttle.check_client(Some(ip)).is_ok());
        throttle.record_client_failure(Some(ip));
        assert!(throttle.check_client(Some(ip)).is_err());
        assert!(throttle.check("alice", Some(ip)).is_err());
        assert!(throttle.check("alice", Some(other)).is_ok());
        // A user name blocked by password guesses does not block OAuth2 sign-in.
        throttle.record_failure("bob", Some(other));
        assert!(throttle.check("bob", None).is_err());
        assert!(throttle.check_client(Some(other)).is_ok());
    }
}
