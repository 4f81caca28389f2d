//! Sending a stored draft: read it whole (bounded), and remove exactly that UID
//! once it has been sent.

use super::error::{MailError, Op};
use super::open::{fetch_one, open_for_uids};
use super::transfer::delete_one;
use crate::imap::session::SectionKind;
use crate::imap::{FetchItem, ImapSession, MailboxName, Section, Uid};

/// The raw bytes of draft `uid` in `mailbox`, at most `max_bytes`, and the
/// UIDVALIDITY they were read under (the removal after sending must find the same
/// mailbox).
///
/// # Errors
/// 404 when it does not exist; 409 when `expected` is not the mailbox's
/// UIDVALIDITY; 413 when it is larger than `max_bytes`; IMAP failures.
pub async fn load_draft(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    (uid, expected): (Uid, Option<u32>),
    max_bytes: usize,
) -> Result<(Vec<u8>, u32), MailError> {
    let uid_validity = open_for_uids(session, mailbox, true, expected).await?;
    let size = fetch_one(session, uid, &[FetchItem::Uid, FetchItem::Size])
        .await?
        .size
        .unwrap_or(0);
    if size as usize > max_bytes {
        return Err(MailError::Smtp(crate::smtp::SmtpError::TooLarge {
            size: size as usize,
            limit: max_bytes,
        }));
    }
    let whole = fetch_one(
        session,
        uid,
        &[FetchItem::Uid, FetchItem::Body(Section::Whole, None)],
    )
    .await?;
    whole
        .section(&SectionKind::Whole)
        .map(|bytes| (bytes.to_vec(), uid_validity))
        .ok_or_else(|| {
            MailError::imap(
                Op::Fetch,
                crate::imap::ImapError::Protocol("FETCH BODY[] without the body".to_owned()),
            )
        })
}

/// Removes the sent draft: `STORE \Deleted` and `UID EXPUNGE` of exactly this UID.
///
/// # Errors
/// The draft is gone meanwhile (404) or IMAP failures: reported as warnings.
pub async fn remove_draft(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    uid: Uid,
    uid_validity: u32,
) -> Result<(), MailError> {
    delete_one(session, mailbox, (uid, Some(uid_validity)), true)
        .await
        .map(drop)
}
