//! IMAP operations that several handlers share: checking out a session and selecting
//! a mailbox, the summary FETCH items, fetching one message, the mailbox's state
//! token, validating flag lists. Handlers import these; this module imports no
//! handler, so the handler files do not depend on each other. (The service layer of
//! issue 11 is where these belong next.)

use super::signed::MailboxState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ImapResultExt as _, Op};
use crate::imap::command::{FetchItem, Section};
use crate::imap::session::{FetchedMessage, SelectedMailbox};
use crate::imap::{Flag, ImapSession, MailboxName, PooledSession, Uid, UidSet};
use crate::state::AppState;

/// The FETCH items of a summary.
pub(crate) fn summary_items(session: &ImapSession) -> Vec<FetchItem<'static>> {
    let mut items = vec![
        FetchItem::Uid,
        FetchItem::Flags,
        FetchItem::InternalDate,
        FetchItem::Size,
        FetchItem::BodyStructure,
        FetchItem::Body(Section::Header, None),
    ];
    if session.has_modseqs() {
        items.push(FetchItem::ModSeq);
    }
    items
}

/// Selects `mailbox` (EXAMINE for reads), mapping errors.
pub(crate) async fn select(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    read_only: bool,
) -> Result<SelectedMailbox, ApiError> {
    let selected = session
        .ensure_selected(mailbox, read_only)
        .await
        .during(Op::Select)?;
    Ok(selected.clone())
}

/// Checks out the caller's session and selects `mailbox` (EXAMINE for reads);
/// returns the session and the mailbox's UIDVALIDITY.
pub(crate) async fn open_mailbox(
    state: &AppState,
    user: &AuthUser,
    mailbox: &MailboxName,
    read_only: bool,
) -> Result<(PooledSession, u32), ApiError> {
    let mut session = state.session(user).await?;
    let selected = select(&mut session, mailbox, read_only).await?;
    let uid_validity = uid_validity(&selected)?;
    Ok((session, uid_validity))
}

pub(crate) fn uid_validity(selected: &SelectedMailbox) -> Result<u32, ApiError> {
    selected.uid_validity.ok_or_else(|| {
        ApiError::imap(
            Op::Select,
            crate::imap::ImapError::Protocol("SELECT without UIDVALIDITY".to_owned()),
        )
    })
}

pub(crate) fn message_not_found(uid: Uid) -> ApiError {
    ApiError::NotFound {
        detail: format!("there is no message with UID {uid} in this mailbox"),
    }
}

/// Fetches one message's summary items (and BODYSTRUCTURE).
pub(crate) async fn fetch_one(
    session: &mut ImapSession,
    uid: Uid,
    items: &[FetchItem<'_>],
) -> Result<FetchedMessage, ApiError> {
    session
        .fetch_uids(&UidSet::single(uid), items)
        .await
        .during(Op::Fetch)?
        .into_iter()
        .find(|m| m.uid == uid.get())
        .ok_or_else(|| message_not_found(uid))
}

/// The mailbox's current state from STATUS (mod-sequence 0 on servers without
/// CONDSTORE/QRESYNC).
pub(crate) async fn current_state(
    session: &mut ImapSession,
    mailbox: &MailboxName,
) -> Result<Option<MailboxState>, ApiError> {
    let tracks_changes = session.tracks_changes();
    let counters = session.status(mailbox).await.during(Op::GetMailbox)?;
    let highest_modseq = if tracks_changes {
        counters.highest_modseq
    } else {
        Some(0)
    };
    Ok(
        match (counters.uid_validity, highest_modseq, counters.uid_next) {
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

/// Validates a request's flag list (at most 50, each a system flag or a keyword atom).
pub(crate) fn parse_flag_list(
    field: &'static str,
    flags: &[String],
) -> Result<Vec<Flag>, ApiError> {
    if flags.len() > 50 {
        return Err(ApiError::unprocessable_field(field, "at most 50 flags"));
    }
    flags
        .iter()
        .map(|f| {
            Flag::try_from(f.as_str()).map_err(|e| ApiError::unprocessable_field(field, e.message))
        })
        .collect()
}
