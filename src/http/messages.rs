//! Message routes: list and search with UID cursors, and read (parsed). Downloads
//! are in `downloads.rs`, storing messages in `append.rs`.

use axum::extract::State;
use axum::Json;

use super::extract::{mailbox_location, AppQuery, MailboxPath, MessagePath};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::ApiError;
use crate::mail::list::{list_page, ListRequest};
use crate::mail::read::{read_message, ReadOptions};
use crate::model::message::{ListMessagesQuery, Message, MessageList, ReadQuery};
use crate::state::AppState;

/// List messages, newest first, with filters and an opaque cursor.
///
/// Without filters the newest page costs one FETCH of the last `limit` messages,
/// however large the mailbox. With filters, one UID SEARCH, then one FETCH of the page.
/// Pages are anchored on UIDs: new mail never shifts or duplicates items.
/// Free-text filters are sent as IMAP strings (quoted, or a UTF-8 literal), never as syntax.
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/messages", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"), ListMessagesQuery),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "A page of summaries", body = MessageList), ProblemResponses))]
pub async fn list_messages(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppQuery(query): AppQuery<ListMessagesQuery>,
) -> Result<Json<MessageList>, ApiError> {
    user.require(Scope::Read)?;
    let request = ListRequest::parse(&query)?;
    let list = retry_after_bye!(state, &user, |session| {
        list_page(&state.tokens_codec, &mut session, &mailbox, &request).await
    })?;
    Ok(Json(list))
}

/// Read one message: headers, text and HTML decoded to UTF-8, attachment list.
///
/// The HTML is sanitised for rendering by default (`html=raw` for the original);
/// remote images are removed unless `remote_images=true`, and `cid:` images point at
/// this message's attachment URLs (fetch them with your credentials).
///
/// Two round trips whatever the message size: summary with BODYSTRUCTURE, then only
/// the text parts and the attachments' MIME headers (attachments are not downloaded).
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/messages/{uid}", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, minimum = 1, example = 1, description = "Message UID"), ReadQuery),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "The message", body = Message), ProblemResponses))]
pub async fn get_message(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    AppQuery(query): AppQuery<ReadQuery>,
) -> Result<Json<Message>, ApiError> {
    user.require(Scope::Read)?;
    let mark_seen = query.mark_seen.unwrap_or(false);
    if mark_seen {
        user.require(Scope::Write)?;
    }
    let options = ReadOptions {
        mark_seen,
        html: query.html.unwrap_or_default(),
        remote_images: query.remote_images.unwrap_or(false),
        attachment_base: format!("{}/messages/{uid}/attachments/", mailbox_location(&mailbox)),
    };
    let message = retry_after_bye!(state, &user, |session| {
        read_message(&mut session, &mailbox, uid, &options).await
    })?;
    Ok(Json(message))
}
