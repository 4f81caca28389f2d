//! Replies and forwards: what a message sent with a `reference` takes from the
//! original (threading headers, subject, recipients, quoted text, a forward's
//! attachments), checked before anything is sent, and the flag the original gets
//! after the server accepted the new message.

use super::compose::{close_mixed, mixed_part, open_mixed, Extras};
use super::error::MailError;
use super::flags::{set_flags, FlagChange};
use super::open::{fetch_one, open};
use super::read::{read_message, ReadOptions};
use crate::imap::session::SectionKind;
use crate::imap::{FetchItem, ImapSession, MailboxName, PartNumber, Section, Uid, ValidationError};
use crate::model::compose::{ComposeAddress, ComposeRequest, MessageReference, ReferenceAction};
use crate::model::message::{EmailAddress, HtmlMode, Message};

/// Most Message-IDs kept in `References` (the oldest one and the newest others).
const MAX_REFERENCES: usize = 20;

/// The original message of a reply or forward, as read before sending.
pub struct Original {
    mailbox: MailboxName,
    uid: Uid,
    action: ReferenceAction,
    quote: bool,
    message: Message,
    /// A forward's attachments: the original's part numbers.
    attachments: Vec<PartNumber>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> MailError {
    MailError::Invalid(ValidationError::new(field, message))
}

/// Reads the original `reference` names, and for a forward which parts to carry
/// (their encoded sizes together at most `max_bytes`).
///
/// # Errors
/// 400 for a malformed mailbox name or UID; 404 when the message does not exist;
/// 409 `reference-changed` when the mailbox's UIDVALIDITY is no longer the one
/// given; 413 when a forward's attachments are too large; IMAP failures.
pub async fn load_original(
    session: &mut ImapSession,
    reference: &MessageReference,
    max_bytes: usize,
) -> Result<Original, MailError> {
    let mailbox = MailboxName::try_from(reference.mailbox.clone())
        .map_err(|e| invalid("reference.mailbox", e.to_string()))?;
    let uid = Uid::try_from(reference.uid).map_err(|e| invalid("reference.uid", e.to_string()))?;
    let options = ReadOptions {
        mark_seen: false,
        html: HtmlMode::Sanitized,
        remote_images: false,
        attachment_base: String::new(),
    };
    let message = read_message(session, &mailbox, uid, &options).await?;
    if message.summary.uid_validity != reference.uid_validity {
        return Err(MailError::Conflict {
            detail: format!(
                "the mailbox was recreated since (UIDVALIDITY {} is now {}): UID {uid} is \
                 no longer that message",
                reference.uid_validity, message.summary.uid_validity
            ),
            slug: "reference-changed",
        });
    }
    let attachments = if reference.action == ReferenceAction::Forward {
        attachment_parts(&message, max_bytes)?
    } else {
        Vec::new()
    };
    Ok(Original {
        mailbox,
        uid,
        action: reference.action,
        quote: reference.quote,
        message,
        attachments,
    })
}

/// The part numbers of the original's attachments, from the read's own
/// BODYSTRUCTURE (no second FETCH).
fn attachment_parts(message: &Message, max_bytes: usize) -> Result<Vec<PartNumber>, MailError> {
    let total: u64 = message.attachments.iter().map(|a| u64::from(a.size)).sum();
    if total > max_bytes as u64 {
        return Err(MailError::Smtp(crate::smtp::SmtpError::TooLarge {
            size: usize::try_from(total).unwrap_or(usize::MAX),
            limit: max_bytes,
        }));
    }
    message
        .attachments
        .iter()
        .map(|attachment| PartNumber::try_from(attachment.part.as_str()).map_err(MailError::from))
        .collect()
}

fn as_compose(address: &EmailAddress) -> Option<ComposeAddress> {
    let email = address.address.clone()?;
    Some(ComposeAddress::Named {
        name: address.name.clone().filter(|n| !n.contains(['\r', '\n'])),
        address: email,
    })
}

/// `subject` with `prefix` (`Re:`, `Fwd:`) unless it has it already.
fn prefixed(prefix: &str, subject: Option<&str>) -> String {
    let subject = subject.unwrap_or_default().replace(['\r', '\n'], " ");
    let has_prefix = subject
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix));
    if has_prefix {
        subject
    } else {
        format!("{prefix} {subject}").trim_end().to_owned()
    }
}

fn describe(addresses: &[EmailAddress]) -> String {
    addresses
        .iter()
        .map(|a| match (&a.name, &a.address) {
            (Some(name), Some(address)) => format!("{name} <{address}>"),
            (None, Some(address)) => address.clone(),
            (Some(name), None) => name.clone(),
            (None, None) => String::new(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Original {
    /// Completes `request` from the original: subject and (replies) recipients when
    /// the request has none, the quoted or forwarded text below the request's own.
    /// `own` are the sender's addresses, left out of a reply-all. Returns the
    /// threading headers.
    pub fn complete(&self, request: &mut ComposeRequest, own: &[String]) -> Extras {
        let envelope = &self.message.summary.envelope;
        let is_own = |a: &EmailAddress| {
            a.address
                .as_deref()
                .is_some_and(|x| own.iter().any(|o| o.eq_ignore_ascii_case(x)))
        };
        let prefix = match self.action {
            ReferenceAction::Forward => "Fwd:",
            _ => "Re:",
        };
        if request.subject.is_none() {
            request.subject = Some(prefixed(prefix, envelope.subject.as_deref()));
        }
        if self.action != ReferenceAction::Forward && request.to.is_empty() && request.cc.is_empty()
        {
            let author = if envelope.reply_to.is_empty() {
                &envelope.from
            } else {
                &envelope.reply_to
            };
            request.to = author.iter().filter_map(as_compose).collect();
            if self.action == ReferenceAction::ReplyAll {
                let mut seen: Vec<String> = author
                    .iter()
                    .filter_map(|a| a.address.as_deref().map(str::to_ascii_lowercase))
                    .collect();
                for address in envelope.to.iter().chain(&envelope.cc) {
                    let Some(email) = address.address.as_deref() else {
                        continue;
                    };
                    if is_own(address) || seen.contains(&email.to_ascii_lowercase()) {
                        continue;
                    }
                    seen.push(email.to_ascii_lowercase());
                    request.cc.extend(as_compose(address));
                }
            }
        }
        let original_text = self.message.text.clone().unwrap_or_default();
        let block = match self.action {
            ReferenceAction::Forward => Some(format!(
                "---------- Forwarded message ----------\nFrom: {}\nDate: {}\nSubject: {}\nTo: {}\n\n{original_text}",
                describe(&envelope.from),
                envelope.date.as_deref().unwrap_or_default(),
                envelope.subject.as_deref().unwrap_or_default(),
                describe(&envelope.to),
            )),
            _ if self.quote => {
                let quoted: String = original_text
                    .lines()
                    .map(|line| format!("> {line}\n"))
                    .collect();
                Some(format!(
                    "On {}, {} wrote:\n{quoted}",
                    envelope.date.as_deref().unwrap_or("an earlier date"),
                    describe(&envelope.from)
                ))
            }
            _ => None,
        };
        if let Some(block) = block {
            request.text = Some(match request.text.take() {
                Some(own_text) => format!("{own_text}\n\n{block}"),
                None => block,
            });
        }
        let mut references: Vec<String> = self
            .message
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("References"))
            .flat_map(|h| h.value.split_whitespace())
            .map(|id| id.trim_matches(['<', '>']).to_owned())
            .collect();
        if references.is_empty() {
            references.extend(envelope.in_reply_to.iter().cloned());
        }
        references.extend(envelope.message_id.iter().cloned());
        if references.len() > MAX_REFERENCES {
            // Keep the thread's root and the newest ones (RFC 5322 3.6.4 allows
            // trimming the middle).
            let root = references[0].clone();
            let tail = references.split_off(references.len() - (MAX_REFERENCES - 1));
            references = std::iter::once(root).chain(tail).collect();
        }
        Extras {
            in_reply_to: envelope.message_id.clone(),
            references,
        }
    }

    /// True when a forward carries parts of the original ([`Original::carry_parts`]).
    pub fn carries_parts(&self) -> bool {
        !self.attachments.is_empty()
    }

    /// A forward's composed `message` with the original's attachments appended as
    /// they are stored (still transfer-encoded, never decoded or re-encoded), each
    /// fetched straight into the message, one at a time.
    ///
    /// # Errors
    /// 409 `reference-changed` when the mailbox was recreated meanwhile; 404 when
    /// the original is gone; IMAP failures.
    pub async fn carry_parts(
        &self,
        session: &mut ImapSession,
        message: &[u8],
    ) -> Result<Vec<u8>, MailError> {
        let uid_validity = open(session, &self.mailbox, true).await?;
        if uid_validity != self.message.summary.uid_validity {
            return Err(MailError::Conflict {
                detail: "the original's mailbox was recreated while it was being forwarded"
                    .to_owned(),
                slug: "reference-changed",
            });
        }
        let boundary = {
            use rand::RngCore as _;
            let mut bytes = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut bytes);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("imap-gateway-{hex}")
        };
        let mut out = open_mixed(message, &boundary);
        for number in &self.attachments {
            let part = fetch_one(
                session,
                self.uid,
                &[
                    FetchItem::Uid,
                    FetchItem::Body(Section::PartMime(number), None),
                    FetchItem::Body(Section::Part(number), None),
                ],
            )
            .await?;
            let path = number.path().to_vec();
            let mime_header = part
                .section(&SectionKind::PartMime(path.clone()))
                .unwrap_or_default();
            let body = part.section(&SectionKind::Part(path)).unwrap_or_default();
            mixed_part(&mut out, &boundary, mime_header, body);
        }
        close_mixed(&mut out, &boundary);
        Ok(out)
    }

    /// Marks the original `\Answered` (replies) or `$Forwarded` after the new
    /// message was sent.
    ///
    /// # Errors
    /// The message is gone meanwhile (404) or IMAP failures: the caller reports
    /// them as warnings.
    pub async fn mark(&self, session: &mut ImapSession) -> Result<(), MailError> {
        let flag = match self.action {
            ReferenceAction::Forward => "$Forwarded",
            _ => "\\Answered",
        };
        let change = FlagChange::change(&[flag.to_owned()], &[])?;
        // Only the message the reply was written to: the same UIDVALIDITY.
        let uid = (self.uid, Some(self.message.summary.uid_validity));
        set_flags(session, &self.mailbox, uid, &change, None)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_get_one_prefix() {
        assert_eq!(prefixed("Re:", Some("Lunch")), "Re: Lunch");
        assert_eq!(prefixed("Re:", Some("RE: Lunch")), "RE: Lunch");
        assert_eq!(prefixed("Fwd:", Some("Re: Lunch")), "Fwd: Re: Lunch");
        assert_eq!(prefixed("Re:", None), "Re:");
        assert_eq!(prefixed("Re:", Some("a\r\nBcc: x")), "Re: a  Bcc: x");
    }
}
