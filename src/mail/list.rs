//! Listing a mailbox newest first, with filters and UID cursors.
//!
//! Without filters the newest page costs one FETCH of the last `limit` messages,
//! however large the mailbox. With filters, one UID SEARCH, then one FETCH of the
//! page. Pages are anchored on UIDs: new mail never shifts or duplicates items.

use super::error::{ImapResultExt as _, MailError, Op};
use super::open::{current_state, examine_fresh, select, summary_items, uid_validity};
use super::tokens::{CursorScope, MailboxState, OrderedPosition, TokenCodec};
use crate::imap::search::SearchKey;
use crate::imap::session::FetchedMessage;
use crate::imap::uid::Uid;
use crate::imap::{
    search_criteria, FetchItem, ImapSession, MailboxName, SortKey, UidSet, ValidationError,
};
use crate::model::message::{ListMessagesQuery, MessageFilter, MessageList, MessageSummary};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 500;

/// The order of a list: a SORT key, descending or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// What to sort by.
    pub key: SortKey,
    /// Descending.
    pub reverse: bool,
}

impl Order {
    /// Newest first by arrival: the list's own order, on every server.
    pub const NEWEST_FIRST: Self = Self {
        key: SortKey::Arrival,
        reverse: true,
    };

    fn parse(sort: Option<&str>, order: Option<&str>) -> Result<Self, MailError> {
        let key = match sort.unwrap_or("arrival") {
            "arrival" => SortKey::Arrival,
            "date" => SortKey::Date,
            "from" => SortKey::From,
            "subject" => SortKey::Subject,
            "size" => SortKey::Size,
            _ => {
                return Err(MailError::Invalid(ValidationError::new(
                    "sort",
                    "one of arrival, date, from, subject, size",
                )))
            }
        };
        let reverse = match order.unwrap_or("desc") {
            "desc" => true,
            "asc" => false,
            _ => {
                return Err(MailError::Invalid(ValidationError::new(
                    "order",
                    "asc or desc",
                )))
            }
        };
        Ok(Self { key, reverse })
    }

    /// The canonical text, for binding cursors.
    fn text(self) -> String {
        format!(
            "{:?} {}",
            self.key,
            if self.reverse { "desc" } else { "asc" }
        )
    }
}

/// The page size asked for (`default` without one).
///
/// # Errors
/// 422 outside `1..=max`.
pub fn page_size(limit: Option<u32>, default: u32, max: u32) -> Result<usize, MailError> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit as usize)
    } else {
        Err(MailError::unacceptable(
            "limit",
            format!("must be between 1 and {max}"),
        ))
    }
}

/// A validated list request.
#[derive(Debug, Clone)]
pub struct ListRequest {
    keys: Vec<SearchKey>,
    cursor: Option<String>,
    limit: usize,
    order: Order,
}

impl ListRequest {
    /// The search keys of the filters (empty without filters).
    pub fn keys(&self) -> &[SearchKey] {
        &self.keys
    }

    /// The cursor given, if any.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// The page size.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Validates the query: the filters (400 when malformed) and the page size
    /// (422 outside 1..=[`MAX_LIMIT`]).
    ///
    /// # Errors
    /// As above.
    pub fn parse(query: &ListMessagesQuery) -> Result<Self, MailError> {
        Ok(Self {
            keys: MessageFilter::from(query).keys()?,
            cursor: query.cursor.clone(),
            limit: page_size(query.limit, DEFAULT_LIMIT, MAX_LIMIT)?,
            order: Order::parse(query.sort.as_deref(), query.order.as_deref())?,
        })
    }

    /// The order asked for.
    pub fn order(&self) -> Order {
        self.order
    }
}

/// One page of `mailbox`, newest first, with the next page's cursor and the
/// mailbox's state token.
///
/// # Errors
/// A cursor that is forged or from another listing (400) or from before the
/// mailbox was recreated (409); IMAP failures.
pub async fn list_page(
    codec: &TokenCodec,
    session: &mut ImapSession,
    mailbox: &MailboxName,
    request: &ListRequest,
) -> Result<MessageList, MailError> {
    if request.order != Order::NEWEST_FIRST {
        return sorted_page(codec, session, mailbox, request).await;
    }
    if !request.keys.is_empty() || request.cursor.is_some() {
        return searched_page(codec, session, mailbox, request).await;
    }
    let view = select(session, mailbox, true).await?;
    let view_has_state = if session.tracks_changes() {
        view.highest_modseq.is_some() && session.profile().declares_modseq_changes()
    } else {
        // Without CONDSTORE a state is UIDs and a count, which the view has.
        true
    };
    if view_has_state {
        newest_page(codec, session, mailbox, request.limit).await
    } else {
        top_page_with_status(codec, session, mailbox, request.limit).await
    }
}

/// The newest page without filters on a server whose view cannot give the state
/// token (Cyrus): NOOP (so the message count is current), STATUS, FETCH.
async fn top_page_with_status(
    codec: &TokenCodec,
    session: &mut ImapSession,
    mailbox: &MailboxName,
    limit: usize,
) -> Result<MessageList, MailError> {
    // See mail that arrived (or a mailbox that was recreated) since this session last
    // looked: a NOOP when the mailbox is already selected.
    let (selected, uid_validity) = examine_fresh(session, mailbox).await?;
    // Taken before reading the page, so `/changes?since=` from it misses nothing.
    let state = current_state(session, mailbox).await?;
    let total = selected.exists.unwrap_or(0);
    let first = total.saturating_sub(limit as u32 - 1).max(1);
    let messages = if total == 0 {
        Vec::new()
    } else {
        let items = summary_items(session);
        session
            .fetch_sequence(first, total, &items)
            .await
            .during(Op::Fetch)?
    };
    Ok(page_of(
        codec,
        mailbox,
        &[],
        uid_validity,
        Page {
            items: summaries(&messages, uid_validity),
            total,
            more: first > 1,
            state,
        },
    ))
}

/// A page found by UID SEARCH: below a cursor and/or matching filters. NOOP first
/// (when the mailbox is selected already), so the view is current, then STATUS
/// for the state token, then the SEARCH and the FETCH: `/changes` from the state
/// misses nothing (a change after the STATUS shows on the page and is repeated).
/// The NOOP cannot be folded into the SEARCH: Dovecot reports new mail and flag
/// changes in the answer to UID SEARCH but not expunges, while its STATUS already
/// counts them, so a state taken after a SEARCH could skip an expunge the page
/// still shows.
async fn searched_page(
    codec: &TokenCodec,
    session: &mut ImapSession,
    mailbox: &MailboxName,
    request: &ListRequest,
) -> Result<MessageList, MailError> {
    let (keys, limit) = (&request.keys, request.limit);
    let (selected, uid_validity) = examine_fresh(session, mailbox).await?;
    let state = current_state(session, mailbox).await?;
    let scope = CursorScope::new(mailbox.wire(), &search_criteria(keys), uid_validity);
    let anchor = request
        .cursor
        .as_deref()
        .map(|c| codec.decode_cursor(&scope, c))
        .transpose()?;
    let (page, total, more) =
        page_uids(session, keys, anchor, limit, selected.exists.unwrap_or(0)).await?;
    let fetch_items = summary_items(session);
    let items = fetch_page(session, page.as_ref(), &fetch_items, uid_validity).await?;
    Ok(page_of(
        codec,
        mailbox,
        keys,
        uid_validity,
        Page {
            items,
            total,
            more,
            state,
        },
    ))
}

/// A page in a SORT order (RFC 5256): `UID SORT` of the matching messages, then a
/// UID FETCH of the page. The first page fixes the listing (the messages up to the
/// newest it saw), so new mail never shifts later pages; a page continues after the
/// last message shown (or, when that was expunged meanwhile, after as many as were
/// shown).
///
/// # Errors
/// 422 naming SORT on a server without it; a forged cursor (400) or one from before a
/// UIDVALIDITY change (409); IMAP failures.
async fn sorted_page(
    codec: &TokenCodec,
    session: &mut ImapSession,
    mailbox: &MailboxName,
    request: &ListRequest,
) -> Result<MessageList, MailError> {
    if !session.profile().capabilities.has("SORT") {
        return Err(MailError::unacceptable(
            "sort",
            "this IMAP server lacks the SORT capability (RFC 5256): only sort=arrival&order=desc, the default, is available",
        ));
    }
    let (_, validity) = examine_fresh(session, mailbox).await?;
    let state = current_state(session, mailbox).await?;
    let listing = format!(
        "{} sorted {}",
        search_criteria(&request.keys),
        request.order.text()
    );
    let scope = CursorScope::new(mailbox.wire(), &listing, validity);
    let position = request
        .cursor
        .as_deref()
        .map(|cursor| codec.decode_ordered_cursor(&scope, cursor))
        .transpose()?;
    let mut keys = request.keys.clone();
    if let Some(position) = position {
        // Never issued for an empty listing: a cursor's bound is above UID 1.
        let below = position.bound.saturating_sub(1).max(1);
        keys.push(SearchKey::Uid(UidSet::range(1, below)?));
    }
    let sorted = session
        .sort(request.order.key, request.order.reverse, &keys)
        .await
        .during(Op::Search)?;
    let (bound, start) = match position {
        None => (sorted.iter().max().map_or(1, |newest| newest + 1), 0),
        Some(position) => {
            let after_last = sorted
                .iter()
                .position(|uid| *uid == position.last_uid)
                .map(|index| index + 1);
            (
                position.bound,
                after_last.unwrap_or(position.shown as usize),
            )
        }
    };
    let page: Vec<u32> = sorted
        .iter()
        .skip(start)
        .take(request.limit)
        .copied()
        .collect();
    let more = start + page.len() < sorted.len();
    let uids = UidSet::from_uids(page.iter().filter_map(|uid| Uid::try_from(*uid).ok())).ok();
    let items = summary_items(session);
    let summaries = fetch_page(session, uids.as_ref(), &items, validity).await?;
    let mut by_uid: std::collections::HashMap<u32, MessageSummary> =
        summaries.into_iter().map(|s| (s.uid, s)).collect();
    let items: Vec<MessageSummary> = page.iter().filter_map(|uid| by_uid.remove(uid)).collect();
    let next_cursor = match page.last() {
        Some(&last_uid) if more => Some(codec.encode_ordered_cursor(
            &scope,
            OrderedPosition {
                bound,
                last_uid,
                shown: u32::try_from(start + page.len()).unwrap_or(u32::MAX),
            },
        )),
        _ => None,
    };
    Ok(MessageList {
        items,
        total: u32::try_from(sorted.len()).unwrap_or(u32::MAX),
        next_cursor,
        uid_validity: validity,
        state: state.map(|state| codec.encode_state(mailbox.wire(), &state)),
    })
}

/// The UIDs of the newest `limit` messages of the selected mailbox that match `keys`
/// below `anchor`, how many match in all (`exists` without filters), and whether
/// older matches remain. Without filters, growing UID windows instead of a SEARCH
/// of the whole mailbox.
///
/// # Errors
/// IMAP failures.
pub(super) async fn page_uids(
    session: &mut ImapSession,
    keys: &[SearchKey],
    anchor: Option<u32>,
    limit: usize,
    exists: u32,
) -> Result<(Option<UidSet>, u32, bool), MailError> {
    if keys.is_empty() {
        let (page, more) = uids_below(session, anchor.unwrap_or(u32::MAX), limit).await?;
        return Ok((page, exists, more));
    }
    let matching = session.search(keys).await.during(Op::Search)?;
    let total = u32::try_from(matching.as_ref().map_or(0, UidSet::len)).unwrap_or(u32::MAX);
    let below = match anchor {
        Some(anchor) => matching.and_then(|set| set.below(anchor)),
        None => matching,
    };
    let more = below.as_ref().is_some_and(|set| set.len() > limit);
    Ok((below.map(|set| set.newest(limit)), total, more))
}

/// A page as read from IMAP, before it is rendered.
struct Page {
    /// The summaries, in any order.
    items: Vec<MessageSummary>,
    total: u32,
    more: bool,
    state: Option<MailboxState>,
}

/// The answer for a page: summaries newest first, the next cursor when there are
/// more, the state token.
fn page_of(
    codec: &TokenCodec,
    mailbox: &MailboxName,
    keys: &[SearchKey],
    uid_validity: u32,
    page: Page,
) -> MessageList {
    let Page {
        mut items,
        total,
        more,
        state,
    } = page;
    items.sort_by_key(|item| std::cmp::Reverse(item.uid));
    let scope = CursorScope::new(mailbox.wire(), &search_criteria(keys), uid_validity);
    let next_cursor = match items.last() {
        Some(last) if more => Some(codec.encode_cursor(&scope, last.uid)),
        _ => None,
    };
    MessageList {
        items,
        total,
        next_cursor,
        uid_validity,
        state: state.map(|state| codec.encode_state(mailbox.wire(), &state)),
    }
}

/// The newest page without filters, in one FETCH when the mailbox is selected
/// already (`ImapSession::newest_messages`). Its state token comes from the
/// session's view instead of a STATUS: UIDVALIDITY, the HIGHESTMODSEQ the server
/// last declared for the view (never ahead of what the page shows, so `/changes`
/// from it misses nothing and at worst repeats a flag change), UIDNEXT as one past
/// the newest message (the page reaches it, so every message below is in the
/// listing), and the message count.
async fn newest_page(
    codec: &TokenCodec,
    session: &mut ImapSession,
    mailbox: &MailboxName,
    limit: usize,
) -> Result<MessageList, MailError> {
    let items = summary_items(session);
    // Summaries are built as the FETCH answers arrive; UIDVALIDITY is filled in
    // from the view afterwards (it is the same unless the selection was lost,
    // which fails the call).
    let (mut summaries, view) = session
        .newest_messages(
            mailbox,
            limit as u32,
            &items,
            |message| MessageSummary::from_fetch(&message, 0),
            |summary| summary.uid,
        )
        .await
        .during(Op::Fetch)?;
    let uid_validity = uid_validity(&view)?;
    for summary in &mut summaries {
        summary.uid_validity = uid_validity;
    }
    let total = view.exists.unwrap_or(0);
    let highest_modseq = if session.tracks_changes() {
        view.highest_modseq.unwrap_or_default()
    } else {
        0
    };
    let uid_next = summaries
        .iter()
        .map(|m| m.uid)
        .max()
        .map_or(view.uid_next.unwrap_or(1), |newest| newest + 1);
    let state = MailboxState {
        uid_validity,
        highest_modseq,
        uid_next,
        messages: total,
    };
    let more = u32::try_from(summaries.len()).unwrap_or(u32::MAX) < total;
    Ok(page_of(
        codec,
        mailbox,
        &[],
        uid_validity,
        Page {
            items: summaries,
            total,
            more,
            state: Some(state),
        },
    ))
}

/// The newest `limit` UIDs below `anchor`, searching growing UID windows so the
/// cost follows the page size, not the mailbox size. Returns whether older
/// messages may remain.
async fn uids_below(
    session: &mut ImapSession,
    anchor: u32,
    limit: usize,
) -> Result<(Option<UidSet>, bool), MailError> {
    let mut window = (limit as u32).saturating_mul(2).max(64);
    loop {
        let high = anchor.saturating_sub(1);
        if high == 0 {
            return Ok((None, false));
        }
        let low = high.saturating_sub(window - 1).max(1);
        let range = UidSet::range(low, high)?;
        let found = session
            .search(&[SearchKey::Uid(range)])
            .await
            .during(Op::Search)?;
        let count = found.as_ref().map_or(0, UidSet::len);
        if count >= limit || low == 1 {
            let more = count > limit || low > 1;
            return Ok((found.map(|set| set.newest(limit)), more));
        }
        window = window.saturating_mul(4);
    }
}

/// The summaries of `uids` (none without UIDs), built as the FETCH answers arrive.
pub(super) async fn fetch_page(
    session: &mut ImapSession,
    uids: Option<&UidSet>,
    items: &[FetchItem<'_>],
    uid_validity: u32,
) -> Result<Vec<MessageSummary>, MailError> {
    match uids {
        Some(set) => session
            .fetch_uids_as(set, items, |message| {
                MessageSummary::from_fetch(&message, uid_validity)
            })
            .await
            .during(Op::Fetch),
        None => Ok(Vec::new()),
    }
}

/// The summaries of `messages`.
fn summaries(messages: &[FetchedMessage], uid_validity: u32) -> Vec<MessageSummary> {
    messages
        .iter()
        .map(|m| MessageSummary::from_fetch(m, uid_validity))
        .collect()
}
