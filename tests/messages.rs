//! Message routes against a real Dovecot with a seeded MIME corpus: listing, paging,
//! search, reading, downloads, append, flags, move/copy/delete, scopes, injection.

mod common;

use common::corpus::{attachment_bytes, mime_corpus};
use common::{Auth, Dovecot, Gateway, Options, SeedMessage, User};
use dovecot_harness::raw::RawImap;
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
    // A limit that is not a number is malformed (400); one out of range is 422.
    for (bad, status) in [("limit=0", 422), ("limit=501", 422), ("limit=x", 400)] {
        gateway
            .get(&format!("/v1/mailboxes/INBOX/messages?{bad}"), &mime())
            .await
            .problem(status);
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
    assert_eq!(search("to=mime%40example.org&uid=1:3").await, vec![1, 2, 3]);
    assert_eq!(search("cc=nobody").await, Vec::<u64>::new());
    assert_eq!(search("answered=true").await, Vec::<u64>::new());
    assert_eq!(search("draft=false&uid=1:2").await, vec![1, 2]);
    assert_eq!(search("deleted=true").await, Vec::<u64>::new());
    assert_eq!(search("keyword=%24Nothing").await, Vec::<u64>::new());
    assert_eq!(
        search("keyword=%5CFlagged").await,
        vec![3],
        "a system flag as keyword maps to its key"
    );
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
    // Sanitised by default: the cid: image points at its part of this message.
    assert_eq!(
        related["html"],
        "<img src=\"/v1/mailboxes/INBOX/messages/5/attachments/2\">"
    );
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
async fn html_is_safe_to_render_by_default_and_raw_on_request() {
    let dovecot = start();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let hostile = "<p onmouseover=\"steal()\">Dear user<script>alert(1)</script></p>\
        <img src=x onerror=alert(document.cookie)>\
        <img src=\"https://tracker.example/open.gif?u=42\" width=\"1\">\
        <a href=\"javascript:alert(1)\">click</a> <a href=\"https://example.org/\">site</a>\
        <form action=\"https://phish.example/\"><input name=\"password\"></form>";
    let message = format!(
        "From: a@example.org\r\nSubject: Hostile\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n{hostile}\r\n"
    );
    let stored = gateway
        .send_raw(
            reqwest::Method::POST,
            "/v1/mailboxes/INBOX/messages",
            &mime(),
            "message/rfc822",
            message.into_bytes(),
        )
        .await;
    let uid = stored.ok(201)["uid"].as_u64().unwrap();
    let path = format!("/v1/mailboxes/INBOX/messages/{uid}");
    let safe = gateway.get(&path, &mime()).await;
    let safe = safe.ok(200);
    let html = safe["html"].as_str().unwrap();
    for banned in [
        "script",
        "onmouseover",
        "onerror",
        "javascript:",
        "<form",
        "<input",
        "tracker.example",
    ] {
        assert!(!html.contains(banned), "{banned} survived: {html}");
    }
    assert!(html.contains("Dear user"), "{html}");
    assert!(html.contains("href=\"https://example.org/\""), "{html}");
    assert_eq!(safe["remote_images_blocked"], 1);
    let with_images = gateway
        .get(&format!("{path}?remote_images=true"), &mime())
        .await;
    let with_images = with_images.ok(200);
    assert!(with_images["html"]
        .as_str()
        .unwrap()
        .contains("https://tracker.example/open.gif?u=42"));
    assert!(!with_images["html"].as_str().unwrap().contains("script"));
    assert_eq!(with_images["remote_images_blocked"], 0);
    let raw = gateway.get(&format!("{path}?html=raw"), &mime()).await;
    let raw = raw.ok(200);
    assert_eq!(raw["html"].as_str().unwrap().trim_end(), hostile);
    assert_eq!(raw["remote_images_blocked"], 0);
    gateway
        .get(&format!("{path}?html=unsafe"), &mime())
        .await
        .problem(400);
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
        // A name may also come inside the string, as mail clients write it.
        "to": ["Ada Lovelace <ada@example.org>"],
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
    assert_eq!(message["envelope"]["to"][0]["name"], "Ada Lovelace");
    assert_eq!(message["envelope"]["to"][0]["address"], "ada@example.org");
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
    // Refusals lose nothing. Malformed values are 400, well-formed requests that
    // cannot be stored 422 (README, Errors).
    for (bad, status) in [
        (json!({"from": "not-an-address", "text": "x"}), 400),
        (json!({"from": "a@example.org"}), 422),
        (
            json!({"from": "a@example.org", "subject": "x\r\nBcc: victim@example.org", "text": "x"}),
            400,
        ),
        (
            json!({"from": "a@example.org", "text": "x", "attachments": [{"filename": "a", "content_type": "text/plain", "content_base64": "!!!"}]}),
            400,
        ),
        (
            json!({"from": "a@example.org", "text": "x", "flags": ["\\Recent"]}),
            422,
        ),
        (
            json!({"from": "a@example.org", "text": "x", "internal_date": "yesterday"}),
            400,
        ),
    ] {
        gateway
            .post("/v1/mailboxes/Archive/messages", &mime(), bad)
            .await
            .problem(status);
    }
    let upload = |query: &'static str, body: Vec<u8>| {
        let gateway = &gateway;
        async move {
            let path = format!("/v1/mailboxes/Archive/messages{query}");
            gateway
                .send_raw(
                    reqwest::Method::POST,
                    &path,
                    &mime(),
                    "message/rfc822",
                    body,
                )
                .await
        }
    };
    upload("?flags=two%20words", b"Subject: x\r\n\r\nx".to_vec())
        .await
        .problem(400);
    upload(
        "?flags=%5CSeen%0D%0AA1%20DELETE%20INBOX",
        b"Subject: x\r\n\r\nx".to_vec(),
    )
    .await
    .problem(400);
    upload("?colour=red", b"Subject: x\r\n\r\nx".to_vec())
        .await
        .problem(400);
    upload("", Vec::new()).await.problem(422);
    upload("", b"Subject: x\r\n\r\nNUL\0".to_vec())
        .await
        .problem(422);
    upload("", vec![b'a'; 64 * 1024 * 1024 + 1])
        .await
        .problem(413);
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

#[tokio::test]
async fn flags_read_replace_change_and_detect_conflicts() {
    let dovecot = start();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let path = "/v1/mailboxes/INBOX/messages/2/flags";
    let current = gateway.get(path, &mime()).await;
    assert_eq!(current.ok(200)["flags"], json!([]));
    let etag = current.headers["etag"].to_str().unwrap().to_owned();
    let replaced = gateway
        .put(path, &mime(), json!({"flags": ["\\Seen", "$Work"]}))
        .await;
    assert_eq!(replaced.ok(200)["flags"], json!(["\\Seen", "$Work"]));
    let changed = gateway
        .patch(
            path,
            &mime(),
            json!({"add": ["\\Flagged"], "remove": ["$Work"]}),
        )
        .await;
    assert_eq!(changed.ok(200)["flags"], json!(["\\Seen", "\\Flagged"]));
    let mut raw = RawImap::login(dovecot.imap_port, "mime", "mime-pw").await;
    raw.ok("EXAMINE INBOX").await;
    assert_eq!(raw.flags(2).await, "\\Flagged \\Seen");
    // If-Match with a stale modseq: 412 and the current flags, nothing changed.
    let client = reqwest::Client::new();
    let stale = client
        .put(format!("{}{path}", gateway.base))
        .basic_auth("mime", Some("mime-pw"))
        .header("if-match", &etag)
        .json(&json!({"flags": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(body["current"]["flags"], json!(["\\Seen", "\\Flagged"]));
    assert_eq!(raw.flags(2).await, "\\Flagged \\Seen");
    // With the current ETag it applies.
    let fresh = gateway.get(path, &mime()).await.headers["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let applied = client
        .patch(format!("{}{path}", gateway.base))
        .basic_auth("mime", Some("mime-pw"))
        .header("if-match", &fresh)
        .json(&json!({"remove": ["\\Flagged"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status(), 200);
    assert_eq!(raw.flags(2).await, "\\Seen");
    // Validation and unknown messages.
    for (bad, status) in [
        (json!({"flags": ["\\Recent"]}), 422),
        (json!({"flags": ["two words"]}), 400),
        (json!({"flags": ["x\r\nA1 DELETE INBOX"]}), 400),
    ] {
        gateway.put(path, &mime(), bad).await.problem(status);
    }
    gateway.patch(path, &mime(), json!({})).await.problem(422);
    gateway
        .put(
            "/v1/mailboxes/INBOX/messages/99/flags",
            &mime(),
            json!({"flags": []}),
        )
        .await
        .problem(404);
    // Bulk: by UIDs and by filter.
    let bulk = gateway
        .post(
            "/v1/mailboxes/INBOX/flags",
            &mime(),
            json!({"uids": [3, 4, 99], "add": ["$Bulk"]}),
        )
        .await;
    assert_eq!(
        bulk.ok(200)["uids"],
        json!([3, 4]),
        "only existing messages are reported"
    );
    let by_filter = gateway
        .post(
            "/v1/mailboxes/INBOX/flags",
            &mime(),
            json!({"filter": {"subject": "Latin-1"}, "add": ["\\Seen"]}),
        )
        .await;
    assert_eq!(by_filter.ok(200)["uids"], json!([6]));
    raw.ok("NOOP").await;
    assert_eq!(raw.search("KEYWORD $Bulk").await, vec![3, 4]);
    assert_eq!(raw.search("SEEN").await, vec![1, 2, 6]);
    gateway
        .post(
            "/v1/mailboxes/INBOX/flags",
            &mime(),
            json!({"add": ["\\Seen"]}),
        )
        .await
        .problem(422);
    let too_many: Vec<u32> = (1..=1001).collect();
    gateway
        .post(
            "/v1/mailboxes/INBOX/flags",
            &mime(),
            json!({"uids": too_many, "add": ["\\Seen"]}),
        )
        .await
        .problem(422);
}

#[tokio::test]
async fn move_copy_and_delete_keep_everything_accounted_for() {
    let dovecot = start();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let moved = gateway
        .post(
            "/v1/mailboxes/INBOX/messages/1/move",
            &mime(),
            json!({"to": "Archive"}),
        )
        .await;
    let moved = moved.ok(200);
    assert_eq!(moved["mailbox"], "Archive");
    assert_eq!(moved["new_uid"], 1);
    assert!(moved["uid_validity"].as_u64().is_some());
    assert_eq!(dovecot.message_count("mime", "INBOX"), 12);
    assert_eq!(dovecot.message_count("mime", "Archive"), 1);
    let copied = gateway
        .post(
            "/v1/mailboxes/INBOX/messages/2/copy",
            &mime(),
            json!({"to": "Archive"}),
        )
        .await;
    assert_eq!(copied.ok(200)["new_uid"], 2);
    assert_eq!(dovecot.message_count("mime", "INBOX"), 12);
    gateway
        .post(
            "/v1/mailboxes/INBOX/messages/2/move",
            &mime(),
            json!({"to": "Nope"}),
        )
        .await
        .problem(404);
    gateway
        .post(
            "/v1/mailboxes/INBOX/messages/2/move",
            &mime(),
            json!({"to": "INBOX"}),
        )
        .await
        .problem(422);
    gateway
        .post(
            "/v1/mailboxes/INBOX/messages/1/move",
            &mime(),
            json!({"to": "Archive"}),
        )
        .await
        .problem(404);
    gateway
        .post(
            "/v1/mailboxes/INBOX/messages/2/move",
            &mime(),
            json!({"to": "x\r\nA1 DELETE INBOX"}),
        )
        .await
        .problem(400);
    // Delete moves to Trash; from Trash it must be explicit.
    let trashed = gateway
        .delete("/v1/mailboxes/INBOX/messages/2", &mime())
        .await;
    assert_eq!(trashed.ok(200)["mailbox"], "Trash");
    assert_eq!(dovecot.message_count("mime", "Trash"), 1);
    let again = gateway
        .delete("/v1/mailboxes/Trash/messages/1", &mime())
        .await;
    assert_eq!(
        again.problem(409)["type"],
        "urn:imap-gateway:problem:already-in-trash"
    );
    assert_eq!(
        gateway
            .delete("/v1/mailboxes/Trash/messages/1?permanent=true", &mime())
            .await
            .status,
        204
    );
    assert_eq!(dovecot.message_count("mime", "Trash"), 0);
    // Bulk operations.
    let bulk_copy = gateway
        .post(
            "/v1/mailboxes/INBOX/copy",
            &mime(),
            json!({"uids": [3, 4], "to": "Archive"}),
        )
        .await;
    assert_eq!(bulk_copy.ok(200)["count"], 2);
    let bulk_move = gateway
        .post(
            "/v1/mailboxes/INBOX/move",
            &mime(),
            json!({"filter": {"subject": "Shift_JIS"}, "to": "Archive"}),
        )
        .await;
    assert_eq!(bulk_move.ok(200)["items"][0]["uid"], 9);
    let bulk_delete = gateway
        .post(
            "/v1/mailboxes/INBOX/delete",
            &mime(),
            json!({"uids": [5, 6]}),
        )
        .await;
    assert_eq!(bulk_delete.ok(200)["count"], 2);
    assert_eq!(dovecot.message_count("mime", "Trash"), 2);
    let permanent = gateway
        .post(
            "/v1/mailboxes/Archive/delete",
            &mime(),
            json!({"uids": [1], "permanent": true}),
        )
        .await;
    assert_eq!(permanent.ok(200)["count"], 1);
    assert_eq!(dovecot.message_count("mime", "INBOX"), 8);
    assert_eq!(dovecot.message_count("mime", "Archive"), 4);
    let commands = dovecot.commands("mime");
    assert!(
        !commands.iter().any(|c| c == "EXPUNGE" || c == "CLOSE"),
        "{commands:?}"
    );
}

#[tokio::test]
async fn permanent_delete_never_expunges_another_clients_deleted_message() {
    let dovecot = start();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    // Another client marks A (UID 7) \Deleted and does not expunge.
    let mut other = RawImap::login(dovecot.imap_port, "mime", "mime-pw").await;
    other.ok("SELECT INBOX").await;
    other.ok("UID STORE 7 +FLAGS (\\Deleted)").await;
    // The gateway permanently deletes B (UID 8).
    assert_eq!(
        gateway
            .delete("/v1/mailboxes/INBOX/messages/8?permanent=true", &mime())
            .await
            .status,
        204
    );
    other.ok("NOOP").await;
    let remaining = other.search("ALL").await;
    assert!(remaining.contains(&7), "A is still there: {remaining:?}");
    assert!(!remaining.contains(&8), "B is gone");
    assert_eq!(other.search("DELETED").await, vec![7]);
    assert_eq!(dovecot.message_count("mime", "INBOX"), 12);
}

#[tokio::test]
async fn scopes_guard_every_message_route() {
    let dovecot = start();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let read = Auth::Bearer(gateway.token("mime", "mime-pw", Some("read")).await);
    let write = Auth::Bearer(gateway.token("mime", "mime-pw", Some("read write")).await);
    assert_eq!(
        gateway
            .get("/v1/mailboxes/INBOX/messages", &read)
            .await
            .status,
        200
    );
    assert_eq!(
        gateway
            .get("/v1/mailboxes/INBOX/messages/1", &read)
            .await
            .status,
        200
    );
    gateway
        .get("/v1/mailboxes/INBOX/messages/2?mark_seen=true", &read)
        .await
        .problem(403);
    gateway
        .put(
            "/v1/mailboxes/INBOX/messages/1/flags",
            &read,
            json!({"flags": []}),
        )
        .await
        .problem(403);
    gateway
        .patch(
            "/v1/mailboxes/INBOX/messages/1/flags",
            &read,
            json!({"add": ["\\Seen"]}),
        )
        .await
        .problem(403);
    gateway
        .post(
            "/v1/mailboxes/INBOX/flags",
            &read,
            json!({"uids": [1], "add": ["\\Seen"]}),
        )
        .await
        .problem(403);
    gateway
        .post(
            "/v1/mailboxes/INBOX/messages/1/move",
            &read,
            json!({"to": "Archive"}),
        )
        .await
        .problem(403);
    gateway
        .post(
            "/v1/mailboxes/INBOX/messages/1/copy",
            &read,
            json!({"to": "Archive"}),
        )
        .await
        .problem(403);
    gateway
        .post(
            "/v1/mailboxes/INBOX/move",
            &read,
            json!({"uids": [1], "to": "Archive"}),
        )
        .await
        .problem(403);
    gateway
        .delete("/v1/mailboxes/INBOX/messages/1", &read)
        .await
        .problem(403);
    gateway
        .send_raw(
            reqwest::Method::POST,
            "/v1/mailboxes/INBOX/messages",
            &read,
            "message/rfc822",
            b"Subject: x\r\n\r\nx".to_vec(),
        )
        .await
        .problem(403);
    gateway
        .delete("/v1/mailboxes/INBOX/messages/1?permanent=true", &write)
        .await
        .problem(403);
    gateway
        .post(
            "/v1/mailboxes/INBOX/delete",
            &write,
            json!({"uids": [1], "permanent": true}),
        )
        .await
        .problem(403);
    assert_eq!(dovecot.message_count("mime", "INBOX"), 13);
    assert_eq!(dovecot.message_count("mime", "Archive"), 0);
    let mut raw = RawImap::login(dovecot.imap_port, "mime", "mime-pw").await;
    raw.ok("EXAMINE INBOX").await;
    assert_eq!(raw.search("SEEN").await, vec![1], "no flag changed");
}

#[tokio::test]
async fn servers_without_move_literal_plus_or_condstore_use_the_fallbacks() {
    let dovecot = Dovecot::start(Options {
        users: vec![corpus_user()],
        capabilities: Some("IMAP4rev1 IDLE UIDPLUS".to_owned()),
        ..Options::default()
    });
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let list = gateway
        .get("/v1/mailboxes/INBOX/messages?limit=3", &mime())
        .await;
    assert!(list.ok(200)["items"][0].get("modseq").is_none());
    // Non-ASCII search with a synchronizing literal (no LITERAL+).
    let found = gateway
        .get(
            "/v1/mailboxes/INBOX/messages?subject=Gr%C3%BC%C3%9Fe",
            &mime(),
        )
        .await;
    assert_eq!(uids(found.ok(200)), vec![13]);
    // MOVE falls back to COPY + \Deleted + UID EXPUNGE of exactly that UID.
    let mut other = RawImap::login(dovecot.imap_port, "mime", "mime-pw").await;
    other.ok("SELECT INBOX").await;
    other.ok("UID STORE 5 +FLAGS (\\Deleted)").await;
    let moved = gateway
        .post(
            "/v1/mailboxes/INBOX/messages/4/move",
            &mime(),
            json!({"to": "Archive"}),
        )
        .await;
    assert_eq!(moved.ok(200)["new_uid"], 1);
    other.ok("NOOP").await;
    let remaining = other.search("ALL").await;
    assert!(
        remaining.contains(&5) && !remaining.contains(&4),
        "{remaining:?}"
    );
    let commands = dovecot.commands("mime");
    assert!(
        commands.iter().any(|c| c.starts_with("UID COPY"))
            && commands.iter().any(|c| c.starts_with("UID EXPUNGE 4"))
    );
    assert!(!commands.iter().any(|c| c.starts_with("UID MOVE")));
    // If-Match needs CONDSTORE.
    let client = reqwest::Client::new();
    let conditional = client
        .put(format!(
            "{}/v1/mailboxes/INBOX/messages/1/flags",
            gateway.base
        ))
        .basic_auth("mime", Some("mime-pw"))
        .header("if-match", "\"1\"")
        .json(&json!({"flags": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(conditional.status(), 422);
}
