//! Storing messages: a raw RFC 5322 upload, or a message composed from JSON with
//! mail-builder, appended with APPEND (the new UID from APPENDUID).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use super::extract::{json_body, mailbox_location, media_type, AppBytes, AppQuery, MailboxPath};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::ApiError;
use crate::mail::append::{append, NewMessage};
use crate::mail::compose::compose;
use crate::model::compose::{AppendQuery, AppendResponse, ComposeRequest};
use crate::state::AppState;

/// Largest message accepted by `POST .../messages` (raw or composed), in bytes.
pub const MAX_APPEND_BYTES: usize = 64 * 1024 * 1024;

/// Store a message: a raw RFC 5322 upload (`Content-Type: message/rfc822`, flags and
/// date in the query) or JSON composed into MIME. Answers 201 with the new UID
/// (from UIDPLUS APPENDUID) and `Location`. Bodies over 64 MiB answer 413.
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/messages", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"), AppendQuery),
    request_body(content(
        (ComposeRequest = "application/json"),
        (Vec<u8> = "message/rfc822"),
    )),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 201, description = "Stored", body = AppendResponse,
        headers(("Location" = String, description = "URL of the new message"))), ProblemResponses))]
pub async fn append_message(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppQuery(query): AppQuery<AppendQuery>,
    headers: HeaderMap,
    AppBytes(body): AppBytes,
) -> Result<impl IntoResponse, ApiError> {
    user.require(Scope::Write)?;
    let content_type = media_type(&headers);
    let message = match content_type.as_str() {
        "message/rfc822" => {
            let flags: Vec<String> = query
                .flags
                .as_deref()
                .map(|f| {
                    f.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            NewMessage::new(body.to_vec(), &flags, query.internal_date.as_deref())?
        }
        "application/json" => {
            let request: ComposeRequest = json_body(&body)?;
            if request.reference.is_some() {
                return Err(ApiError::unprocessable_field(
                    "reference",
                    "replies and forwards are sent with POST /v1/send",
                ));
            }
            NewMessage::new(
                compose(&request)?,
                &request.flags,
                request.internal_date.as_deref(),
            )?
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType {
                detail: "send message/rfc822 (a raw message) or application/json (to compose one)"
                    .to_owned(),
            })
        }
    };
    let mut session = state.session(&user).await?;
    let stored = append(&mut session, &mailbox, &message).await?;
    let location = stored
        .uid
        .map(|uid| format!("{}/messages/{uid}", mailbox_location(&mailbox)));
    let mut response = (StatusCode::CREATED, Json(stored)).into_response();
    if let Some(value) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}
