//! The `imap-gateway` binary: configuration errors exit with code 2 naming the
//! setting; a configured gateway serves, logs JSON without secrets, and shuts down
//! gracefully on SIGTERM, logging out its IMAP sessions.

mod common;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_imap-gateway");

fn gateway_command() -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

/// Starts the binary in development mode against `dovecot` on a free port, with
/// `extra` settings; returns it and its base URL once it answers `/healthz`.
async fn launch(
    dovecot: &dovecot_harness::Dovecot,
    extra: &[(&str, &str)],
) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = gateway_command()
        .arg("--dev")
        .env("IMAP_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("IMAP_GATEWAY_IMAP_URL", dovecot.plain_url())
        .envs(extra.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(Instant::now() < deadline, "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, base)
}

/// Everything the (exited) binary wrote, standard output then standard error.
fn logs_of(child: &mut std::process::Child) -> String {
    let mut logs = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    logs
}

#[test]
fn invalid_configuration_exits_2_naming_the_setting() {
    let secret = "0123456789abcdef0123456789abcdef";
    let cases: [(&[(&str, &str)], &str); 9] = [
        (&[], "IMAP_GATEWAY_SECRET"),
        (&[("IMAP_GATEWAY_SECRET", "short")], "IMAP_GATEWAY_SECRET"),
        (
            &[
                ("IMAP_GATEWAY_SECRET", secret),
                ("IMAP_GATEWAY_IMAP_URL", "pop3://mail"),
            ],
            "IMAP_GATEWAY_IMAP_URL",
        ),
        (
            &[
                ("IMAP_GATEWAY_SECRET", secret),
                ("IMAP_GATEWAY_TOKEN_TTL", "forever"),
            ],
            "IMAP_GATEWAY_TOKEN_TTL",
        ),
        (
            &[
                ("IMAP_GATEWAY_SECRET", secret),
                ("IMAP_GATEWAY_LISTEN", "localhost"),
            ],
            "IMAP_GATEWAY_LISTEN",
        ),
        (
            &[
                ("IMAP_GATEWAY_SECRET", secret),
                ("IMAP_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8,load-balancer"),
            ],
            "IMAP_GATEWAY_TRUSTED_PROXIES",
        ),
        (
            &[
                ("IMAP_GATEWAY_SECRET", secret),
                (
                    "IMAP_GATEWAY_CORS_ORIGINS",
                    "https://mail.example.org/inbox",
                ),
            ],
            "IMAP_GATEWAY_CORS_ORIGINS",
        ),
        (
            &[
                ("IMAP_GATEWAY_SECRET", secret),
                ("IMAP_GATEWAY_CORS_ORIGINS", "mail.example.org"),
            ],
            "IMAP_GATEWAY_CORS_ORIGINS",
        ),
        (
            &[
                ("IMAP_GATEWAY_SECRET", secret),
                ("IMAP_GATEWAY_METRICS_TOKEN", "short"),
            ],
            "IMAP_GATEWAY_METRICS_TOKEN",
        ),
    ];
    for (env, setting) in cases {
        let output = gateway_command()
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(
            stderr.contains(setting),
            "{env:?} should name {setting}: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
    }
    let bad_flag = gateway_command()
        .arg("--max-sessions-per-user=lots")
        .output()
        .unwrap();
    assert_eq!(bad_flag.status.code(), Some(2));
}

#[tokio::test]
async fn serves_logs_json_without_secrets_and_shuts_down_gracefully() {
    let dovecot = common::dovecot();
    let (mut child, base) = launch(&dovecot, &[("IMAP_GATEWAY_LOG_FORMAT", "json")]).await;
    let client = reqwest::Client::new();
    let listed = client
        .get(format!("{base}/v1/mailboxes"))
        .basic_auth("alice", Some("alice-pw"))
        .header("x-request-id", "cli-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let token = client
        .post(format!("{base}/v1/auth/token"))
        .json(&serde_json::json!({"username": "alice", "password": "alice-pw"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // An event ticket travels in the URL: it must not reach the logs either.
    let ticket = client
        .post(format!("{base}/v1/events/ticket"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = client
        .get(format!("{base}/v1/events?ticket={ticket}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // An open event stream must not keep the gateway from shutting down.
    let mut stream = client
        .get(format!("{base}/v1/events?ticket={ticket}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.chunk().await.unwrap().is_some(),
        "stream.ready arrives"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "no graceful exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit}");
    assert!(
        dovecot.commands("alice").iter().any(|c| c == "LOGOUT"),
        "pooled sessions are logged out"
    );

    let logs = logs_of(&mut child);
    assert!(logs.contains("DEVELOPMENT MODE"), "dev mode warns loudly");
    let request_line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["span"]["request_id"] == "cli-test-1" && v["status"] == 200)
        .unwrap_or_else(|| panic!("no JSON access log line with the request id:\n{logs}"));
    assert_eq!(request_line["span"]["route"], "/v1/mailboxes");
    for secret in [
        "alice-pw",
        "YWxpY2U6YWxpY2UtcHc",
        token.as_str(),
        ticket.as_str(),
    ] {
        assert!(!logs.contains(secret), "logs must not contain {secret:?}");
    }
}

#[tokio::test]
async fn pretty_logs_are_not_coloured_when_not_on_a_terminal() {
    let dovecot = common::dovecot();
    let (mut child, _) = launch(&dovecot, &[]).await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let logs = logs_of(&mut child);
    assert!(logs.contains("request"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "escape codes in a piped log: {logs:?}"
    );
}
