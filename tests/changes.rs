//! The changes API against a real Dovecot: what another client did (appends, flag
//! changes, expunges) comes back exactly once, pages cover everything, and a
//! recreated mailbox or a server without QRESYNC asks the client to resynchronise.

mod common;

use std::collections::BTreeSet;

use common::{Auth, Dovecot, Gateway, Options, SeedMessage, User};
use dovecot_harness::raw::RawImap;
use imap_gateway::mail::{MailboxState, TokenCodec};
use secrecy::SecretString;
use serde_json::Value;

fn live_user() -> User {
    let messages = (1..=5)
        .map(|i| {
            SeedMessage::text(
                "a@example.org",
                "live@example.org",
                &format!("Seed {i}"),
                "x",
            )
        })
        .collect();
    User::new("live", "live-pw")
        .with_mailbox("INBOX", messages)
        .with_mailbox("Archive", Vec::new())
}

fn live() -> Auth {
    Auth::Basic("live", "live-pw")
}

fn numbers(list: &Value, field: &str) -> Vec<u64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| {
            if field.is_empty() {
                v.as_u64().unwrap()
            } else {
                v[field].as_u64().unwrap()
            }
        })
        .collect()
}

#[tokio::test]
async fn reports_appends_flag_changes_and_expunges_exactly_once() {
    let dovecot = Dovecot::start(Options {
        users: vec![live_user()],
        ..Options::default()
    });
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let mailbox = gateway.get("/v1/mailboxes/INBOX", &live()).await;
    let since = mailbox.ok(200)["status"]["state"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = gateway.get("/v1/mailboxes/INBOX/messages", &live()).await;
    assert!(
        listed.ok(200)["state"].is_string(),
        "message lists carry a state too"
    );

    let mut other = RawImap::login(dovecot.imap_port, "live", "live-pw").await;
    other.ok("SELECT INBOX").await;
    let first = other.append("INBOX", "New one").await;
    let second = other.append("INBOX", "New two").await;
    other.ok("UID STORE 2 +FLAGS (\\Flagged)").await;
    other.ok("UID STORE 3 +FLAGS (\\Deleted)").await;
    other.ok("UID EXPUNGE 3").await;

    let changes = gateway
        .get(
            &format!("/v1/mailboxes/INBOX/changes?since={since}"),
            &live(),
        )
        .await;
    let changes = changes.ok(200).clone();
    assert_eq!(
        numbers(&changes["created"], "uid"),
        vec![u64::from(first), u64::from(second)]
    );
    assert_eq!(changes["created"][0]["envelope"]["subject"], "New one");
    assert_eq!(numbers(&changes["updated"], "uid"), vec![2]);
    assert_eq!(
        changes["updated"][0]["flags"],
        serde_json::json!(["\\Flagged"])
    );
    assert_eq!(numbers(&changes["destroyed"], ""), vec![3]);
    assert_eq!(changes["has_more"], false);
    let next = changes["state"].as_str().unwrap();
    let quiet = gateway
        .get(
            &format!("/v1/mailboxes/INBOX/changes?since={next}"),
            &live(),
        )
        .await;
    let quiet = quiet.ok(200);
    assert_eq!(
        (
            quiet["created"].as_array().unwrap().len(),
            quiet["updated"].as_array().unwrap().len()
        ),
        (0, 0)
    );
    assert_eq!(quiet["destroyed"], serde_json::json!([]));
}

#[tokio::test]
async fn paging_with_limit_covers_the_whole_change_set() {
    let dovecot = Dovecot::start(Options {
        users: vec![live_user()],
        ..Options::default()
    });
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let list = gateway.get("/v1/mailboxes/INBOX/messages", &live()).await;
    let mut since = list.ok(200)["state"].as_str().unwrap().to_owned();
    let mut other = RawImap::login(dovecot.imap_port, "live", "live-pw").await;
    other.ok("SELECT INBOX").await;
    for uid in [1, 2, 4, 5] {
        other
            .ok(&format!("UID STORE {uid} +FLAGS ($Seen{uid})"))
            .await;
    }
    let mut appended = BTreeSet::new();
    for i in 0..3 {
        appended.insert(u64::from(other.append("INBOX", &format!("Page {i}")).await));
    }
    other.ok("UID STORE 1 +FLAGS (\\Deleted)").await;
    other.ok("UID EXPUNGE 1").await;
    let (mut created, mut updated, mut destroyed) = (Vec::new(), Vec::new(), BTreeSet::new());
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 20, "paging must end");
        let page = gateway
            .get(
                &format!("/v1/mailboxes/INBOX/changes?since={since}&limit=2"),
                &live(),
            )
            .await;
        let page = page.ok(200).clone();
        assert!(
            page["created"].as_array().unwrap().len() + page["updated"].as_array().unwrap().len()
                <= 2
        );
        created.extend(numbers(&page["created"], "uid"));
        updated.extend(numbers(&page["updated"], "uid"));
        destroyed.extend(numbers(&page["destroyed"], ""));
        since = page["state"].as_str().unwrap().to_owned();
        if page["has_more"] == false {
            break;
        }
    }
    assert!(rounds >= 3, "{rounds} rounds");
    assert_eq!(created.iter().copied().collect::<BTreeSet<u64>>(), appended);
    assert_eq!(created.len(), appended.len(), "each creation once");
    let mut sorted = updated.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        vec![2, 4, 5],
        "each update once; the expunged message is only destroyed"
    );
    assert_eq!(destroyed.into_iter().collect::<Vec<_>>(), vec![1]);
}

#[tokio::test]
async fn stale_forged_or_unsupported_states_are_refused() {
    let dovecot = Dovecot::start(Options {
        users: vec![live_user()],
        ..Options::default()
    });
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let mut other = RawImap::login(dovecot.imap_port, "live", "live-pw").await;
    other.append("Archive", "before").await;
    let archive = gateway.get("/v1/mailboxes/Archive", &live()).await;
    let since = archive.ok(200)["status"]["state"]
        .as_str()
        .unwrap()
        .to_owned();
    gateway
        .get(
            &format!("/v1/mailboxes/INBOX/changes?since={since}"),
            &live(),
        )
        .await
        .problem(400);
    gateway
        .get("/v1/mailboxes/Archive/changes?since=bm9wZQ", &live())
        .await
        .problem(400);
    gateway
        .get(
            &format!("/v1/mailboxes/Archive/changes?since={since}&limit=0"),
            &live(),
        )
        .await
        .problem(422);
    gateway
        .get("/v1/mailboxes/Archive/changes", &live())
        .await
        .problem(400);
    other.ok("DELETE Archive").await;
    other.ok("CREATE Archive").await;
    let reset = gateway
        .get(
            &format!("/v1/mailboxes/Archive/changes?since={since}"),
            &live(),
        )
        .await;
    assert_eq!(
        reset.problem(409)["type"],
        "urn:imap-gateway:problem:resync-required"
    );

    let plain = Dovecot::start(Options {
        users: vec![live_user()],
        capabilities: Some("IMAP4rev1 IDLE UIDPLUS".to_owned()),
        ..Options::default()
    });
    let old_server = Gateway::start(common::config_for(&plain)).await;
    // Without CONDSTORE/QRESYNC a state is still issued; from it `/changes` reports
    // what it can prove (new messages) and says that flags are not tracked.
    let status = old_server.get("/v1/mailboxes/INBOX", &live()).await;
    let plain_state = status.ok(200)["status"]["state"]
        .as_str()
        .expect("a state without CONDSTORE")
        .to_owned();
    let mut raw = RawImap::login(plain.imap_port, "live", "live-pw").await;
    let added = raw.append("INBOX", "Seen without CONDSTORE").await;
    let proven = old_server
        .get(
            &format!("/v1/mailboxes/INBOX/changes?since={plain_state}"),
            &live(),
        )
        .await;
    let body = proven.ok(200);
    assert_eq!(body["created"][0]["uid"], added, "{}", proven.text);
    assert_eq!(body["created"].as_array().unwrap().len(), 1);
    assert_eq!(body["flags_tracked"], false);
    let codec = TokenCodec::new(&SecretString::from(common::SECRET.to_owned()));
    let token = codec.encode_state(
        "INBOX",
        &MailboxState {
            uid_validity: 1,
            highest_modseq: 1,
            uid_next: 1,
            messages: 0,
        },
    );
    let unsupported = old_server
        .get(
            &format!("/v1/mailboxes/INBOX/changes?since={token}"),
            &live(),
        )
        .await;
    assert_eq!(
        unsupported.problem(409)["type"],
        "urn:imap-gateway:problem:resync-required"
    );
}
