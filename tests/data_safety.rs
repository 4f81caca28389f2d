//! Data safety under concurrency: several clients moving, copying, flagging and
//! deleting the same messages at once (plus a raw IMAP client marking messages
//! `\Deleted` without expunging) never lose a message, never duplicate one outside
//! explicit copies, and never expunge one nobody asked to delete. Run with MOVE and
//! with the COPY + UID EXPUNGE fallback. And an APPEND comes back byte for byte.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{Auth, Dovecot, Gateway, Options, SeedMessage, User};
use dovecot_harness::raw::RawImap;
use reqwest::Method;
use serde_json::{json, Value};

const MESSAGES: usize = 40;
const CLIENTS: u64 = 6;
const OPS_PER_CLIENT: usize = 40;
const MAILBOXES: [&str; 3] = ["INBOX", "Archive", "Trash"];

fn user() -> User {
    let messages = (0..MESSAGES)
        .map(|i| {
            SeedMessage::text(
                "s@example.org",
                "alice@example.org",
                &format!("m{i}"),
                &format!("body {i}"),
            )
        })
        .collect();
    User::new("alice", "alice-pw")
        .with_mailbox("INBOX", messages)
        .with_mailbox("Archive", Vec::new())
        .with_mailbox("Copies", Vec::new())
}

/// A tiny deterministic generator, so a failing interleaving of choices can be
/// reproduced from the printed seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from((self.0 >> 33) % below as u64).unwrap()
    }
}

#[derive(Default)]
struct Ledger {
    /// Subjects permanently deleted by a request that succeeded.
    purged: Vec<String>,
    /// Messages copied to `Copies` by requests that succeeded.
    copied: usize,
    statuses: BTreeMap<u16, usize>,
}

/// Subjects of every message in `mailbox`, from ENVELOPE (subjects are `m<n>`).
async fn subjects(raw: &mut RawImap, mailbox: &str) -> Vec<String> {
    raw.ok(&format!("SELECT {mailbox}")).await;
    let lines = raw.ok("UID FETCH 1:* (ENVELOPE)").await;
    lines
        .iter()
        .filter_map(|line| {
            // ENVELOPE ("date" "subject" ...
            let envelope = line.split_once("ENVELOPE (")?.1;
            let mut quoted = envelope.split('"');
            quoted.nth(3).map(str::to_owned)
        })
        .collect()
}

async fn client(gateway: Arc<Gateway>, seed: u64, ledger: Arc<Mutex<Ledger>>) {
    let mut rng = Lcg(seed);
    let auth = Auth::alice();
    for _ in 0..OPS_PER_CLIENT {
        // Like a real client: list a mailbox, then act on a message it showed (which
        // other clients may be moving or deleting at the same moment).
        let mailbox = MAILBOXES[rng.next(MAILBOXES.len())];
        let listed = gateway
            .get(
                &format!("/v1/mailboxes/{mailbox}/messages?limit=100"),
                &auth,
            )
            .await;
        let uids: Vec<u64> = listed.ok(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["uid"].as_u64().unwrap())
            .collect();
        if uids.is_empty() {
            continue;
        }
        let uid = uids[rng.next(uids.len())];
        let path = format!("/v1/mailboxes/{mailbox}/messages/{uid}");
        let reply = match rng.next(6) {
            0 | 1 => {
                let to = if mailbox == "INBOX" {
                    "Archive"
                } else {
                    "INBOX"
                };
                gateway
                    .post(&format!("{path}/move"), &auth, json!({"to": to}))
                    .await
            }
            2 => {
                gateway
                    .patch(
                        &format!("{path}/flags"),
                        &auth,
                        json!({"add": ["\\Flagged"], "remove": ["$Old"]}),
                    )
                    .await
            }
            3 => {
                let reply = gateway
                    .post(&format!("{path}/copy"), &auth, json!({"to": "Copies"}))
                    .await;
                if reply.status.is_success() {
                    ledger.lock().unwrap().copied += 1;
                }
                reply
            }
            4 if mailbox == "Trash" => {
                // Permanent deletion only of what is already in Trash: read which
                // message the UID is (UIDs are never reused), then purge it.
                // (A UID not read here may be assigned meanwhile by a move into
                // Trash, so only a message read first is purged.)
                let read = gateway.get(&path, &auth).await;
                let Some(subject) = read.body["envelope"]["subject"].as_str().map(str::to_owned)
                else {
                    continue;
                };
                let reply = gateway
                    .send(
                        Method::DELETE,
                        &format!("{path}?permanent=true"),
                        &auth,
                        None,
                    )
                    .await;
                if reply.status.is_success() {
                    ledger.lock().unwrap().purged.push(subject);
                }
                reply
            }
            _ => gateway.delete(&path, &auth).await,
        };
        let status = reply.status.as_u16();
        assert!(
            status < 300 || [404, 409, 412].contains(&status),
            "{path}: unexpected {status}: {}",
            reply.text
        );
        *ledger.lock().unwrap().statuses.entry(status).or_insert(0) += 1;
    }
}

async fn run(capabilities: Option<&str>) {
    let dovecot = Dovecot::start(Options {
        users: vec![user()],
        capabilities: capabilities.map(str::to_owned),
        rawlog: false,
        ..Options::default()
    });
    let mut config = common::config_for(&dovecot);
    config.max_sessions_per_user = 6;
    let gateway = Arc::new(Gateway::start(config).await);
    let ledger = Arc::new(Mutex::new(Ledger::default()));

    // Another client marks messages \Deleted and never expunges them: none of them
    // may disappear unless a gateway client deleted that very message.
    let mut other = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    other.ok("SELECT INBOX").await;
    let marker = tokio::spawn(async move {
        for uid in (1..=MESSAGES).step_by(3) {
            other
                .ok(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))
                .await;
            tokio::task::yield_now().await;
        }
        other
    });
    let mut tasks = Vec::new();
    for seed in 0..CLIENTS {
        tasks.push(tokio::spawn(client(
            gateway.clone(),
            seed * 7919 + 17,
            ledger.clone(),
        )));
    }
    for task in tasks {
        if let Err(err) = task.await {
            let logs = dovecot.logs();
            let server_errors: Vec<&str> = logs
                .lines()
                .filter(|l| l.contains("Panic") || l.contains("Fatal") || l.contains("Error"))
                .collect();
            panic!("a client failed: {err}\nDovecot errors: {server_errors:#?}");
        }
    }
    drop(marker.await.unwrap());

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    let mut places: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for mailbox in MAILBOXES {
        for subject in subjects(&mut raw, mailbox).await {
            places.entry(subject).or_default().push(mailbox);
        }
    }
    for i in 0..MESSAGES {
        let subject = format!("m{i}");
        let found = places.get(&subject).cloned().unwrap_or_default();
        let purged = ledger.purged.iter().filter(|s| **s == subject).count();
        // Never two copies outside `Copies`; missing only if a client purged a UID
        // that held it. (A purge can also hit a UID the message had already left,
        // moved away by another client, so a purged message may still be found.)
        assert!(
            found.len() == 1 || (found.is_empty() && purged > 0),
            "{subject}: in {found:?}, purged {purged} times (capabilities {capabilities:?})"
        );
    }
    let copies = subjects(&mut raw, "Copies").await.len();
    assert_eq!(
        copies, ledger.copied,
        "every successful copy made exactly one, failed copies none ({:?})",
        ledger.statuses
    );
    println!(
        "{} operations by {CLIENTS} clients (capabilities {}): {:?}; {} purged, {} copied, every other message in exactly one mailbox",
        CLIENTS as usize * OPS_PER_CLIENT,
        capabilities.unwrap_or("Dovecot's"),
        ledger.statuses,
        ledger.purged.len(),
        ledger.copied
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_moves_flags_and_deletes_lose_nothing_with_move() {
    run(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_moves_flags_and_deletes_lose_nothing_with_copy_and_uid_expunge() {
    run(Some(
        "IMAP4rev1 LITERAL+ SASL-IR IDLE UIDPLUS ENABLE CONDSTORE QRESYNC SPECIAL-USE",
    ))
    .await;
}

#[tokio::test]
async fn an_appended_message_comes_back_byte_for_byte() {
    let dovecot = common::dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let mut message = "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.org>\r\nTo: alice@example.org\r\nSubject: Bytes\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        .as_bytes()
        .to_vec();
    message.extend_from_slice("Grüße, 日本語, tabs\tand trailing spaces   \r\n".as_bytes());
    message.extend_from_slice(format!("{}\r\n", "x".repeat(990)).as_bytes());
    message.extend_from_slice(b".\r\n..\r\nFrom the start of a line\r\n{5}\r\n\r\n\r\n");
    let reply = gateway
        .send_raw(
            Method::POST,
            "/v1/mailboxes/INBOX/messages",
            &Auth::alice(),
            "message/rfc822",
            message.clone(),
        )
        .await;
    let uid = reply.ok(201)["uid"].as_u64().unwrap();
    let (status, _, body) = gateway
        .get_bytes(
            &format!("/v1/mailboxes/INBOX/messages/{uid}/raw"),
            &Auth::alice(),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        body == message,
        "the stored message differs from what was sent"
    );
    let parsed: Value = gateway
        .get(
            &format!("/v1/mailboxes/INBOX/messages/{uid}"),
            &Auth::alice(),
        )
        .await
        .ok(200)
        .clone();
    assert!(parsed["text"].as_str().unwrap().contains("Grüße, 日本語"));
}
