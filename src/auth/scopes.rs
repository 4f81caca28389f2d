//! Token scopes: `read` (GET), `write` (changes), `delete` (permanent deletion),
//! `send` (submitting mail; tokens get it only when they ask for it).

use std::fmt;

/// One permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read mailboxes and messages.
    Read,
    /// Change flags, append, move, copy, create and rename mailboxes.
    Write,
    /// Delete permanently, delete mailboxes.
    Delete,
    /// Send mail (`POST /v1/send`).
    Send,
}

impl Scope {
    /// The scope's name in tokens and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Delete => "delete",
            Self::Send => "send",
        }
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scopes {
    read: bool,
    write: bool,
    delete: bool,
    send: bool,
}

impl Scopes {
    /// Every scope: what a password (Basic auth) grants.
    pub const ALL: Self = Self {
        read: true,
        write: true,
        delete: true,
        send: true,
    };

    /// What a token gets when it names no scope: everything but `send`, which a
    /// token must ask for.
    pub const DEFAULT_TOKEN: Self = Self {
        read: true,
        write: true,
        delete: true,
        send: false,
    };

    /// Reading only: what an event ticket grants.
    pub const READ: Self = Self {
        read: true,
        write: false,
        delete: false,
        send: false,
    };

    /// True when `scope` is granted.
    pub fn allows(self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.read,
            Scope::Write => self.write,
            Scope::Delete => self.delete,
            Scope::Send => self.send,
        }
    }

    /// Parses a space-separated scope string (`"read write"`).
    ///
    /// # Errors
    /// An unknown scope name or an empty set.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut scopes = Self::parse_empty();
        for word in text.split_whitespace() {
            match word {
                "read" => scopes.read = true,
                "write" => scopes.write = true,
                "delete" => scopes.delete = true,
                "send" => scopes.send = true,
                other => {
                    return Err(format!(
                        "unknown scope {other:?} (use read, write, delete, send)"
                    ))
                }
            }
        }
        if scopes == Self::parse_empty() {
            return Err("at least one scope is required".to_owned());
        }
        Ok(scopes)
    }

    fn parse_empty() -> Self {
        Self {
            read: false,
            write: false,
            delete: false,
            send: false,
        }
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [Scope::Read, Scope::Write, Scope::Delete, Scope::Send]
            .into_iter()
            .filter(|s| self.allows(*s))
            .map(Scope::as_str)
            .collect();
        f.write_str(&names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let scopes = Scopes::parse("write  read").unwrap();
        assert!(scopes.allows(Scope::Read) && scopes.allows(Scope::Write));
        assert!(!scopes.allows(Scope::Delete));
        assert_eq!(scopes.to_string(), "read write");
        assert_eq!(Scopes::ALL.to_string(), "read write delete send");
        assert_eq!(Scopes::DEFAULT_TOKEN.to_string(), "read write delete");
        assert!(Scopes::parse("").is_err());
        assert!(Scopes::parse("admin").is_err());
    }
}
