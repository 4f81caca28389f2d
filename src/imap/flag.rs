//! Message flags (RFC 3501 section 2.3.2): the system flags and keywords.
//!
//! A keyword is an IMAP `atom`: no `(){ %*"\]`, space or control characters, so
//! it can be sent as is. `\Recent` cannot be set by clients and is refused.

use std::fmt;

use super::types::ValidationError;

/// Longest keyword accepted.
pub const MAX_KEYWORD_LEN: usize = 100;

/// A flag a client may set or clear.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    /// `\Seen`
    Seen,
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Draft`
    Draft,
    /// A keyword such as `$Forwarded` or `Work`.
    Keyword(Keyword),
}

/// A keyword (RFC 3501 `flag-keyword = atom`): 1 to [`MAX_KEYWORD_LEN`] printable
/// ASCII characters, none of `( ) { % * " \ ]` or space, so it goes on the wire as
/// it is. The field is private: a `Keyword` exists only after that check.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Keyword(String);

impl Keyword {
    /// The keyword as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Flag {
    /// The flag as IMAP spells it.
    pub fn as_imap(&self) -> &str {
        match self {
            Self::Seen => "\\Seen",
            Self::Answered => "\\Answered",
            Self::Flagged => "\\Flagged",
            Self::Deleted => "\\Deleted",
            Self::Draft => "\\Draft",
            Self::Keyword(keyword) => keyword.as_str(),
        }
    }
}

fn is_atom_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '(' | ')' | '{' | '%' | '*' | '"' | '\\' | ']')
}

impl TryFrom<&str> for Flag {
    type Error = ValidationError;

    fn try_from(text: &str) -> Result<Self, ValidationError> {
        if let Some(system) = text.strip_prefix('\\') {
            return match system.to_ascii_lowercase().as_str() {
                "seen" => Ok(Self::Seen),
                "answered" => Ok(Self::Answered),
                "flagged" => Ok(Self::Flagged),
                "deleted" => Ok(Self::Deleted),
                "draft" => Ok(Self::Draft),
                _ => Err(ValidationError::new(
                    "flags",
                    format!("{text:?} is not a settable system flag (use \\Seen, \\Answered, \\Flagged, \\Deleted, \\Draft or a keyword)"),
                )),
            };
        }
        if text.is_empty() || text.len() > MAX_KEYWORD_LEN || !text.chars().all(is_atom_char) {
            return Err(ValidationError::new(
                "flags",
                format!("{text:?} is not a valid keyword (1-{MAX_KEYWORD_LEN} printable ASCII characters, none of ( ) {{ % * \" \\ ] or space)"),
            ));
        }
        Ok(Self::Keyword(Keyword(text.to_owned())))
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_imap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_and_keywords() {
        assert_eq!(Flag::try_from("\\seen").unwrap(), Flag::Seen);
        assert_eq!(Flag::try_from("\\Flagged").unwrap().as_imap(), "\\Flagged");
        assert_eq!(
            Flag::try_from("$Forwarded").unwrap(),
            Flag::try_from("$Forwarded").unwrap()
        );
        for bad in [
            "\\Recent",
            "\\Foo",
            "",
            "two words",
            "a\"b",
            "x\r\nA1 DELETE INBOX",
            "{5}",
            "a)",
            "ü",
            "\\",
        ] {
            assert!(Flag::try_from(bad).is_err(), "{bad:?}");
        }
    }
}
