//! `/changes` query and answer.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::message::MessageSummary;

/// Query of the changes route.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// A `state` from a mailbox, a message list or a previous changes answer.
    pub since: String,
    /// Most created + updated items per answer (1-1000, default 100); `has_more` tells
    /// when to ask again with the returned `state`.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// A message whose flags changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FlagsChange {
    /// The UID.
    pub uid: u32,
    /// The flags now.
    pub flags: Vec<String>,
    /// Its mod-sequence.
    pub modseq: u64,
}

/// What changed since a state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Changes {
    /// New messages, oldest first.
    pub created: Vec<MessageSummary>,
    /// Messages whose flags changed, in mod-sequence order.
    pub updated: Vec<FlagsChange>,
    /// UIDs of messages that were removed.
    pub destroyed: Vec<u32>,
    /// The state after these changes: pass it as `since` next time.
    pub state: String,
    /// More changes are waiting: ask again with `state` right away.
    pub has_more: bool,
    /// False on servers without CONDSTORE: flag changes are not reported in
    /// `updated` (follow `/v1/events` for them).
    pub flags_tracked: bool,
}
