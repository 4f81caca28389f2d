//! A real Courier-IMAP 5.0 for tests: personal mailboxes under `INBOX.` with `.` as
//! the separator, no MOVE, CONDSTORE, SPECIAL-USE, LITERAL+ or UNSELECT, and other
//! sessions' changes reported to a selected session only at NOOP.
//!
//! Courier's authentication library has compiled-in paths (`/etc/courier`,
//! `/run/courier/authdaemon`). Instead of touching them, the harness starts
//! `authdaemond` and `couriertcpd` inside a private mount namespace
//! (`unshare -m --propagation private`) where those paths are bind mounts of this
//! instance's temp dir; concurrent instances each see their own. Stopping kills
//! every process in that namespace (imapd sessions and `gam_server` included).
//!
//! Pitfalls this relies on (found on Debian 12, Courier-IMAP 5.0.13):
//! - `courier-imap` conflicts with `dovecot-imapd`: `imaplogin` and `imapd` are
//!   unpacked privately (see `packages.rs`); the rest is `courier-base` and
//!   `courier-authdaemon`, ordinary packages;
//! - `couriertcpd -pid=` double-forks and leaves a zombie under PID 1, so it runs
//!   without it and the namespace is the handle instead;
//! - the maildirs belong to the `courier` system user, which imapd runs as; the
//!   enhanced IDLE helper (`gam_server`) needs that user's passwd entry;
//! - a failed LOGIN answers only after 5 seconds.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::packages::{require_packages, require_root, run_checked, unpacked};

/// Packages Courier needs installed (none conflicts with Dovecot).
const DEPENDENCIES: &[&str] = &[
    "courier-base",
    "courier-authlib",
    "courier-authdaemon",
    "courier-authlib-userdb",
    "gamin",
];

/// A running Courier-IMAP. Stopped and removed on drop.
pub struct Courier {
    dir: tempfile::TempDir,
    /// The plain IMAP port on 127.0.0.1.
    pub port: u16,
    namespace: String,
}

impl Courier {
    /// Starts Courier-IMAP with `users` (name, password), each with INBOX, Drafts,
    /// Sent, Trash, Junk and Archive (subscribed), and waits until it greets.
    ///
    /// # Panics
    /// When a package is missing (with the install line) or Courier does not start.
    pub fn start(users: &[(&str, &str)]) -> Self {
        require_root("Courier");
        require_packages("Courier", DEPENDENCIES);
        let package = unpacked("courier-imap", "usr/bin/imapd");
        let imaplogin = package.join("usr/lib/courier/courier/imaplogin");
        let imapd = package.join("usr/bin/imapd");
        let dir = tempfile::Builder::new()
            .prefix("imap-gateway-courier-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().to_path_buf();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");
        for sub in ["etc/shared", "run/authdaemon", "home", "log"] {
            fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        let port = crate::free_port();
        let r = root.display();
        fs::write(
            root.join("etc/imapd"),
            format!(
                "ADDRESS=127.0.0.1
PORT={port}
MAXDAEMONS=100
MAXPERIP=100
TCPDOPTS=\"-nodnslookup -noidentlookup\"
IMAP_CAPABILITY=\"IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE\"
IMAP_KEYWORDS=1
IMAP_ACL=1
IMAP_PROXY=0
IMAP_IDLE_TIMEOUT=1
IMAP_MAILBOX_SANITY_CHECK=1
IMAP_DISABLETHREADSORT=0
IMAP_CHECK_ALL_FOLDERS=0
IMAP_OBSOLETE_CLIENT=0
IMAP_UMASK=022
IMAP_ULIMITD=131072
IMAP_USELOCKS=1
IMAP_SHAREDINDEXFILE={r}/etc/shared/index
IMAP_ENHANCEDIDLE=1
IMAP_TRASHFOLDERNAME=Trash
IMAP_EMPTYTRASH=
IMAP_MOVE_EXPUNGE_TO_TRASH=0
SENDMAIL=/usr/sbin/sendmail
HEADERFROM=X-IMAP-Sender
MAILDIRPATH=Maildir
IMAP_STARTTLS=NO
IMAP_TLS_REQUIRED=0
"
            ),
        )
        .expect("write imapd config");
        fs::write(
            root.join("etc/authdaemonrc"),
            "authmodulelist=\"authuserdb\"\nauthmodulelistorig=\"authuserdb\"\ndaemons=3\n\
             authdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\nDEFAULTOPTIONS=\"\"\nLOGGEROPTS=\"\"\n",
        )
        .expect("write authdaemonrc");
        let uid = run_checked("id", &["-u", "courier"]).trim().to_owned();
        let gid = run_checked("id", &["-g", "courier"]).trim().to_owned();
        let mut userdb = String::new();
        for (name, password) in users {
            let hash = hash_password(password);
            let home = root.join("home").join(name);
            fs::create_dir_all(&home).expect("mkdir home");
            let maildir = home.join("Maildir");
            run_checked("maildirmake.courier", &[&maildir.to_string_lossy()]);
            for folder in ["Drafts", "Sent", "Trash", "Junk", "Archive"] {
                run_checked(
                    "maildirmake.courier",
                    &["-f", folder, &maildir.to_string_lossy()],
                );
            }
            fs::write(
                maildir.join("courierimapsubscribed"),
                "INBOX.Drafts\nINBOX.Sent\nINBOX.Trash\nINBOX.Junk\nINBOX.Archive\n",
            )
            .expect("write subscriptions");
            userdb.push_str(&format!(
                "{name}\tuid={uid}|gid={gid}|home={h}|mail={h}/Maildir|systempw={hash}\n",
                h = home.display()
            ));
        }
        let userdb_path = root.join("etc/userdb");
        fs::write(&userdb_path, userdb).expect("write userdb");
        fs::set_permissions(&userdb_path, fs::Permissions::from_mode(0o600)).expect("chmod");
        run_checked("makeuserdb", &["-f", &userdb_path.to_string_lossy()]);
        run_checked(
            "chown",
            &[
                "-R",
                &format!("{uid}:{gid}"),
                &root.join("home").to_string_lossy(),
            ],
        );

        let script = root.join("run/ns-run.sh");
        fs::write(&script, namespace_script(&root, &imaplogin, &imapd)).expect("write script");
        let status = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh"])
            .arg(&script)
            .status()
            .expect("run unshare");
        let namespace = fs::read_to_string(root.join("run/mntns"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let courier = Self {
            dir,
            port,
            namespace,
        };
        assert!(
            status.success(),
            "courier did not start ({status}):\n{}",
            courier.logs()
        );
        courier.wait_ready();
        courier
    }

    fn wait_ready(&self) {
        let greeted = crate::wait_for_greeting(self.port, "Courier-IMAP", || true);
        assert!(greeted, "courier did not start in time:\n{}", self.logs());
    }

    /// Changes `user`'s password in userdb (rebuilt with `makeuserdb`) and waits until
    /// Courier takes the new one.
    ///
    /// # Panics
    /// When the user does not exist or Courier keeps refusing the new password.
    pub fn set_password(&self, user: &str, password: &str) {
        let path = self.dir.path().join("etc/userdb");
        let old = fs::read_to_string(&path).expect("read userdb");
        let prefix = format!("{user}\t");
        assert!(
            old.lines().any(|l| l.starts_with(&prefix)),
            "no user {user}"
        );
        let hash = hash_password(password);
        let new: String = old
            .lines()
            .map(|line| match line.split_once("|systempw=") {
                Some((fields, _)) if line.starts_with(&prefix) => {
                    format!("{fields}|systempw={hash}\n")
                }
                _ => format!("{line}\n"),
            })
            .collect();
        fs::write(&path, new).expect("write userdb");
        run_checked("makeuserdb", &["-f", &path.to_string_lossy()]);
        crate::raw::wait_until_login_accepted(self.port, user, password);
    }

    /// The temp dir with configuration, maildirs and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The maildir of `user`.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir.path().join("home").join(user).join("Maildir")
    }

    /// What authdaemond, couriertcpd and imapd wrote.
    pub fn logs(&self) -> String {
        ["authdaemond.log", "couriertcpd.log", "imapd.log"]
            .iter()
            .map(|name| {
                fs::read_to_string(self.dir.path().join("log").join(name)).unwrap_or_default()
            })
            .collect()
    }

    /// Process ids living in this instance's mount namespace.
    fn processes(&self) -> Vec<u32> {
        if self.namespace.is_empty() {
            return Vec::new();
        }
        crate::all_pids()
            .into_iter()
            .filter(|pid| {
                fs::read_link(format!("/proc/{pid}/ns/mnt"))
                    .is_ok_and(|ns| ns.to_string_lossy() == self.namespace)
            })
            .filter(|pid| {
                // Zombies are dead already (waiting for PID 1 to reap them).
                fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                    stat.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().next())
                        != Some("Z")
                })
            })
            .collect()
    }
}

impl Drop for Courier {
    fn drop(&mut self) {
        for signal in ["-TERM", "-KILL"] {
            let pids = self.processes();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = Command::new("kill")
                    .args([signal, &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            let deadline = Instant::now() + Duration::from_secs(2);
            while !self.processes().is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// md5-crypt of `password`, as userdb's `systempw` wants it.
fn hash_password(password: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new("userdbpw")
        .arg("-md5")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run userdbpw");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n{password}\n").as_bytes())
        .expect("write password");
    let output = child.wait_with_output().expect("userdbpw");
    assert!(output.status.success(), "userdbpw failed");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The script run inside the private mount namespace: bind mounts over Courier's
/// compiled-in paths, then authdaemond and couriertcpd in the background.
fn namespace_script(root: &Path, imaplogin: &Path, imapd: &Path) -> String {
    let r = root.display();
    let login = imaplogin.display();
    let imapd = imapd.display();
    format!(
        r#"set -eu
mkdir -p /etc/courier
mount --bind "{r}/etc" /etc/courier
if [ ! -d /run/courier/authdaemon ]; then
    if [ -d /run/courier ]; then mount -t tmpfs -o mode=755 tmpfs /run/courier
    else mount -t tmpfs -o mode=755 tmpfs /run; fi
    mkdir -p /run/courier/authdaemon
fi
mount --bind "{r}/run/authdaemon" /run/courier/authdaemon
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/lib/courier/courier-authlib/authdaemond \
    < /dev/null >> "{r}/log/authdaemond.log" 2>&1 &
i=0; while [ ! -S /run/courier/authdaemon/socket ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.05; done
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c '
    set -a; . /etc/courier/imapd; set +a
    umask $IMAP_UMASK
    ulimit -v $IMAP_ULIMITD
    exec /usr/sbin/couriertcpd -stderr="{r}/log/imapd.log" \
        -address=$ADDRESS -maxprocs=$MAXDAEMONS -maxperip=$MAXPERIP $TCPDOPTS \
        $PORT "{login}" "{imapd}" $MAILDIRPATH' \
    < /dev/null >> "{r}/log/couriertcpd.log" 2>&1 &
readlink /proc/self/ns/mnt > "{r}/run/mntns"
"#
    )
}
