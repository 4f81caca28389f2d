//! The payloads of `GET /v1/events` (Server-Sent Events): one JSON object per event,
//! named by the SSE `event:` field. The stream sends these types, so the OpenAPI
//! document and the wire cannot drift apart.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::message::MessageSummary;

/// Payload of `message.created`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageCreatedEvent {
    /// The mailbox.
    pub mailbox: String,
    /// The new message.
    pub message: MessageSummary,
}

/// Payload of `message.updated`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageUpdatedEvent {
    /// The mailbox.
    pub mailbox: String,
    /// The UID.
    pub uid: u32,
    /// The flags now.
    pub flags: Vec<String>,
    /// The message's mod-sequence (servers with CONDSTORE only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modseq: Option<u64>,
}

/// Payload of `message.deleted`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageDeletedEvent {
    /// The mailbox.
    pub mailbox: String,
    /// The UID that is gone.
    pub uid: u32,
}

/// Payload of `mailbox.reset` (UIDVALIDITY changed: list the mailbox again) and
/// `stream.ready`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MailboxEvent {
    /// The mailbox (for `stream.ready`: all followed mailboxes, comma-separated).
    pub mailbox: String,
}

/// One event of the stream: its `data:` is the payload, its `event:` is
/// [`StreamEvent::name`]. `stream.ready` and `mailbox.reset` carry a
/// [`MailboxEvent`]; `message.created`, `message.updated` and `message.deleted` carry
/// their own payloads.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StreamEvent {
    /// `message.created`
    // Boxed: a summary is much larger than the other payloads.
    Created(Box<MessageCreatedEvent>),
    /// `message.updated`
    Updated(MessageUpdatedEvent),
    /// `message.deleted`
    Deleted(MessageDeletedEvent),
    /// `stream.ready` (with `ready: true` in the name only) or `mailbox.reset`.
    Mailbox(MailboxEvent),
}

impl StreamEvent {
    /// `stream.ready` for the followed mailboxes (comma-separated names).
    pub fn ready(mailboxes: String) -> (&'static str, Self) {
        (
            "stream.ready",
            Self::Mailbox(MailboxEvent { mailbox: mailboxes }),
        )
    }

    /// `mailbox.reset`: the mailbox was recreated, or the stream fell behind.
    pub fn reset(mailbox: &str) -> (&'static str, Self) {
        (
            "mailbox.reset",
            Self::Mailbox(MailboxEvent {
                mailbox: mailbox.to_owned(),
            }),
        )
    }

    /// The SSE event name of a payload (`stream.ready` and `mailbox.reset` are made
    /// by their constructors).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Created(_) => "message.created",
            Self::Updated(_) => "message.updated",
            Self::Deleted(_) => "message.deleted",
            Self::Mailbox(_) => "mailbox.reset",
        }
    }
}

/// One event of `GET /v1/events` as a Server-Sent Events client reads it: the
/// `text/event-stream` body is a sequence of these (documentation; validators check
/// each event against it). Keep-alive comments are not events.
#[derive(ToSchema)]
pub struct ServerSentEvent {
    /// `stream.ready`, `message.created`, `message.updated`, `message.deleted` or
    /// `mailbox.reset`.
    #[schema(pattern = r"^(stream\.ready|message\.(created|updated|deleted)|mailbox\.reset)$")]
    pub event: String,
    /// One [`StreamEvent`], as JSON.
    #[schema(content_media_type = "application/json")]
    pub data: String,
    /// Where the stream is: send it as `Last-Event-ID` to resume.
    pub id: Option<String>,
}

/// Query of the events route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Comma-separated mailbox names to follow (default `INBOX`). At most 10 per
    /// stream, and a user follows at most `IMAP_GATEWAY_MAX_WATCHERS_PER_USER`
    /// (default 4) different mailboxes across all their streams (429 beyond).
    pub mailboxes: Option<String>,
    /// An event ticket from `POST /v1/events/ticket`, instead of an `Authorization`
    /// header (which a browser's EventSource cannot send). Documented as the
    /// `ticket` security scheme: it is how the caller authenticates.
    #[param(ignore)]
    pub ticket: Option<String>,
}

/// An event ticket: `GET /v1/events?ticket=…` for a browser's EventSource.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventTicket {
    /// The ticket. Good only for `GET /v1/events` (read only); it expires with the
    /// credentials it was issued for, so EventSource's automatic reconnects (with
    /// `Last-Event-ID`) work as long as the sign-in does.
    pub ticket: String,
    /// Seconds until it expires.
    #[schema(example = 3600)]
    pub expires_in: u64,
}
