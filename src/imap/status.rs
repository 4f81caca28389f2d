//! The one place that turns a server's NO/BAD, with its response code (`code.rs`),
//! into a typed [`ImapError`].
//!
//! imap-proto 0.17 parses the RFC 3501 codes (`[TRYCREATE]`, ...) into
//! `ResponseCode`, but leaves the RFC 5530 ones (`[NONEXISTENT]`, `[AUTHENTICATIONFAILED]`)
//! at the start of the human-readable text; async-imap 0.12 then flattens both into a
//! string `code: Some(TryCreate), info: Some("...")`. Both forms are handled here, and
//! nowhere else, with table tests pinned to those versions.

use async_imap::imap_proto::{ResponseCode, Status};

use super::code::RespCode;
use super::error::ImapError;

/// Splits `[CODE] text` / `[CODE arg] text` into the code and the remaining text.
fn split_bracketed_code(text: &str) -> (Option<RespCode>, String) {
    let trimmed = text.trim_start();
    if let Some(rest) = trimmed.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let inner = &rest[..end];
            let atom = inner.split_whitespace().next().unwrap_or_default();
            if !atom.is_empty() {
                return (
                    Some(RespCode::from_atom(atom)),
                    rest[end + 1..].trim().to_owned(),
                );
            }
        }
    }
    (None, text.trim().to_owned())
}

fn from_proto_code(code: &ResponseCode<'_>) -> Option<RespCode> {
    match code {
        ResponseCode::Alert => Some(RespCode::Alert),
        ResponseCode::Parse => Some(RespCode::Parse),
        ResponseCode::TryCreate => Some(RespCode::TryCreate),
        ResponseCode::ReadOnly => Some(RespCode::ReadOnly),
        ResponseCode::BadCharset(_) => Some(RespCode::BadCharset),
        _ => None,
    }
}

/// Turns a tagged completion (status, code, text) into `Ok` or a typed error.
///
/// # Errors
/// `No` or `Bad` carrying the code found either in imap-proto's parsed code or at
/// the start of the text.
pub fn check_completion(
    status: &Status,
    code: Option<&ResponseCode<'_>>,
    information: Option<&str>,
) -> Result<(), ImapError> {
    let text = information.unwrap_or_default();
    let (code, text) = match code.and_then(from_proto_code) {
        Some(code) => (Some(code), text.trim().to_owned()),
        None => split_bracketed_code(text),
    };
    let text = without_timing(&text).to_owned();
    match status {
        Status::Ok => Ok(()),
        Status::No => Err(ImapError::No { code, text }),
        Status::Bad => Err(ImapError::Bad { text }),
        Status::Bye => Err(ImapError::Bye { text }),
        Status::PreAuth => Err(ImapError::Protocol(
            "unexpected PREAUTH completion".to_owned(),
        )),
    }
}

/// The server's text without the timing note Dovecot and Cyrus append
/// (`Mailbox doesn't exist: X (0.001 + 0.000 secs).`, `Completed (0.000 secs 6
/// calls)`): it changes from call to call and means nothing to API clients.
pub fn without_timing(text: &str) -> &str {
    let trimmed = text.trim_end().trim_end_matches('.');
    let Some(inner) = trimmed.strip_suffix(')') else {
        return text.trim();
    };
    let Some((before, note)) = inner.rsplit_once('(') else {
        return text.trim();
    };
    let is_timing = note.contains("secs")
        && note
            .chars()
            .all(|c| c.is_ascii_digit() || " .+secal".contains(c));
    if is_timing {
        before.trim_end()
    } else {
        text.trim()
    }
}

/// Translates an error from async-imap's own methods (LOGIN, AUTHENTICATE, and the
/// STARTTLS and ID sent before LOGIN) into [`ImapError`], parsing its flattened
/// `code: Some(TryCreate), info: Some("[NONEXISTENT] ...")` strings.
pub fn from_async_imap(err: async_imap::error::Error) -> ImapError {
    use async_imap::error::Error;
    match err {
        Error::No(flat) => {
            let (code, text) = parse_flattened(&flat);
            ImapError::No { code, text }
        }
        Error::Bad(flat) => ImapError::Bad {
            text: parse_flattened(&flat).1,
        },
        Error::Io(io) => ImapError::Io(io),
        Error::ConnectionLost => ImapError::ConnectionLost,
        Error::Validate(v) => ImapError::Protocol(format!("async-imap refused input: {v}")),
        other => ImapError::Protocol(other.to_string()),
    }
}

/// Parses async-imap 0.12's `code: {code:?}, info: {information:?}` format.
fn parse_flattened(flat: &str) -> (Option<RespCode>, String) {
    let (code_part, info_part) = match flat.split_once(", info: ") {
        Some((code, info)) => (code.trim_start_matches("code: "), info),
        None => ("None", flat),
    };
    let info = info_part
        .strip_prefix("Some(\"")
        .and_then(|s| s.strip_suffix("\")"))
        .map(|s| s.replace("\\\"", "\"").replace("\\\\", "\\"))
        .unwrap_or_default();
    let parsed_code = code_part
        .strip_prefix("Some(")
        .and_then(|s| s.strip_suffix(')'))
        .map(|debug| {
            // Debug names of imap-proto's ResponseCode, e.g. `TryCreate`, `BadCharset(None)`.
            let ident: String = debug.chars().take_while(|c| c.is_alphanumeric()).collect();
            RespCode::from_atom(&ident)
        });
    match parsed_code {
        Some(code) => (Some(code), info.trim().to_owned()),
        None => split_bracketed_code(&info),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_codes_from_text_and_from_parser() {
        type Case = (
            Status,
            Option<ResponseCode<'static>>,
            &'static str,
            Option<RespCode>,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                Status::No,
                None,
                "[NONEXISTENT] Mailbox doesn't exist: x",
                Some(RespCode::NonExistent),
                "Mailbox doesn't exist: x",
            ),
            (
                Status::No,
                None,
                "[ALREADYEXISTS] Mailbox already exists",
                Some(RespCode::AlreadyExists),
                "Mailbox already exists",
            ),
            (
                Status::No,
                Some(ResponseCode::TryCreate),
                "Mailbox doesn't exist",
                Some(RespCode::TryCreate),
                "Mailbox doesn't exist",
            ),
            (
                Status::No,
                None,
                "[AUTHENTICATIONFAILED] Authentication failed.",
                Some(RespCode::AuthenticationFailed),
                "Authentication failed.",
            ),
            (Status::No, None, "plain no", None, "plain no"),
            (
                Status::No,
                None,
                "[X-WEIRD 12] odd",
                Some(RespCode::Other("X-WEIRD".into())),
                "odd",
            ),
        ];
        for (status, code, text, want_code, want_text) in cases {
            match check_completion(&status, code.as_ref(), Some(text)) {
                Err(ImapError::No { code, text }) => {
                    assert_eq!(code, want_code, "{text}");
                    assert_eq!(text, want_text);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(check_completion(&Status::Ok, None, Some("done")).is_ok());
        assert!(matches!(
            check_completion(&Status::Bad, None, Some("Error in IMAP command")),
            Err(ImapError::Bad { .. })
        ));
    }

    #[test]
    fn flattened_async_imap_errors() {
        let cases = [
            (
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#,
                Some(RespCode::AuthenticationFailed),
                "Authentication failed.",
            ),
            (
                r#"code: Some(TryCreate), info: Some("Mailbox doesn't exist")"#,
                Some(RespCode::TryCreate),
                "Mailbox doesn't exist",
            ),
            (
                r#"code: None, info: Some("say \"hi\"")"#,
                None,
                "say \"hi\"",
            ),
            (r#"code: None, info: None"#, None, ""),
        ];
        for (flat, want_code, want_text) in cases {
            let err = from_async_imap(async_imap::error::Error::No(flat.to_owned()));
            match err {
                ImapError::No { code, text } => {
                    assert_eq!(code, want_code, "{flat}");
                    assert_eq!(text, want_text, "{flat}");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn code_names_are_bounded() {
        assert_eq!(RespCode::from_atom("nonexistent").name(), "NONEXISTENT");
        assert_eq!(RespCode::from_atom("X-ANYTHING").name(), "OTHER");
    }

    #[test]
    fn timing_notes_are_dropped() {
        for (sent, kept) in [
            (
                "Mailbox doesn't exist: Nope (0.001 + 0.000 secs).",
                "Mailbox doesn't exist: Nope",
            ),
            ("Completed (0.000 secs 6 calls)", "Completed"),
            ("Mailbox does not exist", "Mailbox does not exist"),
            ("Invalid name (see RFC)", "Invalid name (see RFC)"),
            ("", ""),
        ] {
            assert_eq!(super::without_timing(sent), kept, "{sent}");
        }
    }
}
