//! Validated IMAP values that user text must pass through before it can reach the wire.
//!
//! Every type here has private fields and is built only through `TryFrom` (user
//! text) or, for [`ServerMailbox`], through `profile.rs`'s `Naming` (from a validated
//! [`MailboxName`] or a printable name the server listed), so holding one proves the
//! value was checked (STYLE.md B4). Rendering to command text happens in `command/`
//! and nowhere else; it sends anything that is not printable ASCII as a literal.

use std::fmt;

use super::utf7;

/// Longest mailbox name we accept, in UTF-8 bytes. Dovecot refuses names over a few
/// hundred bytes anyway; a bound here keeps a hostile request from reaching IMAP at all.
pub const MAX_MAILBOX_NAME_BYTES: usize = 512;

/// Why user input was refused before anything was sent to IMAP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The request field (or path/query parameter) that was wrong.
    pub field: &'static str,
    /// What is wrong with it, for the client.
    pub message: String,
}

impl ValidationError {
    /// Builds an error for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A mailbox name (RFC 3501 `mailbox = "INBOX" / astring`), kept both as the UTF-8
/// name users see and as the modified UTF-7 form sent on the wire.
///
/// `INBOX` is case-insensitive (RFC 3501 section 5.1) and is normalised to upper case.
/// Control characters (CR, LF, NUL, ...) are refused: they could end the command line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MailboxName {
    display: String,
    wire: String,
}

impl MailboxName {
    /// The UTF-8 name, as shown in JSON.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The modified UTF-7 name: printable ASCII only.
    pub fn wire(&self) -> &str {
        &self.wire
    }

    /// The user's `INBOX`.
    pub fn inbox() -> Self {
        Self {
            display: "INBOX".to_owned(),
            wire: "INBOX".to_owned(),
        }
    }

    /// True for the user's `INBOX`.
    pub fn is_inbox(&self) -> bool {
        self.display == "INBOX"
    }
}

/// A mailbox name as one server spells it on the wire: the personal namespace
/// prefix, levels joined by the server's separator, modified UTF-7. Printable ASCII
/// only; built only by [`super::profile::Naming`], from a validated [`MailboxName`]
/// (or from the server's own LIST output, which is then sent back verbatim).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServerMailbox(String);

impl ServerMailbox {
    /// Callers pass printable ASCII only: [`super::profile::Naming`] builds it from
    /// a validated name, the LIST reader checks what a server sent.
    pub(crate) fn new(wire: String) -> Self {
        debug_assert!(wire.chars().all(|c| (' '..='~').contains(&c)));
        Self(wire)
    }

    /// The name as sent in commands (before quoting).
    pub fn wire(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ServerMailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ServerMailbox").field(&self.0).finish()
    }
}

impl TryFrom<&str> for MailboxName {
    type Error = ValidationError;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        let field = "mailbox";
        if name.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if name.len() > MAX_MAILBOX_NAME_BYTES {
            return Err(ValidationError::new(
                field,
                format!("must be at most {MAX_MAILBOX_NAME_BYTES} bytes of UTF-8"),
            ));
        }
        if let Some(bad) = name.chars().find(|c| c.is_control()) {
            return Err(ValidationError::new(
                field,
                format!(
                    "must not contain control characters (found U+{:04X})",
                    bad as u32
                ),
            ));
        }
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok(Self::inbox());
        }
        Ok(Self {
            display: name.to_owned(),
            wire: utf7::encode(name),
        })
    }
}

impl MailboxName {
    /// Validates the name of a mailbox to be created or renamed to: what
    /// [`TryFrom`] checks, and also no LIST wildcards (`*`, `%`: a mailbox named with
    /// them cannot be listed selectively, and many servers refuse them) and no
    /// invisible bidirectional or zero-width format characters (they make a name
    /// display as another one). Existing mailboxes with such names stay reachable.
    ///
    /// # Errors
    /// Which rule the name breaks.
    pub fn new_name(name: &str) -> Result<Self, ValidationError> {
        let checked = Self::try_from(name)?;
        if let Some(bad) = name.chars().find(|c| matches!(c, '*' | '%')) {
            return Err(ValidationError::new(
                "mailbox",
                format!("must not contain the LIST wildcard {bad:?}"),
            ));
        }
        if let Some(bad) = name.chars().find(|c| is_invisible_format(*c)) {
            return Err(ValidationError::new(
                "mailbox",
                format!(
                    "must not contain invisible format characters (found U+{:04X})",
                    bad as u32
                ),
            ));
        }
        Ok(checked)
    }
}

/// Bidirectional controls and zero-width characters (Unicode category Cf that
/// changes how text displays without being seen).
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
    )
}

impl TryFrom<String> for MailboxName {
    type Error = ValidationError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::try_from(name.as_str())
    }
}

impl fmt::Debug for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MailboxName").field(&self.display).finish()
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

/// An IMAP user name, checked before LOGIN: non-empty, bounded, no control characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Username {
    type Error = ValidationError;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        check_credential_text("username", name, 256)?;
        Ok(Self(name.to_owned()))
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Username").field(&self.0).finish()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a user name or password: non-empty, at most `max` bytes, no control characters
/// (LOGIN sends them as quoted strings, where CR, LF and NUL cannot appear).
pub fn check_credential_text(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} bytes"),
        ));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn new_names_refuse_wildcards_and_invisible_format_characters() {
        for bad in [
            "a*",
            "50%",
            "\u{202E}evil",
            "zero\u{200B}width",
            "\u{FEFF}x",
        ] {
            assert!(super::MailboxName::new_name(bad).is_err(), "{bad:?}");
            assert!(
                super::MailboxName::try_from(bad).is_ok(),
                "{bad:?} stays reachable"
            );
        }
        for good in ["Projects/2026", "Entwürfe", "Q&A \"x\"", "日本語"] {
            assert!(super::MailboxName::new_name(good).is_ok(), "{good:?}");
        }
    }

    use super::*;

    #[test]
    fn inbox_is_case_insensitive() {
        let name = MailboxName::try_from("inBox").unwrap();
        assert_eq!(name.as_str(), "INBOX");
        assert_eq!(name.wire(), "INBOX");
        assert!(name.is_inbox());
        assert!(!MailboxName::try_from("INBOX/sub").unwrap().is_inbox());
    }

    #[test]
    fn rejects_injection_and_controls() {
        for bad in [
            "",
            "x\r\nA2 DELETE INBOX",
            "a\nb",
            "a\rb",
            "nul\0",
            "tab\there",
            "\u{7f}",
        ] {
            assert!(
                MailboxName::try_from(bad).is_err(),
                "{bad:?} must be refused"
            );
        }
        let long = "a".repeat(MAX_MAILBOX_NAME_BYTES + 1);
        assert!(MailboxName::try_from(long.as_str()).is_err());
        assert!(MailboxName::try_from("a".repeat(MAX_MAILBOX_NAME_BYTES).as_str()).is_ok());
    }

    #[test]
    fn keeps_quotes_and_braces_for_the_renderer() {
        // These are legal in names; command.rs quotes them safely.
        for ok in ["a\"b", "a\\b", "{5}", "&", "Entwürfe", "📧 mail"] {
            let name = MailboxName::try_from(ok).unwrap();
            assert_eq!(name.as_str(), ok);
            assert!(name.wire().chars().all(|c| (' '..='~').contains(&c)));
        }
    }

    #[test]
    fn usernames_are_checked() {
        assert!(Username::try_from("alice").is_ok());
        assert!(Username::try_from("").is_err());
        assert!(Username::try_from("a\r\nb").is_err());
    }
}

/// A MIME part number as IMAP numbers body parts (RFC 3501 section 6.4.5): `1`,
/// `2.1`, `3.2.1`. Non-zero numbers separated by dots, at most 32 levels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartNumber(Vec<u32>);

impl PartNumber {
    /// The path as numbers.
    pub fn path(&self) -> &[u32] {
        &self.0
    }

    /// A part number from already-known numbers (from a BODYSTRUCTURE walk).
    ///
    /// # Errors
    /// Empty, too deep, or containing zero.
    pub fn from_path(path: Vec<u32>) -> Result<Self, ValidationError> {
        if path.is_empty() || path.len() > 32 || path.contains(&0) {
            return Err(ValidationError::new(
                "part",
                "expected a part number like 2 or 1.2",
            ));
        }
        Ok(Self(path))
    }
}

impl TryFrom<&str> for PartNumber {
    type Error = ValidationError;

    fn try_from(text: &str) -> Result<Self, ValidationError> {
        let bad = || ValidationError::new("part", "expected a part number like 2 or 1.2");
        if text.is_empty() || text.len() > 200 {
            return Err(bad());
        }
        let path = text
            .split('.')
            .map(|n| {
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                n.parse::<u32>().map_err(|_| bad())
            })
            .collect::<Result<Vec<u32>, _>>()?;
        Self::from_path(path)
    }
}

impl fmt::Display for PartNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

#[cfg(test)]
mod part_tests {
    use super::*;

    #[test]
    fn part_numbers() {
        assert_eq!(PartNumber::try_from("1.2.3").unwrap().to_string(), "1.2.3");
        for bad in ["", "0", "1..2", "1.", "a", "1.0", "+1", "1 2", "1\r\n"] {
            assert!(PartNumber::try_from(bad).is_err(), "{bad:?}");
        }
    }
}
