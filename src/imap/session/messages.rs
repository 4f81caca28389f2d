//! Message operations of [`ImapSession`] on the selected mailbox: FETCH (by UID, by
//! sequence for the newest page, all flags for watchers, CHANGEDSINCE), SEARCH,
//! STORE, COPY, MOVE (or COPY + UID EXPUNGE), UID EXPUNGE and APPEND, with a view
//! that is refreshed when a command finds it out of date.

use std::num::NonZeroU32;

/// Most expunged UIDs one VANISHED (EARLIER) answer may report (4 MB expanded).
const MAX_VANISHED: u64 = 1_000_000;

use async_imap::imap_proto::{MailboxDatum, Response};

use super::super::code::RespCode;
use super::super::command::{Command, FetchItem, SortKey, StoreMode, ThreadAlgorithm};
use super::super::completion::Completion;
use super::super::date::InternalDate;
use super::super::error::ImapError;
use super::super::esearch::parse_esearch_all;
use super::super::fetched::{fetched_message, push_fetched, FetchedMessage};
use super::super::flag::Flag;
use super::super::search::SearchKey;
use super::super::thread::{parse_threads, Thread};
use super::super::types::{MailboxName, ValidationError};
use super::super::uid::{Uid, UidSet};
use super::mailboxes::Refused;
use super::{ImapSession, SelectedMailbox};

impl ImapSession {
    /// Looks at the `result` of a command on the selected mailbox: `Some` value, or
    /// `None` when the caller should run the command once more. Cyrus refuses a
    /// command on a selected mailbox that another client deleted with a code-less
    /// `NO Mailbox does not exist` (Dovecot with `NO [SERVERBUG]` while the deletion
    /// is under way), also when the mailbox was created again since. On
    /// the first attempt (`may_retry`) such a refusal selects the mailbox again: that
    /// fails with NONEXISTENT when it is gone, gives the same mailbox back to retry
    /// on, or, when the name now holds another mailbox (a new UIDVALIDITY), fails
    /// with [`ImapError::UidValidityChanged`] rather than run a UID command on
    /// messages nobody named.
    pub(super) async fn in_selected<T>(
        &mut self,
        result: Result<T, ImapError>,
        may_retry: bool,
    ) -> Result<Option<T>, ImapError> {
        match (result, self.selected.take()) {
            (Ok(value), selected) => {
                self.selected = selected;
                Ok(Some(value))
            }
            (
                Err(ImapError::No {
                    code: None | Some(RespCode::ServerBug),
                    ..
                }),
                Some(selected),
            ) if may_retry => {
                let now = self
                    .ensure_selected(&selected.name, selected.read_only)
                    .await?
                    .uid_validity;
                // The same name may now be another mailbox: its UIDs would name
                // other messages, so the command is only run again on the same one.
                match (selected.uid_validity, now) {
                    (Some(was), Some(now)) if was != now => {
                        Err(ImapError::UidValidityChanged { was, now })
                    }
                    _ => Ok(None),
                }
            }
            (Err(err), selected) => {
                self.selected = selected;
                Err(err)
            }
        }
    }

    /// Runs a FETCH and collects the messages it returned (unsolicited FETCHes for
    /// other messages, which lack a UID, are skipped).
    pub(super) async fn collect_fetch(
        &mut self,
        command: Command<'_>,
    ) -> Result<Vec<FetchedMessage>, ImapError> {
        self.collect_fetch_as(command, &mut |message| message).await
    }

    /// [`Self::collect_fetch`], with each message turned into a `T` as soon as its
    /// response is read, while the server is still sending the next ones.
    async fn collect_fetch_as<T: Send>(
        &mut self,
        command: Command<'_>,
        convert: &mut (impl FnMut(FetchedMessage) -> T + Send),
    ) -> Result<Vec<T>, ImapError> {
        for attempt in 0..2 {
            let mut messages = Vec::new();
            let result = self
                .execute_with(command, |response| {
                    if let Some(message) = fetched_message(response) {
                        messages.push(convert(message));
                    }
                })
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
        self.fetch_uids_as(uids, items, |message| message).await
    }

    /// [`Self::fetch_uids`], with each message turned into a `T` as soon as its
    /// response is read (see [`Self::newest_messages`]).
    ///
    /// # Errors
    /// Server or connection errors.
    pub async fn fetch_uids_as<T: Send>(
        &mut self,
        uids: &UidSet,
        items: &[FetchItem<'_>],
        mut convert: impl FnMut(FetchedMessage) -> T + Send,
    ) -> Result<Vec<T>, ImapError> {
        let command = Command::UidFetch(uids, items);
        let messages = self.collect_fetch_as(command, &mut convert).await?;
        if self.may_be_stale(uids, messages.len()) {
            self.refresh_view().await?;
            return self.collect_fetch_as(command, &mut convert).await;
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
    pub(super) fn may_be_stale(&self, uids: &UidSet, found: usize) -> bool {
        let named: u64 = uids
            .ranges()
            .iter()
            .map(|(first, last)| u64::from(last - first) + 1)
            .sum();
        !self.view_is_current && (found as u64) < named
    }

    /// NOOP, so the server reports what changed in the selected mailbox.
    pub(super) async fn refresh_view(&mut self) -> Result<(), ImapError> {
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
    /// [`ImapError::Invalid`] unless `1 <= first <= last` (sequence numbers start at
    /// 1); server or connection errors.
    pub async fn fetch_sequence(
        &mut self,
        first: u32,
        last: u32,
        items: &[FetchItem<'_>],
    ) -> Result<Vec<FetchedMessage>, ImapError> {
        let (Some(first), Some(last)) = (NonZeroU32::new(first), NonZeroU32::new(last)) else {
            return Err(ImapError::Invalid(ValidationError::new(
                "sequence",
                "message sequence numbers start at 1",
            )));
        };
        if first > last {
            return Err(ImapError::Invalid(ValidationError::new(
                "sequence",
                "a range is first:last with first <= last",
            )));
        }
        self.collect_fetch(Command::FetchSeq(first, last, items))
            .await
    }

    /// The newest `count` messages of `name` (EXAMINEd unless selected), oldest
    /// first, and the session's view of the mailbox afterwards. One FETCH by sequence
    /// number when the mailbox is already selected; no NOOP first: on servers that
    /// report changes with any command the FETCH's answer announces new mail
    /// (EXISTS), which is then fetched too, so the page always reaches the newest
    /// message (servers that report changes only at NOOP got one at checkout). An
    /// expunge by another client shows from the next command on: IMAP forbids
    /// announcing it during a FETCH by sequence number.
    ///
    /// # Errors
    /// Server or connection errors; [`ImapError::ConnectionLost`] when the server
    /// dropped the selection meanwhile (the mailbox was deleted or recreated).
    ///
    /// Each message is turned into a `T` by `convert` as soon as its response is
    /// read, so that work overlaps the server sending the rest of the page instead of
    /// following it (`uid_of` tells a `T`'s UID).
    pub async fn newest_messages<T: Send>(
        &mut self,
        name: &MailboxName,
        count: u32,
        items: &[FetchItem<'_>],
        mut convert: impl FnMut(FetchedMessage) -> T + Send,
        uid_of: impl Fn(&T) -> u32 + Send,
    ) -> Result<(Vec<T>, SelectedMailbox), ImapError> {
        let count = count.max(1);
        let mut known = self.ensure_selected(name, true).await?.exists.unwrap_or(0);
        if known == 0 && !self.view_is_current {
            // Nothing to FETCH, so nothing would bring news of mail that arrived since
            // this session last looked: ask.
            self.refresh_view().await?;
            known = self.selected.as_ref().and_then(|s| s.exists).unwrap_or(0);
        }
        let mut messages = Vec::new();
        let mut first = known.saturating_sub(count - 1).max(1);
        while first <= known {
            let (Some(low), Some(high)) = (NonZeroU32::new(first), NonZeroU32::new(known)) else {
                break;
            };
            messages.extend(
                self.collect_fetch_as(Command::FetchSeq(low, high, items), &mut convert)
                    .await?,
            );
            let now = self
                .selected
                .as_ref()
                .filter(|selected| &selected.name == name)
                .ok_or(ImapError::ConnectionLost)?
                .exists
                .unwrap_or(0);
            // New mail announced during the FETCH: fetch what is now the top too.
            first = (known + 1).max(now.saturating_sub(count - 1));
            known = now;
        }
        messages.sort_by_key(&uid_of);
        messages.dedup_by_key(|m| uid_of(m));
        let keep = messages.len().saturating_sub(count as usize);
        messages.drain(..keep);
        let view = self
            .selected
            .clone()
            .filter(|selected| &selected.name == name)
            .ok_or(ImapError::ConnectionLost)?;
        Ok((messages, view))
    }

    /// True when messages have mod-sequences (CONDSTORE): MODSEQ can be fetched and
    /// a STORE can be made conditional (UNCHANGEDSINCE).
    pub fn has_modseqs(&self) -> bool {
        self.profile.capabilities.has("CONDSTORE")
    }

    /// True when COPY and MOVE report the new UIDs (UIDPLUS COPYUID).
    pub fn reports_copied_uids(&self) -> bool {
        self.profile.capabilities.has("UIDPLUS")
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
        let mut vanished_count = 0u64;
        let (first, last) = (uids.first(), uids.last());
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
                uids: ranges,
            } => {
                // Server text, so bounded: a range may come reversed (`5:3`), and
                // RFC 7162 lets a server name UIDs that never existed, so each is
                // clipped to the UIDs asked about before it is expanded, and the
                // total is capped.
                for range in ranges {
                    let (low, high) = (
                        (*range.start()).min(*range.end()).max(first),
                        (*range.start()).max(*range.end()).min(last),
                    );
                    if low <= high {
                        vanished_count += u64::from(high - low) + 1;
                        if vanished_count <= MAX_VANISHED {
                            vanished.extend(low..=high);
                        }
                    }
                }
            }
            _ => {}
        })
        .await?;
        if vanished_count > MAX_VANISHED {
            return Err(ImapError::Protocol(format!(
                "the server reported more than {MAX_VANISHED} expunged UIDs at once"
            )));
        }
        vanished.sort_unstable();
        vanished.dedup();
        Ok((messages, vanished))
    }

    /// The threads of the selected mailbox (`UID THREAD`, RFC 5256), or of its
    /// messages below `below_uid`: REFERENCES where advertised (all three tested
    /// servers have it), else REFS.
    ///
    /// # Errors
    /// [`ImapError::Unsupported`] when the server offers neither; a malformed answer;
    /// server or connection errors.
    pub async fn threads(
        &mut self,
        below_uid: Option<u32>,
    ) -> Result<(ThreadAlgorithm, Vec<Thread>), ImapError> {
        let caps = &self.profile.capabilities;
        let algorithm = if caps.has("THREAD=REFERENCES") {
            ThreadAlgorithm::References
        } else if caps.has("THREAD=REFS") {
            ThreadAlgorithm::Refs
        } else {
            return Err(ImapError::Unsupported("THREAD=REFERENCES or THREAD=REFS"));
        };
        let range = match below_uid {
            Some(0 | 1) => return Ok((algorithm, Vec::new())),
            Some(below) => Some(UidSet::range(1, below - 1)?),
            None => None,
        };
        let lines = self
            .execute_raw(Command::UidThread(algorithm, range.as_ref()), "THREAD")
            .await?;
        let mut threads = Vec::new();
        for line in &lines {
            threads.extend(parse_threads(line)?);
        }
        Ok((algorithm, threads))
    }

    /// `UID SORT` (RFC 5256): the UIDs matching `keys`, in the order of `key`
    /// (descending when `reverse`; ties in arrival order).
    ///
    /// # Errors
    /// [`ImapError::Unsupported`] without SORT; server or connection errors.
    pub async fn sort(
        &mut self,
        key: SortKey,
        reverse: bool,
        keys: &[SearchKey],
    ) -> Result<Vec<u32>, ImapError> {
        if !self.profile.capabilities.has("SORT") {
            return Err(ImapError::Unsupported("SORT"));
        }
        let mut uids = Vec::new();
        self.execute_with(Command::UidSort { key, reverse, keys }, |response| {
            if let Response::MailboxData(MailboxDatum::Sort(found)) = response {
                uids.extend_from_slice(found);
            }
        })
        .await?;
        Ok(uids)
    }

    /// Whether a search goes as ESEARCH (RFC 4731): the matches come as one sequence
    /// set instead of one number each (a few bytes instead of hundreds of KB for a
    /// large result). Needs LITERAL+ when a key is sent as a literal, since the answer
    /// is read raw.
    fn uses_esearch(&self, keys: &[SearchKey]) -> bool {
        let caps = &self.profile.capabilities;
        caps.has("ESEARCH")
            && (caps.has("LITERAL+")
                || keys
                    .iter()
                    .filter_map(SearchKey::text)
                    .all(|text| text.as_str().bytes().all(|b| (0x20..0x7f).contains(&b))))
    }

    /// `UID SEARCH`: the matching UIDs, `None` when nothing matches.
    ///
    /// # Errors
    /// `No { BadCharset }` and friends.
    pub async fn search(&mut self, keys: &[SearchKey]) -> Result<Option<UidSet>, ImapError> {
        let esearch = self.uses_esearch(keys);
        for attempt in 0..2 {
            let result = if esearch {
                self.search_extended(keys).await
            } else {
                self.search_plain(keys).await
            };
            if let Some(found) = self.in_selected(result, attempt == 0).await? {
                return self.no_more_than_exist(found);
            }
        }
        // `in_selected` asks for another try on the first attempt only.
        Err(ImapError::Protocol(
            "SEARCH found no selected mailbox twice".to_owned(),
        ))
    }

    /// A search answer naming more messages than the mailbox holds is a server's
    /// error (a server announces new messages before it reports them): refused,
    /// rather than passed on as a count or a bulk operation's size. An ESEARCH range
    /// costs nothing to claim (`1:4294967295`).
    fn no_more_than_exist(&mut self, found: Option<UidSet>) -> Result<Option<UidSet>, ImapError> {
        let exists = self.selected.as_ref().and_then(|s| s.exists);
        match (&found, exists) {
            (Some(set), Some(exists)) if set.len() > exists as usize => {
                // The session's view of the mailbox can no longer be trusted.
                self.broken = true;
                Err(ImapError::Protocol(format!(
                    "the SEARCH answer names {} messages in a mailbox of {exists}",
                    set.len()
                )))
            }
            _ => Ok(found),
        }
    }

    /// `UID SEARCH RETURN (ALL)` (ESEARCH), read raw: the matches as one set.
    async fn search_extended(&mut self, keys: &[SearchKey]) -> Result<Option<UidSet>, ImapError> {
        let lines = self
            .execute_raw(Command::UidSearchAll(keys), "ESEARCH")
            .await?;
        let mut found: Option<UidSet> = None;
        for line in &lines {
            if let Some(set) = parse_esearch_all(line)? {
                found = Some(match found {
                    Some(before) => before.union(&set),
                    None => set,
                });
            }
        }
        Ok(found.filter(|set| !set.is_empty()))
    }

    /// `UID SEARCH`: one number per match.
    async fn search_plain(&mut self, keys: &[SearchKey]) -> Result<Option<UidSet>, ImapError> {
        let mut uids = Vec::new();
        self.execute_with(Command::UidSearch(keys), |response| {
            if let Response::MailboxData(MailboxDatum::Search(found)) = response {
                uids.extend_from_slice(found);
            }
        })
        .await?;
        // A server's SEARCH answer never holds UID 0; skip one rather than fail.
        Ok(UidSet::from_uids(uids.into_iter().filter_map(|uid| Uid::try_from(uid).ok())).ok())
    }

    /// `UID STORE` (not silent: the new flags come back), with an optional CONDSTORE
    /// guard. Returns the messages' new flags/modseq and the `[MODIFIED]` set. Name
    /// only UIDs this checkout has just found with a FETCH or SEARCH.
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
            (Some((locks, account)), Some(selected))
                if self.profile.reports_changes_only_at_noop() =>
            {
                let guard = locks.acquire(account.clone(), &selected.name).await;
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
        // No retry when fewer FETCH answers came back than UIDs were named: servers
        // leave out messages whose flags did not change (Dovecot), and every caller
        // has just found the UIDs with a FETCH or SEARCH, which brought this session's
        // view up to date with them.
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
    pub(super) fn copied_nothing(&self, completion: &Completion) -> bool {
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
}
