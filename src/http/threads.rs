//! Conversation routes: a mailbox's threads and one thread's messages, from the
//! server's own threading (`UID THREAD`).

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::Json;

use super::extract::{AppQuery, MailboxPath};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::ApiError;
use crate::imap::MailboxName;
use crate::mail::threads::{get_thread, list_threads, ThreadsRequest};
use crate::model::thread::{ThreadDetail, ThreadList, ThreadQuery, ThreadsQuery};
use crate::state::AppState;

/// List a mailbox's conversations, the one with the newest message first.
///
/// The server threads the mailbox (`UID THREAD REFERENCES`, or `REFS`; RFC 5256);
/// each thread comes with its message count, unseen count, UIDs and the summary of
/// its newest message. A thread's `id` is the UID of its first message. Pages are
/// fixed by the first one: new mail never shifts them. On a server without THREAD
/// the gateway computes REFERENCES itself from the messages' headers (mailboxes of
/// up to 20,000 messages; 501 beyond).
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/threads", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"), ThreadsQuery),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "A page of threads", body = ThreadList), ProblemResponses))]
pub async fn list_mailbox_threads(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppQuery(query): AppQuery<ThreadsQuery>,
) -> Result<Json<ThreadList>, ApiError> {
    user.require(Scope::Read)?;
    let request = ThreadsRequest::parse(&query)?;
    let list = retry_after_bye!(state, &user, |session| {
        list_threads(&state.tokens_codec, &mut session, &mailbox, &request).await
    })?;
    Ok(Json(list))
}

/// One conversation: every message of the thread in this mailbox, oldest first, with
/// the UID each answers (`parent_uid`) and its depth; with `include_sent=true` also
/// the user's replies kept in Sent (found by the thread's Message-IDs).
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/threads/{id}", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("id" = u32, Path, minimum = 1, description = "Thread id: the UID of its first message"), ThreadQuery),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "The thread", body = ThreadDetail), ProblemResponses))]
pub async fn get_mailbox_thread(
    State(state): State<AppState>,
    user: AuthUser,
    ThreadPath { mailbox, id }: ThreadPath,
    AppQuery(query): AppQuery<ThreadQuery>,
) -> Result<Json<ThreadDetail>, ApiError> {
    user.require(Scope::Read)?;
    let include_sent = query.include_sent.unwrap_or(false);
    let thread = retry_after_bye!(state, &user, |session| {
        get_thread(&mut session, &mailbox, id, include_sent).await
    })?;
    Ok(Json(thread))
}

/// The `{mailbox}/threads/{id}` path segments, validated.
#[derive(Debug, Clone)]
pub struct ThreadPath {
    /// The mailbox.
    pub mailbox: MailboxName,
    /// The thread id (a UID, at least 1).
    pub id: u32,
}

impl<S: Send + Sync> FromRequestParts<S> for ThreadPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((mailbox, id)) =
            Path::<(String, String)>::from_request_parts(parts, state).await?;
        let id = id.parse::<u32>().ok().filter(|id| *id > 0).ok_or_else(|| {
            ApiError::bad_field("id", "a thread id is a UID, from 1 to 4294967295")
        })?;
        Ok(Self {
            mailbox: MailboxName::try_from(mailbox).map_err(ApiError::from)?,
            id,
        })
    }
}
