//! `GET /v1/messages`: one search over every mailbox, against Dovecot. The same
//! checks run on Cyrus and Courier in `tests/servers.rs`.

mod common;

use std::collections::BTreeSet;

use common::{Auth, Gateway};
use dovecot_harness::raw::RawImap;
use dovecot_harness::{Dovecot, Options, SeedMessage, User};
use serde_json::Value;

/// A message with `subject` that arrived at `at` (seconds since the epoch).
fn dated(subject: &str, at: u64) -> SeedMessage {
    let mut message = SeedMessage::text("x@example.org", "alice@example.org", subject, subject);
    message.internal_date = at;
    message
}

/// alice: a "report" in five mailboxes, arrivals interleaved across them, one
/// message that does not match, and reports in Junk and Trash.
fn reports() -> Dovecot {
    Dovecot::start(Options {
        users: vec![User::new("alice", "alice-pw")
            .with_mailbox(
                "INBOX",
                vec![
                    dated("report 1", 1_790_000_100),
                    dated("lunch", 1_790_000_150),
                    dated("report 4", 1_790_000_400),
                    dated("report 7", 1_790_000_700),
                ],
            )
            .with_mailbox(
                "Archive",
                vec![
                    dated("report 2", 1_790_000_200),
                    dated("report 5", 1_790_000_500),
                ],
            )
            .with_mailbox(
                "Projects/2026",
                vec![
                    dated("report 3", 1_790_000_300),
                    dated("report 6", 1_790_000_600),
                ],
            )
            .with_mailbox("Junk", vec![dated("report junk", 1_790_000_800)])
            .with_mailbox("Trash", vec![dated("report trash", 1_790_000_900)])],
        ..Options::default()
    })
}

fn subjects(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            format!(
                "{}: {}",
                item["mailbox"].as_str().unwrap(),
                item["envelope"]["subject"].as_str().unwrap()
            )
        })
        .collect()
}

fn cursor_of(body: &Value) -> Option<String> {
    body["next_cursor"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn one_search_covers_every_mailbox_newest_first_and_pages_stably() {
    let dovecot = reports();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let first = gateway
        .get("/v1/messages?subject=report&limit=3", &alice)
        .await;
    let body = first.ok(200);
    assert_eq!(
        subjects(body),
        [
            "INBOX: report 7",
            "Projects/2026: report 6",
            "Archive: report 5"
        ]
    );
    // Junk and Trash are left out by default; the others are searched.
    assert_eq!(body["total"], 7);
    let searched: BTreeSet<&str> = body["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        !searched.contains("Junk") && !searched.contains("Trash"),
        "{searched:?}"
    );
    assert!(
        searched.contains("Sent") && searched.contains("Drafts"),
        "{searched:?}"
    );
    let inbox = body["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "INBOX")
        .unwrap();
    assert_eq!(inbox["total"], 3);
    // Each item is a full summary, with its mailbox's UIDVALIDITY and UID.
    let item = &body["items"][0];
    assert_eq!(item["uid"], 4);
    assert_eq!(item["uid_validity"], inbox["uid_validity"]);

    // New mail between pages never shifts them.
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    raw.append_dated(
        "INBOX",
        "",
        Some(1_790_000_999),
        b"Subject: report new\r\n\r\nx\r\n",
    )
    .await;
    let mut pages = vec![subjects(body)];
    let mut cursor = cursor_of(body);
    while let Some(next) = cursor {
        let reply = gateway
            .get(
                &format!("/v1/messages?subject=report&limit=3&cursor={next}"),
                &alice,
            )
            .await;
        let body = reply.ok(200).clone();
        assert_eq!(
            body["total"],
            Value::Null,
            "the total comes with the first page"
        );
        pages.push(subjects(&body));
        cursor = cursor_of(&body);
    }
    assert_eq!(
        pages,
        [
            vec![
                "INBOX: report 7",
                "Projects/2026: report 6",
                "Archive: report 5"
            ],
            vec![
                "INBOX: report 4",
                "Projects/2026: report 3",
                "Archive: report 2"
            ],
            vec!["INBOX: report 1"],
        ]
    );

    // The choice of mailboxes: everything, or exactly some.
    let all = gateway
        .get(
            "/v1/messages?subject=report&limit=2&exclude_roles=none",
            &alice,
        )
        .await;
    assert_eq!(
        subjects(all.ok(200)),
        ["INBOX: report new", "Trash: report trash"]
    );
    let some = gateway
        .get("/v1/messages?subject=report&mailboxes=Archive,Junk", &alice)
        .await;
    assert_eq!(
        subjects(some.ok(200)),
        [
            "Junk: report junk",
            "Archive: report 5",
            "Archive: report 2"
        ]
    );
    let without_inbox = gateway
        .get(
            "/v1/messages?limit=1&exclude_roles=inbox,junk,trash",
            &alice,
        )
        .await;
    assert_eq!(subjects(without_inbox.ok(200)), ["Projects/2026: report 6"]);
    // A cursor is bound to its search and its choice of mailboxes.
    let page = gateway
        .get("/v1/messages?subject=report&limit=1", &alice)
        .await;
    let cursor = cursor_of(page.ok(200)).unwrap();
    for other in [
        format!("/v1/messages?subject=lunch&limit=1&cursor={cursor}"),
        format!("/v1/messages?subject=report&limit=1&exclude_roles=none&cursor={cursor}"),
    ] {
        let problem = gateway.get(&other, &alice).await;
        assert_eq!(problem.problem(400)["errors"][0]["field"], "cursor");
    }
}

#[tokio::test]
async fn bad_parameters_are_refused_before_any_search() {
    let dovecot = reports();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let inbox_page = gateway
        .get("/v1/mailboxes/INBOX/messages?limit=1", &alice)
        .await;
    let inbox_cursor = cursor_of(inbox_page.ok(200)).unwrap();
    let cases = [
        ("uid=1".to_owned(), 422, "uid"),
        (
            "mailboxes=INBOX&exclude_roles=junk".to_owned(),
            422,
            "exclude_roles",
        ),
        ("exclude_roles=spam".to_owned(), 400, "exclude_roles"),
        (
            "mailboxes=INBOX%0D%0AA1%20LOGOUT".to_owned(),
            400,
            "mailboxes",
        ),
        (
            "mailboxes=INBOX&mailboxes=Archive".to_owned(),
            400,
            "mailboxes",
        ),
        ("limit=0".to_owned(), 422, "limit"),
        (format!("cursor={inbox_cursor}"), 400, "cursor"),
        ("sort=date".to_owned(), 422, "sort"),
        ("include_trash=true".to_owned(), 400, "query"),
    ];
    for (query, status, field) in cases {
        let reply = gateway.get(&format!("/v1/messages?{query}"), &alice).await;
        let problem = reply.problem(status);
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    let missing = gateway
        .get("/v1/messages?mailboxes=INBOX,Nope", &alice)
        .await;
    assert!(missing.problem(404)["detail"]
        .as_str()
        .unwrap()
        .contains("Nope"));
    gateway
        .get("/v1/messages", &Auth::Basic("alice", "wrong"))
        .await
        .problem(401);
    // Nothing of the hostile name reached the server.
    let commands = dovecot.commands("alice");
    assert!(
        commands.iter().all(|line| !line.contains("A1 LOGOUT")),
        "{commands:?}"
    );
}

#[tokio::test]
async fn a_recreated_or_deleted_mailbox_is_reported_not_mixed_in() {
    let dovecot = reports();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let first = gateway
        .get("/v1/messages?subject=report&limit=1", &alice)
        .await;
    let cursor = cursor_of(first.ok(200)).unwrap();
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    // Archive is recreated (a new UIDVALIDITY, UIDs of other messages) ...
    raw.ok("DELETE Archive").await;
    raw.ok("CREATE Archive").await;
    raw.append_message("Archive", "", b"Subject: report reborn\r\n\r\nx\r\n")
        .await;
    // ... and Projects/2026 deleted.
    raw.ok("DELETE Projects/2026").await;
    let next = gateway
        .get(
            &format!("/v1/messages?subject=report&limit=10&cursor={cursor}"),
            &alice,
        )
        .await;
    let body = next.ok(200);
    assert_eq!(
        subjects(body),
        ["INBOX: report 4", "INBOX: report 1"],
        "only INBOX is continued"
    );
    let skipped: Vec<(&str, &str)> = body["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert!(
        skipped.contains(&("Archive", "uid_validity_changed")),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|(_, reason)| *reason == "deleted"),
        "{skipped:?}"
    );
    assert_eq!(body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn the_search_uses_at_most_the_pool_of_sessions_in_parallel() {
    let mut user = User::new("alice", "alice-pw");
    for n in 0..40 {
        user = user.with_mailbox(
            &format!("Folder{n:02}"),
            vec![dated(&format!("report {n}"), 1_790_000_000 + n)],
        );
    }
    let dovecot = Dovecot::start(Options {
        users: vec![user],
        ..Options::default()
    });
    for per_user in [1, 3] {
        let mut config = common::config_for(&dovecot);
        config.max_sessions_per_user = per_user;
        let gateway = Gateway::start(config).await;
        let reply = gateway
            .get("/v1/messages?subject=report&limit=20", &Auth::alice())
            .await;
        let body = reply.ok(200);
        assert_eq!(body["total"], 40);
        let got = subjects(body);
        assert_eq!(got.len(), 20);
        assert_eq!(got.first().map(String::as_str), Some("Folder39: report 39"));
        assert_eq!(got.last().map(String::as_str), Some("Folder20: report 20"));
        let stats = gateway.state.pools.stats();
        assert!(stats.sessions <= per_user, "{per_user}: {stats:?}");
        if per_user > 1 {
            assert!(
                stats.sessions > 1,
                "mailboxes were searched in parallel: {stats:?}"
            );
        }
        gateway.stop().await;
    }
}
