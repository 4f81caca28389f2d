//! Mailbox DTOs and their translation from [`crate::imap::MailboxInfo`].

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::imap::{MailboxCounters, MailboxInfo, SpecialUse};

/// What a mailbox is for: `inbox`, or its RFC 6154 special use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailboxRole {
    /// The user's INBOX.
    Inbox,
    /// `\All`: a virtual mailbox with every message.
    All,
    /// `\Archive`
    Archive,
    /// `\Drafts`
    Drafts,
    /// `\Flagged`: a virtual mailbox with flagged messages.
    Flagged,
    /// `\Junk`
    Junk,
    /// `\Sent`
    Sent,
    /// `\Trash`
    Trash,
}

impl From<SpecialUse> for MailboxRole {
    fn from(use_: SpecialUse) -> Self {
        match use_ {
            SpecialUse::All => Self::All,
            SpecialUse::Archive => Self::Archive,
            SpecialUse::Drafts => Self::Drafts,
            SpecialUse::Flagged => Self::Flagged,
            SpecialUse::Junk => Self::Junk,
            SpecialUse::Sent => Self::Sent,
            SpecialUse::Trash => Self::Trash,
        }
    }
}

/// Mailbox counters from STATUS. A value is `null` only when the server did not report it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MailboxStatus {
    /// Number of messages.
    pub messages: Option<u32>,
    /// Number of messages without `\Seen`.
    pub unseen: Option<u32>,
    /// The UID the next message will get.
    pub uid_next: Option<u32>,
    /// UIDVALIDITY: UIDs are only meaningful together with this value.
    pub uid_validity: Option<u32>,
    /// Highest mod-sequence (servers with CONDSTORE; omitted otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highest_modseq: Option<u64>,
    /// State token for `/changes?since=` (servers with CONDSTORE and QRESYNC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl From<MailboxCounters> for MailboxStatus {
    fn from(c: MailboxCounters) -> Self {
        Self {
            messages: c.messages,
            unseen: c.unseen,
            uid_next: c.uid_next,
            uid_validity: c.uid_validity,
            highest_modseq: c.highest_modseq,
            state: None,
        }
    }
}

/// A mailbox (folder).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Mailbox {
    /// Full UTF-8 name, e.g. `Projects/2026`. Percent-encode it in URL paths.
    #[schema(example = "Projects/2026")]
    pub name: String,
    /// Hierarchy delimiter of `name`: always `/` (whatever the server uses), `null`
    /// when the server has no hierarchy.
    #[schema(example = "/")]
    pub delimiter: Option<String>,
    /// The IMAP server's own full name for this mailbox, decoded to UTF-8: the
    /// personal namespace prefix and the server's separator included
    /// (`INBOX.Projects.2026` on Cyrus and Courier, `Projects/2026` on Dovecot).
    #[schema(example = "INBOX.Projects.2026")]
    pub imap_name: String,
    /// The IMAP server's hierarchy separator (`/` or `.`).
    #[schema(example = ".")]
    pub imap_delimiter: Option<String>,
    /// Full name of the parent mailbox, `null` at the top level.
    #[schema(example = "Projects")]
    pub parent: Option<String>,
    /// Role, when the mailbox has one.
    pub role: Option<MailboxRole>,
    /// Whether the user is subscribed to it.
    pub subscribed: bool,
    /// False for placeholders that only hold children (`\Noselect`).
    pub selectable: bool,
    /// Whether it has child mailboxes, when the server says.
    pub has_children: Option<bool>,
    /// Counters (omitted for non-selectable mailboxes and when `status=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<MailboxStatus>,
}

impl From<MailboxInfo> for Mailbox {
    fn from(info: MailboxInfo) -> Self {
        let name = info.name.as_str().to_owned();
        let parent = info
            .delimiter
            .as_deref()
            .filter(|d| !d.is_empty())
            .and_then(|d| name.rsplit_once(d))
            .map(|(parent, _)| parent.to_owned())
            .filter(|p| !p.is_empty());
        let role = if info.name.is_inbox() {
            Some(MailboxRole::Inbox)
        } else {
            info.special_use.map(MailboxRole::from)
        };
        Self {
            name,
            delimiter: info.delimiter,
            imap_name: info.imap_name,
            imap_delimiter: info.imap_delimiter,
            parent,
            role,
            subscribed: info.subscribed,
            selectable: info.selectable,
            has_children: info.has_children,
            status: info.counters.map(MailboxStatus::from),
        }
    }
}

/// `GET /v1/mailboxes` answer: every mailbox, INBOX first, then by name. The
/// hierarchy is given by `parent`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MailboxList {
    /// The mailboxes.
    pub items: Vec<Mailbox>,
    /// How many there are.
    pub total: usize,
    /// The namespaces the IMAP server announced (RFC 2342). `items` holds the
    /// personal namespace's mailboxes; other users' and shared mailboxes are not
    /// listed or reachable through this API yet, and appear here so that a client
    /// knows they exist. Empty when the server has no NAMESPACE.
    pub namespaces: Vec<NamespaceInfo>,
}

/// Which kind of namespace (RFC 2342).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NamespaceKind {
    /// The user's own mailboxes.
    Personal,
    /// Other users' mailboxes shared with this user.
    OtherUsers,
    /// Shared mailboxes.
    Shared,
}

/// One namespace the IMAP server announced.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NamespaceInfo {
    /// Which kind.
    pub kind: NamespaceKind,
    /// The server's prefix for it, decoded to UTF-8 (`INBOX.`, `user.`, `#shared.`).
    #[schema(example = "#shared.")]
    pub imap_prefix: String,
    /// The server's hierarchy separator in it.
    #[schema(example = ".")]
    pub imap_delimiter: Option<String>,
    /// Whether its mailboxes are in `items` (the served personal namespace only).
    pub listed: bool,
}

impl NamespaceInfo {
    /// The announced namespaces, personal first; the first personal one is listed.
    pub fn all(namespaces: &crate::imap::namespace::Namespaces) -> Vec<Self> {
        let kinds = [
            (NamespaceKind::Personal, &namespaces.personal),
            (NamespaceKind::OtherUsers, &namespaces.other_users),
            (NamespaceKind::Shared, &namespaces.shared),
        ];
        kinds
            .into_iter()
            .flat_map(|(kind, list)| {
                list.iter().enumerate().map(move |(i, ns)| Self {
                    kind,
                    imap_prefix: crate::imap::utf7::decode(&ns.prefix)
                        .unwrap_or_else(|| ns.prefix.clone()),
                    imap_delimiter: ns.delimiter.map(String::from),
                    listed: kind == NamespaceKind::Personal && i == 0,
                })
            })
            .collect()
    }
}

/// Query parameters of `GET /v1/mailboxes`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMailboxesQuery {
    /// Include counters (one LIST-STATUS round trip where supported). Default true.
    pub status: Option<bool>,
    /// Only subscribed mailboxes. Default false.
    pub subscribed: Option<bool>,
}

/// `POST /v1/mailboxes` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMailboxRequest {
    /// Full UTF-8 name; use the delimiter for nesting (`Projects/2026`). At most
    /// 512 bytes; no control characters, LIST wildcards (`*`, `%`) or invisible
    /// format characters.
    #[schema(example = "Projects/2026")]
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f*%\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]+$"
    )]
    pub name: String,
    /// Subscribe to it too. Default true.
    #[serde(default = "default_true")]
    pub subscribe: bool,
}

fn default_true() -> bool {
    true
}

/// `PATCH /v1/mailboxes/{mailbox}` body: rename and/or (un)subscribe.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMailboxRequest {
    /// New full name (RENAME; children move along), by the rules of a new name.
    #[schema(example = "Archive/2026")]
    #[schema(
        pattern = r"^[^\u0000-\u001f\u007f-\u009f*%\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]+$"
    )]
    pub name: Option<String>,
    /// Subscribe (true) or unsubscribe (false).
    pub subscribed: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::profile::Naming;
    use crate::imap::MailboxName;

    fn info(name: &str, delimiter: Option<&str>) -> MailboxInfo {
        let naming = Naming::new("", delimiter.and_then(|d| d.chars().next()));
        MailboxInfo::new(&naming, MailboxName::try_from(name).unwrap()).unwrap()
    }

    #[test]
    fn parent_and_role() {
        let nested = Mailbox::from(info("Projects/2026", Some("/")));
        assert_eq!(nested.parent.as_deref(), Some("Projects"));
        assert_eq!(Mailbox::from(info("Projects", Some("/"))).parent, None);
        assert_eq!(Mailbox::from(info("a.b", None)).parent, None);
        assert_eq!(
            Mailbox::from(info("inbox", Some("/"))).role,
            Some(MailboxRole::Inbox)
        );
        let mut sent = info("Sent", Some("/"));
        sent.special_use = Some(SpecialUse::Sent);
        let json = serde_json::to_value(Mailbox::from(sent)).unwrap();
        assert_eq!(json["role"], "sent");
        assert!(json.get("status").is_none());
    }
}
