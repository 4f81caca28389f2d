//! The Sent copy of a sent message, and the record it keeps.
//!
//! The copy is the message as composed (Bcc included), `\Seen`, with the outcome of
//! the submission on top: `X-Imap-Gateway-Reply` (the server's final reply) and one
//! `X-Imap-Gateway-Refused` per refused recipient. A retried request with the same
//! Message-ID finds the copy with one `UID SEARCH HEADER Message-ID` and answers what
//! the first request answered, so the mailbox is the ledger and no database is
//! needed ([`super::idempotency`]).

use mail_parser::MessageParser;

use super::append::{append, NewMessage};
use super::error::{ImapResultExt as _, MailError, Op};
use super::open::{fetch_one, open};
use super::send::Outgoing;
use crate::imap::listing::guess_special_use;
use crate::imap::search::{SearchKey, SearchText};
use crate::imap::session::SectionKind;
use crate::imap::{FetchItem, ImapSession, MailboxName, Section, SpecialUse, Uid};
use crate::model::compose::AppendResponse;
use crate::model::send::{RefusedRecipient, SendResponse, SentCopy};
use crate::smtp::{Reply, Submission};

/// The header field holding the server's final reply.
const REPLY_FIELD: &str = "X-Imap-Gateway-Reply";
/// The header field naming one refused recipient and its reply.
const REFUSED_FIELD: &str = "X-Imap-Gateway-Refused";

/// The user's Sent mailbox: the one marked `\Sent` (SPECIAL-USE), else one with a
/// conventional name (`Sent`, `Sent Items`, ...): a server may advertise SPECIAL-USE
/// without marking any mailbox (Dovecot does unless configured to).
pub async fn find_sent(session: &mut ImapSession) -> Result<Option<MailboxName>, MailError> {
    let mailboxes = session
        .list_mailboxes(None, false)
        .await
        .during(Op::ListMailboxes)?;
    let selectable = || mailboxes.iter().filter(|m| m.selectable);
    let marked = selectable().find(|m| m.special_use == Some(SpecialUse::Sent));
    let named = || selectable().find(|m| guess_special_use(&m.name) == Some(SpecialUse::Sent));
    Ok(marked.or_else(named).map(|m| m.name.clone()))
}

/// Server text made safe for a header field: one line, no controls, bounded.
fn header_safe(text: &str) -> String {
    let mut clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.len() > 300 {
        let mut end = 300;
        while !clean.is_char_boundary(end) {
            end -= 1;
        }
        clean.truncate(end);
    }
    clean.trim().to_owned()
}

fn reply_text(reply: &Reply) -> String {
    match &reply.enhanced {
        Some(enhanced) => format!("{} {enhanced} {}", reply.code, reply.text),
        None => format!("{} {}", reply.code, reply.text),
    }
}

/// The header lines recording `submission`'s outcome.
fn outcome_fields(submission: &Submission) -> Vec<u8> {
    let mut fields = format!(
        "{REPLY_FIELD}: {}\r\n",
        header_safe(&reply_text(&submission.reply))
    );
    for refusal in &submission.refused {
        fields.push_str(&format!(
            "{REFUSED_FIELD}: {} {} {} {}\r\n",
            header_safe(&refusal.address),
            refusal.reply.code,
            refusal.reply.enhanced.as_deref().unwrap_or("-"),
            header_safe(&refusal.reply.text)
        ));
    }
    fields.into_bytes()
}

/// Files the Sent copy (`\Seen`) with the submission's outcome, as `mode` asks;
/// `Ok(None)` when none is wanted. `known_sent` is the Sent mailbox when the caller
/// has looked it up already ([`find_sent`]); otherwise it is looked up here.
///
/// # Errors
/// No Sent mailbox (as a conflict), IMAP failures.
pub async fn file_sent_copy(
    session: &mut ImapSession,
    known_sent: Option<MailboxName>,
    outgoing: &Outgoing,
    submission: &Submission,
    mode: SentCopy,
) -> Result<Option<AppendResponse>, MailError> {
    if !wants_copy(session, mode) {
        return Ok(None);
    }
    let sent = match known_sent {
        Some(sent) => Some(sent),
        None => find_sent(session).await?,
    };
    let Some(sent) = sent else {
        return Err(MailError::Conflict {
            detail: "there is no Sent mailbox".to_owned(),
            slug: "no-sent-mailbox",
        });
    };
    let mut flags = vec!["\\Seen".to_owned()];
    flags.extend(outgoing.flags().iter().cloned());
    let mut bytes = outcome_fields(submission);
    bytes.extend_from_slice(outgoing.stored());
    let message = NewMessage::new(bytes, &flags, outgoing.internal_date())?;
    append(session, &sent, &message).await.map(Some)
}

/// Whether `mode` asks the gateway to file a copy on this server: `auto` leaves it
/// to servers that file sent mail themselves (Gmail advertises `X-GM-EXT-1`).
pub fn wants_copy(session: &ImapSession, mode: SentCopy) -> bool {
    let files_itself = session.profile().capabilities.has("X-GM-EXT-1");
    !(mode == SentCopy::Never || (mode == SentCopy::Auto && files_itself))
}

/// What the first request of a retried send answered, read back from its Sent copy.
pub struct SentRecord {
    copy: AppendResponse,
    reply: String,
    refused: Vec<RefusedRecipient>,
}

/// The copy of the message with `message_id` in `sent`, when there is one.
///
/// # Errors
/// IMAP failures (the caller then sends nothing: it cannot tell whether the message
/// went out already).
pub async fn find_record(
    session: &mut ImapSession,
    sent: &MailboxName,
    message_id: &str,
) -> Result<Option<SentRecord>, MailError> {
    let uid_validity = open(session, sent, true).await?;
    let wanted = SearchText::new("message_id", &format!("<{message_id}>"))?;
    let found = session
        .search(&[SearchKey::MessageId(wanted)])
        .await
        .during(Op::Search)?;
    let Some(uid) = found.and_then(|set| Uid::try_from(set.last()).ok()) else {
        return Ok(None);
    };
    let message = fetch_one(
        session,
        uid,
        &[FetchItem::Uid, FetchItem::Body(Section::Header, None)],
    )
    .await?;
    let header = message.section(&SectionKind::Header).unwrap_or_default();
    let (reply, refused) = recorded_outcome(header);
    Ok(Some(SentRecord {
        copy: AppendResponse {
            mailbox: sent.as_str().to_owned(),
            uid: Some(uid.get()),
            uid_validity: Some(uid_validity),
        },
        reply,
        refused,
    }))
}

/// The reply and the refusals recorded in a Sent copy's header (none in a copy the
/// server filed itself).
fn recorded_outcome(header: &[u8]) -> (String, Vec<RefusedRecipient>) {
    let Some(parsed) = MessageParser::new().parse_headers(header) else {
        return (String::new(), Vec::new());
    };
    let mut reply = String::new();
    let mut refused = Vec::new();
    for (name, value) in parsed.headers_raw() {
        let value = value.trim();
        if name.eq_ignore_ascii_case(REPLY_FIELD) {
            value.clone_into(&mut reply);
        } else if name.eq_ignore_ascii_case(REFUSED_FIELD) {
            let mut words = value.splitn(4, ' ');
            let (Some(address), Some(code)) = (words.next(), words.next()) else {
                continue;
            };
            let enhanced = words.next().filter(|e| *e != "-").map(str::to_owned);
            refused.push(RefusedRecipient {
                address: address.to_owned(),
                smtp_code: code.parse().unwrap_or_default(),
                enhanced_code: enhanced,
                message: words.next().unwrap_or_default().to_owned(),
            });
        }
    }
    (reply, refused)
}

/// The answer to a retried send: the first answer, as recorded.
pub fn replayed_response(outgoing: &Outgoing, record: SentRecord) -> SendResponse {
    let refused_addresses: Vec<String> = record
        .refused
        .iter()
        .map(|r| r.address.to_ascii_lowercase())
        .collect();
    SendResponse {
        message_id: outgoing.message_id().to_owned(),
        accepted: outgoing
            .recipients()
            .iter()
            .map(|r| r.as_str().to_owned())
            .filter(|r| !refused_addresses.contains(&r.to_ascii_lowercase()))
            .collect(),
        refused: record.refused,
        smtp_reply: record.reply,
        sent_copy: Some(record.copy),
        warnings: Vec::new(),
        replayed: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::Refusal;

    #[test]
    fn the_recorded_outcome_reads_back_as_it_was_written() {
        let submission = Submission {
            accepted: vec!["bob@example.org".to_owned()],
            refused: vec![Refusal {
                address: "nobody@example.org".to_owned(),
                reply: Reply {
                    code: 550,
                    enhanced: Some("5.1.1".to_owned()),
                    text: "No such\r\nuser".to_owned(),
                },
            }],
            reply: Reply {
                code: 250,
                enhanced: Some("2.0.0".to_owned()),
                text: "Ok: queued".to_owned(),
            },
        };
        let mut header = outcome_fields(&submission);
        header.extend_from_slice(b"Subject: x\r\n\r\n");
        let (reply, refused) = recorded_outcome(&header);
        assert_eq!(reply, "250 2.0.0 Ok: queued");
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].address, "nobody@example.org");
        assert_eq!(refused[0].smtp_code, 550);
        assert_eq!(refused[0].enhanced_code.as_deref(), Some("5.1.1"));
        // The server's CR LF never splits the field.
        assert_eq!(refused[0].message, "No such  user");
    }
}
