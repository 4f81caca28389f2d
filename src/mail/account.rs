//! Searching the whole account at once (`GET /v1/messages`): the same filters as one
//! mailbox's list, run on every chosen mailbox in parallel over the user's pooled
//! sessions, merged newest first by INTERNALDATE, paged with one signed cursor that
//! holds each mailbox's position and UIDVALIDITY. No index of its own: every page
//! asks the server.
//!
//! Per mailbox and page: EXAMINE (unless selected), UID SEARCH (or UID windows
//! without filters), UID FETCH of at most `limit` summaries. Only the first `limit`
//! of the merged candidates are returned; each mailbox's next page starts below the
//! oldest of its messages shown, or above the newest of its candidates when none was
//! shown, so mail arriving meanwhile never shifts pages.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::ops::DerefMut;
use std::sync::Mutex;

use super::error::{ImapResultExt as _, MailError, Op};
use super::list::{fetch_page, page_uids, ListRequest, Order};
use super::open::{examine_fresh, summary_items};
use super::tokens::{account_listing, mailbox_fingerprint, MailboxPosition, TokenCodec};
use crate::imap::search::SearchKey;
use crate::imap::{search_criteria, ImapSession, MailboxInfo, MailboxName, SpecialUse};
use crate::model::message::{ListMessagesQuery, MessageSummary};
use crate::model::search::{
    AccountMessage, AccountMessageList, AccountScopeQuery, SearchedMailbox, SkippedMailbox,
};

/// Most mailboxes one search may name in `mailboxes=`.
const MAX_NAMED: usize = 1000;

/// How the mailboxes are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Choice {
    /// Exactly these.
    Named(Vec<MailboxName>),
    /// Every selectable mailbox without these roles (and never `\All`, `\Flagged`).
    Excluding(Vec<Role>),
}

/// A role that `exclude_roles` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Inbox,
    Archive,
    Drafts,
    Junk,
    Sent,
    Trash,
}

impl Role {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "inbox" => Self::Inbox,
            "archive" => Self::Archive,
            "drafts" => Self::Drafts,
            "junk" => Self::Junk,
            "sent" => Self::Sent,
            "trash" => Self::Trash,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Inbox => "inbox",
            Self::Archive => "archive",
            Self::Drafts => "drafts",
            Self::Junk => "junk",
            Self::Sent => "sent",
            Self::Trash => "trash",
        }
    }

    fn of(info: &MailboxInfo) -> Option<Self> {
        if info.name.is_inbox() {
            return Some(Self::Inbox);
        }
        match info.special_use? {
            SpecialUse::Archive => Some(Self::Archive),
            SpecialUse::Drafts => Some(Self::Drafts),
            SpecialUse::Junk => Some(Self::Junk),
            SpecialUse::Sent => Some(Self::Sent),
            SpecialUse::Trash => Some(Self::Trash),
            SpecialUse::All | SpecialUse::Flagged => None,
        }
    }
}

/// A validated account-wide search.
#[derive(Debug, Clone)]
pub struct AccountSearch {
    list: ListRequest,
    choice: Choice,
}

impl AccountSearch {
    /// Validates the filters and paging (as for one mailbox; `uid` is refused: UIDs
    /// belong to one mailbox) and the choice of mailboxes.
    ///
    /// # Errors
    /// 400 for a malformed name or an unknown role; 422 for `uid`, or `mailboxes`
    /// together with `exclude_roles`, or too many names.
    pub fn parse(query: &ListMessagesQuery, scope: &AccountScopeQuery) -> Result<Self, MailError> {
        if query.uid.is_some() {
            return Err(MailError::unacceptable(
                "uid",
                "UIDs belong to one mailbox: use GET /v1/mailboxes/{mailbox}/messages?uid=",
            ));
        }
        let list = ListRequest::parse(query)?;
        if list.order() != Order::NEWEST_FIRST {
            return Err(MailError::unacceptable(
                "sort",
                "a search across mailboxes is ordered newest first by arrival only",
            ));
        }
        let choice = match (&scope.mailboxes, &scope.exclude_roles) {
            (Some(_), Some(_)) => {
                return Err(MailError::unacceptable(
                    "exclude_roles",
                    "give either mailboxes (exactly these) or exclude_roles, not both",
                ))
            }
            (Some(names), None) => Choice::Named(named_mailboxes(names)?),
            (None, Some(roles)) => Choice::Excluding(excluded_roles(roles)?),
            (None, None) => Choice::Excluding(vec![Role::Junk, Role::Trash]),
        };
        Ok(Self { list, choice })
    }

    /// The canonical text of the choice of mailboxes, for the cursor's binding.
    fn choice_text(&self) -> String {
        match &self.choice {
            Choice::Named(names) => {
                let names: Vec<&str> = names.iter().map(MailboxName::as_str).collect();
                format!("named\0{}", names.join("\0"))
            }
            Choice::Excluding(roles) => {
                let roles: Vec<&str> = roles.iter().map(|r| r.name()).collect();
                format!("excluding\0{}", roles.join("\0"))
            }
        }
    }

    fn listing(&self) -> [u8; 8] {
        account_listing(&search_criteria(self.list.keys()), &self.choice_text())
    }
}

fn named_mailboxes(text: &str) -> Result<Vec<MailboxName>, MailError> {
    let mut names = Vec::new();
    for part in text.split(',') {
        let name = MailboxName::try_from(part.trim().to_owned()).map_err(|mut err| {
            err.field = "mailboxes";
            MailError::Invalid(err)
        })?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.len() > MAX_NAMED {
        return Err(MailError::unacceptable(
            "mailboxes",
            format!("at most {MAX_NAMED} mailboxes"),
        ));
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    Ok(names)
}

fn excluded_roles(text: &str) -> Result<Vec<Role>, MailError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut roles = Vec::new();
    for part in text.split(',') {
        let part = part.trim().to_ascii_lowercase();
        let role = Role::parse(&part).ok_or_else(|| {
            MailError::Invalid(crate::imap::ValidationError::new(
                "exclude_roles",
                "roles are inbox, archive, drafts, junk, sent, trash, or none",
            ))
        })?;
        roles.push(role);
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// One mailbox to search for this page.
#[derive(Debug, Clone)]
struct Target {
    name: MailboxName,
    /// Its position from the cursor (`None` on the first page).
    position: Option<MailboxPosition>,
}

/// What one mailbox gave.
#[derive(Debug)]
enum Outcome {
    /// Its newest matches (newest first), how many match, whether older ones remain.
    Found {
        uid_validity: u32,
        total: u32,
        candidates: Vec<MessageSummary>,
        more: bool,
    },
    /// Its UIDVALIDITY is not the cursor's: its UIDs mean other messages now.
    Changed,
    /// The search failed.
    Failed(MailError),
}

/// Searches one mailbox for this page.
async fn search_one(
    session: &mut ImapSession,
    target: &Target,
    keys: &[SearchKey],
    limit: usize,
) -> Outcome {
    let result = async {
        let (selected, validity) = examine_fresh(session, &target.name).await?;
        if target
            .position
            .is_some_and(|p| p.uid_validity != 0 && p.uid_validity != validity)
        {
            return Ok(Outcome::Changed);
        }
        let anchor = target.position.map(|p| p.below_uid);
        let exists = selected.exists.unwrap_or(0);
        let (page, total, more) = page_uids(session, keys, anchor, limit, exists).await?;
        let items = summary_items(session);
        let mut candidates = fetch_page(session, page.as_ref(), &items, validity).await?;
        candidates.sort_by_key(|m| std::cmp::Reverse(m.uid));
        Ok::<_, MailError>(Outcome::Found {
            uid_validity: validity,
            total,
            candidates,
            more,
        })
    }
    .await;
    result.unwrap_or_else(Outcome::Failed)
}

/// The work shared by the sessions searching one page.
struct Work {
    queue: Mutex<VecDeque<Target>>,
    done: Mutex<Vec<(Target, Outcome)>>,
    /// Set once the queue is empty: sessions still being checked out are not needed.
    drained: tokio::sync::watch::Sender<bool>,
}

impl Work {
    fn next(&self) -> Option<Target> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let target = queue.pop_front();
        if queue.is_empty() {
            self.drained.send_replace(true);
        }
        target
    }

    /// Searches targets on `session` until none is left or the session breaks.
    async fn run(&self, session: &mut ImapSession, keys: &[SearchKey], limit: usize) {
        while let Some(target) = self.next() {
            let outcome = search_one(session, &target, keys, limit).await;
            let broken = session.is_broken();
            self.done
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((target, outcome));
            if broken {
                return;
            }
        }
    }
}

/// One page of an account-wide search.
///
/// `first` lists the mailboxes and searches; up to `workers - 1` more sessions from
/// `more_sessions` search beside it while mailboxes remain (never more than the pool
/// gives: a session that cannot be had is simply not used).
///
/// # Errors
/// A cursor that is forged or from another search (400); a named mailbox that does
/// not exist (404); IMAP failures when no mailbox could be searched.
pub async fn search_account<S, F, Fut, E>(
    codec: &TokenCodec,
    first: &mut ImapSession,
    more_sessions: F,
    workers: usize,
    search: &AccountSearch,
) -> Result<AccountMessageList, MailError>
where
    S: DerefMut<Target = ImapSession>,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<S, E>>,
{
    let listing = search.listing();
    let infos = first
        .list_mailboxes(None, false)
        .await
        .during(Op::ListMailboxes)?;
    let mut skipped = Vec::new();
    let targets = match search.list.cursor() {
        Some(cursor) => {
            let positions = codec.decode_account_cursor(listing, cursor)?;
            let by_print: HashMap<[u8; 8], &MailboxInfo> = infos
                .iter()
                .filter(|info| info.selectable)
                .map(|info| (mailbox_fingerprint(info.name.wire()), info))
                .collect();
            let mut targets = Vec::new();
            for position in positions {
                match by_print.get(&position.mailbox) {
                    Some(info) => targets.push(Target {
                        name: info.name.clone(),
                        position: Some(position),
                    }),
                    None => skipped.push(SkippedMailbox {
                        name: hex(&position.mailbox),
                        reason: "deleted".to_owned(),
                        detail: "a mailbox of this search no longer exists (or was renamed)"
                            .to_owned(),
                    }),
                }
            }
            targets
        }
        None => chosen(&infos, &search.choice)?
            .into_iter()
            .map(|name| Target {
                name,
                position: None,
            })
            .collect(),
    };
    let limit = search.list.limit();
    let keys = search.list.keys();
    let (drained, _) = tokio::sync::watch::channel(targets.is_empty());
    let helpers = workers.min(targets.len()).saturating_sub(1);
    let work = Work {
        queue: Mutex::new(targets.into()),
        done: Mutex::new(Vec::new()),
        drained,
    };
    let helper = || async {
        let mut drained = work.drained.subscribe();
        let no_more_work = async {
            let _ = drained.wait_for(|done| *done).await;
        };
        let session = tokio::select! {
            session = more_sessions() => session.ok(),
            () = no_more_work => None,
        };
        if let Some(mut session) = session {
            work.run(&mut session, keys, limit).await;
        }
    };
    let helpers = futures::future::join_all((0..helpers).map(|_| helper()));
    futures::future::join(work.run(first, keys, limit), helpers).await;
    // Left over when every session broke: tried again on the next page.
    let leftover: Vec<Target> = work
        .queue
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
        .collect();
    let mut done = work.done.into_inner().unwrap_or_else(|p| p.into_inner());
    for target in leftover {
        let failed = MailError::imap(Op::Select, crate::imap::ImapError::ConnectionLost);
        done.push((target, Outcome::Failed(failed)));
    }
    done.sort_by(|a, b| a.0.name.as_str().cmp(b.0.name.as_str()));
    merge(codec, listing, search, done, skipped)
}

/// The names `choice` selects among `infos`.
fn chosen(infos: &[MailboxInfo], choice: &Choice) -> Result<Vec<MailboxName>, MailError> {
    match choice {
        Choice::Named(names) => names
            .iter()
            .map(|name| {
                infos
                    .iter()
                    .find(|info| &info.name == name && info.selectable)
                    .map(|info| info.name.clone())
                    .ok_or_else(|| {
                        MailError::NotFound(format!("mailbox {:?} does not exist", name.as_str()))
                    })
            })
            .collect(),
        Choice::Excluding(roles) => Ok(infos
            .iter()
            .filter(|info| info.selectable)
            .filter(|info| {
                !matches!(
                    info.special_use,
                    Some(SpecialUse::All | SpecialUse::Flagged)
                )
            })
            .filter(|info| Role::of(info).is_none_or(|role| !roles.contains(&role)))
            .map(|info| info.name.clone())
            .collect()),
    }
}

/// A mailbox's candidates during the merge.
struct Lane {
    name: MailboxName,
    uid_validity: u32,
    /// Newest first, each with its arrival time.
    candidates: Vec<(i64, MessageSummary)>,
    /// How many of `candidates` are on this page.
    taken: usize,
    more: bool,
}

/// When a message arrived, for ordering across mailboxes (unknown: oldest).
fn arrival(summary: &MessageSummary) -> i64 {
    summary
        .internal_date
        .as_deref()
        .and_then(|date| crate::imap::date::InternalDate::parse_rfc3339("internal_date", date).ok())
        .map_or(i64::MIN, |date| date.unix_seconds())
}

/// Merges the mailboxes' candidates newest first (each mailbox's own order kept),
/// takes the page and writes the cursor.
fn merge(
    codec: &TokenCodec,
    listing: [u8; 8],
    search: &AccountSearch,
    done: Vec<(Target, Outcome)>,
    mut skipped: Vec<SkippedMailbox>,
) -> Result<AccountMessageList, MailError> {
    let limit = search.list.limit();
    let first_page = search.list.cursor().is_none();
    let mut lanes = Vec::new();
    let mut searched = Vec::new();
    let mut positions = Vec::new();
    let mut failures = Vec::new();
    let mut total: u32 = 0;
    for (target, outcome) in done {
        match outcome {
            Outcome::Found {
                uid_validity,
                total: matching,
                candidates,
                more,
            } => {
                total = total.saturating_add(matching);
                searched.push(SearchedMailbox {
                    name: target.name.as_str().to_owned(),
                    uid_validity,
                    total: matching,
                });
                lanes.push(Lane {
                    name: target.name,
                    uid_validity,
                    candidates: candidates.into_iter().map(|m| (arrival(&m), m)).collect(),
                    taken: 0,
                    more,
                });
            }
            Outcome::Changed => skipped.push(SkippedMailbox {
                name: target.name.as_str().to_owned(),
                reason: "uid_validity_changed".to_owned(),
                detail: "its UIDVALIDITY changed since the first page: its messages are not mixed into this search; search again from the start to include it".to_owned(),
            }),
            Outcome::Failed(err) => {
                skipped.push(SkippedMailbox {
                    name: target.name.as_str().to_owned(),
                    reason: "failed".to_owned(),
                    detail: format!(
                        "could not {} this time; the next page tries again",
                        match &err {
                            MailError::Imap { op, .. } => op.doing(),
                            _ => "search it",
                        }
                    ),
                });
                // Kept where it was: the next page tries it again.
                positions.push(target.position.unwrap_or(MailboxPosition {
                    mailbox: mailbox_fingerprint(target.name.wire()),
                    uid_validity: 0,
                    below_uid: u32::MAX,
                }));
                failures.push(err);
            }
        }
    }
    if lanes.is_empty() && !failures.is_empty() {
        return Err(failures.swap_remove(0));
    }
    let mut items = Vec::with_capacity(limit);
    while items.len() < limit {
        let newest = lanes
            .iter()
            .enumerate()
            .filter_map(|(index, lane)| lane.candidates.get(lane.taken).map(|(at, _)| (index, *at)))
            .max_by_key(|&(index, at)| (at, std::cmp::Reverse(index)));
        let Some((index, _)) = newest else { break };
        let lane = &mut lanes[index];
        items.push(AccountMessage {
            mailbox: lane.name.as_str().to_owned(),
            summary: lane.candidates[lane.taken].1.clone(),
        });
        lane.taken += 1;
    }
    for lane in &lanes {
        let below_uid = if lane.taken > 0 {
            // Below the oldest message shown.
            lane.candidates[lane.taken - 1].1.uid
        } else if let Some((_, newest)) = lane.candidates.first() {
            // Nothing shown: from its newest candidate on.
            newest.uid.saturating_add(1)
        } else {
            continue;
        };
        if lane.taken < lane.candidates.len() || lane.more {
            positions.push(MailboxPosition {
                mailbox: mailbox_fingerprint(lane.name.wire()),
                uid_validity: lane.uid_validity,
                below_uid,
            });
        }
    }
    let next_cursor =
        (!positions.is_empty()).then(|| codec.encode_account_cursor(listing, &positions));
    Ok(AccountMessageList {
        items,
        total: first_page.then_some(total),
        next_cursor,
        mailboxes: searched,
        skipped,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
