//! The NAMESPACE response (RFC 2342): where the user's personal mailboxes live and
//! which separator they use. imap-proto 0.17 cannot parse this response (and a
//! response it cannot parse wedges async-imap's reader), so `command/` reads it
//! raw and this module parses the line.
//!
//! ```text
//! namespace-response = "*" SP "NAMESPACE" SP namespace SP namespace SP namespace
//! namespace          = nil / "(" 1*namespace-descr ")"
//! namespace-descr    = "(" string SP (DQUOTE QUOTED-CHAR DQUOTE / nil) *ext ")"
//! ```

/// One namespace: its prefix and hierarchy separator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// The prefix, e.g. `INBOX.` or `""`.
    pub prefix: String,
    /// The separator, `None` for a flat namespace.
    pub delimiter: Option<char>,
}

/// The three kinds of namespace a server announces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// The user's own mailboxes.
    pub personal: Vec<Namespace>,
    /// Other users' mailboxes shared with this user.
    pub other_users: Vec<Namespace>,
    /// Shared mailboxes.
    pub shared: Vec<Namespace>,
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Nil,
    Text(String),
}

fn tokens(mut rest: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        let Some(first) = rest.chars().next() else {
            return Some(out);
        };
        match first {
            '(' => {
                out.push(Token::Open);
                rest = &rest[1..];
            }
            ')' => {
                out.push(Token::Close);
                rest = &rest[1..];
            }
            '"' => {
                let mut text = String::new();
                let mut chars = rest[1..].char_indices();
                let end = loop {
                    match chars.next()? {
                        (_, '\\') => text.push(chars.next()?.1),
                        (i, '"') => break i + 2,
                        (_, c) => text.push(c),
                    }
                };
                out.push(Token::Text(text));
                rest = &rest[end..];
            }
            _ => {
                let end = rest.find([' ', '(', ')']).unwrap_or(rest.len());
                let atom = &rest[..end];
                if !atom.eq_ignore_ascii_case("NIL") {
                    // Literals and other forms are not expected here.
                    return None;
                }
                out.push(Token::Nil);
                rest = &rest[end..];
            }
        }
    }
}

/// Parses one `* NAMESPACE ...` line (without CRLF). `None` when it is not one.
pub fn parse(line: &str) -> Option<Namespaces> {
    let body = line.strip_prefix("* ")?;
    let (keyword, body) = body.split_once(' ')?;
    if !keyword.eq_ignore_ascii_case("NAMESPACE") {
        return None;
    }
    let tokens = tokens(body)?;
    let mut groups: Vec<Vec<Namespace>> = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        match tokens[at] {
            Token::Nil => {
                groups.push(Vec::new());
                at += 1;
            }
            Token::Open => {
                at += 1;
                let mut group = Vec::new();
                while tokens.get(at) == Some(&Token::Open) {
                    let Some(Token::Text(prefix)) = tokens.get(at + 1) else {
                        return None;
                    };
                    let delimiter = match tokens.get(at + 2)? {
                        Token::Nil => None,
                        Token::Text(d) => d.chars().next(),
                        _ => return None,
                    };
                    group.push(Namespace {
                        prefix: prefix.clone(),
                        delimiter,
                    });
                    // Skip extensions up to this descriptor's closing parenthesis.
                    let mut depth = 1;
                    at += 3;
                    while depth > 0 {
                        match tokens.get(at)? {
                            Token::Open => depth += 1,
                            Token::Close => depth -= 1,
                            _ => {}
                        }
                        at += 1;
                    }
                }
                if tokens.get(at) != Some(&Token::Close) {
                    return None;
                }
                at += 1;
                groups.push(group);
            }
            _ => return None,
        }
    }
    let mut groups = groups.into_iter();
    Some(Namespaces {
        personal: groups.next()?,
        other_users: groups.next().unwrap_or_default(),
        shared: groups.next().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(prefix: &str, delimiter: Option<char>) -> Namespace {
        Namespace {
            prefix: prefix.to_owned(),
            delimiter,
        }
    }

    #[test]
    fn parses_what_the_three_servers_send() {
        // Dovecot
        assert_eq!(
            parse(r#"* NAMESPACE (("" "/")) NIL NIL"#).unwrap(),
            Namespaces {
                personal: vec![ns("", Some('/'))],
                ..Namespaces::default()
            }
        );
        // Cyrus, default namespace
        assert_eq!(
            parse(r#"* NAMESPACE (("INBOX." ".")) (("user." ".")) (("" "."))"#).unwrap(),
            Namespaces {
                personal: vec![ns("INBOX.", Some('.'))],
                other_users: vec![ns("user.", Some('.'))],
                shared: vec![ns("", Some('.'))],
            }
        );
        // Courier
        assert_eq!(
            parse(r##"* NAMESPACE (("INBOX." ".")) NIL (("#shared." ".")("shared." "."))"##)
                .unwrap()
                .shared,
            vec![ns("#shared.", Some('.')), ns("shared.", Some('.'))]
        );
    }

    #[test]
    fn extensions_escapes_and_flat_namespaces() {
        let parsed =
            parse(r#"* NAMESPACE (("" "/" "X-PARAM" ("a" "b"))) NIL (("Q\"x" NIL))"#).unwrap();
        assert_eq!(parsed.personal, vec![ns("", Some('/'))]);
        assert_eq!(parsed.shared, vec![ns("Q\"x", None)]);
    }

    #[test]
    fn refuses_what_is_not_a_namespace_response() {
        for bad in [
            "* LIST () \"/\" INBOX",
            "* NAMESPACE",
            "* NAMESPACE ((\"x\"",
            "* NAMESPACE {5}",
            "* NAMESPACE ((\"\" \"/\")",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
