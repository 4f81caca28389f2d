//! Message DTOs and their translation from FETCH results.
//!
//! Envelope fields come from the message header parsed with mail-parser, which
//! decodes RFC 2047 words and charsets; structure (part numbers, sizes, attachments)
//! comes from the server's BODYSTRUCTURE.

use mail_parser::{Address, HeaderName, MessageParser, MimeHeaders as _};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::imap::mime::MimePart;
use crate::imap::search::{SearchDate, SearchKey, SearchText};
use crate::imap::session::{FetchedMessage, SectionKind};
use crate::imap::{Flag, UidSet, ValidationError};

/// A mailbox address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EmailAddress {
    /// Display name, decoded.
    pub name: Option<String>,
    /// `local@domain`.
    pub address: Option<String>,
}

/// The envelope of a message, decoded.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Envelope {
    /// The Date header, RFC 3339.
    pub date: Option<String>,
    /// The subject, RFC 2047-decoded.
    pub subject: Option<String>,
    /// From.
    pub from: Vec<EmailAddress>,
    /// Sender.
    pub sender: Vec<EmailAddress>,
    /// Reply-To.
    pub reply_to: Vec<EmailAddress>,
    /// To.
    pub to: Vec<EmailAddress>,
    /// Cc.
    pub cc: Vec<EmailAddress>,
    /// Bcc.
    pub bcc: Vec<EmailAddress>,
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To message ids.
    pub in_reply_to: Vec<String>,
}

/// A message in a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageSummary {
    /// The UID (valid together with `uid_validity`).
    pub uid: u32,
    /// The mailbox's UIDVALIDITY.
    pub uid_validity: u32,
    /// System flags (`\Seen`, ...) and keywords.
    pub flags: Vec<String>,
    /// INTERNALDATE, RFC 3339.
    pub internal_date: Option<String>,
    /// Size in bytes (RFC822.SIZE).
    pub size: u32,
    /// Mod-sequence (servers with CONDSTORE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modseq: Option<u64>,
    /// Decoded envelope.
    pub envelope: Envelope,
    /// Whether BODYSTRUCTURE shows attachments.
    pub has_attachments: bool,
}

/// An attachment (or inline part) of a message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    /// IMAP part number, for `/attachments/{part}`.
    #[schema(example = "2")]
    pub part: String,
    /// File name, decoded (RFC 2231 / RFC 2047).
    pub filename: Option<String>,
    /// Lower-case media type.
    #[schema(example = "application/pdf")]
    pub content_type: String,
    /// Encoded size in bytes as stored (base64 is about 4/3 of the decoded size).
    pub size: u32,
    /// `attachment` or `inline`, when given.
    pub disposition: Option<String>,
    /// Content-ID without angle brackets (for `cid:` references in HTML).
    pub content_id: Option<String>,
}

/// A header field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HeaderField {
    /// Field name as sent.
    pub name: String,
    /// Value, unfolded, as sent.
    pub value: String,
}

/// A message read in full.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// The summary fields.
    #[serde(flatten)]
    pub summary: MessageSummary,
    /// All header fields, in order.
    pub headers: Vec<HeaderField>,
    /// The plain-text body, decoded to UTF-8.
    pub text: Option<String>,
    /// The HTML body, decoded to UTF-8: sanitised for rendering unless `html=raw`
    /// was asked for.
    pub html: Option<String>,
    /// Remote images the sanitiser removed (ask again with `remote_images=true` to
    /// keep them); 0 for `html=raw`.
    pub remote_images_blocked: u32,
    /// Attachments and inline parts.
    pub attachments: Vec<Attachment>,
}

/// A page of messages, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageList {
    /// The messages.
    pub items: Vec<MessageSummary>,
    /// How many messages match (the whole mailbox without filters).
    pub total: u32,
    /// Opaque cursor for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// The mailbox's UIDVALIDITY.
    pub uid_validity: u32,
    /// The mailbox's state before this page was read (servers with CONDSTORE and
    /// QRESYNC): pass it to `/changes?since=` to hear about everything after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// Filters and paging of `GET /v1/mailboxes/{mailbox}/messages`.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMessagesQuery {
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only messages without (true) or with (false) `\Seen`.
    pub unseen: Option<bool>,
    /// Only messages with (true) or without (false) `\Seen`.
    pub seen: Option<bool>,
    /// `\Flagged` (true) or not (false).
    pub flagged: Option<bool>,
    /// `\Answered` (true) or not (false).
    pub answered: Option<bool>,
    /// `\Draft` (true) or not (false).
    pub draft: Option<bool>,
    /// `\Deleted` (true) or not (false).
    pub deleted: Option<bool>,
    /// Has this flag (a keyword, or a system flag such as `\Seen`).
    #[param(value_type = Option<FlagName>)]
    pub keyword: Option<String>,
    /// From contains.
    #[param(pattern = r"^[^\u0000\r\n]{1,1000}$")]
    pub from: Option<String>,
    /// To contains.
    #[param(pattern = r"^[^\u0000\r\n]{1,1000}$")]
    pub to: Option<String>,
    /// Cc contains.
    #[param(pattern = r"^[^\u0000\r\n]{1,1000}$")]
    pub cc: Option<String>,
    /// Subject contains.
    #[param(pattern = r"^[^\u0000\r\n]{1,1000}$")]
    pub subject: Option<String>,
    /// Headers or body contain.
    #[param(pattern = r"^[^\u0000\r\n]{1,1000}$")]
    pub text: Option<String>,
    /// Body contains.
    #[param(pattern = r"^[^\u0000\r\n]{1,1000}$")]
    pub body: Option<String>,
    /// Internal date on or after (`YYYY-MM-DD`, years 1900-9999).
    #[param(format = Date, pattern = "^(19|[2-9][0-9])[0-9][0-9]-")]
    pub since: Option<String>,
    /// Internal date before (`YYYY-MM-DD`, years 1900-9999).
    #[param(format = Date, pattern = "^(19|[2-9][0-9])[0-9][0-9]-")]
    pub before: Option<String>,
    /// Larger than this many bytes.
    pub larger: Option<u32>,
    /// Smaller than this many bytes.
    pub smaller: Option<u32>,
    /// UIDs: `7`, `1:50`, `3,5,9:12` (at most 1000 items).
    #[param(
        pattern = r"^[1-9][0-9]{0,8}(:[1-9][0-9]{0,8})?(,[1-9][0-9]{0,8}(:[1-9][0-9]{0,8})?){0,999}$"
    )]
    pub uid: Option<String>,
    /// Order by `arrival` (the default: UID, the order messages arrived in), or, on
    /// servers with SORT (RFC 5256), `date` (the Date header), `from`, `subject` or
    /// `size`. Without SORT anything but `arrival` is 422.
    #[param(value_type = Option<ListSort>)]
    pub sort: Option<String>,
    /// `desc` (the default) or `asc`.
    #[param(value_type = Option<ListOrder>)]
    pub order: Option<String>,
}

/// A UID as a request names it: 1 to 4294967295 (documentation of `u32` fields).
/// Written out: utoipa's derive states no bounds for a newtype.
pub struct UidNumber(pub u32);

impl utoipa::PartialSchema for UidNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(u32::MAX))
            .description(Some("A UID: 1 to 4294967295."))
            .into()
    }
}

impl ToSchema for UidNumber {}

/// The orders of a message list (documentation of `sort`, which stays a string).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ListSort {
    /// UID order: the order messages arrived in.
    Arrival,
    /// The Date header (SORT).
    Date,
    /// The first From address (SORT).
    From,
    /// The base subject (SORT).
    Subject,
    /// RFC822.SIZE (SORT).
    Size,
}

/// The direction of a message list (documentation of `order`).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ListOrder {
    /// Newest (or largest, or last) first.
    Desc,
    /// Oldest first.
    Asc,
}

/// A flag as requests name it: a system flag (`\Seen`, `\Answered`, `\Flagged`,
/// `\Deleted`, `\Draft`) or a keyword of 1-100 printable ASCII characters, none of
/// `( ) { % * " \ ]` or space (an IMAP atom, sent as it is). Documentation only: the
/// fields keep strings, and `imap::Flag` checks them.
#[derive(ToSchema)]
#[schema(
    pattern = r#"^(\\(Seen|Answered|Flagged|Deleted|Draft)|[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]{1,100})$"#,
    example = "$Work"
)]
pub struct FlagName(pub String);

/// A filter for bulk operations (JSON): the same criteria as the list's query string.
///
/// The fields repeat [`ListMessagesQuery`]'s on purpose: serde_urlencoded cannot
/// `#[serde(flatten)]` numbers and booleans into a query struct, so the query keeps its
/// own flat copy and converts with `From`; the search keys are built here, once.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageFilter {
    /// Without (true) or with (false) `\Seen`.
    pub unseen: Option<bool>,
    /// With (true) or without (false) `\Seen`.
    pub seen: Option<bool>,
    /// `\Flagged` or not.
    pub flagged: Option<bool>,
    /// `\Answered` or not.
    pub answered: Option<bool>,
    /// `\Draft` or not.
    pub draft: Option<bool>,
    /// `\Deleted` or not.
    pub deleted: Option<bool>,
    /// Has this flag (a keyword, or a system flag such as `\Seen`).
    #[schema(value_type = Option<FlagName>)]
    pub keyword: Option<String>,
    /// From contains.
    #[schema(pattern = r"^[^\u0000\r\n]{1,1000}$")]
    pub from: Option<String>,
    /// To contains.
    #[schema(pattern = r"^[^\u0000\r\n]{1,1000}$")]
    pub to: Option<String>,
    /// Cc contains.
    #[schema(pattern = r"^[^\u0000\r\n]{1,1000}$")]
    pub cc: Option<String>,
    /// Subject contains.
    #[schema(pattern = r"^[^\u0000\r\n]{1,1000}$")]
    pub subject: Option<String>,
    /// Headers or body contain.
    #[schema(pattern = r"^[^\u0000\r\n]{1,1000}$")]
    pub text: Option<String>,
    /// Body contains.
    #[schema(pattern = r"^[^\u0000\r\n]{1,1000}$")]
    pub body: Option<String>,
    /// Internal date on or after (`YYYY-MM-DD`, years 1900-9999).
    #[schema(format = Date, pattern = "^(19|[2-9][0-9])[0-9][0-9]-")]
    pub since: Option<String>,
    /// Internal date before (`YYYY-MM-DD`, years 1900-9999).
    #[schema(format = Date, pattern = "^(19|[2-9][0-9])[0-9][0-9]-")]
    pub before: Option<String>,
    /// Larger than this many bytes.
    pub larger: Option<u32>,
    /// Smaller than this many bytes.
    pub smaller: Option<u32>,
    /// UIDs: `7`, `1:50`, `3,5,9:12` (at most 1000 items).
    #[schema(
        pattern = r"^[1-9][0-9]{0,8}(:[1-9][0-9]{0,8})?(,[1-9][0-9]{0,8}(:[1-9][0-9]{0,8})?){0,999}$"
    )]
    pub uid: Option<String>,
}

impl From<&ListMessagesQuery> for MessageFilter {
    fn from(q: &ListMessagesQuery) -> Self {
        Self {
            unseen: q.unseen,
            seen: q.seen,
            flagged: q.flagged,
            answered: q.answered,
            draft: q.draft,
            deleted: q.deleted,
            keyword: q.keyword.clone(),
            from: q.from.clone(),
            to: q.to.clone(),
            cc: q.cc.clone(),
            subject: q.subject.clone(),
            text: q.text.clone(),
            body: q.body.clone(),
            since: q.since.clone(),
            before: q.before.clone(),
            larger: q.larger,
            smaller: q.smaller,
            uid: q.uid.clone(),
        }
    }
}

impl MessageFilter {
    /// The validated SEARCH keys (empty: every message).
    ///
    /// # Errors
    /// The first invalid field.
    pub fn keys(&self) -> Result<Vec<SearchKey>, ValidationError> {
        let mut keys = Vec::new();
        let flag =
            |keys: &mut Vec<SearchKey>, value: Option<bool>, yes: SearchKey, no: SearchKey| {
                if let Some(value) = value {
                    keys.push(if value { yes } else { no });
                }
            };
        flag(&mut keys, self.unseen, SearchKey::Unseen, SearchKey::Seen);
        flag(&mut keys, self.seen, SearchKey::Seen, SearchKey::Unseen);
        flag(
            &mut keys,
            self.flagged,
            SearchKey::Flagged,
            SearchKey::Unflagged,
        );
        flag(
            &mut keys,
            self.answered,
            SearchKey::Answered,
            SearchKey::Unanswered,
        );
        flag(&mut keys, self.draft, SearchKey::Draft, SearchKey::Undraft);
        flag(
            &mut keys,
            self.deleted,
            SearchKey::Deleted,
            SearchKey::Undeleted,
        );
        if let Some(keyword) = &self.keyword {
            let flag = Flag::try_from(keyword.as_str())
                .map_err(|e| ValidationError::new("keyword", e.message))?;
            keys.push(SearchKey::Keyword(flag));
        }
        type TextKey = fn(SearchText) -> SearchKey;
        let texts: [(&'static str, &Option<String>, TextKey); 6] = [
            ("from", &self.from, SearchKey::From),
            ("to", &self.to, SearchKey::To),
            ("cc", &self.cc, SearchKey::Cc),
            ("subject", &self.subject, SearchKey::Subject),
            ("text", &self.text, SearchKey::Text),
            ("body", &self.body, SearchKey::Body),
        ];
        for (field, value, key) in texts {
            if let Some(value) = value {
                keys.push(key(SearchText::new(field, value)?));
            }
        }
        if let Some(since) = &self.since {
            keys.push(SearchKey::Since(SearchDate::parse("since", since)?));
        }
        if let Some(before) = &self.before {
            keys.push(SearchKey::Before(SearchDate::parse("before", before)?));
        }
        if let Some(larger) = self.larger {
            keys.push(SearchKey::Larger(larger));
        }
        if let Some(smaller) = self.smaller {
            keys.push(SearchKey::Smaller(smaller));
        }
        if let Some(uid) = &self.uid {
            keys.push(SearchKey::Uid(UidSet::parse("uid", uid)?));
        }
        Ok(keys)
    }
}

/// Flags in a stable order: system flags (`\Seen`, `\Answered`, `\Flagged`,
/// `\Deleted`, `\Draft`) first, then keywords alphabetically; `\Recent` (session
/// state that clients cannot set) is left out.
pub fn normalize_flags<'a>(flags: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    const SYSTEM: [&str; 5] = ["\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft"];
    let mut out: Vec<String> = flags
        .into_iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .cloned()
        .collect();
    out.sort_by_key(|f| {
        let lower = f.to_ascii_lowercase();
        let rank = SYSTEM
            .iter()
            .position(|s| *s == lower)
            .unwrap_or(SYSTEM.len());
        (rank, f.clone())
    });
    out.dedup();
    out
}

/// Converts INTERNALDATE (`26-Nov-2026 09:00:00 +0000`) to RFC 3339.
pub fn internal_date_rfc3339(date: &str) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let date = date.trim();
    let (day_month_year, rest) = date.split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let mut dmy = day_month_year.split('-');
    let day: u32 = dmy.next()?.trim().parse().ok()?;
    let month_name = dmy.next()?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| *m == month_name)? + 1;
    let year: u32 = dmy.next()?.parse().ok()?;
    // Server text: lengths are checked in bytes, and slicing below is by byte, so
    // only ASCII may pass (a multibyte character would split mid-character).
    if time.len() != 8 || zone.len() != 5 || !time.is_ascii() || !zone.is_ascii() {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{time}{}:{}",
        &zone[..3],
        &zone[3..]
    ))
}

fn addresses(address: Option<&Address<'_>>) -> Vec<EmailAddress> {
    address
        .map(|list| {
            list.iter()
                .map(|addr| EmailAddress {
                    name: addr.name.as_ref().map(|n| n.to_string()),
                    address: addr.address.as_ref().map(|a| a.to_string()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A parser for the envelope's fields only; every other field (Received, DKIM,
/// ARC, List-*, ...) is skipped instead of parsed, which halved mail-parser's share of
/// a 50-message page (most of a real header is trace fields). Built once: the builder
/// allocates its map.
static ENVELOPE_PARSER: std::sync::LazyLock<MessageParser> = std::sync::LazyLock::new(|| {
    MessageParser::new()
        .header_date(HeaderName::Date)
        .header_text(HeaderName::Subject)
        .header_address(HeaderName::From)
        .header_address(HeaderName::Sender)
        .header_address(HeaderName::ReplyTo)
        .header_address(HeaderName::To)
        .header_address(HeaderName::Cc)
        .header_address(HeaderName::Bcc)
        .header_id(HeaderName::MessageId)
        .header_id(HeaderName::InReplyTo)
        .default_header_ignore()
});

/// Decodes an envelope from raw header bytes.
pub fn envelope_from_header(header: &[u8]) -> Envelope {
    let Some(parsed) = ENVELOPE_PARSER.parse_headers(header) else {
        return Envelope::default();
    };
    Envelope {
        date: parsed.date().map(|d| d.to_rfc3339()),
        subject: parsed.subject().map(str::to_owned),
        from: addresses(parsed.from()),
        sender: addresses(parsed.sender()),
        reply_to: addresses(parsed.reply_to()),
        to: addresses(parsed.to()),
        cc: addresses(parsed.cc()),
        bcc: addresses(parsed.bcc()),
        message_id: parsed.message_id().map(str::to_owned),
        in_reply_to: parsed
            .in_reply_to()
            .as_text_list()
            .map(|ids| ids.iter().map(|id| id.to_string()).collect())
            .or_else(|| parsed.in_reply_to().as_text().map(|id| vec![id.to_owned()]))
            .unwrap_or_default(),
    }
}

/// The header fields of a raw header block, unfolded.
pub fn header_fields(header: &[u8]) -> Vec<HeaderField> {
    MessageParser::default()
        .parse_headers(header)
        .map(|parsed| {
            parsed
                .headers_raw()
                .map(|(name, value)| HeaderField {
                    name: name.to_owned(),
                    value: value
                        .replace("\r\n", "")
                        .replace('\n', "")
                        .trim()
                        .to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl MessageSummary {
    /// Builds a summary from a FETCH of UID FLAGS INTERNALDATE RFC822.SIZE
    /// BODYSTRUCTURE BODY.PEEK[HEADER] (and MODSEQ).
    pub fn from_fetch(message: &FetchedMessage, uid_validity: u32) -> Self {
        Self {
            uid: message.uid,
            uid_validity,
            flags: normalize_flags(message.flags.iter().flatten()),
            internal_date: message
                .internal_date
                .as_deref()
                .and_then(internal_date_rfc3339),
            size: message.size.unwrap_or_default(),
            modseq: message.modseq,
            envelope: message
                .section(&SectionKind::Header)
                .map(envelope_from_header)
                .unwrap_or_default(),
            has_attachments: message.parts.as_ref().is_some_and(|parts| {
                parts
                    .iter()
                    .any(|p| p.is_attachment() && p.disposition.as_deref() != Some("inline"))
            }),
        }
    }
}

impl Attachment {
    /// Describes `part`, decoding its file name from its MIME header when given.
    pub fn from_part(part: &MimePart, mime_header: Option<&[u8]>) -> Self {
        let decoded = mime_header.and_then(|header| {
            MessageParser::default()
                .parse_headers(header)
                .and_then(|parsed| parsed.attachment_name().map(str::to_owned))
        });
        Self {
            part: part.part_number(),
            filename: decoded.or_else(|| {
                part.param("filename")
                    .or_else(|| part.param("name"))
                    .map(str::to_owned)
            }),
            content_type: part.content_type.clone(),
            size: part.size,
            disposition: part.disposition.clone(),
            content_id: part.content_id.clone(),
        }
    }
}

/// Decodes a text part (its MIME header plus encoded body) to UTF-8.
pub fn decode_text_part(mime_header: &[u8], body: &[u8], html: bool) -> Option<String> {
    let mut raw = Vec::with_capacity(mime_header.len() + body.len() + 2);
    raw.extend_from_slice(mime_header);
    if !mime_header.ends_with(b"\r\n\r\n") && !mime_header.ends_with(b"\n\n") {
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(body);
    let parsed = MessageParser::default().parse(&raw)?;
    let text = if html {
        parsed.body_html(0)
    } else {
        parsed.body_text(0)
    };
    text.map(|t| t.into_owned())
}

/// Query of `GET .../messages/{uid}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// Set `\Seen` after reading (needs the `write` scope). Default false: reading
    /// never changes the message.
    pub mark_seen: Option<bool>,
    /// `sanitized` (default): `html` is safe to render (no scripts, event handlers,
    /// forms or `javascript:` URLs; `cid:` images point at the attachment URLs;
    /// remote images removed unless `remote_images=true`). `raw`: the HTML as the
    /// sender wrote it; never render it in your origin.
    pub html: Option<HtmlMode>,
    /// With `html=sanitized`, keep images loaded from the network (they let senders
    /// see that and when the message was opened). Default false.
    pub remote_images: Option<bool>,
}

/// How `GET …/messages/{uid}` returns the HTML body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HtmlMode {
    /// Safe to render.
    #[default]
    Sanitized,
    /// As sent.
    Raw,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_dates_become_rfc3339() {
        assert_eq!(
            internal_date_rfc3339("26-Nov-2026 09:00:00 +0000").as_deref(),
            Some("2026-11-26T09:00:00+00:00")
        );
        assert_eq!(
            internal_date_rfc3339(" 5-Jan-2026 23:59:59 -0530").as_deref(),
            Some("2026-01-05T23:59:59-05:30")
        );
        assert_eq!(internal_date_rfc3339("garbage"), None);
        // Five bytes, but not five characters: refused, not sliced mid-character.
        assert_eq!(
            internal_date_rfc3339("26-Nov-2026 09:00:00 +0\u{e9}0"),
            None
        );
        assert_eq!(
            internal_date_rfc3339("26-Nov-2026 09:0\u{e9}:0 +0000"),
            None
        );
    }

    #[test]
    fn envelope_decodes_encoded_words() {
        let header = b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <j@example.de>\r\nTo: a@x, \"B\" <b@x>\r\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\nMessage-ID: <id@x>\r\nDate: Thu, 26 Nov 2026 09:00:00 +0000\r\n\r\n";
        let envelope = envelope_from_header(header);
        assert_eq!(envelope.subject.as_deref(), Some("Grüße"));
        assert_eq!(envelope.from[0].name.as_deref(), Some("Jürgen Müller"));
        assert_eq!(envelope.from[0].address.as_deref(), Some("j@example.de"));
        assert_eq!(envelope.to.len(), 2);
        assert_eq!(envelope.message_id.as_deref(), Some("id@x"));
        assert_eq!(envelope.date.as_deref(), Some("2026-11-26T09:00:00Z"));
    }

    #[test]
    fn envelope_skips_trace_fields_but_keeps_every_envelope_field() {
        let header = b"Received: from mx.example.org (mx [192.0.2.1]) by mail.example.org\r\n\twith ESMTPS id 1; Thu, 26 Nov 2026 09:00:01 +0000\r\nDKIM-Signature: v=1; a=rsa-sha256; d=example.org; b=abc\r\n def\r\nFrom: Ann <ann@example.org>\r\nSender: list@example.org\r\nReply-To: replies@example.org\r\nTo: bob@example.org\r\nCc: carol@example.org\r\nBcc: dave@example.org\r\nSubject: Minutes\r\nList-Id: <team.example.org>\r\nMessage-ID: <m1@example.org>\r\nIn-Reply-To: <m0@example.org>\r\nDate: Thu, 26 Nov 2026 09:00:00 +0100\r\n\r\n";
        let envelope = envelope_from_header(header);
        let first = |list: &[EmailAddress]| list[0].address.clone();
        assert_eq!(first(&envelope.from).as_deref(), Some("ann@example.org"));
        assert_eq!(first(&envelope.sender).as_deref(), Some("list@example.org"));
        assert_eq!(
            first(&envelope.reply_to).as_deref(),
            Some("replies@example.org")
        );
        assert_eq!(first(&envelope.to).as_deref(), Some("bob@example.org"));
        assert_eq!(first(&envelope.cc).as_deref(), Some("carol@example.org"));
        assert_eq!(first(&envelope.bcc).as_deref(), Some("dave@example.org"));
        assert_eq!(envelope.subject.as_deref(), Some("Minutes"));
        assert_eq!(envelope.message_id.as_deref(), Some("m1@example.org"));
        assert_eq!(envelope.in_reply_to, ["m0@example.org"]);
        assert_eq!(envelope.date.as_deref(), Some("2026-11-26T09:00:00+01:00"));
    }

    #[test]
    fn text_parts_decode_charsets() {
        let header = b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";
        assert_eq!(
            decode_text_part(header, b"Gr=FC=DFe", false).as_deref(),
            Some("Grüße")
        );
    }
}
