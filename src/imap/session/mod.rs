//! [`ImapSession`]: one authenticated IMAP connection and the typed operations on it.
//!
//! Commands go out through `command/` and come back through the response loops of
//! `exchange.rs`, so response codes, untagged data and BYE are seen directly instead
//! of through async-imap's flattened strings and lossy channel. This file holds the
//! session itself (start, command execution, checkout, selection, IDLE, logout);
//! `mailboxes.rs` and `messages.rs` hold the typed operations.
//!
//! Invariants:
//! - every command runs under a timeout; on a timeout, I/O error, BYE or protocol
//!   error the session marks itself broken and the pool discards it;
//! - a command that was started but never completed (the request future was dropped)
//!   leaves `in_flight` set: when it was cut off while its answer was being read,
//!   the pool reads the answer to its end in the background and keeps the session
//!   ([`ImapSession::finish_cancelled`]); otherwise the session is discarded;
//! - the selected mailbox is remembered, so repeated requests on one mailbox do not
//!   SELECT again; CLOSE is never sent (it would expunge `\Deleted` messages).

mod mailboxes;
mod messages;
mod view;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_imap::imap_proto::{Capability, MailboxDatum, RequestId, Response, ResponseCode, Status};
use tokio::sync::OwnedSemaphorePermit;

use super::command::{self, Command, ListPattern, ListReturn, StatusItem};
use super::error::ImapError;
use super::exchange::{finish_command, idle_round, raw_round_trip, round_trip};
use super::identity::AccountKey;
use super::mailbox_locks::MailboxLocks;
use super::profile::{Naming, ServerKind, ServerProfile};
use super::types::{MailboxName, ServerMailbox};
use super::ImapStream;

pub use super::completion::Completion;
pub use super::fetched::{fetched_from_wire, FetchedMessage, SectionKind};
pub use super::listing::{MailboxCounters, MailboxInfo, SpecialUse};
pub use super::profile::Capabilities;
use view::observe_view;
pub use view::SelectedMailbox;

/// An authenticated IMAP session.
pub struct ImapSession {
    inner: async_imap::Session<ImapStream>,
    profile: ServerProfile,
    selected: Option<SelectedMailbox>,
    /// True once this checkout has brought the selected mailbox up to date (a NOOP or
    /// a SELECT since the session left the pool); see [`Self::begin_checkout`].
    view_is_current: bool,
    /// Serialises flag changes per mailbox on servers that report changes late.
    flag_locks: Option<(Arc<MailboxLocks>, AccountKey)>,
    broken: bool,
    in_flight: bool,
    /// The tag of the command whose answer is being read; left set when the request
    /// went away mid-answer, so the answer can be read to its end and the session
    /// kept ([`Self::finish_cancelled`]).
    awaiting: Option<RequestId>,
    last_ok: Instant,
    command_timeout: Duration,
    qresync: bool,
    /// Held for the life of the session: the global session cap (see `pool.rs`).
    permit: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for ImapSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSession")
            .field("selected", &self.selected)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl ImapSession {
    /// Wraps a freshly logged-in session and learns what it needs about the server:
    /// capabilities, the personal namespace, and which server it is (`greeting`).
    /// `identified`: the IMAP ID was sent before LOGIN already.
    pub(crate) async fn start(
        inner: async_imap::Session<ImapStream>,
        greeting: &str,
        identified: bool,
        command_timeout: Duration,
    ) -> Result<Self, ImapError> {
        let mut session = Self {
            inner,
            profile: ServerProfile {
                kind: Some(ServerKind::from_greeting(greeting)),
                ..ServerProfile::default()
            },
            selected: None,
            view_is_current: false,
            flag_locks: None,
            broken: false,
            in_flight: false,
            awaiting: None,
            last_ok: Instant::now(),
            command_timeout,
            qresync: false,
            permit: None,
        };
        // Servers may advertise more after login than before (RFC 3501 section 6.2.2),
        // so always ask once the session is authenticated.
        let mut caps = HashSet::new();
        session
            .execute_with(Command::Capability, |response| {
                if let Response::Capabilities(list) = response {
                    for cap in list {
                        let text = match cap {
                            Capability::Imap4rev1 => "IMAP4REV1".to_owned(),
                            Capability::Auth(m) => format!("AUTH={m}"),
                            Capability::Atom(a) => a.to_string(),
                        };
                        caps.insert(text);
                    }
                }
            })
            .await?;
        session.profile.capabilities = Capabilities::new(caps);
        if !identified && session.profile.capabilities.has("ID") {
            // Tells the server's logs who this client is (RFC 2971); the answer is
            // not needed. A refusal is no reason to give up the session.
            if let Err(err) = session.execute(Command::Id).await {
                if err.breaks_session() {
                    return Err(err);
                }
            }
        }
        let kind = session.profile.kind.unwrap_or(ServerKind::Other);
        session.profile.naming = session.discover_naming().await?.for_server(kind);
        if session.tracks_changes() {
            // QRESYNC from the start: expunges come as VANISHED with a HIGHESTMODSEQ on
            // the completion, so the session's view carries an exact state for the
            // mailbox's state token without a STATUS per request (`mail/list.rs`).
            session.execute(Command::EnableQresync).await?;
            session.qresync = true;
        }
        Ok(session)
    }

    /// The personal namespace from NAMESPACE, or, on servers without it, no prefix and
    /// the separator `LIST "" ""` reports.
    async fn discover_naming(&mut self) -> Result<Naming, ImapError> {
        if self.profile.capabilities.has("NAMESPACE") {
            self.in_flight = true;
            let exchange = command::namespace_exchange(&mut self.inner);
            let answer = tokio::time::timeout(self.command_timeout, exchange)
                .await
                .unwrap_or(Err(ImapError::Timeout));
            if answer.is_err() {
                self.broken = true;
            }
            self.in_flight = false;
            if let Some(found) = answer?.as_deref().and_then(super::namespace::parse) {
                if let Some(personal) = found.personal.first() {
                    let naming = Naming::new(&personal.prefix, personal.delimiter);
                    self.profile.namespaces = found;
                    return Ok(naming);
                }
            }
        }
        let mut delimiter = None;
        self.execute_with(
            Command::List(ListPattern::Separator, ListReturn::default()),
            |response| {
                if let Response::MailboxData(MailboxDatum::List(data)) = response {
                    delimiter = data.delimiter.as_deref().and_then(|d| d.chars().next());
                }
            },
        )
        .await?;
        Ok(Naming::new("", delimiter))
    }

    pub(crate) fn attach_permit(&mut self, permit: OwnedSemaphorePermit) {
        self.permit = Some(permit);
    }

    /// Gives up the session's place under the global cap (to the session replacing it).
    pub(crate) fn take_permit(&mut self) -> Option<OwnedSemaphorePermit> {
        self.permit.take()
    }

    pub(crate) fn attach_flag_locks(&mut self, locks: Arc<MailboxLocks>, account: AccountKey) {
        self.flag_locks = Some((locks, account));
    }

    /// What the server advertised.
    pub fn capabilities(&self) -> &Capabilities {
        &self.profile.capabilities
    }

    /// Everything known about the server.
    pub fn profile(&self) -> &ServerProfile {
        &self.profile
    }

    /// The server's name for an API mailbox name.
    ///
    /// # Errors
    /// [`ImapError::NotRepresentable`] for a name this server cannot hold.
    pub fn server_name(&self, name: &MailboxName) -> Result<ServerMailbox, ImapError> {
        self.profile.naming.to_server(name)
    }

    /// Called when the pool hands the session out for a new request, so the request
    /// sees its mailbox as of its own start. On servers that report other sessions'
    /// changes only at NOOP, a session with a selected mailbox checks it is still the
    /// same mailbox (STATUS) and sends NOOP; on the others nothing is sent until a
    /// command finds the view wanting (`may_be_stale`). Sends NOOP when `check_alive`
    /// is true.
    ///
    /// # Errors
    /// Anything but a tagged OK for the NOOP.
    pub async fn begin_checkout(&mut self, check_alive: bool) -> Result<(), ImapError> {
        self.view_is_current = false;
        let late = self.profile.reports_changes_only_at_noop();
        if let Some(selected) = self.selected.clone().filter(|_| late) {
            // NOOP brings new mail, expunges and flags; it does not notice that the
            // mailbox was deleted or recreated meanwhile (Courier goes on answering
            // FETCH from a deleted folder). STATUS does: then the selection is
            // dropped, and the request SELECTs again (and gets a 404 when it is gone).
            // Re-selecting on every checkout instead made concurrent read-write
            // SELECTs contend for Courier's folder lock for seconds.
            let server = self.server_name(&selected.name)?;
            match self.status_of(&server).await {
                Ok(now) if now.uid_validity == selected.uid_validity => {
                    self.execute(Command::Noop).await?;
                    self.view_is_current = true;
                    return Ok(());
                }
                Ok(_) | Err(ImapError::No { .. }) => self.selected = None,
                Err(err) => return Err(err),
            }
        }
        if check_alive {
            self.execute(Command::Noop).await?;
        }
        Ok(())
    }

    /// The mailbox this session has selected, if any.
    pub fn selected(&self) -> Option<&SelectedMailbox> {
        self.selected.as_ref()
    }

    /// True when the session must not be reused: it failed, or a command was cut off.
    pub fn is_broken(&self) -> bool {
        self.broken || self.in_flight
    }

    /// True when a command was cut off while its answer was being read (the request
    /// went away), and nothing else is wrong: reading the rest of the answer
    /// ([`Self::finish_cancelled`]) puts the session back in step. A command cut
    /// off while being sent, or IDLE, leaves the session in an unknown state.
    pub fn can_finish_cancelled(&self) -> bool {
        self.in_flight && !self.broken && self.awaiting.is_some()
    }

    /// Reads the rest of the answer to a command whose request went away, within
    /// the command timeout (at most 10 s); returns whether the session is usable
    /// again. Its view of the selected mailbox follows what the answer reported.
    pub async fn finish_cancelled(&mut self) -> bool {
        let Some(tag) = self
            .awaiting
            .take()
            .filter(|_| self.in_flight && !self.broken)
        else {
            return false;
        };
        let budget = self.command_timeout.min(Duration::from_secs(10));
        let selected = &mut self.selected;
        let finished = tokio::time::timeout(
            budget,
            finish_command(&mut self.inner, &tag, |response| {
                observe_view(selected, response);
            }),
        )
        .await;
        if matches!(finished, Ok(Ok(()))) {
            self.in_flight = false;
            self.last_ok = Instant::now();
            true
        } else {
            self.broken = true;
            false
        }
    }

    /// Time since the last command that completed.
    pub fn idle_for(&self) -> Duration {
        self.last_ok.elapsed()
    }

    /// Sends one command and reads up to its tagged completion, showing every untagged
    /// response to `on_untagged` as it arrives. (async-imap's response type cannot be
    /// named outside that crate and imap-proto's `Response` is not `Clone`, so callers
    /// look at responses in place rather than receive a list.)
    pub(crate) async fn execute_with(
        &mut self,
        command: Command<'_>,
        mut on_untagged: impl FnMut(&Response<'_>) + Send,
    ) -> Result<Completion, ImapError> {
        if self.is_broken() {
            return Err(ImapError::ConnectionLost);
        }
        self.in_flight = true;
        let started = Instant::now();
        let literal_plus = self.profile.capabilities.has("LITERAL+");
        let selected = &mut self.selected;
        let observe = |response: &Response<'_>| {
            observe_view(selected, response);
            on_untagged(response);
        };
        let exchange = round_trip(
            &mut self.inner,
            &command,
            literal_plus,
            &mut self.awaiting,
            observe,
        );
        let result = tokio::time::timeout(self.command_timeout, exchange)
            .await
            .unwrap_or(Err(ImapError::Timeout));
        record_command(&command, started, result.as_ref().err());
        if let (Ok(completion), Some(selected)) = (&result, self.selected.as_mut()) {
            if completion.highest_modseq.is_some() {
                selected.highest_modseq = selected.highest_modseq.max(completion.highest_modseq);
            }
        }
        match &result {
            Err(err) if err.breaks_session() => self.broken = true,
            Err(ImapError::Bad { .. }) => {
                tracing::error!(
                    command = command.name(),
                    "IMAP server rejected our syntax (BAD)"
                );
                self.last_ok = Instant::now();
            }
            _ => self.last_ok = Instant::now(),
        }
        self.in_flight = false;
        result
    }

    /// Sends a command whose answer async-imap cannot parse (`UID THREAD`, `ESEARCH`)
    /// and reads
    /// it raw (see `exchange::raw_round_trip`): returns the data of the `* {keyword}`
    /// lines; other untagged responses update the view as usual.
    pub(crate) async fn execute_raw(
        &mut self,
        command: Command<'_>,
        keyword: &str,
    ) -> Result<Vec<String>, ImapError> {
        if self.is_broken() {
            return Err(ImapError::ConnectionLost);
        }
        self.in_flight = true;
        let started = Instant::now();
        let literal_plus = self.profile.capabilities.has("LITERAL+");
        let selected = &mut self.selected;
        let observe = |response: &Response<'_>| observe_view(selected, response);
        let exchange = raw_round_trip(
            &mut self.inner,
            &command,
            literal_plus,
            keyword,
            &mut self.awaiting,
            observe,
        );
        let result = tokio::time::timeout(self.command_timeout, exchange)
            .await
            .unwrap_or(Err(ImapError::Timeout));
        record_command(&command, started, result.as_ref().err());
        match &result {
            // Anything unexpected read raw leaves the stream in an unknown place.
            Err(err) if err.breaks_session() || matches!(err, ImapError::Bad { .. }) => {
                self.broken = true;
            }
            _ => self.last_ok = Instant::now(),
        }
        self.in_flight = false;
        result.map(|(lines, _completion)| lines)
    }

    /// Sends one command whose untagged responses do not matter.
    pub(crate) async fn execute(&mut self, command: Command<'_>) -> Result<Completion, ImapError> {
        self.execute_with(command, |_| {}).await
    }

    /// Checks the session with a tagged NOOP: the only reliable liveness test, since
    /// a session whose parser lost track keeps answering `Ok` to untagged reads.
    ///
    /// # Errors
    /// Anything but a tagged OK.
    pub async fn check_alive(&mut self) -> Result<(), ImapError> {
        self.execute(Command::Noop).await.map(drop)
    }

    /// Waits in IDLE (RFC 2177) until the server reports a change to the selected
    /// mailbox (EXISTS, EXPUNGE, VANISHED, FETCH) or `max` passes, then ends the IDLE.
    /// Returns whether something changed. Callers re-issue IDLE well before servers
    /// drop it (RFC 2177: 29 minutes at the latest).
    ///
    /// # Errors
    /// Connection errors or a refused IDLE; the session is then broken.
    pub async fn idle(&mut self, max: Duration) -> Result<bool, ImapError> {
        if self.is_broken() {
            return Err(ImapError::ConnectionLost);
        }
        self.in_flight = true;
        let result = idle_round(&mut self.inner, max, self.command_timeout).await;
        match &result {
            Ok(_) => {
                self.in_flight = false;
                self.last_ok = Instant::now();
            }
            Err(_) => self.broken = true,
        }
        result
    }

    /// Reads, without waiting, whatever the server sent while the session sat idle in
    /// the pool. A `BYE` (e.g. the server's idle timeout or `doveadm kick`), EOF or an
    /// unparsable response marks the session broken, so the pool replaces it before a
    /// request fails on it. Costs no round trip.
    pub fn poll_idle_input(&mut self) {
        use futures::FutureExt as _;
        while !self.broken {
            match self.inner.read_response().now_or_never() {
                None => break,
                Some(Ok(Some(response))) => {
                    if let Response::Data {
                        status: Status::Bye,
                        ..
                    } = response.parsed()
                    {
                        self.broken = true;
                    }
                }
                Some(Ok(None) | Err(_)) => self.broken = true,
            }
        }
    }

    /// Sends LOGOUT and closes the connection (best effort; BYE is expected). The
    /// global-cap permit is given back only once the server has closed its end (or
    /// the command timeout passed), so the server never sees more connections than
    /// the cap while a shed session is logging out.
    pub async fn logout(mut self) {
        let permit = self.permit.take();
        if !matches!(self.execute(Command::Logout).await, Err(ImapError::Timeout)) {
            let deadline = tokio::time::Instant::now() + self.command_timeout;
            while let Ok(Ok(Some(_))) =
                tokio::time::timeout_at(deadline, self.inner.read_response()).await
            {}
        }
        drop(self);
        drop(permit);
    }

    /// Selects `name` unless it already is, reusing a read-write selection for reads.
    ///
    /// # Errors
    /// `No { NonExistent }` and friends from the server.
    pub async fn ensure_selected(
        &mut self,
        name: &MailboxName,
        read_only: bool,
    ) -> Result<&SelectedMailbox, ImapError> {
        let reusable = self
            .selected
            .as_ref()
            .is_some_and(|s| &s.name == name && (read_only || !s.read_only));
        if !reusable {
            self.selected = None;
            let server = self.server_name(name)?;
            let command = if read_only {
                Command::Examine(&server)
            } else {
                Command::Select(&server)
            };
            let mut retried = false;
            let (mut selected, result) = loop {
                let mut selected = SelectedMailbox {
                    name: name.clone(),
                    read_only,
                    uid_validity: None,
                    exists: None,
                    uid_next: None,
                    highest_modseq: None,
                };
                let result = self
                    .execute_with(command, |response| match response {
                        Response::MailboxData(MailboxDatum::Exists(n)) => {
                            selected.exists = Some(*n);
                        }
                        Response::Data { outcome, .. } => match outcome.code {
                            Some(ResponseCode::UidValidity(v)) => selected.uid_validity = Some(v),
                            Some(ResponseCode::UidNext(n)) => selected.uid_next = Some(n),
                            Some(ResponseCode::HighestModSeq(m)) => {
                                selected.highest_modseq = Some(m);
                            }
                            Some(ResponseCode::ReadOnly) => selected.read_only = true,
                            _ => {}
                        },
                        _ => {}
                    })
                    .await;
                // Dovecot answers `NO [SERVERBUG]` for a mailbox another client is
                // creating or deleting at that moment; a moment later it is either
                // there or gone (404), so ask once more before calling it a failure.
                let transient = matches!(
                    &result,
                    Err(ImapError::No {
                        code: Some(super::code::RespCode::ServerBug),
                        ..
                    })
                );
                if !transient || retried {
                    break (selected, result);
                }
                retried = true;
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            match result {
                Err(err) => return Err(self.explain_open_refusal(err, name).await),
                Ok(completion) => {
                    selected.highest_modseq =
                        selected.highest_modseq.max(completion.highest_modseq);
                }
            }
            self.selected = Some(selected);
            self.view_is_current = true;
        }
        Ok(self.selected.as_ref().expect("BUG: selection was just set"))
    }

    /// Like [`Self::ensure_selected`], but when the mailbox is already selected and
    /// this checkout has not brought it up to date yet, sends a NOOP first so the
    /// server reports new and expunged messages (EXISTS/EXPUNGE): the message count is
    /// then current, which the newest-page listing relies on.
    ///
    /// # Errors
    /// As for [`Self::ensure_selected`].
    pub async fn select_fresh(
        &mut self,
        name: &MailboxName,
        read_only: bool,
    ) -> Result<SelectedMailbox, ImapError> {
        let reusable = self
            .selected
            .as_ref()
            .is_some_and(|s| &s.name == name && (read_only || !s.read_only));
        if reusable && !self.view_is_current {
            self.execute(Command::Noop).await?;
            self.view_is_current = true;
        }
        Ok(self.ensure_selected(name, read_only).await?.clone())
    }

    pub(super) fn status_items(&self) -> Vec<StatusItem> {
        let mut items = vec![
            StatusItem::Messages,
            StatusItem::Unseen,
            StatusItem::UidNext,
            StatusItem::UidValidity,
        ];
        if self.profile.capabilities.has("CONDSTORE") {
            items.push(StatusItem::HighestModSeq);
        }
        items
    }
}

/// Records a finished command in the duration histogram and the debug log.
fn record_command(command: &Command<'_>, started: Instant, error: Option<&ImapError>) {
    let outcome = error.map_or("OK", ImapError::outcome_label);
    metrics::histogram!("imap_command_duration_seconds", "command" => command.name(), "outcome" => outcome.to_owned())
        .record(started.elapsed().as_secs_f64());
    tracing::debug!(
        command = command.name(),
        outcome,
        elapsed_us = started.elapsed().as_micros() as u64,
        "imap command"
    );
}

#[cfg(test)]
mod tests;
