//! Storing messages: a message composed from JSON, the raw-upload query, and where an appended message went.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::message::FlagName;

/// An address in a composed message: `"a@example.org"` or `{name, address}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ComposeAddress {
    /// `zoe@example.org`, or with a name: `Zoë <zoe@example.org>`.
    #[schema(value_type = PlainAddress)]
    Plain(String),
    /// Name and address.
    Named {
        /// Display name.
        #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
        name: Option<String>,
        /// `local@domain`.
        #[schema(
            pattern = r"^[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000<>,;@]+@[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000<>,;@]+$"
        )]
        address: String,
    },
}

/// An address as one string (documentation of [`ComposeAddress::Plain`]).
#[derive(ToSchema)]
#[schema(
    pattern = r"^ *([^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000<>,;@]+@[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000<>,;@]+|[^<>\u0000-\u001f\u007f-\u009f]*<[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000<>,;@]+@[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000<>,;@]+>) *$"
)]
pub struct PlainAddress(pub String);

/// An attachment of a composed message.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComposeAttachment {
    /// File name: one line of at most 998 bytes (the schema says 249 characters,
    /// which fit in any case).
    #[schema(pattern = r"^[^\u0000\r\n]{0,249}$")]
    pub filename: String,
    /// Media type, e.g. `application/pdf`.
    #[schema(pattern = r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")]
    pub content_type: String,
    /// The content, base64 (RFC 4648, padded).
    #[schema(
        content_encoding = "base64",
        // Canonical: the bits after the last byte are zero.
        pattern = "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$"
    )]
    pub content_base64: String,
}

/// What a message sent with a `reference` does with the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceAction {
    /// Reply to the sender (`Reply-To`, else `From`); the original gets `\Answered`.
    Reply,
    /// Reply to the sender and every other recipient except yourself; `\Answered`.
    ReplyAll,
    /// Forward with the original's text and attachments; the original gets
    /// `$Forwarded`.
    Forward,
}

/// The message a reply or forward refers to.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageReference {
    /// The original's mailbox.
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")]
    pub mailbox: String,
    /// The original's UID.
    #[schema(minimum = 1)]
    pub uid: u32,
    /// The UIDVALIDITY the UID belongs to (a changed one is refused with 409).
    #[schema(minimum = 1)]
    pub uid_validity: u32,
    /// `reply`, `reply_all` or `forward`.
    pub action: ReferenceAction,
    /// Replies: quote the original's text below yours (default false). Forwards
    /// always carry the original's text.
    #[serde(default)]
    pub quote: bool,
}

/// An extra header field of a composed message.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComposeHeader {
    /// The field name, e.g. `X-Ticket`: an `X-` name or one of `Importance`,
    /// `Priority`, `Sensitivity`, `Auto-Submitted`, `Organization`, `Keywords`,
    /// `Comments`, `List-Unsubscribe`, `List-Unsubscribe-Post`.
    #[schema(
        pattern = "^([Xx]-[A-Za-z0-9-]{1,74}|Importance|Priority|Sensitivity|Auto-Submitted|Organization|Keywords|Comments|List-Unsubscribe|List-Unsubscribe-Post)$"
    )]
    pub name: String,
    /// The value: one line of at most 998 bytes (non-ASCII text is encoded; the
    /// schema says 249 characters, which fit in any case).
    #[schema(pattern = r"^[^\u0000\r\n]{0,249}$")]
    pub value: String,
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
    /// Reply-To.
    #[serde(default)]
    pub reply_to: Vec<ComposeAddress>,
    /// Extra header fields: any `X-…` name, or `Importance`, `Priority`,
    /// `Sensitivity`, `Auto-Submitted`, `Organization`, `Keywords`, `Comments`,
    /// `List-Unsubscribe`, `List-Unsubscribe-Post`; at most 20, one line each.
    #[serde(default)]
    pub headers: Vec<ComposeHeader>,
    /// Subject: one line of at most 998 bytes (the schema says 249 characters,
    /// which fit in any case).
    #[schema(pattern = r"^[^\u0000\r\n]{0,249}$")]
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
    #[schema(value_type = Vec<FlagName>)]
    pub flags: Vec<String>,
    /// INTERNALDATE, RFC 3339, years 1900-9999 (default: now).
    #[schema(format = DateTime, pattern = "^(19|[2-9][0-9])[0-9][0-9]-")]
    pub internal_date: Option<String>,
    /// `POST /v1/send` only: the message this one replies to or forwards. Fills
    /// `In-Reply-To`, `References`, a `Re:`/`Fwd:` subject when none is given, the
    /// recipients of a reply when none are given, and a forward's text and
    /// attachments.
    pub reference: Option<MessageReference>,
}

/// Query of `POST .../messages` for raw uploads.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AppendQuery {
    /// Comma-separated initial flags for a raw upload, e.g. `\Seen,$Work`.
    #[param(
        pattern = r#"^(\\(Seen|Answered|Flagged|Deleted|Draft)|[!#$&'+\-./0-9:;<=>?@A-Z\[^_`a-z|}~]{1,100})(,(\\(Seen|Answered|Flagged|Deleted|Draft)|[!#$&'+\-./0-9:;<=>?@A-Z\[^_`a-z|}~]{1,100}))*$"#
    )]
    pub flags: Option<String>,
    /// INTERNALDATE for a raw upload, RFC 3339, years 1900-9999.
    #[param(format = DateTime, pattern = "^(19|[2-9][0-9])[0-9][0-9]-")]
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
