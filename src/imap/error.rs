//! [`ImapError`]: everything that can go wrong talking to the IMAP server.
//!
//! The HTTP layer classifies these once, at the edge (`crate::error`). Variants that
//! mean the connection can no longer be trusted report it through
//! [`ImapError::breaks_session`], so a pooled session is discarded rather than reused.

use super::code::RespCode;
use super::types::ValidationError;

/// Why the gateway could not get a session from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolFailure {
    /// The per-identity pool stayed full for the whole wait.
    Busy,
    /// The global session cap stayed reached for the whole wait.
    GlobalLimit,
    /// The IMAP server refused another session for this user (`NO [LIMIT]`,
    /// `[INUSE]` or `[UNAVAILABLE]` at login). New logins for the identity are held
    /// back for [`SERVER_LIMIT_BACKOFF`], so a busy server is not hammered with retries.
    ServerLimit,
    /// The gateway is shutting down.
    Closed,
}

/// How long logins of an identity are held back after the server refused one for a
/// connection limit, and the `Retry-After` the client is given meanwhile.
pub const SERVER_LIMIT_BACKOFF: std::time::Duration = std::time::Duration::from_secs(2);

/// An IMAP-level failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImapError {
    /// The server answered `NO`, with an optional response code.
    #[error("server answered NO ({}): {text}", code.as_ref().map_or("no code", RespCode::name))]
    No {
        /// The response code, when the server sent one.
        code: Option<RespCode>,
        /// The server's human-readable text.
        text: String,
    },
    /// The server answered `BAD`: the gateway sent something it did not understand.
    #[error("server answered BAD: {text}")]
    Bad {
        /// The server's text.
        text: String,
    },
    /// The server closed the session (`BYE`).
    #[error("server said BYE: {text}")]
    Bye {
        /// The server's text.
        text: String,
    },
    /// The connection closed in the middle of a command.
    #[error("connection to the IMAP server was lost")]
    ConnectionLost,
    /// A connect, login or command did not complete in time.
    #[error("IMAP operation timed out")]
    Timeout,
    /// A socket error.
    #[error("I/O error talking to the IMAP server: {0}")]
    Io(#[from] std::io::Error),
    /// TLS set-up or handshake failed.
    #[error("TLS error: {0}")]
    Tls(String),
    /// No session could be had from the pool.
    #[error("no IMAP session available: {0:?}")]
    Pool(PoolFailure),
    /// Input was refused before reaching IMAP.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The server sent something we cannot use (unparsable or unexpected).
    #[error("unexpected IMAP response: {0}")]
    Protocol(String),
    /// The server lacks a capability this operation needs.
    #[error("the IMAP server does not support {0}")]
    Unsupported(&'static str),
    /// A valid API value this server cannot represent (a mailbox level containing
    /// the server's own hierarchy separator); refused before reaching IMAP.
    #[error("{0}")]
    NotRepresentable(ValidationError),
    /// The server refused an OAuth2 access token (expired, revoked, for another user,
    /// or lacking a scope): the client must get a new one from its provider.
    #[error("the IMAP server refused the OAuth2 access token ({})", status.as_deref().unwrap_or("no reason given"))]
    TokenRejected {
        /// The `status` of the server's JSON error challenge (RFC 7628 section 3.2.2),
        /// when it sent one.
        status: Option<String>,
    },
    /// The mailbox was deleted and created again under a command by UID (its
    /// UIDVALIDITY changed on re-selecting it): the UIDs name other messages now, so
    /// the command was not run again.
    #[error("the mailbox's UIDVALIDITY changed from {was} to {now}")]
    UidValidityChanged {
        /// The UIDVALIDITY the command's UIDs belonged to.
        was: u32,
        /// The mailbox's UIDVALIDITY now.
        now: u32,
    },
    /// The mailbox exists only to hold other mailboxes (`\Noselect`): it cannot be
    /// opened and holds no messages.
    #[error("{0} holds no messages (\\Noselect): it only contains other mailboxes")]
    NotSelectable(String),
}

impl ImapError {
    /// The response code of a `NO`, if any.
    pub fn code(&self) -> Option<&RespCode> {
        match self {
            Self::No { code, .. } => code.as_ref(),
            _ => None,
        }
    }

    /// True when the session that produced this error must not be reused.
    pub fn breaks_session(&self) -> bool {
        matches!(
            self,
            Self::Bye { .. }
                | Self::ConnectionLost
                | Self::Timeout
                | Self::Io(_)
                | Self::Tls(_)
                | Self::Protocol(_)
        )
    }

    /// A short, bounded label for metrics and logs (never server text).
    pub fn outcome_label(&self) -> &str {
        match self {
            Self::No {
                code: Some(code), ..
            } => code.name(),
            Self::No { code: None, .. } => "NO",
            Self::Bad { .. } => "BAD",
            Self::Bye { .. } => "BYE",
            Self::ConnectionLost => "connection_lost",
            Self::Timeout => "timeout",
            Self::Io(_) => "io",
            Self::Tls(_) => "tls",
            Self::Pool(_) => "pool",
            Self::Invalid(_) => "invalid",
            Self::Protocol(_) => "protocol",
            Self::Unsupported(_) => "unsupported",
            Self::TokenRejected { .. } => "token_rejected",
            Self::NotRepresentable(_) => "not_representable",
            Self::NotSelectable(_) => "not_selectable",
            Self::UidValidityChanged { .. } => "uid_validity_changed",
        }
    }
}

impl ImapError {
    /// True for a login the server refused because of a connection or resource limit
    /// (`NO [LIMIT]`, `[INUSE]`, `[UNAVAILABLE]`): retrying at once would not help.
    pub fn is_server_limit(&self) -> bool {
        matches!(
            self,
            Self::No {
                code: Some(RespCode::Limit | RespCode::InUse | RespCode::Unavailable),
                ..
            }
        )
    }

    /// True when a login was refused because of the credentials: `NO
    /// [AUTHENTICATIONFAILED]`, `NO [EXPIRED]`, a code-less NO (servers without RFC
    /// 5530), or a refused OAuth2 token. Only meaningful for errors from logging in; `NO [LIMIT]` and friends are
    /// not credential failures.
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self,
            Self::No {
                code: None | Some(RespCode::AuthenticationFailed | RespCode::Expired),
                ..
            } | Self::TokenRejected { .. }
        )
    }
}
