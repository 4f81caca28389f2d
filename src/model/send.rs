//! Sending mail: the query of `POST /v1/send` and what the answer reports.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::compose::AppendResponse;

/// Whether a copy goes to the Sent mailbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SentCopy {
    /// Copy unless the server files sent mail itself (Gmail, `X-GM-EXT-1`).
    #[default]
    Auto,
    /// Always copy.
    Always,
    /// Never copy.
    Never,
}

/// Query of `POST /v1/send`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SendQuery {
    /// `auto` (default), `always` or `never`.
    pub sent_copy: Option<SentCopy>,
    /// Raw uploads only: comma-separated envelope recipients (required).
    pub to: Option<String>,
    /// Raw uploads only: the envelope sender (default: the address in `From:`).
    pub from: Option<String>,
}

/// Query of `POST /v1/mailboxes/{mailbox}/messages/{uid}/send`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SendDraftQuery {
    /// `auto` (default), `always` or `never`. With a Sent copy, the draft's
    /// Message-ID is its idempotency key.
    pub sent_copy: Option<SentCopy>,
    /// The UIDVALIDITY the draft's UID belongs to; 409 `uid-validity-changed` and
    /// nothing sent when the mailbox no longer has it.
    pub uid_validity: Option<u32>,
}

/// A recipient the submission server refused.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefusedRecipient {
    /// The address.
    pub address: String,
    /// The SMTP reply code, e.g. 550.
    pub smtp_code: u16,
    /// The enhanced status code (RFC 3463), e.g. `5.1.1`.
    pub enhanced_code: Option<String>,
    /// The server's text.
    pub message: String,
}

/// What happened to a sent message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SendResponse {
    /// The Message-ID, without angle brackets.
    pub message_id: String,
    /// Recipients the server accepted.
    pub accepted: Vec<String>,
    /// Recipients the server refused (the message went to the others).
    pub refused: Vec<RefusedRecipient>,
    /// The server's final reply, e.g. `250 2.0.0 Ok: queued as 4F2A`.
    pub smtp_reply: String,
    /// Where the Sent copy went; `null` when none was made (see `warnings`).
    pub sent_copy: Option<AppendResponse>,
    /// What went wrong after the server accepted the message. The message was sent:
    /// do not send it again.
    pub warnings: Vec<String>,
    /// True when this answers a retry (same `Idempotency-Key`, or the same
    /// Message-ID in a raw upload) of a message sent before: nothing was sent now,
    /// and the answer is the first one, read back from the Sent copy.
    pub replayed: bool,
}
