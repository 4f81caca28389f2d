//! The IMAP command budget per route (README, Performance), counted in Dovecot's own
//! log of what the gateway sent: a warm newest page is one FETCH, with no NOOP and no
//! STATUS, and it still sees mail another client added meanwhile.

mod common;

use common::{dovecot, Auth, Gateway};
use dovecot_harness::raw::RawImap;

/// The commands alice's sessions sent, by name (`FETCH`, `UID STORE`, ...).
fn command_names(dovecot: &dovecot_harness::Dovecot) -> Vec<String> {
    dovecot
        .commands("alice")
        .iter()
        .map(|c| {
            let mut words = c.split(' ').map(str::to_ascii_uppercase);
            let first = words.next().unwrap_or_default();
            match words.next() {
                Some(second) if first == "UID" => format!("UID {second}"),
                _ => first,
            }
        })
        .collect()
}

#[tokio::test]
async fn a_warm_newest_page_costs_one_fetch() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.max_sessions_per_user = 1;
    let gateway = Gateway::start(config).await;
    let page = "/v1/mailboxes/INBOX/messages?limit=2";
    gateway.get(page, &Auth::alice()).await.ok(200);
    let before = command_names(&dovecot).len();
    for _ in 0..5 {
        gateway.get(page, &Auth::alice()).await.ok(200);
    }
    let sent = command_names(&dovecot)[before..].to_vec();
    assert_eq!(sent, vec!["FETCH"; 5], "{sent:?}");

    // Mail another client adds is on the next page: the FETCH's answer announces it
    // (EXISTS) and the gateway fetches the new top too; the page's state token leads
    // `/changes` to exactly what happened after it.
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    for subject in ["Arrived one", "Arrived two"] {
        raw.append("INBOX", subject).await;
    }
    let fresh = gateway.get(page, &Auth::alice()).await;
    let body = fresh.ok(200);
    let subjects: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["envelope"]["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["Arrived two", "Arrived one"], "{}", fresh.text);
    let newest = body["items"][0]["uid"].as_u64().unwrap();
    let state = body["state"].as_str().unwrap().to_owned();
    raw.ok("SELECT INBOX").await;
    raw.ok(&format!("UID STORE {newest} +FLAGS (\\Deleted)"))
        .await;
    raw.ok(&format!("UID EXPUNGE {newest}")).await;
    raw.append("INBOX", "Arrived three").await;
    let changes = gateway
        .get(
            &format!("/v1/mailboxes/INBOX/changes?since={state}"),
            &Auth::alice(),
        )
        .await;
    let changes = changes.ok(200);
    assert_eq!(changes["destroyed"], serde_json::json!([newest]));
    assert_eq!(changes["created"].as_array().unwrap().len(), 1);
    assert_eq!(
        changes["created"][0]["envelope"]["subject"],
        "Arrived three"
    );
}

/// The budget of each route on a warm session that has INBOX selected, as the
/// README's Performance section lists it.
#[tokio::test]
async fn every_route_keeps_its_budget() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.max_sessions_per_user = 1;
    let gateway = Gateway::start(config).await;
    let alice = Auth::alice();
    let first = gateway
        .get("/v1/mailboxes/INBOX/messages?limit=2", &alice)
        .await;
    let first = first.ok(200);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let state = first["state"].as_str().unwrap().to_owned();
    let uid = first["items"][0]["uid"].as_u64().unwrap();
    let reads: Vec<(String, Vec<&str>)> = vec![
        // Dovecot answers STATUS of the selected mailbox from the session's view:
        // the NOOP brings it up to date first.
        ("/v1/mailboxes".to_owned(), vec!["NOOP", "LIST"]),
        ("/v1/mailboxes/INBOX".to_owned(), vec!["NOOP", "LIST"]),
        (
            "/v1/mailboxes/INBOX/messages?limit=2".to_owned(),
            vec!["FETCH"],
        ),
        (
            format!("/v1/mailboxes/INBOX/messages?limit=2&cursor={cursor}"),
            vec!["NOOP", "STATUS", "UID SEARCH", "UID FETCH"],
        ),
        (
            "/v1/mailboxes/INBOX/messages?limit=2&unseen=true".to_owned(),
            vec!["NOOP", "STATUS", "UID SEARCH", "UID FETCH"],
        ),
        (
            format!("/v1/mailboxes/INBOX/messages/{uid}"),
            vec!["UID FETCH", "UID FETCH"],
        ),
        (
            format!("/v1/mailboxes/INBOX/messages/{uid}/flags"),
            vec!["UID FETCH"],
        ),
        (
            format!("/v1/mailboxes/INBOX/messages/{uid}/raw"),
            vec!["UID FETCH", "UID FETCH"],
        ),
        (
            format!("/v1/mailboxes/INBOX/changes?since={state}"),
            vec!["NOOP", "STATUS", "UID FETCH"],
        ),
    ];
    for (path, want) in reads {
        let before = command_names(&dovecot).len();
        gateway.get(&path, &alice).await.ok(200);
        let sent = command_names(&dovecot)[before..].to_vec();
        assert_eq!(sent, want, "{path}");
    }
    // A flag change: SELECT once (read-write), then a FETCH (a STORE on a missing
    // UID would succeed silently) and the STORE, whose answer carries the flags.
    let path = format!("/v1/mailboxes/INBOX/messages/{uid}/flags");
    let body = serde_json::json!({"add": ["$Budget"]});
    let before = command_names(&dovecot).len();
    gateway.patch(&path, &alice, body.clone()).await.ok(200);
    let sent = command_names(&dovecot)[before..].to_vec();
    assert_eq!(sent, ["SELECT", "UID FETCH", "UID STORE"], "PATCH flags");
    let before = command_names(&dovecot).len();
    gateway.patch(&path, &alice, body).await.ok(200);
    let sent = command_names(&dovecot)[before..].to_vec();
    assert_eq!(sent, ["UID FETCH", "UID STORE"], "PATCH flags again");
}

/// A mailbox list on a session with nothing selected EXAMINEs INBOX first (about what
/// Dovecot's STATUS of an unselected INBOX costs), so the session keeps INBOX selected:
/// its next list is answered from the session's view of INBOX, and its next INBOX page
/// needs no EXAMINE. The token request's LOGIN left such a session in the pool.
#[tokio::test]
async fn a_mailbox_list_leaves_inbox_selected() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.max_sessions_per_user = 1;
    let gateway = Gateway::start(config).await;
    let alice = Auth::alice();
    let token = gateway
        .post(
            "/v1/auth/token",
            &Auth::None,
            serde_json::json!({"username": "alice", "password": "alice-pw"}),
        )
        .await
        .ok(200)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = Auth::Bearer(token);
    let before = command_names(&dovecot).len();
    gateway.get("/v1/mailboxes", &bearer).await.ok(200);
    let sent = command_names(&dovecot)[before..].to_vec();
    assert_eq!(sent, ["EXAMINE", "LIST"], "first mailbox list");
    for (path, want) in [
        ("/v1/mailboxes", vec!["NOOP", "LIST"]),
        ("/v1/mailboxes/INBOX/messages?limit=2", vec!["FETCH"]),
    ] {
        let before = command_names(&dovecot).len();
        gateway.get(path, &alice).await.ok(200);
        let sent = command_names(&dovecot)[before..].to_vec();
        assert_eq!(sent, want, "{path}");
    }
    assert_eq!(dovecot.sessions_opened("alice"), 1);
}
