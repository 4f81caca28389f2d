//! Message routes: list and search with UID cursors, read (parsed), raw and
//! attachment downloads (streamed), and append (raw RFC 5322 or composed from JSON).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{mailbox_location, AppBytes, AppQuery, MailboxPath, MessagePath, PartPath};
use super::imap_ops::{
    current_state, fetch_one, open_mailbox, parse_flag_list, select, summary_items, uid_validity,
};
use super::signed::CursorScope;
use super::stream::{section_stream, StreamSection, TransferDecoder};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::{ApiError, ImapResultExt as _, Op};
use crate::imap::command::{Command, FetchItem, Section, StoreMode};
use crate::imap::date::InternalDate;
use crate::imap::mime::{self, MimePart};
use crate::imap::session::{FetchedMessage, SectionKind};
use crate::imap::{Flag, ImapSession, MailboxName, PartNumber, Uid, UidSet, ValidationError};
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

/// Query of `GET .../messages/{uid}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// Set `\Seen` after reading (needs the `write` scope). Default false: reading
    /// never changes the message.
    pub mark_seen: Option<bool>,
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

/// Parses a single `Range: bytes=a-b` (or `a-`, `-n`) against `size`.
fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let unsatisfiable = || ApiError::RangeNotSatisfiable { size };
    let text = value.to_str().map_err(|_| unsatisfiable())?;
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Multiple ranges: serve the whole body (allowed by RFC 9110).
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| unsatisfiable())?;
            (size.saturating_sub(n), size)
        }
        (first, "") => (first.parse().map_err(|_| unsatisfiable())?, size),
        (first, last) => {
            let first: u64 = first.parse().map_err(|_| unsatisfiable())?;
            let last: u64 = last.parse().map_err(|_| unsatisfiable())?;
            (first, last.saturating_add(1).min(size))
        }
    };
    if start >= end || start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end)))
}

/// Download the raw message (`message/rfc822`), streamed; supports one byte `Range`.
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/messages/{uid}/raw", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, description = "Message UID")),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The message as stored", content_type = "message/rfc822", body = Vec<u8>),
        (status = 206, description = "The requested byte range", content_type = "message/rfc822", body = Vec<u8>),
        ProblemResponses))]
pub async fn get_raw_message(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    user.require(Scope::Read)?;
    let (mut session, _) = open_mailbox(&state, &user, &mailbox, true).await?;
    let meta = fetch_one(&mut session, uid, &[FetchItem::Uid, FetchItem::Size]).await?;
    let size = u64::from(meta.size.unwrap_or(0));
    let range = parse_range(&headers, size)?;
    let (start, end) = range.unwrap_or((0, size));
    let stream = section_stream(
        session,
        UidSet::single(uid),
        StreamSection::Whole,
        start,
        end,
        TransferDecoder::Identity,
    );
    let mut response = Response::new(Body::from_stream(stream));
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let value = format!("bytes {start}-{}/{size}", end - 1);
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&value).expect("BUG: digits are a valid header value"),
        );
    }
    Ok(response)
}

/// An RFC 6266 `Content-Disposition` with an ASCII fallback and a UTF-8 `filename*`.
pub fn content_disposition(disposition: &str, filename: Option<&str>) -> HeaderValue {
    let mut value = disposition.to_owned();
    if let Some(name) = filename.filter(|n| !n.is_empty()) {
        let fallback: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let encoded =
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        value = format!("{value}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}");
    }
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// A server-supplied media type, if it is a plain `type/subtype` token pair.
fn safe_media_type(content_type: &str) -> HeaderValue {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match content_type.split_once('/') {
        Some((ty, sub)) if token(ty) && token(sub) => HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        _ => HeaderValue::from_static("application/octet-stream"),
    }
}

/// Download one attachment (or any part), decoded from base64 or quoted-printable,
/// streamed in chunks. Served with `Content-Disposition` (RFC 6266 `filename*`),
/// `X-Content-Type-Options: nosniff` and a sandboxing CSP, so an HTML attachment
/// cannot run script in the API's origin.
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/messages/{uid}/attachments/{part}", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, description = "Message UID"),
           ("part" = String, Path, description = "IMAP part number from the attachment list, e.g. `2` or `1.2`")),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "The decoded part", content_type = "application/octet-stream", body = Vec<u8>),
        ProblemResponses))]
pub async fn get_attachment(
    State(state): State<AppState>,
    user: AuthUser,
    PartPath { mailbox, uid, part }: PartPath,
) -> Result<Response, ApiError> {
    user.require(Scope::Read)?;
    let (mut session, _) = open_mailbox(&state, &user, &mailbox, true).await?;
    let meta = fetch_one(
        &mut session,
        uid,
        &[FetchItem::Uid, FetchItem::BodyStructure],
    )
    .await?;
    let parts = meta.parts.unwrap_or_default();
    let mime_part = parts
        .iter()
        .find(|p| p.path == part.path() && !p.is_multipart)
        .cloned()
        .ok_or_else(|| ApiError::NotFound {
            detail: format!("message {uid} has no part {part}"),
        })?;
    let single_part = parts.len() == 1;
    let mime_items = [
        FetchItem::Uid,
        FetchItem::Body(
            if single_part {
                Section::Header
            } else {
                Section::PartMime(&part)
            },
            None,
        ),
    ];
    let mime_fetch = fetch_one(&mut session, uid, &mime_items).await?;
    let mime_header = if single_part {
        mime_fetch.section(&SectionKind::Header)
    } else {
        mime_fetch.section(&SectionKind::PartMime(part.path().to_vec()))
    };
    let described = Attachment::from_part(&mime_part, mime_header);
    let decoder = TransferDecoder::for_encoding(&mime_part.encoding);
    let stream = section_stream(
        session,
        UidSet::single(uid),
        StreamSection::Part(part),
        0,
        u64::from(mime_part.size),
        decoder,
    );
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        safe_media_type(&mime_part.content_type),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        content_disposition("attachment", described.filename.as_deref()),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    Ok(response)
}

/// An address in a composed message: `"a@example.org"` or `{name, address}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ComposeAddress {
    /// Just the address.
    Plain(String),
    /// Name and address.
    Named {
        /// Display name.
        name: Option<String>,
        /// `local@domain`.
        address: String,
    },
}

/// An attachment of a composed message.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComposeAttachment {
    /// File name.
    pub filename: String,
    /// Media type, e.g. `application/pdf`.
    pub content_type: String,
    /// The content, base64.
    pub content_base64: String,
}

/// A message composed from JSON (`Content-Type: application/json`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComposeRequest {
    /// From.
    pub from: ComposeAddress,
    /// To.
    #[serde(default)]
    pub to: Vec<ComposeAddress>,
    /// Cc.
    #[serde(default)]
    pub cc: Vec<ComposeAddress>,
    /// Bcc (kept in the stored copy, as drafts need it).
    #[serde(default)]
    pub bcc: Vec<ComposeAddress>,
    /// Subject.
    pub subject: Option<String>,
    /// Plain-text body.
    pub text: Option<String>,
    /// HTML body.
    pub html: Option<String>,
    /// Attachments.
    #[serde(default)]
    pub attachments: Vec<ComposeAttachment>,
    /// Initial flags, e.g. `["\\Seen", "\\Draft"]`.
    #[serde(default)]
    pub flags: Vec<String>,
    /// INTERNALDATE, RFC 3339 (default: now).
    pub internal_date: Option<String>,
}

/// Query of `POST .../messages` for raw uploads.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AppendQuery {
    /// Comma-separated initial flags for a raw upload, e.g. `\Seen,$Work`.
    pub flags: Option<String>,
    /// INTERNALDATE for a raw upload, RFC 3339.
    pub internal_date: Option<String>,
}

/// Where an appended message went.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppendResponse {
    /// The mailbox.
    pub mailbox: String,
    /// The new UID (`null` when the server lacks UIDPLUS).
    pub uid: Option<u32>,
    /// The mailbox's UIDVALIDITY (`null` when the server lacks UIDPLUS).
    pub uid_validity: Option<u32>,
}

fn check_header_text(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains(['\r', '\n', '\0']) || value.len() > 998 {
        return Err(ApiError::unprocessable_field(
            field,
            "must be one line of at most 998 bytes",
        ));
    }
    Ok(())
}

fn compose_address(
    field: &str,
    address: &ComposeAddress,
) -> Result<mail_builder::headers::address::Address<'static>, ApiError> {
    let (name, addr) = match address {
        ComposeAddress::Plain(addr) => (None, addr.clone()),
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
        return Err(ApiError::unprocessable_field(
            field,
            format!("{addr:?} is not an address like name@example.org"),
        ));
    }
    Ok(match name {
        Some(name) => (name, addr).into(),
        None => addr.into(),
    })
}

/// Builds an RFC 5322 message from JSON with mail-builder.
fn compose(request: &ComposeRequest) -> Result<Vec<u8>, ApiError> {
    if request.text.is_none() && request.html.is_none() && request.attachments.is_empty() {
        return Err(ApiError::unprocessable_field(
            "body",
            "give text, html or attachments",
        ));
    }
    let mut builder =
        mail_builder::MessageBuilder::new().from(compose_address("from", &request.from)?);
    let list = |field: &str,
                list: &[ComposeAddress]|
     -> Result<Vec<mail_builder::headers::address::Address<'static>>, ApiError> {
        list.iter().map(|a| compose_address(field, a)).collect()
    };
    if !request.to.is_empty() {
        builder = builder.to(list("to", &request.to)?);
    }
    if !request.cc.is_empty() {
        builder = builder.cc(list("cc", &request.cc)?);
    }
    if !request.bcc.is_empty() {
        builder = builder.bcc(list("bcc", &request.bcc)?);
    }
    if let Some(subject) = &request.subject {
        check_header_text("subject", subject)?;
        builder = builder.subject(subject.clone());
    }
    if let Some(text) = &request.text {
        builder = builder.text_body(text.clone());
    }
    if let Some(html) = &request.html {
        builder = builder.html_body(html.clone());
    }
    for (i, attachment) in request.attachments.iter().enumerate() {
        check_header_text("attachments.filename", &attachment.filename)?;
        if safe_media_type(&attachment.content_type) == "application/octet-stream"
            && attachment.content_type != "application/octet-stream"
        {
            return Err(ApiError::unprocessable_field(
                "attachments.content_type",
                format!("attachment {i}: not a media type like application/pdf"),
            ));
        }
        let content = base64::engine::general_purpose::STANDARD
            .decode(attachment.content_base64.as_bytes())
            .map_err(|_| {
                ApiError::unprocessable_field(
                    "attachments.content_base64",
                    format!("attachment {i}: not valid base64"),
                )
            })?;
        builder = builder.attachment(
            attachment.content_type.clone(),
            attachment.filename.clone(),
            content,
        );
    }
    builder
        .write_to_vec()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("composing the message failed: {e}")))
}

/// Store a message: a raw RFC 5322 upload (`Content-Type: message/rfc822`, flags and
/// date in the query) or JSON composed into MIME. Answers 201 with the new UID
/// (from UIDPLUS APPENDUID) and `Location`. Bodies over 64 MiB answer 413.
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/messages", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"), AppendQuery),
    request_body(content(
        (ComposeRequest = "application/json"),
        (Vec<u8> = "message/rfc822"),
    )),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 201, description = "Stored", body = AppendResponse,
        headers(("Location" = String, description = "URL of the new message"))), ProblemResponses))]
pub async fn append_message(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppQuery(query): AppQuery<AppendQuery>,
    headers: HeaderMap,
    AppBytes(body): AppBytes,
) -> Result<impl IntoResponse, ApiError> {
    user.require(Scope::Write)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let (message, flags, date) = match content_type.as_str() {
        "message/rfc822" => {
            let flags: Vec<String> = query
                .flags
                .as_deref()
                .map(|f| {
                    f.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            (
                body.to_vec(),
                parse_flag_list("flags", &flags)?,
                query.internal_date.clone(),
            )
        }
        "application/json" => {
            let request: ComposeRequest = serde_json::from_slice(&body).map_err(|e| {
                if e.is_syntax() || e.is_eof() {
                    ApiError::bad_field("body", format!("malformed JSON: {e}"))
                } else {
                    ApiError::unprocessable_field("body", e.to_string())
                }
            })?;
            (
                compose(&request)?,
                parse_flag_list("flags", &request.flags)?,
                request.internal_date.clone(),
            )
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType {
                detail: "send message/rfc822 (a raw message) or application/json (to compose one)"
                    .to_owned(),
            })
        }
    };
    if message.is_empty() {
        return Err(ApiError::unprocessable_field(
            "body",
            "the message is empty",
        ));
    }
    if message.contains(&0) {
        return Err(ApiError::unprocessable_field(
            "body",
            "the message contains NUL bytes",
        ));
    }
    let date = date
        .as_deref()
        .map(|d| InternalDate::parse_rfc3339("internal_date", d))
        .transpose()
        .map_err(|e| ApiError::unprocessable_field(e.field, e.message))?;
    let mut session = state.session(&user).await?;
    let appended = session
        .append(&mailbox, &flags, date.as_ref(), &message)
        .await
        .during(Op::Append)?;
    let body = AppendResponse {
        mailbox: mailbox.as_str().to_owned(),
        uid: appended.map(|(_, uid)| uid),
        uid_validity: appended.map(|(validity, _)| validity),
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Some((_, uid)) = appended {
        let location = format!("{}/messages/{uid}", mailbox_location(&mailbox));
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let mut headers = HeaderMap::new();
        assert_eq!(parse_range(&headers, 100).unwrap(), None);
        for (spec, want) in [
            ("bytes=0-9", (0, 10)),
            ("bytes=90-", (90, 100)),
            ("bytes=-5", (95, 100)),
            ("bytes=50-1000", (50, 100)),
        ] {
            headers.insert(header::RANGE, HeaderValue::from_static(spec));
            assert_eq!(parse_range(&headers, 100).unwrap(), Some(want), "{spec}");
        }
        for bad in ["bytes=100-", "bytes=5-2", "bytes=x-y"] {
            headers.insert(header::RANGE, HeaderValue::from_static(bad));
            assert_eq!(
                parse_range(&headers, 100).unwrap_err().status(),
                416,
                "{bad}"
            );
        }
    }

    #[test]
    fn dispositions_follow_rfc_6266() {
        assert_eq!(
            content_disposition("attachment", Some("€ rates.pdf")),
            "attachment; filename=\"_ rates.pdf\"; filename*=UTF-8''%E2%82%AC%20rates%2Epdf"
        );
        assert_eq!(content_disposition("attachment", None), "attachment");
        assert_eq!(safe_media_type("text/html"), "text/html");
        assert_eq!(
            safe_media_type("text/html\r\nX: y"),
            "application/octet-stream"
        );
    }
}
