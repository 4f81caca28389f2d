//! Mailbox operations of [`ImapSession`]: LIST (with LSUB and STATUS where the
//! server lacks the extensions), STATUS, CREATE, DELETE, RENAME, (UN)SUBSCRIBE, and
//! explaining a refusal that came without a response code.

use std::collections::{HashMap, HashSet};

use async_imap::imap_proto::{MailboxDatum, Response};

use super::super::code::RespCode;
use super::super::command::{Command, ListPattern, ListReturn};
use super::super::error::ImapError;
use super::super::listing::{
    counters_from, guess_special_use, mailbox_from_list, unescape_quoted, MailboxCounters,
    MailboxInfo,
};
use super::super::types::{MailboxName, ServerMailbox};
use super::ImapSession;

/// What a server refused, for [`ImapSession::explain_refusal`].
#[derive(Debug, Clone, Copy)]
pub(super) enum Refused<'a> {
    /// STATUS or (UN)SUBSCRIBE of this mailbox (SELECT and EXAMINE have
    /// [`ImapSession::explain_open_refusal`]).
    Open(&'a MailboxName),
    /// CREATE of this mailbox.
    Create(&'a MailboxName),
    /// DELETE of this mailbox.
    Delete(&'a MailboxName),
    /// RENAME.
    Rename {
        from: &'a MailboxName,
        to: &'a MailboxName,
    },
    /// COPY, MOVE or APPEND into this mailbox.
    Target(&'a MailboxName),
}

/// True when a refusal's text says it was about permission.
fn mentions_permission(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["permission", "denied", "not allowed", "access"]
        .iter()
        .any(|word| lower.contains(word))
}

impl ImapSession {
    /// Leaves the selected state without expunging: UNSELECT where advertised,
    /// otherwise simply forgetting it (the next SELECT replaces it).
    pub(super) async fn deselect_if(&mut self, name: &MailboxName) -> Result<(), ImapError> {
        if self.selected.as_ref().is_some_and(|s| &s.name == name) {
            self.selected = None;
            if self.profile.capabilities.has("UNSELECT") {
                self.execute(Command::Unselect).await?;
            }
        }
        Ok(())
    }

    /// Lists the personal mailboxes (or only `only`), with counters when
    /// `with_counters`. Names are API names; mailboxes outside the personal namespace
    /// are not listed.
    ///
    /// Uses one `LIST ... RETURN (SUBSCRIBED SPECIAL-USE STATUS (...))` round trip on
    /// servers with LIST-STATUS; otherwise LIST, LSUB and one STATUS per mailbox.
    ///
    /// # Errors
    /// Server or connection errors; [`ImapError::NotRepresentable`] for an `only`
    /// name this server cannot hold.
    pub async fn list_mailboxes(
        &mut self,
        only: Option<&MailboxName>,
        with_counters: bool,
    ) -> Result<Vec<MailboxInfo>, ImapError> {
        let server = only.map(|name| self.server_name(name)).transpose()?;
        let pattern = server
            .as_ref()
            .map_or(ListPattern::All, ListPattern::Exactly);
        let selected_is_listed = self
            .selected
            .as_ref()
            .is_some_and(|s| only.is_none_or(|name| &s.name == name));
        if with_counters && selected_is_listed && !self.view_is_current {
            // Dovecot answers STATUS of the selected mailbox from this session's view,
            // which may not know another session's changes yet (RFC 3501 section
            // 6.3.10 warns of this); bring the view up to date first.
            self.refresh_view().await?;
        }
        let caps = &self.profile.capabilities;
        let extended = caps.has("LIST-EXTENDED");
        let special_use = caps.has("SPECIAL-USE");
        let list_status = caps.has("LIST-STATUS");
        let items = if with_counters {
            self.status_items()
        } else {
            Vec::new()
        };
        let returns = ListReturn {
            subscribed: extended,
            special_use: special_use && extended,
            children: extended && caps.has("CHILDREN"),
            status: if list_status { &items } else { &[] },
        };
        let naming = self.profile.naming.clone();
        let mut mailboxes = Vec::new();
        let mut counters: HashMap<String, MailboxCounters> = HashMap::new();
        self.execute_with(Command::List(pattern, returns), |response| match response {
            Response::MailboxData(MailboxDatum::List(data)) => {
                if let Some(info) = mailbox_from_list(
                    &naming,
                    &data.name,
                    data.delimiter.as_deref(),
                    &data.name_attributes,
                ) {
                    mailboxes.push(info);
                }
            }
            Response::MailboxData(MailboxDatum::Status { mailbox, status }) => {
                counters.insert(unescape_quoted(mailbox), counters_from(status));
            }
            _ => {}
        })
        .await?;
        if let Some(name) = only {
            mailboxes.retain(|m| &m.name == name);
        }
        if !extended {
            let mut subscribed: HashSet<String> = HashSet::new();
            self.execute_with(Command::Lsub(pattern), |response| {
                if let Response::MailboxData(MailboxDatum::List(data)) = response {
                    subscribed.insert(unescape_quoted(&data.name));
                }
            })
            .await?;
            for mailbox in &mut mailboxes {
                mailbox.subscribed = subscribed.contains(mailbox.server_name.wire());
            }
        }
        if !special_use {
            for mailbox in &mut mailboxes {
                mailbox.special_use = guess_special_use(&mailbox.name);
            }
        }
        if with_counters {
            for mailbox in &mut mailboxes {
                if !mailbox.selectable {
                    continue;
                }
                mailbox.counters = match counters.remove(mailbox.server_name.wire()) {
                    Some(found) => Some(found),
                    None if list_status => None,
                    None => match self.status_of(&mailbox.server_name).await {
                        Ok(found) => Some(found),
                        Err(err) if err.breaks_session() => return Err(err),
                        // A mailbox the server lists but will not count (one listed
                        // under raw 8-bit bytes, which no command can name back)
                        // goes without counters; the rest of the list stands.
                        Err(err) => {
                            tracing::debug!(
                                outcome = err.outcome_label(),
                                "STATUS of a listed mailbox refused"
                            );
                            None
                        }
                    },
                };
            }
        }
        Ok(mailboxes)
    }

    /// Whether `name` exists (as anything LIST shows, selectable or not).
    pub(super) async fn mailbox_exists(&mut self, name: &MailboxName) -> Result<bool, ImapError> {
        Ok(!self.list_mailboxes(Some(name), false).await?.is_empty())
    }

    /// Explains a refused SELECT or EXAMINE of `name`. One LIST says whether the
    /// mailbox exists and whether it can be opened: a mailbox that only holds others
    /// (`\Noselect`) is refused like a missing one by most servers, with or without a
    /// code, and becomes [`ImapError::NotSelectable`]; a code-less NO, or a
    /// `SERVERBUG` / `UNAVAILABLE` for a mailbox LIST no longer shows (one being
    /// deleted), is classified as [`Self::explain_refusal`] does. The original error stands when the LIST
    /// fails without breaking the session.
    pub(super) async fn explain_open_refusal(
        &mut self,
        err: ImapError,
        name: &MailboxName,
    ) -> ImapError {
        let ImapError::No { code, text } = &err else {
            return err;
        };
        let selectable = match self.list_mailboxes(Some(name), false).await {
            // A `\Noselect` name with no children holds nothing and leads nowhere: what
            // a deletion leaves for a moment (Dovecot lists a mailbox being deleted
            // so while its index directory goes), so it counts as missing.
            Ok(listed) => listed
                .first()
                .filter(|m| m.selectable || m.has_children != Some(false))
                .map(|m| m.selectable),
            Err(list_failed) if list_failed.breaks_session() => return list_failed,
            Err(_) => return err,
        };
        let with = |code: RespCode| ImapError::No {
            code: Some(code),
            text: text.clone(),
        };
        match (selectable, code) {
            (Some(false), _) => ImapError::NotSelectable(name.as_str().to_owned()),
            // Dovecot answers `NO [SERVERBUG]` (or `[UNAVAILABLE]`) for a mailbox
            // another client is deleting at that moment: LIST says it is gone.
            (None, None | Some(RespCode::ServerBug | RespCode::Unavailable)) => {
                with(RespCode::NonExistent)
            }
            (_, Some(_)) => err,
            (Some(true), None) if mentions_permission(text) => with(RespCode::NoPerm),
            (Some(true), None) => err,
        }
    }

    /// Turns a NO without a response code (Cyrus and Courier send no RFC 5530 codes)
    /// into what happened, by looking: LIST tells whether the mailbox exists. Errors
    /// that carry a code, or that broke the session, are returned as they are; so is
    /// the original error when the LIST itself fails.
    pub(super) async fn explain_refusal(
        &mut self,
        err: ImapError,
        refused: Refused<'_>,
    ) -> ImapError {
        let ImapError::No { code: None, text } = &err else {
            return err;
        };
        let text = text.clone();
        let with = |code: RespCode| ImapError::No {
            code: Some(code),
            text: text.clone(),
        };
        let permission = mentions_permission(&text);
        let explained = match refused {
            Refused::Open(name) | Refused::Delete(name) => match self.mailbox_exists(name).await {
                Ok(false) => Ok(with(RespCode::NonExistent)),
                Ok(true) if permission => Ok(with(RespCode::NoPerm)),
                other => other.map(|_| err),
            },
            Refused::Create(name) => match self.mailbox_exists(name).await {
                Ok(true) => Ok(with(RespCode::AlreadyExists)),
                Ok(false) if permission => Ok(with(RespCode::NoPerm)),
                // The name is free, and the server would not create it.
                Ok(false) => Ok(with(RespCode::Cannot)),
                Err(e) => Err(e),
            },
            Refused::Rename { from, to } => match self.mailbox_exists(from).await {
                Ok(false) => Ok(with(RespCode::NonExistent)),
                Ok(true) => match self.mailbox_exists(to).await {
                    Ok(true) => Ok(with(RespCode::AlreadyExists)),
                    Ok(false) if permission => Ok(with(RespCode::NoPerm)),
                    Ok(false) => Ok(with(RespCode::Cannot)),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
            Refused::Target(name) => match self.mailbox_exists(name).await {
                Ok(false) => Ok(with(RespCode::TryCreate)),
                Ok(true) if permission => Ok(with(RespCode::NoPerm)),
                other => other.map(|_| err),
            },
        };
        match explained {
            Ok(explained) => explained,
            Err(list_failed) if list_failed.breaks_session() => list_failed,
            Err(_) => ImapError::No { code: None, text },
        }
    }

    /// LIST (with counters) for exactly one mailbox.
    ///
    /// # Errors
    /// `No { NonExistent }` when the mailbox does not exist.
    pub async fn mailbox_info(&mut self, name: &MailboxName) -> Result<MailboxInfo, ImapError> {
        self.list_mailboxes(Some(name), true)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ImapError::No {
                code: Some(RespCode::NonExistent),
                text: "Mailbox does not exist".to_owned(),
            })
    }

    /// STATUS of one mailbox.
    ///
    /// # Errors
    /// `No { NonExistent }` and friends.
    pub async fn status(&mut self, name: &MailboxName) -> Result<MailboxCounters, ImapError> {
        let server = self.server_name(name)?;
        if self.selected.as_ref().is_some_and(|s| &s.name == name) && !self.view_is_current {
            // As in `list_mailboxes`: STATUS of the selected mailbox may be stale.
            self.refresh_view().await?;
        }
        match self.status_of(&server).await {
            Ok(counters) => Ok(counters),
            Err(err) => Err(self.explain_refusal(err, Refused::Open(name)).await),
        }
    }

    /// STATUS by the server's name, errors as the server gave them.
    pub(super) async fn status_of(
        &mut self,
        server: &ServerMailbox,
    ) -> Result<MailboxCounters, ImapError> {
        let items = self.status_items();
        let mut found = None;
        self.execute_with(Command::Status(server, &items), |response| {
            if let Response::MailboxData(MailboxDatum::Status { status, .. }) = response {
                found = Some(counters_from(status));
            }
        })
        .await?;
        found.ok_or_else(|| ImapError::Protocol("STATUS without data".to_owned()))
    }

    /// CREATE, then SUBSCRIBE when asked.
    ///
    /// # Errors
    /// `No { AlreadyExists }` and friends.
    pub async fn create_mailbox(
        &mut self,
        name: &MailboxName,
        subscribe: bool,
    ) -> Result<(), ImapError> {
        let server = self.server_name(name)?;
        if let Err(err) = self.execute(Command::Create(&server)).await {
            return Err(self.explain_refusal(err, Refused::Create(name)).await);
        }
        if subscribe {
            if let Err(err) = self.execute(Command::Subscribe(&server)).await {
                // Leave nothing half-done: the mailbox was created just now and is empty.
                if !err.breaks_session() {
                    let _ = self.execute(Command::Delete(&server)).await;
                }
                return Err(err);
            }
        }
        Ok(())
    }

    /// DELETE (after leaving it if selected), then drops the subscription, which
    /// RFC 3501 leaves behind.
    ///
    /// # Errors
    /// `No { NonExistent }`, `No { HasChildren }` and friends.
    pub async fn delete_mailbox(&mut self, name: &MailboxName) -> Result<(), ImapError> {
        let server = self.server_name(name)?;
        self.deselect_if(name).await?;
        if let Err(err) = self.execute(Command::Delete(&server)).await {
            return Err(self.explain_refusal(err, Refused::Delete(name)).await);
        }
        // Best effort: the mailbox is gone either way; a stale subscription is harmless.
        if let Err(err) = self.execute(Command::Unsubscribe(&server)).await {
            if err.breaks_session() {
                return Err(err);
            }
        }
        Ok(())
    }

    /// RENAME.
    ///
    /// # Errors
    /// `No { NonExistent }`, `No { AlreadyExists }` and friends.
    pub async fn rename_mailbox(
        &mut self,
        from: &MailboxName,
        to: &MailboxName,
    ) -> Result<(), ImapError> {
        let server_from = self.server_name(from)?;
        let server_to = self.server_name(to)?;
        self.deselect_if(from).await?;
        match self
            .execute(Command::Rename(&server_from, &server_to))
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(self
                .explain_refusal(err, Refused::Rename { from, to })
                .await),
        }
    }

    /// SUBSCRIBE or UNSUBSCRIBE.
    ///
    /// # Errors
    /// Server errors.
    pub async fn set_subscribed(
        &mut self,
        name: &MailboxName,
        subscribed: bool,
    ) -> Result<(), ImapError> {
        let server = self.server_name(name)?;
        let command = if subscribed {
            Command::Subscribe(&server)
        } else {
            Command::Unsubscribe(&server)
        };
        match self.execute(command).await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.explain_refusal(err, Refused::Open(name)).await),
        }
    }
}
