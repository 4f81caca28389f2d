//! Message routes: list and search with UID cursors, and read (parsed). Downloads
//! are in `downloads.rs`, storing messages in `append.rs`.

use axum::extract::State;
use axum::Json;

use super::extract::{AppQuery, MailboxPath, MessagePath};
use super::imap_ops::{current_state, fetch_one, select, summary_items, uid_validity};
use super::signed::CursorScope;
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::{ApiError, ImapResultExt as _, Op};
use crate::imap::command::{Command, FetchItem, Section, StoreMode};
use crate::imap::mime::{self, MimePart};
use crate::imap::session::{FetchedMessage, SectionKind};
use crate::imap::{Flag, ImapSession, MailboxName, PartNumber, Uid, UidSet, ValidationError};
use crate::model::message::ReadQuery;
use crate::model::message::{
    decode_text_part, header_fields, Attachment, ListMessagesQuery, Message, MessageFilter,
    MessageList, MessageSummary,
};
use crate::state::AppState;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 500;
/// Largest message accepted by `POST .../messages` (raw or composed), in bytes.
pub const MAX_APPEND_BYTES: usize = 64 * 1024 * 1024;
/// Text and HTML bodies larger than this are not inlined in `GET .../messages/{uid}`
/// (download them as parts instead).
pub const MAX_INLINE_TEXT: u32 = 4 * 1024 * 1024;

fn invalid(err: ValidationError) -> ApiError {
    ApiError::bad_field(err.field, err.message)
}

/// UIDs below `anchor`, newest first, at most `limit`, searching growing UID
/// windows so the cost follows the page size, not the mailbox size. Returns
/// whether older messages may remain.
async fn uids_below(
    session: &mut ImapSession,
    anchor: u32,
    limit: usize,
) -> Result<(Vec<u32>, bool), ApiError> {
    let mut window = (limit as u32).saturating_mul(2).max(64);
    loop {
        let high = anchor.saturating_sub(1);
        if high == 0 {
            return Ok((Vec::new(), false));
        }
        let low = high.saturating_sub(window - 1).max(1);
        let range = UidSet::range(low, high).map_err(invalid)?;
        let found = session
            .search(&[crate::imap::search::SearchKey::Uid(range)])
            .await
            .during(Op::Search)?;
        if found.len() >= limit || low == 1 {
            let more = found.len() > limit || low > 1;
            let page: Vec<u32> = found.into_iter().rev().take(limit).collect();
            return Ok((page, more));
        }
        window = window.saturating_mul(4);
    }
}

fn summaries(messages: Vec<FetchedMessage>, uid_validity: u32) -> Vec<MessageSummary> {
    let mut items: Vec<MessageSummary> = messages
        .iter()
        .map(|m| MessageSummary::from_fetch(m, uid_validity))
        .collect();
    items.sort_by_key(|item| std::cmp::Reverse(item.uid));
    items
}

/// List messages, newest first, with filters and an opaque cursor.
///
/// Without filters the newest page costs one FETCH of the last `limit` messages,
/// however large the mailbox. With filters, one UID SEARCH, then one FETCH of the page.
/// Pages are anchored on UIDs: new mail never shifts or duplicates items.
/// Free-text filters are sent as IMAP strings (quoted, or a UTF-8 literal), never as syntax.
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/messages", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"), ListMessagesQuery),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "A page of summaries", body = MessageList), ProblemResponses))]
pub async fn list_messages(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppQuery(query): AppQuery<ListMessagesQuery>,
) -> Result<Json<MessageList>, ApiError> {
    user.require(Scope::Read)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::unprocessable_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let limit = limit as usize;
    let keys = MessageFilter::from(&query).keys().map_err(invalid)?;
    let list = retry_after_bye!(state, &user, |session| {
        list_page(
            &state,
            &mut session,
            &mailbox,
            &keys,
            query.cursor.as_deref(),
            limit,
        )
        .await
    })?;
    Ok(Json(list))
}

/// The body of [`list_messages`], on one session.
async fn list_page(
    state: &AppState,
    session: &mut ImapSession,
    mailbox: &MailboxName,
    keys: &[crate::imap::search::SearchKey],
    cursor: Option<&str>,
    limit: usize,
) -> Result<MessageList, ApiError> {
    // See mail that arrived (or a mailbox that was recreated) since this session last
    // looked: a NOOP when the mailbox is already selected. Without it a stale session
    // could miss new mail on the first page or a UIDVALIDITY change on a cursor page.
    let selected = session
        .select_fresh(mailbox, true)
        .await
        .during(Op::Select)?;
    let uid_validity = uid_validity(&selected)?;
    // Taken before reading the page, so `/changes?since=` from it misses nothing.
    let mailbox_state = current_state(session, mailbox)
        .await?
        .map(|current| state.tokens_codec.encode_state(mailbox.wire(), &current));
    let scope = CursorScope::new(
        mailbox.wire(),
        &Command::search_criteria(keys),
        uid_validity,
    );
    let anchor = cursor
        .map(|c| state.tokens_codec.decode_cursor(&scope, c))
        .transpose()?;
    let items = summary_items(session);
    let (messages, total, more) = if keys.is_empty() {
        let total = selected.exists.unwrap_or(0);
        match anchor {
            None if total == 0 => (Vec::new(), 0, false),
            None => {
                let first = total.saturating_sub(limit as u32 - 1).max(1);
                let messages = session
                    .fetch_sequence(first, total, &items)
                    .await
                    .during(Op::Fetch)?;
                (messages, total, first > 1)
            }
            Some(anchor) => {
                let (page, more) = uids_below(session, anchor, limit).await?;
                let messages = fetch_page(session, &page, &items).await?;
                (messages, total, more)
            }
        }
    } else {
        let mut matching = session.search(keys).await.during(Op::Search)?;
        let total = u32::try_from(matching.len()).unwrap_or(u32::MAX);
        if let Some(anchor) = anchor {
            matching.retain(|uid| *uid < anchor);
        }
        let more = matching.len() > limit;
        let page: Vec<u32> = matching.into_iter().rev().take(limit).collect();
        let messages = fetch_page(session, &page, &items).await?;
        (messages, total, more)
    };
    let items = summaries(messages, uid_validity);
    let next_cursor = match items.last() {
        Some(last) if more => Some(state.tokens_codec.encode_cursor(&scope, last.uid)),
        _ => None,
    };
    Ok(MessageList {
        items,
        total,
        next_cursor,
        uid_validity,
        state: mailbox_state,
    })
}

async fn fetch_page(
    session: &mut ImapSession,
    uids: &[u32],
    items: &[FetchItem<'_>],
) -> Result<Vec<FetchedMessage>, ApiError> {
    let Ok(set) = UidSet::from_uids(uids.iter().filter_map(|u| Uid::try_from(*u).ok())) else {
        return Ok(Vec::new());
    };
    session.fetch_uids(&set, items).await.during(Op::Fetch)
}

fn part_number(part: &MimePart) -> Option<PartNumber> {
    PartNumber::from_path(part.path.clone()).ok()
}

/// Read one message: headers, text and HTML decoded to UTF-8, attachment list.
///
/// Two round trips whatever the message size: summary with BODYSTRUCTURE, then only
/// the text parts and the attachments' MIME headers (attachments are not downloaded).
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/messages/{uid}", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, description = "Message UID"), ReadQuery),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "The message", body = Message), ProblemResponses))]
pub async fn get_message(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    AppQuery(query): AppQuery<ReadQuery>,
) -> Result<Json<Message>, ApiError> {
    user.require(Scope::Read)?;
    let mark_seen = query.mark_seen.unwrap_or(false);
    if mark_seen {
        user.require(Scope::Write)?;
    }
    let message = retry_after_bye!(state, &user, |session| {
        read_message(&mut session, &mailbox, uid, mark_seen).await
    })?;
    Ok(Json(message))
}

/// The body of [`get_message`], on one session.
async fn read_message(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    uid: Uid,
    mark_seen: bool,
) -> Result<Message, ApiError> {
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
    let html = decode(&html_number, true);
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
            summary.flags = crate::model::message::normalize_flags(message.flags.iter().flatten());
            summary.modseq = message.modseq.or(summary.modseq);
        }
    }
    Ok(Message {
        summary,
        headers: header_fields(header),
        text,
        html,
        attachments,
    })
}
