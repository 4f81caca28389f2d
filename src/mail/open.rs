//! What most mail operations start with: selecting the mailbox, the FETCH items of
//! a summary, fetching one message, the mailbox's change-tracking state, and
//! validating a request's flag list.

use super::error::{ImapResultExt as _, MailError, Op};
use super::tokens::MailboxState;
use crate::imap::session::{FetchedMessage, SelectedMailbox};
use crate::imap::{
    FetchItem, Flag, ImapSession, MailboxName, Section, Uid, UidSet, ValidationError,
};

/// Most flags one request may name.
pub const MAX_FLAGS: usize = 50;

/// The FETCH items of a summary (MODSEQ on servers with mod-sequences).
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

/// Selects `mailbox` (EXAMINE for reads).
pub(crate) async fn select(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    read_only: bool,
) -> Result<SelectedMailbox, MailError> {
    let selected = session
        .ensure_selected(mailbox, read_only)
        .await
        .during(Op::Select)?;
    Ok(selected.clone())
}

/// Selects `mailbox` (EXAMINE for reads) and returns its UIDVALIDITY.
pub(crate) async fn open(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    read_only: bool,
) -> Result<u32, MailError> {
    let selected = select(session, mailbox, read_only).await?;
    uid_validity(&selected)
}

/// Selects `mailbox` for a change by UID and checks, when the client said which
/// UIDVALIDITY its UIDs belong to (`?uid_validity=`), that it is still the
/// mailbox's.
///
/// # Errors
/// 409 `uid-validity-changed` when it is not (nothing is changed); as [`open`].
pub(crate) async fn open_for_uids(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    read_only: bool,
    expected: Option<u32>,
) -> Result<u32, MailError> {
    let now = open(session, mailbox, read_only).await?;
    match expected {
        Some(was) if was != now => Err(super::error::uid_validity_changed(was, now)),
        _ => Ok(now),
    }
}

/// EXAMINEs `mailbox`, or brings the session's view of it up to date when it is
/// selected already (`ImapSession::select_fresh`), and returns the view and its
/// UIDVALIDITY: what every read that must see other sessions' changes starts with.
pub(crate) async fn examine_fresh(
    session: &mut ImapSession,
    mailbox: &MailboxName,
) -> Result<(SelectedMailbox, u32), MailError> {
    let selected = session
        .select_fresh(mailbox, true)
        .await
        .during(Op::Select)?;
    let validity = uid_validity(&selected)?;
    Ok((selected, validity))
}

/// The UIDVALIDITY a SELECT reported (a server that reports none is broken).
pub(crate) fn uid_validity(selected: &SelectedMailbox) -> Result<u32, MailError> {
    selected.uid_validity.ok_or_else(|| {
        MailError::imap(
            Op::Select,
            crate::imap::ImapError::Protocol("SELECT without UIDVALIDITY".to_owned()),
        )
    })
}

/// 404 for a UID the selected mailbox does not hold.
pub(crate) fn message_not_found(uid: Uid) -> MailError {
    MailError::NotFound(format!(
        "there is no message with UID {uid} in this mailbox"
    ))
}

/// Fetches `items` of one message of the selected mailbox; 404 when it is not there.
pub(crate) async fn fetch_one(
    session: &mut ImapSession,
    uid: Uid,
    items: &[FetchItem<'_>],
) -> Result<FetchedMessage, MailError> {
    session
        .fetch_uids(&UidSet::single(uid), items)
        .await
        .during(Op::Fetch)?
        .into_iter()
        .find(|m| m.uid == uid.get())
        .ok_or_else(|| message_not_found(uid))
}

/// 404 unless message `uid` is in the selected mailbox.
pub(crate) async fn require_message(session: &mut ImapSession, uid: Uid) -> Result<(), MailError> {
    fetch_one(session, uid, &[FetchItem::Uid]).await.map(drop)
}

/// The mailbox's current state from STATUS (mod-sequence 0 on servers without
/// CONDSTORE/QRESYNC).
pub(crate) async fn current_state(
    session: &mut ImapSession,
    mailbox: &MailboxName,
) -> Result<Option<MailboxState>, MailError> {
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

/// Validates a request's flag list: each a settable system flag or a keyword atom,
/// at most [`MAX_FLAGS`].
///
/// # Errors
/// Naming `field`: a malformed flag (400); `\Recent`, which is well-formed but only
/// the server may set (RFC 3501 section 2.3.2), or too many flags (422).
pub fn parse_flag_list(field: &'static str, flags: &[String]) -> Result<Vec<Flag>, MailError> {
    if flags.len() > MAX_FLAGS {
        return Err(MailError::unacceptable(
            field,
            format!("at most {MAX_FLAGS} flags"),
        ));
    }
    flags
        .iter()
        .map(|f| {
            Flag::try_from(f.as_str()).map_err(|e| {
                let err = ValidationError::new(field, e.message);
                if f.eq_ignore_ascii_case("\\Recent") {
                    MailError::Unacceptable(err)
                } else {
                    MailError::Invalid(err)
                }
            })
        })
        .collect()
}
