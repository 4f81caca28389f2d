//! Message downloads: the raw message and single parts (attachments), streamed in
//! chunks with one byte `Range`, decoded, with safe download headers.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::extract::{MessagePath, PartPath};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::ApiError;
use crate::mail::download::{describe_part, raw_size};
use crate::mail::stream::{section_stream, StreamSection, TransferDecoder};
use crate::state::AppState;

/// Parses a single `Range: bytes=a-b` (or `a-`, `-n`) against `size`.
fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let unsatisfiable = || ApiError::RangeNotSatisfiable { size };
    let text = value.to_str().map_err(|_| unsatisfiable())?;
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Multiple ranges: serve the whole body (allowed by RFC 9110).
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| unsatisfiable())?;
            (size.saturating_sub(n), size)
        }
        (first, "") => (first.parse().map_err(|_| unsatisfiable())?, size),
        (first, last) => {
            let first: u64 = first.parse().map_err(|_| unsatisfiable())?;
            let last: u64 = last.parse().map_err(|_| unsatisfiable())?;
            (first, last.saturating_add(1).min(size))
        }
    };
    if start >= end || start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end)))
}

/// Download the raw message (`message/rfc822`), streamed; supports one byte `Range`.
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/messages/{uid}/raw", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, minimum = 1, example = 1, description = "Message UID")),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The message as stored", content_type = "message/rfc822", body = Vec<u8>),
        (status = 206, description = "The requested byte range", content_type = "message/rfc822", body = Vec<u8>),
        ProblemResponses))]
pub async fn get_raw_message(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    user.require(Scope::Read)?;
    // Again on another session when the server closed this one (Dovecot and Cyrus
    // do so when the selected mailbox was deleted under it), as `retry_after_bye!`
    // does: that answer (usually 404) is the right one, not a 502. Safe: nothing
    // has been sent yet.
    let mut tries = 0;
    let (size, range, stream) = loop {
        tries += 1;
        let mut session = state.session(&user).await?;
        let size = match raw_size(&mut session, &mailbox, uid).await {
            Err(err) if super::worth_another_session(&state, tries, &err) => continue,
            other => other?,
        };
        let range = parse_range(&headers, size)?;
        let (start, end) = range.unwrap_or((0, size));
        let decoder = TransferDecoder::Identity;
        match section_stream(session, uid, StreamSection::Whole, start, end, decoder).await {
            Err(err) if super::worth_another_session(&state, tries, &err) => continue,
            other => break (size, range, other?),
        }
    };
    let (start, end) = range.unwrap_or((0, size));
    let mut response = Response::new(Body::from_stream(stream));
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let value = format!("bytes {start}-{}/{size}", end - 1);
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&value).expect("BUG: digits are a valid header value"),
        );
    }
    Ok(response)
}

/// An RFC 6266 `Content-Disposition` with an ASCII fallback and a UTF-8 `filename*`.
pub fn content_disposition(disposition: &str, filename: Option<&str>) -> HeaderValue {
    let mut value = disposition.to_owned();
    if let Some(name) = filename.filter(|n| !n.is_empty()) {
        let fallback: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let encoded =
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        value = format!("{value}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}");
    }
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// A server-supplied media type, if it is a plain `type/subtype` token pair.
pub(crate) fn safe_media_type(content_type: &str) -> HeaderValue {
    if crate::mail::compose::is_media_type(content_type) {
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"))
    } else {
        HeaderValue::from_static("application/octet-stream")
    }
}

/// Download one attachment (or any part), decoded from base64 or quoted-printable,
/// streamed in chunks. Served with `Content-Disposition` (RFC 6266 `filename*`),
/// `X-Content-Type-Options: nosniff` and a sandboxing CSP, so an HTML attachment
/// cannot run script in the API's origin.
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/messages/{uid}/attachments/{part}", tag = "messages",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, minimum = 1, example = 1, description = "Message UID"),
           ("part" = String, Path, pattern = r"^[1-9][0-9]{0,4}(\.[1-9][0-9]{0,4}){0,31}$",
            description = "IMAP part number from the attachment list, e.g. `2` or `1.2`")),
    security(("bearer" = []), ("basic" = [])),
    // The part's own media type (`application/pdf`, `text/plain`, ...), or
    // `application/octet-stream` for one that could run script in the API's origin.
    responses((status = 200, description = "The decoded part, with its own media type", content_type = "*/*", body = Vec<u8>),
        ProblemResponses))]
pub async fn get_attachment(
    State(state): State<AppState>,
    user: AuthUser,
    PartPath { mailbox, uid, part }: PartPath,
) -> Result<Response, ApiError> {
    user.require(Scope::Read)?;
    // As for the raw message: again on another session when this one was lost.
    let mut tries = 0;
    let (download, stream) = loop {
        tries += 1;
        let mut session = state.session(&user).await?;
        let download = match describe_part(&mut session, &mailbox, uid, &part).await {
            Err(err) if super::worth_another_session(&state, tries, &err) => continue,
            other => other?,
        };
        let decoder = TransferDecoder::for_encoding(&download.encoding);
        let section = StreamSection::Part(part.clone());
        match section_stream(session, uid, section, 0, download.size, decoder).await {
            Err(err) if super::worth_another_session(&state, tries, &err) => continue,
            other => break (download, other?),
        }
    };
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        safe_media_type(&download.content_type),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        content_disposition("attachment", download.filename.as_deref()),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let mut headers = HeaderMap::new();
        assert_eq!(parse_range(&headers, 100).unwrap(), None);
        for (spec, want) in [
            ("bytes=0-9", (0, 10)),
            ("bytes=90-", (90, 100)),
            ("bytes=-5", (95, 100)),
            ("bytes=50-1000", (50, 100)),
        ] {
            headers.insert(header::RANGE, HeaderValue::from_static(spec));
            assert_eq!(parse_range(&headers, 100).unwrap(), Some(want), "{spec}");
        }
        for bad in ["bytes=100-", "bytes=5-2", "bytes=x-y"] {
            headers.insert(header::RANGE, HeaderValue::from_static(bad));
            assert_eq!(
                parse_range(&headers, 100).unwrap_err().status(),
                416,
                "{bad}"
            );
        }
    }

    #[test]
    fn dispositions_follow_rfc_6266() {
        assert_eq!(
            content_disposition("attachment", Some("€ rates.pdf")),
            "attachment; filename=\"_ rates.pdf\"; filename*=UTF-8''%E2%82%AC%20rates%2Epdf"
        );
        assert_eq!(content_disposition("attachment", None), "attachment");
        assert_eq!(safe_media_type("text/html"), "text/html");
        assert_eq!(
            safe_media_type("text/html\r\nX: y"),
            "application/octet-stream"
        );
    }
}
