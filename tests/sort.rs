//! `sort=` and `order=` on a mailbox's list: the server's SORT (RFC 5256), paged with
//! a cursor that new mail never shifts; 422 naming SORT where the server lacks it.
//! Cyrus and Courier run a date sort in `tests/servers.rs`.

mod common;

use common::{Auth, Gateway};
use dovecot_harness::raw::RawImap;
use dovecot_harness::{Dovecot, Options, SeedMessage, User};
use serde_json::Value;

/// A message from `from` with `subject`, dated `date` (the Date header), `padding`
/// bytes of body, arriving in the order given.
fn message(from: &str, subject: &str, date: &str, padding: usize) -> SeedMessage {
    let raw = format!(
        "From: {from}\r\nTo: alice@example.org\r\nSubject: {subject}\r\nDate: {date}\r\n\r\n{}\r\n",
        "x".repeat(padding)
    );
    SeedMessage::raw(raw.into_bytes())
}

fn mailbox() -> Vec<SeedMessage> {
    vec![
        message(
            "carol@example.org",
            "Budget",
            "Wed, 25 Nov 2026 09:00:00 +0000",
            300,
        ),
        message(
            "alice@example.org",
            "Agenda",
            "Mon, 23 Nov 2026 09:00:00 +0000",
            100,
        ),
        message(
            "bob@example.org",
            "Zebra",
            "Thu, 26 Nov 2026 09:00:00 +0000",
            400,
        ),
        message(
            "dave@example.org",
            "Minutes",
            "Tue, 24 Nov 2026 09:00:00 +0000",
            200,
        ),
    ]
}

fn dovecot(capabilities: Option<&str>) -> Dovecot {
    Dovecot::start(Options {
        users: vec![User::new("alice", "alice-pw").with_mailbox("INBOX", mailbox())],
        capabilities: capabilities.map(str::to_owned),
        ..Options::default()
    })
}

fn uids(body: &Value) -> Vec<u64> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["uid"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_server_sorts_and_pages_stay_fixed() {
    let dovecot = dovecot(None);
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let list = |query: &str| format!("/v1/mailboxes/INBOX/messages?{query}");
    for (query, expected) in [
        ("sort=date", vec![3, 1, 4, 2]),
        ("sort=date&order=asc", vec![2, 4, 1, 3]),
        ("sort=subject&order=asc", vec![2, 1, 4, 3]),
        ("sort=from&order=asc", vec![2, 3, 1, 4]),
        ("sort=size", vec![3, 1, 4, 2]),
        ("sort=arrival&order=asc", vec![1, 2, 3, 4]),
        ("sort=arrival", vec![4, 3, 2, 1]),
        ("sort=date&subject=u", vec![1, 4]),
    ] {
        let reply = gateway.get(&list(query), &alice).await;
        assert_eq!(uids(reply.ok(200)), expected, "{query}");
    }
    // Pages: a message that sorts between them arrives meanwhile and stays out.
    let first = gateway.get(&list("sort=date&limit=2"), &alice).await;
    let first = first.ok(200).clone();
    assert_eq!(uids(&first), [3, 1]);
    assert_eq!(first["total"], 4);
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    raw.append_message(
        "INBOX",
        "",
        b"Subject: Late\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nx\r\n",
    )
    .await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = gateway
        .get(&list(&format!("sort=date&limit=2&cursor={cursor}")), &alice)
        .await;
    let second = second.ok(200);
    assert_eq!(uids(second), [4, 2]);
    assert_eq!(second["next_cursor"], Value::Null);
    // A cursor belongs to its order.
    let other = gateway
        .get(&list(&format!("sort=size&limit=2&cursor={cursor}")), &alice)
        .await;
    assert_eq!(other.problem(400)["errors"][0]["field"], "cursor");
    // Bad values are refused before anything is sent.
    for (query, status, field) in [
        ("sort=random", 400, "sort"),
        ("sort=date&order=up", 400, "order"),
        ("sort=date%0D%0AX", 400, "sort"),
    ] {
        let reply = gateway.get(&list(query), &alice).await;
        assert_eq!(
            reply.problem(status)["errors"][0]["field"],
            field,
            "{query}"
        );
    }
    let across = gateway.get("/v1/messages?sort=date", &alice).await;
    assert_eq!(across.problem(422)["errors"][0]["field"], "sort");
}

#[tokio::test]
async fn without_sort_only_the_arrival_order_is_served() {
    let dovecot = dovecot(Some("IMAP4rev1 IDLE UIDPLUS NAMESPACE"));
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let refused = gateway
        .get("/v1/mailboxes/INBOX/messages?sort=date", &alice)
        .await;
    let problem = refused.problem(422);
    assert_eq!(problem["errors"][0]["field"], "sort");
    assert!(problem["detail"].as_str().unwrap().contains("SORT"));
    let newest = gateway
        .get(
            "/v1/mailboxes/INBOX/messages?sort=arrival&order=desc",
            &alice,
        )
        .await;
    assert_eq!(uids(newest.ok(200)), [4, 3, 2, 1]);
    assert!(
        dovecot
            .commands("alice")
            .iter()
            .all(|c| !c.contains("SORT")),
        "no SORT was sent"
    );
}
