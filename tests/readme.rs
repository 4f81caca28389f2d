//! Runs the curl examples of README.md, as written, against a gateway set up like the
//! demo (same seeded account; Dovecot behind TLS, as the demo runs it) and against
//! Cyrus and Courier seeded with the same account over IMAP, and checks each status
//! code and the changes they made on the IMAP server.

mod common;

use std::process::Command;

use common::Gateway;
use dovecot_harness::oauth::Introspection;
use dovecot_harness::raw::RawImap;
use dovecot_harness::servers::{AnyServer, Kind};
use dovecot_harness::sink::SmtpSink;
use dovecot_harness::{demo_users, Dovecot, OAuth2, Options, DEMO_ACCESS_TOKEN};

/// The examples between `<!-- {marker}:begin -->` and `<!-- {marker}:end -->`.
fn readme_block(marker: &str) -> String {
    let readme = include_str!("../README.md");
    let start = readme
        .find(&format!("<!-- {marker}:begin -->"))
        .expect("begin marker");
    let end = readme
        .find(&format!("<!-- {marker}:end -->"))
        .expect("end marker");
    readme[start..end]
        .lines()
        .filter(|line| !line.starts_with("```") && !line.starts_with("<!--"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What running the README's examples against a gateway produced.
struct Run {
    stdout: String,
    statuses: Vec<u16>,
    work: tempfile::TempDir,
}

/// Runs the README's main examples against the gateway at `base`.
async fn run_examples(base: &str) -> Run {
    run_block(base, "readme-test").await
}

/// Runs one block of README examples against the gateway at `base`, as written but
/// for the address, recording every curl call's status.
async fn run_block(base: &str, marker: &str) -> Run {
    assert!(
        Command::new("curl").arg("--version").output().is_ok(),
        "curl is required: apt-get install -y curl (scripts/test.sh installs it)"
    );
    let work = tempfile::tempdir().unwrap();
    let status_log = work.path().join("statuses");
    // Every curl call also records its HTTP status (our -w comes last, so it wins).
    let prelude = r#"set -euo pipefail
curl() {
  local out
  out=$(command curl -sS "$@" -w '\n%{http_code}')
  printf '%s\n' "${out%$'\n'*}"
  printf '%s\n' "${out##*$'\n'}" >> "$STATUS_LOG"
}
"#;
    let script = format!(
        "{prelude}{}",
        readme_block(marker).replace("http://127.0.0.1:8080", base)
    );
    let output = tokio::task::spawn_blocking({
        let work = work.path().to_path_buf();
        let status_log = status_log.clone();
        move || {
            Command::new("bash")
                .arg("-c")
                .arg(script)
                .current_dir(work)
                .env("STATUS_LOG", status_log)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "README examples failed:\n{stdout}\n{stderr}"
    );
    let statuses = std::fs::read_to_string(&status_log)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    Run {
        stdout,
        statuses,
        work,
    }
}

/// What every run must show, whatever the server.
fn check_run(run: &Run, server: &str) {
    let stdout = &run.stdout;
    assert_eq!(
        run.statuses,
        [
            200, 200, 200, 200, 200, 200, 200, 201, 200, 204, 401, 200, // mailboxes
            200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 201, 201, 200, 200, 200,
            200, // messages
            200, 200, 200, // live changes
        ],
        "{server}: status of each README example, in order:\n{stdout}"
    );
    assert!(
        stdout.contains("\"name\":\"Entwürfe\""),
        "{server}: {stdout}"
    );
    assert!(stdout.contains("HTTP/1.1 204"), "{server}: {stdout}");
    assert!(
        stdout.contains("urn:imap-gateway:problem:unauthorized"),
        "{server}: {stdout}"
    );
    assert!(
        stdout.contains("\"algorithm\":\"REFERENCES\""),
        "{server}: the threads example: {stdout}"
    );
    assert!(
        stdout.contains("\"mailbox\":\"INBOX\",\"uid\":1,"),
        "{server}: the account search names each item's mailbox: {stdout}"
    );
    assert!(
        stdout.contains("\"subject\":\"Your invoice 2026-11\""),
        "{server}: the search found the invoice"
    );
    assert!(
        stdout.contains("This message is <b>HTML</b>")
            && stdout.contains("\"remote_images_blocked\":1")
            && !stdout.contains("never runs"),
        "{server}: the HTML message comes sanitised"
    );
    let spec = std::fs::read_to_string(run.work.path().join("openapi.json")).unwrap();
    assert!(spec.contains("\"openapi\""));
    let pdf = std::fs::read(run.work.path().join("report.pdf")).unwrap();
    assert!(
        pdf.starts_with(b"%PDF-1.4"),
        "{server}: the attachment is decoded"
    );
    let eml = std::fs::read(run.work.path().join("message.eml")).unwrap();
    assert!(eml.starts_with(b"From: Reports"), "{server}");
    assert!(
        stdout.contains("\"accepted\":[\"ada@example.org\"]"),
        "{server}: the message was sent: {stdout}"
    );
}

/// Dovecot's submission service for the demo user, relaying to a sink: the SMTP
/// server of every run (Cyrus and Courier runs use it beside their IMAP server).
fn submission() -> (SmtpSink, Dovecot) {
    let sink = SmtpSink::start();
    let dovecot = Dovecot::start(Options {
        users: demo_users(),
        submission_relay: Some(sink.port),
        ..Options::default()
    });
    (sink, dovecot)
}

/// The example's message reached the relay, and its Sent copy is in `Sent`.
fn check_sent(sink: &SmtpSink, sent_count: usize, who: &str) {
    let received = sink.received();
    assert_eq!(received.len(), 1, "{who}: one message sent");
    assert_eq!(received[0].recipients, ["ada@example.org"], "{who}");
    assert!(
        received[0].text().contains("Sent through the gateway"),
        "{who}"
    );
    assert_eq!(sent_count, seeded_count("Sent") + 1, "{who}: the Sent copy");
}

/// How many messages the demo account's `mailbox` is seeded with.
fn seeded_count(mailbox: &str) -> usize {
    demo_users()
        .remove(0)
        .mailboxes
        .iter()
        .find(|seeded| seeded.wire_name == mailbox)
        .map_or(0, |seeded| seeded.messages.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_curl_examples_work_as_written() {
    // As the demo runs: IMAP over TLS, sending over STARTTLS, both with its CA.
    let (sink, dovecot) = submission();
    let mut config =
        imap_gateway::config::Config::new(dovecot.imaps_url().parse().unwrap(), common::SECRET);
    config.imap_ca_file = Some(dovecot.ca_file());
    config.smtp_url = Some(dovecot.submission_starttls_url().parse().unwrap());
    let gateway = Gateway::start(config).await;
    let run = run_examples(&gateway.base).await;
    check_run(&run, "Dovecot");
    // The demo's INBOX is subscribed, like every real account's.
    let inbox = gateway
        .get(
            "/v1/mailboxes/INBOX",
            &common::Auth::Basic("demo", "demo-password"),
        )
        .await;
    assert_eq!(inbox.ok(200)["subscribed"], true);
    // The examples' changes happened on the server and were cleaned up by the last one.
    assert!(!dovecot.mailbox_exists("demo", "Projects/2027"));
    assert!(!dovecot.mailbox_exists("demo", "Projects/2027-Q1"));
    // The message examples changed the server as they say.
    assert_eq!(
        dovecot.message_count("demo", "INBOX"),
        8,
        "10 seeded, one moved, one deleted"
    );
    assert_eq!(
        dovecot.message_count("demo", "Archive"),
        8,
        "5 + upload + move + copy"
    );
    assert_eq!(dovecot.message_count("demo", "Drafts"), 1);
    assert_eq!(dovecot.message_count("demo", "Trash"), 1);
    check_sent(&sink, dovecot.message_count("demo", "Sent"), "Dovecot");
}

/// The same examples, unchanged, on Cyrus and Courier (`INBOX.` prefix, `.`).
async fn readme_examples_on(kind: Kind) {
    let server = AnyServer::start(kind, &[("demo", "demo-password")]);
    let demo = demo_users().remove(0);
    server.seed("demo", "demo-password", &demo.mailboxes).await;
    let (sink, smtp) = submission();
    let mut config =
        imap_gateway::config::Config::new(server.plain_url().parse().unwrap(), common::SECRET);
    config.smtp_url = Some(smtp.submission_plain_url().parse().unwrap());
    let gateway = Gateway::start(config).await;
    let run = run_examples(&gateway.base).await;
    let who = kind.name();
    check_run(&run, who);
    let mut raw = RawImap::login(server.port(), "demo", "demo-password").await;
    let listed = raw.ok("LIST \"\" \"*\"").await.join("\n");
    assert!(!listed.contains("2027"), "{who}: cleaned up: {listed}");
    for (mailbox, expected) in [("INBOX", 8), ("Archive", 8), ("Drafts", 1), ("Trash", 1)] {
        raw.ok(&format!("EXAMINE \"{}\"", server.wire_name(mailbox)))
            .await;
        assert_eq!(
            raw.search("ALL").await.len(),
            expected,
            "{who}: messages in {mailbox}"
        );
    }
    raw.ok(&format!("EXAMINE \"{}\"", server.wire_name("Sent")))
        .await;
    check_sent(&sink, raw.search("ALL").await.len(), who);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_curl_examples_work_on_cyrus() {
    readme_examples_on(Kind::Cyrus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_curl_examples_work_on_courier() {
    readme_examples_on(Kind::Courier).await;
}

/// The OAuth2 examples, against a Dovecot that accepts the demo's access token as the
/// demo's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_oauth2_examples_work_as_written() {
    let introspection = Introspection::start();
    introspection.register(
        DEMO_ACCESS_TOKEN,
        "demo",
        std::time::Duration::from_secs(3600),
    );
    let dovecot = Dovecot::start(Options {
        users: demo_users(),
        oauth2: Some(OAuth2::both(&introspection)),
        ..Options::default()
    });
    let mut config =
        imap_gateway::config::Config::new(dovecot.imaps_url().parse().unwrap(), common::SECRET);
    config.imap_ca_file = Some(dovecot.ca_file());
    let gateway = Gateway::start(config).await;
    let run = run_block(&gateway.base, "readme-test-oauth2").await;
    assert_eq!(run.statuses, [200, 200, 401], "{}", run.stdout);
    assert!(
        run.stdout.contains("\"name\":\"Entwürfe\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("urn:imap-gateway:problem:oauth2-token-rejected"),
        "{}",
        run.stdout
    );
    assert_eq!(
        introspection.asked(),
        [DEMO_ACCESS_TOKEN, "ya29.expired-or-revoked"],
        "the listing used the exchange's pooled session"
    );
}
