//! What a download needs to know before its bytes stream: the raw message's size,
//! or a part's media type, file name, size and transfer encoding. The bytes then
//! come from [`super::stream::section_stream`] on the same session.

use super::error::MailError;
use super::open::{fetch_one, open};
use crate::imap::session::SectionKind;
use crate::imap::{FetchItem, ImapSession, MailboxName, PartNumber, Section, Uid};
use crate::model::message::Attachment;

/// Selects `mailbox` (read-only) and returns the size of message `uid` in bytes.
///
/// # Errors
/// 404 when the message does not exist; IMAP failures.
pub async fn raw_size(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    uid: Uid,
) -> Result<u64, MailError> {
    open(session, mailbox, true).await?;
    let meta = fetch_one(session, uid, &[FetchItem::Uid, FetchItem::Size]).await?;
    Ok(u64::from(meta.size.unwrap_or(0)))
}

/// A part about to be downloaded.
#[derive(Debug, Clone)]
pub struct PartDownload {
    /// The part's media type as the server reports it (not yet checked).
    pub content_type: String,
    /// The part's file name, decoded.
    pub filename: Option<String>,
    /// The encoded size in bytes.
    pub size: u64,
    /// The Content-Transfer-Encoding, lower case.
    pub encoding: String,
}

/// Selects `mailbox` (read-only) and describes part `part` of message `uid`.
///
/// # Errors
/// 404 when the message or a non-multipart part `part` does not exist; IMAP
/// failures.
pub async fn describe_part(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    uid: Uid,
    part: &PartNumber,
) -> Result<PartDownload, MailError> {
    open(session, mailbox, true).await?;
    let meta = fetch_one(session, uid, &[FetchItem::Uid, FetchItem::BodyStructure]).await?;
    let parts = meta.parts.unwrap_or_default();
    let mime_part = parts
        .iter()
        .find(|p| p.path == part.path() && !p.is_multipart)
        .cloned()
        .ok_or_else(|| MailError::NotFound(format!("message {uid} has no part {part}")))?;
    // A single-part message's MIME header is the message header.
    let single_part = parts.len() == 1;
    let section = if single_part {
        Section::Header
    } else {
        Section::PartMime(part)
    };
    let mime_fetch = fetch_one(
        session,
        uid,
        &[FetchItem::Uid, FetchItem::Body(section, None)],
    )
    .await?;
    let mime_header = if single_part {
        mime_fetch.section(&SectionKind::Header)
    } else {
        mime_fetch.section(&SectionKind::PartMime(part.path().to_vec()))
    };
    let described = Attachment::from_part(&mime_part, mime_header);
    Ok(PartDownload {
        content_type: mime_part.content_type,
        filename: described.filename,
        size: u64::from(mime_part.size),
        encoding: mime_part.encoding,
    })
}
