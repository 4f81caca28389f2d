//! Moving, copying and deleting messages, one or many.
//!
//! Nothing lost: deletion moves to the `\Trash` mailbox unless permanent, and
//! permanent deletion is `STORE \Deleted` + `UID EXPUNGE` of exactly the named UIDs
//! (never EXPUNGE or CLOSE, which would also remove messages other clients marked
//! `\Deleted`). MOVE is used when advertised, else COPY + `UID EXPUNGE`. The
//! callers serialise moves and deletions per user and mailbox
//! (`imap/mailbox_locks.rs`), so two requests never move the same message twice.

use super::error::{ImapResultExt as _, MailError, Op};
use super::open::{open_for_uids, require_message};
use super::targets::Targets;
use crate::imap::completion::Completion;
use crate::imap::{ImapSession, MailboxName, SpecialUse, Uid, UidSet};
use crate::model::transfer::{BulkTransferResult, Transferred};

/// Move or copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// The messages leave the source mailbox.
    Move,
    /// The messages stay where they are, too.
    Copy,
}

/// A validated target mailbox for `kind` from `source`.
///
/// # Errors
/// A malformed name (400); moving to the same mailbox (422).
pub fn target(kind: Transfer, source: &MailboxName, to: &str) -> Result<MailboxName, MailError> {
    let to = MailboxName::try_from(to)
        .map_err(|e| crate::imap::ValidationError::new("to", e.message))?;
    if kind == Transfer::Move && &to == source {
        return Err(MailError::unacceptable(
            "to",
            "the messages are already in this mailbox",
        ));
    }
    Ok(to)
}

/// What was moved or copied. On UIDPLUS servers COPYUID names exactly the messages
/// that were: a UID another client expunged meanwhile is answered `OK` with nothing
/// copied (Dovecot: "No messages found"), and must not be reported as transferred.
fn transferred(
    session: &ImapSession,
    set: &UidSet,
    to: &MailboxName,
    completion: &Completion,
) -> Vec<Transferred> {
    let uidplus = session.reports_copied_uids();
    let mapping = completion.copy_uid.as_ref();
    set.iter()
        .filter(|uid| {
            !uidplus || mapping.is_some_and(|(_, pairs)| pairs.iter().any(|(from, _)| from == uid))
        })
        .map(|uid| Transferred {
            uid,
            mailbox: to.as_str().to_owned(),
            new_uid: mapping.and_then(|(_, pairs)| {
                pairs
                    .iter()
                    .find(|(from, _)| *from == uid)
                    .map(|(_, to)| *to)
            }),
            uid_validity: mapping.map(|(validity, _)| *validity),
        })
        .collect()
}

/// The message was there when checked, but gone when moved or copied.
fn expunged_meanwhile() -> MailError {
    MailError::NotFound("the message was expunged by another client meanwhile".to_owned())
}

async fn run(
    session: &mut ImapSession,
    kind: Transfer,
    set: &UidSet,
    to: &MailboxName,
) -> Result<Vec<Transferred>, MailError> {
    let completion = match kind {
        Transfer::Move => session.move_messages(set, to).await.during(Op::Move)?,
        Transfer::Copy => session.copy_messages(set, to).await.during(Op::Copy)?,
    };
    Ok(transferred(session, set, to, &completion))
}

/// Moves or copies message `uid` of `mailbox` to `to`.
///
/// # Errors
/// 404 when the message does not exist (or was expunged meanwhile); IMAP failures.
pub async fn transfer_one(
    session: &mut ImapSession,
    kind: Transfer,
    mailbox: &MailboxName,
    (uid, uid_validity): (Uid, Option<u32>),
    to: &MailboxName,
) -> Result<Transferred, MailError> {
    open_for_uids(session, mailbox, kind == Transfer::Copy, uid_validity).await?;
    require_message(session, uid).await?;
    run(session, kind, &UidSet::single(uid), to)
        .await?
        .pop()
        .ok_or_else(expunged_meanwhile)
}

/// Moves or copies the `targets` that exist in `mailbox` to `to`.
///
/// # Errors
/// 422 when a filter matches too many messages; IMAP failures.
pub async fn transfer_many(
    session: &mut ImapSession,
    kind: Transfer,
    mailbox: &MailboxName,
    (targets, uid_validity): (&Targets, Option<u32>),
    to: &MailboxName,
) -> Result<BulkTransferResult, MailError> {
    open_for_uids(session, mailbox, kind == Transfer::Copy, uid_validity).await?;
    let items = match targets.resolve(session).await? {
        Some(set) => run(session, kind, &set, to).await?,
        None => Vec::new(),
    };
    Ok(BulkTransferResult {
        count: items.len(),
        items,
    })
}

/// The user's Trash: the `\Trash` special-use mailbox (or, on servers without
/// SPECIAL-USE, a mailbox with a conventional Trash name).
async fn find_trash(session: &mut ImapSession) -> Result<MailboxName, MailError> {
    let mailboxes = session
        .list_mailboxes(None, false)
        .await
        .during(Op::ListMailboxes)?;
    mailboxes
        .into_iter()
        .find(|m| m.special_use == Some(SpecialUse::Trash) && m.selectable)
        .map(|m| m.name)
        .ok_or_else(|| MailError::Conflict {
            detail: "there is no Trash mailbox to move to; delete with ?permanent=true".to_owned(),
            slug: "no-trash",
        })
}

/// Deletes `set` of the selected `mailbox`: permanently, or by moving to Trash.
async fn delete_set(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    set: &UidSet,
    permanent: bool,
) -> Result<Vec<Transferred>, MailError> {
    if permanent {
        session.expunge_messages(set).await.during(Op::Expunge)?;
        return Ok(set
            .iter()
            .map(|uid| Transferred {
                uid,
                mailbox: String::new(),
                new_uid: None,
                uid_validity: None,
            })
            .collect());
    }
    let trash = find_trash(session).await?;
    if &trash == mailbox {
        return Err(MailError::Conflict {
            detail: "the message is already in Trash; delete it with ?permanent=true".to_owned(),
            slug: "already-in-trash",
        });
    }
    run(session, Transfer::Move, set, &trash).await
}

/// Deletes message `uid`: moves it to Trash (and says where it went), or expunges
/// exactly this UID when `permanent` (`None` then).
///
/// # Errors
/// 404 when the message does not exist; 409 without a Trash or for a message
/// already in Trash; IMAP failures.
pub async fn delete_one(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    (uid, uid_validity): (Uid, Option<u32>),
    permanent: bool,
) -> Result<Option<Transferred>, MailError> {
    open_for_uids(session, mailbox, false, uid_validity).await?;
    require_message(session, uid).await?;
    let mut items = delete_set(session, mailbox, &UidSet::single(uid), permanent).await?;
    if permanent {
        return Ok(None);
    }
    items.pop().map(Some).ok_or_else(expunged_meanwhile)
}

/// Deletes the `targets` that exist in `mailbox` (to Trash, or permanently).
///
/// # Errors
/// As [`delete_one`], and 422 when a filter matches too many messages.
pub async fn delete_many(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    (targets, uid_validity): (&Targets, Option<u32>),
    permanent: bool,
) -> Result<BulkTransferResult, MailError> {
    open_for_uids(session, mailbox, false, uid_validity).await?;
    let items = match targets.resolve(session).await? {
        Some(set) => delete_set(session, mailbox, &set, permanent).await?,
        None => Vec::new(),
    };
    Ok(BulkTransferResult {
        count: items.len(),
        items,
    })
}
