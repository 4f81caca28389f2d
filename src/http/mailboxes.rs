//! Mailbox routes: list, create, read, rename/(un)subscribe, delete.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use super::extract::{mailbox_location, AppJson, AppQuery, MailboxPath};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::{ApiError, ImapResultExt as _, Op};
use crate::http::signed::MailboxState;
use crate::imap::{MailboxInfo, MailboxName};
use crate::model::mailbox::{
    CreateMailboxRequest, ListMailboxesQuery, Mailbox, MailboxList, NamespaceInfo,
    UpdateMailboxRequest,
};
use crate::state::AppState;

/// Converts to the DTO and adds the state token when the server tracks changes.
fn to_dto(state: &AppState, tracks_changes: bool, info: MailboxInfo) -> Mailbox {
    // Without CONDSTORE the state has no mod-sequence (0): `/changes` then reports
    // what it can prove from UIDs and counts (see `changes.rs`).
    let token = info.counters.as_ref().and_then(|c| {
        let highest_modseq = if tracks_changes { c.highest_modseq? } else { 0 };
        Some(state.tokens_codec.encode_state(
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

fn field_name(field: &'static str) -> impl Fn(crate::imap::ValidationError) -> ApiError {
    move |err| ApiError::bad_field(field, err.message)
}

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
    let mut mailboxes = session
        .list_mailboxes(None, query.status.unwrap_or(true))
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
        .map(|m| to_dto(&state, tracks, m))
        .collect();
    Ok(Json(MailboxList {
        total: items.len(),
        items,
        namespaces: NamespaceInfo::all(&session.profile().namespaces),
    }))
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
    let name = MailboxName::new_name(&request.name).map_err(field_name("name"))?;
    let mut session = state.session(&user).await?;
    session
        .create_mailbox(&name, request.subscribe)
        .await
        .during(Op::CreateMailbox)?;
    let created = session.mailbox_info(&name).await.during(Op::GetMailbox)?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, mailbox_location(&name))],
        Json(to_dto(&state, session.tracks_changes(), created)),
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
    let (info, tracks_changes) = retry_after_bye!(state, &user, |session| {
        let info = session.mailbox_info(&name).await.during(Op::GetMailbox);
        info.map(|info| (info, session.tracks_changes()))
    })?;
    Ok(Json(to_dto(&state, tracks_changes, info)))
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
    let new_name = request
        .name
        .map(|new| MailboxName::new_name(&new))
        .transpose()
        .map_err(field_name("name"))?
        .filter(|new| new != &name);
    if new_name.is_none() && request.subscribed.is_none() {
        return Err(ApiError::unprocessable_field(
            "body",
            "nothing to change: give a new `name` and/or `subscribed`",
        ));
    }
    if new_name.is_some() && name.is_inbox() {
        return Err(ApiError::unprocessable_field(
            "name",
            "INBOX cannot be renamed",
        ));
    }
    let mut session = state.session(&user).await?;
    let before = session.mailbox_info(&name).await.during(Op::GetMailbox)?;
    let current = match &new_name {
        Some(new) => {
            session
                .rename_mailbox(&name, new)
                .await
                .during(Op::RenameMailbox)?;
            // Servers differ on whether subscriptions follow RENAME; make them.
            if before.subscribed {
                session
                    .set_subscribed(&name, false)
                    .await
                    .during(Op::Subscribe)?;
            }
            new
        }
        None => &name,
    };
    let subscribed = request.subscribed.unwrap_or(before.subscribed);
    if new_name.is_some() || subscribed != before.subscribed {
        session
            .set_subscribed(current, subscribed)
            .await
            .during(Op::Subscribe)?;
    }
    let after = session.mailbox_info(current).await.during(Op::GetMailbox)?;
    Ok(Json(to_dto(&state, session.tracks_changes(), after)))
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
    if name.is_inbox() {
        return Err(ApiError::unprocessable_field(
            "mailbox",
            "INBOX cannot be deleted",
        ));
    }
    let mut session = state.session(&user).await?;
    session
        .delete_mailbox(&name)
        .await
        .during(Op::DeleteMailbox)?;
    Ok(StatusCode::NO_CONTENT)
}
