//! `POST /v1/send`: submit a message over SMTP with the caller's credentials, then
//! file a copy in Sent. Answers only after the server's final reply.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use secrecy::ExposeSecret as _;

use super::append::MAX_APPEND_BYTES;
use super::extract::{json_body, media_type, AppBytes, AppQuery};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::ApiError;
use crate::mail::send::{file_sent_copy, response, submit, Outgoing};
use crate::model::compose::ComposeRequest;
use crate::model::send::{SendQuery, SendResponse};
use crate::state::AppState;

/// Largest message `POST /v1/send` accepts, in bytes (the server's SIZE may be lower).
pub const MAX_SEND_BYTES: usize = MAX_APPEND_BYTES;

/// Send a message: JSON composed into MIME (To, Cc and Bcc are the recipients; Bcc is
/// not transmitted but kept in the Sent copy), or a raw `message/rfc822` with the
/// recipients in `?to=`. Needs the `send` scope. Answers 200 after the server's final
/// reply, naming the accepted and refused recipients and the Sent copy; anything that
/// failed after the message was accepted is in `warnings` (do not send again).
#[utoipa::path(post, path = "/v1/send", tag = "send",
    params(SendQuery),
    request_body(content(
        (ComposeRequest = "application/json"),
        (Vec<u8> = "message/rfc822"),
    )),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "Sent", body = SendResponse), ProblemResponses))]
pub async fn send_message(
    State(state): State<AppState>,
    user: AuthUser,
    AppQuery(query): AppQuery<SendQuery>,
    headers: HeaderMap,
    AppBytes(body): AppBytes,
) -> Result<Json<SendResponse>, ApiError> {
    user.require(Scope::Send)?;
    let Some(smtp) = state.smtp.as_ref() else {
        return Err(ApiError::NotImplemented {
            detail: "sending is not configured on this gateway (IMAP_GATEWAY_SMTP_URL)".to_owned(),
        });
    };
    let content_type = media_type(&headers);
    let outgoing = match content_type.as_str() {
        "application/json" => {
            if query.to.is_some() || query.from.is_some() {
                return Err(ApiError::unprocessable_field(
                    "to",
                    "?to= and ?from= are for raw uploads; a composed message names its recipients in the body",
                ));
            }
            let request: ComposeRequest = json_body(&body)?;
            Outgoing::compose(&request)?
        }
        "message/rfc822" => Outgoing::raw(body.to_vec(), &query)?,
        _ => {
            return Err(ApiError::UnsupportedMediaType {
                detail:
                    "send application/json (to compose a message) or message/rfc822 (a raw message)"
                        .to_owned(),
            })
        }
    };
    let identity = &user.identity;
    let submission = submit(
        smtp,
        identity.username().as_str(),
        identity.password().expose_secret(),
        &outgoing,
    )
    .await?;
    // The message is sent: from here on, failures are warnings, never errors.
    let mut warnings = Vec::new();
    let copy = match state.session(&user).await {
        Ok(mut session) => {
            match file_sent_copy(&mut session, &outgoing, query.sent_copy.unwrap_or_default()).await
            {
                Ok(copy) => copy,
                Err(err) => {
                    warnings.push(format!("the Sent copy was not stored: {err}"));
                    None
                }
            }
        }
        Err(err) => {
            warnings.push(format!(
                "the Sent copy was not stored: the IMAP server could not be used ({})",
                err.status()
            ));
            None
        }
    };
    Ok(Json(response(&outgoing, submission, copy, warnings)))
}
