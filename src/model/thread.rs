//! Conversation DTOs (`GET /v1/mailboxes/{mailbox}/threads`).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::message::MessageSummary;

/// Paging of a mailbox's threads.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ThreadsQuery {
    /// Threads per page, 1-100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Options of one thread.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ThreadQuery {
    /// Also the user's replies kept in the Sent mailbox (found by the thread's
    /// Message-IDs in their In-Reply-To or References).
    pub include_sent: Option<bool>,
}

/// The user's replies to a thread, from the Sent mailbox.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SentReplies {
    /// The Sent mailbox (API name).
    pub mailbox: String,
    /// Its UIDVALIDITY (its UIDs are not the thread mailbox's).
    pub uid_validity: u32,
    /// The replies, by UID ascending; `parent_uid` is the thread message (a UID of the
    /// thread's mailbox) each answers, when it is in the thread.
    pub messages: Vec<ThreadMessage>,
}

/// One conversation in a mailbox's thread list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ThreadSummary {
    /// The thread's id: the UID of its first message (the lowest UID in it), stable
    /// while that message stays in the mailbox.
    pub id: u32,
    /// How many of its messages are in this mailbox.
    pub messages: u32,
    /// How many of them lack `\Seen`.
    pub unseen: u32,
    /// Their UIDs, ascending.
    pub uids: Vec<u32>,
    /// The summary of its newest message (highest UID).
    pub newest: MessageSummary,
}

/// A page of threads, the thread with the newest message first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ThreadList {
    /// The threads.
    pub items: Vec<ThreadSummary>,
    /// How many threads the listing has (as of its first page).
    pub total: u32,
    /// Opaque cursor for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// The mailbox's UIDVALIDITY.
    pub uid_validity: u32,
    /// How the threads were made: the server's `REFERENCES` or `REFS` (RFC 5256), or
    /// `gateway-references` (REFERENCES computed by the gateway on a server without
    /// THREAD).
    pub algorithm: String,
}

/// A message of a thread, with its place in the conversation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ThreadMessage {
    /// The message it answers, when that is in this mailbox and thread.
    pub parent_uid: Option<u32>,
    /// Its depth in the conversation (0 for a first message).
    pub depth: u32,
    /// Its summary.
    #[serde(flatten)]
    pub summary: MessageSummary,
}

/// One thread with every message of it in this mailbox, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ThreadDetail {
    /// The thread's id (its first message's UID).
    pub id: u32,
    /// The mailbox's UIDVALIDITY.
    pub uid_validity: u32,
    /// How the threads were made (see [`ThreadList::algorithm`]).
    pub algorithm: String,
    /// The messages, by UID (arrival) ascending.
    pub messages: Vec<ThreadMessage>,
    /// With `include_sent=true`: the user's replies found in Sent (`null` when there
    /// is no Sent mailbox, or the thread is in Sent itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<SentReplies>,
}
