//! What the gateway knows about the server behind a session, decided once per session
//! and in this one place: the capabilities it advertises, how it names mailboxes
//! (NAMESPACE, RFC 2342) and how it behaves where servers legitimately differ.
//!
//! **Naming.** API mailbox names are relative to the user's personal namespace and
//! always use `/` as the separator: `Sent`, `Projects/2026` and `INBOX` mean the same
//! mailboxes on Dovecot (no prefix, `/`), Cyrus in its default namespace and Courier
//! (prefix `INBOX.`, separator `.`). [`Naming`] translates both ways; a name the server
//! cannot hold (a level containing its own separator, such as `v1.2` on a `.` server)
//! is refused before anything is sent.
//!
//! **Change reporting.** RFC 3501 lets a server report other sessions' changes to a
//! selected mailbox only at NOOP (or a new SELECT). Courier does exactly that, and
//! also computes a STORE from its stale copy of the flags, losing keywords other
//! sessions set. Dovecot and Cyrus bring a session up to date at every command. A
//! server not known to do so is treated like Courier: a session reused on a selected
//! mailbox sends NOOP first, and flag changes are serialised per mailbox.

use std::collections::HashSet;

use super::error::ImapError;
use super::namespace::Namespaces;
use super::types::{MailboxName, ServerMailbox, ValidationError};
use super::utf7;

/// Capabilities advertised after login, upper-cased.
#[derive(Debug, Clone, Default)]
pub struct Capabilities(HashSet<String>);

impl Capabilities {
    /// Builds the set from the advertised atoms.
    pub fn new(atoms: impl IntoIterator<Item = String>) -> Self {
        Self(atoms.into_iter().map(|a| a.to_ascii_uppercase()).collect())
    }

    /// True when the server advertises `name` (case-insensitive).
    pub fn has(&self, name: &str) -> bool {
        self.0.contains(&name.to_ascii_uppercase())
    }
}

/// Which server software, as far as behaviour differences matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Dovecot.
    Dovecot,
    /// Cyrus IMAP.
    Cyrus,
    /// Courier-IMAP.
    Courier,
    /// Anything else: treated conservatively.
    Other,
}

impl ServerKind {
    /// Whether mailbox names may hold characters outside the Basic Multilingual
    /// Plane (UTF-16 surrogate pairs in modified UTF-7). Courier refuses them
    /// (`CREATE "📧 mail"`: `NO Error in IMAP command received by server.`, with no
    /// code), so the gateway says so (422) instead of passing on a bare NO.
    pub fn stores_names_outside_bmp(self) -> bool {
        !matches!(self, Self::Courier)
    }

    /// Recognises the server from its greeting text.
    pub fn from_greeting(greeting: &str) -> Self {
        if greeting.contains("Dovecot") {
            Self::Dovecot
        } else if greeting.contains("Cyrus IMAP") {
            Self::Cyrus
        } else if greeting.contains("Courier-IMAP") {
            Self::Courier
        } else {
            Self::Other
        }
    }
}

/// How the server names the user's personal mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// The personal namespace prefix as sent on the wire (`""`, `INBOX.`).
    prefix: String,
    /// The hierarchy separator; `None` for a flat namespace.
    delimiter: Option<char>,
    /// The server refuses names with characters outside the Basic Multilingual
    /// Plane (see [`ServerKind::stores_names_outside_bmp`]).
    bmp_only: bool,
}

impl Default for Naming {
    /// No prefix, `/` as the separator (Dovecot's usual layout).
    fn default() -> Self {
        Self {
            prefix: String::new(),
            delimiter: Some('/'),
            bmp_only: false,
        }
    }
}

impl Naming {
    /// A naming from NAMESPACE's personal entry (or `LIST "" ""` without NAMESPACE).
    /// A prefix that is not printable ASCII (it goes on the wire as is) is ignored.
    pub fn new(prefix: &str, delimiter: Option<char>) -> Self {
        let printable = prefix.chars().all(|c| (' '..='~').contains(&c));
        Self {
            prefix: if printable {
                prefix.to_owned()
            } else {
                String::new()
            },
            delimiter: delimiter.filter(|d| (' '..='~').contains(d)),
            bmp_only: false,
        }
    }

    /// The same naming on a server of `kind`: its own limits on names apply.
    #[must_use]
    pub fn for_server(mut self, kind: ServerKind) -> Self {
        self.bmp_only = !kind.stores_names_outside_bmp();
        self
    }

    /// The server's hierarchy separator.
    pub fn delimiter(&self) -> Option<char> {
        self.delimiter
    }

    /// The personal namespace prefix on the wire.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The server's name for an API mailbox name.
    ///
    /// # Errors
    /// [`ImapError::NotRepresentable`] when a level of `name` contains the server's
    /// own separator, or is empty on a server whose separator is not `/`, or when the
    /// server has no hierarchy and `name` has levels.
    pub fn to_server(&self, name: &MailboxName) -> Result<ServerMailbox, ImapError> {
        if name.is_inbox() {
            return Ok(ServerMailbox::new("INBOX".to_owned()));
        }
        let display = name.as_str();
        let refuse = |message: String| {
            Err(ImapError::NotRepresentable(ValidationError::new(
                "mailbox", message,
            )))
        };
        if self.bmp_only && display.chars().any(|c| u32::from(c) > 0xFFFF) {
            return refuse(format!(
                "{display:?} has a character outside the Basic Multilingual Plane (such as an emoji), which this IMAP server cannot store in a mailbox name"
            ));
        }
        let wire = match self.delimiter {
            Some('/') => utf7::encode(display),
            None if display.contains('/') => {
                return refuse(
                    "this IMAP server has no mailbox hierarchy, so names cannot contain '/'"
                        .to_owned(),
                )
            }
            None => utf7::encode(display),
            Some(separator) => {
                let mut levels = Vec::new();
                for level in display.split('/') {
                    if level.is_empty() {
                        return refuse(format!(
                            "{display:?} has an empty level; this IMAP server separates levels with {separator:?} and cannot store it"
                        ));
                    }
                    if level.contains(separator) {
                        return refuse(format!(
                            "{level:?} contains {separator:?}, which this IMAP server uses to separate mailbox levels; use '/' for levels and another character inside a name"
                        ));
                    }
                    levels.push(utf7::encode(level));
                }
                levels.join(&separator.to_string())
            }
        };
        Ok(ServerMailbox::new(format!("{}{wire}", self.prefix)))
    }

    /// The API name of a mailbox the server listed (wire name, quotes undone), or
    /// `None` when it lies outside the personal namespace or cannot be written with
    /// `/` levels (a level containing `/` on a `.` server).
    pub fn to_api(&self, wire: &str) -> Option<MailboxName> {
        if wire.eq_ignore_ascii_case("INBOX") {
            return MailboxName::try_from("INBOX").ok();
        }
        let rest = if self.prefix.is_empty() {
            wire
        } else {
            strip_prefix_inbox_insensitive(wire, &self.prefix)?
        };
        if rest.is_empty() {
            return None;
        }
        let decode = |level: &str| utf7::decode(level).unwrap_or_else(|| level.to_owned());
        let display = match self.delimiter {
            Some('/') | None => decode(rest),
            Some(separator) => {
                let levels: Vec<String> = rest.split(separator).map(decode).collect();
                if levels.iter().any(|l| l.contains('/')) {
                    return None;
                }
                levels.join("/")
            }
        };
        MailboxName::try_from(display).ok()
    }
}

/// `wire` without `prefix`, comparing a leading `INBOX` case-insensitively (it is
/// case-insensitive in IMAP, RFC 3501 section 5.1).
fn strip_prefix_inbox_insensitive<'a>(wire: &'a str, prefix: &str) -> Option<&'a str> {
    if let Some(rest) = wire.strip_prefix(prefix) {
        return Some(rest);
    }
    let head = wire.get(..prefix.len())?;
    let inbox = prefix.len() >= 5 && prefix[..5].eq_ignore_ascii_case("INBOX");
    (inbox && head[..5].eq_ignore_ascii_case("INBOX") && head[5..] == prefix[5..])
        .then(|| &wire[prefix.len()..])
}

/// Everything decided about one session's server.
#[derive(Debug, Clone, Default)]
pub struct ServerProfile {
    /// Advertised capabilities.
    pub capabilities: Capabilities,
    /// Personal namespace naming.
    pub naming: Naming,
    /// Which server, from its greeting.
    pub kind: Option<ServerKind>,
    /// Everything NAMESPACE announced (empty without NAMESPACE). Only the first
    /// personal namespace is served; the others are reported, not listed.
    pub namespaces: Namespaces,
}

impl ServerProfile {
    /// True when the server is not known to report other sessions' changes at every
    /// command (Courier, and any server not recognised): a reused session must NOOP
    /// before working on its selected mailbox, and flag changes are serialised.
    pub fn reports_changes_only_at_noop(&self) -> bool {
        !matches!(self.kind, Some(ServerKind::Dovecot | ServerKind::Cyrus))
    }

    /// True when the selected mailbox's HIGHESTMODSEQ can be followed from the
    /// server's answers alone, so a state token can be built from the session's view
    /// without a STATUS: Dovecot, with QRESYNC enabled, puts `[HIGHESTMODSEQ]` on
    /// the completion of every command that reported expunges and MODSEQ on every
    /// flag change. Cyrus does not declare it after SELECT (a token from its view
    /// would make `/changes` repeat every change since; `tests/servers.rs`).
    pub fn declares_modseq_changes(&self) -> bool {
        matches!(self.kind, Some(ServerKind::Dovecot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> MailboxName {
        MailboxName::try_from(s).unwrap()
    }

    #[test]
    fn slash_servers_keep_names() {
        let naming = Naming::default();
        for api in ["INBOX", "Sent", "Projects/2026", "Entwürfe", "v1.2"] {
            let wire = naming.to_server(&name(api)).unwrap();
            assert_eq!(naming.to_api(wire.wire()).unwrap().as_str(), api);
        }
        assert_eq!(
            naming.to_server(&name("Entwürfe")).unwrap().wire(),
            "Entw&APw-rfe"
        );
    }

    #[test]
    fn prefixed_dot_servers_translate_both_ways() {
        let naming = Naming::new("INBOX.", Some('.'));
        let cases = [
            ("INBOX", "INBOX"),
            ("Sent", "INBOX.Sent"),
            ("Projects/2026", "INBOX.Projects.2026"),
            ("Entwürfe/Q&A", "INBOX.Entw&APw-rfe.Q&-A"),
            ("📧 mail", "INBOX.&2D3c5w- mail"),
        ];
        for (api, wire) in cases {
            assert_eq!(naming.to_server(&name(api)).unwrap().wire(), wire, "{api}");
            assert_eq!(naming.to_api(wire).unwrap().as_str(), api, "{wire}");
        }
        assert_eq!(naming.to_api("inbox.Sent").unwrap().as_str(), "Sent");
        assert!(
            naming.to_api("user.bob.Sent").is_none(),
            "other users' mailboxes"
        );
        assert!(naming.to_api("INBOX.").is_none());
        assert!(
            naming.to_api("INBOX.a/b").is_none(),
            "not writable with / levels"
        );
    }

    #[test]
    fn names_the_server_cannot_hold_are_refused() {
        let naming = Naming::new("INBOX.", Some('.'));
        for bad in ["v1.2", "Projects/v1.2", "a//b", "trailing/"] {
            assert!(
                matches!(
                    naming.to_server(&name(bad)),
                    Err(ImapError::NotRepresentable(_))
                ),
                "{bad}"
            );
        }
        let flat = Naming::new("", None);
        assert!(flat.to_server(&name("a/b")).is_err());
        assert_eq!(flat.to_server(&name("a.b")).unwrap().wire(), "a.b");
    }

    #[test]
    fn prefixes_that_are_not_printable_are_ignored() {
        assert_eq!(Naming::new("x\r\n", Some('.')).prefix(), "");
        assert_eq!(Naming::new("INBOX.", Some('\n')).delimiter(), None);
    }

    #[test]
    fn servers_are_recognised_by_greeting() {
        assert_eq!(
            ServerKind::from_greeting("Dovecot (Debian) ready."),
            ServerKind::Dovecot
        );
        assert_eq!(
            ServerKind::from_greeting("localhost Cyrus IMAP 3.6.1 server ready"),
            ServerKind::Cyrus
        );
        assert_eq!(
            ServerKind::from_greeting("Courier-IMAP ready. Copyright 1998-2019"),
            ServerKind::Courier
        );
        assert_eq!(
            ServerKind::from_greeting("IMAP4rev1 ready"),
            ServerKind::Other
        );
        let courier = ServerProfile {
            kind: Some(ServerKind::Courier),
            ..ServerProfile::default()
        };
        assert!(courier.reports_changes_only_at_noop());
        let dovecot = ServerProfile {
            kind: Some(ServerKind::Dovecot),
            ..ServerProfile::default()
        };
        assert!(!dovecot.reports_changes_only_at_noop());
    }
}
