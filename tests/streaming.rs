//! Large bodies are streamed with partial FETCH: downloading a 50 MB attachment
//! through the gateway binary must not grow its memory by anything like 50 MB.
//! Also checks that the newest page of a large mailbox fetches only that page.

mod common;

use std::time::Instant;

use common::corpus::{attachment_bytes, base64_lines};
use common::process::GatewayProcess;
use common::{Dovecot, Options, SeedMessage, User};
use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};

const ATTACHMENT: usize = 50 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_attachment_streams_in_bounded_memory() {
    let content = attachment_bytes(ATTACHMENT);
    let expected = Sha256::digest(&content);
    let raw = format!(
        "From: big@example.org\r\nTo: big@example.org\r\nSubject: Big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nA large file.\r\n--big\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--big--\r\n",
        base64_lines(&content)
    )
    .into_bytes();
    drop(content);
    let raw_len = raw.len();
    let dovecot = Dovecot::start(Options {
        users: vec![User::new("big", "big-pw").with_mailbox("INBOX", vec![SeedMessage::raw(raw)])],
        rawlog: false,
        ..Options::default()
    });
    let gateway = GatewayProcess::start(&dovecot.plain_url(), &[]).await;
    let base = gateway.base.clone();
    let client = reqwest::Client::new();
    // Warm up: a session and a parsed read of the message (which must not download it).
    let message: serde_json::Value = client
        .get(format!("{base}/v1/mailboxes/INBOX/messages/1"))
        .basic_auth("big", Some("big-pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(message["attachments"][0]["filename"], "big.bin");
    let before = gateway.peak_rss_kib();

    let started = Instant::now();
    let response = client
        .get(format!(
            "{base}/v1/mailboxes/INBOX/messages/1/attachments/2"
        ))
        .basic_auth("big", Some("big-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut hasher = Sha256::new();
    let mut received = 0usize;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        received += chunk.len();
        hasher.update(&chunk);
    }
    let elapsed = started.elapsed();
    let after = gateway.peak_rss_kib();
    assert_eq!(received, ATTACHMENT);
    assert_eq!(hasher.finalize(), expected, "decoded bytes match");
    let growth_mib = (after.saturating_sub(before)) as f64 / 1024.0;
    eprintln!(
        "50 MiB attachment: {:.1} s, {:.0} MiB/s, gateway peak RSS {} MiB -> {} MiB (+{growth_mib:.1} MiB)",
        elapsed.as_secs_f64(),
        ATTACHMENT as f64 / 1024.0 / 1024.0 / elapsed.as_secs_f64(),
        before / 1024,
        after / 1024
    );
    assert!(
        growth_mib < 24.0,
        "peak RSS grew by {growth_mib:.1} MiB while streaming 50 MiB"
    );

    // The raw message streams the same way, with an exact Content-Length.
    let response = client
        .get(format!("{base}/v1/mailboxes/INBOX/messages/1/raw"))
        .basic_auth("big", Some("big-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.content_length(), Some(raw_len as u64));
    let mut total = 0usize;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        total += chunk.unwrap().len();
    }
    assert_eq!(total, raw_len);
    let after_raw = gateway.peak_rss_kib();
    assert!((after_raw.saturating_sub(before) as f64 / 1024.0) < 24.0);
}

#[tokio::test]
async fn the_newest_page_of_a_large_mailbox_fetches_only_that_page() {
    let messages = (0..3000)
        .map(|i| SeedMessage::text("a@example.org", "b@example.org", &format!("m{i}"), "x"))
        .collect();
    let dovecot = Dovecot::start(Options {
        users: vec![User::new("many", "many-pw").with_mailbox("INBOX", messages)],
        ..Options::default()
    });
    let gateway = common::Gateway::start(common::config_for(&dovecot)).await;
    let auth = common::Auth::Basic("many", "many-pw");
    let page = gateway.get("/v1/mailboxes/INBOX/messages", &auth).await;
    let page = page.ok(200).clone();
    assert_eq!(page["total"], 3000);
    assert_eq!(page["items"][0]["uid"], 3000);
    assert_eq!(page["items"][49]["uid"], 2951);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = gateway
        .get(
            &format!("/v1/mailboxes/INBOX/messages?cursor={cursor}"),
            &auth,
        )
        .await;
    assert_eq!(next.ok(200)["items"][0]["uid"], 2950);
    let commands = dovecot.commands("many");
    assert!(
        commands.iter().any(|c| c.starts_with("FETCH 2951:3000 ")),
        "{commands:?}"
    );
    assert!(
        !commands.iter().any(|c| c
            .split_whitespace()
            .any(|t| t == "1:3000" || t == "1:*" || t == "ALL")),
        "never the whole mailbox: {commands:?}"
    );
    assert!(
        commands
            .iter()
            // ESEARCH (Dovecot has it): the matches come back as one UID range.
            .any(|c| c.starts_with("UID SEARCH RETURN (ALL) UID 2851:2950")),
        "{commands:?}"
    );
}
