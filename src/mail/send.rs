//! Sending: a composed or raw message is submitted over SMTP with the caller's own
//! credentials; [`super::sent`] files the copy (with its Bcc header) in Sent.
//!
//! The answer is exact: it comes after the server's final reply and names every
//! recipient it accepted or refused. What happens after that reply (the Sent copy)
//! never turns a sent message into an error: it is reported as a warning, so a client
//! never sends twice because a copy failed.

use mail_parser::MessageParser;

use super::append::NewMessage;
use super::compose::{address_of, compose_with_id, Extras};
use super::error::MailError;
use crate::imap::{Credential, Identity, ValidationError};
use crate::model::compose::{AppendResponse, ComposeRequest};
use crate::model::send::{RefusedRecipient, SendQuery, SendResponse};
use crate::smtp::{EnvelopeAddress, SmtpBackend, SmtpError, SmtpSecret, Submission};
use secrecy::ExposeSecret as _;

/// Most recipients (To, Cc and Bcc together) one message may have.
pub const MAX_RECIPIENTS: usize = 100;

/// A validated message ready to submit.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// What is transmitted when it differs from `stored`: the message without its
    /// Bcc header. `None` (the usual case) keeps one copy of the message, not two.
    transmitted: Option<Vec<u8>>,
    /// What the Sent copy holds: the message as composed, Bcc included.
    stored: Vec<u8>,
    sender: EnvelopeAddress,
    recipients: Vec<EnvelopeAddress>,
    message_id: String,
    /// Flags of the Sent copy beside `\Seen`.
    flags: Vec<String>,
    /// INTERNALDATE of the Sent copy (RFC 3339; default: now).
    internal_date: Option<String>,
    /// Whether the Message-ID came with the client's raw message.
    own_message_id: bool,
}

fn invalid(field: &'static str, message: impl Into<String>) -> MailError {
    MailError::Invalid(ValidationError::new(field, message))
}

/// A Message-ID (without angle brackets) in the sender's domain: `unique@domain`,
/// with a random unique part unless one is given (an idempotent request's).
fn new_message_id(sender: &EnvelopeAddress, unique: Option<&str>) -> String {
    let unique = unique.map_or_else(
        || {
            use rand::RngCore as _;
            let mut bytes = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut bytes);
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        },
        str::to_owned,
    );
    let domain = sender
        .as_str()
        .rsplit_once('@')
        .map_or("imap-gateway.invalid", |(_, d)| d);
    format!("{unique}@{domain}")
}

/// The message's own Message-ID, or a new one (see [`new_message_id`]) written on
/// top of `message`.
fn ensure_message_id(
    message: &mut Vec<u8>,
    existing: Option<String>,
    sender: &EnvelopeAddress,
    unique: Option<&str>,
) -> String {
    if let Some(id) = existing {
        return id;
    }
    let id = new_message_id(sender, unique);
    let mut with_id = format!("Message-ID: <{id}>\r\n").into_bytes();
    with_id.append(message);
    *message = with_id;
    id
}

/// The envelope recipients: each address once (case-insensitively), at most
/// [`MAX_RECIPIENTS`].
fn envelope_recipients(
    field: &'static str,
    addresses: impl IntoIterator<Item = String>,
) -> Result<Vec<EnvelopeAddress>, MailError> {
    let mut seen = std::collections::HashSet::new();
    let mut recipients = Vec::new();
    for address in addresses {
        let address = EnvelopeAddress::new(address.trim()).map_err(|e| invalid(field, e))?;
        if seen.insert(address.as_str().to_ascii_lowercase()) {
            recipients.push(address);
        }
    }
    if recipients.is_empty() {
        return Err(MailError::unacceptable(
            field,
            "give at least one recipient",
        ));
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(MailError::unacceptable(
            field,
            format!(
                "{} recipients; a message may have at most {MAX_RECIPIENTS}",
                recipients.len()
            ),
        ));
    }
    Ok(recipients)
}

/// `message` without its `Bcc:` header field (and the field's folded lines).
fn without_bcc(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut rest = message;
    let mut skipping = false;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        rest = &rest[end..];
        if line == b"\r\n" || line == b"\n" {
            out.extend_from_slice(line);
            out.extend_from_slice(rest);
            break;
        }
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            skipping = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"bcc:");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The transmitted form of `message`: `None` when it has no Bcc header to remove.
/// SMTP ends a message with a CRLF of its own (RFC 5321 section 4.1.1.4), so a
/// message without one would reach the server one line end longer than its Sent
/// copy: it gets it here, before either is made.
fn end_with_crlf(message: &mut Vec<u8>) {
    if !message.ends_with(b"\r\n") {
        message.extend_from_slice(b"\r\n");
    }
}

fn transmitted_form(message: &[u8]) -> Option<Vec<u8>> {
    let stripped = without_bcc(message);
    (stripped.len() != message.len()).then_some(stripped)
}

impl Outgoing {
    /// A message composed from JSON; the envelope comes from its headers (To, Cc and
    /// Bcc recipients, the From address as sender). `unique` is the Message-ID's part
    /// before `@` (random when `None`); `extras` are a reply's or forward's.
    ///
    /// # Errors
    /// As composing does (400/422); no recipient or too many (422).
    pub fn compose(
        request: &ComposeRequest,
        unique: Option<&str>,
        extras: &Extras,
    ) -> Result<Self, MailError> {
        let sender = EnvelopeAddress::new(&address_of("from", &request.from)?)
            .map_err(|e| invalid("from", e))?;
        let addresses = [
            ("to", &request.to),
            ("cc", &request.cc),
            ("bcc", &request.bcc),
        ]
        .into_iter()
        .flat_map(|(field, list)| list.iter().map(move |a| address_of(field, a)))
        .collect::<Result<Vec<String>, MailError>>()?;
        let recipients = envelope_recipients("to", addresses)?;
        let message_id = new_message_id(&sender, unique);
        let mut stored = compose_with_id(request, Some(&message_id), extras)?;
        end_with_crlf(&mut stored);
        // Checked here, before anything is sent, so the Sent copy cannot fail on them.
        NewMessage::new(
            stored.clone(),
            &request.flags,
            request.internal_date.as_deref(),
        )?;
        Ok(Self {
            transmitted: transmitted_form(&stored),
            stored,
            sender,
            recipients,
            message_id,
            flags: request.flags.clone(),
            internal_date: request.internal_date.clone(),
            own_message_id: false,
        })
    }

    /// A raw RFC 5322 message with the envelope from the query: `to` (required) and
    /// `from` (default: the address in its `From:` header). A message without a
    /// Message-ID gets one (`unique@domain`, random unless `unique` is given). Sent as
    /// given, Bcc header included if it has one.
    ///
    /// # Errors
    /// 400 for a malformed address; 422 for a message that does not parse, no
    /// recipients, or no sender.
    pub fn raw(bytes: Vec<u8>, query: &SendQuery, unique: Option<&str>) -> Result<Self, MailError> {
        if bytes.is_empty() || bytes.contains(&0) {
            return Err(MailError::unacceptable(
                "body",
                "the message is empty or contains NUL bytes",
            ));
        }
        let parsed = MessageParser::default()
            .parse_headers(&bytes)
            .ok_or_else(|| MailError::unacceptable("body", "not an RFC 5322 message"))?;
        let header_from = parsed
            .from()
            .and_then(|from| from.first())
            .and_then(|addr| addr.address())
            .map(str::to_owned);
        let existing_id = parsed.message_id().map(str::to_owned);
        let sender = match (query.from.as_deref(), header_from) {
            (Some(from), _) => from.to_owned(),
            (None, Some(from)) => from,
            (None, None) => {
                return Err(MailError::unacceptable(
                    "from",
                    "the message has no From address; give ?from=",
                ))
            }
        };
        let sender = EnvelopeAddress::new(&sender).map_err(|e| invalid("from", e))?;
        let to = query.to.as_deref().ok_or_else(|| {
            MailError::unacceptable("to", "raw uploads name their recipients in ?to=")
        })?;
        let recipients = envelope_recipients("to", to.split(',').map(str::to_owned))?;
        Ok(Self::as_given(
            bytes,
            existing_id,
            sender,
            recipients,
            unique,
            false,
        ))
    }

    /// A stored draft, sent as it is: the sender is its `From` address, the
    /// recipients its To, Cc and Bcc; the Bcc header is not transmitted (the Sent copy
    /// keeps it). A draft without a Message-ID gets one.
    ///
    /// # Errors
    /// 422 for a draft that does not parse, or has no sender or no recipient.
    pub fn draft(bytes: Vec<u8>) -> Result<Self, MailError> {
        let parsed = MessageParser::default()
            .parse_headers(&bytes)
            .ok_or_else(|| MailError::unacceptable("draft", "not an RFC 5322 message"))?;
        let first_address = |list: Option<&mail_parser::Address<'_>>| {
            list.map(|l| {
                l.iter()
                    .filter_map(|a| a.address().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
        };
        let sender = first_address(parsed.from())
            .into_iter()
            .next()
            .ok_or_else(|| MailError::unacceptable("draft", "the draft has no From address"))?;
        let sender = EnvelopeAddress::new(&sender).map_err(|e| invalid("draft", e))?;
        let addresses: Vec<String> = [parsed.to(), parsed.cc(), parsed.bcc()]
            .into_iter()
            .flat_map(first_address)
            .collect();
        let recipients = envelope_recipients("draft", addresses)?;
        let existing_id = parsed.message_id().map(str::to_owned);
        Ok(Self::as_given(
            bytes,
            existing_id,
            sender,
            recipients,
            None,
            true,
        ))
    }

    /// A message sent as given (a raw upload or a draft): with its own Message-ID,
    /// or one written on top (see [`new_message_id`] for `unique`); `strip_bcc`
    /// leaves its Bcc header out of what is transmitted.
    fn as_given(
        mut bytes: Vec<u8>,
        existing_id: Option<String>,
        sender: EnvelopeAddress,
        recipients: Vec<EnvelopeAddress>,
        unique: Option<&str>,
        strip_bcc: bool,
    ) -> Self {
        let own_message_id = existing_id.is_some();
        let message_id = ensure_message_id(&mut bytes, existing_id, &sender, unique);
        end_with_crlf(&mut bytes);
        Self {
            transmitted: if strip_bcc {
                transmitted_form(&bytes)
            } else {
                None
            },
            stored: bytes,
            sender,
            recipients,
            message_id,
            flags: Vec::new(),
            internal_date: None,
            own_message_id,
        }
    }

    /// The bytes the server receives (tests and the Sent copy compare them).
    pub fn transmitted(&self) -> &[u8] {
        self.transmitted.as_deref().unwrap_or(&self.stored)
    }

    /// Replaces the message (a forward with the original's parts added): the
    /// transmitted form is derived again.
    pub fn replace_message(&mut self, mut message: Vec<u8>) {
        end_with_crlf(&mut message);
        self.transmitted = transmitted_form(&message);
        self.stored = message;
    }

    /// What the Sent copy holds (before the outcome is recorded in it).
    pub fn stored(&self) -> &[u8] {
        &self.stored
    }

    /// The Message-ID, without angle brackets.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// True when the Message-ID came with a raw upload (it can then serve as the
    /// client's idempotency key).
    pub fn has_own_message_id(&self) -> bool {
        self.own_message_id
    }

    /// The envelope recipients.
    pub fn recipients(&self) -> &[EnvelopeAddress] {
        &self.recipients
    }

    /// Flags of the Sent copy beside `\Seen`.
    pub fn flags(&self) -> &[String] {
        &self.flags
    }

    /// INTERNALDATE of the Sent copy (RFC 3339), when the request gave one.
    pub fn internal_date(&self) -> Option<&str> {
        self.internal_date.as_deref()
    }
}

/// Submits `outgoing` with the caller's credentials.
///
/// # Errors
/// [`MailError::Smtp`]: refusals, connection failures, timeouts.
pub async fn submit(
    smtp: &SmtpBackend,
    identity: &Identity,
    outgoing: &Outgoing,
) -> Result<Submission, MailError> {
    let started = std::time::Instant::now();
    let secret = match identity.credential() {
        Credential::Password(password) => SmtpSecret::Password(password.expose_secret()),
        Credential::OAuth2 { token, .. } => SmtpSecret::AccessToken(token),
    };
    let result = smtp
        .submit(
            identity.username().as_str(),
            secret,
            &outgoing.sender,
            &outgoing.recipients,
            outgoing.transmitted(),
        )
        .await;
    let outcome = match &result {
        Ok(s) if s.refused.is_empty() => "sent",
        Ok(_) => "partly_refused",
        Err(SmtpError::Refused(reply)) if reply.is_permanent() => "refused",
        Err(SmtpError::Refused(_)) => "deferred",
        Err(SmtpError::NoRecipient(_)) => "refused",
        Err(SmtpError::AuthFailed(_)) => "auth_failed",
        Err(SmtpError::TokenRejected { .. }) => "token_rejected",
        Err(SmtpError::TooLarge { .. }) => "too_large",
        Err(_) => "error",
    };
    metrics::counter!("smtp_sends_total", "outcome" => outcome).increment(1);
    metrics::histogram!("smtp_send_duration_seconds").record(started.elapsed().as_secs_f64());
    result.map_err(MailError::Smtp)
}

/// The answer for a submitted message.
pub fn response(
    outgoing: &Outgoing,
    submission: Submission,
    sent_copy: Option<AppendResponse>,
    warnings: Vec<String>,
) -> SendResponse {
    let reply = submission.reply;
    SendResponse {
        message_id: outgoing.message_id.clone(),
        accepted: submission.accepted,
        refused: submission
            .refused
            .into_iter()
            .map(|r| RefusedRecipient {
                address: r.address,
                smtp_code: r.reply.code,
                enhanced_code: r.reply.enhanced,
                message: r.reply.text,
            })
            .collect(),
        smtp_reply: match reply.enhanced {
            Some(enhanced) => format!("{} {enhanced} {}", reply.code, reply.text),
            None => format!("{} {}", reply.code, reply.text),
        },
        sent_copy,
        warnings,
        replayed: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcc_is_removed_with_its_folded_lines_and_nothing_else() {
        let message = b"From: a@example.org\r\nBcc: x@example.org,\r\n y@example.org\r\nSubject: Bcc: not a header\r\n\r\nBcc: body line\r\n";
        assert_eq!(
            without_bcc(message),
            b"From: a@example.org\r\nSubject: Bcc: not a header\r\n\r\nBcc: body line\r\n"
        );
    }

    #[test]
    fn recipients_are_deduplicated_and_bounded() {
        let list = envelope_recipients(
            "to",
            ["A@example.org", "a@example.org", "b@example.org"].map(str::to_owned),
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        let many = (0..=MAX_RECIPIENTS).map(|i| format!("r{i}@example.org"));
        assert!(matches!(
            envelope_recipients("to", many),
            Err(MailError::Unacceptable(_))
        ));
    }
}
