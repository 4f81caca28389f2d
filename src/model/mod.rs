//! JSON request and response types (DTOs) with their OpenAPI schemas, and the
//! translations from `crate::imap` values: every request body, query and answer of
//! the API. `crate::mail` builds them; `crate::http` serialises them.

pub mod auth;
pub mod changes;
pub mod compose;
pub mod events;
pub mod flags;
pub mod mailbox;
pub mod message;
pub mod search;
pub mod send;
pub mod thread;
pub mod transfer;
