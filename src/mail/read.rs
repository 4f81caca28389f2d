//! Reading one message: headers, text and HTML decoded to UTF-8, the attachment
//! list. Two round trips whatever the message size: the summary with
//! BODYSTRUCTURE, then only the text parts and the attachments' MIME headers
//! (attachments themselves are not downloaded).

use super::error::{ImapResultExt as _, MailError, Op};
use super::html::{sanitize, HtmlPolicy};
use super::open::{fetch_one, select, summary_items, uid_validity};
use crate::imap::mime::{self, MimePart};
use crate::imap::session::{FetchedMessage, SectionKind};
use crate::imap::{
    FetchItem, Flag, ImapSession, MailboxName, PartNumber, Section, StoreMode, Uid, UidSet,
};
use crate::model::message::{
    decode_text_part, header_fields, normalize_flags, Attachment, HtmlMode, Message, MessageSummary,
};

/// Text and HTML bodies larger than this are not inlined (download them as parts).
pub const MAX_INLINE_TEXT: u32 = 4 * 1024 * 1024;

fn part_number(part: &MimePart) -> Option<PartNumber> {
    PartNumber::from_path(part.path.clone()).ok()
}

/// What a read returns besides the message.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Set `\Seen` (selecting the mailbox read-write) and return the flags after.
    pub mark_seen: bool,
    /// Sanitised or raw HTML.
    pub html: HtmlMode,
    /// Keep remote images in sanitised HTML.
    pub remote_images: bool,
    /// The URL path of this message's attachments, to which a part number is
    /// appended (`…/messages/5/attachments/`): where `cid:` images point.
    pub attachment_base: String,
}

/// Reads message `uid` of `mailbox`.
///
/// # Errors
/// 404 when the message does not exist; IMAP failures.
pub async fn read_message(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    uid: Uid,
    options: &ReadOptions,
) -> Result<Message, MailError> {
    let mark_seen = options.mark_seen;
    let selected = select(session, mailbox, !mark_seen).await?;
    let uid_validity = uid_validity(&selected)?;
    let items = summary_items(session);
    let first = fetch_one(session, uid, &items).await?;
    let parts = first.parts.clone().unwrap_or_default();
    let single_part = parts.len() == 1 && parts[0].path == [1];
    let (text_part, html_part) = mime::body_parts(&parts);
    let inline = |p: Option<&MimePart>| {
        p.filter(|p| p.size <= MAX_INLINE_TEXT)
            .and_then(part_number)
    };
    let text_number = inline(text_part);
    let html_number = inline(html_part);
    let attachment_parts: Vec<(&MimePart, PartNumber)> = parts
        .iter()
        .filter(|p| p.is_attachment())
        .filter_map(|p| part_number(p).map(|n| (p, n)))
        .collect();
    let mut second = Vec::new();
    for number in text_number.iter().chain(html_number.iter()) {
        second.push(FetchItem::Body(Section::Part(number), None));
        if !single_part {
            second.push(FetchItem::Body(Section::PartMime(number), None));
        }
    }
    for (_, number) in &attachment_parts {
        if !single_part {
            second.push(FetchItem::Body(Section::PartMime(number), None));
        }
    }
    let bodies = if second.is_empty() {
        FetchedMessage::default()
    } else {
        second.insert(0, FetchItem::Uid);
        fetch_one(session, uid, &second).await?
    };
    let header = first.section(&SectionKind::Header).unwrap_or_default();
    // The MIME header of a part; for a single-part message that is the message header.
    let mime_header = |number: &PartNumber| -> Option<&[u8]> {
        if single_part {
            Some(header)
        } else {
            bodies.section(&SectionKind::PartMime(number.path().to_vec()))
        }
    };
    let decode = |number: &Option<PartNumber>, html: bool| -> Option<String> {
        let number = number.as_ref()?;
        let body = bodies.section(&SectionKind::Part(number.path().to_vec()))?;
        decode_text_part(mime_header(number).unwrap_or_default(), body, html)
    };
    let text = decode(&text_number, false);
    let (html, remote_images_blocked) = match (decode(&html_number, true), options.html) {
        (Some(html), HtmlMode::Sanitized) => {
            let policy = HtmlPolicy {
                remote_images: options.remote_images,
                cid_urls: parts
                    .iter()
                    .filter(|p| !p.is_multipart)
                    .filter_map(|p| {
                        let id = p.content_id.as_deref()?.trim_matches(['<', '>']);
                        Some((
                            id.to_owned(),
                            format!("{}{}", options.attachment_base, p.part_number()),
                        ))
                    })
                    .collect(),
            };
            let safe = sanitize(&html, &policy);
            (Some(safe.html), safe.remote_images_blocked)
        }
        (html, _) => (html, 0),
    };
    let attachments = attachment_parts
        .iter()
        .map(|(part, number)| Attachment::from_part(part, mime_header(number)))
        .collect();
    let mut summary = MessageSummary::from_fetch(&first, uid_validity);
    if mark_seen
        && !summary
            .flags
            .iter()
            .any(|f| f.eq_ignore_ascii_case("\\Seen"))
    {
        let (updated, _) = session
            .store_flags(&UidSet::single(uid), StoreMode::Add, &[Flag::Seen], None)
            .await
            .during(Op::Store)?;
        if let Some(message) = updated.into_iter().find(|m| m.uid == uid.get()) {
            summary.flags = normalize_flags(message.flags.iter().flatten());
            summary.modseq = message.modseq.or(summary.modseq);
        }
    }
    Ok(Message {
        summary,
        headers: header_fields(header),
        text,
        html,
        remote_images_blocked,
        attachments,
    })
}
