//! Mailbox routes against a real Dovecot: listing with roles and counters, Unicode
//! names, create/read/rename/subscribe/delete, errors, injection and isolation.

mod common;

use common::{dovecot, enc, Auth, Dovecot, Gateway, Options, User};
use serde_json::{json, Value};

/// The names of a list's mailboxes, in its order.
fn names(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect()
}

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
    let names = names(list);
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
    // A level that only holds other mailboxes has no messages, and says so.
    assert_eq!(find(list, "Projects")["selectable"], false);
    let refused = gateway
        .get("/v1/mailboxes/Projects/messages", &Auth::alice())
        .await;
    let problem = refused.problem(422);
    assert!(
        problem["detail"].as_str().unwrap().contains("Noselect"),
        "{problem}"
    );
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

#[tokio::test]
async fn get_create_and_errors_map_to_the_right_statuses() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let inbox = gateway.get("/v1/mailboxes/inbox", &alice).await;
    assert_eq!(inbox.ok(200)["name"], "INBOX");
    assert_eq!(inbox.body["status"]["messages"], 3);
    let missing = gateway.get("/v1/mailboxes/Nope", &alice).await;
    assert_eq!(missing.problem(404)["imap_code"], "NONEXISTENT");
    let created = gateway
        .post(
            "/v1/mailboxes",
            &alice,
            json!({"name": "Quiet", "subscribe": false}),
        )
        .await;
    assert_eq!(created.ok(201)["subscribed"], false);
    let again = gateway
        .post("/v1/mailboxes", &alice, json!({"name": "Quiet"}))
        .await;
    assert_eq!(again.problem(409)["imap_code"], "ALREADYEXISTS");
    assert!(dovecot.mailbox_exists("alice", "Quiet"));
    // Subscription changes.
    let subscribed = gateway
        .patch("/v1/mailboxes/Quiet", &alice, json!({"subscribed": true}))
        .await;
    assert_eq!(subscribed.ok(200)["subscribed"], true);
    let list = gateway
        .get("/v1/mailboxes?subscribed=true&status=false", &alice)
        .await;
    let names = names(list.ok(200));
    assert!(
        names.contains(&"Quiet") && !names.contains(&"Archive"),
        "{names:?}"
    );
    assert!(
        list.body["items"][0].get("status").is_none(),
        "status=false omits counters"
    );
    let unsubscribed = gateway
        .patch("/v1/mailboxes/Quiet", &alice, json!({"subscribed": false}))
        .await;
    assert_eq!(unsubscribed.ok(200)["subscribed"], false);
    // Renames: to an existing name, of a missing mailbox, of INBOX, with nothing to do.
    let clash = gateway
        .patch("/v1/mailboxes/Quiet", &alice, json!({"name": "Archive"}))
        .await;
    clash.problem(409);
    assert!(
        dovecot.mailbox_exists("alice", "Quiet") && dovecot.message_count("alice", "Archive") == 2
    );
    gateway
        .patch("/v1/mailboxes/Nope", &alice, json!({"name": "Other"}))
        .await
        .problem(404);
    gateway
        .patch("/v1/mailboxes/INBOX", &alice, json!({"name": "Other"}))
        .await
        .problem(422);
    gateway
        .patch("/v1/mailboxes/Quiet", &alice, json!({}))
        .await
        .problem(422);
    // Rename moves messages and children.
    let moved = gateway
        .patch(
            &format!("/v1/mailboxes/{}", enc("Archive")),
            &alice,
            json!({"name": "Old/Archive"}),
        )
        .await;
    assert_eq!(moved.ok(200)["status"]["messages"], 2);
    assert!(
        dovecot.mailbox_exists("alice", "Old/Archive")
            && !dovecot.mailbox_exists("alice", "Archive")
    );
    // Deletes.
    gateway
        .delete("/v1/mailboxes/Nope", &alice)
        .await
        .problem(404);
    gateway
        .delete("/v1/mailboxes/INBOX", &alice)
        .await
        .problem(422);
    assert_eq!(
        gateway.delete("/v1/mailboxes/Quiet", &alice).await.status,
        204
    );
    assert!(!dovecot.mailbox_exists("alice", "Quiet"));
}

#[tokio::test]
async fn invalid_names_and_injection_are_refused_before_imap() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let before = gateway.mailbox_names(&alice).await;
    let attacks = [
        "x\r\nA1 DELETE INBOX",
        "a\nb",
        "nul\0byte",
        "",
        &"x".repeat(600),
    ];
    for attack in attacks {
        let path = format!("/v1/mailboxes/{}", enc(attack));
        if !attack.is_empty() {
            gateway.get(&path, &alice).await.problem(400);
            gateway.delete(&path, &alice).await.problem(400);
            gateway
                .patch(&path, &alice, json!({"subscribed": true}))
                .await
                .problem(400);
        }
        let created = gateway
            .post("/v1/mailboxes", &alice, json!({"name": attack}))
            .await;
        assert_eq!(created.problem(400)["errors"][0]["field"], "name");
        let renamed = gateway
            .patch("/v1/mailboxes/Archive", &alice, json!({"name": attack}))
            .await;
        renamed.problem(400);
    }
    // Nothing changed on the server, and no injected command was ever sent.
    assert_eq!(gateway.mailbox_names(&alice).await, before);
    assert_eq!(dovecot.message_count("alice", "INBOX"), 3);
    let commands = dovecot.commands("alice");
    assert!(!commands.is_empty(), "rawlog records the session");
    for command in &commands {
        assert!(
            !command.to_uppercase().starts_with("DELETE"),
            "unexpected {command:?}"
        );
        assert!(
            !command.to_uppercase().starts_with("RENAME"),
            "unexpected {command:?}"
        );
        assert!(
            !command.to_uppercase().starts_with("CREATE"),
            "unexpected {command:?}"
        );
    }
    // Quotes, backslashes and literal syntax are data, not syntax.
    for tricky in ["a\"b", "a\\b", "{5}", "x\" DELETE INBOX \""] {
        let created = gateway
            .post("/v1/mailboxes", &alice, json!({"name": tricky}))
            .await;
        assert_eq!(created.ok(201)["name"], tricky);
    }
    assert_eq!(dovecot.message_count("alice", "INBOX"), 3);
    assert!(gateway
        .mailbox_names(&alice)
        .await
        .contains(&"INBOX".to_owned()));
}

#[tokio::test]
async fn users_never_see_each_others_mailboxes() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice_names = gateway.mailbox_names(&Auth::alice()).await;
    let bob_names = gateway.mailbox_names(&Auth::bob()).await;
    assert!(bob_names.contains(&"Bob-Only".to_owned()));
    assert!(!alice_names.contains(&"Bob-Only".to_owned()));
    assert!(!bob_names.contains(&"Archive".to_owned()));
    gateway
        .get("/v1/mailboxes/Bob-Only", &Auth::alice())
        .await
        .problem(404);
    let bob_inbox = gateway.get("/v1/mailboxes/INBOX", &Auth::bob()).await;
    assert_eq!(bob_inbox.ok(200)["status"]["messages"], 1);
    // Interleaved requests keep each identity on its own sessions.
    for _ in 0..3 {
        assert_eq!(
            gateway
                .get("/v1/mailboxes/INBOX", &Auth::alice())
                .await
                .ok(200)["status"]["messages"],
            3
        );
        assert_eq!(
            gateway
                .get("/v1/mailboxes/INBOX", &Auth::bob())
                .await
                .ok(200)["status"]["messages"],
            1
        );
    }
    assert_eq!(dovecot.sessions_opened("alice"), 1);
    assert_eq!(dovecot.sessions_opened("bob"), 1);
}

#[tokio::test]
async fn servers_without_extensions_get_the_fallback_paths() {
    let dovecot = common::Dovecot::start(common::Options {
        users: common::standard_users(),
        capabilities: Some("IMAP4rev1 IDLE UIDPLUS".to_owned()),
        special_use: false,
        ..common::Options::default()
    });
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let created = gateway
        .post("/v1/mailboxes", &alice, json!({"name": "Trash"}))
        .await;
    assert_eq!(
        created.ok(201)["role"],
        "trash",
        "role guessed from the name without SPECIAL-USE"
    );
    assert_eq!(
        created.body["subscribed"], true,
        "subscription read with LSUB"
    );
    let list = gateway.get("/v1/mailboxes", &alice).await;
    let list = list.ok(200);
    let inbox = find(list, "INBOX");
    assert_eq!(inbox["status"]["messages"], 3);
    assert_eq!(inbox["status"]["unseen"], 2);
    assert!(
        inbox["status"].get("highest_modseq").is_none(),
        "no CONDSTORE, no modseq"
    );
    assert_eq!(find(list, "Entwürfe")["status"]["messages"], 0);
    assert_eq!(find(list, "Archive")["subscribed"], false);
    let commands = dovecot.commands("alice");
    assert!(
        commands.iter().all(|c| !c.contains("RETURN")),
        "no LIST-EXTENDED syntax: {commands:?}"
    );
    assert!(
        commands.iter().any(|c| c.starts_with("LSUB")),
        "{commands:?}"
    );
    assert!(commands.iter().any(|c| c.starts_with("STATUS")));
}

#[tokio::test]
async fn http_errors_are_problem_json() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let alice = Auth::alice();
    let unknown = gateway.get("/v1/nothing-here", &alice).await;
    unknown.problem(404);
    let wrong_method = gateway
        .send(reqwest::Method::PUT, "/v1/mailboxes", &alice, None)
        .await;
    wrong_method.problem(405);
    let bad_query = gateway.get("/v1/mailboxes?status=maybe", &alice).await;
    bad_query.problem(400);
    let unknown_param = gateway.get("/v1/mailboxes?colour=red", &alice).await;
    unknown_param.problem(400);
    let unknown_field = gateway
        .post(
            "/v1/mailboxes",
            &alice,
            json!({"name": "x", "colour": "red"}),
        )
        .await;
    unknown_field.problem(422);
    let wrong_type = gateway
        .post("/v1/mailboxes", &alice, json!({"name": 42}))
        .await;
    wrong_type.problem(422);
    // Malformed JSON and a missing content type.
    let client = reqwest::Client::new();
    let url = format!("{}/v1/mailboxes", gateway.base);
    let malformed = client
        .post(&url)
        .basic_auth("alice", Some("alice-pw"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.headers()["content-type"],
        "application/problem+json"
    );
    let no_type = client
        .post(&url)
        .basic_auth("alice", Some("alice-pw"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), 415);
    assert_eq!(
        no_type.headers()["content-type"],
        "application/problem+json"
    );
    let huge = client
        .post(&url)
        .basic_auth("alice", Some("alice-pw"))
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{}\"}}", "a".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    // Request ids: echoed when given, generated otherwise.
    let with_id = client
        .get(format!("{}/healthz", gateway.base))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(with_id.headers()["x-request-id"], "trace-123");
    let generated = client
        .get(format!("{}/healthz", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(generated.headers()["x-request-id"].len(), 36);
    assert!(!dovecot.mailbox_exists("alice", "x"));
}

/// Issue 23, observation 8: a folder created by hand with a raw UTF-8 name (not
/// modified UTF-7) is listed by Dovecot with 8-bit bytes. The whole list must not
/// fail for it: every other mailbox is listed with its counters.
#[tokio::test]
async fn a_mailbox_listed_under_a_raw_8bit_name_does_not_break_the_list() {
    let dovecot = Dovecot::start(Options {
        users: vec![User::new("alice", "alice-pw")
            .with_mailbox("Archive", Vec::new())
            .with_mailbox("Caf\u{e9}", Vec::new())],
        ..Options::default()
    });
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let listed = gateway.get("/v1/mailboxes", &Auth::alice()).await;
    let body = listed.ok(200);
    let names = names(body);
    assert!(
        names.contains(&"Archive") && names.contains(&"INBOX"),
        "{names:?}"
    );
    assert!(names.contains(&"Caf\u{e9}"), "{names:?}");
    let archive = find(body, "Archive");
    assert_eq!(archive["status"]["messages"], 0);
}
