//! The relay behind Dovecot's submission service in tests: an SMTP server on a free
//! loopback port that keeps every message it accepts, with its envelope, and answers
//! chosen recipients with a chosen reply (a 4xx or 5xx), as a real relay would refuse
//! a mailbox that is full or does not exist.
//!
//! The gateway never talks to it: it submits to Dovecot (`dovecot-submissiond`), which
//! relays each command of the transaction here and passes the replies back.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One message the sink accepted.
#[derive(Debug, Clone)]
pub struct Relayed {
    /// The `MAIL FROM` address.
    pub mail_from: String,
    /// The accepted `RCPT TO` addresses, in order.
    pub recipients: Vec<String>,
    /// The message as transmitted (dot-unstuffed, CRLF line ends).
    pub data: Vec<u8>,
}

impl Relayed {
    /// The message as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

#[derive(Default)]
struct Shared {
    received: Vec<Relayed>,
    /// Recipient (lower case) → the reply line its `RCPT TO` gets.
    refusals: HashMap<String, String>,
    /// Sender (lower case) → the reply line its `MAIL FROM` gets.
    sender_refusals: HashMap<String, String>,
    /// Every command line received, for tests that check what was sent.
    commands: Vec<String>,
    /// Where accepted messages are also written (`0001.eml`, ...), if anywhere.
    save_dir: Option<std::path::PathBuf>,
}

/// A running sink; stops accepting when dropped.
pub struct SmtpSink {
    /// The loopback port it listens on.
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    stopped: Arc<AtomicBool>,
}

impl SmtpSink {
    /// Starts the sink on a free loopback port.
    ///
    /// # Panics
    /// When no port can be bound.
    pub fn start() -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the SMTP sink");
        let port = listener.local_addr().expect("sink address").port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stopped = Arc::new(AtomicBool::new(false));
        let state = shared.clone();
        let stop = stopped.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { break };
                let state = state.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        Self {
            port,
            shared,
            stopped,
        }
    }

    /// Answers `RCPT TO:<recipient>` with `reply` (a whole line such as
    /// `550 5.1.1 No such user`) from now on.
    pub fn refuse(&self, recipient: &str, reply: &str) {
        self.lock()
            .refusals
            .insert(recipient.to_ascii_lowercase(), reply.to_owned());
    }

    /// Also writes every accepted message to `dir` as `0001.eml`, `0002.eml`, ...
    /// (the demo shows sent mail there).
    #[must_use]
    pub fn saving_to(self, dir: std::path::PathBuf) -> Self {
        self.lock().save_dir = Some(dir);
        self
    }

    /// Answers `MAIL FROM:<sender>` with `reply` (e.g. `553 5.7.1 Sender not
    /// allowed`) from now on, as a server that checks the sender would.
    pub fn refuse_sender(&self, sender: &str, reply: &str) {
        self.lock()
            .sender_refusals
            .insert(sender.to_ascii_lowercase(), reply.to_owned());
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Relayed> {
        self.lock().received.clone()
    }

    /// Every command line received so far (DATA content excluded).
    pub fn commands(&self) -> Vec<String> {
        self.lock().commands.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // Wake the accept loop so it sees the flag and closes the listener.
        self.stopped.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The address inside `MAIL FROM:<...>` / `RCPT TO:<...>`.
fn path_of(line: &str) -> String {
    let start = line.find('<').map_or(line.len(), |i| i + 1);
    let end = line[start..].find('>').map_or(line.len(), |i| start + i);
    line[start..end].to_owned()
}

fn serve(stream: TcpStream, shared: &Mutex<Shared>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    out.write_all(b"220 sink.test ESMTP harness sink\r\n")?;
    let mut mail_from: Option<String> = None;
    let mut recipients: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end_matches(['\r', '\n']).to_owned();
        shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .commands
            .push(command.clone());
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => "250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 52428800\r\n250 ENHANCEDSTATUSCODES".to_owned(),
            "HELO" => "250 sink.test".to_owned(),
            "MAIL" => {
                let sender = path_of(&command);
                let refusal = shared
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .sender_refusals
                    .get(&sender.to_ascii_lowercase())
                    .cloned();
                recipients.clear();
                match refusal {
                    Some(reply) => reply,
                    None => {
                        mail_from = Some(sender);
                        "250 2.1.0 Ok".to_owned()
                    }
                }
            }
            "RCPT" if mail_from.is_none() => "503 5.5.1 MAIL first".to_owned(),
            "RCPT" => {
                let recipient = path_of(&command);
                let refusal = shared
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .refusals
                    .get(&recipient.to_ascii_lowercase())
                    .cloned();
                match refusal {
                    Some(reply) => reply,
                    None => {
                        recipients.push(recipient);
                        "250 2.1.5 Ok".to_owned()
                    }
                }
            }
            "DATA" if recipients.is_empty() => "554 5.5.1 No valid recipients".to_owned(),
            "DATA" => {
                out.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
                let mut data = Vec::new();
                let mut raw = Vec::new();
                loop {
                    raw.clear();
                    if input.read_until(b'\n', &mut raw)? == 0 {
                        return Ok(());
                    }
                    if raw == b".\r\n" || raw == b".\n" {
                        break;
                    }
                    let unstuffed = if raw.starts_with(b"..") { &raw[1..] } else { &raw[..] };
                    data.extend_from_slice(unstuffed);
                }
                let relayed = Relayed {
                    mail_from: mail_from.take().unwrap_or_default(),
                    recipients: std::mem::take(&mut recipients),
                    data,
                };
                let mut state = shared
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(dir) = &state.save_dir {
                    let file = dir.join(format!("{:04}.eml", state.received.len() + 1));
                    std::fs::write(file, &relayed.data)?;
                }
                state.received.push(relayed);
                drop(state);
                "250 2.0.0 Ok: queued".to_owned()
            }
            "RSET" => {
                mail_from = None;
                recipients.clear();
                "250 2.0.0 Ok".to_owned()
            }
            "NOOP" => "250 2.0.0 Ok".to_owned(),
            "QUIT" => {
                out.write_all(b"221 2.0.0 Bye\r\n")?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognised".to_owned(),
        };
        out.write_all(reply.as_bytes())?;
        out.write_all(b"\r\n")?;
    }
}
