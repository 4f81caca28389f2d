//! The only module that renders IMAP command text and hands it to the connection.
//!
//! Every argument that can carry user text arrives here as a validated type from
//! `types.rs` (a [`ServerMailbox`] is printable ASCII after modified UTF-7 encoding) and
//! is rendered as an RFC 3501 quoted string, escaping `\` and `"`. async-imap sends
//! most command arguments verbatim, so its formatting methods are disallowed in
//! `.clippy.toml`; this module alone is allowed to call `run_command`.

use std::fmt::Write as _;
use std::num::NonZeroU32;

use super::date::InternalDate;
use super::flag::Flag;
use super::search::SearchKey;
use super::types::{PartNumber, ServerMailbox};
use super::uid::UidSet;

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

/// A threading algorithm of RFC 5256 (and its REFS successor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    /// `REFERENCES`: by Message-ID references, then by base subject.
    References,
    /// `REFS`: by references only, threads ordered by their newest message.
    Refs,
}

impl ThreadAlgorithm {
    /// The algorithm's name, as in `THREAD=` capabilities and the command.
    pub fn atom(self) -> &'static str {
        match self {
            Self::References => "REFERENCES",
            Self::Refs => "REFS",
        }
    }
}

/// A SORT key (RFC 5256).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// `ARRIVAL`: INTERNALDATE.
    Arrival,
    /// `DATE`: the Date header (INTERNALDATE without one).
    Date,
    /// `FROM`: the first From address's mailbox part.
    From,
    /// `SUBJECT`: the base subject.
    Subject,
    /// `SIZE`: RFC822.SIZE.
    Size,
}

impl SortKey {
    fn atom(self) -> &'static str {
        match self {
            Self::Arrival => "ARRIVAL",
            Self::Date => "DATE",
            Self::From => "FROM",
            Self::Subject => "SUBJECT",
            Self::Size => "SIZE",
        }
    }
}

/// What a LIST command matches.
#[derive(Debug, Clone, Copy)]
pub enum ListPattern<'a> {
    /// `"*"`: every mailbox.
    All,
    /// `""`: no mailbox, only the hierarchy separator (RFC 3501 section 6.3.8).
    Separator,
    /// One mailbox by name. Wildcards in the name still match themselves, and the
    /// caller keeps only the exact name.
    Exactly(&'a ServerMailbox),
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

/// Which part of a message a FETCH returns (`BODY.PEEK[...]`, never setting `\Seen`
/// unless the caller asks for it separately).
#[derive(Debug, Clone, Copy)]
pub enum Section<'a> {
    /// `BODY.PEEK[]`: the whole message.
    Whole,
    /// `BODY.PEEK[HEADER]`
    Header,
    /// `BODY.PEEK[1.2]`: a part's body (encoded as sent).
    Part(&'a PartNumber),
    /// `BODY.PEEK[1.2.MIME]`: a part's MIME header.
    PartMime(&'a PartNumber),
}

/// A FETCH data item.
#[derive(Debug, Clone, Copy)]
pub enum FetchItem<'a> {
    /// `UID`
    Uid,
    /// `FLAGS`
    Flags,
    /// `INTERNALDATE`
    InternalDate,
    /// `RFC822.SIZE`
    Size,
    /// `BODYSTRUCTURE`
    BodyStructure,
    /// `MODSEQ` (CONDSTORE)
    ModSeq,
    /// `BODY.PEEK[section]<offset.length>`
    Body(Section<'a>, Option<(u64, u32)>),
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
    /// `FLAGS`
    Replace,
}

/// A command the gateway sends. Rendering is total: every value inside is valid.
#[derive(Debug, Clone, Copy)]
pub enum Command<'a> {
    /// `CAPABILITY`
    Capability,
    /// `ID` (RFC 2971) with the gateway's name and version.
    Id,
    /// `NOOP`
    Noop,
    /// `LOGOUT`
    Logout,
    /// `UNSELECT` (RFC 3691)
    Unselect,
    /// `SELECT mailbox`
    Select(&'a ServerMailbox),
    /// `EXAMINE mailbox`
    Examine(&'a ServerMailbox),
    /// `CREATE mailbox`
    Create(&'a ServerMailbox),
    /// `DELETE mailbox`
    Delete(&'a ServerMailbox),
    /// `RENAME from to`
    Rename(&'a ServerMailbox, &'a ServerMailbox),
    /// `SUBSCRIBE mailbox`
    Subscribe(&'a ServerMailbox),
    /// `UNSUBSCRIBE mailbox`
    Unsubscribe(&'a ServerMailbox),
    /// `LIST "" pattern [RETURN (...)]`
    List(ListPattern<'a>, ListReturn<'a>),
    /// `LSUB "" pattern`
    Lsub(ListPattern<'a>),
    /// `STATUS mailbox (items)`
    Status(&'a ServerMailbox, &'a [StatusItem]),
    /// `UID SEARCH [CHARSET UTF-8] keys` (`ALL` when empty)
    UidSearch(&'a [SearchKey]),
    /// `UID SEARCH RETURN (ALL) [CHARSET UTF-8] keys` (ESEARCH, RFC 4731): the
    /// matches as one sequence set, not one number each.
    UidSearchAll(&'a [SearchKey]),
    /// `UID SORT ([REVERSE] key) UTF-8 keys` (RFC 5256; `ALL` without keys).
    UidSort {
        /// What to sort by.
        key: SortKey,
        /// Descending.
        reverse: bool,
        /// Which messages.
        keys: &'a [SearchKey],
    },
    /// `UID THREAD algorithm UTF-8 ALL`, or only the messages of a UID set (RFC 5256).
    UidThread(ThreadAlgorithm, Option<&'a UidSet>),
    /// `FETCH first:last (items)` by sequence number: internal use only (the newest
    /// page is the last sequence numbers); results are always reported by UID.
    FetchSeq(NonZeroU32, NonZeroU32, &'a [FetchItem<'a>]),
    /// `UID FETCH set (items)`
    UidFetch(&'a UidSet, &'a [FetchItem<'a>]),
    /// `UID FETCH set (items) (CHANGEDSINCE modseq [VANISHED])` (RFC 7162): messages
    /// changed since `modseq`, and with QRESYNC enabled, those expunged since then.
    UidFetchChanged {
        /// Which messages.
        uids: &'a UidSet,
        /// Data items.
        items: &'a [FetchItem<'a>],
        /// Only messages with a higher mod-sequence.
        changed_since: u64,
        /// Also report expunged UIDs (`VANISHED (EARLIER)`).
        vanished: bool,
    },
    /// `ENABLE QRESYNC` (RFC 5161, RFC 7162).
    EnableQresync,
    /// `IDLE` (RFC 2177): ended by [`send_idle_done`].
    Idle,
    /// `UID STORE set [(UNCHANGEDSINCE n)] ±FLAGS.SILENT (flags)`
    UidStore {
        /// Which messages.
        uids: &'a UidSet,
        /// Add, remove or replace.
        mode: StoreMode,
        /// The flags.
        flags: &'a [Flag],
        /// CONDSTORE guard (RFC 7162).
        unchanged_since: Option<u64>,
    },
    /// `UID COPY set mailbox`
    UidCopy(&'a UidSet, &'a ServerMailbox),
    /// `UID MOVE set mailbox` (RFC 6851)
    UidMove(&'a UidSet, &'a ServerMailbox),
    /// `UID EXPUNGE set` (UIDPLUS): removes exactly these `\Deleted` messages.
    UidExpunge(&'a UidSet),
    /// `APPEND mailbox (flags) [date] literal`
    Append {
        /// Target mailbox.
        mailbox: &'a ServerMailbox,
        /// Initial flags.
        flags: &'a [Flag],
        /// INTERNALDATE.
        internal_date: Option<&'a InternalDate>,
        /// The RFC 5322 message.
        message: &'a [u8],
    },
}

/// A piece of a rendered command: text lines (sent with CRLF) and literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Command text up to a literal's `{n}`/`{n+}` or to the end of the command.
    Line(String),
    /// The bytes of a literal.
    Literal(&'a [u8]),
}

/// Builds chunks: text accumulates in `line`; a literal closes the line.
struct Writer<'a> {
    chunks: Vec<Chunk<'a>>,
    line: String,
    literal_plus: bool,
}

impl<'a> Writer<'a> {
    fn new(literal_plus: bool) -> Self {
        Self {
            chunks: Vec::new(),
            line: String::new(),
            literal_plus,
        }
    }

    fn push(&mut self, text: &str) {
        self.line.push_str(text);
    }

    fn literal(&mut self, bytes: &'a [u8]) {
        let marker = if self.literal_plus { "+" } else { "" };
        let _ = write!(self.line, "{{{}{marker}}}", bytes.len());
        self.chunks
            .push(Chunk::Line(std::mem::take(&mut self.line)));
        self.chunks.push(Chunk::Literal(bytes));
    }

    /// RFC 3501 `astring` for user text: quoted when it is ASCII TEXT-CHAR (escaping
    /// `\` and `"`), otherwise a literal (the caller announced `CHARSET UTF-8`).
    fn astring(&mut self, text: &'a str) {
        if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            push_quoted(&mut self.line, text);
        } else {
            self.literal(text.as_bytes());
        }
    }

    fn finish(mut self) -> Vec<Chunk<'a>> {
        self.chunks.push(Chunk::Line(self.line));
        self.chunks
    }
}

impl<'a> Command<'a> {
    /// The IMAP command name, a bounded label for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Capability => "CAPABILITY",
            Self::Noop => "NOOP",
            Self::Id => "ID",
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
            Self::UidSearch(_) | Self::UidSearchAll(_) => "UID SEARCH",
            Self::UidThread(..) => "UID THREAD",
            Self::UidSort { .. } => "UID SORT",
            Self::FetchSeq(..) => "FETCH",
            Self::UidFetch(..) | Self::UidFetchChanged { .. } => "UID FETCH",
            Self::EnableQresync => "ENABLE",
            Self::Idle => "IDLE",
            Self::UidStore { .. } => "UID STORE",
            Self::UidCopy(..) => "UID COPY",
            Self::UidMove(..) => "UID MOVE",
            Self::UidExpunge(_) => "UID EXPUNGE",
            Self::Append { .. } => "APPEND",
        }
    }

    /// Renders the command (without tag) into lines and literals. Literals are
    /// non-synchronizing (`{n+}`) when the server has LITERAL+; otherwise the
    /// sender waits for the continuation request before each literal.
    pub fn render(&self, literal_plus: bool) -> Vec<Chunk<'a>> {
        let mut w = Writer::new(literal_plus);
        w.push(self.name());
        match *self {
            Self::Capability | Self::Noop | Self::Logout | Self::Unselect | Self::Idle => {}
            Self::Id => {
                w.push(" ");
                w.push(&id_parameters(None));
            }
            Self::Select(name)
            | Self::Examine(name)
            | Self::Create(name)
            | Self::Delete(name)
            | Self::Subscribe(name)
            | Self::Unsubscribe(name) => {
                w.push(" ");
                w.astring(name.wire());
            }
            Self::Rename(from, to) => {
                w.push(" ");
                w.astring(from.wire());
                w.push(" ");
                w.astring(to.wire());
            }
            Self::List(pattern, returns) => {
                w.push(" \"\" ");
                push_pattern(&mut w, pattern);
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
                    let _ = write!(w.line, " RETURN ({})", options.join(" "));
                }
            }
            Self::Lsub(pattern) => {
                w.push(" \"\" ");
                push_pattern(&mut w, pattern);
            }
            Self::Status(name, items) => {
                w.push(" ");
                w.astring(name.wire());
                w.push(" ");
                w.push(&status_items(items));
            }
            Self::UidSort { key, reverse, keys } => {
                w.push(" (");
                if reverse {
                    w.push("REVERSE ");
                }
                w.push(key.atom());
                w.push(") UTF-8");
                if keys.is_empty() {
                    w.push(" ALL");
                }
                for key in keys {
                    w.push(" ");
                    push_search_key(&mut w, key);
                }
            }
            Self::UidThread(algorithm, uids) => {
                w.push(" ");
                w.push(algorithm.atom());
                w.push(" UTF-8 ");
                match uids {
                    Some(set) => {
                        w.push("UID ");
                        w.push(&set.to_string());
                    }
                    None => w.push("ALL"),
                }
            }
            Self::UidSearch(keys) | Self::UidSearchAll(keys) => {
                if matches!(self, Self::UidSearchAll(_)) {
                    w.push(" RETURN (ALL)");
                }
                if keys
                    .iter()
                    .filter_map(SearchKey::text)
                    .any(|t| !t.as_str().is_ascii())
                {
                    w.push(" CHARSET UTF-8");
                }
                if keys.is_empty() {
                    w.push(" ALL");
                }
                for key in keys {
                    w.push(" ");
                    push_search_key(&mut w, key);
                }
            }
            Self::FetchSeq(first, last, items) => {
                let _ = write!(w.line, " {first}:{last} ");
                push_fetch_items(&mut w.line, items);
            }
            Self::UidFetch(uids, items) => {
                let _ = write!(w.line, " {uids} ");
                push_fetch_items(&mut w.line, items);
            }
            Self::UidFetchChanged {
                uids,
                items,
                changed_since,
                vanished,
            } => {
                let _ = write!(w.line, " {uids} ");
                push_fetch_items(&mut w.line, items);
                let _ = write!(
                    w.line,
                    " (CHANGEDSINCE {changed_since}{})",
                    if vanished { " VANISHED" } else { "" }
                );
            }
            Self::EnableQresync => w.push(" QRESYNC"),
            Self::UidStore {
                uids,
                mode,
                flags,
                unchanged_since,
            } => {
                let _ = write!(w.line, " {uids}");
                if let Some(modseq) = unchanged_since {
                    let _ = write!(w.line, " (UNCHANGEDSINCE {modseq})");
                }
                let op = match mode {
                    StoreMode::Add => "+FLAGS",
                    StoreMode::Remove => "-FLAGS",
                    StoreMode::Replace => "FLAGS",
                };
                let _ = write!(w.line, " {op} ({})", flag_list(flags));
            }
            Self::UidCopy(uids, target) | Self::UidMove(uids, target) => {
                let _ = write!(w.line, " {uids} ");
                w.astring(target.wire());
            }
            Self::UidExpunge(uids) => {
                let _ = write!(w.line, " {uids}");
            }
            Self::Append {
                mailbox,
                flags,
                internal_date,
                message,
            } => {
                w.push(" ");
                w.astring(mailbox.wire());
                let _ = write!(w.line, " ({})", flag_list(flags));
                if let Some(date) = internal_date {
                    let _ = write!(w.line, " {date}");
                }
                w.push(" ");
                w.literal(message);
            }
        }
        w.finish()
    }

    /// The command as bytes on the wire (without tag), for tests and logs.
    pub fn to_wire(self, literal_plus: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in self.render(literal_plus) {
            match chunk {
                Chunk::Line(line) => {
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                Chunk::Literal(bytes) => out.extend_from_slice(bytes),
            }
        }
        out
    }
}

fn flag_list(flags: &[Flag]) -> String {
    flags
        .iter()
        .map(Flag::as_imap)
        .collect::<Vec<_>>()
        .join(" ")
}

fn push_fetch_items(out: &mut String, items: &[FetchItem<'_>]) {
    out.push('(');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match item {
            FetchItem::Uid => out.push_str("UID"),
            FetchItem::Flags => out.push_str("FLAGS"),
            FetchItem::InternalDate => out.push_str("INTERNALDATE"),
            FetchItem::Size => out.push_str("RFC822.SIZE"),
            FetchItem::BodyStructure => out.push_str("BODYSTRUCTURE"),
            FetchItem::ModSeq => out.push_str("MODSEQ"),
            FetchItem::Body(section, partial) => {
                out.push_str("BODY.PEEK[");
                match section {
                    Section::Whole => {}
                    Section::Header => out.push_str("HEADER"),
                    Section::Part(part) => {
                        let _ = write!(out, "{part}");
                    }
                    Section::PartMime(part) => {
                        let _ = write!(out, "{part}.MIME");
                    }
                }
                out.push(']');
                if let Some((offset, length)) = partial {
                    let _ = write!(out, "<{offset}.{length}>");
                }
            }
        }
    }
    out.push(')');
}

fn push_search_key<'a>(w: &mut Writer<'a>, key: &'a SearchKey) {
    let (atom, text) = match key {
        SearchKey::Seen => ("SEEN", None),
        SearchKey::Unseen => ("UNSEEN", None),
        SearchKey::Flagged => ("FLAGGED", None),
        SearchKey::Unflagged => ("UNFLAGGED", None),
        SearchKey::Answered => ("ANSWERED", None),
        SearchKey::Unanswered => ("UNANSWERED", None),
        SearchKey::Draft => ("DRAFT", None),
        SearchKey::Undraft => ("UNDRAFT", None),
        SearchKey::Deleted => ("DELETED", None),
        SearchKey::Undeleted => ("UNDELETED", None),
        SearchKey::Keyword(flag) => {
            match flag {
                Flag::Keyword(keyword) => {
                    let _ = write!(w.line, "KEYWORD {}", keyword.as_str());
                }
                Flag::Seen => w.push("SEEN"),
                Flag::Answered => w.push("ANSWERED"),
                Flag::Flagged => w.push("FLAGGED"),
                Flag::Deleted => w.push("DELETED"),
                Flag::Draft => w.push("DRAFT"),
            }
            return;
        }
        SearchKey::From(t) => ("FROM", Some(t)),
        SearchKey::To(t) => ("TO", Some(t)),
        SearchKey::Cc(t) => ("CC", Some(t)),
        SearchKey::Subject(t) => ("SUBJECT", Some(t)),
        SearchKey::Text(t) => ("TEXT", Some(t)),
        SearchKey::Body(t) => ("BODY", Some(t)),
        SearchKey::MessageId(t) => ("HEADER Message-ID", Some(t)),
        SearchKey::Since(date) => {
            let _ = write!(w.line, "SINCE {date}");
            return;
        }
        SearchKey::Before(date) => {
            let _ = write!(w.line, "BEFORE {date}");
            return;
        }
        SearchKey::Larger(n) => {
            let _ = write!(w.line, "LARGER {n}");
            return;
        }
        SearchKey::Smaller(n) => {
            let _ = write!(w.line, "SMALLER {n}");
            return;
        }
        SearchKey::Uid(set) => {
            let _ = write!(w.line, "UID {set}");
            return;
        }
        SearchKey::RepliesTo(ids) => {
            // `OR a OR b c`: every term but the last opens an OR.
            let terms: Vec<(&str, &super::search::SearchText)> = ids
                .iter()
                .flat_map(|id| [("HEADER In-Reply-To ", id), ("HEADER References ", id)])
                .collect();
            for (index, (header, id)) in terms.iter().enumerate() {
                if index + 1 < terms.len() {
                    w.push("OR ");
                }
                w.push(header);
                w.astring(id.as_str());
                if index + 1 < terms.len() {
                    w.push(" ");
                }
            }
            return;
        }
    };
    w.push(atom);
    if let Some(text) = text {
        w.push(" ");
        w.astring(text.as_str());
    }
}

fn push_pattern<'a>(w: &mut Writer<'a>, pattern: ListPattern<'a>) {
    match pattern {
        ListPattern::All => w.push("\"*\""),
        ListPattern::Separator => w.push("\"\""),
        ListPattern::Exactly(name) => w.astring(name.wire()),
    }
}

fn status_items(items: &[StatusItem]) -> String {
    let atoms: Vec<&str> = items.iter().map(|item| item.atom()).collect();
    format!("({})", atoms.join(" "))
}

/// Renders an RFC 3501 `quoted` string. The input is printable ASCII (a validated
/// wire form or checked search text), so only `\` and `"` need escaping and CR/LF
/// cannot occur.
/// Only [`Writer::astring`] calls this, after checking that `value` is printable
/// ASCII: anything else goes out as a literal, never inside quotes.
fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for ch in value.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

mod send;

pub use send::id_parameters;
pub(crate) use send::{
    authenticate_oauth2, identify, namespace_exchange, pre_login_capabilities, send_first_line,
    send_idle_done, send_literal, starttls,
};

/// The canonical text of a filter: its `UID SEARCH` as sent (with LITERAL+, so
/// literals are inline), which depends only on the criteria, never on how the
/// gateway's own types are named or printed. Cursors are bound to it.
pub fn search_criteria(keys: &[SearchKey]) -> String {
    String::from_utf8_lossy(&Command::UidSearch(keys).to_wire(true)).into_owned()
}

#[cfg(test)]
mod tests;
