//! [`MailError`]: how a mail operation fails, in the service layer's terms, and
//! [`Op`], the operation an IMAP failure happened in. `crate::error` turns a
//! `MailError` into an HTTP answer in one place (`From<MailError> for ApiError`).
//!
//! The rule for bad input: a value that is not a well-formed instance of its type (a
//! mailbox name with control characters, UID 0, a keyword with spaces, a malformed
//! date, a forged cursor) is [`MailError::Invalid`] (400); a well-formed request
//! that cannot be acted on (a limit out of range, too many flags, nothing to
//! change, a name the server cannot hold) is [`MailError::Unacceptable`] (422).

use crate::imap::{ImapError, ValidationError};

/// The IMAP operation an error happened in: picks defaults for code-less NOs and
/// words the detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// LOGIN / AUTHENTICATE (and getting a pooled session).
    Login,
    /// LIST.
    ListMailboxes,
    /// LIST/STATUS of one mailbox.
    GetMailbox,
    /// CREATE.
    CreateMailbox,
    /// DELETE.
    DeleteMailbox,
    /// RENAME.
    RenameMailbox,
    /// (UN)SUBSCRIBE.
    Subscribe,
    /// SELECT / EXAMINE.
    Select,
    /// The readiness probe.
    Probe,
    /// UID SEARCH.
    Search,
    /// UID FETCH.
    Fetch,
    /// UID STORE.
    Store,
    /// UID COPY.
    Copy,
    /// UID MOVE (or COPY + UID EXPUNGE).
    Move,
    /// STORE \\Deleted + UID EXPUNGE.
    Expunge,
    /// APPEND.
    Append,
}

impl Op {
    /// What the gateway was trying to do, for error details ("could not …").
    pub fn doing(self) -> &'static str {
        match self {
            Self::Login => "log in to the IMAP server",
            Self::ListMailboxes => "list mailboxes",
            Self::GetMailbox => "read the mailbox",
            Self::CreateMailbox => "create the mailbox",
            Self::DeleteMailbox => "delete the mailbox",
            Self::RenameMailbox => "rename the mailbox",
            Self::Subscribe => "change the subscription",
            Self::Select => "open the mailbox",
            Self::Probe => "reach the IMAP server",
            Self::Search => "search the mailbox",
            Self::Fetch => "read the message",
            Self::Store => "change the flags",
            Self::Copy => "copy the message",
            Self::Move => "move the message",
            Self::Expunge => "delete the message",
            Self::Append => "store the message",
        }
    }
}

/// A failed mail operation.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A value that is not a well-formed instance of its type (400).
    #[error("invalid input: {0}")]
    Invalid(ValidationError),
    /// A well-formed request that cannot be acted on (422).
    #[error("unacceptable input: {0}")]
    Unacceptable(ValidationError),
    /// The message (or part) does not exist (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request conflicts with the mailbox's state (409).
    #[error("conflict: {detail}")]
    Conflict {
        /// Our explanation.
        detail: String,
        /// The problem type slug (`cursor-expired`, `no-trash`, ...).
        slug: &'static str,
    },
    /// A conditional change found the resource changed since the client's version
    /// (412); `current` is the resource as it is now.
    #[error("precondition failed: {detail}")]
    Changed {
        /// Our explanation.
        detail: String,
        /// The current state, for the client to merge.
        current: serde_json::Value,
    },
    /// An IMAP failure during `op`.
    #[error("IMAP error while trying to {}: {source}", op.doing())]
    Imap {
        /// What we were doing.
        op: Op,
        /// What the server or connection said.
        #[source]
        source: ImapError,
    },
    /// An SMTP failure while submitting.
    #[error("{0}")]
    Smtp(#[from] crate::smtp::SmtpError),
    /// A bug or an unexpected failure (500).
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

/// 409 `uid-validity-changed`: the UIDs of a request belong to a mailbox that no
/// longer exists under that name (it was deleted and created again), so nothing was
/// changed.
pub fn uid_validity_changed(was: u32, now: u32) -> MailError {
    MailError::Conflict {
        detail: format!(
            "the mailbox's UIDVALIDITY is {now}, not {was}: it was recreated and its UIDs \
             name other messages now; nothing was changed (list it again)"
        ),
        slug: "uid-validity-changed",
    }
}

impl From<ValidationError> for MailError {
    fn from(err: ValidationError) -> Self {
        Self::Invalid(err)
    }
}

impl MailError {
    /// A well-formed `field` that cannot be acted on (422).
    pub fn unacceptable(field: &'static str, message: impl Into<String>) -> Self {
        Self::Unacceptable(ValidationError::new(field, message))
    }

    /// Wraps an IMAP error with the operation it happened in. Input the IMAP layer
    /// refused before sending anything keeps its bad-input class: a malformed value
    /// stays 400, a name the server cannot represent is 422.
    pub fn imap(op: Op, source: ImapError) -> Self {
        match source {
            ImapError::Invalid(v) => Self::Invalid(v),
            ImapError::NotRepresentable(v) => Self::Unacceptable(v),
            ImapError::NotSelectable(name) => Self::Unacceptable(ValidationError::new(
                "mailbox",
                format!("{name} holds no messages: it only contains other mailboxes (\\Noselect)"),
            )),
            ImapError::UidValidityChanged { was, now } => uid_validity_changed(was, now),
            source => Self::Imap { op, source },
        }
    }

    /// True when the IMAP server ended the session in the middle of the operation
    /// (BYE, or the connection closed): an operation that is safe to repeat may be
    /// repeated on a fresh session.
    pub fn is_lost_session(&self) -> bool {
        matches!(
            self,
            Self::Imap {
                source: ImapError::Bye { .. } | ImapError::ConnectionLost | ImapError::Io(_),
                ..
            }
        )
    }
}

/// Names the operation an IMAP result belongs to:
/// `session.status(&name).await.during(Op::GetMailbox)?`.
pub trait ImapResultExt<T> {
    /// Maps the error with [`MailError::imap`].
    ///
    /// # Errors
    /// The classified error.
    fn during(self, op: Op) -> Result<T, MailError>;
}

impl<T> ImapResultExt<T> for Result<T, ImapError> {
    fn during(self, op: Op) -> Result<T, MailError> {
        self.map_err(|err| MailError::imap(op, err))
    }
}
