//! Conversations (`GET /v1/mailboxes/{mailbox}/threads`), from Dovecot's own
//! `UID THREAD REFERENCES`. The same checks run on Cyrus and Courier in
//! `tests/servers.rs`, on the same seven messages.

mod common;

use common::{Auth, Gateway};
use dovecot_harness::raw::RawImap;
use dovecot_harness::{Dovecot, Options, SeedMessage, User};
use serde_json::Value;

/// A message `id` with `subject`, answering the last of `references` (oldest first).
fn message(id: &str, subject: &str, references: &[&str], at: u64) -> SeedMessage {
    let mut raw = format!(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: {subject}\r\n\
         Date: Mon, 23 Nov 2026 09:00:00 +0000\r\nMessage-ID: <{id}@x>\r\n"
    );
    if let Some(last) = references.last() {
        let all: Vec<String> = references.iter().map(|r| format!("<{r}@x>")).collect();
        raw.push_str(&format!(
            "In-Reply-To: <{last}@x>\r\nReferences: {}\r\n",
            all.join(" ")
        ));
    }
    raw.push_str("\r\nbody\r\n");
    let mut seed = SeedMessage::raw(raw.into_bytes());
    seed.internal_date = at;
    seed
}

/// The seven messages of `imap::thread`'s known answers: a "Plans" conversation
/// (1, replies 2 and 5, 4 answering 2), "Lunch" (3) and "Fwd: Lunch" (7), and a
/// reply whose original is missing (6).
fn conversation() -> Vec<SeedMessage> {
    vec![
        message("a", "Plans", &[], 1_790_000_100),
        message("b", "Re: Plans", &["a"], 1_790_000_200),
        message("c", "Lunch", &[], 1_790_000_300),
        message("d", "Re: Plans", &["a", "b"], 1_790_000_400).with_flags("S"),
        message("e", "Re: Plans", &["a"], 1_790_000_500),
        message("f", "Re: Lost", &["zz"], 1_790_000_600),
        message("g", "Fwd: Lunch", &[], 1_790_000_700),
    ]
}

fn dovecot(capabilities: Option<&str>) -> Dovecot {
    Dovecot::start(Options {
        users: vec![User::new("alice", "alice-pw").with_mailbox("INBOX", conversation())],
        capabilities: capabilities.map(str::to_owned),
        ..Options::default()
    })
}

fn ids(body: &Value) -> Vec<u64> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn threads_come_newest_first_and_page_without_shifting() {
    let dovecot = dovecot(None);
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let all = gateway.get("/v1/mailboxes/INBOX/threads", &alice).await;
    let body = all.ok(200);
    assert_eq!(body["algorithm"], "REFERENCES");
    assert_eq!(body["total"], 3);
    // Newest message first: Lunch (7), the lost reply (6), Plans (5).
    assert_eq!(ids(body), [3, 6, 1]);
    let plans = &body["items"][2];
    assert_eq!(plans["uids"], serde_json::json!([1, 2, 4, 5]));
    assert_eq!(plans["messages"], 4);
    assert_eq!(plans["unseen"], 3, "4 is seen");
    assert_eq!(plans["newest"]["uid"], 5);
    assert_eq!(plans["newest"]["envelope"]["subject"], "Re: Plans");
    assert_eq!(body["items"][0]["uids"], serde_json::json!([3, 7]));

    // Pages: a reply arriving between them does not shift them.
    let first = gateway
        .get("/v1/mailboxes/INBOX/threads?limit=2", &alice)
        .await;
    let first = first.ok(200).clone();
    assert_eq!(ids(&first), [3, 6]);
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    raw.append_message(
        "INBOX",
        "",
        b"Subject: Re: Plans\r\nMessage-ID: <h@x>\r\nIn-Reply-To: <a@x>\r\nReferences: <a@x>\r\n\r\nlate\r\n",
    )
    .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = gateway
        .get(
            &format!("/v1/mailboxes/INBOX/threads?limit=2&cursor={cursor}"),
            &alice,
        )
        .await;
    let second = second.ok(200);
    assert_eq!(ids(second), [1]);
    assert_eq!(second["items"][0]["uids"], serde_json::json!([1, 2, 4, 5]));
    assert_eq!(second["next_cursor"], Value::Null);
    // A new first page has the reply, and the Plans thread on top.
    let fresh = gateway
        .get("/v1/mailboxes/INBOX/threads?limit=1", &alice)
        .await;
    let fresh = fresh.ok(200);
    assert_eq!(ids(fresh), [1]);
    assert_eq!(
        fresh["items"][0]["uids"],
        serde_json::json!([1, 2, 4, 5, 8])
    );
}

#[tokio::test]
async fn one_thread_lists_its_messages_oldest_first_with_their_parents() {
    let dovecot = dovecot(None);
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let thread = gateway.get("/v1/mailboxes/INBOX/threads/1", &alice).await;
    let body = thread.ok(200);
    assert_eq!(body["id"], 1);
    let shape: Vec<(u64, Value, u64)> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["uid"].as_u64().unwrap(),
                m["parent_uid"].clone(),
                m["depth"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (1, Value::Null, 0),
            (2, Value::from(1), 1),
            (4, Value::from(2), 2),
            (5, Value::from(1), 1)
        ]
    );
    assert_eq!(body["messages"][2]["envelope"]["message_id"], "d@x");
    // A thread is named by its first message only.
    let problem = gateway.get("/v1/mailboxes/INBOX/threads/2", &alice).await;
    assert!(problem.problem(404)["detail"]
        .as_str()
        .unwrap()
        .contains("first message"));
    for bad in ["0", "x", "-1", "99999999999"] {
        let reply = gateway
            .get(&format!("/v1/mailboxes/INBOX/threads/{bad}"), &alice)
            .await;
        assert_eq!(reply.problem(400)["errors"][0]["field"], "id", "{bad}");
    }
    let limits = gateway
        .get("/v1/mailboxes/INBOX/threads?limit=0", &alice)
        .await;
    assert_eq!(limits.problem(422)["errors"][0]["field"], "limit");
    let forged = gateway
        .get("/v1/mailboxes/INBOX/threads?cursor=abc", &alice)
        .await;
    assert_eq!(forged.problem(400)["errors"][0]["field"], "cursor");
    gateway
        .get("/v1/mailboxes/Nope/threads", &alice)
        .await
        .problem(404);
    // The session stays usable after the raw THREAD exchanges.
    gateway
        .get("/v1/mailboxes/INBOX/messages?limit=1", &alice)
        .await
        .ok(200);
    assert_eq!(gateway.state.pools.stats().sessions, 1);
}

#[tokio::test]
async fn the_gateway_threads_like_the_server_on_a_server_without_thread() {
    // The seven messages plus a second "Lunch" (two first messages with one subject
    // go under a missing common parent) and two replies to one missing message; one
    // Dovecot threads itself, the other hides THREAD from the gateway.
    let mut messages = conversation();
    messages.push(message("h", "Lunch", &[], 1_790_000_800));
    messages.push(message("i", "Re: Gone", &["gone"], 1_790_000_900));
    messages.push(message("j", "Re: Gone", &["gone"], 1_790_001_000));
    let start = |capabilities: Option<&str>| {
        Dovecot::start(Options {
            users: vec![User::new("alice", "alice-pw").with_mailbox("INBOX", messages.clone())],
            capabilities: capabilities.map(str::to_owned),
            ..Options::default()
        })
    };
    let threading = start(None);
    let plain = start(Some("IMAP4rev1 IDLE UIDPLUS NAMESPACE LITERAL+"));
    let mut answers = Vec::new();
    for dovecot in [&threading, &plain] {
        let gateway = Gateway::start(common::config_for(dovecot)).await;
        let alice = Auth::alice();
        let list = gateway.get("/v1/mailboxes/INBOX/threads", &alice).await;
        let list = list.ok(200).clone();
        let shape: Vec<(Value, Value, Value, Value)> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].clone(),
                    t["uids"].clone(),
                    t["unseen"].clone(),
                    t["newest"]["uid"].clone(),
                )
            })
            .collect();
        let thread = gateway.get("/v1/mailboxes/INBOX/threads/1", &alice).await;
        let members: Vec<Value> = thread.ok(200)["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| serde_json::json!([m["uid"], m["parent_uid"], m["depth"]]))
            .collect();
        answers.push((list["algorithm"].clone(), shape, members));
    }
    assert_eq!(answers[0].0, "REFERENCES");
    assert_eq!(answers[1].0, "gateway-references");
    assert_eq!(answers[0].1, answers[1].1, "the same threads");
    assert_eq!(answers[0].1.len(), 4, "{:?}", answers[0].1);
    assert_eq!(answers[0].2, answers[1].2, "the same tree");
    let commands = plain.commands("alice");
    assert!(
        commands.iter().all(|c| !c.contains("THREAD")),
        "no THREAD was sent: {commands:?}"
    );
}

#[tokio::test]
async fn a_thread_can_bring_the_users_replies_from_sent() {
    let sent = vec![
        message("mine", "Re: Plans", &["a", "e"], 1_790_000_550),
        message("other", "Elsewhere", &[], 1_790_000_560),
        message("mine2", "Re: Lunch", &["c"], 1_790_000_570),
    ];
    let dovecot = Dovecot::start(Options {
        users: vec![User::new("alice", "alice-pw")
            .with_mailbox("INBOX", conversation())
            .with_mailbox("Sent", sent)],
        ..Options::default()
    });
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let plain = gateway.get("/v1/mailboxes/INBOX/threads/1", &alice).await;
    assert!(plain.ok(200).get("sent").is_none(), "only when asked for");
    let with_sent = gateway
        .get("/v1/mailboxes/INBOX/threads/1?include_sent=true", &alice)
        .await;
    let body = with_sent.ok(200);
    assert_eq!(body["messages"].as_array().unwrap().len(), 4);
    assert_eq!(body["sent"]["mailbox"], "Sent");
    let replies: Vec<Value> = body["sent"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            serde_json::json!([
                m["uid"],
                m["parent_uid"],
                m["depth"],
                m["envelope"]["message_id"]
            ])
        })
        .collect();
    // Sent's UID 1 answers INBOX's 5 (depth 1), so it sits at depth 2.
    assert_eq!(replies, [serde_json::json!([1, 5, 2, "mine@x"])]);
    let lunch = gateway
        .get("/v1/mailboxes/INBOX/threads/3?include_sent=true", &alice)
        .await;
    let lunch = lunch.ok(200);
    assert_eq!(lunch["sent"]["messages"][0]["uid"], 3);
    assert_eq!(lunch["sent"]["messages"][0]["parent_uid"], 3);
    let bad = gateway
        .get("/v1/mailboxes/INBOX/threads/1?include_sent=maybe", &alice)
        .await;
    bad.problem(400);
}
