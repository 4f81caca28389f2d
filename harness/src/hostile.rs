//! A scripted, hostile IMAP server: the adversary in the trust tests. It speaks
//! enough IMAP4rev1 for the gateway to log in, select INBOX (one message, UID 1) and
//! fetch it, and then misbehaves on purpose as its [`Attack`] says: the answers a
//! broken or malicious server could send. It is the one scripted server the tests
//! use, because no real server misbehaves on demand.
//!
//! Listens on 127.0.0.1 (a free port); every connection is served by its own task;
//! dropping the [`HostileServer`] stops accepting and ends every connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How the server misbehaves. Everything but FETCH (and where said, SELECT) is
/// answered correctly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// None: a well-behaved server (the baseline every attack is compared with).
    None,
    /// FETCH answers a BODYSTRUCTURE nested this many parentheses deep.
    DeepBodyStructure(usize),
    /// FETCH answers a body literal announcing this many bytes, then sends filler
    /// bytes for as long as the client reads them.
    LiteralClaim(u64),
    /// FETCH is never answered (the connection stays open).
    Silent,
    /// An unsolicited `* VANISHED <ranges>` (text as given) with SELECT's answer and
    /// before FETCH's completion.
    Vanished(&'static str),
    /// FETCH completes, then garbage follows the tagged OK on the same connection.
    GarbageAfterOk,
    /// FETCH's body literal is cut off by `* BYE` and the connection closes.
    ByeInLiteral,
    /// LOGIN succeeds, then CAPABILITY is refused with a bare `NO` (no code): a
    /// server failing after the login, which is no verdict on the password.
    RefuseAfterLogin,
    /// ESEARCH is offered, and every `UID SEARCH RETURN (ALL)` is answered with every
    /// UID there could be (`ALL 1:4294967295`) in a mailbox of one message.
    ClaimedSearch,
    /// COPY succeeds with a COPYUID that claims every UID there could be was copied
    /// (`[COPYUID 7 1:4294967295 1:4294967295]`).
    ClaimedCopy,
}

/// The one message of INBOX.
const MESSAGE: &[u8] = b"From: Mallory <mallory@example.org>\r\nTo: alice@example.org\r\n\
Subject: hostile\r\nDate: Tue, 08 Dec 2026 10:00:00 +0000\r\nMessage-ID: <h1@example.org>\r\n\
\r\nhello\r\n";

/// Where MESSAGE's header ends (after its blank line).
fn header_end() -> usize {
    MESSAGE
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("BUG: the message has a header")
        + 4
}

/// A running hostile server.
pub struct HostileServer {
    port: u16,
    connections: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl HostileServer {
    /// Starts a server that misbehaves as `attack` says.
    pub async fn start(attack: Attack) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the hostile server");
        let port = listener.local_addr().expect("local address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let accept = tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tasks.spawn(async move {
                    let _ = serve(stream, attack).await;
                });
            }
        });
        Self {
            port,
            connections,
            accept,
        }
    }

    /// `imap://127.0.0.1:port?tls=none`
    pub fn plain_url(&self) -> String {
        format!("imap://127.0.0.1:{}?tls=none", self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(stream: TcpStream, attack: Attack) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let capabilities = if attack == Attack::ClaimedSearch {
        "IMAP4rev1 UIDPLUS IDLE ESEARCH"
    } else {
        "IMAP4rev1 UIDPLUS IDLE"
    };
    write
        .write_all(format!("* OK [CAPABILITY {capabilities}] hostile ready\r\n").as_bytes())
        .await?;
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut words = line.trim_end().splitn(3, ' ');
        let tag = words.next().unwrap_or("*").to_owned();
        let mut verb = words.next().unwrap_or("").to_ascii_uppercase();
        let mut rest = words.next().unwrap_or("").to_owned();
        if verb == "UID" {
            let mut inner = rest.splitn(2, ' ');
            verb = inner.next().unwrap_or("").to_ascii_uppercase();
            rest = inner.next().unwrap_or("").to_owned();
        }
        let ok = format!("{tag} OK done\r\n");
        match verb.as_str() {
            "CAPABILITY" if attack == Attack::RefuseAfterLogin => {
                write
                    .write_all(format!("{tag} NO not now\r\n").as_bytes())
                    .await?;
            }
            "CAPABILITY" => {
                write
                    .write_all(format!("* CAPABILITY {capabilities}\r\n{ok}").as_bytes())
                    .await?;
            }
            "LIST" => {
                let answer = if rest.ends_with("\"\"") {
                    "* LIST (\\Noselect) \"/\" \"\"\r\n"
                } else {
                    "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
                };
                write.write_all(format!("{answer}{ok}").as_bytes()).await?;
            }
            "SELECT" | "EXAMINE" => {
                let mut answer = String::from(
                    "* 1 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Flagged)\r\n\
                     * OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 2] ok\r\n",
                );
                if let Attack::Vanished(ranges) = attack {
                    answer.push_str(&format!("* VANISHED {ranges}\r\n"));
                }
                answer.push_str(&format!("{tag} OK [READ-WRITE] selected\r\n"));
                write.write_all(answer.as_bytes()).await?;
            }
            "STATUS" => {
                write
                    .write_all(
                        format!(
                            "* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 7 UNSEEN 0)\r\n{ok}"
                        )
                        .as_bytes(),
                    )
                    .await?;
            }
            "SEARCH" if attack == Attack::ClaimedSearch && rest.contains("RETURN") => {
                write
                    .write_all(
                        format!("* ESEARCH (TAG \"{tag}\") UID ALL 1:4294967295\r\n{ok}")
                            .as_bytes(),
                    )
                    .await?;
            }
            "COPY" if attack == Attack::ClaimedCopy => {
                write
                    .write_all(
                        format!("{tag} OK [COPYUID 7 1:4294967295 1:4294967295] copied\r\n")
                            .as_bytes(),
                    )
                    .await?;
            }
            "SEARCH" => {
                write
                    .write_all(format!("* SEARCH 1\r\n{ok}").as_bytes())
                    .await?;
            }
            "FETCH" => fetch(&mut write, &tag, &rest, attack).await?,
            "LOGOUT" => {
                write
                    .write_all(format!("* BYE bye\r\n{ok}").as_bytes())
                    .await?;
                return Ok(());
            }
            "AUTHENTICATE" => {
                write
                    .write_all(format!("{tag} NO not here\r\n").as_bytes())
                    .await?;
            }
            _ => write.write_all(ok.as_bytes()).await?,
        }
    }
}

/// Answers `FETCH <set> (<items>)` for message 1 with the items asked for, or as the
/// attack says.
async fn fetch(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    tag: &str,
    rest: &str,
    attack: Attack,
) -> std::io::Result<()> {
    let items = rest.to_ascii_uppercase();
    let mut head = String::from("* 1 FETCH (UID 1");
    if items.contains("FLAGS") {
        head.push_str(" FLAGS (\\Seen)");
    }
    if items.contains("INTERNALDATE") {
        head.push_str(" INTERNALDATE \"08-Dec-2026 10:00:00 +0000\"");
    }
    if items.contains("RFC822.SIZE") {
        head.push_str(&format!(" RFC822.SIZE {}", MESSAGE.len()));
    }
    if items.contains("BODYSTRUCTURE") {
        match attack {
            Attack::DeepBodyStructure(depth) => {
                head.push_str(" BODYSTRUCTURE ");
                head.push_str(&"(".repeat(depth));
                head.push_str(&")".repeat(depth));
            }
            _ => head.push_str(
                " BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1 NIL NIL NIL NIL)",
            ),
        }
    }
    match attack {
        Attack::Silent => {
            // Never answer; hold the connection until the client gives up.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Ok(());
        }
        Attack::LiteralClaim(size) => {
            write
                .write_all(format!("{head} BODY[] {{{size}}}\r\n").as_bytes())
                .await?;
            let filler = vec![b'x'; 64 * 1024];
            loop {
                write.write_all(&filler).await?;
            }
        }
        Attack::ByeInLiteral => {
            write
                .write_all(
                    format!("{head} BODY[] {{1000}}\r\nFrom: a\r\n\r\n* BYE going away\r\n")
                        .as_bytes(),
                )
                .await?;
            return write.shutdown().await;
        }
        _ => {}
    }
    let mut out = head.into_bytes();
    if let Some(start) = items.find("BODY.PEEK[").or_else(|| items.find("BODY[")) {
        let open = items[start..].find('[').map_or(start, |i| start + i);
        let close = items[open..].find(']').map_or(items.len(), |i| open + i);
        let section = &rest[open + 1..close];
        let whole: &[u8] = if section.to_ascii_uppercase().contains("HEADER") {
            &MESSAGE[..header_end()]
        } else if section.is_empty() || section.eq_ignore_ascii_case("TEXT") || section == "1" {
            if section.is_empty() {
                MESSAGE
            } else {
                &MESSAGE[header_end()..]
            }
        } else {
            MESSAGE
        };
        // A partial fetch `<start.length>` is answered with `<start>`.
        let after = &rest[close + 1..];
        let (body, origin) = match after.strip_prefix('<') {
            Some(partial) => {
                let spec = partial.split('>').next().unwrap_or("0");
                let (from, len) = spec.split_once('.').unwrap_or((spec, "0"));
                let from: usize = from.parse().unwrap_or(0).min(whole.len());
                let len: usize = len.parse().unwrap_or(0);
                let to = from.saturating_add(len).min(whole.len());
                (&whole[from..to], format!("<{from}>"))
            }
            None => (whole, String::new()),
        };
        out.extend_from_slice(
            format!(" BODY[{section}]{origin} {{{}}}\r\n", body.len()).as_bytes(),
        );
        out.extend_from_slice(body);
    }
    out.extend_from_slice(b")\r\n");
    if let Attack::Vanished(ranges) = attack {
        out.extend_from_slice(format!("* VANISHED {ranges}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("{tag} OK fetched\r\n").as_bytes());
    if attack == Attack::GarbageAfterOk {
        out.extend_from_slice(b")))((( \x00\xff garbage {3}\r\nxyz\r\n* 99999999999 FETCH (\r\n");
    }
    write.write_all(&out).await
}
