//! The gateway as a child process (the real binary), for tests that measure its
//! memory or read its log output.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_imap-gateway");

/// A running `imap-gateway` binary; killed on drop.
pub struct GatewayProcess {
    child: Child,
    /// `http://127.0.0.1:port`
    pub base: String,
    /// Everything it wrote to stdout and stderr.
    pub log_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl GatewayProcess {
    /// Starts the binary against `imap_url` with extra `IMAP_GATEWAY_*`/`RUST_LOG`
    /// settings, and waits until `/healthz` answers.
    pub async fn start(imap_url: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log_file = dir.path().join("gateway.log");
        let log = std::fs::File::create(&log_file).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(BIN)
            .env_clear()
            .env("IMAP_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
            .env("IMAP_GATEWAY_IMAP_URL", imap_url)
            .env("IMAP_GATEWAY_SECRET", super::SECRET)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let process = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log_file,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while client
            .get(format!("{}/healthz", process.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "gateway did not start: {}",
                process.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        process
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// Peak resident memory so far in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// Its output so far.
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log_file).unwrap_or_default()).into_owned()
    }

    /// Stops it with SIGTERM and waits for it to exit (so its logs are complete).
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
