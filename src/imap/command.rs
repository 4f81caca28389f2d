//! The only module that renders IMAP command text and hands it to the connection.
//!
//! Every argument that can carry user text arrives here as a validated type from
//! `types.rs` (a [`MailboxName`] is printable ASCII after modified UTF-7 encoding) and
//! is rendered as an RFC 3501 quoted string, escaping `\` and `"`. async-imap sends
//! most command arguments verbatim, so its formatting methods are disallowed in
//! `.clippy.toml`; this module alone is allowed to call `run_command`.

use std::fmt::Write as _;

use async_imap::imap_proto::RequestId;

use super::error::ImapError;
use super::status::from_async_imap;
use super::types::MailboxName;
use super::ImapStream;

/// A `STATUS` data item (RFC 3501 section 6.3.10, RFC 7162 for `HIGHESTMODSEQ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    /// `MESSAGES`
    Messages,
    /// `UNSEEN`
    Unseen,
    /// `UIDNEXT`
    UidNext,
    /// `UIDVALIDITY`
    UidValidity,
    /// `HIGHESTMODSEQ` (needs CONDSTORE)
    HighestModSeq,
}

impl StatusItem {
    fn atom(self) -> &'static str {
        match self {
            Self::Messages => "MESSAGES",
            Self::Unseen => "UNSEEN",
            Self::UidNext => "UIDNEXT",
            Self::UidValidity => "UIDVALIDITY",
            Self::HighestModSeq => "HIGHESTMODSEQ",
        }
    }
}

/// What a LIST command matches.
#[derive(Debug, Clone, Copy)]
pub enum ListPattern<'a> {
    /// `"*"`: every mailbox.
    All,
    /// One mailbox by name. Wildcards in the name still match themselves, and the
    /// caller keeps only the exact name.
    Exactly(&'a MailboxName),
}

/// RFC 5258 `RETURN (...)` options for LIST; empty means a plain RFC 3501 LIST.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListReturn<'a> {
    /// `SUBSCRIBED` (LIST-EXTENDED)
    pub subscribed: bool,
    /// `SPECIAL-USE` (RFC 6154)
    pub special_use: bool,
    /// `CHILDREN` (RFC 5258 section 4): `\HasChildren` / `\HasNoChildren`
    pub children: bool,
    /// `STATUS (...)` (RFC 5819 LIST-STATUS)
    pub status: &'a [StatusItem],
}

impl ListReturn<'_> {
    fn is_empty(&self) -> bool {
        !self.subscribed && !self.special_use && !self.children && self.status.is_empty()
    }
}

/// A command the gateway sends. Rendering is total: every value inside is valid.
#[derive(Debug, Clone, Copy)]
pub enum Command<'a> {
    /// `CAPABILITY`
    Capability,
    /// `NOOP`
    Noop,
    /// `LOGOUT`
    Logout,
    /// `UNSELECT` (RFC 3691)
    Unselect,
    /// `SELECT mailbox`
    Select(&'a MailboxName),
    /// `EXAMINE mailbox`
    Examine(&'a MailboxName),
    /// `CREATE mailbox`
    Create(&'a MailboxName),
    /// `DELETE mailbox`
    Delete(&'a MailboxName),
    /// `RENAME from to`
    Rename(&'a MailboxName, &'a MailboxName),
    /// `SUBSCRIBE mailbox`
    Subscribe(&'a MailboxName),
    /// `UNSUBSCRIBE mailbox`
    Unsubscribe(&'a MailboxName),
    /// `LIST "" pattern [RETURN (...)]`
    List(ListPattern<'a>, ListReturn<'a>),
    /// `LSUB "" pattern`
    Lsub(ListPattern<'a>),
    /// `STATUS mailbox (items)`
    Status(&'a MailboxName, &'a [StatusItem]),
}

impl Command<'_> {
    /// The IMAP command name, a bounded label for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Capability => "CAPABILITY",
            Self::Noop => "NOOP",
            Self::Logout => "LOGOUT",
            Self::Unselect => "UNSELECT",
            Self::Select(_) => "SELECT",
            Self::Examine(_) => "EXAMINE",
            Self::Create(_) => "CREATE",
            Self::Delete(_) => "DELETE",
            Self::Rename(..) => "RENAME",
            Self::Subscribe(_) => "SUBSCRIBE",
            Self::Unsubscribe(_) => "UNSUBSCRIBE",
            Self::List(..) => "LIST",
            Self::Lsub(_) => "LSUB",
            Self::Status(..) => "STATUS",
        }
    }

    /// The command line without tag and CRLF, exactly as sent.
    pub fn render(&self) -> String {
        let mut out = String::from(self.name());
        match self {
            Self::Capability | Self::Noop | Self::Logout | Self::Unselect => {}
            Self::Select(name)
            | Self::Examine(name)
            | Self::Create(name)
            | Self::Delete(name)
            | Self::Subscribe(name)
            | Self::Unsubscribe(name) => {
                out.push(' ');
                push_quoted(&mut out, name.wire());
            }
            Self::Rename(from, to) => {
                out.push(' ');
                push_quoted(&mut out, from.wire());
                out.push(' ');
                push_quoted(&mut out, to.wire());
            }
            Self::List(pattern, returns) => {
                out.push_str(" \"\" ");
                push_pattern(&mut out, *pattern);
                if !returns.is_empty() {
                    let mut options = Vec::new();
                    if returns.subscribed {
                        options.push("SUBSCRIBED".to_owned());
                    }
                    if returns.special_use {
                        options.push("SPECIAL-USE".to_owned());
                    }
                    if returns.children {
                        options.push("CHILDREN".to_owned());
                    }
                    if !returns.status.is_empty() {
                        options.push(format!("STATUS {}", status_items(returns.status)));
                    }
                    let _ = write!(out, " RETURN ({})", options.join(" "));
                }
            }
            Self::Lsub(pattern) => {
                out.push_str(" \"\" ");
                push_pattern(&mut out, *pattern);
            }
            Self::Status(name, items) => {
                out.push(' ');
                push_quoted(&mut out, name.wire());
                out.push(' ');
                out.push_str(&status_items(items));
            }
        }
        out
    }
}

fn push_pattern(out: &mut String, pattern: ListPattern<'_>) {
    match pattern {
        ListPattern::All => out.push_str("\"*\""),
        ListPattern::Exactly(name) => push_quoted(out, name.wire()),
    }
}

fn status_items(items: &[StatusItem]) -> String {
    let atoms: Vec<&str> = items.iter().map(|item| item.atom()).collect();
    format!("({})", atoms.join(" "))
}

/// Renders an RFC 3501 `quoted` string. The input is printable ASCII (a validated
/// wire form), so only `\` and `"` need escaping and CR/LF cannot occur.
fn push_quoted(out: &mut String, value: &str) {
    debug_assert!(value.chars().all(|c| (' '..='~').contains(&c)));
    out.push('"');
    for ch in value.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

/// Sends `command` with a fresh tag and returns the tag. The caller reads the
/// responses up to the tagged completion (see `session.rs`).
///
/// # Errors
/// I/O errors while writing.
#[expect(
    clippy::disallowed_methods,
    reason = "command.rs is the one place allowed to send command text"
)]
pub(crate) async fn send(
    session: &mut async_imap::Session<ImapStream>,
    command: &Command<'_>,
) -> Result<RequestId, ImapError> {
    session
        .run_command(command.render())
        .await
        .map_err(from_async_imap)
}

/// Sends `STARTTLS` on an unauthenticated connection and checks for OK.
///
/// # Errors
/// The server refused, or the connection failed.
#[expect(
    clippy::disallowed_methods,
    reason = "command.rs is the one place allowed to send command text"
)]
pub(crate) async fn starttls(client: &mut async_imap::Client<ImapStream>) -> Result<(), ImapError> {
    client
        .run_command_and_check_ok("STARTTLS", None)
        .await
        .map_err(from_async_imap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> MailboxName {
        MailboxName::try_from(s).unwrap()
    }

    #[test]
    fn known_answers_for_the_adversarial_corpus() {
        let cases = [
            ("a\"b", "SELECT \"a\\\"b\""),
            ("a\\b", "SELECT \"a\\\\b\""),
            ("{5}", "SELECT \"{5}\""),
            ("&", "SELECT \"&-\""),
            ("inbox", "SELECT \"INBOX\""),
            ("Entwürfe", "SELECT \"Entw&APw-rfe\""),
            ("📧 mail", "SELECT \"&2D3c5w- mail\""),
        ];
        for (input, want) in cases {
            assert_eq!(Command::Select(&name(input)).render(), want, "{input:?}");
        }
    }

    #[test]
    fn renders_every_command_shape() {
        let a = name("Projects/2026");
        let b = name("Archive");
        let items = [StatusItem::Messages, StatusItem::UidNext];
        assert_eq!(
            Command::Rename(&a, &b).render(),
            "RENAME \"Projects/2026\" \"Archive\""
        );
        assert_eq!(
            Command::Status(&b, &items).render(),
            "STATUS \"Archive\" (MESSAGES UIDNEXT)"
        );
        assert_eq!(
            Command::List(ListPattern::All, ListReturn::default()).render(),
            "LIST \"\" \"*\""
        );
        assert_eq!(
            Command::List(
                ListPattern::Exactly(&a),
                ListReturn {
                    subscribed: true,
                    special_use: true,
                    children: true,
                    status: &items
                }
            )
            .render(),
            "LIST \"\" \"Projects/2026\" RETURN (SUBSCRIBED SPECIAL-USE CHILDREN STATUS (MESSAGES UIDNEXT))"
        );
        assert_eq!(Command::Lsub(ListPattern::All).render(), "LSUB \"\" \"*\"");
        assert_eq!(Command::Unselect.render(), "UNSELECT");
    }
}
