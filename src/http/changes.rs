//! `GET /v1/mailboxes/{mailbox}/changes?since=STATE`: what happened in a mailbox since
//! a state token, computed live from IMAP's own change tracking (CONDSTORE
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

use axum::extract::State;
use axum::Json;

use super::extract::{AppQuery, MailboxPath};
use super::imap_ops::{current_state, summary_items};
use super::signed::MailboxState;
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::{ApiError, ImapResultExt as _, Op};
use crate::imap::{ImapSession, MailboxName, Uid, UidSet};
use crate::model::changes::{Changes, ChangesQuery, FlagsChange};
use crate::model::message::{normalize_flags, MessageSummary};
use crate::state::AppState;

/// Default and largest number of changes per answer.
pub const DEFAULT_CHANGES: usize = 100;
/// Largest `limit`.
pub const MAX_CHANGES: usize = 1000;

/// Why the changes since a state could not be computed.
#[derive(Debug)]
pub(crate) enum ChangesError {
    /// The state cannot be continued from (the mailbox was recreated, the state is
    /// ahead of it, or a deletion cannot be named): the client must list the mailbox
    /// again. `/changes` answers 409 `resync-required`; event streams send
    /// `mailbox.reset`.
    Resync(&'static str),
    /// Anything else, as the request would answer it.
    Failed(ApiError),
}

impl From<ApiError> for ChangesError {
    fn from(err: ApiError) -> Self {
        Self::Failed(err)
    }
}

impl From<ChangesError> for ApiError {
    fn from(err: ChangesError) -> Self {
        match err {
            ChangesError::Resync(detail) => ApiError::Conflict {
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
pub(crate) struct ChangeSet {
    pub(crate) created: Vec<MessageSummary>,
    pub(crate) updated: Vec<FlagsChange>,
    pub(crate) destroyed: Vec<u32>,
    pub(crate) state: MailboxState,
    pub(crate) has_more: bool,
    pub(crate) flags_tracked: bool,
}

/// Selects `mailbox` and reads its current state. When the mailbox is already
/// selected, a NOOP goes first: STATUS on the selected mailbox reports this session's
/// view, which only a command brings up to date.
pub(crate) async fn fresh_state(
    session: &mut ImapSession,
    mailbox: &MailboxName,
) -> Result<Option<MailboxState>, ApiError> {
    session
        .select_fresh(mailbox, true)
        .await
        .during(Op::Select)?;
    current_state(session, mailbox).await
}

/// Computes the changes of `mailbox` since `since`, at most `limit` created +
/// updated items (selecting the mailbox first).
pub(crate) async fn compute_changes(
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
    let mut created_uids = Vec::new();
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
        let range = UidSet::range(since.uid_next, now.uid_next - 1)
            .map_err(|e| ApiError::bad_field("since", e.message))?;
        let found = session
            .search(&[crate::imap::search::SearchKey::Uid(range)])
            .await
            .during(Op::Search)?;
        let room = limit - updated.len();
        if found.len() > room {
            has_more = true;
            created_uids = found[..room].to_vec();
            state.uid_next = created_uids.last().map_or(since.uid_next, |last| last + 1);
        } else {
            created_uids = found;
        }
    }
    let created = summaries_of(session, &created_uids, now.uid_validity).await?;
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

/// Summaries of `uids` (ascending), for `created`.
pub(crate) async fn summaries_of(
    session: &mut ImapSession,
    uids: &[u32],
    uid_validity: u32,
) -> Result<Vec<MessageSummary>, ApiError> {
    let Ok(set) = UidSet::from_uids(uids.iter().filter_map(|u| Uid::try_from(*u).ok())) else {
        return Ok(Vec::new());
    };
    let items = summary_items(session);
    let mut messages = session.fetch_uids(&set, &items).await.during(Op::Fetch)?;
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
    use crate::imap::search::SearchKey;
    let known = match UidSet::range(1, since.uid_next.saturating_sub(1)) {
        Ok(range) => session
            .search(&[SearchKey::Uid(range)])
            .await
            .during(Op::Search)?
            .len(),
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
        Err(_) => Vec::new(),
    };
    // `UID n:*` also matches the last message when n is above every UID.
    let newer: Vec<u32> = newer
        .into_iter()
        .filter(|uid| *uid >= since.uid_next)
        .collect();
    let has_more = newer.len() > limit;
    let taken = &newer[..newer.len().min(limit)];
    let state = MailboxState {
        uid_validity: since.uid_validity,
        highest_modseq: 0,
        uid_next: match taken.last() {
            Some(last) if has_more => last + 1,
            Some(last) => now.uid_next.max(last + 1),
            None => now.uid_next.max(since.uid_next),
        },
        messages: known + u32::try_from(taken.len()).unwrap_or(u32::MAX),
    };
    Ok(ChangeSet {
        created: summaries_of(session, taken, since.uid_validity).await?,
        updated: Vec::new(),
        destroyed: Vec::new(),
        state,
        has_more,
        flags_tracked: false,
    })
}

/// Changes since a state: new messages (summaries), flag changes and removed UIDs.
///
/// Complete with CONDSTORE and QRESYNC on the IMAP server. Without them, only created
/// messages are reported (`flags_tracked: false`), and a deletion among the known
/// messages answers 409 `resync-required`, as does a changed UIDVALIDITY: list the
/// mailbox again and start from its new state.
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/changes", tag = "changes",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"), ChangesQuery),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "The changes", body = Changes), ProblemResponses))]
pub async fn get_changes(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppQuery(query): AppQuery<ChangesQuery>,
) -> Result<Json<Changes>, ApiError> {
    user.require(Scope::Read)?;
    let limit = query.limit.unwrap_or(DEFAULT_CHANGES);
    if !(1..=MAX_CHANGES).contains(&limit) {
        return Err(ApiError::unprocessable_field(
            "limit",
            format!("must be between 1 and {MAX_CHANGES}"),
        ));
    }
    let since = state
        .tokens_codec
        .decode_state("since", mailbox.wire(), &query.since)?;
    let mut session = state.session(&user).await?;
    let changes = compute_changes(&mut session, &mailbox, since, limit).await?;
    Ok(Json(Changes {
        created: changes.created,
        updated: changes.updated,
        destroyed: changes.destroyed,
        state: state
            .tokens_codec
            .encode_state(mailbox.wire(), &changes.state),
        has_more: changes.has_more,
        flags_tracked: changes.flags_tracked,
    }))
}
