//! JSON request and response types (DTOs) with their OpenAPI schemas, and the
//! translations from `crate::imap` values. HTTP code sees only these.

pub mod auth;
pub mod mailbox;
pub mod message;
