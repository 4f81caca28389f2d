//! Storing messages: a raw RFC 5322 upload, or a message composed from JSON with
//! mail-builder, appended with APPEND (the new UID from APPENDUID).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use base64::Engine as _;

use super::extract::{mailbox_location, AppBytes, AppQuery, MailboxPath};
use super::imap_ops::parse_flag_list;
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::{ApiError, ImapResultExt as _, Op};
use crate::imap::date::InternalDate;
use crate::model::compose::{AppendQuery, AppendResponse, ComposeAddress, ComposeRequest};
use crate::state::AppState;

use super::downloads::safe_media_type;

fn check_header_text(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains(['\r', '\n', '\0']) || value.len() > 998 {
        return Err(ApiError::unprocessable_field(
            field,
            "must be one line of at most 998 bytes",
        ));
    }
    Ok(())
}

fn compose_address(
    field: &str,
    address: &ComposeAddress,
) -> Result<mail_builder::headers::address::Address<'static>, ApiError> {
    let (name, addr) = match address {
        ComposeAddress::Plain(addr) => (None, addr.clone()),
        ComposeAddress::Named { name, address } => (name.clone(), address.clone()),
    };
    check_header_text(field, &addr)?;
    if let Some(name) = &name {
        check_header_text(field, name)?;
    }
    let valid = addr
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
        && !addr.contains([' ', '<', '>', ',']);
    if !valid {
        return Err(ApiError::unprocessable_field(
            field,
            format!("{addr:?} is not an address like name@example.org"),
        ));
    }
    Ok(match name {
        Some(name) => (name, addr).into(),
        None => addr.into(),
    })
}

/// Builds an RFC 5322 message from JSON with mail-builder.
fn compose(request: &ComposeRequest) -> Result<Vec<u8>, ApiError> {
    if request.text.is_none() && request.html.is_none() && request.attachments.is_empty() {
        return Err(ApiError::unprocessable_field(
            "body",
            "give text, html or attachments",
        ));
    }
    let mut builder =
        mail_builder::MessageBuilder::new().from(compose_address("from", &request.from)?);
    let list = |field: &str,
                list: &[ComposeAddress]|
     -> Result<Vec<mail_builder::headers::address::Address<'static>>, ApiError> {
        list.iter().map(|a| compose_address(field, a)).collect()
    };
    if !request.to.is_empty() {
        builder = builder.to(list("to", &request.to)?);
    }
    if !request.cc.is_empty() {
        builder = builder.cc(list("cc", &request.cc)?);
    }
    if !request.bcc.is_empty() {
        builder = builder.bcc(list("bcc", &request.bcc)?);
    }
    if let Some(subject) = &request.subject {
        check_header_text("subject", subject)?;
        builder = builder.subject(subject.clone());
    }
    if let Some(text) = &request.text {
        builder = builder.text_body(text.clone());
    }
    if let Some(html) = &request.html {
        builder = builder.html_body(html.clone());
    }
    for (i, attachment) in request.attachments.iter().enumerate() {
        check_header_text("attachments.filename", &attachment.filename)?;
        if safe_media_type(&attachment.content_type) == "application/octet-stream"
            && attachment.content_type != "application/octet-stream"
        {
            return Err(ApiError::unprocessable_field(
                "attachments.content_type",
                format!("attachment {i}: not a media type like application/pdf"),
            ));
        }
        let content = base64::engine::general_purpose::STANDARD
            .decode(attachment.content_base64.as_bytes())
            .map_err(|_| {
                ApiError::unprocessable_field(
                    "attachments.content_base64",
                    format!("attachment {i}: not valid base64"),
                )
            })?;
        builder = builder.attachment(
            attachment.content_type.clone(),
            attachment.filename.clone(),
            content,
        );
    }
    builder
        .write_to_vec()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("composing the message failed: {e}")))
}

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
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let (message, flags, date) = match content_type.as_str() {
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
            (
                body.to_vec(),
                parse_flag_list("flags", &flags)?,
                query.internal_date.clone(),
            )
        }
        "application/json" => {
            let request: ComposeRequest = serde_json::from_slice(&body).map_err(|e| {
                if e.is_syntax() || e.is_eof() {
                    ApiError::bad_field("body", format!("malformed JSON: {e}"))
                } else {
                    ApiError::unprocessable_field("body", e.to_string())
                }
            })?;
            (
                compose(&request)?,
                parse_flag_list("flags", &request.flags)?,
                request.internal_date.clone(),
            )
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType {
                detail: "send message/rfc822 (a raw message) or application/json (to compose one)"
                    .to_owned(),
            })
        }
    };
    if message.is_empty() {
        return Err(ApiError::unprocessable_field(
            "body",
            "the message is empty",
        ));
    }
    if message.contains(&0) {
        return Err(ApiError::unprocessable_field(
            "body",
            "the message contains NUL bytes",
        ));
    }
    let date = date
        .as_deref()
        .map(|d| InternalDate::parse_rfc3339("internal_date", d))
        .transpose()
        .map_err(|e| ApiError::unprocessable_field(e.field, e.message))?;
    let mut session = state.session(&user).await?;
    let appended = session
        .append(&mailbox, &flags, date.as_ref(), &message)
        .await
        .during(Op::Append)?;
    let body = AppendResponse {
        mailbox: mailbox.as_str().to_owned(),
        uid: appended.map(|(_, uid)| uid),
        uid_validity: appended.map(|(validity, _)| validity),
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Some((_, uid)) = appended {
        let location = format!("{}/messages/{uid}", mailbox_location(&mailbox));
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    Ok(response)
}
