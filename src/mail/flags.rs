//! Reading and changing flags: one message (optionally conditional on its
//! mod-sequence, CONDSTORE `UNCHANGEDSINCE`) or many at once.

use super::error::{ImapResultExt as _, MailError, Op};
use super::open::{fetch_one, open, open_for_uids, parse_flag_list};
use super::targets::Targets;
use crate::imap::session::FetchedMessage;
use crate::imap::{FetchItem, Flag, ImapSession, MailboxName, StoreMode, Uid, UidSet};
use crate::model::flags::{BulkChangeFlags, BulkResult, ChangeFlags, Flags, ReplaceFlags};
use crate::model::message::normalize_flags;

/// A validated change to a message's flags.
#[derive(Debug, Clone)]
pub struct FlagChange(Vec<(StoreMode, Vec<Flag>)>);

impl FlagChange {
    /// Replace the flags with `request.flags`.
    ///
    /// # Errors
    /// A malformed flag (400) or too many (422).
    pub fn replace(request: &ReplaceFlags) -> Result<Self, MailError> {
        Ok(Self(vec![(
            StoreMode::Replace,
            parse_flag_list("flags", &request.flags)?,
        )]))
    }

    /// Add and/or remove flags.
    ///
    /// # Errors
    /// A malformed flag (400); too many, or none at all (422).
    pub fn change(add: &[String], remove: &[String]) -> Result<Self, MailError> {
        let add = parse_flag_list("add", add)?;
        let remove = parse_flag_list("remove", remove)?;
        if add.is_empty() && remove.is_empty() {
            return Err(MailError::unacceptable(
                "body",
                "give flags to add and/or remove",
            ));
        }
        Ok(Self(vec![
            (StoreMode::Add, add),
            (StoreMode::Remove, remove),
        ]))
    }

    /// The change a PATCH asks for.
    ///
    /// # Errors
    /// As [`FlagChange::change`].
    pub fn patch(request: &ChangeFlags) -> Result<Self, MailError> {
        Self::change(&request.add, &request.remove)
    }
}

/// A validated bulk flag change.
#[derive(Debug, Clone)]
pub struct BulkFlagChange {
    change: FlagChange,
    targets: Targets,
}

impl BulkFlagChange {
    /// Validates the request.
    ///
    /// # Errors
    /// As [`FlagChange::change`] and [`Targets::parse`].
    pub fn parse(request: &BulkChangeFlags) -> Result<Self, MailError> {
        Ok(Self {
            change: FlagChange::change(&request.add, &request.remove)?,
            targets: Targets::parse(request.uids.as_deref(), request.filter.as_ref())?,
        })
    }
}

fn flags_of(message: &FetchedMessage, uid_validity: u32) -> Flags {
    Flags {
        uid: message.uid,
        uid_validity,
        flags: normalize_flags(message.flags.iter().flatten()),
        modseq: message.modseq,
    }
}

async fn current_flags(
    session: &mut ImapSession,
    uid: Uid,
    uid_validity: u32,
) -> Result<Flags, MailError> {
    let mut items = vec![FetchItem::Uid, FetchItem::Flags];
    if session.has_modseqs() {
        items.push(FetchItem::ModSeq);
    }
    let message = fetch_one(session, uid, &items).await?;
    Ok(flags_of(&message, uid_validity))
}

/// The flags of message `uid` (with its mod-sequence on CONDSTORE servers).
///
/// # Errors
/// 404 when the message does not exist; IMAP failures.
pub async fn get_flags(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    uid: Uid,
) -> Result<Flags, MailError> {
    let uid_validity = open(session, mailbox, true).await?;
    current_flags(session, uid, uid_validity).await
}

/// Applies `change` to message `uid`; with `unchanged_since`, only when the message
/// has not changed since that mod-sequence ([`MailError::Changed`] with the current
/// flags otherwise).
///
/// # Errors
/// 404 when the message does not exist; 422 for a condition on a server without
/// CONDSTORE; 412 as above; IMAP failures.
pub async fn set_flags(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    (uid, expected): (Uid, Option<u32>),
    change: &FlagChange,
    mut unchanged_since: Option<u64>,
) -> Result<Flags, MailError> {
    if unchanged_since.is_some() && !session.has_modseqs() {
        return Err(MailError::unacceptable(
            "If-Match",
            "the IMAP server does not support CONDSTORE",
        ));
    }
    let uid_validity = open_for_uids(session, mailbox, false, expected).await?;
    // Exists? (A STORE on a missing UID succeeds silently.)
    let before = current_flags(session, uid, uid_validity).await?;
    let mut after = before;
    for (mode, flags) in &change.0 {
        if flags.is_empty() && *mode != StoreMode::Replace {
            continue;
        }
        let set = UidSet::single(uid);
        let (updated, completion) = session
            .store_flags(&set, *mode, flags, unchanged_since)
            .await
            .during(Op::Store)?;
        if completion.modified.is_some_and(|m| m.contains(uid.get())) {
            let current = current_flags(session, uid, uid_validity).await?;
            return Err(MailError::Changed {
                detail: "the message's flags changed since the given modseq".to_owned(),
                current: serde_json::to_value(current).unwrap_or_default(),
            });
        }
        if let Some(message) = updated.into_iter().find(|m| m.uid == uid.get()) {
            let mut flags = flags_of(&message, uid_validity);
            if message.flags.is_none() {
                flags.flags = after.flags.clone();
            }
            // Chain the guard: the next STORE must not clobber a concurrent change either.
            unchanged_since = unchanged_since.and(flags.modseq);
            after = flags;
        }
    }
    // Servers may omit the FETCH in a STORE reply; read the result back then.
    if after.modseq.is_none() && session.has_modseqs() {
        after = current_flags(session, uid, uid_validity).await?;
    }
    Ok(after)
}

/// Applies a bulk change to the targets that exist in `mailbox`.
///
/// # Errors
/// 422 when a filter matches too many messages; IMAP failures.
pub async fn bulk_set_flags(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    request: &BulkFlagChange,
    uid_validity: Option<u32>,
) -> Result<BulkResult, MailError> {
    open_for_uids(session, mailbox, false, uid_validity).await?;
    let Some(set) = request.targets.resolve(session).await? else {
        return Ok(BulkResult {
            uids: Vec::new(),
            count: 0,
        });
    };
    for (mode, flags) in &request.change.0 {
        if !flags.is_empty() {
            session
                .store_flags(&set, *mode, flags, None)
                .await
                .during(Op::Store)?;
        }
    }
    let uids: Vec<u32> = set.iter().collect();
    Ok(BulkResult {
        count: uids.len(),
        uids,
    })
}
