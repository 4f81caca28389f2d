//! Holding back logins of one identity after the IMAP server refused a session for a
//! connection limit (`NO [LIMIT]`, `[INUSE]`, `[UNAVAILABLE]`).
//!
//! Without this, every request that finds no idle session would log in again and be
//! refused again: a retry storm against a server that is already at its limit. After
//! a refusal no login is attempted for [`SERVER_LIMIT_BACKOFF`]; after that, one probe
//! at a time is let through until one succeeds.

use std::sync::Mutex;
use std::time::Instant;

use super::error::SERVER_LIMIT_BACKOFF;

#[derive(Debug, Default)]
struct State {
    /// Set after a refusal; cleared by a successful login.
    until: Option<Instant>,
    /// A probe login is in flight (only one at a time once the wait is over).
    probing: bool,
}

/// Per-identity login back-off.
#[derive(Debug, Default)]
pub struct LoginBackoff {
    state: Mutex<State>,
}

/// Permission to log in. Report the outcome with [`LoginPermit::succeeded`] or
/// [`LoginPermit::refused_for_limit`]; dropping it otherwise (another error, or the
/// login was cancelled) just ends the probe.
#[must_use]
pub struct LoginPermit<'a> {
    backoff: &'a LoginBackoff,
    probe: bool,
}

impl LoginBackoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Holds plain values only, so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks to log in now. `None` while logins are held back.
    pub fn try_login(&self) -> Option<LoginPermit<'_>> {
        let mut state = self.lock();
        let Some(until) = state.until else {
            return Some(LoginPermit {
                backoff: self,
                probe: false,
            });
        };
        if Instant::now() < until || state.probing {
            return None;
        }
        state.probing = true;
        Some(LoginPermit {
            backoff: self,
            probe: true,
        })
    }

    /// True while logins are held back (the server's limit was reached recently).
    pub fn is_limited(&self) -> bool {
        self.lock().until.is_some()
    }
}

impl LoginPermit<'_> {
    /// The login worked: the server has room again.
    pub fn succeeded(self) {
        let mut state = self.backoff.lock();
        state.until = None;
    }

    /// The server refused the login for a limit: hold back for the back-off period.
    pub fn refused_for_limit(self) {
        let mut state = self.backoff.lock();
        state.until = Some(Instant::now() + SERVER_LIMIT_BACKOFF);
    }
}

impl Drop for LoginPermit<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.backoff.lock().probing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_holds_logins_back_then_lets_one_probe_through() {
        let backoff = LoginBackoff::default();
        let first = backoff.try_login().expect("no limit yet");
        let second = backoff.try_login().expect("logins run concurrently");
        first.refused_for_limit();
        drop(second);
        assert!(backoff.try_login().is_none(), "held back after a refusal");
        assert!(backoff.is_limited());

        // Once the wait is over, exactly one probe at a time.
        backoff.lock().until = Some(Instant::now());
        let probe = backoff.try_login().expect("the wait is over");
        assert!(backoff.try_login().is_none(), "one probe at a time");
        drop(probe);
        let probe = backoff
            .try_login()
            .expect("a cancelled probe frees the slot");
        probe.succeeded();
        assert!(!backoff.is_limited());
        assert!(backoff.try_login().is_some());
    }
}
