//! `GET /v1/messages`: one search over every mailbox of the account.

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::Uri;
use axum::Json;

use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::ApiError;
use crate::mail::account::{search_account, AccountSearch};
use crate::model::message::ListMessagesQuery;
use crate::model::search::{AccountMessageList, AccountScopeQuery, AccountSearchParams};
use crate::state::AppState;

/// Search every mailbox at once, newest first.
///
/// The same filters and paging as a mailbox's list, run on each chosen mailbox in
/// parallel over the user's pooled sessions (never more than the pool allows), and
/// merged newest first by INTERNALDATE. Each item names its mailbox. The cursor holds
/// each mailbox's position and UIDVALIDITY: new mail never shifts pages, and a
/// mailbox whose UIDVALIDITY changed is reported in `skipped`, not mixed in. By
/// default every selectable mailbox is searched except junk and trash and the virtual
/// `\All` and `\Flagged` mailboxes (which would repeat messages of the others).
#[utoipa::path(get, path = "/v1/messages", tag = "messages",
    params(AccountSearchParams),
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "A page of messages from every searched mailbox", body = AccountMessageList), ProblemResponses))]
pub async fn search_messages(
    State(state): State<AppState>,
    user: AuthUser,
    AccountQuery { filters, scope }: AccountQuery,
) -> Result<Json<AccountMessageList>, ApiError> {
    user.require(Scope::Read)?;
    let search = AccountSearch::parse(&filters, &scope)?;
    let workers = state.config.max_sessions_per_user;
    let more_sessions = || state.session(&user);
    let list = retry_after_bye!(state, &user, |session| {
        search_account(
            &state.tokens_codec,
            &mut session,
            more_sessions,
            workers,
            &search,
        )
        .await
    })?;
    Ok(Json(list))
}

/// The query of `GET /v1/messages`: a mailbox list's filters plus the choice of
/// mailboxes. Split here because the filters' struct refuses unknown parameters (a
/// mistyped filter must not silently match everything).
#[derive(Debug)]
pub struct AccountQuery {
    /// The filters and paging.
    pub filters: ListMessagesQuery,
    /// Which mailboxes.
    pub scope: AccountScopeQuery,
}

impl<S: Send + Sync> FromRequestParts<S> for AccountQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let mut scope = AccountScopeQuery::default();
        let mut rest = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "mailboxes" => &mut scope.mailboxes,
                "exclude_roles" => &mut scope.exclude_roles,
                _ => {
                    rest.append_pair(&name, &value);
                    continue;
                }
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(ApiError::bad_field(
                    name.as_ref(),
                    "given more than once (separate names with commas)",
                ));
            }
        }
        let uri: Uri = format!("/?{}", rest.finish())
            .parse()
            .map_err(|_| ApiError::bad_field("query", "malformed query string"))?;
        let Query(filters) = Query::<ListMessagesQuery>::try_from_uri(&uri)?;
        Ok(Self { filters, scope })
    }
}
