//! The mail service layer: what the API does, in mail terms, on one IMAP session.
//!
//! Handlers in `crate::http` extract a request, validate it with a `parse`
//! function here (before a session is checked out), call one operation with a
//! pooled session and map the answer. The operations decide which IMAP commands to
//! send and how server differences show (capabilities are asked of the session
//! here, never in `http`), and return `crate::model` DTOs or a [`MailError`],
//! which `crate::error` maps to an HTTP answer in one place.
//!
//! - [`mailboxes`]: list, create, read, update, delete mailboxes.
//! - [`list`]: pages of a mailbox, newest first, with filters and cursors.
//! - [`read`]: one message, parsed.
//! - [`download`] and [`stream`]: raw messages and parts, streamed in chunks.
//! - [`flags`]: one message's flags (conditional on its mod-sequence) or many.
//! - [`transfer`]: move, copy, delete; [`targets`] resolves bulk requests.
//! - [`append`] and [`compose`]: storing raw or composed messages.
//! - [`changes`]: what changed since a state token (also feeds event streams).
//! - [`tokens`]: the signed cursors and state tokens.
//! - [`open`]: selecting a mailbox, fetching one message, flag lists.
//! - [`readiness`]: whether the mail servers answer, probed at most once per interval.

pub mod account;
pub mod append;
pub mod changes;
pub mod compose;
pub mod download;
pub mod drafts;
pub mod error;
pub mod flags;
pub mod html;
pub mod idempotency;
pub mod list;
pub mod mailboxes;
pub mod open;
pub mod read;
pub mod readiness;
pub mod reply;
pub mod send;
pub mod sent;
pub mod stream;
pub mod targets;
pub mod threading;
pub mod threads;
pub mod tokens;
pub mod transfer;

pub use error::{MailError, Op};
pub use tokens::{CursorScope, MailboxState, TokenCodec};
