//! JSON request and response types (DTOs) with their OpenAPI schemas, and the
//! translations from `crate::imap` values: every request body, query and answer of
//! the API. Handlers still use a few `imap` values (mailbox names, UIDs, fetched
//! messages) directly; a service layer between them is the next step (issue 11).

pub mod auth;
pub mod changes;
pub mod compose;
pub mod events;
pub mod flags;
pub mod mailbox;
pub mod message;
pub mod transfer;
