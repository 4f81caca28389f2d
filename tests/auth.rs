//! Authentication against a real Dovecot: tokens, Basic, scopes, throttling, TLS
//! backends and the service endpoints.

mod common;

use std::time::Duration;

use common::{dovecot, Auth, Gateway, SECRET};
use imap_gateway::auth::{Scopes, TokenService, TrustedProxies};
use imap_gateway::imap::{Identity, Username};
use secrecy::SecretString;
use serde_json::json;

fn challenges(reply: &common::Reply) -> Vec<String> {
    reply
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn tokens_are_issued_for_valid_credentials_and_work_as_bearer() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let reply = gateway
        .post(
            "/v1/auth/token",
            &Auth::None,
            json!({"username": "alice", "password": "alice-pw"}),
        )
        .await;
    let body = reply.ok(200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read write delete");
    assert_eq!(reply.headers["cache-control"], "no-store");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert!(!token.contains("alice-pw"));
    let names = gateway.mailbox_names(&Auth::Bearer(token)).await;
    assert!(names.contains(&"Archive".to_owned()));
    // The LOGIN that checked the password left its session in the pool.
    assert_eq!(dovecot.sessions_opened("alice"), 1);

    let narrow = gateway
        .post(
            "/v1/auth/token",
            &Auth::None,
            json!({"username": "alice", "password": "alice-pw", "scope": "read", "ttl_seconds": 60}),
        )
        .await;
    assert_eq!(narrow.ok(200)["scope"], "read");
    assert_eq!(narrow.body["expires_in"], 60);
    // Malformed values are 400; well-formed ones out of range are 422 (README, Errors).
    for (bad, status) in [
        (
            json!({"username": "alice", "password": "alice-pw", "scope": "admin"}),
            400,
        ),
        (
            json!({"username": "alice", "password": "alice-pw", "ttl_seconds": 7200}),
            422,
        ),
        (
            json!({"username": "alice", "password": "alice-pw", "ttl_seconds": 0}),
            422,
        ),
        (json!({"username": "", "password": "alice-pw"}), 400),
        // Exactly one credential (issue 23, observation 8: this answered 501).
        (
            json!({"username": "alice", "password": "alice-pw", "access_token": "ya29.a0"}),
            422,
        ),
        (json!({"username": "a\r\nb", "password": "alice-pw"}), 400),
    ] {
        gateway
            .post("/v1/auth/token", &Auth::None, bad)
            .await
            .problem(status);
    }
}

/// Observation 1 of issue 23: with a warm pool, the token endpoint answered 200 for an
/// old password. It logs in afresh every time, so a changed password is refused at
/// once (and the refusal drops the old credential's pool, so Basic with it stops too).
#[tokio::test(flavor = "multi_thread")]
async fn the_token_endpoint_proves_the_password_afresh() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    gateway
        .get("/v1/mailboxes/INBOX", &Auth::alice())
        .await
        .ok(200);
    gateway.token("alice", "alice-pw", None).await;
    // Two sessions opened: the first request's, and the token request's own LOGIN
    // (its session took the idle one's place).
    assert_eq!(dovecot.sessions_opened("alice"), 2);
    tokio::task::block_in_place(|| dovecot.set_password("alice", "new-pw"));
    let refused = gateway
        .post(
            "/v1/auth/token",
            &Auth::None,
            json!({"username": "alice", "password": "alice-pw"}),
        )
        .await;
    assert_eq!(
        refused.problem(401)["type"],
        "urn:imap-gateway:problem:unauthorized"
    );
    assert_eq!(
        gateway.state.pools.stats().sessions,
        0,
        "old sessions dropped"
    );
    gateway
        .get("/v1/mailboxes/INBOX", &Auth::alice())
        .await
        .problem(401);
    gateway
        .get("/v1/mailboxes/INBOX", &Auth::Basic("alice", "new-pw"))
        .await
        .ok(200);
}

/// Within the recheck interval a warm pool serves without a LOGIN per request; past
/// it, the next checkout logs in once (not once per idle session) and the session it
/// opens takes the old one's place.
#[tokio::test(flavor = "multi_thread")]
async fn a_pool_re_proves_its_credential_once_per_interval() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.credential_recheck = Duration::from_millis(500);
    let gateway = Gateway::start(config).await;
    let token = Auth::Bearer(gateway.token("alice", "alice-pw", None).await);
    let parallel = futures::future::join_all(
        (0..3).map(|_| gateway.get("/v1/mailboxes/INBOX/messages", &token)),
    )
    .await;
    for reply in &parallel {
        reply.ok(200);
    }
    let opened = dovecot.sessions_opened("alice");
    gateway.get("/v1/mailboxes/INBOX", &token).await.ok(200);
    assert_eq!(
        dovecot.sessions_opened("alice"),
        opened,
        "no LOGIN within the interval"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let pooled = gateway.state.pools.stats().sessions;
    let again = futures::future::join_all(
        (0..3).map(|_| gateway.get("/v1/mailboxes/INBOX/messages", &token)),
    )
    .await;
    for reply in &again {
        reply.ok(200);
    }
    // Logins now: the one that re-proved the credential, plus one per session the
    // burst had to add (the re-proving one took an old session's place).
    let added = gateway.state.pools.stats().sessions - pooled;
    assert_eq!(
        dovecot.sessions_opened("alice"),
        opened + 1 + added,
        "one fresh LOGIN proves the credential for every session of the pool"
    );
}

#[tokio::test]
async fn wrong_missing_expired_and_forged_credentials_get_401() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let wrong = gateway
        .post(
            "/v1/auth/token",
            &Auth::None,
            json!({"username": "alice", "password": "nope"}),
        )
        .await;
    wrong.problem(401);
    assert!(!wrong.text.contains("nope"));
    let basic_wrong = gateway
        .get("/v1/mailboxes", &Auth::Basic("alice", "nope"))
        .await;
    basic_wrong.problem(401);
    let offered = challenges(&basic_wrong);
    assert!(
        offered.iter().any(|c| c.starts_with("Bearer")),
        "{offered:?}"
    );
    assert!(
        offered.iter().any(|c| c.starts_with("Basic")),
        "{offered:?}"
    );
    gateway
        .get("/v1/mailboxes", &Auth::Basic("nobody", "x"))
        .await
        .problem(401);
    gateway.get("/v1/mailboxes", &Auth::None).await.problem(401);
    for raw in [
        "Bearer",
        "Bearer not.a.jwt",
        "Basic !!!",
        "Basic YWxpY2U=",
        "Digest abc",
        "garbage",
    ] {
        let reply = gateway
            .get("/v1/mailboxes", &Auth::Raw(raw.to_owned()))
            .await;
        reply.problem(401);
        assert!(!challenges(&reply).is_empty(), "{raw}");
    }
    // Expired: minted with the gateway's own secret and audience, an hour ago.
    let audience = gateway.state.config.imap_url.to_string();
    let service = TokenService::new(&SecretString::from(SECRET.to_owned()), audience.clone());
    let alice = Identity::new(
        Username::try_from("alice").unwrap(),
        SecretString::from("alice-pw".to_owned()),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired = service.issue_at(&alice, Scopes::ALL, now - 7200, Duration::from_secs(60));
    let reply = gateway
        .get("/v1/mailboxes", &Auth::Bearer(expired.access_token))
        .await;
    assert!(reply.problem(401)["detail"]
        .as_str()
        .unwrap()
        .contains("expired"));
    assert!(challenges(&reply)[0].contains("invalid_token"));
    // Forged: another secret; tampered: a changed payload.
    let other = TokenService::new(
        &SecretString::from("a-completely-different-secret-0123456789".to_owned()),
        audience,
    );
    let forged = other.issue(&alice, Scopes::ALL, Duration::from_secs(60));
    gateway
        .get("/v1/mailboxes", &Auth::Bearer(forged.access_token))
        .await
        .problem(401);
    let good = gateway.token("alice", "alice-pw", Some("read")).await;
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged_payload = {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: serde_json::Value =
            serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
        claims["scope"] = "read write delete".into();
        engine.encode(serde_json::to_vec(&claims).unwrap())
    };
    parts[1] = &forged_payload;
    let tampered = gateway
        .delete("/v1/mailboxes/Archive", &Auth::Bearer(parts.join(".")))
        .await;
    tampered.problem(401);
    assert!(dovecot.mailbox_exists("alice", "Archive"));
}

#[tokio::test]
async fn scopes_are_enforced() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let read = Auth::Bearer(gateway.token("alice", "alice-pw", Some("read")).await);
    let write = Auth::Bearer(gateway.token("alice", "alice-pw", Some("read write")).await);
    assert_eq!(gateway.get("/v1/mailboxes", &read).await.status, 200);
    gateway
        .post("/v1/mailboxes", &read, json!({"name": "New"}))
        .await
        .problem(403);
    gateway
        .patch("/v1/mailboxes/Archive", &read, json!({"subscribed": true}))
        .await
        .problem(403);
    gateway
        .delete("/v1/mailboxes/Archive", &read)
        .await
        .problem(403);
    gateway
        .delete("/v1/mailboxes/Archive", &write)
        .await
        .problem(403);
    assert!(dovecot.mailbox_exists("alice", "Archive") && !dovecot.mailbox_exists("alice", "New"));
    assert_eq!(
        gateway
            .post("/v1/mailboxes", &write, json!({"name": "New"}))
            .await
            .status,
        201
    );
    let write_only = Auth::Bearer(gateway.token("alice", "alice-pw", Some("write")).await);
    gateway.get("/v1/mailboxes", &write_only).await.problem(403);
    let all = Auth::Bearer(gateway.token("alice", "alice-pw", None).await);
    assert_eq!(gateway.delete("/v1/mailboxes/New", &all).await.status, 204);
}

/// Waits until Dovecot has logged `expected` failed logins (it logs them a moment after
/// answering), then checks no more arrive: throttled attempts must never reach it.
async fn assert_failed_logins_at_server(dovecot: &common::Dovecot, expected: usize) {
    let failures = || dovecot.logs().matches("(auth failed").count();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while failures() < expected && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(failures(), expected, "{}", dovecot.logs());
}

#[tokio::test]
async fn failed_logins_are_throttled_per_user_and_per_client() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.login_failures_per_user = 3;
    config.login_failures_per_client = 5;
    let gateway = Gateway::start(config).await;
    for _ in 0..3 {
        gateway
            .get("/v1/mailboxes", &Auth::Basic("alice", "guess"))
            .await
            .problem(401);
    }
    let blocked = gateway
        .get("/v1/mailboxes", &Auth::Basic("alice", "guess"))
        .await;
    blocked.problem(429);
    let retry: u64 = blocked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    // Even the right password waits: otherwise the 429 would only slow guessing.
    gateway
        .get("/v1/mailboxes", &Auth::alice())
        .await
        .problem(429);
    gateway
        .post(
            "/v1/auth/token",
            &Auth::None,
            json!({"username": "alice", "password": "alice-pw"}),
        )
        .await
        .problem(429);
    // Other users are fine until this client address runs out too.
    assert_eq!(gateway.get("/v1/mailboxes", &Auth::bob()).await.status, 200);
    for _ in 0..2 {
        gateway
            .get("/v1/mailboxes", &Auth::Basic("carol", "guess"))
            .await
            .problem(401);
    }
    gateway
        .get("/v1/mailboxes", &Auth::Basic("dave", "guess"))
        .await
        .problem(429);
    // Exactly the 5 failed logins reached the server; the refused ones never did.
    assert_failed_logins_at_server(&dovecot, 5).await;
}

/// Status of a GET /v1/mailboxes as `auth`, arriving with `X-Forwarded-For: forwarded`.
async fn status_forwarded(gateway: &Gateway, auth: &Auth, forwarded: &str) -> u16 {
    let (status, _, _) = gateway
        .get_bytes("/v1/mailboxes", auth, &[("x-forwarded-for", forwarded)])
        .await;
    status.as_u16()
}

#[tokio::test]
async fn forwarded_client_addresses_count_only_behind_trusted_proxies() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.login_failures_per_user = 100;
    config.login_failures_per_client = 3;

    // By default the header is ignored: a forged address per guess does not get
    // around the limit of the connection's own address.
    let direct = Gateway::start(config.clone()).await;
    for (i, user) in ["carol", "dave", "erin"].into_iter().enumerate() {
        let forged = format!("203.0.113.{i}");
        assert_eq!(
            status_forwarded(&direct, &Auth::Basic(user, "guess"), &forged).await,
            401
        );
    }
    assert_eq!(
        status_forwarded(&direct, &Auth::alice(), "203.0.113.99").await,
        429
    );

    // Behind a trusted proxy (the test's own loopback address), each forwarded client
    // has its own limit, and the address the proxy appended counts, not what the
    // client wrote before it.
    config.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
    let proxied = Gateway::start(config).await;
    for user in ["carol", "dave", "erin"] {
        assert_eq!(
            status_forwarded(&proxied, &Auth::Basic(user, "guess"), "198.51.100.7").await,
            401
        );
    }
    assert_eq!(
        status_forwarded(&proxied, &Auth::alice(), "198.51.100.7").await,
        429
    );
    assert_eq!(
        status_forwarded(&proxied, &Auth::alice(), "198.51.100.8, 198.51.100.7").await,
        429,
        "a client cannot pick its address by writing one before the proxy's entry"
    );
    assert_eq!(
        status_forwarded(&proxied, &Auth::bob(), "198.51.100.8").await,
        200,
        "another client behind the same proxy is not affected"
    );
    // The 6 refused guesses reached the server; the 429s never did.
    assert_failed_logins_at_server(&dovecot, 6).await;
}

#[tokio::test]
async fn tokens_work_across_gateway_instances_with_the_same_secret() {
    let dovecot = dovecot();
    let first = Gateway::start(common::config_for(&dovecot)).await;
    let second = Gateway::start(common::config_for(&dovecot)).await;
    let token = first.token("bob", "bob-pw", None).await;
    assert!(second
        .mailbox_names(&Auth::Bearer(token.clone()))
        .await
        .contains(&"Bob-Only".to_owned()));
    let mut other_config = common::config_for(&dovecot);
    other_config.secret = SecretString::from("another-secret-another-secret-another".to_owned());
    let third = Gateway::start(other_config).await;
    third
        .get("/v1/mailboxes", &Auth::Bearer(token))
        .await
        .problem(401);
}

#[tokio::test]
async fn basic_auth_can_be_disabled() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.basic_auth = false;
    let gateway = Gateway::start(config).await;
    let reply = gateway.get("/v1/mailboxes", &Auth::alice()).await;
    reply.problem(401);
    let offered = challenges(&reply);
    assert_eq!(offered.len(), 1, "{offered:?}");
    assert!(offered[0].starts_with("Bearer"));
    let token = gateway.token("alice", "alice-pw", None).await;
    assert_eq!(
        gateway
            .get("/v1/mailboxes", &Auth::Bearer(token))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn non_ascii_passwords_use_authenticate_plain() {
    let dovecot = common::Dovecot::start(common::Options {
        users: vec![common::User::new("juergen", "pässwörd-ß")],
        ..common::Options::default()
    });
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let names = gateway
        .mailbox_names(&Auth::Basic("juergen", "pässwörd-ß"))
        .await;
    assert!(names.contains(&"INBOX".to_owned()));
    gateway
        .get("/v1/mailboxes", &Auth::Basic("juergen", "passwort"))
        .await
        .problem(401);
}

#[tokio::test]
async fn tls_backends_are_verified() {
    let dovecot = dovecot();
    for url in [dovecot.imaps_url(), dovecot.starttls_url()] {
        let mut config = imap_gateway::config::Config::new(url.parse().unwrap(), SECRET);
        config.imap_ca_file = Some(dovecot.ca_file());
        let gateway = Gateway::start(config).await;
        let names = gateway.mailbox_names(&Auth::alice()).await;
        assert!(names.contains(&"Archive".to_owned()), "{url}");
        assert_eq!(
            gateway.get("/readyz", &Auth::None).await.status,
            200,
            "{url}"
        );
        // Without trusting the test CA the handshake fails: 502, never a silent downgrade.
        let untrusted = Gateway::start(imap_gateway::config::Config::new(
            url.parse().unwrap(),
            SECRET,
        ))
        .await;
        untrusted
            .get("/v1/mailboxes", &Auth::alice())
            .await
            .problem(502);
        untrusted.get("/readyz", &Auth::None).await.problem(503);
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.readiness_interval = Duration::from_millis(200);
    let gateway = Gateway::start(config).await;
    assert_eq!(
        gateway.get("/healthz", &Auth::None).await.ok(200)["status"],
        "ok"
    );
    assert_eq!(
        gateway.get("/readyz", &Auth::None).await.ok(200)["status"],
        "ready"
    );
    drop(dovecot);
    // Until the probe interval has passed, the last probe's answer stands.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let down = gateway.get("/readyz", &Auth::None).await;
    assert_eq!(
        down.problem(503)["type"],
        "urn:imap-gateway:problem:unavailable"
    );
    assert!(down.headers.contains_key("retry-after"));
    assert_eq!(gateway.get("/healthz", &Auth::None).await.status, 200);
}

/// Observation 2 of issue 23: 300 anonymous `/readyz` calls opened 300 IMAP
/// connections. Now they share one probe per interval, whatever the rate.
#[tokio::test(flavor = "multi_thread")]
async fn anonymous_readiness_calls_cost_the_imap_server_one_connection() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let greetings_before = dovecot.logs().matches("no auth attempts").count();
    let calls = futures::future::join_all((0..300).map(|_| gateway.get("/readyz", &Auth::None)));
    for reply in calls.await {
        assert_eq!(reply.ok(200)["status"], "ready");
    }
    // Dovecot logs each connection that closes without a login when it closes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let probes = dovecot.logs().matches("no auth attempts").count() - greetings_before;
    assert_eq!(probes, 1, "{}", dovecot.logs());
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.cors_origins = vec!["https://mail.example.org".to_owned()];
    let gateway = Gateway::start(config).await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/mailboxes", gateway.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://mail.example.org").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://mail.example.org"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let simple = client
        .get(format!("{}/v1/mailboxes", gateway.base))
        .header("origin", "https://mail.example.org")
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(simple.status(), 200);
    let exposed = simple.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for header in [
        "x-request-id",
        "etag",
        "content-disposition",
        "content-range",
        "location",
        "retry-after",
        "www-authenticate",
    ] {
        assert!(exposed.contains(header), "{header} not exposed: {exposed}");
    }
    // Metrics are not for web pages, whatever the API allows.
    let metrics = client
        .get(format!("{}/metrics", gateway.base))
        .header("origin", "https://mail.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 403);
    let metrics = client
        .get(format!("{}/metrics", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
}

#[tokio::test]
async fn metrics_can_require_a_bearer_token() {
    let dovecot = dovecot();
    let mut config = common::config_for(&dovecot);
    config.metrics_token = Some(secrecy::SecretString::from(
        "scrape-token-0123456789".to_owned(),
    ));
    let gateway = Gateway::start(config).await;
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", gateway.base);
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = client
        .get(&url)
        .bearer_auth("scrape-token-0123456788")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client
        .get(&url)
        .bearer_auth("scrape-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(right.text().await.unwrap().contains("http_requests_total"));
}
