//! Mailbox routes: list, create, read, rename/(un)subscribe, delete.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use super::extract::{mailbox_location, AppJson, AppQuery, MailboxPath};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::ApiError;
use crate::mail::mailboxes::{self, MailboxUpdate, NewMailbox};
use crate::model::mailbox::{
    CreateMailboxRequest, ListMailboxesQuery, Mailbox, MailboxList, UpdateMailboxRequest,
};
use crate::state::AppState;

/// List mailboxes with roles, subscription state and counters.
///
/// One `LIST "" "*" RETURN (SUBSCRIBED SPECIAL-USE STATUS (...))` round trip on servers
/// with LIST-STATUS; LIST + LSUB + STATUS per mailbox otherwise.
#[utoipa::path(get, path = "/v1/mailboxes", tag = "mailboxes",
    params(ListMailboxesQuery),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "All mailboxes, INBOX first", body = MailboxList),
        ProblemResponses,
    ))]
pub async fn list_mailboxes(
    State(state): State<AppState>,
    user: AuthUser,
    AppQuery(query): AppQuery<ListMailboxesQuery>,
) -> Result<Json<MailboxList>, ApiError> {
    user.require(Scope::Read)?;
    let mut session = state.session(&user).await?;
    Ok(Json(
        mailboxes::list(&state.tokens_codec, &mut session, &query).await?,
    ))
}

/// Create a mailbox (and subscribe to it unless `subscribe` is false).
#[utoipa::path(post, path = "/v1/mailboxes", tag = "mailboxes",
    request_body = CreateMailboxRequest,
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 201, description = "Created; `Location` names the new mailbox", body = Mailbox,
            headers(("Location" = String, description = "URL of the new mailbox"))),
        ProblemResponses,
    ))]
pub async fn create_mailbox(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(request): AppJson<CreateMailboxRequest>,
) -> Result<impl IntoResponse, ApiError> {
    user.require(Scope::Write)?;
    let request = NewMailbox::parse(&request)?;
    let mut session = state.session(&user).await?;
    let created = mailboxes::create(&state.tokens_codec, &mut session, &request).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, mailbox_location(request.name()))],
        Json(created),
    ))
}

/// Read one mailbox: role, subscription and counters
/// (messages, unseen, uid_next, uid_validity, highest_modseq).
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}", tag = "mailboxes",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded (`Projects%2F2026`)")),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The mailbox", body = Mailbox),
        ProblemResponses,
    ))]
pub async fn get_mailbox(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(name): MailboxPath,
) -> Result<Json<Mailbox>, ApiError> {
    user.require(Scope::Read)?;
    let mailbox = retry_after_bye!(state, &user, |session| {
        mailboxes::get(&state.tokens_codec, &mut session, &name).await
    })?;
    Ok(Json(mailbox))
}

/// Rename a mailbox (children move along) and/or change its subscription.
///
/// The subscription follows a renamed mailbox. INBOX cannot be renamed here: IMAP
/// defines that as moving all its messages, which is never what a client means.
#[utoipa::path(patch, path = "/v1/mailboxes/{mailbox}", tag = "mailboxes",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded")),
    request_body = UpdateMailboxRequest,
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The mailbox after the change", body = Mailbox),
        ProblemResponses,
    ))]
pub async fn update_mailbox(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(name): MailboxPath,
    AppJson(request): AppJson<UpdateMailboxRequest>,
) -> Result<Json<Mailbox>, ApiError> {
    user.require(Scope::Write)?;
    let update = MailboxUpdate::parse(&name, &request)?;
    let mut session = state.session(&user).await?;
    Ok(Json(
        mailboxes::update(&state.tokens_codec, &mut session, &name, &update).await?,
    ))
}

/// Delete a mailbox (needs the `delete` scope). INBOX cannot be deleted.
#[utoipa::path(delete, path = "/v1/mailboxes/{mailbox}", tag = "mailboxes",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded")),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 204, description = "Deleted"),
        ProblemResponses,
    ))]
pub async fn delete_mailbox(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(name): MailboxPath,
) -> Result<StatusCode, ApiError> {
    user.require(Scope::Delete)?;
    let mut session = state.session(&user).await?;
    mailboxes::delete(&mut session, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
