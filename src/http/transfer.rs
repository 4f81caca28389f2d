//! Moving, copying and deleting messages, one or many.
//!
//! Nothing lost: deletion moves to the `\Trash` mailbox unless `permanent=true`, and
//! permanent deletion is `STORE \Deleted` + `UID EXPUNGE` of exactly the named UIDs
//! (never EXPUNGE or CLOSE, which would also remove messages other clients marked
//! `\Deleted`). MOVE is used when advertised, else COPY + `UID EXPUNGE`. Moves and
//! deletions of one user's messages in one mailbox run one at a time
//! (`imap/mailbox_locks.rs`), so two requests never move the same message twice.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::extract::{AppJson, AppQuery, MailboxPath, MessagePath};
use super::flags::resolve_targets;
use super::imap_ops::{fetch_one, open_mailbox};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::{ApiError, ImapResultExt as _, Op};
use crate::imap::command::FetchItem;
use crate::imap::session::Completion;
use crate::imap::{ImapSession, MailboxName, SpecialUse, UidSet};
use crate::model::transfer::{
    BulkDeleteRequest, BulkTransferRequest, BulkTransferResult, DeleteQuery, TransferRequest,
    Transferred,
};
use crate::state::AppState;

fn target(name: &str) -> Result<MailboxName, ApiError> {
    MailboxName::try_from(name).map_err(|e| ApiError::bad_field("to", e.message))
}

/// What was moved or copied. On UIDPLUS servers COPYUID names exactly the messages
/// that were: a UID another client expunged meanwhile is answered `OK` with nothing
/// copied (Dovecot: "No messages found"), and must not be reported as transferred.
fn transferred(
    session: &ImapSession,
    set: &UidSet,
    to: &MailboxName,
    completion: &Completion,
) -> Vec<Transferred> {
    let uidplus = session.reports_copied_uids();
    let mapping = completion.copy_uid.as_ref();
    set.iter()
        .filter(|uid| {
            !uidplus || mapping.is_some_and(|(_, pairs)| pairs.iter().any(|(from, _)| from == uid))
        })
        .map(|uid| Transferred {
            uid,
            mailbox: to.as_str().to_owned(),
            new_uid: mapping.and_then(|(_, pairs)| {
                pairs
                    .iter()
                    .find(|(from, _)| *from == uid)
                    .map(|(_, to)| *to)
            }),
            uid_validity: mapping.map(|(validity, _)| *validity),
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Move,
    Copy,
}

/// Moves (not copies) take the per-user, per-mailbox removal lock.
async fn removal_guard(
    state: &AppState,
    user: &AuthUser,
    mailbox: &MailboxName,
    kind: Kind,
) -> Option<tokio::sync::OwnedMutexGuard<()>> {
    match kind {
        Kind::Move => Some(
            state
                .removal_locks
                .acquire(user.identity.key(), mailbox)
                .await,
        ),
        Kind::Copy => None,
    }
}

/// The message was there when checked, but gone when moved or copied.
fn expunged_meanwhile() -> ApiError {
    ApiError::NotFound {
        detail: "the message was expunged by another client meanwhile".to_owned(),
    }
}

async fn transfer(
    session: &mut ImapSession,
    kind: Kind,
    set: &UidSet,
    to: &MailboxName,
) -> Result<Completion, ApiError> {
    match kind {
        Kind::Move => session.move_messages(set, to).await.during(Op::Move),
        Kind::Copy => session.copy_messages(set, to).await.during(Op::Copy),
    }
}

async fn transfer_one(
    state: &AppState,
    user: &AuthUser,
    kind: Kind,
    mailbox: MailboxName,
    uid: crate::imap::Uid,
    to: &str,
) -> Result<Json<Transferred>, ApiError> {
    user.require(Scope::Write)?;
    let to = target(to)?;
    if kind == Kind::Move && to == mailbox {
        return Err(ApiError::unprocessable_field(
            "to",
            "the message is already in this mailbox",
        ));
    }
    let _removing = removal_guard(state, user, &mailbox, kind).await;
    let (mut session, _) = open_mailbox(state, user, &mailbox, kind == Kind::Copy).await?;
    fetch_one(&mut session, uid, &[FetchItem::Uid]).await?;
    let set = UidSet::single(uid);
    let completion = transfer(&mut session, kind, &set, &to).await?;
    transferred(&session, &set, &to, &completion)
        .pop()
        .map(Json)
        .ok_or_else(expunged_meanwhile)
}

/// Move a message to another mailbox (MOVE, or COPY + `UID EXPUNGE` of this UID).
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/messages/{uid}/move", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, description = "Message UID")),
    request_body = TransferRequest,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "Moved; the new UID", body = Transferred), ProblemResponses))]
pub async fn move_message(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    AppJson(request): AppJson<TransferRequest>,
) -> Result<Json<Transferred>, ApiError> {
    transfer_one(&state, &user, Kind::Move, mailbox, uid, &request.to).await
}

/// Copy a message to another mailbox.
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/messages/{uid}/copy", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, description = "Message UID")),
    request_body = TransferRequest,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "Copied; the new UID", body = Transferred), ProblemResponses))]
pub async fn copy_message(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    AppJson(request): AppJson<TransferRequest>,
) -> Result<Json<Transferred>, ApiError> {
    transfer_one(&state, &user, Kind::Copy, mailbox, uid, &request.to).await
}

/// The user's Trash: the `\Trash` special-use mailbox (or, on servers without
/// SPECIAL-USE, a mailbox with a conventional Trash name).
async fn find_trash(session: &mut ImapSession) -> Result<MailboxName, ApiError> {
    let mailboxes = session
        .list_mailboxes(None, false)
        .await
        .during(Op::ListMailboxes)?;
    mailboxes
        .into_iter()
        .find(|m| m.special_use == Some(SpecialUse::Trash) && m.selectable)
        .map(|m| m.name)
        .ok_or_else(|| ApiError::Conflict {
            detail: "there is no Trash mailbox to move to; delete with ?permanent=true".to_owned(),
            slug: "no-trash",
        })
}

/// Deletes `set`: permanently, or by moving to Trash.
async fn delete_set(
    session: &mut ImapSession,
    mailbox: &MailboxName,
    set: &UidSet,
    permanent: bool,
) -> Result<Vec<Transferred>, ApiError> {
    if permanent {
        session.expunge_messages(set).await.during(Op::Expunge)?;
        return Ok(set
            .iter()
            .map(|uid| Transferred {
                uid,
                mailbox: String::new(),
                new_uid: None,
                uid_validity: None,
            })
            .collect());
    }
    let trash = find_trash(session).await?;
    if &trash == mailbox {
        return Err(ApiError::Conflict {
            detail: "the message is already in Trash; delete it with ?permanent=true".to_owned(),
            slug: "already-in-trash",
        });
    }
    let completion = transfer(session, Kind::Move, set, &trash).await?;
    Ok(transferred(session, set, &trash, &completion))
}

/// Delete a message: move it to Trash, or with `?permanent=true` (scope `delete`)
/// set `\Deleted` and `UID EXPUNGE` exactly this UID. Answers 200 with where it went
/// (Trash), or 204 when deleted permanently.
#[utoipa::path(delete, path = "/v1/mailboxes/{mailbox}/messages/{uid}", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, description = "Message UID"), DeleteQuery),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "Moved to Trash", body = Transferred),
        (status = 204, description = "Deleted permanently"),
        ProblemResponses))]
pub async fn delete_message(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    AppQuery(query): AppQuery<DeleteQuery>,
) -> Result<Response, ApiError> {
    let permanent = query.permanent.unwrap_or(false);
    user.require(if permanent {
        Scope::Delete
    } else {
        Scope::Write
    })?;
    let _removing = state
        .removal_locks
        .acquire(user.identity.key(), &mailbox)
        .await;
    let (mut session, _) = open_mailbox(&state, &user, &mailbox, false).await?;
    fetch_one(&mut session, uid, &[FetchItem::Uid]).await?;
    let mut items = delete_set(&mut session, &mailbox, &UidSet::single(uid), permanent).await?;
    if permanent {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    items
        .pop()
        .map(|item| Json(item).into_response())
        .ok_or_else(expunged_meanwhile)
}

async fn bulk_transfer(
    state: &AppState,
    user: &AuthUser,
    kind: Kind,
    mailbox: MailboxName,
    request: BulkTransferRequest,
) -> Result<Json<BulkTransferResult>, ApiError> {
    user.require(Scope::Write)?;
    let to = target(&request.to)?;
    if kind == Kind::Move && to == mailbox {
        return Err(ApiError::unprocessable_field(
            "to",
            "the messages are already in this mailbox",
        ));
    }
    let _removing = removal_guard(state, user, &mailbox, kind).await;
    let (mut session, _) = open_mailbox(state, user, &mailbox, kind == Kind::Copy).await?;
    let Some(set) = resolve_targets(
        &mut session,
        request.uids.as_deref(),
        request.filter.as_ref(),
    )
    .await?
    else {
        return Ok(Json(BulkTransferResult {
            count: 0,
            items: Vec::new(),
        }));
    };
    let completion = transfer(&mut session, kind, &set, &to).await?;
    let items = transferred(&session, &set, &to, &completion);
    Ok(Json(BulkTransferResult {
        count: items.len(),
        items,
    }))
}

/// Move many messages (by UIDs or filter, at most 1000).
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/move", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded")),
    request_body = BulkTransferRequest,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "Moved", body = BulkTransferResult), ProblemResponses))]
pub async fn bulk_move(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppJson(request): AppJson<BulkTransferRequest>,
) -> Result<Json<BulkTransferResult>, ApiError> {
    bulk_transfer(&state, &user, Kind::Move, mailbox, request).await
}

/// Copy many messages (by UIDs or filter, at most 1000).
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/copy", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded")),
    request_body = BulkTransferRequest,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "Copied", body = BulkTransferResult), ProblemResponses))]
pub async fn bulk_copy(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppJson(request): AppJson<BulkTransferRequest>,
) -> Result<Json<BulkTransferResult>, ApiError> {
    bulk_transfer(&state, &user, Kind::Copy, mailbox, request).await
}

/// Delete many messages (by UIDs or filter, at most 1000): to Trash, or permanently
/// with `"permanent": true` (scope `delete`; exactly those UIDs are expunged).
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/delete", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded")),
    request_body = BulkDeleteRequest,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "Deleted", body = BulkTransferResult), ProblemResponses))]
pub async fn bulk_delete(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppJson(request): AppJson<BulkDeleteRequest>,
) -> Result<Json<BulkTransferResult>, ApiError> {
    user.require(if request.permanent {
        Scope::Delete
    } else {
        Scope::Write
    })?;
    let _removing = state
        .removal_locks
        .acquire(user.identity.key(), &mailbox)
        .await;
    let (mut session, _) = open_mailbox(&state, &user, &mailbox, false).await?;
    let Some(set) = resolve_targets(
        &mut session,
        request.uids.as_deref(),
        request.filter.as_ref(),
    )
    .await?
    else {
        return Ok(Json(BulkTransferResult {
            count: 0,
            items: Vec::new(),
        }));
    };
    let items = delete_set(&mut session, &mailbox, &set, request.permanent).await?;
    Ok(Json(BulkTransferResult {
        count: items.len(),
        items,
    }))
}
