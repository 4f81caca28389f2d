//! [`ImapSession`]: one authenticated IMAP connection and the typed operations on it.
//!
//! Commands go out through `command.rs`; this module reads every response up to the
//! tagged completion itself, so response codes, untagged data and BYE are seen
//! directly instead of through async-imap's flattened strings and lossy channel.
//!
//! Invariants:
//! - every command runs under a timeout; on a timeout, I/O error, BYE or protocol
//!   error the session marks itself broken and the pool discards it;
//! - a command that was started but never completed (the request future was dropped)
//!   leaves `in_flight` set, which also makes the pool discard the session;
//! - the selected mailbox is remembered, so repeated requests on one mailbox do not
//!   SELECT again; CLOSE is never sent (it would expunge `\Deleted` messages).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::{
    AttributeValue, Capability, MailboxDatum, MessageSection, NameAttribute, Response,
    ResponseCode, SectionPath, Status, StatusAttribute,
};
use tokio::sync::OwnedSemaphorePermit;

use super::code::RespCode;
use super::command::{
    self, Chunk, Command, FetchItem, ListPattern, ListReturn, StatusItem, StoreMode,
};
use super::date::InternalDate;
use super::error::ImapError;
use super::flag::Flag;
use super::identity::IdentityKey;
use super::mailbox_locks::MailboxLocks;
use super::mime::{self, MimePart};
pub use super::profile::Capabilities;
use super::profile::{Naming, ServerKind, ServerProfile};
use super::search::SearchKey;
use super::status::check_completion;
use super::types::{MailboxName, ServerMailbox};
use super::uid::UidSet;
use super::ImapStream;

/// The special-use role of a mailbox (RFC 6154).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialUse {
    /// `\All`
    All,
    /// `\Archive`
    Archive,
    /// `\Drafts`
    Drafts,
    /// `\Flagged`
    Flagged,
    /// `\Junk`
    Junk,
    /// `\Sent`
    Sent,
    /// `\Trash`
    Trash,
}

/// Counters from STATUS (absent items stay `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxCounters {
    /// Number of messages.
    pub messages: Option<u32>,
    /// Number of messages without `\Seen`.
    pub unseen: Option<u32>,
    /// The UID the next message will get.
    pub uid_next: Option<u32>,
    /// The UIDVALIDITY of the mailbox.
    pub uid_validity: Option<u32>,
    /// The highest mod-sequence (CONDSTORE servers only).
    pub highest_modseq: Option<u64>,
}

/// One mailbox as LIST (and STATUS) describe it.
#[derive(Debug, Clone)]
pub struct MailboxInfo {
    /// Full API name (relative to the personal namespace, `/` between levels).
    pub name: MailboxName,
    /// The API's hierarchy delimiter (`/`), `None` when the server has no hierarchy.
    pub delimiter: Option<String>,
    /// The server's own full name, decoded from modified UTF-7 (`INBOX.Sent`).
    pub imap_name: String,
    /// The server's hierarchy delimiter (`/` or `.`).
    pub imap_delimiter: Option<String>,
    /// The server's name on the wire (for matching LSUB and STATUS answers).
    server_name: ServerMailbox,
    /// Special-use role, from the server or, when it lacks SPECIAL-USE, from well-known names.
    pub special_use: Option<SpecialUse>,
    /// Whether the user is subscribed.
    pub subscribed: bool,
    /// False for `\Noselect` / `\NonExistent` placeholders.
    pub selectable: bool,
    /// From `\HasChildren` / `\HasNoChildren`, when the server says.
    pub has_children: Option<bool>,
    /// Counters, when asked for and the mailbox is selectable.
    pub counters: Option<MailboxCounters>,
}

impl MailboxInfo {
    /// A selectable mailbox with no attributes, as `naming`'s server would list `name`.
    ///
    /// # Errors
    /// [`ImapError::NotRepresentable`] when that server cannot hold the name.
    pub fn new(naming: &Naming, name: MailboxName) -> Result<Self, ImapError> {
        let server_name = naming.to_server(&name)?;
        let imap_delimiter = naming.delimiter().map(String::from);
        Ok(Self {
            delimiter: imap_delimiter.as_ref().map(|_| "/".to_owned()),
            imap_name: super::utf7::decode(server_name.wire())
                .unwrap_or_else(|| server_name.wire().to_owned()),
            imap_delimiter,
            server_name,
            name,
            special_use: None,
            subscribed: false,
            selectable: true,
            has_children: None,
            counters: None,
        })
    }
}

/// The mailbox a session has selected, so the next request can skip SELECT.
#[derive(Debug, Clone)]
pub struct SelectedMailbox {
    /// Which mailbox.
    pub name: MailboxName,
    /// True after EXAMINE (or a read-only SELECT).
    pub read_only: bool,
    /// UIDVALIDITY reported by SELECT.
    pub uid_validity: Option<u32>,
    /// EXISTS reported by SELECT (kept current from EXISTS/EXPUNGE/VANISHED).
    pub exists: Option<u32>,
}

/// What a server refused, for [`ImapSession::explain_refusal`].
#[derive(Debug, Clone, Copy)]
enum Refused<'a> {
    /// SELECT, EXAMINE, STATUS or (UN)SUBSCRIBE of this mailbox.
    Open(&'a MailboxName),
    /// CREATE of this mailbox.
    Create(&'a MailboxName),
    /// DELETE of this mailbox.
    Delete(&'a MailboxName),
    /// RENAME.
    Rename {
        from: &'a MailboxName,
        to: &'a MailboxName,
    },
    /// COPY, MOVE or APPEND into this mailbox.
    Target(&'a MailboxName),
}

/// An authenticated IMAP session.
pub struct ImapSession {
    inner: async_imap::Session<ImapStream>,
    profile: ServerProfile,
    selected: Option<SelectedMailbox>,
    /// True once this checkout has brought the selected mailbox up to date (a NOOP or
    /// a SELECT since the session left the pool); see [`Self::begin_checkout`].
    view_is_current: bool,
    /// Serialises flag changes per mailbox on servers that report changes late.
    flag_locks: Option<(Arc<MailboxLocks>, IdentityKey)>,
    broken: bool,
    in_flight: bool,
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
        session.profile.naming = session.discover_naming().await?;
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

    pub(crate) fn attach_flag_locks(&mut self, locks: Arc<MailboxLocks>, identity: IdentityKey) {
        self.flag_locks = Some((locks, identity));
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
        // Keep the selected mailbox's message count current from the server's
        // EXISTS/EXPUNGE notices, which may accompany any command.
        let observe = |response: &Response<'_>| {
            match response {
                Response::MailboxData(MailboxDatum::Exists(n)) => {
                    if let Some(selected) = selected.as_mut() {
                        selected.exists = Some(*n);
                    }
                }
                Response::Expunge(_) => {
                    if let Some(selected) = selected.as_mut() {
                        selected.exists = selected.exists.map(|n| n.saturating_sub(1));
                    }
                }
                // With QRESYNC enabled, expunges are announced as VANISHED.
                Response::Vanished {
                    earlier: false,
                    uids,
                } => {
                    if let Some(selected) = selected.as_mut() {
                        let gone: u32 = uids.iter().map(|r| r.end() - r.start() + 1).sum();
                        selected.exists = selected.exists.map(|n| n.saturating_sub(gone));
                    }
                }
                // An untagged NO/BAD while a mailbox is selected means the server could
                // not keep this session's view in sync (Dovecot answers NOOP this way
                // when the selected mailbox was deleted or recreated by another client).
                // Forget the selection so the next use SELECTs again and sees the truth.
                Response::Data {
                    status: Status::No | Status::Bad,
                    ..
                } => *selected = None,
                _ => {}
            }
            on_untagged(response);
        };
        let exchange = round_trip(&mut self.inner, &command, literal_plus, observe);
        let result = tokio::time::timeout(self.command_timeout, exchange)
            .await
            .unwrap_or(Err(ImapError::Timeout));
        let outcome = match &result {
            Ok(_) => "OK",
            Err(err) => err.outcome_label(),
        };
        metrics::histogram!("imap_command_duration_seconds", "command" => command.name(), "outcome" => outcome.to_owned())
            .record(started.elapsed().as_secs_f64());
        tracing::debug!(
            command = command.name(),
            outcome,
            elapsed_us = started.elapsed().as_micros() as u64,
            "imap command"
        );
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
            let mut selected = SelectedMailbox {
                name: name.clone(),
                read_only,
                uid_validity: None,
                exists: None,
            };
            let result = self
                .execute_with(command, |response| match response {
                    Response::MailboxData(MailboxDatum::Exists(n)) => selected.exists = Some(*n),
                    Response::Data { outcome, .. } => match outcome.code {
                        Some(ResponseCode::UidValidity(v)) => selected.uid_validity = Some(v),
                        Some(ResponseCode::ReadOnly) => selected.read_only = true,
                        _ => {}
                    },
                    _ => {}
                })
                .await;
            if let Err(err) = result {
                return Err(self.explain_refusal(err, Refused::Open(name)).await);
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

    /// Leaves the selected state without expunging: UNSELECT where advertised,
    /// otherwise simply forgetting it (the next SELECT replaces it).
    async fn deselect_if(&mut self, name: &MailboxName) -> Result<(), ImapError> {
        if self.selected.as_ref().is_some_and(|s| &s.name == name) {
            self.selected = None;
            if self.profile.capabilities.has("UNSELECT") {
                self.execute(Command::Unselect).await?;
            }
        }
        Ok(())
    }

    fn status_items(&self) -> Vec<StatusItem> {
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

    /// Lists the personal mailboxes (or only `only`), with counters when
    /// `with_counters`. Names are API names; mailboxes outside the personal namespace
    /// are not listed.
    ///
    /// Uses one `LIST ... RETURN (SUBSCRIBED SPECIAL-USE STATUS (...))` round trip on
    /// servers with LIST-STATUS; otherwise LIST, LSUB and one STATUS per mailbox.
    ///
    /// # Errors
    /// Server or connection errors; [`ImapError::NotRepresentable`] for an `only`
    /// name this server cannot hold.
    pub async fn list_mailboxes(
        &mut self,
        only: Option<&MailboxName>,
        with_counters: bool,
    ) -> Result<Vec<MailboxInfo>, ImapError> {
        let server = only.map(|name| self.server_name(name)).transpose()?;
        let pattern = server
            .as_ref()
            .map_or(ListPattern::All, ListPattern::Exactly);
        let selected_is_listed = self
            .selected
            .as_ref()
            .is_some_and(|s| only.is_none_or(|name| &s.name == name));
        if with_counters && selected_is_listed && !self.view_is_current {
            // Dovecot answers STATUS of the selected mailbox from this session's view,
            // which may not know another session's changes yet (RFC 3501 section
            // 6.3.10 warns of this); bring the view up to date first.
            self.refresh_view().await?;
        }
        let caps = &self.profile.capabilities;
        let extended = caps.has("LIST-EXTENDED");
        let special_use = caps.has("SPECIAL-USE");
        let list_status = caps.has("LIST-STATUS");
        let items = if with_counters {
            self.status_items()
        } else {
            Vec::new()
        };
        let returns = ListReturn {
            subscribed: extended,
            special_use: special_use && extended,
            children: extended && caps.has("CHILDREN"),
            status: if list_status { &items } else { &[] },
        };
        let naming = self.profile.naming.clone();
        let mut mailboxes = Vec::new();
        let mut counters: HashMap<String, MailboxCounters> = HashMap::new();
        self.execute_with(Command::List(pattern, returns), |response| match response {
            Response::MailboxData(MailboxDatum::List(data)) => {
                if let Some(info) = mailbox_from_list(
                    &naming,
                    &data.name,
                    data.delimiter.as_deref(),
                    &data.name_attributes,
                ) {
                    mailboxes.push(info);
                }
            }
            Response::MailboxData(MailboxDatum::Status { mailbox, status }) => {
                counters.insert(unescape_quoted(mailbox), counters_from(status));
            }
            _ => {}
        })
        .await?;
        if let Some(name) = only {
            mailboxes.retain(|m| &m.name == name);
        }
        if !extended {
            let mut subscribed: HashSet<String> = HashSet::new();
            self.execute_with(Command::Lsub(pattern), |response| {
                if let Response::MailboxData(MailboxDatum::List(data)) = response {
                    subscribed.insert(unescape_quoted(&data.name));
                }
            })
            .await?;
            for mailbox in &mut mailboxes {
                mailbox.subscribed = subscribed.contains(mailbox.server_name.wire());
            }
        }
        if !special_use {
            for mailbox in &mut mailboxes {
                mailbox.special_use = guess_special_use(&mailbox.name);
            }
        }
        if with_counters {
            for mailbox in &mut mailboxes {
                if !mailbox.selectable {
                    continue;
                }
                mailbox.counters = match counters.remove(mailbox.server_name.wire()) {
                    Some(found) => Some(found),
                    None if list_status => None,
                    None => Some(self.status_of(&mailbox.server_name).await?),
                };
            }
        }
        Ok(mailboxes)
    }

    /// Whether `name` exists (as anything LIST shows, selectable or not).
    async fn mailbox_exists(&mut self, name: &MailboxName) -> Result<bool, ImapError> {
        Ok(!self.list_mailboxes(Some(name), false).await?.is_empty())
    }

    /// Turns a NO without a response code (Cyrus and Courier send no RFC 5530 codes)
    /// into what happened, by looking: LIST tells whether the mailbox exists. Errors
    /// that carry a code, or that broke the session, are returned as they are; so is
    /// the original error when the LIST itself fails.
    async fn explain_refusal(&mut self, err: ImapError, refused: Refused<'_>) -> ImapError {
        let ImapError::No { code: None, text } = &err else {
            return err;
        };
        let text = text.clone();
        let with = |code: RespCode| ImapError::No {
            code: Some(code),
            text: text.clone(),
        };
        let permission = {
            let lower = text.to_ascii_lowercase();
            ["permission", "denied", "not allowed", "access"]
                .iter()
                .any(|word| lower.contains(word))
        };
        let explained = match refused {
            Refused::Open(name) | Refused::Delete(name) => match self.mailbox_exists(name).await {
                Ok(false) => Ok(with(RespCode::NonExistent)),
                Ok(true) if permission => Ok(with(RespCode::NoPerm)),
                other => other.map(|_| err),
            },
            Refused::Create(name) => match self.mailbox_exists(name).await {
                Ok(true) => Ok(with(RespCode::AlreadyExists)),
                Ok(false) if permission => Ok(with(RespCode::NoPerm)),
                // The name is free, and the server would not create it.
                Ok(false) => Ok(with(RespCode::Cannot)),
                Err(e) => Err(e),
            },
            Refused::Rename { from, to } => match self.mailbox_exists(from).await {
                Ok(false) => Ok(with(RespCode::NonExistent)),
                Ok(true) => match self.mailbox_exists(to).await {
                    Ok(true) => Ok(with(RespCode::AlreadyExists)),
                    Ok(false) if permission => Ok(with(RespCode::NoPerm)),
                    Ok(false) => Ok(with(RespCode::Cannot)),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
            Refused::Target(name) => match self.mailbox_exists(name).await {
                Ok(false) => Ok(with(RespCode::TryCreate)),
                Ok(true) if permission => Ok(with(RespCode::NoPerm)),
                other => other.map(|_| err),
            },
        };
        match explained {
            Ok(explained) => explained,
            Err(list_failed) if list_failed.breaks_session() => list_failed,
            Err(_) => ImapError::No { code: None, text },
        }
    }

    /// Looks at the `result` of a command on the selected mailbox: `Some` value, or
    /// `None` when the caller should run the command once more. Cyrus refuses a
    /// command on a selected mailbox that another client deleted with a code-less
    /// `NO Mailbox does not exist`, also when the mailbox was created again since. On
    /// the first attempt (`may_retry`) such a refusal selects the mailbox again: that
    /// fails with NONEXISTENT when it is gone, or gives the new one to retry on.
    async fn in_selected<T>(
        &mut self,
        result: Result<T, ImapError>,
        may_retry: bool,
    ) -> Result<Option<T>, ImapError> {
        match (result, self.selected.take()) {
            (Ok(value), selected) => {
                self.selected = selected;
                Ok(Some(value))
            }
            (Err(ImapError::No { code: None, .. }), Some(selected)) if may_retry => {
                self.ensure_selected(&selected.name, selected.read_only)
                    .await?;
                Ok(None)
            }
            (Err(err), selected) => {
                self.selected = selected;
                Err(err)
            }
        }
    }

    /// Runs a FETCH and collects the messages it returned (unsolicited FETCHes for
    /// other messages, which lack a UID, are skipped).
    async fn collect_fetch(
        &mut self,
        command: Command<'_>,
    ) -> Result<Vec<FetchedMessage>, ImapError> {
        for attempt in 0..2 {
            let mut messages = Vec::new();
            let result = self
                .execute_with(command, |response| push_fetched(response, &mut messages))
                .await;
            if self.in_selected(result, attempt == 0).await?.is_some() {
                return Ok(messages);
            }
        }
        Err(ImapError::Protocol("FETCH refused twice".to_owned()))
    }

    /// `UID FETCH` of `uids`. Include [`FetchItem::Uid`] in `items`.
    ///
    /// # Errors
    /// Server or connection errors.
    pub async fn fetch_uids(
        &mut self,
        uids: &UidSet,
        items: &[FetchItem<'_>],
    ) -> Result<Vec<FetchedMessage>, ImapError> {
        let messages = self.collect_fetch(Command::UidFetch(uids, items)).await?;
        if self.may_be_stale(uids, messages.len()) {
            self.refresh_view().await?;
            return self.collect_fetch(Command::UidFetch(uids, items)).await;
        }
        Ok(messages)
    }

    /// True when a command about `uids` found fewer messages than it named, on a view
    /// this checkout has not brought up to date. Dovecot and Cyrus tell a session about
    /// messages another session added only in the answer to its next command, so a
    /// UID appended a moment ago can be unknown to a pooled session: the caller then
    /// refreshes the view and asks once more, rather than answer 404. (Sending NOOP on
    /// every checkout would cost every request a round trip; this costs one only
    /// when something was missing.)
    fn may_be_stale(&self, uids: &UidSet, found: usize) -> bool {
        let named: u64 = uids
            .ranges()
            .iter()
            .map(|(first, last)| u64::from(last - first) + 1)
            .sum();
        !self.view_is_current && (found as u64) < named
    }

    /// NOOP, so the server reports what changed in the selected mailbox.
    async fn refresh_view(&mut self) -> Result<(), ImapError> {
        self.execute(Command::Noop).await?;
        self.view_is_current = true;
        Ok(())
    }

    /// Every message of the selected mailbox with its flags (`UID FETCH 1:* (FLAGS)`),
    /// ascending by UID: the snapshot a watcher diffs on servers without CONDSTORE.
    ///
    /// # Errors
    /// Server or connection errors.
    pub async fn all_flags(&mut self) -> Result<Vec<(u32, Vec<String>)>, ImapError> {
        let all = UidSet::range(1, u32::MAX)?;
        let items = [FetchItem::Uid, FetchItem::Flags];
        let mut messages = self.collect_fetch(Command::UidFetch(&all, &items)).await?;
        messages.sort_by_key(|m| m.uid);
        messages.dedup_by_key(|m| m.uid);
        Ok(messages
            .into_iter()
            .map(|m| (m.uid, m.flags.unwrap_or_default()))
            .collect())
    }

    /// `FETCH first:last` by sequence number, for the newest page of the selected
    /// mailbox; results carry UIDs, which are all the API exposes.
    ///
    /// # Errors
    /// Server or connection errors.
    pub async fn fetch_sequence(
        &mut self,
        first: u32,
        last: u32,
        items: &[FetchItem<'_>],
    ) -> Result<Vec<FetchedMessage>, ImapError> {
        self.collect_fetch(Command::FetchSeq(first, last, items))
            .await
    }

    /// True when the server supports CONDSTORE and QRESYNC, which the changes API needs.
    pub fn tracks_changes(&self) -> bool {
        self.profile.capabilities.has("CONDSTORE") && self.profile.capabilities.has("QRESYNC")
    }

    /// Messages among `uids` changed since `modseq` (FLAGS, MODSEQ) and the UIDs
    /// expunged since then (`VANISHED (EARLIER)`). Enables QRESYNC on first use.
    ///
    /// # Errors
    /// [`ImapError::Unsupported`] without CONDSTORE/QRESYNC; server errors.
    pub async fn changed_since(
        &mut self,
        uids: &UidSet,
        modseq: u64,
    ) -> Result<(Vec<FetchedMessage>, Vec<u32>), ImapError> {
        if !self.tracks_changes() {
            return Err(ImapError::Unsupported("CONDSTORE and QRESYNC"));
        }
        if !self.qresync {
            self.execute(Command::EnableQresync).await?;
            self.qresync = true;
        }
        let mut messages = Vec::new();
        let mut vanished = Vec::new();
        let items = [FetchItem::Uid, FetchItem::Flags, FetchItem::ModSeq];
        let command = Command::UidFetchChanged {
            uids,
            items: &items,
            changed_since: modseq,
            vanished: true,
        };
        self.execute_with(command, |response| match response {
            Response::Fetch(..) => push_fetched(response, &mut messages),
            Response::Vanished {
                earlier: true,
                uids,
            } => {
                vanished.extend(uids.iter().flat_map(|range| range.clone()));
            }
            _ => {}
        })
        .await?;
        vanished.sort_unstable();
        vanished.dedup();
        Ok((messages, vanished))
    }

    /// `UID SEARCH`: matching UIDs in ascending order.
    ///
    /// # Errors
    /// `No { BadCharset }` and friends.
    pub async fn search(&mut self, keys: &[SearchKey]) -> Result<Vec<u32>, ImapError> {
        let mut uids = Vec::new();
        for attempt in 0..2 {
            uids.clear();
            let result = self
                .execute_with(Command::UidSearch(keys), |response| {
                    if let Response::MailboxData(MailboxDatum::Search(found)) = response {
                        uids.extend_from_slice(found);
                    }
                })
                .await;
            if self.in_selected(result, attempt == 0).await?.is_some() {
                break;
            }
        }
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// `UID STORE` (not silent: the new flags come back), with an optional CONDSTORE
    /// guard. Returns the messages' new flags/modseq and the `[MODIFIED]` set.
    ///
    /// # Errors
    /// Server or connection errors.
    pub async fn store_flags(
        &mut self,
        uids: &UidSet,
        mode: StoreMode,
        flags: &[Flag],
        unchanged_since: Option<u64>,
    ) -> Result<(Vec<FetchedMessage>, Completion), ImapError> {
        // On a server that computes STORE from the session's possibly stale copy of
        // the flags (Courier), changes to one mailbox go one at a time, each after a
        // NOOP, so none starts from flags another session has since changed.
        let _serialised = match (&self.flag_locks, &self.selected) {
            (Some((locks, identity)), Some(selected))
                if self.profile.reports_changes_only_at_noop() =>
            {
                let guard = locks.acquire(*identity, &selected.name).await;
                self.execute(Command::Noop).await?;
                Some(guard)
            }
            _ => None,
        };
        let command = Command::UidStore {
            uids,
            mode,
            flags,
            unchanged_since,
        };
        let mut messages = Vec::new();
        let result = self
            .execute_with(command, |response| push_fetched(response, &mut messages))
            .await;
        let completion = match self.in_selected(result, true).await? {
            Some(completion) => completion,
            None => {
                messages.clear();
                self.execute_with(command, |response| push_fetched(response, &mut messages))
                    .await?
            }
        };
        if completion.modified.is_none() && self.may_be_stale(uids, messages.len()) {
            // Storing again is safe: the server did not know the missing UIDs, so it
            // changed nothing for them, and the others get the same flags again.
            self.refresh_view().await?;
            messages.clear();
            let completion = self
                .execute_with(command, |response| push_fetched(response, &mut messages))
                .await?;
            return Ok((messages, completion));
        }
        Ok((messages, completion))
    }

    /// `UID COPY` to `target`; the completion carries COPYUID on UIDPLUS servers.
    ///
    /// # Errors
    /// `No { TryCreate }` when the target does not exist, and friends.
    pub async fn copy_messages(
        &mut self,
        uids: &UidSet,
        target: &MailboxName,
    ) -> Result<Completion, ImapError> {
        let server = self.server_name(target)?;
        match self.execute(Command::UidCopy(uids, &server)).await {
            Ok(completion) if self.copied_nothing(&completion) && !self.view_is_current => {
                // Perhaps the UIDs are newer than this session's view (see
                // `may_be_stale`); nothing was copied, so asking again is safe.
                self.refresh_view().await?;
                self.execute(Command::UidCopy(uids, &server)).await
            }
            Ok(completion) => Ok(completion),
            Err(err) => Err(self.explain_refusal(err, Refused::Target(target)).await),
        }
    }

    /// True when a UIDPLUS server's COPY or MOVE reported copying no message.
    fn copied_nothing(&self, completion: &Completion) -> bool {
        self.profile.capabilities.has("UIDPLUS")
            && completion
                .copy_uid
                .as_ref()
                .is_none_or(|(_, pairs)| pairs.is_empty())
    }

    /// Moves messages: `UID MOVE` where advertised, otherwise `UID COPY`, then
    /// `\Deleted` and `UID EXPUNGE` of exactly these UIDs (never a plain EXPUNGE,
    /// which would also remove messages other clients marked `\Deleted`).
    ///
    /// # Errors
    /// [`ImapError::Unsupported`] on servers with neither MOVE nor UIDPLUS.
    pub async fn move_messages(
        &mut self,
        uids: &UidSet,
        target: &MailboxName,
    ) -> Result<Completion, ImapError> {
        if self.profile.capabilities.has("MOVE") {
            let server = self.server_name(target)?;
            return match self.execute(Command::UidMove(uids, &server)).await {
                Ok(completion) if self.copied_nothing(&completion) && !self.view_is_current => {
                    self.refresh_view().await?;
                    self.execute(Command::UidMove(uids, &server)).await
                }
                Ok(completion) => Ok(completion),
                Err(err) => Err(self.explain_refusal(err, Refused::Target(target)).await),
            };
        }
        if !self.profile.capabilities.has("UIDPLUS") {
            return Err(ImapError::Unsupported(
                "MOVE or UIDPLUS (needed to move without touching other messages)",
            ));
        }
        let completion = self.copy_messages(uids, target).await?;
        self.store_flags(uids, StoreMode::Add, &[Flag::Deleted], None)
            .await?;
        self.execute(Command::UidExpunge(uids)).await?;
        Ok(completion)
    }

    /// Permanently removes exactly `uids`: STORE `\Deleted`, then `UID EXPUNGE`.
    ///
    /// # Errors
    /// [`ImapError::Unsupported`] without UIDPLUS: a plain EXPUNGE could remove other
    /// clients' `\Deleted` messages, so the gateway refuses instead.
    pub async fn expunge_messages(&mut self, uids: &UidSet) -> Result<(), ImapError> {
        if !self.profile.capabilities.has("UIDPLUS") {
            return Err(ImapError::Unsupported("UIDPLUS (UID EXPUNGE)"));
        }
        self.store_flags(uids, StoreMode::Add, &[Flag::Deleted], None)
            .await?;
        self.execute(Command::UidExpunge(uids)).await.map(drop)
    }

    /// `APPEND`; returns `(uidvalidity, uid)` from APPENDUID when the server has UIDPLUS.
    ///
    /// # Errors
    /// `No { TryCreate }` for a missing mailbox, `No { OverQuota }`, and friends.
    pub async fn append(
        &mut self,
        mailbox: &MailboxName,
        flags: &[Flag],
        internal_date: Option<&InternalDate>,
        message: &[u8],
    ) -> Result<Option<(u32, u32)>, ImapError> {
        let server = self.server_name(mailbox)?;
        // Courier refuses APPEND into the mailbox a session has EXAMINEd ("Current box
        // is selected READ-ONLY"): leave that read-only state first.
        if self
            .selected
            .as_ref()
            .is_some_and(|s| &s.name == mailbox && s.read_only)
        {
            if self.profile.capabilities.has("UNSELECT") {
                self.selected = None;
                self.execute(Command::Unselect).await?;
            } else {
                self.ensure_selected(mailbox, false).await?;
            }
        }
        let appended = self
            .execute(Command::Append {
                mailbox: &server,
                flags,
                internal_date,
                message,
            })
            .await;
        match appended {
            Ok(completion) => Ok(completion.append_uid),
            Err(err) => Err(self.explain_refusal(err, Refused::Target(mailbox)).await),
        }
    }

    /// LIST (with counters) for exactly one mailbox.
    ///
    /// # Errors
    /// `No { NonExistent }` when the mailbox does not exist.
    pub async fn mailbox_info(&mut self, name: &MailboxName) -> Result<MailboxInfo, ImapError> {
        self.list_mailboxes(Some(name), true)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ImapError::No {
                code: Some(RespCode::NonExistent),
                text: "Mailbox does not exist".to_owned(),
            })
    }

    /// STATUS of one mailbox.
    ///
    /// # Errors
    /// `No { NonExistent }` and friends.
    pub async fn status(&mut self, name: &MailboxName) -> Result<MailboxCounters, ImapError> {
        let server = self.server_name(name)?;
        if self.selected.as_ref().is_some_and(|s| &s.name == name) && !self.view_is_current {
            // As in `list_mailboxes`: STATUS of the selected mailbox may be stale.
            self.refresh_view().await?;
        }
        match self.status_of(&server).await {
            Ok(counters) => Ok(counters),
            Err(err) => Err(self.explain_refusal(err, Refused::Open(name)).await),
        }
    }

    /// STATUS by the server's name, errors as the server gave them.
    async fn status_of(&mut self, server: &ServerMailbox) -> Result<MailboxCounters, ImapError> {
        let items = self.status_items();
        let mut found = None;
        self.execute_with(Command::Status(server, &items), |response| {
            if let Response::MailboxData(MailboxDatum::Status { status, .. }) = response {
                found = Some(counters_from(status));
            }
        })
        .await?;
        found.ok_or_else(|| ImapError::Protocol("STATUS without data".to_owned()))
    }

    /// CREATE, then SUBSCRIBE when asked.
    ///
    /// # Errors
    /// `No { AlreadyExists }` and friends.
    pub async fn create_mailbox(
        &mut self,
        name: &MailboxName,
        subscribe: bool,
    ) -> Result<(), ImapError> {
        let server = self.server_name(name)?;
        if let Err(err) = self.execute(Command::Create(&server)).await {
            return Err(self.explain_refusal(err, Refused::Create(name)).await);
        }
        if subscribe {
            if let Err(err) = self.execute(Command::Subscribe(&server)).await {
                // Leave nothing half-done: the mailbox was created just now and is empty.
                if !err.breaks_session() {
                    let _ = self.execute(Command::Delete(&server)).await;
                }
                return Err(err);
            }
        }
        Ok(())
    }

    /// DELETE (after leaving it if selected), then drops the subscription, which
    /// RFC 3501 leaves behind.
    ///
    /// # Errors
    /// `No { NonExistent }`, `No { HasChildren }` and friends.
    pub async fn delete_mailbox(&mut self, name: &MailboxName) -> Result<(), ImapError> {
        let server = self.server_name(name)?;
        self.deselect_if(name).await?;
        if let Err(err) = self.execute(Command::Delete(&server)).await {
            return Err(self.explain_refusal(err, Refused::Delete(name)).await);
        }
        // Best effort: the mailbox is gone either way; a stale subscription is harmless.
        if let Err(err) = self.execute(Command::Unsubscribe(&server)).await {
            if err.breaks_session() {
                return Err(err);
            }
        }
        Ok(())
    }

    /// RENAME.
    ///
    /// # Errors
    /// `No { NonExistent }`, `No { AlreadyExists }` and friends.
    pub async fn rename_mailbox(
        &mut self,
        from: &MailboxName,
        to: &MailboxName,
    ) -> Result<(), ImapError> {
        let server_from = self.server_name(from)?;
        let server_to = self.server_name(to)?;
        self.deselect_if(from).await?;
        match self
            .execute(Command::Rename(&server_from, &server_to))
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(self
                .explain_refusal(err, Refused::Rename { from, to })
                .await),
        }
    }

    /// SUBSCRIBE or UNSUBSCRIBE.
    ///
    /// # Errors
    /// Server errors.
    pub async fn set_subscribed(
        &mut self,
        name: &MailboxName,
        subscribed: bool,
    ) -> Result<(), ImapError> {
        let server = self.server_name(name)?;
        let command = if subscribed {
            Command::Subscribe(&server)
        } else {
            Command::Unsubscribe(&server)
        };
        match self.execute(command).await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.explain_refusal(err, Refused::Open(name)).await),
        }
    }
}

async fn round_trip(
    inner: &mut async_imap::Session<ImapStream>,
    command: &Command<'_>,
    literal_plus: bool,
    mut on_untagged: impl FnMut(&Response<'_>),
) -> Result<Completion, ImapError> {
    let mut chunks = command.render(literal_plus).into_iter();
    let Some(Chunk::Line(first)) = chunks.next() else {
        return Err(ImapError::Protocol("a command starts with text".to_owned()));
    };
    let tag = command::send_first_line(inner, &first).await?;
    while let Some(chunk) = chunks.next() {
        let (Chunk::Literal(bytes), Some(Chunk::Line(rest))) = (chunk, chunks.next()) else {
            return Err(ImapError::Protocol(
                "a literal is followed by text".to_owned(),
            ));
        };
        if !literal_plus {
            // Synchronizing literal: the server must invite it with "+" first.
            await_continuation(inner, &tag, &mut on_untagged, "the literal").await?;
        }
        command::send_literal(inner, bytes, &rest).await?;
    }
    // UID MOVE reports COPYUID in an untagged OK before the expunges (RFC 6851 section 4.3).
    let mut untagged_copy_uid = None;
    loop {
        let response = inner
            .read_response()
            .await?
            .ok_or(ImapError::ConnectionLost)?;
        match response.parsed() {
            Response::Done {
                tag: done,
                status,
                outcome,
            } => {
                if *done != tag {
                    return Err(ImapError::Protocol(
                        "completion for an unknown tag".to_owned(),
                    ));
                }
                check_completion(
                    status,
                    outcome.code.as_ref(),
                    outcome.information.as_deref(),
                )?;
                let mut completion =
                    Completion::from_outcome(outcome.code.as_ref(), outcome.information.as_deref());
                if completion.copy_uid.is_none() {
                    completion.copy_uid = untagged_copy_uid;
                }
                return Ok(completion);
            }
            Response::Data {
                status: Status::Ok,
                outcome,
            } if matches!(outcome.code, Some(ResponseCode::CopyUid(..))) => {
                untagged_copy_uid = Completion::from_outcome(outcome.code.as_ref(), None).copy_uid;
            }
            Response::Data {
                status: Status::Bye,
                outcome,
            } => {
                if matches!(command, Command::Logout) {
                    continue;
                }
                return Err(ImapError::Bye {
                    text: outcome
                        .information
                        .as_deref()
                        .unwrap_or_default()
                        .to_owned(),
                });
            }
            other => on_untagged(other),
        }
    }
}

/// Reads until the server's continuation request (`+`), passing other responses
/// to `on_untagged`. A completion instead means the server refused what `what` needed.
async fn await_continuation(
    inner: &mut async_imap::Session<ImapStream>,
    tag: &async_imap::imap_proto::RequestId,
    on_untagged: &mut impl FnMut(&Response<'_>),
    what: &str,
) -> Result<(), ImapError> {
    loop {
        let response = inner
            .read_response()
            .await?
            .ok_or(ImapError::ConnectionLost)?;
        match response.parsed() {
            Response::Continue { .. } => return Ok(()),
            Response::Done {
                tag: done,
                status,
                outcome,
            } if done == tag => {
                check_completion(
                    status,
                    outcome.code.as_ref(),
                    outcome.information.as_deref(),
                )?;
                return Err(ImapError::Protocol(format!(
                    "the server completed the command before {what}"
                )));
            }
            other => on_untagged(other),
        }
    }
}

/// One IDLE: start, wait for a change or `max`, DONE, read the completion.
async fn idle_round(
    inner: &mut async_imap::Session<ImapStream>,
    max: Duration,
    command_timeout: Duration,
) -> Result<bool, ImapError> {
    let is_change = |response: &Response<'_>| {
        matches!(
            response,
            Response::MailboxData(MailboxDatum::Exists(_))
                | Response::Expunge(_)
                | Response::Vanished { .. }
                | Response::Fetch(..)
        )
    };
    let Some(Chunk::Line(line)) = Command::Idle.render(true).into_iter().next() else {
        return Err(ImapError::Protocol("IDLE renders as one line".to_owned()));
    };
    let tag = command::send_first_line(inner, &line).await?;
    let mut changed = false;
    // Wait for the "+ idling" continuation.
    let mut note = |response: &Response<'_>| changed |= is_change(response);
    tokio::time::timeout(
        command_timeout,
        await_continuation(inner, &tag, &mut note, "IDLE"),
    )
    .await
    .map_err(|_| ImapError::Timeout)??;
    // Wait for a change (keep-alive "* OK Still here" lines are not changes).
    if !changed {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            match tokio::time::timeout_at(deadline, inner.read_response()).await {
                Err(_elapsed) => break,
                Ok(read) => {
                    let response = read?.ok_or(ImapError::ConnectionLost)?;
                    if let Response::Data {
                        status: Status::Bye,
                        outcome,
                    } = response.parsed()
                    {
                        return Err(ImapError::Bye {
                            text: outcome
                                .information
                                .as_deref()
                                .unwrap_or_default()
                                .to_owned(),
                        });
                    }
                    if is_change(response.parsed()) {
                        changed = true;
                        break;
                    }
                }
            }
        }
    }
    command::send_idle_done(inner).await?;
    tokio::time::timeout(command_timeout, async {
        loop {
            let response = inner
                .read_response()
                .await?
                .ok_or(ImapError::ConnectionLost)?;
            match response.parsed() {
                Response::Done {
                    tag: done,
                    status,
                    outcome,
                } if *done == tag => {
                    check_completion(
                        status,
                        outcome.code.as_ref(),
                        outcome.information.as_deref(),
                    )?;
                    return Ok(changed);
                }
                other => changed |= is_change(other),
            }
        }
    })
    .await
    .map_err(|_| ImapError::Timeout)?
}

/// What a tagged OK carried that callers act on.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Completion {
    /// `[APPENDUID uidvalidity uid]` (UIDPLUS).
    pub append_uid: Option<(u32, u32)>,
    /// `[COPYUID uidvalidity source-uids destination-uids]` (UIDPLUS), paired up.
    pub copy_uid: Option<(u32, Vec<(u32, u32)>)>,
    /// `[MODIFIED set]` (CONDSTORE): UIDs a conditional STORE left alone. imap-proto
    /// does not parse this code, so it is read from the text.
    pub modified: Option<UidSet>,
}

fn expand(members: &[UidSetMember]) -> Vec<u32> {
    members
        .iter()
        .flat_map(|member| match member {
            UidSetMember::UidRange(range) => range.clone().collect::<Vec<u32>>(),
            UidSetMember::Uid(uid) => vec![*uid],
        })
        .collect()
}

impl Completion {
    fn from_outcome(code: Option<&ResponseCode<'_>>, text: Option<&str>) -> Self {
        let mut completion = Self::default();
        match code {
            Some(ResponseCode::AppendUid(validity, uids)) => {
                completion.append_uid = expand(uids).first().map(|uid| (*validity, *uid));
            }
            Some(ResponseCode::CopyUid(validity, from, to)) => {
                let pairs = expand(from).into_iter().zip(expand(to)).collect();
                completion.copy_uid = Some((*validity, pairs));
            }
            _ => {}
        }
        if let Some((set, _)) = text
            .and_then(|t| t.trim_start().strip_prefix("[MODIFIED "))
            .and_then(|t| t.split_once(']'))
        {
            completion.modified = UidSet::parse("modified", set).ok();
        }
        completion
    }
}

/// One section of a message body returned by FETCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    /// `BODY[]`
    Whole,
    /// `BODY[HEADER]`
    Header,
    /// `BODY[1.2]`
    Part(Vec<u32>),
    /// `BODY[1.2.MIME]`
    PartMime(Vec<u32>),
    /// Anything else.
    Other,
}

/// A message as FETCH returned it, owned.
#[derive(Debug, Clone, Default)]
pub struct FetchedMessage {
    /// UID.
    pub uid: u32,
    /// Flags as the server spells them.
    pub flags: Option<Vec<String>>,
    /// INTERNALDATE as sent (`26-Nov-2026 09:00:00 +0000`).
    pub internal_date: Option<String>,
    /// RFC822.SIZE.
    pub size: Option<u32>,
    /// MODSEQ.
    pub modseq: Option<u64>,
    /// BODYSTRUCTURE, flattened with part numbers.
    pub parts: Option<Vec<MimePart>>,
    /// Body sections: which, partial offset, bytes.
    pub sections: Vec<(SectionKind, Option<u32>, Vec<u8>)>,
    /// A body section came back NIL: the message was expunged by another client and
    /// the server only kept a placeholder (`[EXPUNGEISSUED]`).
    pub expunged: bool,
}

impl FetchedMessage {
    /// The bytes of a section, if it was returned.
    pub fn section(&self, kind: &SectionKind) -> Option<&[u8]> {
        self.sections
            .iter()
            .find(|(k, _, _)| k == kind)
            .map(|(_, _, data)| data.as_slice())
    }
}

/// Reads one untagged FETCH response as the server sent it (`* 1 FETCH (...)\r\n`,
/// literals inline), the way sessions read them. For fuzzing and tests: whatever the
/// bytes, this returns `None` or a message. imap-proto 0.17 itself panics on some
/// malformed responses (`INTERNALDATE NIL`); that is caught here and counted as
/// unparsable, so fuzzing goes on to find the gateway's own bugs (in sessions the
/// HTTP layer turns such a panic into a 500 and the session is discarded).
pub fn fetched_from_wire(bytes: &[u8]) -> Option<FetchedMessage> {
    // Only imap-proto's parsing is guarded: a panic in the gateway's own conversion
    // must stay visible.
    let parsed = std::panic::catch_unwind(|| Response::parse(bytes)).ok()?;
    match parsed {
        Ok((_, Response::Fetch(_, attributes))) => Some(fetched_from(&attributes)),
        _ => None,
    }
}

/// Keeps a FETCH response for one of our messages: with a UID (unsolicited FETCHes
/// about other messages lack one) and not an expunged placeholder.
fn push_fetched(response: &Response<'_>, messages: &mut Vec<FetchedMessage>) {
    if let Response::Fetch(_, attributes) = response {
        let message = fetched_from(attributes);
        if message.uid != 0 && !message.expunged {
            messages.push(message);
        }
    }
}

fn fetched_from(attributes: &[AttributeValue<'_>]) -> FetchedMessage {
    let mut message = FetchedMessage::default();
    for attribute in attributes {
        match attribute {
            AttributeValue::Uid(uid) => message.uid = *uid,
            AttributeValue::Flags(flags) => {
                message.flags = Some(flags.iter().map(|f| f.to_string()).collect());
            }
            AttributeValue::InternalDate(date) => message.internal_date = Some(date.to_string()),
            AttributeValue::Rfc822Size(size) => message.size = Some(*size),
            AttributeValue::ModSeq(modseq) => message.modseq = Some(*modseq),
            AttributeValue::BodyStructure(structure) => {
                message.parts = Some(mime::flatten(structure))
            }
            AttributeValue::BodySection {
                section,
                index,
                data,
            } => {
                let kind = match section {
                    None => SectionKind::Whole,
                    Some(SectionPath::Full(MessageSection::Header)) => SectionKind::Header,
                    Some(SectionPath::Part(path, None)) => SectionKind::Part(path.clone()),
                    Some(SectionPath::Part(path, Some(MessageSection::Mime))) => {
                        SectionKind::PartMime(path.clone())
                    }
                    Some(_) => SectionKind::Other,
                };
                message.expunged |= data.is_none();
                let bytes = data.as_deref().map(<[u8]>::to_vec).unwrap_or_default();
                message.sections.push((kind, *index, bytes));
            }
            _ => {}
        }
    }
    message
}

/// A LIST entry as the API shows it; `None` when it lies outside the personal
/// namespace or cannot be named with `/` levels.
fn mailbox_from_list(
    naming: &Naming,
    wire: &str,
    delimiter: Option<&str>,
    attributes: &[NameAttribute<'_>],
) -> Option<MailboxInfo> {
    let wire = unescape_quoted(wire);
    // The name may be sent back (STATUS of each listed mailbox): only printable ASCII
    // can be, as a quoted string. Modified UTF-7 names always are; a server that lists
    // anything else (8-bit or control characters) gets that entry left out.
    if !wire.chars().all(|c| (' '..='~').contains(&c)) {
        tracing::debug!("LIST entry that is not printable ASCII, not listed");
        return None;
    }
    let Some(name) = naming.to_api(&wire) else {
        tracing::debug!("LIST entry outside the personal namespace, not listed");
        return None;
    };
    let mut info = MailboxInfo {
        name,
        delimiter: delimiter.map(|_| "/".to_owned()),
        imap_name: super::utf7::decode(&wire).unwrap_or_else(|| wire.clone()),
        imap_delimiter: delimiter.map(str::to_owned),
        server_name: ServerMailbox::new(wire),
        special_use: None,
        subscribed: false,
        selectable: true,
        has_children: None,
        counters: None,
    };
    for attribute in attributes {
        match attribute {
            NameAttribute::NoSelect => info.selectable = false,
            NameAttribute::All => info.special_use = Some(SpecialUse::All),
            NameAttribute::Archive => info.special_use = Some(SpecialUse::Archive),
            NameAttribute::Drafts => info.special_use = Some(SpecialUse::Drafts),
            NameAttribute::Flagged => info.special_use = Some(SpecialUse::Flagged),
            NameAttribute::Junk => info.special_use = Some(SpecialUse::Junk),
            NameAttribute::Sent => info.special_use = Some(SpecialUse::Sent),
            NameAttribute::Trash => info.special_use = Some(SpecialUse::Trash),
            NameAttribute::Extension(ext) => match ext.to_ascii_lowercase().as_str() {
                "\\subscribed" => info.subscribed = true,
                "\\haschildren" => info.has_children = Some(true),
                "\\hasnochildren" => info.has_children = Some(false),
                "\\nonexistent" => info.selectable = false,
                _ => {}
            },
            _ => {}
        }
    }
    Some(info)
}

/// For servers without SPECIAL-USE: the names mail clients conventionally use.
fn guess_special_use(name: &MailboxName) -> Option<SpecialUse> {
    let full = name.as_str();
    let leaf = full.strip_prefix("INBOX/").unwrap_or(full).to_lowercase();
    match leaf.as_str() {
        "sent" | "sent items" | "sent messages" | "sent mail" => Some(SpecialUse::Sent),
        "trash" | "deleted items" | "deleted messages" | "bin" => Some(SpecialUse::Trash),
        "drafts" => Some(SpecialUse::Drafts),
        "junk" | "spam" | "junk e-mail" => Some(SpecialUse::Junk),
        "archive" | "archives" => Some(SpecialUse::Archive),
        _ => None,
    }
}

/// imap-proto 0.17 returns a quoted mailbox name with its escapes still in place
/// (`"a\\"b"` comes back as `a\\"b`). Undo them. (A server could in theory send a
/// *literal* containing a backslash-quote pair, which this would mangle; servers send
/// literals only for 8-bit names, and modified UTF-7 names are 7-bit.)
fn unescape_quoted(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
                continue;
            }
        }
        out.push(ch);
    }
    out
}

fn counters_from(status: &[StatusAttribute]) -> MailboxCounters {
    let mut counters = MailboxCounters::default();
    for item in status {
        match item {
            StatusAttribute::Messages(n) => counters.messages = Some(*n),
            StatusAttribute::Unseen(n) => counters.unseen = Some(*n),
            StatusAttribute::UidNext(n) => counters.uid_next = Some(*n),
            StatusAttribute::UidValidity(n) => counters.uid_validity = Some(*n),
            StatusAttribute::HighestModSeq(n) => counters.highest_modseq = Some(*n),
            _ => {}
        }
    }
    counters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_attributes_translate() {
        let attrs = vec![
            NameAttribute::Extension("\\Subscribed".into()),
            NameAttribute::Extension("\\HasNoChildren".into()),
            NameAttribute::Sent,
        ];
        let naming = Naming::default();
        let info = mailbox_from_list(&naming, "Sent", Some("/"), &attrs).unwrap();
        assert!(info.subscribed);
        assert_eq!(info.has_children, Some(false));
        assert_eq!(info.special_use, Some(SpecialUse::Sent));
        assert!(info.selectable);
        let placeholder =
            mailbox_from_list(&naming, "Projects", Some("/"), &[NameAttribute::NoSelect]).unwrap();
        assert!(!placeholder.selectable);
        let dotted = Naming::new("INBOX.", Some('.'));
        let cyrus = mailbox_from_list(&dotted, "INBOX.Projects.2026", Some("."), &[]).unwrap();
        assert_eq!(cyrus.name.as_str(), "Projects/2026");
        assert_eq!(cyrus.imap_name, "INBOX.Projects.2026");
        assert_eq!(cyrus.delimiter.as_deref(), Some("/"));
        assert_eq!(cyrus.imap_delimiter.as_deref(), Some("."));
        assert!(mailbox_from_list(&dotted, "user.bob", Some("."), &[]).is_none());
        assert!(mailbox_from_list(&naming, "a\r\nb", Some("/"), &[]).is_none());
    }

    #[test]
    fn unescapes_quoted_names() {
        assert_eq!(
            unescape_quoted(r#"a&-b \"quoted\" \\ {5}"#),
            r#"a&-b "quoted" \ {5}"#
        );
        assert_eq!(unescape_quoted("plain"), "plain");
    }

    #[test]
    fn guesses_roles_by_name_only_as_a_fallback() {
        let trash = MailboxName::try_from("INBOX/Trash").unwrap();
        assert_eq!(guess_special_use(&trash), Some(SpecialUse::Trash));
        let other = MailboxName::try_from("Projects/Trash talk").unwrap();
        assert_eq!(guess_special_use(&other), None);
    }
}
