//! JSON request and response types (DTOs) with their OpenAPI schemas, and the
//! translations from `crate::imap` values. Mailboxes, messages and tokens live here;
//! some request and event types still live beside their handlers in `crate::http`
//! (moving them here is part of issue 11), and handlers still use a few `imap`
//! values (mailbox names, UIDs, fetched messages) directly.

pub mod auth;
pub mod events;
pub mod mailbox;
pub mod message;
