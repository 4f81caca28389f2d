//! A real Dovecot for tests, the demo and benchmarks, started from its own
//! configuration in a temporary directory: free loopback ports (plain/STARTTLS and
//! implicit TLS with a freshly generated certificate), passwd-file users and maildirs
//! seeded straight on disk. Dropping [`Dovecot`] stops it and removes everything.
//!
//! Facts this relies on (checked on Debian 12, Dovecot 2.3.19): the temp dir must be
//! 0755 so Dovecot's unprivileged processes can enter it; the daemon runs in the
//! foreground (`-F`) as our child, with its output in a file (a pipe would hang us);
//! `imap_capability` replaces the advertised capability list, which lets tests drive
//! the gateway's fallback paths; `rawlog_dir` records every command a session sends.

pub mod courier;
pub mod cyrus;
pub mod hostile;
pub mod oauth;
mod packages;
pub mod proxy;
pub mod python;
pub mod raw;
pub mod servers;
pub mod sink;

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The install hint shown when Dovecot is missing.
pub const INSTALL_HINT: &str = "Dovecot is required for the integration tests and the demo: \
run `apt-get install -y dovecot-imapd` as root (scripts/test.sh and scripts/demo.sh do it for you)";

/// A message to seed: raw RFC 5322 bytes, IMAP flag letters and an internal date.
#[derive(Debug, Clone)]
pub struct SeedMessage {
    /// The raw message (CRLF line endings recommended).
    pub raw: Vec<u8>,
    /// Maildir flag letters: `S` seen, `F` flagged, `R` answered, `D` draft, `T` deleted.
    pub flags: String,
    /// INTERNALDATE, seconds since the epoch.
    pub internal_date: u64,
}

impl SeedMessage {
    /// The message `raw` as it is: no flags, the harness's usual internal date.
    pub fn raw(raw: Vec<u8>) -> Self {
        Self {
            raw,
            flags: String::new(),
            internal_date: 1_795_000_000,
        }
    }

    /// A simple text message.
    pub fn text(from: &str, to: &str, subject: &str, body: &str) -> Self {
        let raw = format!(
            "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Thu, 26 Nov 2026 09:00:00 +0000\r\n\
             Message-ID: <{}@harness>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
            subject.replace(' ', ".")
        );
        Self::raw(raw.into_bytes())
    }

    /// Sets the maildir flag letters.
    pub fn with_flags(mut self, flags: &str) -> Self {
        self.flags = flags.to_owned();
        self
    }
}

/// A mailbox to seed, by its **wire** name (modified UTF-7, `/` as the separator):
/// tests then check that the gateway decodes it.
#[derive(Debug, Clone)]
pub struct SeedMailbox {
    /// Wire name, e.g. `INBOX`, `Archive`, `Entw&APw-rfe`, `Projects/2026`.
    pub wire_name: String,
    /// Messages in file-name (= UID) order.
    pub messages: Vec<SeedMessage>,
}

/// A user with a password and mailboxes.
#[derive(Debug, Clone)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Password (any UTF-8 without `:` or newlines).
    pub password: String,
    /// Mailboxes to seed; INBOX always exists.
    pub mailboxes: Vec<SeedMailbox>,
}

impl User {
    /// A user with an empty INBOX.
    pub fn new(name: &str, password: &str) -> Self {
        Self {
            name: name.to_owned(),
            password: password.to_owned(),
            mailboxes: Vec::new(),
        }
    }

    /// Adds a mailbox with messages.
    pub fn with_mailbox(mut self, wire_name: &str, messages: Vec<SeedMessage>) -> Self {
        self.mailboxes.push(SeedMailbox {
            wire_name: wire_name.to_owned(),
            messages,
        });
        self
    }
}

/// How to start Dovecot.
#[derive(Debug, Clone)]
pub struct Options {
    /// Users to create.
    pub users: Vec<User>,
    /// Replace the advertised post-login capabilities (e.g. `IMAP4rev1 IDLE UIDPLUS`).
    pub capabilities: Option<String>,
    /// Concurrent sessions allowed per user and address (Dovecot's default is 10).
    pub max_userip_connections: u32,
    /// Record every session's commands under the temp dir (see [`Dovecot::commands`]).
    pub rawlog: bool,
    /// Special-use mailboxes created automatically (and subscribed) for every user.
    pub special_use: bool,
    /// Raise Dovecot's process and client limits for this many concurrent IMAP
    /// sessions (the defaults stop near 1,000); `None` keeps Dovecot's defaults.
    pub max_sessions: Option<u32>,
    /// More top-level settings, appended to the configuration as they are.
    pub extra_config: String,
    /// Run Dovecot's submission service too, relaying to this loopback port (an
    /// [`sink::SmtpSink`]); needs `dovecot-submissiond`.
    pub submission_relay: Option<u16>,
    /// Accept OAuth2 access tokens (SASL OAUTHBEARER / XOAUTH2) checked by Dovecot's
    /// `oauth2` passdb against this introspection endpoint (see [`oauth`]).
    pub oauth2: Option<OAuth2>,
}

/// Dovecot's OAuth2 sign-in: where it checks tokens and which SASL mechanisms it
/// offers.
#[derive(Debug, Clone)]
pub struct OAuth2 {
    /// The RFC 7662 introspection URL ([`oauth::Introspection::url`]).
    pub introspection_url: String,
    /// The OAuth2 mechanisms advertised, e.g. `oauthbearer xoauth2`, or `xoauth2`
    /// alone to make clients fall back to it.
    pub mechanisms: String,
}

impl OAuth2 {
    /// Both OAUTHBEARER and XOAUTH2, checked against `introspection`.
    pub fn both(introspection: &oauth::Introspection) -> Self {
        Self {
            introspection_url: introspection.url(),
            mechanisms: "oauthbearer xoauth2".to_owned(),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            capabilities: None,
            max_userip_connections: 100,
            rawlog: true,
            special_use: true,
            max_sessions: None,
            extra_config: String::new(),
            submission_relay: None,
            oauth2: None,
        }
    }
}

/// A running Dovecot. Stops (SIGKILL, then reaped) and cleans up on drop.
pub struct Dovecot {
    dir: tempfile::TempDir,
    child: Child,
    /// Port of the plain listener (STARTTLS offered, not required).
    pub imap_port: u16,
    /// Port of the implicit-TLS listener.
    pub imaps_port: u16,
    /// Port of the submission service (plain, STARTTLS offered), when started with
    /// [`Options::submission_relay`].
    pub submission_port: Option<u16>,
    /// Port of the submission service's implicit-TLS listener (`smtps`), beside
    /// [`Dovecot::submission_port`].
    pub submissions_port: Option<u16>,
    /// Text in this instance's greeting, to tell it from any other server.
    greeting: String,
    /// False between [`Dovecot::kill`] and [`Dovecot::restart`] (the pid is then
    /// stale and must not be signalled).
    running: bool,
}

/// Next port to try. Ports come from 20000-32767, below Linux's ephemeral range
/// (32768+), so outgoing connections of concurrent tests cannot take them, and each
/// process walks the range from its own starting point, so concurrent instances in one
/// test binary never pick the same port.
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

const PORT_RANGE: std::ops::Range<u16> = 20_000..32_768;

pub(crate) fn free_port() -> u16 {
    if NEXT_PORT.load(Ordering::Relaxed) == 0 {
        let seed = std::process::id()
            ^ SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
        let span = u32::from(PORT_RANGE.end - PORT_RANGE.start);
        let start = PORT_RANGE.start + u16::try_from(seed % span).expect("span fits in u16");
        let _ = NEXT_PORT.compare_exchange(0, start, Ordering::Relaxed, Ordering::Relaxed);
    }
    loop {
        let mut port = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
        if !PORT_RANGE.contains(&port) {
            NEXT_PORT.store(PORT_RANGE.start + 1, Ordering::Relaxed);
            port = PORT_RANGE.start;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Waits up to 20 s for a server on `port` to greet with a line containing
/// `marker`, while `alive` says its process still runs. True once it greets.
pub(crate) fn wait_for_greeting(port: u16, marker: &str, mut alive: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && alive() {
        if greets(port, marker) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Whether a server on `port` greets with `* OK` and a line containing `marker`.
fn greets(port: u16, marker: &str) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok_and(|stream| {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).is_ok()
            && line.starts_with("* OK")
            && line.contains(marker)
    })
}

fn run(program: &str, args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
}

/// Whether Dovecot can be started on this machine.
pub fn dovecot_installed() -> bool {
    run("dovecot", &["--version"]).is_ok_and(|o| o.status.success())
}

impl Dovecot {
    /// Starts Dovecot with `options` and waits until it greets on both ports.
    ///
    /// # Panics
    /// When Dovecot is not installed (with [`INSTALL_HINT`]) or does not start.
    pub fn start(options: Options) -> Self {
        assert!(dovecot_installed(), "{INSTALL_HINT}");
        if options.submission_relay.is_some() {
            assert!(
                Path::new("/usr/lib/dovecot/submission").exists(),
                "Dovecot's submission service is not installed: run scripts/test.sh as root, \
                 or apt-get install -y --no-install-recommends dovecot-submissiond"
            );
        }
        let mut dir = tempfile::Builder::new()
            .prefix("imap-gateway-dovecot-")
            .tempdir()
            .expect("cannot create a temp dir");
        let root = dir.path().to_path_buf();
        // Dovecot's unprivileged processes must be able to enter it.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        let as_root = fs::metadata(&root).expect("stat temp dir").uid() == 0;

        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("cannot generate a test certificate");
        fs::write(root.join("cert.pem"), certified.cert.pem()).expect("write cert");
        fs::write(root.join("key.pem"), certified.signing_key.serialize_pem()).expect("write key");

        let mut passwd = String::new();
        for user in &options.users {
            let _ = writeln!(passwd, "{}:{{PLAIN}}{}::::::", user.name, user.password);
        }
        fs::write(root.join("passwd"), passwd).expect("write passwd");

        for dir in ["mail", "rawlog", "run", "state"] {
            fs::create_dir_all(root.join(dir)).expect("mkdir");
        }
        for user in &options.users {
            let mut user = user.clone();
            if options.special_use {
                // Created on disk up front rather than auto-created by Dovecot on first
                // access: two imap processes auto-creating at once take the list index
                // and mailbox index locks in opposite orders, and Dovecot 2.3 panics
                // ("fcntl(dovecot.list.index.log) ... Resource deadlock avoided").
                for special in ["Sent", "Trash", "Drafts", "Junk"] {
                    if !user.mailboxes.iter().any(|m| m.wire_name == special) {
                        user = user.with_mailbox(special, Vec::new());
                    }
                }
            }
            seed_user(&root.join("mail").join(&user.name), &user);
            fs::create_dir_all(root.join("rawlog").join(&user.name)).expect("mkdir rawlog");
        }

        if as_root {
            for dir in ["mail", "rawlog"] {
                let path = root.join(dir);
                let status = Command::new("chown")
                    .args(["-R", "dovecot:dovecot"])
                    .arg(&path)
                    .status()
                    .expect("chown");
                assert!(
                    status.success(),
                    "chown -R dovecot:dovecot {} failed",
                    path.display()
                );
            }
        }

        // The greeting names this instance, so readiness is never confirmed by another
        // test's Dovecot that happens to listen on a port we thought was free.
        let greeting = format!(
            "harness-{}",
            root.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().replace(['.', '-'], ""))
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            let imap_port = free_port();
            let imaps_port = free_port();
            let submission_port = options.submission_relay.map(|_| free_port());
            let submissions_port = options.submission_relay.map(|_| free_port());
            let ports = Ports {
                imap: imap_port,
                imaps: imaps_port,
                submission: submission_port.zip(submissions_port),
            };
            let config = render_config(&root, &options, ports, as_root, &greeting);
            let config_path = root.join("dovecot.conf");
            fs::write(&config_path, config).expect("write dovecot.conf");
            let child = spawn_dovecot(&root);
            let mut dovecot = Self {
                dir,
                child,
                imap_port,
                imaps_port,
                submission_port,
                submissions_port,
                greeting: greeting.clone(),
                running: true,
            };
            match dovecot.wait_ready(&greeting) {
                Ok(()) => return dovecot,
                Err(logs) if logs.contains("Address already in use") && attempt < 5 => {
                    // Lost a race for a port: stop this child and try other ports.
                    dovecot.kill();
                    let placeholder = tempfile::tempdir().expect("temp dir");
                    dir = std::mem::replace(&mut dovecot.dir, placeholder);
                }
                Err(logs) => panic!("dovecot did not start:\n{logs}"),
            }
        }
    }

    /// Kills Dovecot and every process it started with SIGKILL, as a crash would:
    /// open IMAP connections die with it and the ports stop answering.
    pub fn kill(&mut self) {
        if !std::mem::replace(&mut self.running, false) {
            return;
        }
        let master = self.child.id();
        // Stop the master first so it cannot start another process between our
        // listing its children and killing them: a survivor would keep holding the
        // user's index locks and make the restarted server hang on them.
        let signal = |signal: &str, pid: u32| {
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
        };
        signal("-STOP", master);
        for pid in child_pids(master) {
            signal("-KILL", pid);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts Dovecot again after [`Dovecot::kill`], on the same ports with the same
    /// users and mail, and waits until it greets.
    ///
    /// # Panics
    /// When it does not come back.
    pub fn restart(&mut self) {
        self.child = spawn_dovecot(self.dir.path());
        self.running = true;
        let greeting = self.greeting.clone();
        if let Err(logs) = self.wait_ready(&greeting) {
            panic!("dovecot did not restart:\n{logs}");
        }
    }

    fn wait_ready(&mut self, greeting: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("dovecot exited with {status}:\n{}", self.logs()));
            }
            let greeted = TcpStream::connect(("127.0.0.1", self.imap_port)).is_ok_and(|stream| {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut line = String::new();
                BufReader::new(stream).read_line(&mut line).is_ok()
                    && line.starts_with("* OK")
                    && line.contains(greeting)
            });
            // Submission greets only once its login process is up; a bare connect
            // can succeed earlier, and a send would then meet a closed connection.
            let submission_up = self.submission_port.is_none_or(|port| {
                TcpStream::connect(("127.0.0.1", port)).is_ok_and(|stream| {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut line = String::new();
                    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("220")
                })
            });
            if greeted
                && submission_up
                && TcpStream::connect(("127.0.0.1", self.imaps_port)).is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("dovecot did not start in time:\n{}", self.logs()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Changes `user`'s password in the passwd-file and waits until Dovecot takes the
    /// new one (it re-reads the file when it changes); sessions already logged in stay
    /// logged in, as on a real server.
    ///
    /// # Panics
    /// When the user does not exist or Dovecot keeps refusing the new password.
    pub fn set_password(&self, user: &str, password: &str) {
        let path = self.dir.path().join("passwd");
        let old = fs::read_to_string(&path).expect("read passwd");
        let prefix = format!("{user}:");
        assert!(
            old.lines().any(|l| l.starts_with(&prefix)),
            "no user {user}"
        );
        let new: String = old
            .lines()
            .map(|line| {
                if line.starts_with(&prefix) {
                    format!("{user}:{{PLAIN}}{password}::::::\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        // A new file under the same name: a new inode and mtime, whatever the size.
        let staged = self.dir.path().join("passwd.new");
        fs::write(&staged, new).expect("write passwd");
        fs::rename(&staged, &path).expect("replace passwd");
        raw::wait_until_login_accepted(self.imap_port, user, password);
    }

    /// The temp directory holding config, mail and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// PEM file of the server certificate (trust it as a CA file).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// `imap://127.0.0.1:port?tls=none`
    pub fn plain_url(&self) -> String {
        format!("imap://127.0.0.1:{}?tls=none", self.imap_port)
    }

    /// `smtp://127.0.0.1:port?tls=none`: the submission service without TLS.
    ///
    /// # Panics
    /// When started without [`Options::submission_relay`].
    pub fn submission_plain_url(&self) -> String {
        let port = self.submission_port.expect("started without submission");
        format!("smtp://127.0.0.1:{port}?tls=none")
    }

    /// `smtp://localhost:port` (STARTTLS, required).
    ///
    /// # Panics
    /// When started without [`Options::submission_relay`].
    pub fn submission_starttls_url(&self) -> String {
        let port = self.submission_port.expect("started without submission");
        format!("smtp://localhost:{port}")
    }

    /// `smtps://localhost:port`: the submission service with implicit TLS.
    ///
    /// # Panics
    /// When started without [`Options::submission_relay`].
    pub fn submission_tls_url(&self) -> String {
        let port = self.submissions_port.expect("started without submission");
        format!("smtps://localhost:{port}")
    }

    /// `imap://localhost:port` (STARTTLS).
    pub fn starttls_url(&self) -> String {
        format!("imap://localhost:{}", self.imap_port)
    }

    /// `imaps://localhost:port`
    pub fn imaps_url(&self) -> String {
        format!("imaps://localhost:{}", self.imaps_port)
    }

    /// Dovecot's log and console output.
    pub fn logs(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("dovecot.out"), read("dovecot.log"))
    }

    /// How many IMAP sessions `user` has logged in so far (one rawlog per session).
    pub fn sessions_opened(&self, user: &str) -> usize {
        self.rawlog_files(user, "in").len()
    }

    /// Every command line `user`'s sessions sent, tags stripped, in file order.
    pub fn commands(&self, user: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for file in self.rawlog_files(user, "in") {
            let text = String::from_utf8_lossy(&fs::read(file).unwrap_or_default()).into_owned();
            for line in text.lines() {
                // Dovecot prefixes rawlog lines with a timestamp; the tag follows.
                let mut rest = line;
                if rest.split(' ').next().is_some_and(|t| {
                    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                }) {
                    rest = rest.split_once(' ').map_or("", |(_, r)| r);
                }
                let command = rest.split_once(' ').map_or(rest, |(_, r)| r);
                lines.push(command.to_owned());
            }
        }
        lines
    }

    fn rawlog_files(&self, user: &str, ext: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.dir.path().join("rawlog").join(user))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == ext))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Live IMAP connections of `user`, as `doveadm who` counts them.
    pub fn connections(&self, user: &str) -> usize {
        self.session_pids(user).len()
    }

    /// Process ids of `user`'s IMAP sessions (one process per session, from
    /// `doveadm who`), for counting and for failure injection such as SIGSTOP.
    pub fn session_pids(&self, user: &str) -> Vec<u32> {
        let config = self.dir.path().join("dovecot.conf");
        let output = Command::new("doveadm")
            .arg("-c")
            .arg(&config)
            .args(["who", "-1", user])
            .output()
            .expect("doveadm who");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(user))
            .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
            .collect()
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to every IMAP process of `user`.
    pub fn signal_sessions(&self, user: &str, signal: &str) {
        for pid in self.session_pids(user) {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// Disconnects every session of `user` (`doveadm kick`).
    pub fn kick(&self, user: &str) {
        let config = self.dir.path().join("dovecot.conf");
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(&config)
            .args(["kick", user])
            .output();
    }

    /// Whether `user` has a mailbox with this wire name on disk.
    pub fn mailbox_exists(&self, user: &str, wire_name: &str) -> bool {
        let path = mailbox_dir(&self.dir.path().join("mail").join(user), wire_name);
        path.join("cur").is_dir()
    }

    /// Number of message files in a mailbox on disk (`cur` + `new`).
    pub fn message_count(&self, user: &str, wire_name: &str) -> usize {
        let path = mailbox_dir(&self.dir.path().join("mail").join(user), wire_name);
        ["cur", "new"]
            .iter()
            .map(|sub| fs::read_dir(path.join(sub)).map(|d| d.count()).unwrap_or(0))
            .sum()
    }
}

/// Starts `dovecot -F` on the configuration in `root`, output to `root/dovecot.out`.
fn spawn_dovecot(root: &Path) -> Child {
    let output = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("dovecot.out"))
        .expect("open dovecot.out");
    Command::new("dovecot")
        .arg("-F")
        .arg("-c")
        .arg(root.join("dovecot.conf"))
        .stdin(Stdio::null())
        .stdout(output.try_clone().expect("dup"))
        .stderr(output)
        .spawn()
        .expect("cannot start dovecot")
}

/// Every process id on the machine (from /proc).
pub(crate) fn all_pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// Process ids whose parent is `parent` (from /proc).
pub(crate) fn child_pids(parent: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                // The command name is in parentheses and may hold spaces; the parent
                // pid is the second field after it.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .collect()
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // All of its processes, not just the master: orphaned imap processes would
        // otherwise linger until their clients disconnect.
        self.kill();
    }
}

fn mailbox_dir(user_root: &Path, wire_name: &str) -> PathBuf {
    if wire_name.eq_ignore_ascii_case("INBOX") {
        user_root.to_path_buf()
    } else {
        user_root.join(wire_name)
    }
}

fn seed_user(user_root: &Path, user: &User) {
    let mut mailboxes = user.mailboxes.clone();
    if !mailboxes
        .iter()
        .any(|m| m.wire_name.eq_ignore_ascii_case("INBOX"))
    {
        mailboxes.push(SeedMailbox {
            wire_name: "INBOX".to_owned(),
            messages: Vec::new(),
        });
    }
    let host = "harness";
    for mailbox in &mailboxes {
        let dir = mailbox_dir(user_root, &mailbox.wire_name);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub)).expect("mkdir maildir");
        }
        for (index, message) in mailbox.messages.iter().enumerate() {
            let mut flags: Vec<char> = message.flags.chars().collect();
            flags.sort_unstable();
            let flags: String = flags.into_iter().collect();
            // File names sort in UID order: zero-padded time and counter.
            let name = format!(
                "{:010}.M{:08}P1.{host},S={}:2,{flags}",
                message.internal_date,
                index,
                message.raw.len()
            );
            let path = dir.join("cur").join(name);
            let mut file = fs::File::create(&path).expect("write message");
            file.write_all(&message.raw).expect("write message");
            let mtime = UNIX_EPOCH + Duration::from_secs(message.internal_date);
            file.set_modified(mtime).expect("set mtime");
        }
    }
}

/// The ports one Dovecot instance listens on.
#[derive(Clone, Copy)]
struct Ports {
    imap: u16,
    imaps: u16,
    /// Submission: plain (STARTTLS offered) and implicit TLS.
    submission: Option<(u16, u16)>,
}

fn render_config(
    root: &Path,
    options: &Options,
    ports: Ports,
    as_root: bool,
    greeting: &str,
) -> String {
    let r = root.display();
    let (imap_port, imaps_port) = (ports.imap, ports.imaps);
    let (protocols, submission) = match (ports.submission, options.submission_relay) {
        (Some((port, tls_port)), Some(relay)) => (
            "imap submission",
            format!(
                "hostname = localhost
submission_relay_host = 127.0.0.1
submission_relay_port = {relay}
submission_relay_ssl = no
submission_max_mail_size = 25M
service submission-login {{
  inet_listener submission {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener submissions {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
"
            ),
        ),
        _ => ("imap", String::new()),
    };
    let users = if as_root {
        "default_internal_user = dovecot\ndefault_login_user = dovenull\nmail_uid = dovecot\nmail_gid = dovecot\nfirst_valid_uid = 1\n"
            .to_owned()
    } else {
        let me = run("id", &["-un"])
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        format!("default_internal_user = {me}\ndefault_login_user = {me}\nfirst_valid_uid = 1\n")
    };
    let special_use = if options.special_use {
        "  mailbox Sent {\n    special_use = \\Sent\n    auto = subscribe\n  }\n\
           mailbox Trash {\n    special_use = \\Trash\n    auto = subscribe\n  }\n\
           mailbox Drafts {\n    special_use = \\Drafts\n    auto = subscribe\n  }\n\
           mailbox Junk {\n    special_use = \\Junk\n    auto = subscribe\n  }\n"
    } else {
        ""
    };
    let limits = match options.max_sessions {
        Some(n) => format!(
            "default_process_limit = {p}\ndefault_client_limit = {c}\nservice imap {{\n  process_limit = {p}\n}}\n",
            p = n + 100,
            c = 4 * (n + 100)
        ),
        None => String::new(),
    };
    let (auth, oauth2_passdb) = oauth2_config(root, options);
    let mut protocol = format!(
        "  mail_max_userip_connections = {}\n",
        options.max_userip_connections
    );
    if options.rawlog {
        let _ = writeln!(protocol, "  rawlog_dir = {r}/rawlog/%u");
    }
    if let Some(caps) = &options.capabilities {
        let _ = writeln!(protocol, "  imap_capability = {caps}");
    }
    format!(
        "base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
listen = 127.0.0.1
protocols = {protocols}
login_greeting = Dovecot ready {greeting}
ssl = yes
ssl_cert = <{r}/cert.pem
ssl_key = <{r}/key.pem
disable_plaintext_auth = no
auth_failure_delay = 0
mail_fsync = never
{users}{limits}mail_location = maildir:{r}/mail/%u:LAYOUT=fs
{auth}passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {r}/passwd
}}
{oauth2_passdb}userdb {{
  driver = passwd-file
  args = username_format=%u {r}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
# No login penalty for failed authentications from one address: throttling is the
# gateway's job here, and tests make many failed logins on purpose.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox INBOX {{
    auto = subscribe
  }}
{special_use}}}
protocol imap {{
{protocol}}}
{submission}{extra}
",
        extra = options.extra_config
    )
}

/// The `auth_mechanisms` line and the `oauth2` passdb, when OAuth2 is on.
fn oauth2_config(root: &Path, options: &Options) -> (String, String) {
    let Some(oauth2) = &options.oauth2 else {
        return (String::new(), String::new());
    };
    let conf = root.join("oauth2.conf.ext");
    fs::write(
        &conf,
        format!(
            "introspection_mode = post
introspection_url = {}
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
",
            oauth2.introspection_url
        ),
    )
    .expect("write oauth2.conf.ext");
    (
        format!("auth_mechanisms = plain login {}\n", oauth2.mechanisms),
        format!(
            "passdb {{\n  driver = oauth2\n  mechanisms = {}\n  args = {}\n}}\n",
            oauth2.mechanisms,
            conf.display()
        ),
    )
}

/// The OAuth2 access token the demo's introspection endpoint knows for user `demo`
/// (`examples/demo.rs`, the README's OAuth2 example).
pub const DEMO_ACCESS_TOKEN: &str = "ya29.demo-access-token-for-the-demo-account";

/// The demo account used by `examples/demo.rs`, the README examples and their test:
/// user `demo`, password `demo-password`, with a populated INBOX, an `Archive`,
/// nested `Projects/2026` and a Unicode `Entwürfe`.
pub fn demo_users() -> Vec<User> {
    let senders = [
        ("Ada Lovelace <ada@example.org>", "Analytical engine notes"),
        ("Grace Hopper <grace@example.org>", "Compiler meeting"),
        ("Linus <linus@example.org>", "Re: patch review"),
        ("Billing <billing@example.com>", "Your invoice 2026-11"),
        ("Jürgen Müller <juergen@example.de>", "Grüße aus Berlin"),
        ("Support <support@example.com>", "Ticket #4711 updated"),
        (
            "Margaret Hamilton <margaret@example.org>",
            "Apollo checklist",
        ),
        ("Newsletter <news@example.net>", "This week in Rust"),
    ];
    let inbox: Vec<SeedMessage> = senders
        .iter()
        .enumerate()
        .map(|(i, (from, subject))| {
            let message = SeedMessage::text(
                from,
                "demo@example.org",
                subject,
                &format!("Message {i}: {subject}."),
            );
            let message = SeedMessage {
                internal_date: 1_795_000_000 + i as u64 * 3600,
                ..message
            };
            match i % 4 {
                0 => message.with_flags("S"),
                1 => message.with_flags("FS"),
                _ => message,
            }
        })
        .collect();
    let archive = (1..=5)
        .map(|i| {
            SeedMessage::text(
                "old@example.org",
                "demo@example.org",
                &format!("Archived {i}"),
                "old",
            )
            .with_flags("S")
        })
        .collect();
    let mut inbox: Vec<SeedMessage> = inbox;
    let report = "From: Reports <reports@example.com>\r\nTo: demo@example.org\r\nSubject: Monthly report\r\n\
Date: Thu, 26 Nov 2026 18:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"r\"\r\n\r\n\
--r\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe report is attached.\r\n\
--r\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDw+PgplbmRvYmoKdHJhaWxlcgo8PD4+CiUlRU9GCg==\r\n--r--\r\n";
    inbox.push(SeedMessage {
        raw: report.as_bytes().to_vec(),
        flags: String::new(),
        internal_date: 1_795_000_000 + 9 * 3600,
    });
    // An HTML message, as most mail is: the gateway sanitises it and blocks the
    // remote image (a tracking pixel) unless asked.
    let newsletter = "From: Web Team <web@example.org>\r\nTo: demo@example.org\r\n\
Subject: Welcome to the web inbox\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"w\"\r\n\r\n\
--w\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWelcome! Read this in HTML for the full effect.\r\n\
--w\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<h1 style=\"color:#1a73e8\">Welcome</h1><p>This message is <b>HTML</b>. \
<a href=\"https://example.org/docs\">Read the docs</a>.</p>\
<img src=\"https://tracker.example/open.gif\" width=\"1\" height=\"1\">\
<script>alert('never runs')</script>\r\n--w--\r\n";
    inbox.push(SeedMessage {
        raw: newsletter.as_bytes().to_vec(),
        flags: String::new(),
        internal_date: 1_795_000_000 + 10 * 3600,
    });
    vec![User::new("demo", "demo-password")
        .with_mailbox("INBOX", inbox)
        .with_mailbox("Archive", archive)
        .with_mailbox(
            "Projects/2026",
            vec![SeedMessage::text(
                "pm@example.org",
                "demo@example.org",
                "Kick-off",
                "Agenda attached.",
            )],
        )
        .with_mailbox(
            "Entw&APw-rfe",
            vec![SeedMessage::text(
                "demo@example.org",
                "ada@example.org",
                "Entwurf",
                "Noch nicht fertig.",
            )
            .with_flags("D")],
        )]
}
