//! One way to start any of the three IMAP servers the gateway is tested against, so a
//! cross-server suite can run the same checks on each: Dovecot (`/` separator, no
//! namespace prefix), Cyrus in its default namespace and Courier (both `INBOX.` with
//! `.`). Every user gets INBOX, Drafts, Sent, Trash, Junk and Archive.

use crate::courier::Courier;
use crate::cyrus::Cyrus;
use crate::{Dovecot, Options, User};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Dovecot 2.3.
    Dovecot,
    /// Cyrus IMAP 3.6, default ("classic") namespace.
    Cyrus,
    /// Courier-IMAP 5.0.
    Courier,
}

impl Kind {
    /// All three, in the order suites run them.
    pub const ALL: [Kind; 3] = [Kind::Dovecot, Kind::Cyrus, Kind::Courier];

    /// The server's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Dovecot => "Dovecot",
            Kind::Cyrus => "Cyrus",
            Kind::Courier => "Courier",
        }
    }
}

enum Running {
    Dovecot(Box<Dovecot>),
    Cyrus(Cyrus),
    Courier(Courier),
}

/// A running server of any kind, stopped on drop.
pub struct AnyServer {
    kind: Kind,
    running: Running,
}

impl AnyServer {
    /// Starts a `kind` server with `users` (name, password).
    ///
    /// # Panics
    /// When the server is not installed (with how to install it) or does not start.
    pub fn start(kind: Kind, users: &[(&str, &str)]) -> Self {
        let running = match kind {
            Kind::Dovecot => {
                let users = users
                    .iter()
                    .map(|(name, password)| {
                        User::new(name, password).with_mailbox("Archive", Vec::new())
                    })
                    .collect();
                Running::Dovecot(Box::new(Dovecot::start(Options {
                    users,
                    ..Options::default()
                })))
            }
            Kind::Cyrus => Running::Cyrus(Cyrus::start(users)),
            Kind::Courier => Running::Courier(Courier::start(users)),
        };
        Self { kind, running }
    }

    /// Which server this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The plain IMAP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        match &self.running {
            Running::Dovecot(d) => d.imap_port,
            Running::Cyrus(c) => c.port,
            Running::Courier(c) => c.port,
        }
    }

    /// The gateway's backend URL (plain IMAP on loopback).
    pub fn plain_url(&self) -> String {
        format!("imap://127.0.0.1:{}?tls=none", self.port())
    }

    /// The server's own (wire) name of a personal mailbox given as the API names it
    /// (`/`-separated, modified UTF-7 already applied): `Projects/2026` is
    /// `INBOX.Projects.2026` on Cyrus and Courier.
    pub fn wire_name(&self, api_name: &str) -> String {
        if api_name.eq_ignore_ascii_case("INBOX") {
            return "INBOX".to_owned();
        }
        match self.kind {
            Kind::Dovecot => api_name.to_owned(),
            Kind::Cyrus | Kind::Courier => format!("INBOX.{}", api_name.replace('/', ".")),
        }
    }

    /// Creates `mailboxes` for `user` over IMAP (where missing) and appends their
    /// messages with flags and internal dates, in order: the same data on every
    /// server. Mailbox names are given as [`crate::SeedMailbox`] names them (modified
    /// UTF-7, `/` between levels).
    ///
    /// # Panics
    /// When the server refuses.
    pub async fn seed(&self, user: &str, password: &str, mailboxes: &[crate::SeedMailbox]) {
        let mut raw = crate::raw::RawImap::login(self.port(), user, password).await;
        let existing: Vec<String> = raw
            .ok("LIST \"\" \"*\"")
            .await
            .iter()
            .filter_map(|line| line.rsplit(' ').next())
            .map(|name| name.trim_matches('"').to_owned())
            .collect();
        for mailbox in mailboxes {
            let wire = self.wire_name(&mailbox.wire_name);
            if !existing.contains(&wire) {
                raw.ok(&format!("CREATE \"{wire}\"")).await;
            }
            for message in &mailbox.messages {
                let flags: Vec<&str> = message
                    .flags
                    .chars()
                    .filter_map(|letter| match letter {
                        'S' => Some("\\Seen"),
                        'F' => Some("\\Flagged"),
                        'R' => Some("\\Answered"),
                        'D' => Some("\\Draft"),
                        'T' => Some("\\Deleted"),
                        _ => None,
                    })
                    .collect();
                raw.append_dated(
                    &wire,
                    &flags.join(" "),
                    Some(message.internal_date),
                    &message.raw,
                )
                .await;
            }
        }
    }

    /// Changes `user`'s password on the server and waits until it takes the new one;
    /// sessions already logged in stay so.
    pub fn set_password(&self, user: &str, password: &str) {
        match &self.running {
            Running::Dovecot(d) => d.set_password(user, password),
            Running::Cyrus(c) => c.set_password(user, password),
            Running::Courier(c) => c.set_password(user, password),
        }
    }

    /// The server's logs, for failure messages.
    pub fn logs(&self) -> String {
        match &self.running {
            Running::Dovecot(d) => d.logs(),
            Running::Cyrus(c) => c.logs(),
            Running::Courier(c) => c.logs(),
        }
    }

    /// The Dovecot instance, when this is one.
    pub fn dovecot(&self) -> Option<&Dovecot> {
        match &self.running {
            Running::Dovecot(d) => Some(d),
            _ => None,
        }
    }
}
