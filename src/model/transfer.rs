//! Move, copy and delete requests and answers.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::message::{MessageFilter, UidNumber};

/// `{to}`: the target mailbox.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// Full name of the target mailbox.
    #[schema(example = "Archive")]
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")]
    pub to: String,
}

/// Many messages by UIDs or filter, to a target mailbox.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkTransferRequest {
    /// The messages by UID (at most 1000) ...
    #[schema(value_type = Option<Vec<UidNumber>>, min_items = 1, max_items = 1000)]
    pub uids: Option<Vec<u32>>,
    /// ... or by filter (matching at most 1000).
    pub filter: Option<MessageFilter>,
    /// Full name of the target mailbox.
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")]
    pub to: String,
}

/// Many messages by UIDs or filter, to delete.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkDeleteRequest {
    /// The messages by UID (at most 1000) ...
    #[schema(value_type = Option<Vec<UidNumber>>, min_items = 1, max_items = 1000)]
    pub uids: Option<Vec<u32>>,
    /// ... or by filter (matching at most 1000).
    pub filter: Option<MessageFilter>,
    /// Delete permanently (needs the `delete` scope) instead of moving to Trash.
    #[serde(default)]
    pub permanent: bool,
}

/// Where a message went.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Transferred {
    /// The source UID.
    pub uid: u32,
    /// The target mailbox.
    pub mailbox: String,
    /// The UID in the target (from COPYUID; `null` without UIDPLUS).
    pub new_uid: Option<u32>,
    /// The target's UIDVALIDITY (`null` without UIDPLUS).
    pub uid_validity: Option<u32>,
}

/// The result of a bulk move, copy or delete.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkTransferResult {
    /// How many messages were acted on.
    pub count: usize,
    /// Each message and where it went (`mailbox` is `null` for permanent deletion).
    pub items: Vec<Transferred>,
}

/// `?permanent=true` on DELETE.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Delete permanently (needs the `delete` scope). Default: move to Trash.
    pub permanent: Option<bool>,
    /// The UIDVALIDITY the UID belongs to (`uid_validity` of list and read
    /// answers). When the mailbox no longer has it (it was deleted and created
    /// again, so the UID names another message), 409 `uid-validity-changed` and
    /// nothing is deleted.
    #[param(minimum = 1)]
    pub uid_validity: Option<u32>,
}

/// `?uid_validity=` on every other route that changes messages by UID.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UidValidityQuery {
    /// The UIDVALIDITY the UIDs belong to (`uid_validity` of list and read
    /// answers). When the mailbox no longer has it (it was deleted and created
    /// again, so the UIDs name other messages), 409 `uid-validity-changed` and
    /// nothing is changed.
    #[param(minimum = 1)]
    pub uid_validity: Option<u32>,
}
