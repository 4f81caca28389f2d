//! A raw IMAP client for tests and the benchmark: plain TCP, hand-written commands,
//! so they can change a mailbox behind the gateway's back, check results, or measure
//! the raw-IMAP floor without going through the code under test.

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// A logged-in raw IMAP connection.
pub struct RawImap {
    stream: BufReader<TcpStream>,
    tag: u32,
}

impl RawImap {
    /// Connects to `port` on loopback and logs in.
    ///
    /// # Panics
    /// On connection or login failure (test and benchmark code).
    pub async fn login(port: u16, user: &str, password: &str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to Dovecot");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        let mut raw = Self {
            stream: BufReader::new(stream),
            tag: 0,
        };
        let mut greeting = String::new();
        raw.stream.read_line(&mut greeting).await.expect("greeting");
        raw.ok(&format!("LOGIN {user} {password}")).await;
        raw
    }

    /// Runs a command; returns its untagged lines (literal contents skipped) and the
    /// tagged status line.
    ///
    /// # Panics
    /// When the connection fails.
    pub async fn run(&mut self, command: &str) -> (Vec<String>, String) {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.stream
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .expect("write command");
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            self.stream
                .read_line(&mut line)
                .await
                .expect("read response");
            assert!(!line.is_empty(), "connection closed during {command}");
            if let Some(status) = line.strip_prefix(&format!("{tag} ")) {
                return (lines, status.trim_end().to_owned());
            }
            if let Some(size) = line
                .trim_end()
                .strip_suffix('}')
                .and_then(|l| l.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok())
            {
                let mut skip = vec![0u8; size];
                self.stream
                    .read_exact(&mut skip)
                    .await
                    .expect("read literal");
            }
            lines.push(line.trim_end().to_owned());
        }
    }

    /// Runs a command that must succeed; returns the untagged lines.
    ///
    /// # Panics
    /// When the server does not answer OK.
    pub async fn ok(&mut self, command: &str) -> Vec<String> {
        let (lines, status) = self.run(command).await;
        assert!(status.starts_with("OK"), "{command} -> {status}");
        lines
    }

    /// UIDs matching a UID SEARCH, ascending.
    pub async fn search(&mut self, criteria: &str) -> Vec<u32> {
        let lines = self.ok(&format!("UID SEARCH {criteria}")).await;
        let mut uids: Vec<u32> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("* SEARCH"))
            .flat_map(|rest| {
                rest.split_whitespace()
                    .filter_map(|n| n.parse::<u32>().ok())
            })
            .collect();
        uids.sort_unstable();
        uids
    }

    /// The flags of a UID in the selected mailbox, sorted, space-separated.
    pub async fn flags(&mut self, uid: u32) -> String {
        let lines = self.ok(&format!("UID FETCH {uid} (FLAGS)")).await;
        let raw = lines
            .iter()
            .find_map(|l| {
                l.split_once("FLAGS (")
                    .map(|(_, rest)| rest.split(')').next().unwrap_or_default().to_owned())
            })
            .unwrap_or_default();
        let mut flags: Vec<&str> = raw
            .split_whitespace()
            .filter(|f| *f != "\\Recent")
            .collect();
        flags.sort_unstable();
        flags.join(" ")
    }

    /// Appends a small message and returns its UID (APPENDUID).
    ///
    /// # Panics
    /// When the server refuses or sends no APPENDUID.
    pub async fn append(&mut self, mailbox: &str, subject: &str) -> u32 {
        let message = format!("From: raw@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n");
        let (_, status) = self
            .run(&format!(
                "APPEND {mailbox} {{{}+}}\r\n{message}",
                message.len()
            ))
            .await;
        assert!(status.starts_with("OK"), "{status}");
        status
            .split("APPENDUID ")
            .nth(1)
            .and_then(|rest| rest.split([']', ' ']).nth(1))
            .and_then(|uid| uid.parse().ok())
            .expect("APPENDUID")
    }

    /// Appends `message` to `mailbox` (a wire name, sent as a quoted string) with
    /// `flags` (e.g. `\\Seen $Label`), using a synchronizing literal, which every
    /// server accepts (Courier has no LITERAL+). Returns the UID from APPENDUID.
    ///
    /// # Panics
    /// When the server refuses or sends no APPENDUID.
    pub async fn append_message(&mut self, mailbox: &str, flags: &str, message: &[u8]) -> u32 {
        self.append_dated(mailbox, flags, None, message).await
    }

    /// [`RawImap::append_message`] with an INTERNALDATE, in seconds since the epoch.
    ///
    /// # Panics
    /// When the server refuses or sends no APPENDUID.
    pub async fn append_dated(
        &mut self,
        mailbox: &str,
        flags: &str,
        internal_date: Option<u64>,
        message: &[u8],
    ) -> u32 {
        self.try_append(mailbox, flags, internal_date, message)
            .await
            .unwrap_or_else(|refusal| panic!("APPEND to {mailbox}: {refusal}"))
    }

    /// [`RawImap::append_dated`], answering the server's refusal instead of
    /// panicking (for tests where another client may delete the mailbox meanwhile).
    ///
    /// # Errors
    /// The server's refusal line.
    ///
    /// # Panics
    /// When the connection fails, or an accepted APPEND has no APPENDUID.
    pub async fn try_append(
        &mut self,
        mailbox: &str,
        flags: &str,
        internal_date: Option<u64>,
        message: &[u8],
    ) -> Result<u32, String> {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        let date =
            internal_date.map_or_else(String::new, |secs| format!(" \"{}\"", imap_date(secs)));
        let head = format!(
            "{tag} APPEND \"{}\" ({flags}){date} {{{}}}\r\n",
            mailbox.replace('\\', "\\\\").replace('"', "\\\""),
            message.len()
        );
        let stream = self.stream.get_mut();
        stream
            .write_all(head.as_bytes())
            .await
            .expect("write APPEND");
        let mut line = String::new();
        self.stream
            .read_line(&mut line)
            .await
            .expect("read continuation");
        if !line.starts_with('+') {
            return Err(line);
        }
        let stream = self.stream.get_mut();
        stream.write_all(message).await.expect("write message");
        stream.write_all(b"\r\n").await.expect("write CRLF");
        loop {
            let mut line = String::new();
            self.stream
                .read_line(&mut line)
                .await
                .expect("read APPEND response");
            assert!(!line.is_empty(), "connection closed during APPEND");
            if let Some(status) = line.strip_prefix(&format!("{tag} ")) {
                if !status.starts_with("OK") {
                    return Err(status.to_owned());
                }
                return Ok(status
                    .split("APPENDUID ")
                    .nth(1)
                    .and_then(|rest| rest.split([']', ' ']).nth(1))
                    .and_then(|uid| uid.parse().ok())
                    .expect("APPENDUID"));
            }
        }
    }
}

/// Logs in and out once over a blocking connection (Cyrus creates a user's mailboxes at
/// the first LOGIN).
///
/// # Panics
/// When the login fails.
pub fn blocking_login_logout(port: u16, user: &str, password: &str) {
    assert!(login_accepted(port, user, password), "LOGIN {user} failed");
}

/// Whether the server on `port` accepts a LOGIN of `user` with `password` (logged out
/// again at once).
///
/// # Panics
/// When the server cannot be reached.
pub fn login_accepted(port: u16, user: &str, password: &str) -> bool {
    use std::io::{BufRead as _, Write as _};
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("greeting");
    (&stream)
        .write_all(format!("a LOGIN \"{user}\" \"{password}\"\r\nb LOGOUT\r\n").as_bytes())
        .expect("write");
    let mut logged_in = false;
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        logged_in |= line.starts_with("a OK");
        if line.starts_with("b ") {
            break;
        }
    }
    logged_in
}

/// Waits up to 10 s until the server on `port` accepts `password` for `user` (after a
/// password change, which servers pick up from their files a moment later).
///
/// # Panics
/// When it still refuses it then.
pub fn wait_until_login_accepted(port: u16, user: &str, password: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !login_accepted(port, user, password) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server still refuses the new password of {user}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// An IMAP date-time (`26-Nov-2026 09:00:00 +0000`) for seconds since the epoch, UTC.
pub fn imap_date(secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = i64::try_from(secs / 86_400).expect("date in range");
    let rest = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{day:02}-{}-{year} {:02}:{:02}:{:02} +0000",
        MONTHS[usize::try_from(month - 1).expect("month")],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn imap_dates() {
        assert_eq!(super::imap_date(0), "01-Jan-1970 00:00:00 +0000");
        assert_eq!(
            super::imap_date(1_795_000_000),
            "18-Nov-2026 11:06:40 +0000"
        );
        assert_eq!(super::imap_date(951_782_400), "29-Feb-2000 00:00:00 +0000");
    }
}
