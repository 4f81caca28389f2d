//! Flag requests and answers: a message's flags, replacing or changing them, and bulk changes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::message::{FlagName, MessageFilter, UidNumber};

/// A message's flags.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Flags {
    /// The UID.
    pub uid: u32,
    /// The mailbox's UIDVALIDITY.
    pub uid_validity: u32,
    /// System flags and keywords.
    pub flags: Vec<String>,
    /// Mod-sequence (CONDSTORE servers); also the `ETag`.
    pub modseq: Option<u64>,
}

/// `PUT .../flags`: the complete new set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceFlags {
    /// The flags the message should have, e.g. `["\\Seen", "$Work"]`.
    #[schema(value_type = Vec<FlagName>)]
    pub flags: Vec<String>,
}

/// `PATCH .../flags`: flags to add and to remove.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeFlags {
    /// Flags to add.
    #[serde(default)]
    #[schema(value_type = Vec<FlagName>)]
    pub add: Vec<String>,
    /// Flags to remove.
    #[serde(default)]
    #[schema(value_type = Vec<FlagName>)]
    pub remove: Vec<String>,
}

/// `POST /v1/mailboxes/{mailbox}/flags`: change flags of many messages.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkChangeFlags {
    /// The messages by UID (at most 1000) ...
    #[schema(value_type = Option<Vec<UidNumber>>, min_items = 1, max_items = 1000)]
    pub uids: Option<Vec<u32>>,
    /// ... or by filter (matching at most 1000).
    pub filter: Option<MessageFilter>,
    /// Flags to add.
    #[serde(default)]
    #[schema(value_type = Vec<FlagName>)]
    pub add: Vec<String>,
    /// Flags to remove.
    #[serde(default)]
    #[schema(value_type = Vec<FlagName>)]
    pub remove: Vec<String>,
}

/// The result of a bulk operation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkResult {
    /// UIDs acted on (that existed).
    pub uids: Vec<u32>,
    /// How many.
    pub count: usize,
}
