//! Debian packages the harness needs but must not install: `cyrus-imapd` and
//! `courier-imap` both conflict with `dovecot-imapd` (all three provide
//! `imap-server`), so their `.deb` files are fetched with `apt-get download` and
//! unpacked privately with `dpkg-deb -x`. Their dependencies (`cyrus-common`,
//! `sasl2-bin`, `courier-base`, `courier-authdaemon`, …) conflict with nothing and are
//! ordinary installed packages (`scripts/ensure-deps.sh` installs them).
//!
//! Unpacked trees are kept under the system temp dir and shared by every test process:
//! each is unpacked into a fresh directory and renamed into place, so concurrent tests
//! never see half an unpacked package.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Runs a command and panics with its output when it fails.
pub(crate) fn run_checked(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The root of `package` unpacked privately, with `probe` (a path inside the package,
/// e.g. `usr/lib/cyrus/bin/imapd`) present. Downloads and unpacks on first use.
///
/// # Panics
/// When the package cannot be downloaded or lacks `probe`, with what to do.
pub(crate) fn unpacked(package: &str, probe: &str) -> PathBuf {
    let base = std::env::temp_dir().join("imap-gateway-packages");
    let root = base.join(package);
    if root.join(probe).exists() {
        return root;
    }
    fs::create_dir_all(&base).expect("create the package cache");
    let work = tempfile::Builder::new()
        .prefix(&format!("{package}-"))
        .tempdir_in(&base)
        .expect("temp dir for a package");
    let fetch = || {
        Command::new("apt-get")
            .args(["download", package])
            .current_dir(work.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run apt-get download {package}: {e}"))
    };
    let mut download = fetch();
    if !download.status.success() {
        // A machine whose package lists were never fetched knows no such package yet.
        let _ = Command::new("apt-get")
            .args(["update", "-qq"])
            .stdin(Stdio::null())
            .output();
        download = fetch();
    }
    let deb = fs::read_dir(work.path())
        .expect("read download dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .unwrap_or_else(|| {
            panic!(
                "`apt-get download {package}` fetched nothing ({}); run `apt-get update` as root \
                 (scripts/test.sh does) and try again",
                String::from_utf8_lossy(&download.stderr).trim()
            )
        });
    let tree = work.path().join("tree");
    run_checked(
        "dpkg-deb",
        &["-x", &deb.to_string_lossy(), &tree.to_string_lossy()],
    );
    assert!(
        tree.join(probe).exists(),
        "{} has no {probe}",
        deb.display()
    );
    // Another process may have won the race; its tree is as good as ours.
    if fs::rename(&tree, &root).is_err() {
        assert!(
            root.join(probe).exists(),
            "cannot move {} into place",
            tree.display()
        );
    }
    // The servers drop privileges before running these binaries.
    run_checked("chmod", &["-R", "a+rX", &base.to_string_lossy()]);
    root
}

/// Panics unless the harness runs as root: Cyrus and Courier start as root and drop to
/// their own system users, and Courier needs a private mount namespace.
pub(crate) fn require_root(server: &str) {
    let uid = run_checked("id", &["-u"]);
    assert!(
        uid.trim() == "0",
        "{server} test instances need root (they start as root and drop to their own user); \
         run the tests as root, as scripts/test.sh and CI do"
    );
}

/// Panics with the install line when any of `packages` is not installed.
pub(crate) fn require_packages(server: &str, packages: &[&str]) {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).ends_with(" installed"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{server} needs packages that are not installed: run `apt-get install -y \
         --no-install-recommends {}` as root (scripts/test.sh does it for you)",
        missing.join(" ")
    );
}
