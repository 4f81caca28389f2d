//! Mailboxes as LIST and STATUS describe them, in API terms: names translated by the
//! session's [`Naming`], special-use roles (from SPECIAL-USE, or guessed from
//! well-known names), subscription, counters.

use async_imap::imap_proto::{NameAttribute, StatusAttribute};

use super::error::ImapError;
use super::profile::Naming;
use super::types::{MailboxName, ServerMailbox};

/// The special-use role of a mailbox (RFC 6154).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialUse {
    /// `\All`
    All,
    /// `\Archive`
    Archive,
    /// `\Drafts`
    Drafts,
    /// `\Flagged`
    Flagged,
    /// `\Junk`
    Junk,
    /// `\Sent`
    Sent,
    /// `\Trash`
    Trash,
}

/// Counters from STATUS (absent items stay `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxCounters {
    /// Number of messages.
    pub messages: Option<u32>,
    /// Number of messages without `\Seen`.
    pub unseen: Option<u32>,
    /// The UID the next message will get.
    pub uid_next: Option<u32>,
    /// The UIDVALIDITY of the mailbox.
    pub uid_validity: Option<u32>,
    /// The highest mod-sequence (CONDSTORE servers only).
    pub highest_modseq: Option<u64>,
}

/// One mailbox as LIST (and STATUS) describe it.
#[derive(Debug, Clone)]
pub struct MailboxInfo {
    /// Full API name (relative to the personal namespace, `/` between levels).
    pub name: MailboxName,
    /// The API's hierarchy delimiter (`/`), `None` when the server has no hierarchy.
    pub delimiter: Option<String>,
    /// The server's own full name, decoded from modified UTF-7 (`INBOX.Sent`).
    pub imap_name: String,
    /// The server's hierarchy delimiter (`/` or `.`).
    pub imap_delimiter: Option<String>,
    /// The server's name on the wire (for matching LSUB and STATUS answers).
    pub(crate) server_name: ServerMailbox,
    /// Special-use role, from the server or, when it lacks SPECIAL-USE, from well-known names.
    pub special_use: Option<SpecialUse>,
    /// Whether the user is subscribed.
    pub subscribed: bool,
    /// False for `\Noselect` / `\NonExistent` placeholders.
    pub selectable: bool,
    /// From `\HasChildren` / `\HasNoChildren`, when the server says.
    pub has_children: Option<bool>,
    /// Counters, when asked for and the mailbox is selectable.
    pub counters: Option<MailboxCounters>,
}

impl MailboxInfo {
    /// A selectable mailbox with no attributes, as `naming`'s server would list `name`.
    ///
    /// # Errors
    /// [`ImapError::NotRepresentable`] when that server cannot hold the name.
    pub fn new(naming: &Naming, name: MailboxName) -> Result<Self, ImapError> {
        let server_name = naming.to_server(&name)?;
        let imap_delimiter = naming.delimiter().map(String::from);
        Ok(Self {
            delimiter: imap_delimiter.as_ref().map(|_| "/".to_owned()),
            imap_name: super::utf7::decode(server_name.wire())
                .unwrap_or_else(|| server_name.wire().to_owned()),
            imap_delimiter,
            server_name,
            name,
            special_use: None,
            subscribed: false,
            selectable: true,
            has_children: None,
            counters: None,
        })
    }
}

/// A LIST entry as the API shows it; `None` when it lies outside the personal
/// namespace or cannot be named with `/` levels.
pub(crate) fn mailbox_from_list(
    naming: &Naming,
    wire: &str,
    delimiter: Option<&str>,
    attributes: &[NameAttribute<'_>],
) -> Option<MailboxInfo> {
    let wire = unescape_quoted(wire);
    // The name may be sent back (STATUS of each listed mailbox): only printable ASCII
    // can be, as a quoted string. Modified UTF-7 names always are; a server that lists
    // anything else (8-bit or control characters) gets that entry left out.
    if !wire.chars().all(|c| (' '..='~').contains(&c)) {
        tracing::debug!("LIST entry that is not printable ASCII, not listed");
        return None;
    }
    let Some(name) = naming.to_api(&wire) else {
        tracing::debug!("LIST entry outside the personal namespace, not listed");
        return None;
    };
    let mut info = MailboxInfo {
        name,
        delimiter: delimiter.map(|_| "/".to_owned()),
        imap_name: super::utf7::decode(&wire).unwrap_or_else(|| wire.clone()),
        imap_delimiter: delimiter.map(str::to_owned),
        server_name: ServerMailbox::new(wire),
        special_use: None,
        subscribed: false,
        selectable: true,
        has_children: None,
        counters: None,
    };
    for attribute in attributes {
        match attribute {
            NameAttribute::NoSelect => info.selectable = false,
            NameAttribute::All => info.special_use = Some(SpecialUse::All),
            NameAttribute::Archive => info.special_use = Some(SpecialUse::Archive),
            NameAttribute::Drafts => info.special_use = Some(SpecialUse::Drafts),
            NameAttribute::Flagged => info.special_use = Some(SpecialUse::Flagged),
            NameAttribute::Junk => info.special_use = Some(SpecialUse::Junk),
            NameAttribute::Sent => info.special_use = Some(SpecialUse::Sent),
            NameAttribute::Trash => info.special_use = Some(SpecialUse::Trash),
            NameAttribute::Extension(ext) => match ext.to_ascii_lowercase().as_str() {
                "\\subscribed" => info.subscribed = true,
                "\\haschildren" => info.has_children = Some(true),
                "\\hasnochildren" => info.has_children = Some(false),
                "\\nonexistent" => info.selectable = false,
                _ => {}
            },
            _ => {}
        }
    }
    Some(info)
}

/// For servers without SPECIAL-USE: the names mail clients conventionally use.
pub fn guess_special_use(name: &MailboxName) -> Option<SpecialUse> {
    let full = name.as_str();
    let leaf = full.strip_prefix("INBOX/").unwrap_or(full).to_lowercase();
    match leaf.as_str() {
        "sent" | "sent items" | "sent messages" | "sent mail" => Some(SpecialUse::Sent),
        "trash" | "deleted items" | "deleted messages" | "bin" => Some(SpecialUse::Trash),
        "drafts" => Some(SpecialUse::Drafts),
        "junk" | "spam" | "junk e-mail" => Some(SpecialUse::Junk),
        "archive" | "archives" => Some(SpecialUse::Archive),
        _ => None,
    }
}

/// imap-proto 0.17 returns a quoted mailbox name with its escapes still in place
/// (`"a\\"b"` comes back as `a\\"b`). Undo them. (A server could in theory send a
/// *literal* containing a backslash-quote pair, which this would mangle; servers send
/// literals only for 8-bit names, and modified UTF-7 names are 7-bit.)
pub(crate) fn unescape_quoted(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
                continue;
            }
        }
        out.push(ch);
    }
    out
}

pub(crate) fn counters_from(status: &[StatusAttribute]) -> MailboxCounters {
    let mut counters = MailboxCounters::default();
    for item in status {
        match item {
            StatusAttribute::Messages(n) => counters.messages = Some(*n),
            StatusAttribute::Unseen(n) => counters.unseen = Some(*n),
            StatusAttribute::UidNext(n) => counters.uid_next = Some(*n),
            StatusAttribute::UidValidity(n) => counters.uid_validity = Some(*n),
            StatusAttribute::HighestModSeq(n) => counters.highest_modseq = Some(*n),
            _ => {}
        }
    }
    counters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_attributes_translate() {
        let attrs = vec![
            NameAttribute::Extension("\\Subscribed".into()),
            NameAttribute::Extension("\\HasNoChildren".into()),
            NameAttribute::Sent,
        ];
        let naming = Naming::default();
        let info = mailbox_from_list(&naming, "Sent", Some("/"), &attrs).unwrap();
        assert!(info.subscribed);
        assert_eq!(info.has_children, Some(false));
        assert_eq!(info.special_use, Some(SpecialUse::Sent));
        assert!(info.selectable);
        let placeholder =
            mailbox_from_list(&naming, "Projects", Some("/"), &[NameAttribute::NoSelect]).unwrap();
        assert!(!placeholder.selectable);
        let dotted = Naming::new("INBOX.", Some('.'));
        let cyrus = mailbox_from_list(&dotted, "INBOX.Projects.2026", Some("."), &[]).unwrap();
        assert_eq!(cyrus.name.as_str(), "Projects/2026");
        assert_eq!(cyrus.imap_name, "INBOX.Projects.2026");
        assert_eq!(cyrus.delimiter.as_deref(), Some("/"));
        assert_eq!(cyrus.imap_delimiter.as_deref(), Some("."));
        assert!(mailbox_from_list(&dotted, "user.bob", Some("."), &[]).is_none());
        assert!(mailbox_from_list(&naming, "a\r\nb", Some("/"), &[]).is_none());
    }

    #[test]
    fn unescapes_quoted_names() {
        assert_eq!(
            unescape_quoted(r#"a&-b \"quoted\" \\ {5}"#),
            r#"a&-b "quoted" \ {5}"#
        );
        assert_eq!(unescape_quoted("plain"), "plain");
    }

    #[test]
    fn guesses_roles_by_name_only_as_a_fallback() {
        let trash = MailboxName::try_from("INBOX/Trash").unwrap();
        assert_eq!(guess_special_use(&trash), Some(SpecialUse::Trash));
        let other = MailboxName::try_from("Projects/Trash talk").unwrap();
        assert_eq!(guess_special_use(&other), None);
    }
}
