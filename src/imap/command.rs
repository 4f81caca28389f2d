//! The only module that renders IMAP command text and hands it to the connection.
//!
//! Every argument that can carry user text arrives here as a validated type from
//! `types.rs` (a [`ServerMailbox`] is printable ASCII after modified UTF-7 encoding) and
//! is rendered as an RFC 3501 quoted string, escaping `\` and `"`. async-imap sends
//! most command arguments verbatim, so its formatting methods are disallowed in
//! `.clippy.toml`; this module alone is allowed to call `run_command`.

use std::fmt::Write as _;
use std::num::NonZeroU32;

use async_imap::imap_proto::RequestId;

use super::date::InternalDate;
use super::error::ImapError;
use super::flag::Flag;
use super::search::SearchKey;
use super::status::from_async_imap;
use super::types::{PartNumber, ServerMailbox};
use super::uid::UidSet;
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
            Self::UidSearch(_) => "UID SEARCH",
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
            Self::UidSearch(keys) => {
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

    /// The canonical text of a filter: its `UID SEARCH` as sent (with LITERAL+, so
    /// literals are inline), which depends only on the criteria, never on how the
    /// gateway's own types are named or printed. Cursors are bound to it.
    pub fn search_criteria(keys: &[SearchKey]) -> String {
        String::from_utf8_lossy(&Command::UidSearch(keys).to_wire(true)).into_owned()
    }

    /// The command as bytes on the wire (without tag), for tests and logs.
    pub fn to_wire(&self, literal_plus: bool) -> Vec<u8> {
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

/// Sends the first line of a command with a fresh tag (async-imap adds the tag and
/// CRLF) and returns the tag. The caller reads the responses (see `session.rs`).
///
/// # Errors
/// I/O errors while writing.
#[expect(
    clippy::disallowed_methods,
    reason = "command.rs is the one place allowed to send command text"
)]
pub(crate) async fn send_first_line(
    session: &mut async_imap::Session<ImapStream>,
    line: &str,
) -> Result<RequestId, ImapError> {
    session.run_command(line).await.map_err(from_async_imap)
}

/// Sends a literal's bytes and the command text after it (plus CRLF), straight to the
/// stream: literal bytes need not be UTF-8, which async-imap's `&str` commands require.
///
/// # Errors
/// I/O errors while writing.
pub(crate) async fn send_literal(
    session: &mut async_imap::Session<ImapStream>,
    literal: &[u8],
    rest: &str,
) -> Result<(), ImapError> {
    use tokio::io::AsyncWriteExt as _;
    let stream = session.get_mut();
    stream.write_all(literal).await?;
    stream.write_all(rest.as_bytes()).await?;
    stream.write_all(b"\r\n").await?;
    stream.flush().await?;
    Ok(())
}

/// Sends `DONE`, ending an IDLE (RFC 2177). It is a bare line, not a tagged command.
///
/// # Errors
/// I/O errors while writing.
pub(crate) async fn send_idle_done(
    session: &mut async_imap::Session<ImapStream>,
) -> Result<(), ImapError> {
    use tokio::io::AsyncWriteExt as _;
    let stream = session.get_mut();
    stream.write_all(b"DONE\r\n").await?;
    stream.flush().await?;
    Ok(())
}

/// Sends `NAMESPACE` (RFC 2342) and returns the untagged `* NAMESPACE` line, read
/// straight from the stream: imap-proto cannot parse that response, and one it cannot
/// parse stays in async-imap's buffer and fails every later read. Safe only when no
/// response is pending (right after a completed command), so the stream holds
/// nothing async-imap has not consumed. `None` when the server refused it.
///
/// # Errors
/// I/O errors, or a response that is not a line-based answer.
pub(crate) async fn namespace_exchange(
    session: &mut async_imap::Session<ImapStream>,
) -> Result<Option<String>, ImapError> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const TAG: &str = "gwns";
    let stream = session.get_mut();
    stream
        .write_all(format!("{TAG} NAMESPACE\r\n").as_bytes())
        .await?;
    stream.flush().await?;
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(ImapError::ConnectionLost);
        }
        received.extend_from_slice(&chunk[..n]);
        if received.len() > 64 * 1024 {
            return Err(ImapError::Protocol("NAMESPACE answer too long".to_owned()));
        }
        let text = String::from_utf8_lossy(&received);
        let Some(done) = text
            .split("\r\n")
            .find(|line| line.starts_with(&format!("{TAG} ")))
        else {
            continue;
        };
        if !text.ends_with("\r\n") {
            continue;
        }
        let ok = done[TAG.len() + 1..]
            .get(..2)
            .is_some_and(|s| s.eq_ignore_ascii_case("OK"));
        let line = text
            .split("\r\n")
            .find(|line| {
                line.get(..12)
                    .is_some_and(|head| head.eq_ignore_ascii_case("* NAMESPACE "))
            })
            .map(str::to_owned);
        return Ok(if ok { line } else { None });
    }
}

/// The `ID` parameter list (RFC 2971) the gateway identifies itself with, plus the
/// HTTP client's address as `x-originating-ip` when given. No user text: the name and
/// version are constants, an address prints as digits, dots and colons.
pub fn id_parameters(client_ip: Option<std::net::IpAddr>) -> String {
    let mut line = format!(
        "(\"name\" \"imap-gateway\" \"version\" \"{}\"",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(ip) = client_ip {
        let _ = write!(line, " \"x-originating-ip\" \"{ip}\"");
    }
    line.push(')');
    line
}

/// Sends `ID` (RFC 2971) on a connection before LOGIN and checks for OK.
///
/// # Errors
/// The server refused, or the connection failed.
#[expect(
    clippy::disallowed_methods,
    reason = "command.rs is the one place allowed to send command text"
)]
pub(crate) async fn identify(
    client: &mut async_imap::Client<ImapStream>,
    client_ip: Option<std::net::IpAddr>,
) -> Result<(), ImapError> {
    client
        .run_command_and_check_ok(&format!("ID {}", id_parameters(client_ip)), None)
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
    use crate::imap::search::{SearchDate, SearchText};
    use crate::imap::uid::Uid;

    fn name(s: &str) -> ServerMailbox {
        let name = crate::imap::MailboxName::try_from(s).unwrap();
        crate::imap::profile::Naming::default()
            .to_server(&name)
            .unwrap()
    }

    fn wire(command: &Command<'_>, literal_plus: bool) -> String {
        String::from_utf8(command.to_wire(literal_plus)).unwrap()
    }

    #[test]
    fn known_answers_for_the_adversarial_corpus() {
        let cases = [
            ("a\"b", "SELECT \"a\\\"b\"\r\n"),
            ("a\\b", "SELECT \"a\\\\b\"\r\n"),
            ("{5}", "SELECT \"{5}\"\r\n"),
            ("&", "SELECT \"&-\"\r\n"),
            ("inbox", "SELECT \"INBOX\"\r\n"),
            ("Entwürfe", "SELECT \"Entw&APw-rfe\"\r\n"),
            ("📧 mail", "SELECT \"&2D3c5w- mail\"\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(
                wire(&Command::Select(&name(input)), true),
                want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn renders_mailbox_commands() {
        let a = name("Projects/2026");
        let b = name("Archive");
        let items = [StatusItem::Messages, StatusItem::UidNext];
        assert_eq!(
            wire(&Command::Rename(&a, &b), true),
            "RENAME \"Projects/2026\" \"Archive\"\r\n"
        );
        assert_eq!(
            wire(&Command::Status(&b, &items), true),
            "STATUS \"Archive\" (MESSAGES UIDNEXT)\r\n"
        );
        assert_eq!(
            wire(
                &Command::List(ListPattern::All, ListReturn::default()),
                true
            ),
            "LIST \"\" \"*\"\r\n"
        );
        let returns = ListReturn {
            subscribed: true,
            special_use: true,
            children: true,
            status: &items,
        };
        assert_eq!(
            wire(&Command::List(ListPattern::Exactly(&a), returns), true),
            "LIST \"\" \"Projects/2026\" RETURN (SUBSCRIBED SPECIAL-USE CHILDREN STATUS (MESSAGES UIDNEXT))\r\n"
        );
        assert_eq!(
            wire(&Command::Lsub(ListPattern::All), true),
            "LSUB \"\" \"*\"\r\n"
        );
        assert_eq!(wire(&Command::Unselect, true), "UNSELECT\r\n");
    }

    fn text(s: &str) -> SearchText {
        SearchText::new("q", s).unwrap()
    }

    #[test]
    fn search_text_is_quoted_or_a_literal_never_syntax() {
        let ascii = [SearchKey::Subject(text("a\"b\\c {5}")), SearchKey::Unseen];
        assert_eq!(
            wire(&Command::UidSearch(&ascii), true),
            "UID SEARCH SUBJECT \"a\\\"b\\\\c {5}\" UNSEEN\r\n"
        );
        let injection = [SearchKey::From(text("x\" DELETE INBOX \""))];
        assert_eq!(
            wire(&Command::UidSearch(&injection), true),
            "UID SEARCH FROM \"x\\\" DELETE INBOX \\\"\"\r\n"
        );
        let utf8 = [
            SearchKey::Subject(text("Grüße")),
            SearchKey::From(text("ada")),
        ];
        assert_eq!(
            wire(&Command::UidSearch(&utf8), true),
            "UID SEARCH CHARSET UTF-8 SUBJECT {7+}\r\nGrüße FROM \"ada\"\r\n"
        );
        let chunks = Command::UidSearch(&utf8).render(false);
        assert_eq!(
            chunks[0],
            Chunk::Line("UID SEARCH CHARSET UTF-8 SUBJECT {7}".into())
        );
        assert_eq!(chunks[1], Chunk::Literal("Grüße".as_bytes()));
        assert_eq!(chunks[2], Chunk::Line(" FROM \"ada\"".into()));
        assert_eq!(wire(&Command::UidSearch(&[]), true), "UID SEARCH ALL\r\n");
        let dated = [
            SearchKey::Since(SearchDate::parse("since", "2026-01-02").unwrap()),
            SearchKey::Larger(100),
            SearchKey::Keyword(Flag::try_from("$Work").unwrap()),
            SearchKey::Uid(UidSet::range(1, 10).unwrap()),
        ];
        assert_eq!(
            wire(&Command::UidSearch(&dated), true),
            "UID SEARCH SINCE 2-Jan-2026 LARGER 100 KEYWORD $Work UID 1:10\r\n"
        );
    }

    #[test]
    fn renders_message_commands() {
        let uids =
            UidSet::from_uids([Uid::try_from(3).unwrap(), Uid::try_from(4).unwrap()]).unwrap();
        let part = PartNumber::try_from("2.1").unwrap();
        let items = [
            FetchItem::Uid,
            FetchItem::Flags,
            FetchItem::Body(Section::PartMime(&part), None),
            FetchItem::Body(Section::Part(&part), Some((0, 1024))),
        ];
        assert_eq!(
            wire(&Command::UidFetch(&uids, &items), true),
            "UID FETCH 3:4 (UID FLAGS BODY.PEEK[2.1.MIME] BODY.PEEK[2.1]<0.1024>)\r\n"
        );
        assert_eq!(
            wire(
                &Command::FetchSeq(
                    NonZeroU32::new(5).unwrap(),
                    NonZeroU32::new(9).unwrap(),
                    &[FetchItem::Uid]
                ),
                true
            ),
            "FETCH 5:9 (UID)\r\n"
        );
        let flags = [Flag::Seen, Flag::try_from("$Label1").unwrap()];
        let store = Command::UidStore {
            uids: &uids,
            mode: StoreMode::Add,
            flags: &flags,
            unchanged_since: Some(42),
        };
        assert_eq!(
            wire(&store, true),
            "UID STORE 3:4 (UNCHANGEDSINCE 42) +FLAGS (\\Seen $Label1)\r\n"
        );
        let trash = name("Trash");
        assert_eq!(
            wire(&Command::UidMove(&uids, &trash), true),
            "UID MOVE 3:4 \"Trash\"\r\n"
        );
        assert_eq!(
            wire(&Command::UidExpunge(&uids), true),
            "UID EXPUNGE 3:4\r\n"
        );
        let date = InternalDate::parse_rfc3339("d", "2026-11-26T09:30:00Z").unwrap();
        let append = Command::Append {
            mailbox: &trash,
            flags: &[Flag::Seen],
            internal_date: Some(&date),
            message: b"Subject: x\r\n\r\nhi\r\n",
        };
        assert_eq!(
            wire(&append, true),
            "APPEND \"Trash\" (\\Seen) \"26-Nov-2026 09:30:00 +0000\" {18+}\r\nSubject: x\r\n\r\nhi\r\n\r\n"
        );
        assert_eq!(
            wire(&append, false),
            "APPEND \"Trash\" (\\Seen) \"26-Nov-2026 09:30:00 +0000\" {18}\r\nSubject: x\r\n\r\nhi\r\n\r\n"
        );
    }

    #[test]
    fn id_identifies_the_gateway_and_optionally_the_client() {
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            Command::Id.to_wire(false),
            format!("ID (\"name\" \"imap-gateway\" \"version\" \"{version}\")\r\n").into_bytes()
        );
        assert_eq!(
            id_parameters(Some("203.0.113.9".parse().unwrap())),
            format!("(\"name\" \"imap-gateway\" \"version\" \"{version}\" \"x-originating-ip\" \"203.0.113.9\")")
        );
        assert!(id_parameters(Some("2001:db8::1".parse().unwrap()))
            .ends_with("\"x-originating-ip\" \"2001:db8::1\")"));
    }

    #[test]
    fn a_filter_has_one_canonical_text() {
        use crate::imap::search::SearchText;
        let keys = [
            SearchKey::Unseen,
            SearchKey::Subject(SearchText::new("subject", "Grüße \"x\"").unwrap()),
        ];
        assert_eq!(
            Command::search_criteria(&keys),
            "UID SEARCH CHARSET UTF-8 UNSEEN SUBJECT {11+}\r\nGrüße \"x\"\r\n"
        );
        assert_ne!(
            Command::search_criteria(&keys[..1]),
            Command::search_criteria(&keys)
        );
    }
}
