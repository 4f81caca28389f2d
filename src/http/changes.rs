//! `GET /v1/mailboxes/{mailbox}/changes?since=STATE`: what happened in a mailbox since
//! a state token, computed live from IMAP's own change tracking (CONDSTORE
//! `CHANGEDSINCE` and QRESYNC `VANISHED (EARLIER)`), with no database.
//!
//! A state is (UIDVALIDITY, HIGHESTMODSEQ, UIDNEXT): the client knows every change up to
//! that mod-sequence for messages below that UID. The answer's own state is taken
//! from STATUS *before* the changes are read, and only changes up to it are reported,
//! so following the chain of states delivers each change once (a `destroyed` UID may
//! repeat; treat deletion as idempotent).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{AppQuery, MailboxPath};
use super::messages::summary_items;
use super::signed::MailboxState;
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::{ApiError, ImapResultExt as _, Op};
use crate::imap::{ImapSession, MailboxName, Uid, UidSet};
use crate::model::message::{normalize_flags, MessageSummary};
use crate::state::AppState;

/// Default and largest number of changes per answer.
pub const DEFAULT_CHANGES: usize = 100;
/// Largest `limit`.
pub const MAX_CHANGES: usize = 1000;

/// Query of the changes route.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// A `state` from a mailbox, a message list or a previous changes answer.
    pub since: String,
    /// Most created + updated items per answer (1-1000, default 100); `has_more` tells
    /// when to ask again with the returned `state`.
    pub limit: Option<usize>,
}

/// A message whose flags changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FlagsChange {
    /// The UID.
    pub uid: u32,
    /// The flags now.
    pub flags: Vec<String>,
    /// Its mod-sequence.
    pub modseq: u64,
}

/// What changed since a state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Changes {
    /// New messages, oldest first.
    pub created: Vec<MessageSummary>,
    /// Messages whose flags changed, in mod-sequence order.
    pub updated: Vec<FlagsChange>,
    /// UIDs of messages that were removed.
    pub destroyed: Vec<u32>,
    /// The state after these changes: pass it as `since` next time.
    pub state: String,
    /// More changes are waiting: ask again with `state` right away.
    pub has_more: bool,
}

fn resync(detail: &str) -> ApiError {
    ApiError::Conflict {
        detail: format!("{detail}: list the mailbox again from the start and use the new state"),
        slug: "resync-required",
    }
}

/// The mailbox's current state from STATUS.
pub(crate) async fn current_state(
    session: &mut ImapSession,
    mailbox: &MailboxName,
) -> Result<Option<MailboxState>, ApiError> {
    if !session.tracks_changes() {
        return Ok(None);
    }
    let counters = session.status(mailbox).await.during(Op::GetMailbox)?;
    Ok(
        match (
            counters.uid_validity,
            counters.highest_modseq,
            counters.uid_next,
        ) {
            (Some(uid_validity), Some(highest_modseq), Some(uid_next)) => Some(MailboxState {
                uid_validity,
                highest_modseq,
                uid_next,
                messages: counters.messages.unwrap_or_default(),
            }),
            _ => None,
        },
    )
}

/// The result of one changes computation, before it is rendered.
pub(crate) struct ChangeSet {
    pub(crate) created: Vec<MessageSummary>,
    pub(crate) updated: Vec<FlagsChange>,
    pub(crate) destroyed: Vec<u32>,
    pub(crate) state: MailboxState,
    pub(crate) has_more: bool,
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
) -> Result<ChangeSet, ApiError> {
    let now = fresh_state(session, mailbox)
        .await?
        .ok_or_else(|| resync("the IMAP server does not support CONDSTORE and QRESYNC"))?;
    if now.uid_validity != since.uid_validity {
        return Err(resync(
            "the mailbox's UIDVALIDITY changed (it was recreated)",
        ));
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
    let created =
        match UidSet::from_uids(created_uids.iter().filter_map(|u| Uid::try_from(*u).ok())) {
            Ok(set) => {
                let items = summary_items(session);
                let mut messages = session.fetch_uids(&set, &items).await.during(Op::Fetch)?;
                messages.sort_by_key(|m| m.uid);
                messages
                    .iter()
                    .map(|m| MessageSummary::from_fetch(m, now.uid_validity))
                    .collect()
            }
            Err(_) => Vec::new(),
        };
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
    })
}

/// Changes since a state: new messages (summaries), flag changes and removed UIDs.
///
/// Needs CONDSTORE and QRESYNC on the IMAP server; without them, or after the
/// mailbox's UIDVALIDITY changed, answers 409 with type `resync-required`: list the
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
    }))
}
