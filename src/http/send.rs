//! `POST /v1/send` and `POST …/messages/{uid}/send`: submit a message (or a stored
//! draft) over SMTP with the caller's credentials, then file a copy in Sent. Answers
//! only after the server's final reply.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::append::MAX_APPEND_BYTES;
use super::extract::{json_body, media_type, AppBytes, AppQuery, MessagePath};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::ApiError;
use crate::imap::{MailboxName, Uid};
use crate::mail::compose::{address_of, Extras};
use crate::mail::drafts::{load_draft, remove_draft};
use crate::mail::error::MailError;
use crate::mail::idempotency::IdempotencyKey;
use crate::mail::reply::{load_original, Original};
use crate::mail::send::{response, submit, Outgoing};
use crate::mail::sent::{file_sent_copy, find_record, find_sent, replayed_response};
use crate::model::compose::ComposeRequest;
use crate::model::send::{SendDraftQuery, SendQuery, SendResponse, SentCopy};
use crate::smtp::SmtpBackend;
use crate::state::AppState;

/// Largest message `POST /v1/send` accepts, in bytes (the server's SIZE may be lower).
pub const MAX_SEND_BYTES: usize = MAX_APPEND_BYTES;

/// Send a message: JSON composed into MIME (To, Cc and Bcc are the recipients; Bcc is
/// not transmitted but kept in the Sent copy), or a raw `message/rfc822` with the
/// recipients in `?to=`. Needs the `send` scope. Answers 200 after the server's final
/// reply, naming the accepted and refused recipients and the Sent copy; anything that
/// failed after the message was accepted is in `warnings` (do not send again). With an
/// `Idempotency-Key` (or a raw message's own Message-ID) a retry of a message already
/// in Sent sends nothing and answers the first result (`replayed: true`).
#[utoipa::path(post, path = "/v1/send", tag = "send",
    params(
        SendQuery,
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Makes a retry answer the first result instead of sending again \
            (1-200 visible ASCII characters, per user). The message's Message-ID is derived \
            from it, and its Sent copy is the record: needs sent_copy auto or always."),
    ),
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
    let smtp = configured(&state)?;
    let idempotency_key = idempotency_key(&headers)?;
    let username = user.identity.username().as_str();
    let unique = idempotency_key
        .as_ref()
        .map(|key| state.send_ledger.unique_part(username, key));
    let content_type = media_type(&headers);
    let mut original = None;
    let outgoing = match content_type.as_str() {
        "application/json" => {
            if query.to.is_some() || query.from.is_some() {
                return Err(ApiError::unprocessable_field(
                    "to",
                    "?to= and ?from= are for raw uploads; a composed message names its recipients in the body",
                ));
            }
            let mut request: ComposeRequest = json_body(&body)?;
            let Some(reference) = request.reference.clone() else {
                return send_composed(&state, &user, smtp, &request, unique.as_deref(), &query)
                    .await;
            };
            // A reply or forward: the original is read (and checked) before anything
            // is sent, and a forward's attachments go into the message straight from
            // IMAP.
            let mut session = state.session(&user).await?;
            let loaded = load_original(&mut session, &reference, MAX_SEND_BYTES).await?;
            let mut own = vec![address_of("from", &request.from)?];
            if username.contains('@') {
                own.push(username.to_owned());
            }
            let extras = loaded.complete(&mut request, &own);
            let mut outgoing = Outgoing::compose(&request, unique.as_deref(), &extras)?;
            if loaded.carries_parts() {
                let message = loaded.carry_parts(&mut session, outgoing.stored()).await?;
                outgoing.replace_message(message);
            }
            original = Some(loaded);
            outgoing
        }
        "message/rfc822" => Outgoing::raw(body.to_vec(), &query, unique.as_deref())?,
        _ => {
            return Err(ApiError::UnsupportedMediaType {
                detail:
                    "send application/json (to compose a message) or message/rfc822 (a raw message)"
                        .to_owned(),
            })
        }
    };
    let after = original.map_or(AfterSend::Nothing, |o| AfterSend::MarkOriginal(Box::new(o)));
    let sent_copy = query.sent_copy.unwrap_or_default();
    // A raw message's own Message-ID serves as the key only when there will be a Sent
    // copy to find it by; an explicit key without one is refused in `deliver`.
    let ledgered = idempotency_key.is_some()
        || (outgoing.has_own_message_id() && sent_copy != SentCopy::Never);
    deliver(&state, &user, smtp, &outgoing, sent_copy, ledgered, after)
        .await
        .map(Json)
}

/// A composed message without a reference: compose, then [`deliver`].
async fn send_composed(
    state: &AppState,
    user: &AuthUser,
    smtp: &SmtpBackend,
    request: &ComposeRequest,
    unique: Option<&str>,
    query: &SendQuery,
) -> Result<Json<SendResponse>, ApiError> {
    let outgoing = Outgoing::compose(request, unique, &Extras::default())?;
    let ledgered = unique.is_some();
    let sent_copy = query.sent_copy.unwrap_or_default();
    deliver(
        state,
        user,
        smtp,
        &outgoing,
        sent_copy,
        ledgered,
        AfterSend::Nothing,
    )
    .await
    .map(Json)
}

/// Send a stored draft as it is (its To, Cc and Bcc are the recipients; its Bcc is
/// not transmitted but kept in the Sent copy), file it in Sent, and remove the draft
/// (`UID EXPUNGE` of exactly this UID). Needs the `send` and `write` scopes. The
/// draft's Message-ID makes a retry answer the first result, as with
/// `Idempotency-Key`; a failure after the server accepted it (Sent copy, removal) is a
/// warning.
#[utoipa::path(post, path = "/v1/mailboxes/{mailbox}/messages/{uid}/send", tag = "send",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"),
           ("uid" = u32, Path, minimum = 1, example = 1, description = "The draft's UID"), SendDraftQuery),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "Sent", body = SendResponse), ProblemResponses))]
pub async fn send_draft(
    State(state): State<AppState>,
    user: AuthUser,
    MessagePath { mailbox, uid }: MessagePath,
    AppQuery(query): AppQuery<SendDraftQuery>,
) -> Result<Json<SendResponse>, ApiError> {
    user.require(Scope::Send)?;
    user.require(Scope::Write)?;
    let smtp = configured(&state)?;
    let draft = {
        let mut session = state.session(&user).await?;
        load_draft(
            &mut session,
            &mailbox,
            (uid, query.uid_validity),
            MAX_SEND_BYTES,
        )
        .await?
    };
    let (draft, uid_validity) = draft;
    let outgoing = Outgoing::draft(draft)?;
    let sent_copy = query.sent_copy.unwrap_or_default();
    let ledgered = outgoing.has_own_message_id() && sent_copy != SentCopy::Never;
    let after = AfterSend::RemoveDraft(mailbox, uid, uid_validity);
    deliver(&state, &user, smtp, &outgoing, sent_copy, ledgered, after)
        .await
        .map(Json)
}

/// The submission server, or 501 when sending is not configured.
fn configured(state: &AppState) -> Result<&SmtpBackend, ApiError> {
    state.smtp.as_ref().ok_or_else(|| ApiError::NotImplemented {
        detail: "sending is not configured on this gateway (IMAP_GATEWAY_SMTP_URL)".to_owned(),
    })
}

/// What happens to the mailbox after a message was sent, besides the Sent copy.
enum AfterSend {
    Nothing,
    /// A reply or forward: flag the original.
    MarkOriginal(Box<Original>),
    /// A sent draft: remove it (only from the mailbox it was read from: the same
    /// UIDVALIDITY).
    RemoveDraft(MailboxName, Uid, u32),
}

/// The part every send shares: look for an earlier send of the same message when
/// `ledgered` (answering its result instead), submit, file the Sent copy, then
/// `after`. Everything after the server's acceptance is a warning, never an error.
async fn deliver(
    state: &AppState,
    user: &AuthUser,
    smtp: &SmtpBackend,
    outgoing: &Outgoing,
    sent_copy: SentCopy,
    ledgered: bool,
    after: AfterSend,
) -> Result<SendResponse, ApiError> {
    let username = user.identity.username().as_str();
    // The IMAP session first, always: it checks the caller's credentials through the
    // login throttle, so a send can never be used to try passwords on the SMTP
    // server; its cost is a pool checkout for a warm user.
    let mut session = state.session(user).await?;
    let mut sent_mailbox = None;
    let _running = if ledgered {
        if sent_copy == SentCopy::Never {
            return Err(ApiError::unprocessable_field(
                "sent_copy",
                "an Idempotency-Key is recorded by the message's Sent copy; use \
                 sent_copy=auto or always",
            ));
        }
        let running = state.send_ledger.claim(username, outgoing.message_id())?;
        // Looked up once: the Sent copy below goes to the same mailbox.
        sent_mailbox = find_sent(&mut session).await?;
        let record = match &sent_mailbox {
            Some(sent) => find_record(&mut session, sent, outgoing.message_id()).await?,
            None => None,
        };
        if let Some(record) = record {
            let mut replayed = replayed_response(outgoing, record);
            // The first request may have failed to remove its draft.
            if let AfterSend::RemoveDraft(mailbox, uid, validity) = &after {
                if let Err(err) = remove_draft(&mut session, mailbox, *uid, *validity).await {
                    if !matches!(err, MailError::NotFound(_)) {
                        replayed
                            .warnings
                            .push(format!("the draft was not removed: {err}"));
                    }
                }
            }
            return Ok(replayed);
        }
        Some(running)
    } else {
        None
    };
    // Not held while the SMTP server works: the user's other requests may need it.
    drop(session);
    let submission = submit(smtp, &user.identity, outgoing).await?;
    // The message is sent: from here on, failures are warnings, never errors.
    let mut warnings = Vec::new();
    let copy = match state.session(user).await {
        Ok(mut session) => {
            let copy =
                match file_sent_copy(&mut session, sent_mailbox, outgoing, &submission, sent_copy)
                    .await
                {
                    Ok(copy) => copy,
                    Err(err) => {
                        warnings.push(format!("the Sent copy was not stored: {err}"));
                        None
                    }
                };
            match &after {
                AfterSend::Nothing => {}
                AfterSend::MarkOriginal(original) => {
                    if let Err(err) = original.mark(&mut session).await {
                        warnings.push(format!("the original message was not flagged: {err}"));
                    }
                }
                AfterSend::RemoveDraft(mailbox, uid, validity) => {
                    if let Err(err) = remove_draft(&mut session, mailbox, *uid, *validity).await {
                        warnings.push(format!("the draft was not removed: {err}"));
                    }
                }
            }
            copy
        }
        Err(err) => {
            warnings.push(format!(
                "the Sent copy was not stored{}: the IMAP server could not be used ({})",
                match after {
                    AfterSend::Nothing => "",
                    AfterSend::MarkOriginal(_) => " and the original was not flagged",
                    AfterSend::RemoveDraft(..) => " and the draft was not removed",
                },
                err.status()
            ));
            None
        }
    };
    Ok(response(outgoing, submission, copy, warnings))
}

/// The `Idempotency-Key` header, validated (400 when malformed).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        ApiError::from(crate::imap::ValidationError::new(
            "Idempotency-Key",
            "may hold visible ASCII characters only",
        ))
    })?;
    Ok(Some(IdempotencyKey::new(text)?))
}
