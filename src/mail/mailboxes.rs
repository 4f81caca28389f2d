//! Mailbox operations: list, create, read, rename/(un)subscribe, delete. Mailboxes
//! carry a state token for `/changes` when the server reports their counters.

use super::error::{ImapResultExt as _, MailError, Op};
use super::tokens::{MailboxState, TokenCodec};
use crate::imap::{ImapSession, MailboxInfo, MailboxName, ValidationError};
use crate::model::mailbox::{
    CreateMailboxRequest, ListMailboxesQuery, Mailbox, MailboxList, NamespaceInfo,
    UpdateMailboxRequest,
};

/// Converts to the DTO and adds the state token.
fn to_dto(codec: &TokenCodec, tracks_changes: bool, info: MailboxInfo) -> Mailbox {
    // Without CONDSTORE the state has no mod-sequence (0): `/changes` then reports
    // what it can prove from UIDs and counts (see `changes.rs`).
    let token = info.counters.as_ref().and_then(|c| {
        let highest_modseq = if tracks_changes { c.highest_modseq? } else { 0 };
        Some(codec.encode_state(
            info.name.wire(),
            &MailboxState {
                uid_validity: c.uid_validity?,
                highest_modseq,
                uid_next: c.uid_next?,
                messages: c.messages.unwrap_or_default(),
            },
        ))
    });
    let mut mailbox = Mailbox::from(info);
    if let Some(status) = mailbox.status.as_mut() {
        status.state = token;
    }
    mailbox
}

/// A name for a new or renamed mailbox, reported as the `name` field.
fn new_name(name: &str) -> Result<MailboxName, MailError> {
    MailboxName::new_name(name)
        .map_err(|err| MailError::Invalid(ValidationError::new("name", err.message)))
}

/// Every mailbox, INBOX first, with the namespaces the server announced.
///
/// # Errors
/// IMAP failures.
pub async fn list(
    codec: &TokenCodec,
    session: &mut ImapSession,
    query: &ListMailboxesQuery,
) -> Result<MailboxList, MailError> {
    let with_counters = query.status.unwrap_or(true);
    if with_counters
        && session.selected().is_none()
        && !session.profile().reports_changes_only_at_noop()
    {
        // Dovecot answers STATUS of a mailbox that is not selected by opening it
        // (3-4 ms of its CPU for a 10,000-message INBOX), and STATUS of the selected
        // one from the session's view (0.2 ms). EXAMINE INBOX costs about what its
        // STATUS would, and leaves the session with INBOX selected: its next lists
        // are cheap and its next INBOX page needs no EXAMINE. Not on servers that
        // report changes only at NOOP (Courier), where a selected mailbox costs
        // STATUS + NOOP at every checkout.
        match session.ensure_selected(&MailboxName::inbox(), true).await {
            Ok(_) | Err(crate::imap::ImapError::No { .. }) => {}
            Err(err) => return Err(MailError::imap(Op::Select, err)),
        }
    }
    let mut mailboxes = session
        .list_mailboxes(None, with_counters)
        .await
        .during(Op::ListMailboxes)?;
    if query.subscribed.unwrap_or(false) {
        mailboxes.retain(|m| m.subscribed);
    }
    mailboxes.sort_by(|a, b| {
        (!a.name.is_inbox(), a.name.as_str()).cmp(&(!b.name.is_inbox(), b.name.as_str()))
    });
    let tracks = session.tracks_changes();
    let items: Vec<Mailbox> = mailboxes
        .into_iter()
        .map(|m| to_dto(codec, tracks, m))
        .collect();
    Ok(MailboxList {
        total: items.len(),
        items,
        namespaces: NamespaceInfo::all(&session.profile().namespaces),
    })
}

/// One mailbox.
///
/// # Errors
/// 404 when it does not exist; IMAP failures.
pub async fn get(
    codec: &TokenCodec,
    session: &mut ImapSession,
    name: &MailboxName,
) -> Result<Mailbox, MailError> {
    let info = session.mailbox_info(name).await.during(Op::GetMailbox)?;
    Ok(to_dto(codec, session.tracks_changes(), info))
}

/// A validated create request.
#[derive(Debug, Clone)]
pub struct NewMailbox {
    name: MailboxName,
    subscribe: bool,
}

impl NewMailbox {
    /// Validates the name.
    ///
    /// # Errors
    /// A name with control characters, wildcards or invisible characters (400).
    pub fn parse(request: &CreateMailboxRequest) -> Result<Self, MailError> {
        Ok(Self {
            name: new_name(&request.name)?,
            subscribe: request.subscribe,
        })
    }

    /// The name to create.
    pub fn name(&self) -> &MailboxName {
        &self.name
    }
}

/// Creates the mailbox (subscribed unless asked otherwise) and returns it.
///
/// # Errors
/// 409 when it exists; 422 when the server cannot hold the name; IMAP failures.
pub async fn create(
    codec: &TokenCodec,
    session: &mut ImapSession,
    request: &NewMailbox,
) -> Result<Mailbox, MailError> {
    session
        .create_mailbox(&request.name, request.subscribe)
        .await
        .during(Op::CreateMailbox)?;
    get(codec, session, &request.name).await
}

/// A validated update: a new name and/or subscription.
#[derive(Debug, Clone)]
pub struct MailboxUpdate {
    new_name: Option<MailboxName>,
    subscribed: Option<bool>,
}

impl MailboxUpdate {
    /// Validates the request against the mailbox it changes.
    ///
    /// # Errors
    /// A malformed name (400); nothing to change, or renaming INBOX (422).
    pub fn parse(name: &MailboxName, request: &UpdateMailboxRequest) -> Result<Self, MailError> {
        let new_name = request
            .name
            .as_deref()
            .map(new_name)
            .transpose()?
            .filter(|new| new != name);
        if new_name.is_none() && request.subscribed.is_none() {
            return Err(MailError::unacceptable(
                "body",
                "nothing to change: give a new `name` and/or `subscribed`",
            ));
        }
        if new_name.is_some() && name.is_inbox() {
            return Err(MailError::unacceptable("name", "INBOX cannot be renamed"));
        }
        Ok(Self {
            new_name,
            subscribed: request.subscribed,
        })
    }
}

/// Renames and/or (un)subscribes `name`; the subscription follows a renamed mailbox.
///
/// # Errors
/// 404 when it does not exist; 409 when the new name is taken; IMAP failures.
pub async fn update(
    codec: &TokenCodec,
    session: &mut ImapSession,
    name: &MailboxName,
    update: &MailboxUpdate,
) -> Result<Mailbox, MailError> {
    let before = session.mailbox_info(name).await.during(Op::GetMailbox)?;
    let current = match &update.new_name {
        Some(new) => {
            session
                .rename_mailbox(name, new)
                .await
                .during(Op::RenameMailbox)?;
            // Servers differ on whether subscriptions follow RENAME; make them.
            if before.subscribed {
                session
                    .set_subscribed(name, false)
                    .await
                    .during(Op::Subscribe)?;
            }
            new
        }
        None => name,
    };
    let subscribed = update.subscribed.unwrap_or(before.subscribed);
    if update.new_name.is_some() || subscribed != before.subscribed {
        session
            .set_subscribed(current, subscribed)
            .await
            .during(Op::Subscribe)?;
    }
    get(codec, session, current).await
}

/// Deletes `name` (never INBOX).
///
/// # Errors
/// 422 for INBOX; 404 when it does not exist; IMAP failures.
pub async fn delete(session: &mut ImapSession, name: &MailboxName) -> Result<(), MailError> {
    if name.is_inbox() {
        return Err(MailError::unacceptable(
            "mailbox",
            "INBOX cannot be deleted",
        ));
    }
    session.delete_mailbox(name).await.during(Op::DeleteMailbox)
}
