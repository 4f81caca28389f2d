//! Mailbox routes against a real Dovecot: listing with roles and counters, Unicode
//! names, create/read/rename/subscribe/delete, errors, injection and isolation.

mod common;

use common::{dovecot, enc, Auth, Gateway};
use serde_json::{json, Value};

fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed in {list}"))
}

#[tokio::test]
async fn lists_mailboxes_with_roles_counters_and_decoded_names() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let reply = gateway.get("/v1/mailboxes", &Auth::alice()).await;
    let list = reply.ok(200);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "INBOX", "INBOX comes first: {names:?}");
    assert_eq!(list["total"], names.len());
    let inbox = find(list, "INBOX");
    assert_eq!(inbox["role"], "inbox");
    assert_eq!(inbox["status"]["messages"], 3);
    assert_eq!(inbox["status"]["unseen"], 2);
    assert_eq!(inbox["status"]["uid_next"], 4);
    assert!(inbox["status"]["uid_validity"].as_u64().unwrap() > 0);
    assert!(inbox["status"]["highest_modseq"].as_u64().unwrap() > 0);
    assert_eq!(find(list, "Archive")["status"]["messages"], 2);
    assert_eq!(find(list, "Archive")["status"]["unseen"], 0);
    let sent = find(list, "Sent");
    assert_eq!(sent["role"], "sent");
    assert_eq!(sent["subscribed"], true);
    assert_eq!(find(list, "Trash")["role"], "trash");
    // Seeded on disk as Entw&APw-rfe: the gateway decodes modified UTF-7.
    assert_eq!(find(list, "Entwürfe")["delimiter"], "/");
    let nested = find(list, "Projects/2026");
    assert_eq!(nested["parent"], "Projects");
    assert_eq!(find(list, "Projects")["has_children"], true);
    // bob's mailboxes are not alice's.
    assert!(!names.contains(&"Bob-Only"));
}

#[tokio::test]
async fn unicode_names_round_trip_through_create_list_get_rename_delete() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let names = [
        "Entwürfe/Neu",
        "Προσωπικά",
        "日本語",
        "📧 mail",
        "Projects/2026/Q1",
        "a&b \"quoted\" \\ {5}",
    ];
    for name in names {
        let reply = gateway
            .post("/v1/mailboxes", &alice, json!({"name": name}))
            .await;
        let created = reply.ok(201);
        assert_eq!(created["name"], name);
        assert_eq!(created["subscribed"], true);
        assert_eq!(created["status"]["messages"], 0);
        assert_eq!(
            reply.headers["location"],
            format!("/v1/mailboxes/{}", enc(name))
        );
        let got = gateway
            .get(&format!("/v1/mailboxes/{}", enc(name)), &alice)
            .await;
        assert_eq!(got.ok(200)["name"], name);
    }
    // What reached the server is modified UTF-7.
    assert!(dovecot.mailbox_exists("alice", "&A6ADwQO,A8MDyQPAA7kDugOs-"));
    assert!(dovecot.mailbox_exists("alice", "&ZeVnLIqe-"));
    assert!(dovecot.mailbox_exists("alice", "&2D3c5w- mail"));
    let listed = gateway.mailbox_names(&alice).await;
    for name in names {
        assert!(listed.iter().any(|n| n == name), "{name} not in {listed:?}");
    }
    let renamed = gateway
        .patch(
            &format!("/v1/mailboxes/{}", enc("📧 mail")),
            &alice,
            json!({"name": "📬 Post"}),
        )
        .await;
    assert_eq!(renamed.ok(200)["name"], "📬 Post");
    assert_eq!(
        renamed.body["subscribed"], true,
        "the subscription follows a rename"
    );
    gateway
        .get(&format!("/v1/mailboxes/{}", enc("📧 mail")), &alice)
        .await
        .problem(404);
    let deleted = gateway
        .delete(&format!("/v1/mailboxes/{}", enc("📬 Post")), &alice)
        .await;
    assert_eq!(deleted.status, 204);
    assert!(!gateway
        .mailbox_names(&alice)
        .await
        .iter()
        .any(|n| n == "📬 Post"));
}
