//! IMAP response codes (RFC 3501 section 7.1, RFC 5530, RFC 9051) as the gateway acts
//! on them. Parsing a server's answer into them is `status.rs`'s job; classifying
//! them into HTTP statuses is `crate::error`'s.

/// A response code the gateway acts on. Unknown codes are kept as `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RespCode {
    /// `ALERT`
    Alert,
    /// `PARSE`
    Parse,
    /// `TRYCREATE`: the target mailbox of COPY/MOVE/APPEND does not exist.
    TryCreate,
    /// `READ-ONLY`
    ReadOnly,
    /// `UNAVAILABLE` (RFC 5530)
    Unavailable,
    /// `AUTHENTICATIONFAILED`
    AuthenticationFailed,
    /// `AUTHORIZATIONFAILED`
    AuthorizationFailed,
    /// `EXPIRED`
    Expired,
    /// `PRIVACYREQUIRED`
    PrivacyRequired,
    /// `CONTACTADMIN`
    ContactAdmin,
    /// `NOPERM`
    NoPerm,
    /// `INUSE`
    InUse,
    /// `EXPUNGEISSUED`
    ExpungeIssued,
    /// `CORRUPTION`
    Corruption,
    /// `SERVERBUG`
    ServerBug,
    /// `CLIENTBUG`
    ClientBug,
    /// `CANNOT`
    Cannot,
    /// `LIMIT`
    Limit,
    /// `OVERQUOTA`
    OverQuota,
    /// `ALREADYEXISTS`
    AlreadyExists,
    /// `NONEXISTENT`
    NonExistent,
    /// `HASCHILDREN` (RFC 9051)
    HasChildren,
    /// `BADCHARSET`
    BadCharset,
    /// Any other code, upper-cased atom only.
    Other(String),
}

impl RespCode {
    /// Parses the atom of a response code (`NONEXISTENT`, case-insensitive).
    pub fn from_atom(atom: &str) -> Self {
        match atom.to_ascii_uppercase().as_str() {
            "ALERT" => Self::Alert,
            "PARSE" => Self::Parse,
            "TRYCREATE" => Self::TryCreate,
            "READ-ONLY" => Self::ReadOnly,
            "UNAVAILABLE" => Self::Unavailable,
            "AUTHENTICATIONFAILED" => Self::AuthenticationFailed,
            "AUTHORIZATIONFAILED" => Self::AuthorizationFailed,
            "EXPIRED" => Self::Expired,
            "PRIVACYREQUIRED" => Self::PrivacyRequired,
            "CONTACTADMIN" => Self::ContactAdmin,
            "NOPERM" => Self::NoPerm,
            "INUSE" => Self::InUse,
            "EXPUNGEISSUED" => Self::ExpungeIssued,
            "CORRUPTION" => Self::Corruption,
            "SERVERBUG" => Self::ServerBug,
            "CLIENTBUG" => Self::ClientBug,
            "CANNOT" => Self::Cannot,
            "LIMIT" => Self::Limit,
            "OVERQUOTA" => Self::OverQuota,
            "ALREADYEXISTS" => Self::AlreadyExists,
            "NONEXISTENT" => Self::NonExistent,
            "HASCHILDREN" => Self::HasChildren,
            "BADCHARSET" => Self::BadCharset,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as IMAP spells it; a bounded set, safe as a metric label or JSON value.
    pub fn name(&self) -> &str {
        match self {
            Self::Alert => "ALERT",
            Self::Parse => "PARSE",
            Self::TryCreate => "TRYCREATE",
            Self::ReadOnly => "READ-ONLY",
            Self::Unavailable => "UNAVAILABLE",
            Self::AuthenticationFailed => "AUTHENTICATIONFAILED",
            Self::AuthorizationFailed => "AUTHORIZATIONFAILED",
            Self::Expired => "EXPIRED",
            Self::PrivacyRequired => "PRIVACYREQUIRED",
            Self::ContactAdmin => "CONTACTADMIN",
            Self::NoPerm => "NOPERM",
            Self::InUse => "INUSE",
            Self::ExpungeIssued => "EXPUNGEISSUED",
            Self::Corruption => "CORRUPTION",
            Self::ServerBug => "SERVERBUG",
            Self::ClientBug => "CLIENTBUG",
            Self::Cannot => "CANNOT",
            Self::Limit => "LIMIT",
            Self::OverQuota => "OVERQUOTA",
            Self::AlreadyExists => "ALREADYEXISTS",
            Self::NonExistent => "NONEXISTENT",
            Self::HasChildren => "HASCHILDREN",
            Self::BadCharset => "BADCHARSET",
            Self::Other(_) => "OTHER",
        }
    }
}
