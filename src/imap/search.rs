//! Typed SEARCH criteria (RFC 3501 section 6.4.4). Raw IMAP search syntax is never
//! accepted from users: filters become [`SearchKey`]s, and free text is a
//! [`SearchText`], which `command/` sends as a quoted string (plain ASCII) or a
//! literal with `CHARSET UTF-8`, never as syntax.

use std::fmt;

use super::flag::Flag;
use super::types::ValidationError;
use super::uid::UidSet;

/// Longest free-text search value, in bytes.
pub const MAX_SEARCH_TEXT: usize = 1000;

/// Free text for SEARCH: non-empty, bounded, without NUL, CR or LF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    /// Validates `text` for the named query parameter.
    ///
    /// # Errors
    /// Empty, too long, or containing NUL/CR/LF.
    pub fn new(field: &'static str, text: &str) -> Result<Self, ValidationError> {
        if text.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if text.len() > MAX_SEARCH_TEXT {
            return Err(ValidationError::new(
                field,
                format!("must be at most {MAX_SEARCH_TEXT} bytes"),
            ));
        }
        if text.contains(['\0', '\r', '\n']) {
            return Err(ValidationError::new(
                field,
                "must not contain NUL, CR or LF",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A calendar date for SINCE/BEFORE, from `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchDate {
    year: u16,
    month: u8,
    day: u8,
}

impl SearchDate {
    /// Parses `YYYY-MM-DD`.
    ///
    /// # Errors
    /// Anything that is not a real date between years 1900 and 9999.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, ValidationError> {
        let bad = || ValidationError::new(field, "expected a date like 2026-11-26");
        let mut parts = text.split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let year: u16 = y.parse().map_err(|_| bad())?;
        let month: u8 = m.parse().map_err(|_| bad())?;
        let day: u8 = d.parse().map_err(|_| bad())?;
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(bad()),
        };
        if !(1900..=9999).contains(&year) || day == 0 || day > days_in_month {
            return Err(bad());
        }
        Ok(Self { year, month, day })
    }
}

impl fmt::Display for SearchDate {
    /// RFC 3501 `date`: `26-Nov-2026`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        write!(
            f,
            "{}-{}-{}",
            self.day,
            MONTHS[usize::from(self.month) - 1],
            self.year
        )
    }
}

/// One search criterion. A query is the AND of its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// `SEEN`
    Seen,
    /// `UNSEEN`
    Unseen,
    /// `FLAGGED`
    Flagged,
    /// `UNFLAGGED`
    Unflagged,
    /// `ANSWERED`
    Answered,
    /// `UNANSWERED`
    Unanswered,
    /// `DRAFT`
    Draft,
    /// `UNDRAFT`
    Undraft,
    /// `DELETED`
    Deleted,
    /// `UNDELETED`
    Undeleted,
    /// `KEYWORD k` (or the matching system-flag key when `k` is a system flag)
    Keyword(Flag),
    /// `FROM text`
    From(SearchText),
    /// `TO text`
    To(SearchText),
    /// `CC text`
    Cc(SearchText),
    /// `SUBJECT text`
    Subject(SearchText),
    /// `TEXT text` (headers and body)
    Text(SearchText),
    /// `BODY text`
    Body(SearchText),
    /// `SINCE date` (internal date, on or after)
    Since(SearchDate),
    /// `BEFORE date` (internal date, before)
    Before(SearchDate),
    /// `LARGER n`
    Larger(u32),
    /// `SMALLER n`
    Smaller(u32),
    /// `UID set`
    Uid(UidSet),
    /// `HEADER Message-ID text`
    MessageId(SearchText),
    /// Messages answering any of these Message-IDs (`<id>`, ASCII): `OR`s of
    /// `HEADER In-Reply-To` and `HEADER References` for each.
    RepliesTo(Vec<SearchText>),
}

impl SearchKey {
    /// The free text of this key, if it has one.
    pub fn text(&self) -> Option<&SearchText> {
        match self {
            Self::From(t)
            | Self::To(t)
            | Self::Cc(t)
            | Self::Subject(t)
            | Self::Text(t)
            | Self::Body(t)
            | Self::MessageId(t) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            SearchDate::parse("since", "2026-11-26")
                .unwrap()
                .to_string(),
            "26-Nov-2026"
        );
        assert_eq!(
            SearchDate::parse("since", "2024-02-29")
                .unwrap()
                .to_string(),
            "29-Feb-2024"
        );
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-1-1",
            "26-11-2026",
            "2026-11-26T00:00",
            "",
            "1899-01-01",
            "2026-11-00",
        ] {
            assert!(SearchDate::parse("since", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_refuses_line_breaks() {
        assert!(SearchText::new("subject", "x\r\nA1 DELETE INBOX").is_err());
        assert!(SearchText::new("subject", "nul\0").is_err());
        assert!(SearchText::new("subject", "").is_err());
        assert_eq!(
            SearchText::new("subject", "a\"b\\{5}").unwrap().as_str(),
            "a\"b\\{5}"
        );
    }
}
