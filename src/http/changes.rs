//! `GET /v1/mailboxes/{mailbox}/changes?since=STATE`: what happened in a mailbox
//! since a state token. The computation is `mail/changes.rs`.

use axum::extract::State;
use axum::Json;

use super::extract::{AppQuery, MailboxPath};
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::ApiError;
use crate::mail::changes::{changes_since, ChangesRequest};
use crate::model::changes::{Changes, ChangesQuery};
use crate::state::AppState;

/// Changes since a state: new messages (summaries), flag changes and removed UIDs.
///
/// Complete with CONDSTORE and QRESYNC on the IMAP server. Without them, only created
/// messages are reported (`flags_tracked: false`), and a deletion among the known
/// messages answers 409 `resync-required`, as does a changed UIDVALIDITY: list the
/// mailbox again and start from its new state.
#[utoipa::path(get, path = "/v1/mailboxes/{mailbox}/changes", tag = "changes",
    params(("mailbox" = String, Path, description = "Full mailbox name, percent-encoded"), ChangesQuery),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "The changes", body = Changes), ProblemResponses))]
pub async fn get_changes(
    State(state): State<AppState>,
    user: AuthUser,
    MailboxPath(mailbox): MailboxPath,
    AppQuery(query): AppQuery<ChangesQuery>,
) -> Result<Json<Changes>, ApiError> {
    user.require(Scope::Read)?;
    let request = ChangesRequest::parse(&state.tokens_codec, &mailbox, &query)?;
    let mut session = state.session(&user).await?;
    let changes = changes_since(&state.tokens_codec, &mut session, &mailbox, &request).await?;
    Ok(Json(changes))
}
