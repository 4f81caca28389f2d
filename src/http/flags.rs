//! Flag routes: read, replace and change a message's flags (with `If-Match` on the
//! mod-sequence, which the service layer maps to CONDSTORE `UNCHANGEDSINCE`), and
//! bulk changes.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::extract::{AppJson, AppQuery, MailboxPath, MessagePath};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::ApiError;
use crate::mail::flags::{
    bulk_set_flags, get_flags as read_flags, set_flags, BulkFlagChange, FlagChange,
};
use crate::model::flags::{BulkChangeFlags, BulkResult, ChangeFlags, Flags, ReplaceFlags};
use crate::model::transfer::UidValidityQuery;
use crate::state::AppState;

fn with_etag(flags: Flags) -> Response {
    let etag = flags.modseq.map(|m| format!("\"{m}\""));
    let mut response = Json(flags).into_response();
    if let Some(value) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// `If-Match: "<modseq>"`, when given.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_field(
                "If-Match",
                "expected the quoted modseq from ETag, e.g. \"42\"",
            )
        })
}

/// Read a message's flags (`ETag` is the mod-sequence on CONDSTORE servers).
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/messages/{uid}/flags", tag = "flags",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, minimum = 1, example = 1, description = "Message UID")),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "The flags", body = Flags), ProblemResponses))]
pub async fn get_flags(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
) -> Result<Response, ApiError> {
    user.require(Scope::Read)?;
    let flags = retry_after_bye!(state, &user, |session| {
        read_flags(&mut session, &mailbox, uid).await
    })?;
    Ok(with_etag(flags))
}

/// Replace a message's flags. `If-Match: "<modseq>"` makes the change conditional
/// (CONDSTORE `UNCHANGEDSINCE`): 412 with the current flags when it changed meanwhile.
#[utoipa::path(put, path = "/v1/mailboxes/{mailbox}/messages/{uid}/flags", tag = "flags",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, minimum = 1, example = 1, description = "Message UID"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"[0-9]{1,18}"$"#,
               description = "Quoted modseq from ETag"),
           UidValidityQuery),
    request_body = ReplaceFlags,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "The new flags", body = Flags), ProblemResponses))]
pub async fn replace_flags(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    AppQuery(query): AppQuery<UidValidityQuery>,
    headers: HeaderMap,
    AppJson(request): AppJson<ReplaceFlags>,
) -> Result<Response, ApiError> {
    user.require(Scope::Write)?;
    let change = FlagChange::replace(&request)?;
    let guard = if_match(&headers)?;
    let mut session = state.session(&user).await?;
    let uid = (uid, query.uid_validity);
    let flags = set_flags(&mut session, &mailbox, uid, &change, guard).await?;
    Ok(with_etag(flags))
}

/// Add and/or remove flags of a message (`If-Match` as for PUT).
#[utoipa::path(patch, path = "/v1/mailboxes/{mailbox}/messages/{uid}/flags", tag = "flags",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, minimum = 1, example = 1, description = "Message UID"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"[0-9]{1,18}"$"#,
               description = "Quoted modseq from ETag"),
           UidValidityQuery),
    request_body = ChangeFlags,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "The new flags", body = Flags), ProblemResponses))]
pub async fn update_flags(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    AppQuery(query): AppQuery<UidValidityQuery>,
    headers: HeaderMap,
    AppJson(request): AppJson<ChangeFlags>,
) -> Result<Response, ApiError> {
    user.require(Scope::Write)?;
    let change = FlagChange::patch(&request)?;
    let guard = if_match(&headers)?;
    let mut session = state.session(&user).await?;
    let uid = (uid, query.uid_validity);
    let flags = set_flags(&mut session, &mailbox, uid, &change, guard).await?;
    Ok(with_etag(flags))
}

/// Change flags of many messages at once, by UIDs or by filter (at most 1000).
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/flags", tag = "flags",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           UidValidityQuery),
    request_body = BulkChangeFlags,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "What was changed", body = BulkResult), ProblemResponses))]
pub async fn bulk_update_flags(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppQuery(query): AppQuery<UidValidityQuery>,
    AppJson(request): AppJson<BulkChangeFlags>,
) -> Result<Json<BulkResult>, ApiError> {
    user.require(Scope::Write)?;
    let change = BulkFlagChange::parse(&request)?;
    let mut session = state.session(&user).await?;
    let changed = bulk_set_flags(&mut session, &mailbox, &change, query.uid_validity).await?;
    Ok(Json(changed))
}
