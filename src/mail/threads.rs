//! Conversations in a mailbox, from the server's own threading (`UID THREAD
//! REFERENCES`, RFC 5256, or `REFS`): a page of threads, the one with the newest
//! message first, and one thread's messages.
//!
//! On a server without THREAD the gateway threads the mailbox itself (RFC 5256
//! REFERENCES, `threading.rs`) from every message's header, up to
//! [`MAX_GATEWAY_THREADING`] messages.
//!
//! A thread's id is the UID of its first message (the lowest UID in it): stable while
//! that message stays. Pages are fixed by the first: they hold the threads of the
//! messages below the UIDNEXT of that moment, in the same order, so new mail never
//! shifts them (a reply arriving meanwhile shows from the next first page on).

use std::collections::HashMap;

use super::error::{ImapResultExt as _, MailError, Op};
use super::list::{fetch_page, page_size};
use super::open::{examine_fresh, summary_items};
use super::sent::find_sent;
use super::threading::{thread_references, ThreadInput};
use super::tokens::{CursorScope, OrderedPosition, TokenCodec};
use crate::imap::date::InternalDate;
use crate::imap::search::{SearchKey, SearchText};
use crate::imap::session::{FetchedMessage, SectionKind};
use crate::imap::thread::Thread;
use crate::imap::{FetchItem, ImapError, ImapSession, MailboxName, Section, UidSet};
use crate::model::message::MessageSummary;
use crate::model::thread::{
    SentReplies, ThreadDetail, ThreadList, ThreadMessage, ThreadSummary, ThreadsQuery,
};

/// Default threads per page.
pub const DEFAULT_LIMIT: u32 = 20;
/// Most threads per page.
pub const MAX_LIMIT: u32 = 100;

/// A validated thread-list request.
#[derive(Debug, Clone)]
pub struct ThreadsRequest {
    limit: usize,
    cursor: Option<String>,
}

impl ThreadsRequest {
    /// Validates the page size (422 outside 1..=[`MAX_LIMIT`]).
    ///
    /// # Errors
    /// As above.
    pub fn parse(query: &ThreadsQuery) -> Result<Self, MailError> {
        Ok(Self {
            limit: page_size(query.limit, DEFAULT_LIMIT, MAX_LIMIT)?,
            cursor: query.cursor.clone(),
        })
    }
}

/// Most messages the gateway threads itself, on a server without THREAD: it reads
/// every message's header to do so.
pub const MAX_GATEWAY_THREADING: u32 = 20_000;

/// The `algorithm` of threads the gateway computed.
pub const GATEWAY_ALGORITHM: &str = "gateway-references";

/// The threads of the selected mailbox (of its messages below `below_uid`) and the
/// algorithm's name: the server's `UID THREAD`, or, on a server without it, RFC
/// 5256 REFERENCES computed here from every message's header.
///
/// # Errors
/// 501 for a mailbox over [`MAX_GATEWAY_THREADING`] messages on a server without
/// THREAD; IMAP failures.
async fn threads_of(
    session: &mut ImapSession,
    below_uid: Option<u32>,
) -> Result<(String, Vec<Thread>), MailError> {
    match session.threads(below_uid).await {
        Ok((algorithm, threads)) => return Ok((algorithm.atom().to_owned(), threads)),
        Err(ImapError::Unsupported(_)) => {}
        Err(err) => return Err(MailError::imap(Op::Search, err)),
    }
    let exists = session.selected().and_then(|s| s.exists).unwrap_or(0);
    if exists > MAX_GATEWAY_THREADING {
        return Err(MailError::imap(
            Op::Search,
            ImapError::Unsupported(
                "THREAD (RFC 5256); the gateway threads mailboxes of up to 20,000 messages itself",
            ),
        ));
    }
    let last = below_uid.map_or(u32::MAX, |below| below.saturating_sub(1));
    if last == 0 || exists == 0 {
        return Ok((GATEWAY_ALGORITHM.to_owned(), Vec::new()));
    }
    let range = UidSet::range(1, last)?;
    let items = [
        FetchItem::Uid,
        FetchItem::InternalDate,
        FetchItem::Body(Section::Header, None),
    ];
    let mut inputs = session
        .fetch_uids_as(&range, &items, |message| thread_input(&message))
        .await
        .during(Op::Fetch)?;
    inputs.sort_by_key(|input| input.uid);
    Ok((GATEWAY_ALGORITHM.to_owned(), thread_references(&inputs)))
}

/// What threading needs of a fetched message's header.
fn thread_input(message: &FetchedMessage) -> ThreadInput {
    let header = message.section(&SectionKind::Header).unwrap_or_default();
    let parsed = mail_parser::MessageParser::new().parse_headers(header);
    let ids = |value: &mail_parser::HeaderValue<'_>| -> Vec<String> {
        value
            .as_text_list()
            .map(|ids| ids.iter().map(|id| id.to_string()).collect())
            .or_else(|| value.as_text().map(|id| vec![id.to_owned()]))
            .unwrap_or_default()
    };
    let arrival = message
        .internal_date
        .as_deref()
        .and_then(crate::model::message::internal_date_rfc3339)
        .and_then(|date| InternalDate::parse_rfc3339("internal_date", &date).ok())
        .map_or(0, |date| date.unix_seconds());
    match parsed {
        Some(parsed) => {
            let mut references = ids(parsed.references());
            if references.is_empty() {
                references = ids(parsed.in_reply_to()).into_iter().take(1).collect();
            }
            ThreadInput {
                uid: message.uid,
                message_id: parsed.message_id().map(str::to_owned),
                references,
                subject: parsed.subject().unwrap_or_default().to_owned(),
                date: parsed.date().map_or(arrival, |date| date.to_timestamp()),
            }
        }
        None => ThreadInput {
            uid: message.uid,
            message_id: None,
            references: Vec::new(),
            subject: String::new(),
            date: arrival,
        },
    }
}

fn first_uid(thread: &Thread) -> u32 {
    thread.iter().map(|m| m.uid).min().unwrap_or(0)
}

fn newest_uid(thread: &Thread) -> u32 {
    thread.iter().map(|m| m.uid).max().unwrap_or(0)
}

/// A page of `mailbox`'s threads, the one with the newest message first.
///
/// # Errors
/// 501 when the server cannot thread; a forged cursor (400) or one from before a
/// UIDVALIDITY change (409); IMAP failures.
pub async fn list_threads(
    codec: &TokenCodec,
    session: &mut ImapSession,
    mailbox: &MailboxName,
    request: &ThreadsRequest,
) -> Result<ThreadList, MailError> {
    let (_, validity) = examine_fresh(session, mailbox).await?;
    let scope = CursorScope::new(mailbox.wire(), "threads", validity);
    let position = request
        .cursor
        .as_deref()
        .map(|cursor| codec.decode_ordered_cursor(&scope, cursor))
        .transpose()?;
    let (algorithm, mut threads) = threads_of(session, position.map(|p| p.bound)).await?;
    // The first page fixes the listing: the messages up to the newest it saw (a
    // session's UIDNEXT may be older than its view).
    let (bound, offset) = position.map_or_else(
        || {
            let newest = threads.iter().map(newest_uid).max().unwrap_or(0);
            (newest.saturating_add(1), 0)
        },
        |p| (p.bound, p.shown),
    );
    threads.sort_by_key(|thread| std::cmp::Reverse(newest_uid(thread)));
    let total = u32::try_from(threads.len()).unwrap_or(u32::MAX);
    let page: Vec<Thread> = threads
        .into_iter()
        .skip(offset as usize)
        .take(request.limit + 1)
        .collect();
    let more = page.len() > request.limit;
    let page = &page[..page.len().min(request.limit)];
    // The newest message of each thread, summarised; the flags of all of them.
    let newest = UidSet::from_uids(
        page.iter()
            .map(newest_uid)
            .filter_map(|u| u.try_into().ok()),
    );
    let members = UidSet::from_uids(page.iter().flatten().filter_map(|m| m.uid.try_into().ok()));
    let items = summary_items(session);
    let summaries = fetch_page(session, newest.as_ref().ok(), &items, validity).await?;
    let mut seen: HashMap<u32, bool> = HashMap::new();
    if let Ok(members) = &members {
        let flags = [FetchItem::Uid, FetchItem::Flags];
        for message in session
            .fetch_uids(members, &flags)
            .await
            .during(Op::Fetch)?
        {
            let is_seen = message
                .flags
                .as_ref()
                .is_some_and(|flags| flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")));
            seen.insert(message.uid, is_seen);
        }
    }
    let by_uid: HashMap<u32, MessageSummary> = summaries.into_iter().map(|s| (s.uid, s)).collect();
    let items = page
        .iter()
        .filter_map(|thread| {
            // A message expunged meanwhile drops out; a thread without its newest is
            // left out of this page.
            let newest = by_uid.get(&newest_uid(thread))?.clone();
            let mut uids: Vec<u32> = thread
                .iter()
                .map(|m| m.uid)
                .filter(|uid| seen.contains_key(uid))
                .collect();
            uids.sort_unstable();
            let unseen = uids
                .iter()
                .filter(|uid| seen.get(uid) == Some(&false))
                .count();
            Some(ThreadSummary {
                id: first_uid(thread),
                messages: u32::try_from(uids.len()).unwrap_or(u32::MAX),
                unseen: u32::try_from(unseen).unwrap_or(u32::MAX),
                uids,
                newest,
            })
        })
        .collect();
    let shown = offset.saturating_add(u32::try_from(page.len()).unwrap_or(u32::MAX));
    Ok(ThreadList {
        items,
        total,
        next_cursor: more.then(|| {
            codec.encode_ordered_cursor(
                &scope,
                OrderedPosition {
                    bound,
                    last_uid: 0,
                    shown,
                },
            )
        }),
        uid_validity: validity,
        algorithm,
    })
}

/// The thread whose first message is `id`, with all its messages oldest first.
///
/// # Errors
/// 404 when no thread of the mailbox starts with that UID; 501 when the server cannot
/// thread; IMAP failures.
pub async fn get_thread(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    id: u32,
    include_sent: bool,
) -> Result<ThreadDetail, MailError> {
    let (_, validity) = examine_fresh(session, mailbox).await?;
    let (algorithm, threads) = threads_of(session, None).await?;
    let thread = threads
        .into_iter()
        .find(|thread| first_uid(thread) == id)
        .ok_or_else(|| {
            MailError::NotFound(format!(
                "no thread of this mailbox starts with message {id} (a thread's id is its first message's UID)"
            ))
        })?;
    let uids = UidSet::from_uids(thread.iter().filter_map(|m| m.uid.try_into().ok()))?;
    let items = summary_items(session);
    let summaries = fetch_page(session, Some(&uids), &items, validity).await?;
    let by_uid: HashMap<u32, MessageSummary> = summaries.into_iter().map(|s| (s.uid, s)).collect();
    let mut messages: Vec<ThreadMessage> = thread
        .iter()
        .filter_map(|member| {
            Some(ThreadMessage {
                parent_uid: member.parent,
                depth: member.depth,
                summary: by_uid.get(&member.uid)?.clone(),
            })
        })
        .collect();
    messages.sort_by_key(|m| m.summary.uid);
    let sent = if include_sent {
        replies_in_sent(session, mailbox, &messages).await?
    } else {
        None
    };
    Ok(ThreadDetail {
        id,
        uid_validity: validity,
        algorithm,
        messages,
        sent,
    })
}

/// Most of a thread's Message-IDs looked for in Sent (one OR-search of them all).
const MAX_SENT_LOOKUP: usize = 100;

/// The user's replies to `messages` kept in Sent: `UID SEARCH` there for their
/// Message-IDs in In-Reply-To or References, then a UID FETCH of what it found.
///
/// # Errors
/// IMAP failures.
async fn replies_in_sent(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    messages: &[ThreadMessage],
) -> Result<Option<SentReplies>, MailError> {
    let Some(sent) = find_sent(session).await? else {
        return Ok(None);
    };
    if &sent == mailbox {
        return Ok(None);
    }
    // Thread members by Message-ID, for linking each reply to what it answers.
    let members: HashMap<&str, (u32, u32)> = messages
        .iter()
        .filter_map(|m| {
            Some((
                m.summary.envelope.message_id.as_deref()?,
                (m.summary.uid, m.depth),
            ))
        })
        .collect();
    // Message-IDs are ASCII without spaces (RFC 5322); anything else is not looked for.
    let ids: Vec<SearchText> = members
        .keys()
        .filter(|id| id.bytes().all(|b| b.is_ascii_graphic()))
        .take(MAX_SENT_LOOKUP)
        .filter_map(|id| SearchText::new("message_id", &format!("<{id}>")).ok())
        .collect();
    let (_, validity) = examine_fresh(session, &sent).await?;
    let mut replies = Vec::new();
    if !ids.is_empty() {
        let found = session
            .search(&[SearchKey::RepliesTo(ids)])
            .await
            .during(Op::Search)?;
        let items = summary_items(session);
        for summary in fetch_page(session, found.as_ref(), &items, validity).await? {
            let parent = summary
                .envelope
                .in_reply_to
                .iter()
                .find_map(|id| members.get(id.as_str()).copied());
            replies.push(ThreadMessage {
                parent_uid: parent.map(|(uid, _)| uid),
                depth: parent.map_or(0, |(_, depth)| depth + 1),
                summary,
            });
        }
    }
    replies.sort_by_key(|m| m.summary.uid);
    Ok(Some(SentReplies {
        mailbox: sent.as_str().to_owned(),
        uid_validity: validity,
        messages: replies,
    }))
}
