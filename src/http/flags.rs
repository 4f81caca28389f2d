//! Flag routes: read, replace and change a message's flags (with `If-Match` on the
//! mod-sequence mapped to CONDSTORE `UNCHANGEDSINCE`), and bulk changes.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::extract::{AppJson, MailboxPath, MessagePath};
use super::imap_ops::{fetch_one, open_mailbox, parse_flag_list, select, uid_validity};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::{ApiError, ImapResultExt as _, Op};
use crate::imap::command::{FetchItem, StoreMode};
use crate::imap::session::FetchedMessage;
use crate::imap::uid::MAX_BULK_UIDS;
use crate::imap::{Flag, ImapSession, Uid, UidSet};
use crate::model::flags::{BulkChangeFlags, BulkResult, ChangeFlags, Flags, ReplaceFlags};
use crate::model::message::{normalize_flags, MessageFilter};
use crate::state::AppState;

fn flags_of(message: &FetchedMessage, uid_validity: u32) -> Flags {
    Flags {
        uid: message.uid,
        uid_validity,
        flags: normalize_flags(message.flags.iter().flatten()),
        modseq: message.modseq,
    }
}

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

async fn current_flags(
    session: &mut ImapSession,
    uid: Uid,
    uid_validity: u32,
) -> Result<Flags, ApiError> {
    let mut items = vec![FetchItem::Uid, FetchItem::Flags];
    if session.has_modseqs() {
        items.push(FetchItem::ModSeq);
    }
    let message = fetch_one(session, uid, &items).await?;
    Ok(flags_of(&message, uid_validity))
}

/// Read a message's flags (`ETag` is the mod-sequence on CONDSTORE servers).
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/messages/{uid}/flags", tag = "flags",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, description = "Message UID")),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "The flags", body = Flags), ProblemResponses))]
pub async fn get_flags(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
) -> Result<Response, ApiError> {
    user.require(Scope::Read)?;
    let flags = retry_after_bye!(state, &user, |session| {
        async {
            let selected = select(&mut session, &mailbox, true).await?;
            current_flags(&mut session, uid, uid_validity(&selected)?).await
        }
        .await
    })?;
    Ok(with_etag(flags))
}

/// Applies STOREs to one message, with an optional CONDSTORE guard; 412 with the
/// current flags when another client changed the message since `modseq`.
async fn store_one(
    session: &mut ImapSession,
    uid: Uid,
    uid_validity: u32,
    changes: &[(StoreMode, Vec<Flag>)],
    mut unchanged_since: Option<u64>,
) -> Result<Flags, ApiError> {
    if unchanged_since.is_some() && !session.has_modseqs() {
        return Err(ApiError::unprocessable_field(
            "If-Match",
            "the IMAP server does not support CONDSTORE",
        ));
    }
    // Exists? (A STORE on a missing UID succeeds silently.)
    let before = current_flags(session, uid, uid_validity).await?;
    let mut after = before;
    for (mode, flags) in changes {
        if flags.is_empty() && *mode != StoreMode::Replace {
            continue;
        }
        let set = UidSet::single(uid);
        let (updated, completion) = session
            .store_flags(&set, *mode, flags, unchanged_since)
            .await
            .during(Op::Store)?;
        if completion.modified.is_some_and(|m| m.contains(uid.get())) {
            let current = current_flags(session, uid, uid_validity).await?;
            return Err(ApiError::PreconditionFailed {
                detail: "the message's flags changed since the given modseq".to_owned(),
                current: serde_json::to_value(current).unwrap_or_default(),
            });
        }
        if let Some(message) = updated.into_iter().find(|m| m.uid == uid.get()) {
            let mut flags = flags_of(&message, uid_validity);
            if message.flags.is_none() {
                flags.flags = after.flags.clone();
            }
            // Chain the guard: the next STORE must not clobber a concurrent change either.
            unchanged_since = unchanged_since.and(flags.modseq);
            after = flags;
        }
    }
    // Servers may omit the FETCH in a STORE reply; read the result back then.
    if after.modseq.is_none() && session.has_modseqs() {
        after = current_flags(session, uid, uid_validity).await?;
    }
    Ok(after)
}

/// Replace a message's flags. `If-Match: "<modseq>"` makes the change conditional
/// (CONDSTORE `UNCHANGEDSINCE`): 412 with the current flags when it changed meanwhile.
#[utoipa::path(put, path = "/v1/mailboxes/{mailbox}/messages/{uid}/flags", tag = "flags",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, description = "Message UID"),
           ("If-Match" = Option<String>, Header, description = "Quoted modseq from ETag")),
    request_body = ReplaceFlags,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "The new flags", body = Flags), ProblemResponses))]
pub async fn replace_flags(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    headers: HeaderMap,
    AppJson(request): AppJson<ReplaceFlags>,
) -> Result<Response, ApiError> {
    user.require(Scope::Write)?;
    let flags = parse_flag_list("flags", &request.flags)?;
    let guard = if_match(&headers)?;
    let (mut session, uid_validity) = open_mailbox(&state, &user, &mailbox, false).await?;
    let result = store_one(
        &mut session,
        uid,
        uid_validity,
        &[(StoreMode::Replace, flags)],
        guard,
    )
    .await?;
    Ok(with_etag(result))
}

/// Add and/or remove flags of a message (`If-Match` as for PUT).
#[utoipa::path(patch, path = "/v1/mailboxes/{mailbox}/messages/{uid}/flags", tag = "flags",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, description = "Message UID"),
           ("If-Match" = Option<String>, Header, description = "Quoted modseq from ETag")),
    request_body = ChangeFlags,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "The new flags", body = Flags), ProblemResponses))]
pub async fn update_flags(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    headers: HeaderMap,
    AppJson(request): AppJson<ChangeFlags>,
) -> Result<Response, ApiError> {
    user.require(Scope::Write)?;
    let add = parse_flag_list("add", &request.add)?;
    let remove = parse_flag_list("remove", &request.remove)?;
    if add.is_empty() && remove.is_empty() {
        return Err(ApiError::unprocessable_field(
            "body",
            "give flags to add and/or remove",
        ));
    }
    let guard = if_match(&headers)?;
    let (mut session, uid_validity) = open_mailbox(&state, &user, &mailbox, false).await?;
    let changes = [(StoreMode::Add, add), (StoreMode::Remove, remove)];
    Ok(with_etag(
        store_one(&mut session, uid, uid_validity, &changes, guard).await?,
    ))
}

/// Resolves `uids` or `filter` to existing UIDs in the selected mailbox (at most 1000).
pub(crate) async fn resolve_targets(
    session: &mut ImapSession,
    uids: Option<&[u32]>,
    filter: Option<&MessageFilter>,
) -> Result<Option<UidSet>, ApiError> {
    let keys = match (uids, filter) {
        (Some(uids), None) => {
            if uids.is_empty() || uids.len() > MAX_BULK_UIDS {
                return Err(ApiError::unprocessable_field(
                    "uids",
                    format!("give 1 to {MAX_BULK_UIDS} UIDs"),
                ));
            }
            let set = UidSet::from_uids(
                uids.iter()
                    .map(|u| Uid::try_from(*u))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ApiError::unprocessable_field("uids", e.message))?,
            )
            .map_err(|e| ApiError::unprocessable_field("uids", e.message))?;
            vec![crate::imap::search::SearchKey::Uid(set)]
        }
        (None, Some(filter)) => filter
            .keys()
            .map_err(|e| ApiError::bad_field(e.field, e.message))?,
        _ => {
            return Err(ApiError::unprocessable_field(
                "body",
                "give either `uids` or `filter`",
            ))
        }
    };
    // Only UIDs that exist: the answer says exactly what was acted on.
    let found = session.search(&keys).await.during(Op::Search)?;
    if found.len() > MAX_BULK_UIDS {
        return Err(ApiError::unprocessable_field(
            "filter",
            format!(
                "matches {} messages; a bulk operation takes at most {MAX_BULK_UIDS}",
                found.len()
            ),
        ));
    }
    Ok(UidSet::from_uids(found.into_iter().filter_map(|u| Uid::try_from(u).ok())).ok())
}

/// Change flags of many messages at once, by UIDs or by filter (at most 1000).
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/flags", tag = "flags",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded")),
    request_body = BulkChangeFlags,
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "What was changed", body = BulkResult), ProblemResponses))]
pub async fn bulk_update_flags(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppJson(request): AppJson<BulkChangeFlags>,
) -> Result<Json<BulkResult>, ApiError> {
    user.require(Scope::Write)?;
    let add = parse_flag_list("add", &request.add)?;
    let remove = parse_flag_list("remove", &request.remove)?;
    if add.is_empty() && remove.is_empty() {
        return Err(ApiError::unprocessable_field(
            "body",
            "give flags to add and/or remove",
        ));
    }
    let (mut session, _) = open_mailbox(&state, &user, &mailbox, false).await?;
    let Some(set) = resolve_targets(
        &mut session,
        request.uids.as_deref(),
        request.filter.as_ref(),
    )
    .await?
    else {
        return Ok(Json(BulkResult {
            uids: Vec::new(),
            count: 0,
        }));
    };
    for (mode, flags) in [(StoreMode::Add, &add), (StoreMode::Remove, &remove)] {
        if !flags.is_empty() {
            session
                .store_flags(&set, mode, flags, None)
                .await
                .during(Op::Store)?;
        }
    }
    let uids: Vec<u32> = set.iter().collect();
    Ok(Json(BulkResult {
        count: uids.len(),
        uids,
    }))
}
