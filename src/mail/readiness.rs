//! Readiness: whether the IMAP server (and the SMTP server, when sending is set up)
//! answers, as `GET /readyz` reports it.
//!
//! The route is anonymous, so what it costs the mail servers must not depend on how
//! often it is called: one probe (a connection and its greeting) runs at a time, and
//! its outcome, good or bad, is the answer for [`Readiness`]'s interval. Callers
//! arriving while a probe runs wait for it rather than start their own. So a flood
//! of anonymous requests costs the IMAP server at most one connection per interval.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::imap::Backend;
use crate::smtp::SmtpBackend;

/// Why the gateway is not ready: which server, and a short label of what failed
/// (never server text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// `IMAP` or `SMTP`.
    pub server: &'static str,
    /// What failed (`timeout`, `io`, `tls`, ...).
    pub reason: String,
    /// When a new probe will be made.
    pub retry_after: Duration,
}

/// The last probe's outcome, shared by every caller for one interval.
#[derive(Debug)]
pub struct Readiness {
    interval: Duration,
    last: Mutex<Option<(Instant, Result<(), NotReady>)>>,
}

impl Readiness {
    /// Probes at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
        }
    }

    /// The outcome of the last probe when it is younger than the interval; otherwise
    /// of a new one.
    ///
    /// # Errors
    /// [`NotReady`] when a server did not answer its probe.
    pub async fn check(&self, imap: &Backend, smtp: Option<&SmtpBackend>) -> Result<(), NotReady> {
        let mut last = self.last.lock().await;
        if let Some((at, outcome)) = last.as_ref() {
            let age = at.elapsed();
            if age < self.interval {
                return outcome.clone().map_err(|mut not_ready| {
                    not_ready.retry_after = self.interval - age;
                    not_ready
                });
            }
        }
        let outcome = probe(imap, smtp, self.interval).await;
        *last = Some((Instant::now(), outcome.clone()));
        outcome
    }
}

async fn probe(
    imap: &Backend,
    smtp: Option<&SmtpBackend>,
    retry_after: Duration,
) -> Result<(), NotReady> {
    imap.probe().await.map_err(|err| NotReady {
        server: "IMAP",
        reason: err.outcome_label().to_owned(),
        retry_after,
    })?;
    if let Some(smtp) = smtp {
        smtp.probe().await.map_err(|err| NotReady {
            server: "SMTP",
            reason: err.outcome_label().to_owned(),
            retry_after,
        })?;
    }
    Ok(())
}
