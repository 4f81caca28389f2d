//! A real Cyrus IMAP 3.6 for tests, in its default ("classic") namespace: personal
//! mailboxes live under `INBOX.` with `.` as the separator, as on a stock Debian
//! install. Everything is in a temp dir: its own `imapd.conf` and `cyrus.conf`, a
//! sasldb with the test users, spool and state, a free loopback port. `master` runs
//! in the foreground as our child and is stopped (with every process it started) on
//! drop.
//!
//! Pitfalls this relies on (found on Debian 12, Cyrus 3.6.1):
//! - `master` does not pass `-C` to its children: every `cmd=` carries it, or imapd
//!   silently reads /etc/imapd.conf;
//! - the SASL realm is `servername`, so `saslpasswd2 -u` must name the same;
//! - `imapd` and `idled` come from `cyrus-imapd`, which conflicts with
//!   `dovecot-imapd`: they are unpacked privately (see `packages.rs`), the rest
//!   (`master`, `lmtpd`, `ctl_cyrusdb`) is `cyrus-common`;
//! - INBOX and the special-use folders are created at the first LOGIN
//!   (`autocreate_*`), so `start` logs every user in once;
//! - with Debian's default `delete_mode: delayed`, a mailbox deleted twice within one
//!   second cannot be deleted the second time (`NO Mailbox already exists`: the
//!   tombstone's name is taken), so tests that recreate mailboxes use `immediate`.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::packages::{require_packages, require_root, run_checked, unpacked};

const CYRUS_BIN: &str = "/usr/lib/cyrus/bin";

/// A running Cyrus. Stopped and removed on drop.
pub struct Cyrus {
    dir: tempfile::TempDir,
    master: Child,
    /// The plain IMAP port on 127.0.0.1.
    pub port: u16,
}

impl Cyrus {
    /// Starts Cyrus with `users` (name, password) and waits until every user's
    /// mailboxes (INBOX, Drafts, Sent, Trash, Junk, Archive) exist.
    ///
    /// # Panics
    /// When a package is missing (with the install line) or Cyrus does not start.
    pub fn start(users: &[(&str, &str)]) -> Self {
        require_root("Cyrus");
        require_packages("Cyrus", &["cyrus-common", "sasl2-bin"]);
        let imapd_root = if Path::new(CYRUS_BIN).join("imapd").exists() {
            None
        } else {
            Some(unpacked("cyrus-imapd", "usr/lib/cyrus/bin/imapd"))
        };
        let imap_bin = imapd_root.map_or_else(
            || CYRUS_BIN.to_owned(),
            |root| root.join("usr/lib/cyrus/bin").display().to_string(),
        );
        let dir = tempfile::Builder::new()
            .prefix("imap-gateway-cyrus-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path();
        fs::set_permissions(root, fs::Permissions::from_mode(0o755)).expect("chmod");
        for sub in [
            "conf",
            "lib/db",
            "lib/socket",
            "lib/log",
            "lib/sieve",
            "spool",
            "run/proc",
            "run/lock",
            "run/socket",
            "log",
        ] {
            fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        let port = crate::free_port();
        // A server name of our own: it is the SASL realm and shows in the greeting,
        // so readiness is never confirmed by another test's Cyrus.
        let servername = format!("harness{port}");
        let r = root.display();
        let conf = format!(
            "configdirectory: {r}/lib
defaultpartition: default
partition-default: {r}/spool
proc_path: {r}/run/proc
mboxname_lockpath: {r}/run/lock
lmtpsocket: {r}/run/socket/lmtp
idlesocket: {r}/run/socket/idle
notifysocket: {r}/run/socket/notify
sievedir: {r}/lib/sieve
sieveusehomedir: false
hashimapspool: false
servername: {servername}
syslog_prefix: imap-gateway-harness
unixhierarchysep: no
altnamespace: no
virtdomains: off
admins: cyrus
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {r}/conf/sasldb2
sasl_mech_list: PLAIN LOGIN
sasl_auto_transition: no
autocreate_quota: 0
autocreate_post: yes
autocreate_inbox_folders: Drafts | Sent | Trash | Junk | Archive
autocreate_subscribe_folders: Drafts | Sent | Trash | Junk | Archive
xlist-drafts: Drafts
xlist-sent: Sent
xlist-trash: Trash
xlist-junk: Junk
xlist-archive: Archive
specialusealways: yes
imapidlepoll: 1
umask: 077
delete_mode: immediate
"
        );
        fs::write(root.join("conf/imapd.conf"), conf).expect("write imapd.conf");
        let services = format!(
            "START {{
  recover cmd=\"ctl_cyrusdb -C {r}/conf/imapd.conf -r\"
}}
SERVICES {{
  imap cmd=\"{imap_bin}/imapd -C {r}/conf/imapd.conf\" listen=\"127.0.0.1:{port}\" prefork=1 maxchild=100
  lmtpunix cmd=\"lmtpd -C {r}/conf/imapd.conf -a\" listen=\"{r}/run/socket/lmtp\" prefork=0 maxchild=10
}}
EVENTS {{
  checkpoint cmd=\"ctl_cyrusdb -C {r}/conf/imapd.conf -c\" period=30
}}
DAEMON {{
  idled cmd=\"{imap_bin}/idled -C {r}/conf/imapd.conf\"
}}
"
        );
        fs::write(root.join("conf/cyrus.conf"), services).expect("write cyrus.conf");
        let sasldb = root.join("conf/sasldb2");
        for (name, password) in users {
            set_sasl_password(&sasldb, &servername, name, password);
        }
        for sub in ["conf", "lib", "spool", "run", "log"] {
            run_checked(
                "chown",
                &["-R", "cyrus:mail", &root.join(sub).to_string_lossy()],
            );
        }
        run_checked("chmod", &["640", &sasldb.to_string_lossy()]);
        let out = fs::File::create(root.join("log/master.out")).expect("log file");
        let master = Command::new(format!("{CYRUS_BIN}/master"))
            .arg("-C")
            .arg(root.join("conf/imapd.conf"))
            .arg("-M")
            .arg(root.join("conf/cyrus.conf"))
            .arg("-p")
            .arg(root.join("run/master.pid"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("start cyrus master");
        let mut cyrus = Self { dir, master, port };
        cyrus.wait_ready(&servername);
        // The first LOGIN creates INBOX and the special-use folders.
        for (name, password) in users {
            crate::raw::blocking_login_logout(port, name, password);
        }
        cyrus
    }

    fn wait_ready(&mut self, servername: &str) {
        let master = &mut self.master;
        let greeted = crate::wait_for_greeting(self.port, servername, || {
            !matches!(master.try_wait(), Ok(Some(_)))
        });
        assert!(greeted, "cyrus did not start:\n{}", self.logs());
    }

    /// Changes `user`'s password in the SASL database and waits until Cyrus takes
    /// the new one.
    ///
    /// # Panics
    /// When saslpasswd2 fails or Cyrus keeps refusing the new password.
    pub fn set_password(&self, user: &str, password: &str) {
        let sasldb = self.dir.path().join("conf/sasldb2");
        set_sasl_password(&sasldb, &format!("harness{}", self.port), user, password);
        run_checked("chown", &["cyrus:mail", &sasldb.to_string_lossy()]);
        run_checked("chmod", &["640", &sasldb.to_string_lossy()]);
        crate::raw::wait_until_login_accepted(self.port, user, password);
    }

    /// The temp dir with configuration, spool and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What master printed (Cyrus logs to syslog, which tests do not run).
    pub fn logs(&self) -> String {
        fs::read_to_string(self.dir.path().join("log/master.out")).unwrap_or_default()
    }
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        // SIGTERM makes master stop its children; whatever is left is killed.
        let pid = self.master.id();
        // Listed first: once master is gone its children belong to PID 1.
        let children = crate::child_pids(pid);
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.master.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for child in children {
            let _ = Command::new("kill")
                .args(["-KILL", &child.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.master.kill();
        let _ = self.master.wait();
    }
}

/// Sets (or creates) `user`'s password in the SASL database `sasldb`, in the realm
/// `servername` (which Cyrus looks users up in).
fn set_sasl_password(sasldb: &Path, servername: &str, user: &str, password: &str) {
    use std::io::Write as _;
    let mut child = Command::new("saslpasswd2")
        .args(["-p", "-c", "-f"])
        .arg(sasldb)
        .args(["-u", servername, user])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run saslpasswd2");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(password.as_bytes())
        .expect("write password");
    assert!(child.wait().expect("saslpasswd2").success(), "saslpasswd2");
}
