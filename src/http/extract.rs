//! Extractors whose rejections are problem+json [`ApiError`]s instead of axum's
//! plain-text bodies, and [`MailboxPath`], which validates the `{mailbox}` segment.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::imap::MailboxName;

/// `Json<T>` with problem+json rejections.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

/// A raw request body with problem+json rejections (413 beyond the route's limit).
#[derive(Debug)]
pub struct AppBytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for AppBytes {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(request, state)
            .await
            .map(Self)
            .map_err(ApiError::from)
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                detail: "the request body is too large".to_owned(),
            }
        } else {
            ApiError::bad_field("body", rejection.body_text())
        }
    }
}

/// `Query<T>` with problem+json rejections.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType {
                detail: "expected a JSON body with Content-Type: application/json".to_owned(),
            },
            JsonRejection::JsonSyntaxError(err) => {
                ApiError::bad_field("body", format!("malformed JSON: {}", err.body_text()))
            }
            JsonRejection::JsonDataError(err) => {
                ApiError::unprocessable_field("body", err.body_text())
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
                detail: "the request body is too large".to_owned(),
            },
            other => ApiError::bad_field("body", other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_field("query", rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_field("path", rejection.body_text())
    }
}

/// The `{mailbox}` path segment: percent-decoded, then validated as a [`MailboxName`]
/// (400 for control characters such as CR/LF/NUL, or over-long names).
#[derive(Debug, Clone)]
pub struct MailboxPath(pub MailboxName);

impl<S: Send + Sync> FromRequestParts<S> for MailboxPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await?;
        MailboxName::try_from(raw).map(Self).map_err(ApiError::from)
    }
}

/// Percent-encodes a mailbox name as one URL path segment (for `Location`).
pub fn mailbox_location(name: &MailboxName) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    format!(
        "/v1/mailboxes/{}",
        utf8_percent_encode(name.as_str(), SEGMENT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_single_segments() {
        let name = MailboxName::try_from("Projects/2026 ü").unwrap();
        assert_eq!(
            mailbox_location(&name),
            "/v1/mailboxes/Projects%2F2026%20%C3%BC"
        );
    }
}

fn parse_uid(raw: &str) -> Result<crate::imap::Uid, ApiError> {
    raw.parse::<u32>()
        .ok()
        .and_then(|n| crate::imap::Uid::try_from(n).ok())
        .ok_or_else(|| ApiError::bad_field("uid", "a UID is a number from 1 to 4294967295"))
}

/// The `{mailbox}/messages/{uid}` path segments, validated.
#[derive(Debug, Clone)]
pub struct MessagePath {
    /// The mailbox.
    pub mailbox: MailboxName,
    /// The message UID.
    pub uid: crate::imap::Uid,
}

impl<S: Send + Sync> FromRequestParts<S> for MessagePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((mailbox, uid)) =
            Path::<(String, String)>::from_request_parts(parts, state).await?;
        Ok(Self {
            mailbox: MailboxName::try_from(mailbox).map_err(ApiError::from)?,
            uid: parse_uid(&uid)?,
        })
    }
}

/// The `{mailbox}/messages/{uid}/attachments/{part}` path segments, validated.
#[derive(Debug, Clone)]
pub struct PartPath {
    /// The mailbox.
    pub mailbox: MailboxName,
    /// The message UID.
    pub uid: crate::imap::Uid,
    /// The MIME part number.
    pub part: crate::imap::PartNumber,
}

impl<S: Send + Sync> FromRequestParts<S> for PartPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((mailbox, uid, part)) =
            Path::<(String, String, String)>::from_request_parts(parts, state).await?;
        Ok(Self {
            mailbox: MailboxName::try_from(mailbox).map_err(ApiError::from)?,
            uid: parse_uid(&uid)?,
            part: crate::imap::PartNumber::try_from(part.as_str()).map_err(ApiError::from)?,
        })
    }
}

/// The request's media type (`Content-Type` without parameters), lower case; empty
/// when there is none.
pub fn media_type(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// A JSON body read by hand (routes that also take other media types): malformed
/// JSON is 400, well-formed JSON of the wrong shape 422.
///
/// # Errors
/// As above.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_field("body", format!("malformed JSON: {e}"))
        } else {
            ApiError::unprocessable_field("body", e.to_string())
        }
    })
}
