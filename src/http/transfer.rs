//! Moving, copying and deleting messages, one or many (`mail/transfer.rs` does the
//! work). Moves and deletions of one user's messages in one mailbox run one at a
//! time (`imap/mailbox_locks.rs`), so two requests never move the same message twice.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::sync::OwnedMutexGuard;

use super::extract::{AppJson, AppQuery, MailboxPath, MessagePath};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::ApiError;
use crate::imap::{MailboxName, Uid};
use crate::mail::targets::Targets;
use crate::mail::transfer::{self, Transfer};
use crate::model::transfer::{
    BulkDeleteRequest, BulkTransferRequest, BulkTransferResult, DeleteQuery, TransferRequest,
    Transferred, UidValidityQuery,
};
use crate::state::AppState;

/// Moves and deletions (not copies) take the per-user, per-mailbox removal lock.
async fn removal_guard(
    state: &AppState,
    user: &AuthUser,
    mailbox: &MailboxName,
    removes: bool,
) -> Option<OwnedMutexGuard<()>> {
    if !removes {
        return None;
    }
    Some(
        state
            .removal_locks
            .acquire(user.identity.account(), mailbox)
            .await,
    )
}

async fn transfer_one(
    state: &AppState,
    user: &AuthUser,
    kind: Transfer,
    mailbox: MailboxName,
    uid: (Uid, Option<u32>),
    to: &str,
) -> Result<Json<Transferred>, ApiError> {
    user.require(Scope::Write)?;
    let to = transfer::target(kind, &mailbox, to)?;
    let _removing = removal_guard(state, user, &mailbox, kind == Transfer::Move).await;
    let mut session = state.session(user).await?;
    let moved = transfer::transfer_one(&mut session, kind, &mailbox, uid, &to).await?;
    Ok(Json(moved))
}

/// Move a message to another mailbox (MOVE, or COPY + `UID EXPUNGE` of this UID).
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/messages/{uid}/move", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, minimum = 1, example = 1, description = "Message UID"), UidValidityQuery),
    request_body = TransferRequest,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "Moved; the new UID", body = Transferred), ProblemResponses))]
pub async fn move_message(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    AppQuery(query): AppQuery<UidValidityQuery>,
    AppJson(request): AppJson<TransferRequest>,
) -> Result<Json<Transferred>, ApiError> {
    let uid = (uid, query.uid_validity);
    transfer_one(&state, &user, Transfer::Move, mailbox, uid, &request.to).await
}

/// Copy a message to another mailbox.
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/messages/{uid}/copy", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, minimum = 1, example = 1, description = "Message UID"), UidValidityQuery),
    request_body = TransferRequest,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "Copied; the new UID", body = Transferred), ProblemResponses))]
pub async fn copy_message(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    AppQuery(query): AppQuery<UidValidityQuery>,
    AppJson(request): AppJson<TransferRequest>,
) -> Result<Json<Transferred>, ApiError> {
    let uid = (uid, query.uid_validity);
    transfer_one(&state, &user, Transfer::Copy, mailbox, uid, &request.to).await
}

/// Delete a message: move it to Trash, or with `?permanent=true` (scope `delete`)
/// set `\Deleted` and `UID EXPUNGE` exactly this UID. Answers 200 with where it went
/// (Trash), or 204 when deleted permanently.
#[utoipa::path(delete, path = "/v1/mailboxes/{mailbox}/messages/{uid}", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, minimum = 1, example = 1, description = "Message UID"), DeleteQuery),
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
    let _removing = removal_guard(&state, &user, &mailbox, true).await;
    let mut session = state.session(&user).await?;
    Ok(
        match transfer::delete_one(&mut session, &mailbox, (uid, query.uid_validity), permanent)
            .await?
        {
            Some(moved) => Json(moved).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

async fn bulk_transfer(
    state: &AppState,
    user: &AuthUser,
    kind: Transfer,
    mailbox: MailboxName,
    (request, uid_validity): (BulkTransferRequest, Option<u32>),
) -> Result<Json<BulkTransferResult>, ApiError> {
    user.require(Scope::Write)?;
    let to = transfer::target(kind, &mailbox, &request.to)?;
    let targets = Targets::parse(request.uids.as_deref(), request.filter.as_ref())?;
    let _removing = removal_guard(state, user, &mailbox, kind == Transfer::Move).await;
    let mut session = state.session(user).await?;
    let targets = (&targets, uid_validity);
    let result = transfer::transfer_many(&mut session, kind, &mailbox, targets, &to).await?;
    Ok(Json(result))
}

/// Move many messages (by UIDs or filter, at most 1000).
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/move", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           UidValidityQuery),
    request_body = BulkTransferRequest,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "Moved", body = BulkTransferResult), ProblemResponses))]
pub async fn bulk_move(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppQuery(query): AppQuery<UidValidityQuery>,
    AppJson(request): AppJson<BulkTransferRequest>,
) -> Result<Json<BulkTransferResult>, ApiError> {
    let request = (request, query.uid_validity);
    bulk_transfer(&state, &user, Transfer::Move, mailbox, request).await
}

/// Copy many messages (by UIDs or filter, at most 1000).
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/copy", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           UidValidityQuery),
    request_body = BulkTransferRequest,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "Copied", body = BulkTransferResult), ProblemResponses))]
pub async fn bulk_copy(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppQuery(query): AppQuery<UidValidityQuery>,
    AppJson(request): AppJson<BulkTransferRequest>,
) -> Result<Json<BulkTransferResult>, ApiError> {
    let request = (request, query.uid_validity);
    bulk_transfer(&state, &user, Transfer::Copy, mailbox, request).await
}

/// Delete many messages (by UIDs or filter, at most 1000): to Trash, or permanently
/// with `"permanent": true` (scope `delete`; exactly those UIDs are expunged).
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/delete", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           UidValidityQuery),
    request_body = BulkDeleteRequest,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "Deleted", body = BulkTransferResult), ProblemResponses))]
pub async fn bulk_delete(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppQuery(query): AppQuery<UidValidityQuery>,
    AppJson(request): AppJson<BulkDeleteRequest>,
) -> Result<Json<BulkTransferResult>, ApiError> {
    user.require(if request.permanent {
        Scope::Delete
    } else {
        Scope::Write
    })?;
    let targets = Targets::parse(request.uids.as_deref(), request.filter.as_ref())?;
    let _removing = removal_guard(&state, &user, &mailbox, true).await;
    let mut session = state.session(&user).await?;
    let targets = (&targets, query.uid_validity);
    let result = transfer::delete_many(&mut session, &mailbox, targets, request.permanent).await?;
    Ok(Json(result))
}
