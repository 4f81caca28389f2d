//! Message routes against a real Dovecot with a seeded MIME corpus: listing, paging,
//! search, reading, downloads, append, flags, move/copy/delete, scopes, injection.

mod common;

use common::corpus::{attachment_bytes, mime_corpus};
use common::raw_imap::RawImap;
use common::{Auth, Dovecot, Gateway, Options, SeedMessage, User};
use serde_json::{json, Value};

fn corpus_user() -> User {
    let messages = mime_corpus()
        .into_iter()
        .enumerate()
        .map(|(i, (_, raw))| SeedMessage {
            raw,
            flags: if i == 0 {
                "S".into()
            } else if i == 2 {
                "F".into()
            } else {
                String::new()
            },
            internal_date: 1_795_000_000 + i as u64 * 86_400,
        })
        .collect();
    User::new("mime", "mime-pw")
        .with_mailbox("INBOX", messages)
        .with_mailbox("Archive", Vec::new())
}

fn start() -> Dovecot {
    Dovecot::start(Options {
        users: vec![corpus_user()],
        ..Options::default()
    })
}

fn mime() -> Auth {
    Auth::Basic("mime", "mime-pw")
}

fn uids(list: &Value) -> Vec<u64> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["uid"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn lists_newest_first_with_decoded_summaries() {
    let dovecot = start();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let reply = gateway.get("/v1/mailboxes/INBOX/messages", &mime()).await;
    let list = reply.ok(200);
    assert_eq!(list["total"], 13);
    assert_eq!(uids(list), (1..=13).rev().collect::<Vec<u64>>());
    assert!(list["next_cursor"].is_null());
    let newest = &list["items"][0];
    assert_eq!(newest["envelope"]["subject"], "Grüße aus Berlin");
    assert_eq!(newest["envelope"]["from"][0]["name"], "Jürgen Müller");
    assert_eq!(
        newest["envelope"]["from"][0]["address"],
        "juergen@example.de"
    );
    assert_eq!(newest["envelope"]["to"][0]["address"], "mime@example.org");
    assert_eq!(newest["internal_date"], "2026-11-30T11:06:40+00:00");
    assert!(newest["size"].as_u64().unwrap() > 100);
    assert!(newest["modseq"].as_u64().unwrap() > 0);
    assert_eq!(newest["uid_validity"], list["uid_validity"]);
    let by_uid = |uid: u64| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["uid"] == uid)
            .unwrap()
            .clone()
    };
    assert_eq!(by_uid(1)["flags"], json!(["\\Seen"]));
    assert_eq!(by_uid(3)["flags"], json!(["\\Flagged"]));
    assert_eq!(by_uid(3)["has_attachments"], true);
    assert_eq!(by_uid(1)["has_attachments"], false);
    assert_eq!(
        by_uid(2)["has_attachments"],
        false,
        "alternative text/html is not an attachment"
    );
    assert_eq!(
        by_uid(5)["has_attachments"],
        false,
        "an inline image is not an attachment"
    );
}

#[tokio::test]
async fn pages_are_anchored_on_uids_and_survive_new_mail() {
    let dovecot = start();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let first = gateway
        .get("/v1/mailboxes/INBOX/messages?limit=5", &mime())
        .await;
    let first = first.ok(200).clone();
    assert_eq!(uids(&first), vec![13, 12, 11, 10, 9]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    // New mail arrives between the two page requests.
    let mut other = RawImap::login(dovecot.imap_port, "mime", "mime-pw").await;
    let new_uid = other.append("INBOX", "Arrived meanwhile").await;
    assert_eq!(new_uid, 14);
    let second = gateway
        .get(
            &format!("/v1/mailboxes/INBOX/messages?limit=5&cursor={cursor}"),
            &mime(),
        )
        .await;
    assert_eq!(
        uids(second.ok(200)),
        vec![8, 7, 6, 5, 4],
        "no shift, no duplicate"
    );
    let cursor = second.body["next_cursor"].as_str().unwrap().to_owned();
    let third = gateway
        .get(
            &format!("/v1/mailboxes/INBOX/messages?limit=5&cursor={cursor}"),
            &mime(),
        )
        .await;
    assert_eq!(uids(third.ok(200)), vec![3, 2, 1]);
    assert!(third.body["next_cursor"].is_null());
    // A fresh first page sees the new message.
    let fresh = gateway
        .get("/v1/mailboxes/INBOX/messages?limit=2", &mime())
        .await;
    assert_eq!(uids(fresh.ok(200)), vec![14, 13]);
    assert_eq!(fresh.body["total"], 14);
    // Cursors are bound to their listing and cannot be forged.
    gateway
        .get(
            "/v1/mailboxes/INBOX/messages?cursor=bm90LWEtY3Vyc29y",
            &mime(),
        )
        .await
        .problem(400);
    let filtered = gateway
        .get(
            &format!("/v1/mailboxes/INBOX/messages?unseen=true&cursor={cursor}"),
            &mime(),
        )
        .await;
    filtered.problem(400);
    gateway
        .get(
            &format!("/v1/mailboxes/Archive/messages?cursor={cursor}"),
            &mime(),
        )
        .await
        .problem(400);
    for bad in ["limit=0", "limit=501", "limit=x"] {
        let reply = gateway
            .get(&format!("/v1/mailboxes/INBOX/messages?{bad}"), &mime())
            .await;
        assert!(
            reply.status == 400 || reply.status == 422,
            "{bad}: {}",
            reply.status
        );
    }
}

#[tokio::test]
async fn a_cursor_from_before_a_uidvalidity_change_answers_409() {
    let dovecot = start();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let mut raw = RawImap::login(dovecot.imap_port, "mime", "mime-pw").await;
    for i in 0..3 {
        raw.append("Archive", &format!("a{i}")).await;
    }
    let page = gateway
        .get("/v1/mailboxes/Archive/messages?limit=1", &mime())
        .await;
    assert_eq!(uids(page.ok(200)), vec![3]);
    let cursor = page.ok(200)["next_cursor"].as_str().unwrap().to_owned();
    // Recreate the mailbox: same name, new UIDVALIDITY.
    raw.ok("DELETE Archive").await;
    raw.ok("CREATE Archive").await;
    raw.append("Archive", "again").await;
    let stale = gateway
        .get(
            &format!("/v1/mailboxes/Archive/messages?limit=1&cursor={cursor}"),
            &mime(),
        )
        .await;

    assert_eq!(
        stale.problem(409)["type"],
        "urn:imap-gateway:problem:cursor-expired"
    );
}

#[tokio::test]
async fn filters_search_with_literal_text_never_syntax() {
    let dovecot = start();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let search = |query: &'static str| {
        let gateway = &gateway;
        async move {
            let reply = gateway
                .get(&format!("/v1/mailboxes/INBOX/messages?{query}"), &mime())
                .await;
            let mut found = uids(reply.ok(200));
            found.sort_unstable();
            found
        }
    };
    assert_eq!(search("seen=true").await, vec![1]);
    assert_eq!(search("unseen=false").await, vec![1]);
    assert_eq!(search("flagged=true").await, vec![3]);
    assert_eq!(search("flagged=true&seen=true").await, Vec::<u64>::new());
    assert_eq!(search("subject=Invoice").await, vec![3]);
    assert_eq!(search("from=billing%40example.com").await, vec![3]);
    assert_eq!(
        search("subject=Gr%C3%BC%C3%9Fe").await,
        vec![13],
        "UTF-8 text goes as a CHARSET UTF-8 literal"
    );
    assert_eq!(search("body=Inner%20body").await, vec![4]);
    assert_eq!(search("text=Still%20readable").await, vec![12]);
    assert_eq!(search("uid=2:4").await, vec![2, 3, 4]);
    assert_eq!(search("uid=2:4&subject=Alternative").await, vec![2]);
    assert_eq!(search("since=2026-11-29").await, vec![12, 13]);
    assert_eq!(search("before=2026-11-20").await, vec![1, 2]);
    assert!(search("larger=3000").await.contains(&3));
    assert!(!search("smaller=3000").await.contains(&3));
    let total = gateway
        .get(
            "/v1/mailboxes/INBOX/messages?subject=Gr%C3%BC%C3%9Fe",
            &mime(),
        )
        .await;
    assert_eq!(total.ok(200)["total"], 1);
    // Quotes, backslashes and literal syntax are searched for, not interpreted.
    for tricky in ["%22", "%5C", "%7B5%7D", "x%22%20OR%20ALL%20%22"] {
        assert_eq!(
            search(Box::leak(format!("subject={tricky}").into_boxed_str())).await,
            Vec::<u64>::new(),
            "{tricky}"
        );
    }
    // CR/LF, NUL, bad dates, bad keywords and bad UID sets never reach IMAP.
    for bad in [
        "subject=x%0D%0AA1%20DELETE%20INBOX",
        "from=a%00b",
        "since=2026-13-01",
        "keyword=a%20b",
        "keyword=%5CRecent",
        "uid=1%202",
        "uid=0",
        "flagged=maybe",
    ] {
        let reply = gateway
            .get(&format!("/v1/mailboxes/INBOX/messages?{bad}"), &mime())
            .await;
        reply.problem(400);
    }
    assert_eq!(dovecot.message_count("mime", "INBOX"), 13);
    let commands = dovecot.commands("mime");
    assert!(
        !commands.iter().any(|c| c.starts_with("DELETE")),
        "{commands:?}"
    );
}

#[tokio::test]
async fn reads_the_corpus_decoded_without_setting_seen() {
    let dovecot = start();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let read = |uid: u32| {
        let gateway = &gateway;
        async move {
            let reply = gateway
                .get(&format!("/v1/mailboxes/INBOX/messages/{uid}"), &mime())
                .await;
            reply.ok(200).clone()
        }
    };
    let plain = read(1).await;
    assert_eq!(plain["text"], "Hello world\r\n");
    assert!(plain["html"].is_null());
    assert!(plain["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["name"] == "Subject" && h["value"] == "Plain hello"));
    let alternative = read(2).await;
    // The CRLF before a boundary belongs to the boundary (RFC 2046 section 5.1.1).
    assert_eq!(alternative["text"], "Plain part");
    assert_eq!(alternative["html"], "<p>HTML part</p>");
    assert_eq!(alternative["attachments"], json!([]));
    let mixed = read(3).await;
    assert_eq!(mixed["text"], "See attachment.");
    let attachment = &mixed["attachments"][0];
    assert_eq!(attachment["part"], "2");
    assert_eq!(attachment["filename"], "€ rates.pdf", "RFC 2231 file name");
    assert_eq!(attachment["content_type"], "application/pdf");
    assert_eq!(attachment["disposition"], "attachment");
    let nested = read(4).await;
    assert_eq!(nested["text"], "Forwarded below.");
    assert_eq!(nested["attachments"][0]["content_type"], "message/rfc822");
    assert_eq!(nested["attachments"][0]["part"], "2");
    let related = read(5).await;
    assert_eq!(related["html"], "<img src=\"cid:logo@example\">");
    assert_eq!(related["attachments"][0]["content_id"], "logo@example");
    assert_eq!(related["attachments"][0]["disposition"], "inline");
    assert_eq!(related["attachments"][0]["filename"], "logo.png");
    for (uid, want) in [
        (6, "Grüße aus Köln"),
        (7, "“Smart quotes” – 5 €"),
        (8, "Привет, мир"),
        (9, "こんにちは世界"),
        (10, "你好世界"),
    ] {
        assert_eq!(
            read(uid).await["text"].as_str().unwrap().trim_end(),
            want,
            "uid {uid}"
        );
    }
    assert_eq!(
        read(11).await["attachments"][0]["filename"],
        "Отчет.pdf",
        "RFC 2047 file name"
    );
    let broken = read(12).await;
    assert_eq!(
        broken["text"].as_str().unwrap().trim_end(),
        "Still readable."
    );
    assert_eq!(broken["attachments"][0]["filename"], "bad.bin");
    assert_eq!(
        read(13).await["text"].as_str().unwrap().trim_end(),
        "Grüße!"
    );
    // Nothing was marked \Seen on the server.
    let mut raw = RawImap::login(dovecot.imap_port, "mime", "mime-pw").await;
    raw.ok("EXAMINE INBOX").await;
    assert_eq!(raw.search("SEEN").await, vec![1]);
    // Unless asked to.
    let seen = gateway
        .get("/v1/mailboxes/INBOX/messages/6?mark_seen=true", &mime())
        .await;
    assert!(seen.ok(200)["flags"]
        .as_array()
        .unwrap()
        .contains(&json!("\\Seen")));
    raw.ok("NOOP").await;
    assert_eq!(raw.search("SEEN").await, vec![1, 6]);
    gateway
        .get("/v1/mailboxes/INBOX/messages/99", &mime())
        .await
        .problem(404);
    gateway
        .get("/v1/mailboxes/INBOX/messages/0", &mime())
        .await
        .problem(400);
    gateway
        .get("/v1/mailboxes/INBOX/messages/abc", &mime())
        .await
        .problem(400);
    gateway
        .get("/v1/mailboxes/Nope/messages/1", &mime())
        .await
        .problem(404);
}

#[tokio::test]
async fn raw_and_attachment_downloads_are_byte_exact() {
    let dovecot = start();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let corpus = mime_corpus();
    for uid in [1usize, 3, 9, 12] {
        let (status, headers, bytes) = gateway
            .get_bytes(
                &format!("/v1/mailboxes/INBOX/messages/{uid}/raw"),
                &mime(),
                &[],
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "message/rfc822");
        assert_eq!(bytes, corpus[uid - 1].1, "raw message {uid}");
    }
    let (status, headers, bytes) = gateway
        .get_bytes(
            "/v1/mailboxes/INBOX/messages/3/raw",
            &mime(),
            &[("range", "bytes=10-19")],
        )
        .await;
    assert_eq!(status, 206);
    assert_eq!(bytes, corpus[2].1[10..20]);
    assert_eq!(
        headers["content-range"],
        format!("bytes 10-19/{}", corpus[2].1.len())
    );
    let (status, _, _) = gateway
        .get_bytes(
            "/v1/mailboxes/INBOX/messages/3/raw",
            &mime(),
            &[("range", "bytes=999999-")],
        )
        .await;
    assert_eq!(status, 416);
    let (status, headers, bytes) = gateway
        .get_bytes("/v1/mailboxes/INBOX/messages/3/attachments/2", &mime(), &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(bytes, attachment_bytes(3000), "decoded from base64");
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"_ rates.pdf\"; filename*=UTF-8''%E2%82%AC%20rates%2Epdf"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let (_, _, text) = gateway
        .get_bytes("/v1/mailboxes/INBOX/messages/6/attachments/1", &mime(), &[])
        .await;
    assert_eq!(
        text, b"Gr\xfc\xdfe aus K\xf6ln\r\n",
        "quoted-printable decoded to the original bytes"
    );
    let (_, _, bad) = gateway
        .get_bytes(
            "/v1/mailboxes/INBOX/messages/12/attachments/2",
            &mime(),
            &[],
        )
        .await;
    assert_eq!(bad, b"hello", "bad base64 is decoded leniently");
    let (status, _, _) = gateway
        .get_bytes("/v1/mailboxes/INBOX/messages/3/attachments/9", &mime(), &[])
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = gateway
        .get_bytes(
            "/v1/mailboxes/INBOX/messages/3/attachments/1..2",
            &mime(),
            &[],
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn append_raw_and_composed_messages() {
    let dovecot = start();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let raw = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: Uploaded\r\n\r\nRaw body \xc3\xa4\r\n".to_vec();
    let reply = gateway
        .send_raw(reqwest::Method::POST, "/v1/mailboxes/Archive/messages?flags=%5CSeen,%24Work&internal_date=2026-01-02T03:04:05Z", &mime(), "message/rfc822", raw.clone())
        .await;
    let created = reply.ok(201);
    assert_eq!(created["uid"], 1);
    assert_eq!(
        reply.headers["location"],
        "/v1/mailboxes/Archive/messages/1"
    );
    let (_, _, stored) = gateway
        .get_bytes("/v1/mailboxes/Archive/messages/1/raw", &mime(), &[])
        .await;
    assert_eq!(stored, raw);
    let summary = gateway.get("/v1/mailboxes/Archive/messages", &mime()).await;
    let item = &summary.ok(200)["items"][0];
    assert_eq!(item["internal_date"], "2026-01-02T03:04:05+00:00");
    assert_eq!(item["flags"], json!(["\\Seen", "$Work"]));

    let compose = json!({
        "from": {"name": "Jürgen", "address": "juergen@example.de"},
        "to": ["ada@example.org"],
        "subject": "Grüße mit Anhang",
        "text": "Hallo!",
        "html": "<p>Hallo!</p>",
        "attachments": [{"filename": "notes €.txt", "content_type": "text/plain", "content_base64": "bm90ZXM="}],
        "flags": ["\\Draft"]
    });
    let composed = gateway
        .post("/v1/mailboxes/Archive/messages", &mime(), compose)
        .await;
    let uid = composed.ok(201)["uid"].as_u64().unwrap();
    let read = gateway
        .get(&format!("/v1/mailboxes/Archive/messages/{uid}"), &mime())
        .await;
    let message = read.ok(200);
    assert_eq!(message["envelope"]["subject"], "Grüße mit Anhang");
    assert_eq!(message["envelope"]["from"][0]["name"], "Jürgen");
    assert_eq!(message["text"].as_str().unwrap().trim_end(), "Hallo!");
    assert_eq!(message["attachments"][0]["filename"], "notes €.txt");
    assert_eq!(message["flags"], json!(["\\Draft"]));
    let part = message["attachments"][0]["part"].as_str().unwrap();
    let (_, _, bytes) = gateway
        .get_bytes(
            &format!("/v1/mailboxes/Archive/messages/{uid}/attachments/{part}"),
            &mime(),
            &[],
        )
        .await;
    assert_eq!(bytes, b"notes");
    assert_eq!(dovecot.message_count("mime", "Archive"), 2);
    // Refusals lose nothing.
    for bad in [
        json!({"from": "not-an-address", "text": "x"}),
        json!({"from": "a@example.org"}),
        json!({"from": "a@example.org", "subject": "x\r\nBcc: victim@example.org", "text": "x"}),
        json!({"from": "a@example.org", "text": "x", "attachments": [{"filename": "a", "content_type": "text/plain", "content_base64": "!!!"}]}),
        json!({"from": "a@example.org", "text": "x", "flags": ["\\Recent"]}),
        json!({"from": "a@example.org", "text": "x", "internal_date": "yesterday"}),
    ] {
        gateway
            .post("/v1/mailboxes/Archive/messages", &mime(), bad)
            .await
            .problem(422);
    }
    let wrong_type = gateway
        .send_raw(
            reqwest::Method::POST,
            "/v1/mailboxes/Archive/messages",
            &mime(),
            "text/plain",
            b"x".to_vec(),
        )
        .await;
    wrong_type.problem(415);
    let missing = gateway
        .send_raw(
            reqwest::Method::POST,
            "/v1/mailboxes/Nope/messages",
            &mime(),
            "message/rfc822",
            raw,
        )
        .await;
    missing.problem(404);
    assert_eq!(dovecot.message_count("mime", "Archive"), 2);
}
