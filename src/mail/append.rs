//! Storing a message in a mailbox with APPEND (the new UID from UIDPLUS APPENDUID).

use super::error::{ImapResultExt as _, MailError, Op};
use super::open::parse_flag_list;
use crate::imap::date::InternalDate;
use crate::imap::{Flag, ImapSession, MailboxName};
use crate::model::compose::AppendResponse;

/// A validated message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    bytes: Vec<u8>,
    flags: Vec<Flag>,
    date: Option<InternalDate>,
}

impl NewMessage {
    /// Validates a message with its flags and RFC 3339 internal date.
    ///
    /// # Errors
    /// A malformed flag or date (400); an empty message, one with NUL bytes, or
    /// too many flags (422).
    pub fn new(
        bytes: Vec<u8>,
        flags: &[String],
        internal_date: Option<&str>,
    ) -> Result<Self, MailError> {
        let flags = parse_flag_list("flags", flags)?;
        if bytes.is_empty() {
            return Err(MailError::unacceptable("body", "the message is empty"));
        }
        if bytes.contains(&0) {
            return Err(MailError::unacceptable(
                "body",
                "the message contains NUL bytes",
            ));
        }
        let date = internal_date
            .map(|d| InternalDate::parse_rfc3339("internal_date", d))
            .transpose()?;
        Ok(Self { bytes, flags, date })
    }
}

/// Appends `message` to `mailbox`.
///
/// # Errors
/// IMAP failures (404 for a mailbox that does not exist, 507 over quota, ...).
pub async fn append(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    message: &NewMessage,
) -> Result<AppendResponse, MailError> {
    let appended = session
        .append(
            mailbox,
            &message.flags,
            message.date.as_ref(),
            &message.bytes,
        )
        .await
        .during(Op::Append)?;
    Ok(AppendResponse {
        mailbox: mailbox.as_str().to_owned(),
        uid: appended.map(|(_, uid)| uid),
        uid_validity: appended.map(|(validity, _)| validity),
    })
}
