//! Python tools the contract tests run against the gateway (schemathesis,
//! openapi-spec-validator): written by others, which is the point of running them.
//! Each pinned requirement gets its own virtual environment, installed from PyPI on
//! first use and kept under the system temp dir for every later test process. It is
//! installed into a fresh directory and renamed into place, so concurrent tests never
//! see half an environment.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// `program` from `requirement` (`schemathesis==4.32.5`), installed on first use, as
/// a command to add arguments to. The script runs under its environment's Python
/// named explicitly: its `#!` line names the directory it was installed in, which
/// the rename below moved.
///
/// # Panics
/// When no Python 3 with `venv` is available or PyPI cannot be reached, with what to do.
pub fn tool(requirement: &str, program: &str) -> Command {
    let home = installed(requirement, program);
    let mut command = Command::new(home.join("bin").join("python3"));
    command.arg(home.join("bin").join(program));
    command
}

/// The environment holding `program` from `requirement`.
fn installed(requirement: &str, program: &str) -> PathBuf {
    let base = std::env::temp_dir().join("imap-gateway-python");
    let name: String = requirement
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let home = base.join(name);
    let installed = home.join("bin").join(program);
    if installed.exists() {
        return home;
    }
    std::fs::create_dir_all(&base).expect("create the Python tool cache");
    let work = tempfile::Builder::new()
        .prefix("venv-")
        .tempdir_in(&base)
        .expect("temp dir for a virtual environment");
    let run = |program: &std::path::Path, args: &[&str]| {
        let output = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        assert!(
            output.status.success(),
            "{} {args:?} failed (install python3-venv with apt, and check that PyPI is \
             reachable): {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let venv = work.path().join("env");
    run("python3".as_ref(), &["-m", "venv", &venv.to_string_lossy()]);
    run(
        &venv.join("bin").join("pip"),
        &[
            "install",
            "--quiet",
            "--disable-pip-version-check",
            requirement,
        ],
    );
    // Another process may have won the race; its environment is as good.
    if std::fs::rename(&venv, &home).is_err() && !installed.exists() {
        panic!(
            "cannot move the virtual environment into {}",
            home.display()
        );
    }
    home
}
