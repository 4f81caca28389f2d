//! The session pool against a real Dovecot: bounds, reuse, identity separation,
//! global cap, bounded waits, broken sessions, timeouts and the selected-mailbox cache.

mod common;

use std::time::Duration;

use common::{dovecot, Auth, Gateway};
use imap_gateway::imap::{Identity, MailboxName, Username};
use secrecy::SecretString;

fn alice() -> Identity {
    Identity::new(
        Username::try_from("alice").unwrap(),
        SecretString::from("alice-pw".to_owned()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_a_bounded_pool() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.max_sessions_per_user = 2;
    let gateway = std::sync::Arc::new(Gateway::start(config).await);
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let gateway = gateway.clone();
        tasks.push(tokio::spawn(async move {
            gateway.get("/v1/mailboxes", &Auth::alice()).await.status
        }));
    }
    let mut peak = 0;
    while !tasks.iter().all(|t| t.is_finished()) {
        peak = peak.max(dovecot.connections("alice"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert!(peak <= 2, "the server saw {peak} concurrent sessions");
    assert!(
        dovecot.sessions_opened("alice") <= 2,
        "opened {}",
        dovecot.sessions_opened("alice")
    );
    assert_eq!(
        gateway.state.pools.stats().sessions,
        dovecot.sessions_opened("alice")
    );
}

#[tokio::test]
async fn sequential_requests_reuse_one_session_without_noop() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    for _ in 0..5 {
        assert_eq!(
            gateway
                .get("/v1/mailboxes/INBOX", &Auth::alice())
                .await
                .status,
            200
        );
    }
    assert_eq!(dovecot.sessions_opened("alice"), 1);
    let commands = dovecot.commands("alice");
    assert!(
        !commands.iter().any(|c| c == "NOOP"),
        "a session used moments ago is not re-checked: {commands:?}"
    );
    assert!(
        !commands.iter().any(|c| c == "CLOSE"),
        "CLOSE is never sent"
    );
}

#[tokio::test]
async fn waits_are_bounded_with_503_and_retry_after() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.max_sessions_per_user = 1;
    config.pool_wait = Duration::from_millis(300);
    let gateway = Gateway::start(config).await;
    let held = gateway.state.pools.get(&alice()).await.unwrap();
    let reply = gateway.get("/v1/mailboxes", &Auth::alice()).await;
    reply.problem(503);
    assert_eq!(reply.headers["retry-after"], "1");
    drop(held);
    assert_eq!(
        gateway.get("/v1/mailboxes", &Auth::alice()).await.status,
        200
    );
    assert_eq!(dovecot.sessions_opened("alice"), 1);
}

#[tokio::test]
async fn the_global_cap_sheds_idle_sessions_of_other_users() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.max_sessions_per_user = 1;
    config.max_sessions = 1;
    config.pool_wait = Duration::from_millis(500);
    let gateway = Gateway::start(config).await;
    assert_eq!(
        gateway.get("/v1/mailboxes", &Auth::alice()).await.status,
        200
    );
    // alice's idle session is logged out to make room for bob.
    assert_eq!(gateway.get("/v1/mailboxes", &Auth::bob()).await.status, 200);
    assert!(gateway.state.pools.stats().sessions <= 1);
    // While bob holds the only session, alice waits a bounded time, then gets 503.
    let bob = Identity::new(
        Username::try_from("bob").unwrap(),
        SecretString::from("bob-pw".to_owned()),
    );
    let held = gateway.state.pools.get(&bob).await.unwrap();
    gateway
        .get("/v1/mailboxes", &Auth::alice())
        .await
        .problem(503);
    drop(held);
    assert_eq!(
        gateway.get("/v1/mailboxes", &Auth::alice()).await.status,
        200
    );
}

#[tokio::test]
async fn kicked_sessions_are_replaced_transparently() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    assert_eq!(
        gateway.get("/v1/mailboxes", &Auth::alice()).await.status,
        200
    );
    dovecot.kick("alice");
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while dovecot.connections("alice") > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        gateway.get("/v1/mailboxes", &Auth::alice()).await.status,
        200
    );
    assert_eq!(
        dovecot.sessions_opened("alice"),
        2,
        "the dead session was replaced, not reused"
    );
}

#[tokio::test]
async fn timed_out_sessions_are_discarded() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.imap_command_timeout = Duration::from_millis(500);
    let gateway = Gateway::start(config).await;
    assert_eq!(
        gateway.get("/v1/mailboxes", &Auth::alice()).await.status,
        200
    );
    dovecot.signal_sessions("alice", "STOP");
    let stalled = gateway.get("/v1/mailboxes", &Auth::alice()).await;
    dovecot.signal_sessions("alice", "CONT");
    stalled.problem(504);
    assert_eq!(
        stalled.body["detail"],
        "could not list mailboxes: the IMAP server did not answer in time"
    );
    assert_eq!(
        gateway.get("/v1/mailboxes", &Auth::alice()).await.status,
        200
    );
    assert_eq!(
        dovecot.sessions_opened("alice"),
        2,
        "the stalled session is never reused"
    );
}

#[tokio::test]
async fn the_selected_mailbox_is_remembered_across_checkouts() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let inbox = MailboxName::try_from("INBOX").unwrap();
    let archive = MailboxName::try_from("Archive").unwrap();
    {
        let mut session = gateway.state.pools.get(&alice()).await.unwrap();
        let selected = session.ensure_selected(&inbox, true).await.unwrap();
        assert_eq!(selected.exists, Some(3));
        assert!(selected.uid_validity.is_some());
    }
    for _ in 0..3 {
        let mut session = gateway.state.pools.get(&alice()).await.unwrap();
        assert_eq!(
            session.ensure_selected(&inbox, true).await.unwrap().exists,
            Some(3)
        );
    }
    {
        let mut session = gateway.state.pools.get(&alice()).await.unwrap();
        assert_eq!(
            session
                .ensure_selected(&archive, true)
                .await
                .unwrap()
                .exists,
            Some(2)
        );
        session.ensure_selected(&archive, true).await.unwrap();
        let missing = MailboxName::try_from("Nope").unwrap();
        assert!(session.ensure_selected(&missing, true).await.is_err());
        assert!(
            session.selected().is_none(),
            "a failed SELECT leaves nothing selected"
        );
    }
    let commands = dovecot.commands("alice");
    let selects: Vec<&String> = commands
        .iter()
        .filter(|c| c.starts_with("EXAMINE") || c.starts_with("SELECT"))
        .collect();
    assert_eq!(
        selects.len(),
        3,
        "one EXAMINE per mailbox change: {selects:?}"
    );
    assert_eq!(dovecot.sessions_opened("alice"), 1);
}

#[tokio::test]
async fn idle_pools_are_evicted_and_logged_out() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.pool_idle_ttl = Duration::from_millis(200);
    let gateway = Gateway::start(config).await;
    assert_eq!(
        gateway.get("/v1/mailboxes", &Auth::alice()).await.status,
        200
    );
    assert_eq!(gateway.state.pools.stats().pools, 1);
    // The background evictor (every idle TTL, at most 30 s) drops the unused pool.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while gateway.state.pools.stats().pools > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gateway.state.pools.stats(), Default::default());
    while !dovecot.commands("alice").iter().any(|c| c == "LOGOUT")
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(dovecot.commands("alice").iter().any(|c| c == "LOGOUT"));
}

#[tokio::test]
async fn a_request_cancelled_mid_command_keeps_its_session() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    // One session: the next request waits for the one being finished.
    config.max_sessions_per_user = 1;
    let gateway = Gateway::start(config).await;
    assert_eq!(
        gateway.get("/v1/mailboxes", &Auth::alice()).await.status,
        200
    );
    dovecot.signal_sessions("alice", "STOP");
    // The client gives up while the gateway waits for IMAP: hyper drops the handler
    // future in the middle of the command.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let result = impatient
        .get(format!("{}/v1/mailboxes", gateway.base))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await;
    assert!(result.is_err(), "the request was cut off");
    tokio::time::sleep(Duration::from_millis(100)).await;
    dovecot.signal_sessions("alice", "CONT");
    // The gateway reads the cut-off command's answer to its end in the background
    // and gives the session back: the next request uses it, without a new LOGIN.
    assert_eq!(
        gateway.get("/v1/mailboxes", &Auth::alice()).await.status,
        200
    );
    assert_eq!(dovecot.sessions_opened("alice"), 1);
    let metrics = reqwest::get(format!("{}/metrics", gateway.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"imap_cancelled_commands_total{outcome="recovered"}"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_cancelled_requests_causes_no_login_storm() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.max_sessions_per_user = 4;
    let gateway = std::sync::Arc::new(Gateway::start(config).await);
    let page = "/v1/mailboxes/INBOX/messages?limit=5";
    // Warm four sessions with INBOX selected.
    let warm: Vec<_> = (0..8)
        .map(|_| {
            let gateway = gateway.clone();
            tokio::spawn(async move { gateway.get(page, &Auth::alice()).await.status })
        })
        .collect();
    for task in warm {
        assert_eq!(task.await.unwrap(), 200);
    }
    let opened = dovecot.sessions_opened("alice");
    assert!(opened <= 4, "{opened} sessions");
    // Every session stalls mid-FETCH; 50 clients give up and disconnect.
    dovecot.signal_sessions("alice", "STOP");
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let cancelled = futures::future::join_all((0..50).map(|_| {
        impatient
            .get(format!("{}{page}", gateway.base))
            .basic_auth("alice", Some("alice-pw"))
            .send()
    }))
    .await;
    assert!(cancelled.iter().all(Result::is_err), "all 50 were cut off");
    dovecot.signal_sessions("alice", "CONT");
    // The next requests are served by the same sessions: no new session, no LOGIN.
    for _ in 0..20 {
        gateway.get(page, &Auth::alice()).await.ok(200);
    }
    assert_eq!(dovecot.sessions_opened("alice"), opened);
}

#[tokio::test]
async fn idle_sessions_are_checked_with_a_tagged_noop() {
    use imap_gateway::imap::{Backend, PoolSettings, SessionPools, Timeouts};
    let dovecot = dovecot();
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        command: Duration::from_secs(5),
    };
    let backend = Backend::new(dovecot.plain_url().parse().unwrap(), None, timeouts).unwrap();
    let pools = SessionPools::new(
        std::sync::Arc::new(backend),
        PoolSettings {
            per_identity: 2,
            global: 10,
            wait: Duration::from_secs(1),
            idle_ttl: Duration::from_secs(60),
            check_after: Duration::ZERO,
            create: Duration::from_secs(5),
            recheck: Duration::from_secs(60),
        },
    );
    drop(pools.get(&alice()).await.unwrap());
    drop(pools.get(&alice()).await.unwrap());
    let commands = dovecot.commands("alice");
    assert_eq!(
        commands.iter().filter(|c| *c == "NOOP").count(),
        1,
        "{commands:?}"
    );
    assert!(!commands.iter().any(|c| c == "CLOSE"));
    assert_eq!(dovecot.sessions_opened("alice"), 1);
}
