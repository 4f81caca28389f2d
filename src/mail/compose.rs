//! Composing an RFC 5322 message from the JSON compose body with mail-builder.
//! Every header value is checked to be one line before it reaches the builder, so
//! user text cannot add headers.

use base64::Engine as _;
use mail_builder::headers::address::Address;

use super::error::MailError;
use crate::imap::ValidationError;
use crate::model::compose::{ComposeAddress, ComposeHeader, ComposeRequest};

/// True for a plain `type/subtype` media type made of RFC 6838 token characters.
pub fn is_media_type(content_type: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    content_type
        .split_once('/')
        .is_some_and(|(ty, sub)| token(ty) && token(sub))
}

fn check_header_text(field: &'static str, value: &str) -> Result<(), MailError> {
    if value.contains(['\r', '\n', '\0']) || value.len() > 998 {
        return Err(MailError::Invalid(ValidationError::new(
            field,
            "must be one line of at most 998 bytes",
        )));
    }
    Ok(())
}

fn compose_address(
    field: &'static str,
    address: &ComposeAddress,
) -> Result<Address<'static>, MailError> {
    let (name, addr) = match address {
        ComposeAddress::Plain(text) => split_name_addr(text),
        ComposeAddress::Named { name, address } => (name.clone(), address.clone()),
    };
    check_header_text(field, &addr)?;
    if let Some(name) = &name {
        check_header_text(field, name)?;
    }
    let valid = addr
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
        && !addr.contains([' ', '<', '>', ',']);
    if !valid {
        return Err(MailError::Invalid(ValidationError::new(
            field,
            format!("{addr:?} is not an address like name@example.org"),
        )));
    }
    Ok(match name {
        Some(name) => (name, addr).into(),
        None => addr.into(),
    })
}

/// `"Zoë <zoe@example.org>"` (or `"\"Zoë\" <…>"`) as name and address; anything
/// else is an address alone.
fn split_name_addr(text: &str) -> (Option<String>, String) {
    let trimmed = text.trim();
    match (trimmed.rfind('<'), trimmed.strip_suffix('>')) {
        (Some(open), Some(without_close)) => {
            let address = without_close[open + 1..].trim().to_owned();
            let name = trimmed[..open].trim().trim_matches('"').trim();
            ((!name.is_empty()).then(|| name.to_owned()), address)
        }
        _ => (None, trimmed.to_owned()),
    }
}

fn address_list(
    field: &'static str,
    list: &[ComposeAddress],
) -> Result<Vec<Address<'static>>, MailError> {
    list.iter().map(|a| compose_address(field, a)).collect()
}

/// Most extra header fields a composed message may have.
pub const MAX_EXTRA_HEADERS: usize = 20;

/// Header fields a client may set besides `X-…` ones: none of them is one the
/// gateway writes itself or one that changes delivery or threading.
const SETTABLE_HEADERS: [&str; 9] = [
    "Importance",
    "Priority",
    "Sensitivity",
    "Auto-Submitted",
    "Organization",
    "Keywords",
    "Comments",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// Checks an extra header field: a settable name (letters, digits, `-`) and a
/// one-line value.
fn check_extra_header(header: &ComposeHeader) -> Result<(), MailError> {
    let name = header.name.as_str();
    let well_formed = !name.is_empty()
        && name.len() <= 76
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let settable = name.len() > 2 && name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("x-"))
        || SETTABLE_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name));
    if !well_formed || !settable {
        return Err(MailError::Invalid(ValidationError::new(
            "headers.name",
            format!(
                "{name:?} cannot be set: use an X- name or one of {}",
                SETTABLE_HEADERS.join(", ")
            ),
        )));
    }
    check_header_text("headers.value", &header.value)
}

/// What a reply or forward adds to a composed message (see `super::reply`).
#[derive(Debug, Default)]
pub struct Extras {
    /// `In-Reply-To` (a Message-ID without angle brackets).
    pub in_reply_to: Option<String>,
    /// `References`, oldest first.
    pub references: Vec<String>,
}

/// Reopens a composed `message` as `multipart/mixed` with `boundary`, its own body
/// as the first part (with the message's `Content-*` fields), so parts can be
/// appended after it ([`mixed_part`], then [`close_mixed`]).
pub fn open_mixed(message: &[u8], boundary: &str) -> Vec<u8> {
    let split = memchr::memmem::find(message, b"\r\n\r\n").map_or(message.len(), |i| i + 2);
    let (header, body) = message.split_at(split);
    let body = body.strip_prefix(b"\r\n").unwrap_or(body);
    let (content, other) = header_fields(header, |name| {
        name.len() > 8 && name[..8].eq_ignore_ascii_case(b"content-")
    });
    let mut out = Vec::with_capacity(message.len() + 256);
    out.extend_from_slice(&other);
    out.extend_from_slice(
        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n").as_bytes(),
    );
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    out.extend_from_slice(&content);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Appends one part to a message opened with [`open_mixed`]: the `Content-*` fields
/// of `mime_header` and the part's `body` as it is (still transfer-encoded).
pub fn mixed_part(out: &mut Vec<u8>, boundary: &str, mime_header: &[u8], body: &[u8]) {
    let (content, _) = header_fields(mime_header, |name| {
        name.len() > 8 && name[..8].eq_ignore_ascii_case(b"content-")
    });
    out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
    out.extend_from_slice(&content);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Ends a message opened with [`open_mixed`].
pub fn close_mixed(out: &mut Vec<u8>, boundary: &str) {
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
}

/// Splits a header block into the fields `wanted` picks (by name) and the others,
/// folded lines with their field; lines end in CRLF; the blank line is dropped.
fn header_fields(header: &[u8], wanted: impl Fn(&[u8]) -> bool) -> (Vec<u8>, Vec<u8>) {
    let (mut picked, mut others) = (Vec::new(), Vec::new());
    let mut into_picked = false;
    for line in header.split_inclusive(|b| *b == b'\n') {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            break;
        }
        if !matches!(text.first(), Some(b' ' | b'\t')) {
            let name = text.split(|b| *b == b':').next().unwrap_or_default();
            into_picked = wanted(name);
        }
        let target = if into_picked {
            &mut picked
        } else {
            &mut others
        };
        target.extend_from_slice(text);
        target.extend_from_slice(b"\r\n");
    }
    (picked, others)
}

/// True for a Message-ID (without angle brackets) that is safe to write into a
/// header: visible ASCII, no angle brackets, not too long.
pub fn is_message_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 250
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

/// Builds the message `request` describes.
///
/// # Errors
/// A header value with a line break, a malformed address, media type or base64
/// content (400); no body at all (422).
pub fn compose(request: &ComposeRequest) -> Result<Vec<u8>, MailError> {
    compose_with_id(request, None, &Extras::default())
}

/// The address part of a compose address, validated as a header value.
///
/// # Errors
/// As [`compose`] for addresses.
pub fn address_of(field: &'static str, address: &ComposeAddress) -> Result<String, MailError> {
    let built = compose_address(field, address)?;
    match built {
        Address::Address(a) => Ok(a.email.into_owned()),
        _ => Err(MailError::Invalid(ValidationError::new(
            field,
            "not a single address",
        ))),
    }
}

/// As [`compose`], with `message_id` (without angle brackets) as its Message-ID when
/// given (mail-builder makes one up otherwise), and a reply's or forward's `extras`.
///
/// # Errors
/// As [`compose`].
pub fn compose_with_id(
    request: &ComposeRequest,
    message_id: Option<&str>,
    extras: &Extras,
) -> Result<Vec<u8>, MailError> {
    if request.text.is_none() && request.html.is_none() && request.attachments.is_empty() {
        return Err(MailError::unacceptable(
            "body",
            "give text, html or attachments",
        ));
    }
    let mut builder =
        mail_builder::MessageBuilder::new().from(compose_address("from", &request.from)?);
    if let Some(id) = message_id {
        builder = builder.message_id(id.to_owned());
    }
    if !request.to.is_empty() {
        builder = builder.to(address_list("to", &request.to)?);
    }
    if !request.cc.is_empty() {
        builder = builder.cc(address_list("cc", &request.cc)?);
    }
    if !request.bcc.is_empty() {
        builder = builder.bcc(address_list("bcc", &request.bcc)?);
    }
    if !request.reply_to.is_empty() {
        builder = builder.reply_to(address_list("reply_to", &request.reply_to)?);
    }
    if request.headers.len() > MAX_EXTRA_HEADERS {
        return Err(MailError::unacceptable(
            "headers",
            format!("at most {MAX_EXTRA_HEADERS} extra header fields"),
        ));
    }
    for header in &request.headers {
        check_extra_header(header)?;
        builder = builder.header(
            header.name.clone(),
            mail_builder::headers::text::Text::new(header.value.clone()),
        );
    }
    if let Some(subject) = &request.subject {
        check_header_text("subject", subject)?;
        builder = builder.subject(subject.clone());
    }
    // Taken from the original message: written only when they are plain IDs.
    if let Some(id) = extras.in_reply_to.as_deref().filter(|id| is_message_id(id)) {
        builder = builder.in_reply_to(id.to_owned());
    }
    let references: Vec<String> = extras
        .references
        .iter()
        .filter(|id| is_message_id(id))
        .cloned()
        .collect();
    if !references.is_empty() {
        builder = builder.references(references);
    }
    if let Some(text) = &request.text {
        builder = builder.text_body(text.clone());
    }
    if let Some(html) = &request.html {
        builder = builder.html_body(html.clone());
    }
    for (i, attachment) in request.attachments.iter().enumerate() {
        check_header_text("attachments.filename", &attachment.filename)?;
        if !is_media_type(&attachment.content_type) {
            return Err(MailError::Invalid(ValidationError::new(
                "attachments.content_type",
                format!("attachment {i}: not a media type like application/pdf"),
            )));
        }
        let content = base64::engine::general_purpose::STANDARD
            .decode(attachment.content_base64.as_bytes())
            .map_err(|_| {
                MailError::Invalid(ValidationError::new(
                    "attachments.content_base64",
                    format!("attachment {i}: not valid base64"),
                ))
            })?;
        builder = builder.attachment(
            attachment.content_type.clone(),
            attachment.filename.clone(),
            content,
        );
    }
    builder
        .write_to_vec()
        .map_err(|e| MailError::Internal(anyhow::anyhow!("composing the message failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_may_carry_a_name() {
        assert_eq!(
            split_name_addr("Zoë <zoe@example.org>"),
            (Some("Zoë".to_owned()), "zoe@example.org".to_owned())
        );
        assert_eq!(
            split_name_addr("\"Doe, Jane\" <jane@example.org>"),
            (Some("Doe, Jane".to_owned()), "jane@example.org".to_owned())
        );
        assert_eq!(
            split_name_addr("<x@example.org>"),
            (None, "x@example.org".to_owned())
        );
        assert_eq!(
            split_name_addr(" plain@example.org "),
            (None, "plain@example.org".to_owned())
        );
    }

    #[test]
    fn only_settable_headers_with_one_line_values_pass() {
        let header = |name: &str, value: &str| ComposeHeader {
            name: name.to_owned(),
            value: value.to_owned(),
        };
        assert!(check_extra_header(&header("X-Ticket", "T-42")).is_ok());
        assert!(check_extra_header(&header("importance", "high")).is_ok());
        for (name, value) in [
            ("Bcc", "eve@example.org"),
            ("Message-ID", "<x@y>"),
            ("X-", "v"),
            ("X Ticket", "v"),
            ("X-Ticket:", "v"),
            ("X-Ticket", "a\r\nBcc: eve@example.org"),
            ("\u{1F600}", "v"),
            ("é-", "v"),
        ] {
            assert!(
                check_extra_header(&header(name, value)).is_err(),
                "{name:?} {value:?}"
            );
        }
    }

    #[test]
    fn a_message_reopens_as_mixed_with_parts_passed_through() {
        let message = b"From: a@example.org\r\nSubject: x\r\nContent-Type: text/plain;\r\n charset=utf-8\r\nMIME-Version: 1.0\r\n\r\nHello\r\n";
        let mut out = open_mixed(message, "B");
        mixed_part(
            &mut out,
            "B",
            b"Content-Type: application/pdf\r\nX-Other: dropped\r\nContent-Transfer-Encoding: base64\r\n\r\n",
            b"JVBERg==",
        );
        close_mixed(&mut out, "B");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "From: a@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain;\r\n charset=utf-8\r\n\r\nHello\r\n\r\n--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--B--\r\n"
        );
    }

    #[test]
    fn media_types_are_token_pairs() {
        assert!(is_media_type("application/pdf"));
        assert!(is_media_type("application/vnd.ms-excel"));
        assert!(!is_media_type("text/html\r\nX: y"));
        assert!(!is_media_type("pdf"));
        assert!(!is_media_type("text/"));
    }
}
