//! Sending a stored draft: read it whole (bounded), and remove exactly that UID
//! once it has been sent.

use super::error::{MailError, Op};
use super::open::{fetch_one, open};
use super::transfer::delete_one;
use crate::imap::session::SectionKind;
use crate::imap::{FetchItem, ImapSession, MailboxName, Section, Uid};

/// The raw bytes of draft `uid` in `mailbox`, at most `max_bytes`.
///
/// # Errors
/// 404 when it does not exist; 413 when it is larger than `max_bytes`; IMAP
/// failures.
pub async fn load_draft(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    uid: Uid,
    max_bytes: usize,
) -> Result<Vec<u8>, MailError> {
    open(session, mailbox, true).await?;
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
        .map(<[u8]>::to_vec)
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
) -> Result<(), MailError> {
    delete_one(session, mailbox, uid, true).await.map(drop)
}
