//! What can go wrong while submitting, and the server's replies in plain values.

use smtp_proto::Response;

/// An SMTP reply: its code, its enhanced status code (RFC 3463) when the server
/// gave one, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, e.g. 550.
    pub code: u16,
    /// The enhanced status code, e.g. `5.1.1`.
    pub enhanced: Option<String>,
    /// The reply's text, lines joined with spaces.
    pub text: String,
}

impl Reply {
    /// True for a 5xx reply: the same request will fail again.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
}

impl From<&Response<String>> for Reply {
    fn from(response: &Response<String>) -> Self {
        let enhanced = (response.esc[0] != 0).then(|| {
            format!(
                "{}.{}.{}",
                response.esc[0], response.esc[1], response.esc[2]
            )
        });
        Self {
            code: response.code(),
            enhanced,
            text: response.message().replace(['\r', '\n'], " "),
        }
    }
}

/// A failed submission.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// The server could not be reached.
    #[error("cannot connect to the submission server: {0}")]
    Connect(String),
    /// TLS could not be set up.
    #[error("TLS with the submission server failed: {0}")]
    Tls(String),
    /// No answer in time.
    #[error("the submission server did not answer in time")]
    Timeout,
    /// The server refused the login, the sender or the message.
    #[error("the submission server refused: {} {}", .0.code, .0.text)]
    Refused(Reply),
    /// The server refused the login.
    #[error("the submission server refused the credentials: {} {}", .0.code, .0.text)]
    AuthFailed(Reply),
    /// The server refused the OAuth2 access token.
    #[error("the submission server refused the OAuth2 access token ({})", .status.as_deref().unwrap_or("no reason given"))]
    TokenRejected {
        /// The `status` of the server's JSON error challenge, when it sent one.
        status: Option<String>,
        /// The server's final reply.
        reply: Reply,
    },
    /// The server offers no mechanism this gateway may use for the credential.
    #[error("the submission server offers no usable AUTH mechanism: {0}")]
    NoMechanism(&'static str),
    /// The server refused every recipient.
    #[error("the submission server refused every recipient")]
    NoRecipient(Vec<super::Refusal>),
    /// The message is larger than the server's SIZE.
    #[error("the message is {size} bytes; the server takes at most {limit}")]
    TooLarge {
        /// The message's size.
        size: usize,
        /// The server's limit.
        limit: usize,
    },
    /// Anything else the conversation broke on.
    #[error("SMTP failure: {0}")]
    Protocol(String),
}

impl SmtpError {
    /// A short, bounded label for metrics and readiness (never server text).
    pub fn outcome_label(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect",
            Self::Tls(_) => "tls",
            Self::Timeout => "timeout",
            Self::Refused(_) => "refused",
            Self::AuthFailed(_) => "auth_failed",
            Self::TokenRejected { .. } => "token_rejected",
            Self::NoMechanism(_) => "no_mechanism",
            Self::NoRecipient(_) => "no_recipient",
            Self::TooLarge { .. } => "too_large",
            Self::Protocol(_) => "protocol",
        }
    }
}

impl From<mail_send::Error> for SmtpError {
    fn from(err: mail_send::Error) -> Self {
        match err {
            mail_send::Error::Io(e) => Self::Connect(e.to_string()),
            mail_send::Error::Tls(e) => Self::Tls(e.to_string()),
            mail_send::Error::Timeout => Self::Timeout,
            mail_send::Error::UnexpectedReply(reply) => Self::Refused(Reply::from(&reply)),
            mail_send::Error::AuthenticationFailed(reply) => Self::AuthFailed(Reply::from(&reply)),
            mail_send::Error::UnsupportedAuthMechanism => {
                Self::NoMechanism("PLAIN or LOGIN for a password")
            }
            other => Self::Protocol(other.to_string()),
        }
    }
}
