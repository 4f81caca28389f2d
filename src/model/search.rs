//! Account-wide search DTOs (`GET /v1/messages`).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::message::{ListMessagesQuery, MessageSummary};

/// Which mailboxes `GET /v1/messages` searches (beside the filters of
/// `GET /v1/mailboxes/{mailbox}/messages`).
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountScopeQuery {
    /// Comma-separated mailbox names to search, exactly these (a name holding a comma
    /// cannot be named here; the default search includes it). Default: every selectable mailbox but those of the excluded roles and the
    /// virtual `all` and `flagged` mailboxes.
    pub mailboxes: Option<String>,
    /// Comma-separated roles to leave out: `inbox`, `archive`, `drafts`, `junk`,
    /// `sent`, `trash`, or `none` (default: `junk,trash`). Not with `mailboxes`.
    pub exclude_roles: Option<String>,
}

/// The parameters `GET /v1/messages` documents: a mailbox list's filters and paging
/// but `uid` (UIDs belong to one mailbox, and the search refuses them), then the
/// choice of mailboxes. Documentation only: the handler reads both structs.
pub struct AccountSearchParams;

impl IntoParams for AccountSearchParams {
    fn into_params(
        parameter_in: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        let mut params = ListMessagesQuery::into_params(&parameter_in);
        params.retain(|p| p.name != "uid");
        params.extend(AccountScopeQuery::into_params(parameter_in));
        params
    }
}

/// A message found by an account-wide search: its mailbox and its summary.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountMessage {
    /// The mailbox it is in (API name).
    pub mailbox: String,
    /// The summary, as the mailbox's own list gives it.
    #[serde(flatten)]
    pub summary: MessageSummary,
}

/// A mailbox an account-wide search looked in for this page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchedMailbox {
    /// API name.
    pub name: String,
    /// Its UIDVALIDITY (the cursor holds it: a change is reported, never mixed in).
    pub uid_validity: u32,
    /// How many of its messages match (the whole mailbox without filters).
    pub total: u32,
}

/// A mailbox left out of this page, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkippedMailbox {
    /// API name (as the cursor knew it; the wire name's fingerprint when it is gone).
    pub name: String,
    /// `uid_validity_changed` (its UIDs mean other messages now; search again from
    /// the start to include it), `deleted` (gone since the first page) or `failed`
    /// (the server could not search it this time; the next page tries again).
    pub reason: String,
    /// What happened, in the gateway's words.
    pub detail: String,
}

/// One page of an account-wide search, newest first (by INTERNALDATE, the time each
/// message arrived in its mailbox).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountMessageList {
    /// The messages, newest first.
    pub items: Vec<AccountMessage>,
    /// How many messages match across the searched mailboxes: on the first page only
    /// (`null` on later pages, which search only the mailboxes with matches left).
    pub total: Option<u32>,
    /// Opaque cursor for the next (older) page; `null` on the last page. It holds
    /// each mailbox's position and UIDVALIDITY: new mail never shifts pages.
    pub next_cursor: Option<String>,
    /// The mailboxes searched for this page.
    pub mailboxes: Vec<SearchedMailbox>,
    /// Mailboxes left out of this page, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedMailbox>,
}
