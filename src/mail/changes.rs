//! What happened in a mailbox since a state token (`/changes`, and event streams on
//! servers with CONDSTORE): computed
//! live from IMAP's own change tracking (CONDSTORE
//! `CHANGEDSINCE` and QRESYNC `VANISHED (EARLIER)`), with no database.
//!
//! A state is (UIDVALIDITY, HIGHESTMODSEQ, UIDNEXT): the client knows every change up to
//! that mod-sequence for messages below that UID. The answer's own state is taken
//! from STATUS *before* the changes are read, and only changes up to it are reported,
//! so following the chain of states delivers each change once (a `destroyed` UID may
//! repeat; treat deletion as idempotent).
//!
//! Servers without CONDSTORE/QRESYNC (Courier) get states too, with mod-sequence 0:
//! (UIDVALIDITY, UIDNEXT, message count). From those the gateway can prove which
//! messages were created (UIDs at or above UIDNEXT) and that none of the known ones
//! was deleted (their count is unchanged); flag changes cannot be seen, so the answer
//! says `flags_tracked: false`, and a deletion, which it cannot name, is a 409
//! `resync-required`. `/v1/events` does see flag changes and deletions there.

use super::error::{ImapResultExt as _, MailError, Op};
use super::open::{current_state, select, summary_items};
use super::tokens::{MailboxState, TokenCodec};
use crate::imap::search::SearchKey;
use crate::imap::{ImapSession, MailboxName, UidSet};
use crate::model::changes::{Changes, ChangesQuery, FlagsChange};
use crate::model::message::{normalize_flags, MessageSummary};

/// Default and largest number of changes per answer.
pub const DEFAULT_CHANGES: usize = 100;
/// Largest `limit`.
pub const MAX_CHANGES: usize = 1000;

/// Why the changes since a state could not be computed.
#[derive(Debug)]
pub enum ChangesError {
    /// The state cannot be continued from (the mailbox was recreated, the state is
    /// ahead of it, or a deletion cannot be named): the client must list the mailbox
    /// again. `/changes` answers 409 `resync-required`; event streams send
    /// `mailbox.reset`.
    Resync(&'static str),
    /// Anything else.
    Failed(MailError),
}

impl From<MailError> for ChangesError {
    fn from(err: MailError) -> Self {
        Self::Failed(err)
    }
}

impl From<ChangesError> for MailError {
    fn from(err: ChangesError) -> Self {
        match err {
            ChangesError::Resync(detail) => MailError::Conflict {
                detail: format!(
                    "{detail}: list the mailbox again from the start and use the new state"
                ),
                slug: "resync-required",
            },
            ChangesError::Failed(err) => err,
        }
    }
}

fn resync(detail: &'static str) -> ChangesError {
    ChangesError::Resync(detail)
}

/// The result of one changes computation, before it is rendered.
#[derive(Debug)]
pub struct ChangeSet {
    /// Summaries of the messages created.
    pub created: Vec<MessageSummary>,
    /// Flag changes.
    pub updated: Vec<FlagsChange>,
    /// UIDs removed.
    pub destroyed: Vec<u32>,
    /// The state these changes bring the client to.
    pub state: MailboxState,
    /// More changes follow from `state`.
    pub has_more: bool,
    /// False when the server cannot report flag changes (no CONDSTORE).
    pub flags_tracked: bool,
}

/// Selects `mailbox` and reads its current state. When the mailbox is already
/// selected, a NOOP goes first: STATUS on the selected mailbox reports this session's
/// view, which only a command brings up to date.
pub async fn fresh_state(
    session: &mut ImapSession,
    mailbox: &MailboxName,
) -> Result<Option<MailboxState>, MailError> {
    session
        .select_fresh(mailbox, true)
        .await
        .during(Op::Select)?;
    current_state(session, mailbox).await
}

/// Computes the changes of `mailbox` since `since`, at most `limit` created +
/// updated items (selecting the mailbox first).
pub async fn compute_changes(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    since: MailboxState,
    limit: usize,
) -> Result<ChangeSet, ChangesError> {
    let now = fresh_state(session, mailbox)
        .await?
        .ok_or_else(|| resync("the IMAP server did not report the mailbox's state"))?;
    if now.uid_validity != since.uid_validity {
        return Err(resync(
            "the mailbox's UIDVALIDITY changed (it was recreated)",
        ));
    }
    if now.highest_modseq == 0 || since.highest_modseq == 0 {
        if now.highest_modseq != since.highest_modseq {
            return Err(resync(
                "the state was taken while the IMAP server tracked changes differently",
            ));
        }
        return created_since(session, since, now, limit).await;
    }
    if since.highest_modseq > now.highest_modseq || since.uid_next > now.uid_next {
        return Err(resync("the state is ahead of the mailbox"));
    }
    // Changes among the messages the client knows (UID < since.uid_next).
    let known = (since.uid_next > 1)
        .then(|| UidSet::range(1, since.uid_next - 1))
        .transpose()
        .ok()
        .flatten();
    let (mut changed, vanished) = match &known {
        Some(range) => session
            .changed_since(range, since.highest_modseq)
            .await
            .during(Op::Fetch)?,
        None => (Vec::new(), Vec::new()),
    };
    changed.retain(|m| m.modseq.is_some_and(|modseq| modseq <= now.highest_modseq));
    changed.sort_by_key(|m| m.modseq);
    let mut destroyed: Vec<u32> = vanished
        .into_iter()
        .filter(|uid| *uid < since.uid_next)
        .collect();

    let mut state = now;
    let mut has_more = false;
    let mut updated = changed;
    let mut created_uids = None;
    if updated.len() > limit {
        // Page through updates by mod-sequence; keep ties together so none is skipped.
        let cut = updated[limit - 1].modseq.unwrap_or_default();
        updated.retain(|m| m.modseq.unwrap_or_default() <= cut);
        has_more = true;
        state.highest_modseq = cut;
        state.uid_next = since.uid_next;
        // Only the expunges up to `cut` belong to this page.
        if let Some(range) = &known {
            let (_, later) = session.changed_since(range, cut).await.during(Op::Fetch)?;
            destroyed.retain(|uid| later.binary_search(uid).is_err());
        }
    } else if now.uid_next > since.uid_next {
        let range = UidSet::range(since.uid_next, now.uid_next - 1).map_err(MailError::from)?;
        let found = session
            .search(&[SearchKey::Uid(range)])
            .await
            .during(Op::Search)?;
        let room = limit - updated.len();
        created_uids = match found {
            Some(found) if found.len() > room && room > 0 => {
                has_more = true;
                let taken = found.oldest(room);
                state.uid_next = taken.last() + 1;
                Some(taken)
            }
            Some(_) if room == 0 => {
                has_more = true;
                state.uid_next = since.uid_next;
                None
            }
            found => found,
        };
    }
    let created = summaries_of(session, created_uids.as_ref(), now.uid_validity).await?;
    let updated = updated
        .into_iter()
        .map(|m| FlagsChange {
            uid: m.uid,
            flags: normalize_flags(m.flags.iter().flatten()),
            modseq: m.modseq.unwrap_or_default(),
        })
        .collect();
    Ok(ChangeSet {
        created,
        updated,
        destroyed,
        state,
        has_more,
        flags_tracked: true,
    })
}

/// Summaries of `uids` of the selected mailbox, ascending.
async fn summaries_of(
    session: &mut ImapSession,
    uids: Option<&UidSet>,
    uid_validity: u32,
) -> Result<Vec<MessageSummary>, MailError> {
    let Some(set) = uids else {
        return Ok(Vec::new());
    };
    let items = summary_items(session);
    let mut messages = session.fetch_uids(set, &items).await.during(Op::Fetch)?;
    messages.sort_by_key(|m| m.uid);
    Ok(messages
        .iter()
        .map(|m| MessageSummary::from_fetch(m, uid_validity))
        .collect())
}

/// The changes a server without CONDSTORE lets the gateway prove: messages created
/// since `since` (UIDs from its UIDNEXT on), provided none of the known messages was
/// deleted (their count is what it was); otherwise 409 `resync-required`. The
/// mailbox is selected (by [`fresh_state`]).
async fn created_since(
    session: &mut ImapSession,
    since: MailboxState,
    now: MailboxState,
    limit: usize,
) -> Result<ChangeSet, ChangesError> {
    let known = match UidSet::range(1, since.uid_next.saturating_sub(1)) {
        Ok(range) => session
            .search(&[SearchKey::Uid(range)])
            .await
            .during(Op::Search)?
            .map_or(0, |set| set.len()),
        Err(_) => 0,
    };
    let known = u32::try_from(known).unwrap_or(u32::MAX);
    if known != since.messages {
        return Err(resync(
            "messages were deleted, and without CONDSTORE the IMAP server cannot say which",
        ));
    }
    let newer = match UidSet::range(since.uid_next.max(1), u32::MAX) {
        Ok(range) => session
            .search(&[SearchKey::Uid(range)])
            .await
            .during(Op::Search)?,
        Err(_) => None,
    };
    // `UID n:*` also matches the last message when n is above every UID.
    let newer = newer.and_then(|set| set.at_or_above(since.uid_next));
    let has_more = newer.as_ref().is_some_and(|set| set.len() > limit);
    let taken = newer.map(|set| set.oldest(limit));
    let taken_count = taken.as_ref().map_or(0, UidSet::len);
    let state = MailboxState {
        uid_validity: since.uid_validity,
        highest_modseq: 0,
        uid_next: match taken.as_ref().map(UidSet::last) {
            Some(last) if has_more => last + 1,
            Some(last) => now.uid_next.max(last + 1),
            None => now.uid_next.max(since.uid_next),
        },
        messages: known + u32::try_from(taken_count).unwrap_or(u32::MAX),
    };
    Ok(ChangeSet {
        created: summaries_of(session, taken.as_ref(), since.uid_validity).await?,
        updated: Vec::new(),
        destroyed: Vec::new(),
        state,
        has_more,
        flags_tracked: false,
    })
}

/// A validated `/changes` request.
#[derive(Debug, Clone)]
pub struct ChangesRequest {
    since: MailboxState,
    limit: usize,
}

impl ChangesRequest {
    /// Opens the `since` token (issued for `mailbox`) and checks the limit.
    ///
    /// # Errors
    /// A token that is not ours or for another mailbox (400); a limit outside
    /// 1..=[`MAX_CHANGES`] (422).
    pub fn parse(
        codec: &TokenCodec,
        mailbox: &MailboxName,
        query: &ChangesQuery,
    ) -> Result<Self, MailError> {
        let limit = query.limit.unwrap_or(DEFAULT_CHANGES);
        if !(1..=MAX_CHANGES).contains(&limit) {
            return Err(MailError::unacceptable(
                "limit",
                format!("must be between 1 and {MAX_CHANGES}"),
            ));
        }
        let since = codec.decode_state("since", mailbox.wire(), &query.since)?;
        Ok(Self { since, limit })
    }
}

/// The changes of `mailbox` since the request's state, with the state to continue
/// from.
///
/// # Errors
/// [`ChangesError::Resync`] when the state cannot be continued from; IMAP failures.
pub async fn changes_since(
    codec: &TokenCodec,
    session: &mut ImapSession,
    mailbox: &MailboxName,
    request: &ChangesRequest,
) -> Result<Changes, ChangesError> {
    let changes = compute_changes(session, mailbox, request.since, request.limit).await?;
    Ok(Changes {
        created: changes.created,
        updated: changes.updated,
        destroyed: changes.destroyed,
        state: codec.encode_state(mailbox.wire(), &changes.state),
        has_more: changes.has_more,
        flags_tracked: changes.flags_tracked,
    })
}

/// Where an event stream starts: the current state of each of `mailboxes`, or
/// `None` on a server that does not track changes (the stream then starts from its
/// watchers' snapshots).
///
/// # Errors
/// IMAP failures; a server that reports no state for a mailbox.
pub async fn starting_states(
    session: &mut ImapSession,
    mailboxes: &[MailboxName],
) -> Result<Option<Vec<MailboxState>>, MailError> {
    if !session.tracks_changes() {
        return Ok(None);
    }
    let mut states = Vec::new();
    for mailbox in mailboxes {
        let current = fresh_state(session, mailbox).await?.ok_or_else(|| {
            MailError::imap(
                Op::Fetch,
                crate::imap::ImapError::Protocol("STATUS without the mailbox's state".to_owned()),
            )
        })?;
        states.push(current);
    }
    Ok(Some(states))
}

/// Summaries of the messages `uids` of `mailbox` (UIDs that no longer exist are
/// left out), for events about messages a watcher saw created.
///
/// # Errors
/// IMAP failures.
pub async fn summaries_in(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    uids: &[u32],
    uid_validity: u32,
) -> Result<Vec<MessageSummary>, MailError> {
    select(session, mailbox, true).await?;
    let set = UidSet::from_uids(
        uids.iter()
            .filter_map(|uid| crate::imap::Uid::try_from(*uid).ok()),
    )
    .ok();
    summaries_of(session, set.as_ref(), uid_validity).await
}
