//! imap-gateway
#![forbid(unsafe_code)]
pub mod imap;
