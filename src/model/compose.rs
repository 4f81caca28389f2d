//! Storing messages: a message composed from JSON, the raw-upload query, and where an appended message went.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An address in a composed message: `"a@example.org"` or `{name, address}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ComposeAddress {
    /// `zoe@example.org`, or with a name: `Zoë <zoe@example.org>`.
    Plain(String),
    /// Name and address.
    Named {
        /// Display name.
        name: Option<String>,
        /// `local@domain`.
        address: String,
    },
}

/// An attachment of a composed message.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComposeAttachment {
    /// File name.
    pub filename: String,
    /// Media type, e.g. `application/pdf`.
    pub content_type: String,
    /// The content, base64.
    pub content_base64: String,
}

/// A message composed from JSON (`Content-Type: application/json`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComposeRequest {
    /// From.
    pub from: ComposeAddress,
    /// To.
    #[serde(default)]
    pub to: Vec<ComposeAddress>,
    /// Cc.
    #[serde(default)]
    pub cc: Vec<ComposeAddress>,
    /// Bcc (kept in the stored copy, as drafts need it).
    #[serde(default)]
    pub bcc: Vec<ComposeAddress>,
    /// Subject.
    pub subject: Option<String>,
    /// Plain-text body.
    pub text: Option<String>,
    /// HTML body.
    pub html: Option<String>,
    /// Attachments.
    #[serde(default)]
    pub attachments: Vec<ComposeAttachment>,
    /// Initial flags, e.g. `["\\Seen", "\\Draft"]`.
    #[serde(default)]
    pub flags: Vec<String>,
    /// INTERNALDATE, RFC 3339 (default: now).
    pub internal_date: Option<String>,
}

/// Query of `POST .../messages` for raw uploads.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AppendQuery {
    /// Comma-separated initial flags for a raw upload, e.g. `\Seen,$Work`.
    pub flags: Option<String>,
    /// INTERNALDATE for a raw upload, RFC 3339.
    pub internal_date: Option<String>,
}

/// Where an appended message went.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppendResponse {
    /// The mailbox.
    pub mailbox: String,
    /// The new UID (`null` when the server lacks UIDPLUS).
    pub uid: Option<u32>,
    /// The mailbox's UIDVALIDITY (`null` when the server lacks UIDPLUS).
    pub uid_validity: Option<u32>,
}
