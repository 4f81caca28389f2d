//! `POST /v1/send` against Dovecot's own submission service (`dovecot-submissiond`,
//! same users and passwords as IMAP), which relays to an SMTP sink the harness runs
//! (it keeps what it receives and refuses the recipients a test names).

mod common;

use common::{standard_users, Auth, Gateway};
use dovecot_harness::raw::RawImap;
use dovecot_harness::sink::SmtpSink;
use dovecot_harness::{Dovecot, Options};
use serde_json::json;

/// Bind every field a test needs alive by name: `let Setup { sink, .. } = ...` would
/// drop the unnamed fields (stopping Dovecot) at the end of that statement.
struct Setup {
    sink: SmtpSink,
    dovecot: Dovecot,
    gateway: Gateway,
}

async fn setup() -> Setup {
    let sink = SmtpSink::start();
    let dovecot = Dovecot::start(Options {
        users: standard_users(),
        submission_relay: Some(sink.port),
        ..Options::default()
    });
    let mut config = common::config_for(&dovecot);
    config.smtp_url = Some(dovecot.submission_plain_url().parse().unwrap());
    let gateway = Gateway::start(config).await;
    Setup {
        sink,
        dovecot,
        gateway,
    }
}

/// The UID and the FETCH answer (flags and whole message) of alice's newest Sent message.
async fn newest_in_sent(dovecot: &Dovecot) -> (u32, String) {
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    raw.ok("EXAMINE Sent").await;
    let answer = raw.ok("FETCH * (UID FLAGS BODY.PEEK[])").await.join("\n");
    let uid: u32 = answer
        .split("UID ")
        .nth(1)
        .and_then(|r| r.split([' ', ')']).next())
        .and_then(|n| n.parse().ok())
        .expect("a message in Sent");
    (uid, answer)
}

#[tokio::test]
async fn a_sent_message_reaches_every_recipient_and_sent_keeps_the_bcc() {
    let Setup {
        sink,
        dovecot,
        gateway,
    } = setup().await;
    let reply = gateway
        .post(
            "/v1/send",
            &Auth::alice(),
            json!({
                "from": "Alice <alice@example.org>",
                "to": ["Bob <bob@example.org>"],
                "cc": ["carol@example.org"],
                "bcc": ["dave@example.org"],
                "subject": "Lunch on Friday?",
                "text": "Shall we?\n.\nA line with a lone dot above.",
                "reply_to": ["lunch@example.org"],
                "headers": [{"name": "X-Ticket", "value": "T-42"}, {"name": "Importance", "value": "high"}],
            }),
        )
        .await;
    let body = reply.ok(200);
    let message_id = body["message_id"].as_str().unwrap().to_owned();
    assert!(message_id.ends_with("@example.org"), "{message_id}");
    assert_eq!(
        body["accepted"],
        json!(["bob@example.org", "carol@example.org", "dave@example.org"])
    );
    assert_eq!(body["refused"], json!([]));
    assert_eq!(body["warnings"], json!([]));
    assert!(body["smtp_reply"].as_str().unwrap().starts_with("250"));

    // What the relay received: every recipient in the envelope, no Bcc header.
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let relayed = &received[0];
    assert_eq!(relayed.mail_from, "alice@example.org");
    assert_eq!(
        relayed.recipients,
        ["bob@example.org", "carol@example.org", "dave@example.org"]
    );
    let text = relayed.text();
    assert!(text.contains("Subject: Lunch on Friday?"), "{text}");
    assert!(text.contains("Reply-To: <lunch@example.org>\r\n"), "{text}");
    assert!(text.contains("X-Ticket: T-42\r\n"), "{text}");
    assert!(text.contains("Importance: high\r\n"), "{text}");
    assert!(
        text.contains(&format!("Message-ID: <{message_id}>")),
        "{text}"
    );
    assert!(!text.to_ascii_lowercase().contains("bcc:"), "{text}");
    assert!(!text.contains("dave@example.org"), "{text}");
    assert!(
        text.contains("\r\n.\r\n") || text.contains("\n.\n"),
        "lone dot kept: {text}"
    );

    // The Sent copy: \Seen, the same message plus its Bcc header.
    let copy = &body["sent_copy"];
    assert_eq!(copy["mailbox"], "Sent");
    let (uid, fetched) = newest_in_sent(&dovecot).await;
    assert_eq!(copy["uid"], uid);
    assert!(fetched.contains("\\Seen"), "{fetched}");
    let (status, _, stored) = gateway
        .get_bytes(
            &format!("/v1/mailboxes/Sent/messages/{uid}/raw"),
            &Auth::alice(),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let stored = String::from_utf8(stored).unwrap();
    let bcc: Vec<&str> = stored.lines().filter(|l| l.starts_with("Bcc:")).collect();
    assert_eq!(bcc, ["Bcc: <dave@example.org>"], "{stored}");
    // Byte for byte what was transmitted, plus the Bcc line and, on top, the
    // outcome (the relay's copy also has the Received line Dovecot added). Issue 23,
    // observation 8: the copy was 2 bytes shorter than what the server received
    // (DATA was ended with a CRLF too many).
    let reply_line = format!(
        "X-Imap-Gateway-Reply: {}\r\n",
        body["smtp_reply"].as_str().unwrap()
    );
    let stored = stored
        .strip_prefix(&reply_line)
        .expect("the outcome on top");
    let without_bcc = stored.replace("Bcc: <dave@example.org>\r\n", "");
    let (_, transmitted) = text.split_once("\r\nFrom: ").expect("a From line");
    assert_eq!(format!("From: {transmitted}"), without_bcc);
}

#[tokio::test]
async fn refused_recipients_are_reported_one_by_one() {
    let Setup {
        sink,
        gateway,
        dovecot: _dovecot,
    } = setup().await;
    sink.refuse("nobody@example.org", "550 5.1.1 No such user here");
    let partly = gateway
        .post(
            "/v1/send",
            &Auth::alice(),
            json!({
                "from": "alice@example.org",
                "to": ["bob@example.org", "nobody@example.org"],
                "subject": "Partly",
                "text": "hi",
                "flags": ["$Sent"]
            }),
        )
        .await;
    let body = partly.ok(200);
    assert_eq!(body["accepted"], json!(["bob@example.org"]));
    assert_eq!(body["refused"][0]["address"], "nobody@example.org");
    assert_eq!(body["refused"][0]["smtp_code"], 550);
    assert_eq!(body["refused"][0]["enhanced_code"], "5.1.1");
    assert_eq!(sink.received()[0].recipients, ["bob@example.org"]);

    // Refusals of the whole message: every recipient (5xx), the sender (5xx), a
    // temporary one (4xx, with Retry-After). Nothing is sent.
    sink.refuse_sender("ceo@example.org", "553 5.7.1 Sender address not allowed");
    sink.refuse("full@example.org", "452 4.2.2 Mailbox full");
    for (from, to, status, problem, code, enhanced) in [
        (
            "alice@example.org",
            "nobody@example.org",
            422,
            "smtp-refused",
            550,
            "5.1.1",
        ),
        (
            "ceo@example.org",
            "bob@example.org",
            422,
            "smtp-refused",
            553,
            "5.7.1",
        ),
        (
            "alice@example.org",
            "full@example.org",
            503,
            "smtp-deferred",
            452,
            "4.2.2",
        ),
    ] {
        let reply = gateway
            .post(
                "/v1/send",
                &Auth::alice(),
                json!({"from": from, "to": [to], "text": "x"}),
            )
            .await;
        assert_eq!(reply.status, status, "{to}: {}", reply.text);
        assert_eq!(
            reply.body["type"],
            format!("urn:imap-gateway:problem:{problem}")
        );
        assert_eq!(reply.body["smtp_code"], code, "{}", reply.text);
        assert_eq!(reply.body["smtp_enhanced_code"], enhanced);
        if status == 503 {
            assert_eq!(reply.headers["retry-after"], "60");
        }
    }
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn injection_attempts_never_reach_the_wire() {
    let Setup {
        sink,
        gateway,
        dovecot: _dovecot,
    } = setup().await;
    for (body, field) in [
        (
            json!({"from": "alice@example.org", "to": ["bob@example.org\r\nRCPT TO:<eve@example.org>"], "text": "x"}),
            "to",
        ),
        (
            json!({"from": "alice@example.org", "to": ["bob@example.org"], "subject": "Hi\r\nBcc: eve@example.org", "text": "x"}),
            "subject",
        ),
        (
            json!({"from": {"name": "Alice\r\nX-Evil: 1", "address": "alice@example.org"}, "to": ["bob@example.org"], "text": "x"}),
            "from",
        ),
        (
            json!({"from": "alice@example.org> SIZE=1", "to": ["bob@example.org"], "text": "x"}),
            "from",
        ),
        (
            json!({"from": "alice@example.org", "to": ["bob@example.org"], "text": "x", "headers": [{"name": "Bcc", "value": "eve@example.org"}]}),
            "headers.name",
        ),
        (
            json!({"from": "alice@example.org", "to": ["bob@example.org"], "text": "x", "headers": [{"name": "X-A", "value": "1\r\nBcc: eve@example.org"}]}),
            "headers.value",
        ),
    ] {
        let reply = gateway.post("/v1/send", &Auth::alice(), body).await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        assert_eq!(reply.body["errors"][0]["field"], field, "{}", reply.text);
    }
    let none = gateway
        .post(
            "/v1/send",
            &Auth::alice(),
            json!({"from": "alice@example.org", "text": "x"}),
        )
        .await;
    assert_eq!(none.status, 422, "{}", none.text);
    assert!(sink.received().is_empty());
    assert!(
        sink.commands().iter().all(|c| !c.contains("eve@")),
        "{:?}",
        sink.commands()
    );
}

#[tokio::test]
async fn sending_needs_the_send_scope_and_a_configured_server() {
    let Setup {
        sink,
        dovecot,
        gateway,
    } = setup().await;
    let message = json!({"from": "alice@example.org", "to": ["bob@example.org"], "text": "x"});
    let plain = gateway.token("alice", "alice-pw", None).await;
    let refused = gateway
        .post("/v1/send", &Auth::Bearer(plain), message.clone())
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let sending = gateway.token("alice", "alice-pw", Some("read send")).await;
    gateway
        .post("/v1/send", &Auth::Bearer(sending), message.clone())
        .await
        .ok(200);
    assert_eq!(sink.received().len(), 1);

    // Raw upload: the envelope comes from ?to=.
    let raw = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: Raw\r\n\r\nraw body\r\n"
        .to_vec();
    let sent = gateway
        .send_raw(
            reqwest::Method::POST,
            "/v1/send?to=bob@example.org&sent_copy=never",
            &Auth::alice(),
            "message/rfc822",
            raw,
        )
        .await;
    let body = sent.ok(200);
    assert_eq!(body["sent_copy"], serde_json::Value::Null);
    let relayed = &sink.received()[1];
    assert!(relayed.text().contains("Subject: Raw"));
    assert!(relayed.text().contains(&format!(
        "Message-ID: <{}>",
        body["message_id"].as_str().unwrap()
    )));

    // A wrong password is found by the IMAP login (throttled), never tried on SMTP.
    let commands_before = sink.commands().len();
    let wrong = gateway
        .post(
            "/v1/send",
            &Auth::Basic("alice", "not-her-password"),
            message.clone(),
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert_eq!(sink.commands().len(), commands_before);
    assert_eq!(sink.received().len(), 2);

    // No SMTP server configured: 501.
    let unconfigured = Gateway::start(common::config_for(&dovecot)).await;
    let reply = unconfigured.post("/v1/send", &Auth::alice(), message).await;
    assert_eq!(reply.status, 501, "{}", reply.text);
    assert_eq!(
        reply.body["type"],
        "urn:imap-gateway:problem:not-configured"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_502_and_nothing_is_filed() {
    let Setup { dovecot, .. } = setup().await;
    let mut config = common::config_for(&dovecot);
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    config.smtp_url = Some(format!("smtp://127.0.0.1:{port}?tls=none").parse().unwrap());
    let gateway = Gateway::start(config).await;
    let reply = gateway
        .post(
            "/v1/send",
            &Auth::alice(),
            json!({"from": "alice@example.org", "to": ["bob@example.org"], "text": "x"}),
        )
        .await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(
        reply.body["type"],
        "urn:imap-gateway:problem:smtp-unavailable"
    );
    let ready = gateway.get("/readyz", &Auth::None).await;
    assert_eq!(
        ready.problem(503)["detail"],
        "the SMTP server did not answer the readiness probe (connect)"
    );
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    let status = raw.ok("STATUS Sent (MESSAGES)").await.join("\n");
    assert!(status.contains("MESSAGES 0"), "{status}");
}

#[tokio::test]
async fn a_retried_send_is_sent_once_and_answers_the_first_result() {
    let Setup {
        sink,
        dovecot,
        gateway,
    } = setup().await;
    sink.refuse("nobody@example.org", "550 5.1.1 No such user here");
    let message = json!({
        "from": "alice@example.org",
        "to": ["bob@example.org", "nobody@example.org"],
        "subject": "Once only",
        "text": "hi",
    });
    let send = async |key: &str| {
        gateway
            .request(
                reqwest::Method::POST,
                "/v1/send",
                &Auth::alice(),
                &[("Idempotency-Key", key)],
                Some(message.clone()),
            )
            .await
    };
    let first = send("order-42").await.ok(200).clone();
    assert_eq!(first["replayed"], false);
    assert_eq!(sink.received().len(), 1);

    // The retry (say the first answer was lost): nothing is sent, the answer is the
    // first one, read back from the Sent copy.
    let again = send("order-42").await.ok(200).clone();
    assert_eq!(sink.received().len(), 1, "sent twice");
    assert_eq!(again["replayed"], true);
    for field in [
        "message_id",
        "accepted",
        "refused",
        "smtp_reply",
        "sent_copy",
    ] {
        assert_eq!(again[field], first[field], "{field}");
    }
    assert_eq!(again["refused"][0]["smtp_code"], 550);
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    let status = raw.ok("STATUS Sent (MESSAGES)").await.join("\n");
    assert!(status.contains("MESSAGES 1"), "{status}");

    // Another key is another message; the same key from another user would be too.
    let other = send("order-43").await.ok(200).clone();
    assert_ne!(other["message_id"], first["message_id"]);
    assert_eq!(sink.received().len(), 2);

    // A raw upload's own Message-ID works the same way.
    let raw_message = b"From: alice@example.org\r\nTo: bob@example.org\r\nMessage-ID: <raw-1@example.org>\r\nSubject: Raw once\r\n\r\nbody\r\n".to_vec();
    for expected_replay in [false, true] {
        let body = gateway
            .send_raw(
                reqwest::Method::POST,
                "/v1/send?to=bob@example.org",
                &Auth::alice(),
                "message/rfc822",
                raw_message.clone(),
            )
            .await
            .ok(200)
            .clone();
        assert_eq!(body["replayed"], expected_replay);
        assert_eq!(body["message_id"], "raw-1@example.org");
    }
    assert_eq!(sink.received().len(), 3);

    // The record needs the Sent copy; a malformed key is refused. Nothing sent.
    let never = gateway
        .request(
            reqwest::Method::POST,
            "/v1/send?sent_copy=never",
            &Auth::alice(),
            &[("Idempotency-Key", "order-44")],
            Some(message.clone()),
        )
        .await;
    assert_eq!(never.status, 422, "{}", never.text);
    assert_eq!(never.body["errors"][0]["field"], "sent_copy");
    let long = "k".repeat(201);
    let malformed = gateway
        .request(
            reqwest::Method::POST,
            "/v1/send",
            &Auth::alice(),
            &[("Idempotency-Key", long.as_str())],
            Some(message.clone()),
        )
        .await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
    assert_eq!(malformed.body["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(sink.received().len(), 3);

    // A raw message's own Message-ID is a key only with a Sent copy: without one it
    // is simply sent (it is not refused like an explicit key).
    let uncopied = gateway
        .send_raw(
            reqwest::Method::POST,
            "/v1/send?to=bob@example.org&sent_copy=never",
            &Auth::alice(),
            "message/rfc822",
            raw_message,
        )
        .await;
    assert_eq!(uncopied.ok(200)["replayed"], false);
    assert_eq!(sink.received().len(), 4);
}

/// A message from Bob to alice and carol (cc dave) in a thread, with a PDF attached;
/// returns its UID and its mailbox's UIDVALIDITY.
async fn seed_original(gateway: &Gateway, dovecot: &Dovecot) -> (u32, u64) {
    let original = b"From: Bob <bob@example.org>\r\nTo: alice@example.org, Carol <carol@example.org>\r\nCc: dave@example.org\r\nSubject: Plans\r\nMessage-ID: <orig-2@example.org>\r\nIn-Reply-To: <root-1@example.org>\r\nReferences: <root-1@example.org>\r\nDate: Thu, 26 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nShall we meet on Monday?\r\nBob\r\n--b\r\nContent-Type: application/pdf; name=\"plan.pdf\"\r\nContent-Disposition: attachment; filename=\"plan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7w=\r\n--b--\r\n";
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    let uid = raw.append_message("INBOX", "", original).await;
    let inbox = gateway.get("/v1/mailboxes/INBOX", &Auth::alice()).await;
    let uid_validity = inbox.ok(200)["status"]["uid_validity"].as_u64().unwrap();
    (uid, uid_validity)
}

#[tokio::test]
async fn a_reply_all_threads_quotes_and_marks_the_original_answered() {
    let Setup {
        sink,
        dovecot,
        gateway,
    } = setup().await;
    let (uid, uid_validity) = seed_original(&gateway, &dovecot).await;
    let body = gateway
        .post(
            "/v1/send",
            &Auth::alice(),
            json!({
                "from": "Alice <alice@example.org>",
                "text": "Monday works.",
                "reference": {"mailbox": "INBOX", "uid": uid, "uid_validity": uid_validity,
                              "action": "reply_all", "quote": true},
            }),
        )
        .await
        .ok(200)
        .clone();
    // To the author, cc everyone else but alice herself.
    assert_eq!(
        body["accepted"],
        json!(["bob@example.org", "carol@example.org", "dave@example.org"])
    );
    let text = sink.received()[0].text();
    assert!(text.contains("Subject: Re: Plans\r\n"), "{text}");
    assert!(
        text.contains("In-Reply-To: <orig-2@example.org>\r\n"),
        "{text}"
    );
    assert!(
        text.contains("References: <root-1@example.org> <orig-2@example.org>\r\n"),
        "{text}"
    );
    assert!(text.contains("Monday works."), "{text}");
    assert!(text.contains("> Shall we meet on Monday?"), "{text}");
    assert!(
        !text.contains("plan.pdf"),
        "a reply carries no attachments: {text}"
    );
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    raw.ok("EXAMINE INBOX").await;
    assert!(raw.flags(uid).await.contains("\\Answered"));

    // A plain reply goes to the author only and quotes nothing.
    gateway
        .post(
            "/v1/send",
            &Auth::alice(),
            json!({
                "from": "alice@example.org",
                "text": "Just you.",
                "reference": {"mailbox": "INBOX", "uid": uid, "uid_validity": uid_validity, "action": "reply"},
            }),
        )
        .await
        .ok(200);
    let reply = &sink.received()[1];
    assert_eq!(reply.recipients, ["bob@example.org"]);
    assert!(!reply.text().contains("> Shall we"), "{}", reply.text());
}

#[tokio::test]
async fn a_forward_carries_text_and_attachments_and_marks_the_original() {
    let Setup {
        sink,
        dovecot,
        gateway,
    } = setup().await;
    let (uid, uid_validity) = seed_original(&gateway, &dovecot).await;
    let body = gateway
        .post(
            "/v1/send",
            &Auth::alice(),
            json!({
                "from": "alice@example.org",
                "to": ["erin@example.org"],
                "text": "FYI",
                "reference": {"mailbox": "INBOX", "uid": uid, "uid_validity": uid_validity, "action": "forward"},
            }),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(body["accepted"], json!(["erin@example.org"]));
    assert_eq!(body["warnings"], json!([]));
    let text = sink.received()[0].text();
    assert!(text.contains("Subject: Fwd: Plans\r\n"), "{text}");
    assert!(
        text.contains("---------- Forwarded message ----------"),
        "{text}"
    );
    assert!(text.contains("Shall we meet on Monday?"), "{text}");
    assert!(text.contains("plan.pdf"), "{text}");
    // Passed through as stored: the original's encoded bytes, not re-encoded.
    assert!(text.contains("\r\nJVBERi0xLjQKJcOkw7w=\r\n"), "{text}");
    // The attachment arrives with the original's bytes.
    let relayed = sink.received().remove(0);
    let message = mail_parser::MessageParser::default()
        .parse(relayed.data.as_slice())
        .unwrap();
    let pdf = message.attachments().next().expect("an attachment");
    assert_eq!(pdf.contents(), b"%PDF-1.4\n%\xc3\xa4\xc3\xbc");
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    raw.ok("EXAMINE INBOX").await;
    assert!(raw.flags(uid).await.contains("$Forwarded"));
}

#[tokio::test]
async fn a_stale_or_missing_reference_is_refused_before_anything_is_sent() {
    let Setup {
        sink,
        dovecot,
        gateway,
    } = setup().await;
    let (uid, uid_validity) = seed_original(&gateway, &dovecot).await;
    let send = async |uid: u32, uid_validity: u64| {
        gateway
            .post(
                "/v1/send",
                &Auth::alice(),
                json!({
                    "from": "alice@example.org",
                    "text": "x",
                    "reference": {"mailbox": "INBOX", "uid": uid, "uid_validity": uid_validity, "action": "reply"},
                }),
            )
            .await
    };
    let changed = send(uid, uid_validity + 1).await;
    assert_eq!(changed.status, 409, "{}", changed.text);
    assert_eq!(
        changed.body["type"],
        "urn:imap-gateway:problem:reference-changed"
    );
    let missing = send(uid + 100, uid_validity).await;
    assert_eq!(missing.status, 404, "{}", missing.text);
    let zero = send(0, uid_validity).await;
    assert_eq!(zero.status, 400, "{}", zero.text);
    let hostile = gateway
        .post(
            "/v1/send",
            &Auth::alice(),
            json!({
                "from": "alice@example.org", "text": "x",
                "reference": {"mailbox": "INBOX\r\nA1 DELETE INBOX", "uid": uid, "uid_validity": uid_validity, "action": "reply"},
            }),
        )
        .await;
    assert_eq!(hostile.status, 400, "{}", hostile.text);
    assert_eq!(hostile.body["errors"][0]["field"], "reference.mailbox");
    // Storing a draft takes no reference: replies are sent.
    let draft = gateway
        .post(
            "/v1/mailboxes/Drafts/messages",
            &Auth::alice(),
            json!({
                "from": "alice@example.org", "text": "x",
                "reference": {"mailbox": "INBOX", "uid": uid, "uid_validity": uid_validity, "action": "reply"},
            }),
        )
        .await;
    assert_eq!(draft.status, 422, "{}", draft.text);
    assert!(sink.received().is_empty());
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    raw.ok("EXAMINE INBOX").await;
    assert!(!raw.flags(uid).await.contains("\\Answered"));
}

#[tokio::test]
async fn a_stored_draft_is_sent_as_it_is_filed_in_sent_and_removed() {
    let Setup {
        sink,
        dovecot,
        gateway,
    } = setup().await;
    let stored = gateway
        .post(
            "/v1/mailboxes/Drafts/messages",
            &Auth::alice(),
            json!({
                "from": "alice@example.org",
                "to": ["bob@example.org"],
                "bcc": ["dave@example.org"],
                "subject": "Draft to send",
                "text": "Written earlier.",
                "flags": ["\\Draft"],
            }),
        )
        .await
        .ok(201)
        .clone();
    let uid = stored["uid"].as_u64().unwrap();
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    let keep = raw.append("Drafts", "Another draft").await;

    let path = format!("/v1/mailboxes/Drafts/messages/{uid}/send");
    let body = gateway
        .post(&path, &Auth::alice(), json!(null))
        .await
        .ok(200)
        .clone();
    assert_eq!(
        body["accepted"],
        json!(["bob@example.org", "dave@example.org"])
    );
    assert_eq!(body["warnings"], json!([]));
    assert_eq!(body["sent_copy"]["mailbox"], "Sent");
    let relayed = &sink.received()[0];
    assert_eq!(relayed.recipients, ["bob@example.org", "dave@example.org"]);
    assert!(relayed.text().contains("Subject: Draft to send"));
    assert!(!relayed.text().to_ascii_lowercase().contains("bcc:"));
    // Sent keeps the Bcc; the draft is gone, the other draft is not.
    let (sent_uid, _) = newest_in_sent(&dovecot).await;
    let (_, _, copy) = gateway
        .get_bytes(
            &format!("/v1/mailboxes/Sent/messages/{sent_uid}/raw"),
            &Auth::alice(),
            &[],
        )
        .await;
    let copy = String::from_utf8(copy).unwrap();
    assert!(copy.contains("Bcc: <dave@example.org>"), "{copy}");
    raw.ok("SELECT Drafts").await;
    assert_eq!(raw.search("ALL").await, [keep]);

    // Sending it again: it is gone (the message is in Sent).
    let again = gateway.post(&path, &Auth::alice(), json!(null)).await;
    assert_eq!(again.status, 404, "{}", again.text);
    assert_eq!(sink.received().len(), 1);

    // It needs the send scope.
    let token = gateway.token("alice", "alice-pw", Some("read write")).await;
    let refused = gateway
        .post(
            &format!("/v1/mailboxes/Drafts/messages/{keep}/send"),
            &Auth::Bearer(token),
            json!(null),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
}

#[tokio::test]
async fn the_sent_copy_finds_sent_by_name_when_no_mailbox_is_marked() {
    // Dovecot advertises SPECIAL-USE but marks no mailbox unless configured to.
    let sink = SmtpSink::start();
    let dovecot = Dovecot::start(Options {
        users: vec![dovecot_harness::User::new("alice", "alice-pw")
            .with_mailbox("INBOX", Vec::new())
            .with_mailbox("Sent Items", Vec::new())],
        special_use: false,
        submission_relay: Some(sink.port),
        ..Options::default()
    });
    let mut config = common::config_for(&dovecot);
    config.smtp_url = Some(dovecot.submission_plain_url().parse().unwrap());
    let gateway = Gateway::start(config).await;
    let body = gateway
        .post(
            "/v1/send",
            &Auth::alice(),
            json!({"from": "alice@example.org", "to": ["bob@example.org"], "text": "x"}),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(body["sent_copy"]["mailbox"], "Sent Items", "{body}");
    assert_eq!(dovecot.message_count("alice", "Sent Items"), 1);
}

#[tokio::test]
async fn submission_works_over_implicit_tls_and_starttls() {
    let sink = SmtpSink::start();
    let dovecot = Dovecot::start(Options {
        users: standard_users(),
        submission_relay: Some(sink.port),
        ..Options::default()
    });
    for (url, expected) in [
        (dovecot.submission_tls_url(), 1),
        (dovecot.submission_starttls_url(), 2),
    ] {
        let mut config = common::config_for(&dovecot);
        config.imap_ca_file = Some(dovecot.ca_file());
        config.smtp_url = Some(url.parse().unwrap());
        let gateway = Gateway::start(config).await;
        let ready = gateway.get("/readyz", &Auth::None).await;
        assert_eq!(ready.status, 200, "{url}: {}", ready.text);
        gateway
            .post(
                "/v1/send",
                &Auth::alice(),
                json!({"from": "alice@example.org", "to": ["bob@example.org"], "text": url}),
            )
            .await
            .ok(200);
        assert_eq!(sink.received().len(), expected, "{url}");
        assert!(sink.received()[expected - 1].text().contains(&url));
    }
}
