//! Server-Sent Events against a real Dovecot: live delivery of another client's
//! changes, exact resumption with Last-Event-ID, shared IDLE watchers, and cleanup.

mod common;

use std::time::{Duration, Instant};

use common::sse::SseClient;
use common::{Dovecot, Gateway, Options, SeedMessage, User};
use dovecot_harness::proxy::{Fault, FaultProxy};
use dovecot_harness::raw::RawImap;

fn live_dovecot() -> Dovecot {
    let messages = (1..=3)
        .map(|i| {
            SeedMessage::text(
                "a@example.org",
                "live@example.org",
                &format!("Seed {i}"),
                "x",
            )
        })
        .collect();
    Dovecot::start(Options {
        users: vec![User::new("live", "live-pw")
            .with_mailbox("INBOX", messages)
            .with_mailbox("Archive", Vec::new())],
        ..Options::default()
    })
}

const WAIT: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clients_changes_arrive_live() {
    let dovecot = live_dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let mut events =
        SseClient::connect(&gateway, ("live", "live-pw"), "?mailboxes=INBOX", None).await;
    let ready = events.next(WAIT).await.unwrap();
    assert_eq!(ready.event, "stream.ready");
    assert!(ready.id.is_some());
    // Let the watcher's IDLE settle, then change things from another client.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut other = RawImap::login(dovecot.imap_port, "live", "live-pw").await;
    other.ok("SELECT INBOX").await;
    let started = Instant::now();
    let uid = other.append("INBOX", "Hello live").await;
    let created = events
        .next_named("message.created", WAIT)
        .await
        .expect("message.created within 3 s");
    eprintln!(
        "append -> SSE message.created in {} ms",
        started.elapsed().as_millis()
    );
    assert!(started.elapsed() < WAIT);
    assert_eq!(created.json()["message"]["uid"], uid);
    assert_eq!(
        created.json()["message"]["envelope"]["subject"],
        "Hello live"
    );
    assert_eq!(created.json()["mailbox"], "INBOX");
    assert!(
        created.id.is_some(),
        "the last event of a burst carries the resume id"
    );
    other.ok("UID STORE 1 +FLAGS (\\Flagged)").await;
    let updated = events.next(WAIT).await.expect("message.updated");
    assert_eq!(updated.event, "message.updated");
    assert_eq!(updated.json()["uid"], 1);
    assert_eq!(updated.json()["flags"], serde_json::json!(["\\Flagged"]));
    other.ok("UID STORE 2 +FLAGS (\\Deleted)").await;
    other.ok("UID EXPUNGE 2").await;
    let mut deleted = None;
    while let Some(event) = events.next(WAIT).await {
        if event.event == "message.deleted" {
            deleted = Some(event);
            break;
        }
    }
    assert_eq!(deleted.expect("message.deleted").json()["uid"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_last_event_id_delivers_what_was_missed_exactly_once() {
    let dovecot = live_dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let mut events = SseClient::connect(
        &gateway,
        ("live", "live-pw"),
        "?mailboxes=INBOX,Archive",
        None,
    )
    .await;
    let last_id = events.next(WAIT).await.unwrap().id.unwrap();
    drop(events);
    let mut other = RawImap::login(dovecot.imap_port, "live", "live-pw").await;
    let mut expected = Vec::new();
    for subject in ["Missed 1", "Missed 2", "Missed 3"] {
        expected.push(u64::from(other.append("INBOX", subject).await));
    }
    let mut events = SseClient::connect(
        &gateway,
        ("live", "live-pw"),
        "?mailboxes=INBOX,Archive",
        Some(&last_id),
    )
    .await;
    assert_eq!(events.next(WAIT).await.unwrap().event, "stream.ready");
    let mut received = Vec::new();
    while let Some(event) = events.next(Duration::from_millis(1500)).await {
        assert_eq!(event.event, "message.created", "{event:?}");
        received.push(event.json()["message"]["uid"].as_u64().unwrap());
    }
    assert_eq!(received, expected, "all three, once, in order");
    let bad = reqwest::Client::new()
        .get(format!("{}/v1/events?mailboxes=INBOX", gateway.base))
        .basic_auth("live", Some("live-pw"))
        .header("last-event-id", last_id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(
        bad.status(),
        400,
        "an id for two mailboxes does not fit a stream of one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_of_one_user_share_one_watcher_and_leave_nothing_behind() {
    let dovecot = live_dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let mut streams = Vec::new();
    for _ in 0..20 {
        let mut stream = SseClient::connect(&gateway, ("live", "live-pw"), "", None).await;
        assert_eq!(stream.next(WAIT).await.unwrap().event, "stream.ready");
        streams.push(stream);
    }
    assert_eq!(gateway.state.watchers.running(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idling = |dovecot: &Dovecot| {
        dovecot
            .commands("live")
            .iter()
            .filter(|c| *c == "IDLE")
            .count()
    };
    let pool = gateway.state.pools.stats().sessions;
    let connections = dovecot.connections("live");
    assert_eq!(
        connections,
        pool + 1,
        "20 streams: the pool's sessions plus ONE watching session"
    );
    assert!(idling(&dovecot) >= 1);
    // Every stream still hears about changes.
    let mut other = RawImap::login(dovecot.imap_port, "live", "live-pw").await;
    other.append("INBOX", "For everyone").await;
    for stream in &mut streams {
        let event = stream.next(WAIT).await.expect("each stream gets the event");
        assert_eq!(event.event, "message.created");
    }
    drop(streams);
    drop(other);
    // 100 clients that connect and drop.
    for _ in 0..100 {
        let mut stream = SseClient::connect(&gateway, ("live", "live-pw"), "", None).await;
        stream.next(WAIT).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while (gateway.state.watchers.running() > 0
        || dovecot.connections("live") > gateway.state.pools.stats().sessions)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        gateway.state.watchers.running(),
        0,
        "no watcher outlives its streams"
    );
    assert_eq!(
        dovecot.connections("live"),
        gateway.state.pools.stats().sessions,
        "no IMAP session is left behind but the request pool's"
    );
}

#[tokio::test]
async fn limits_and_bad_input() {
    let dovecot = live_dovecot();
    let mut config = common::config_for(&dovecot);
    config.max_watchers_per_user = 1;
    let gateway = Gateway::start(config).await;
    let auth = common::Auth::Basic("live", "live-pw");
    gateway
        .get("/v1/events?mailboxes=INBOX,Archive", &auth)
        .await
        .problem(429);
    gateway
        .get("/v1/events?mailboxes=x%0D%0Ay", &auth)
        .await
        .problem(400);
    gateway
        .get("/v1/events?mailboxes=Nope", &auth)
        .await
        .problem(404);
    gateway
        .get("/v1/events", &common::Auth::None)
        .await
        .problem(401);
    let _held = SseClient::connect(&gateway, ("live", "live-pw"), "", None).await;
    let archive = gateway.get("/v1/events?mailboxes=Archive", &auth).await;
    archive.problem(429);
}

/// A mailbox whose name contains a comma is followed as `%2C`: names are split on
/// the commas of the query as sent.
#[tokio::test]
async fn a_name_with_a_comma_can_be_followed() {
    let dovecot = live_dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let auth = common::Auth::Basic("live", "live-pw");
    gateway
        .post(
            "/v1/mailboxes",
            &auth,
            serde_json::json!({"name": "Clients, new"}),
        )
        .await
        .ok(201);
    let mut stream = SseClient::connect(
        &gateway,
        ("live", "live-pw"),
        "?mailboxes=INBOX,Clients%2C%20new",
        None,
    )
    .await;
    let ready = stream.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(ready.event, "stream.ready");
    assert!(ready.data.contains("Clients, new"), "{}", ready.data);
    // Two mailboxes, so the resume id has two states.
    assert_eq!(ready.id.unwrap().split(',').count(), 2);
}

/// A browser's EventSource cannot send `Authorization`: it follows the stream with an
/// event ticket in the URL, which is good for nothing else and lives as long as the
/// token it came from.
#[tokio::test]
async fn an_event_ticket_opens_the_stream_and_nothing_else() {
    let dovecot = live_dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let token = gateway
        .post(
            "/v1/auth/token",
            &common::Auth::None,
            serde_json::json!({"username": "live", "password": "live-pw", "ttl_seconds": 120}),
        )
        .await;
    let token = token.ok(200)["access_token"].as_str().unwrap().to_owned();
    let issued = gateway
        .post(
            "/v1/events/ticket",
            &common::Auth::Bearer(token.clone()),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(issued.headers["cache-control"], "no-store");
    let issued = issued.ok(200);
    let ticket = issued["ticket"].as_str().unwrap().to_owned();
    let lifetime = issued["expires_in"].as_u64().unwrap();
    assert!(
        (110..=120).contains(&lifetime),
        "capped by the token: {lifetime}"
    );

    let mut stream = SseClient::open(
        reqwest::Client::new().get(format!("{}/v1/events?ticket={ticket}", gateway.base)),
    )
    .await;
    let ready = stream.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(ready.event, "stream.ready");

    // Not a bearer token, and no other route reads it from the URL.
    gateway
        .get("/v1/mailboxes", &common::Auth::Bearer(ticket.clone()))
        .await
        .problem(401);
    gateway
        .get(
            &format!("/v1/mailboxes?ticket={ticket}"),
            &common::Auth::None,
        )
        .await
        .problem(401);
    // A bearer token is not a ticket.
    gateway
        .get(&format!("/v1/events?ticket={token}"), &common::Auth::None)
        .await
        .problem(401);
    // A ticket is issued only for a credential the server takes (schemathesis 4
    // found one issued for invented Basic credentials).
    gateway
        .post(
            "/v1/events/ticket",
            &common::Auth::Basic("live", "not-the-password"),
            serde_json::json!({}),
        )
        .await
        .problem(401);
    // An expired ticket says so.
    let identity = imap_gateway::imap::Identity::new(
        imap_gateway::imap::Username::try_from("live").unwrap(),
        secrecy::SecretString::from("live-pw".to_owned()),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired =
        gateway
            .state
            .tokens
            .issue_ticket(&identity, Some(now - 60), Duration::from_secs(60));
    let refused = gateway
        .get(
            &format!("/v1/events?ticket={}", expired.access_token),
            &common::Auth::None,
        )
        .await;
    assert!(refused.problem(401)["detail"]
        .as_str()
        .unwrap()
        .contains("expired"));
    // Reading needs the read scope, and a ticket is read only.
    let write_only = gateway
        .post(
            "/v1/auth/token",
            &common::Auth::None,
            serde_json::json!({"username": "live", "password": "live-pw", "scope": "write"}),
        )
        .await;
    let write_only = write_only.ok(200)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    gateway
        .post(
            "/v1/events/ticket",
            &common::Auth::Bearer(write_only),
            serde_json::json!({}),
        )
        .await
        .problem(403);
}

/// A server with neither IDLE nor CONDSTORE (Dovecot narrowed to `IMAP4rev1 UIDPLUS`):
/// the watcher polls with NOOP every 5 s and diffs the flags, and the stream still
/// reports another client's new message, flag change and expunge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_without_idle_or_condstore_are_polled_and_diffed() {
    let messages = vec![SeedMessage::text(
        "a@example.org",
        "live@example.org",
        "Old",
        "x",
    )];
    let dovecot = Dovecot::start(Options {
        users: vec![User::new("live", "live-pw").with_mailbox("INBOX", messages)],
        capabilities: Some("IMAP4rev1 UIDPLUS".to_owned()),
        ..Options::default()
    });
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let mut events =
        SseClient::connect(&gateway, ("live", "live-pw"), "?mailboxes=INBOX", None).await;
    assert_eq!(events.next(WAIT).await.unwrap().event, "stream.ready");
    // One poll interval plus the work.
    let poll = Duration::from_secs(8);
    let mut other = RawImap::login(dovecot.imap_port, "live", "live-pw").await;
    other.ok("SELECT INBOX").await;
    let uid = other.append("INBOX", "Polled").await;
    let created = events.next(poll).await.expect("message.created");
    assert_eq!(created.event, "message.created");
    assert_eq!(created.json()["message"]["uid"], uid);
    other.ok(&format!("UID STORE {uid} +FLAGS (\\Seen)")).await;
    let updated = events.next(poll).await.expect("message.updated");
    assert_eq!(updated.event, "message.updated");
    assert_eq!(updated.json()["flags"], serde_json::json!(["\\Seen"]));
    assert!(
        updated.json().get("modseq").is_none(),
        "no modseq without CONDSTORE"
    );
    other.ok("UID STORE 1 +FLAGS (\\Deleted)").await;
    other.ok("UID EXPUNGE 1").await;
    let mut deleted = events.next(poll).await.expect("an event");
    while deleted.event == "message.updated" {
        deleted = events.next(poll).await.expect("message.deleted");
    }
    assert_eq!(deleted.event, "message.deleted");
    assert_eq!(deleted.json()["uid"], 1);
}

/// Issue 23: an event stream is "a token that keeps working" too. Its credential is
/// re-proven every recheck interval (500 ms here); once the password has changed,
/// the stream ends (and reconnecting with the old password answers 401).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_ends_when_its_password_changes() {
    let dovecot = live_dovecot();
    let mut config = common::config_for(&dovecot);
    config.credential_recheck = Duration::from_millis(500);
    let gateway = Gateway::start(config).await;
    let mut events =
        SseClient::connect(&gateway, ("live", "live-pw"), "?mailboxes=INBOX", None).await;
    assert_eq!(events.next(WAIT).await.unwrap().event, "stream.ready");
    // Still delivering across several rechecks while the password holds.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut other = RawImap::login(dovecot.imap_port, "live", "live-pw").await;
    let uid = other.append("INBOX", "Still open").await;
    let created = events
        .next_named("message.created", WAIT)
        .await
        .expect("the stream is still open");
    assert_eq!(created.json()["message"]["uid"], uid);
    tokio::task::block_in_place(|| dovecot.set_password("live", "changed"));
    let changed = Instant::now();
    while events.next(Duration::from_secs(5)).await.is_some() {}
    assert!(
        changed.elapsed() < Duration::from_secs(3),
        "the stream ended {:?} after the change",
        changed.elapsed()
    );
    let reconnect = gateway
        .get(
            "/v1/events?mailboxes=INBOX",
            &common::Auth::Basic("live", "live-pw"),
        )
        .await;
    reconnect.problem(401);
}

/// A stream lives at most `IMAP_GATEWAY_SSE_MAX_DURATION`, then ends cleanly; the
/// client resumes with `Last-Event-ID` and receives what arrived in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_at_its_maximum_life_and_resumes_without_loss() {
    let dovecot = live_dovecot();
    let mut config = common::config_for(&dovecot);
    config.sse_max_duration = Duration::from_secs(1);
    let gateway = Gateway::start(config).await;
    let opened = Instant::now();
    let mut events =
        SseClient::connect(&gateway, ("live", "live-pw"), "?mailboxes=INBOX", None).await;
    let ready = events.next(WAIT).await.unwrap();
    assert_eq!(ready.event, "stream.ready");
    let mut last_id = ready.id.clone().expect("stream.ready has an id");
    while let Some(event) = events.next(Duration::from_secs(5)).await {
        if let Some(id) = event.id {
            last_id = id;
        }
    }
    let lived = opened.elapsed();
    assert!(
        (Duration::from_secs(1)..Duration::from_secs(4)).contains(&lived),
        "the stream lived {lived:?}"
    );
    // Mail arrives while the client is away; the resumed stream delivers it.
    let mut other = RawImap::login(dovecot.imap_port, "live", "live-pw").await;
    let uid = other.append("INBOX", "While away").await;
    let mut resumed = SseClient::connect(
        &gateway,
        ("live", "live-pw"),
        "?mailboxes=INBOX",
        Some(&last_id),
    )
    .await;
    let created = resumed
        .next_named("message.created", WAIT)
        .await
        .expect("the resumed stream delivers");
    assert_eq!(created.json()["message"]["uid"], uid);
}

/// From the code reading of issue 23: when the summaries of new messages could not be
/// read (a server without CONDSTORE, where the watcher's diffs are the only record),
/// their `message.created` events were dropped and the stream moved past them. Now
/// the stream ends at the last position it delivered, and the resume replays them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_messages_whose_summaries_cannot_be_read_are_replayed_not_skipped() {
    let dovecot = Dovecot::start(Options {
        users: vec![User::new("live", "live-pw")],
        capabilities: Some("IMAP4rev1 UIDPLUS IDLE".to_owned()),
        ..Options::default()
    });
    let proxy = FaultProxy::start(dovecot.imap_port).await;
    let config =
        imap_gateway::config::Config::new(proxy.plain_url().parse().unwrap(), common::SECRET);
    let gateway = Gateway::start(config).await;
    let mut events =
        SseClient::connect(&gateway, ("live", "live-pw"), "?mailboxes=INBOX", None).await;
    let ready = events.next(WAIT).await.unwrap();
    assert_eq!(ready.event, "stream.ready");
    let last_id = ready.id.expect("stream.ready has an id");
    // Every BODYSTRUCTURE the server sends is now malformed: summaries cannot be read.
    proxy.set(Fault::Rewrite(b"BODYSTRUCTURE (", b"BODYSTRUCTURE (((("));
    let mut other = RawImap::login(dovecot.imap_port, "live", "live-pw").await;
    let uid = other.append("INBOX", "Unreadable for now").await;
    let ended = Instant::now();
    while let Some(event) = events.next(Duration::from_secs(10)).await {
        assert_ne!(event.event, "message.created", "no summary could be read");
    }
    assert!(
        ended.elapsed() < Duration::from_secs(10),
        "the stream ended"
    );
    // The server answers well again; the resumed stream delivers the message.
    proxy.set(Fault::None);
    let mut resumed = SseClient::connect(
        &gateway,
        ("live", "live-pw"),
        "?mailboxes=INBOX",
        Some(&last_id),
    )
    .await;
    let created = resumed
        .next_named("message.created", WAIT)
        .await
        .expect("the resumed stream delivers");
    assert_eq!(created.json()["message"]["uid"], uid);
}
