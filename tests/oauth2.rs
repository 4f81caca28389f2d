//! OAuth2 sign-in against Dovecot's `oauth2` passdb, which checks every access token
//! with an RFC 7662 introspection endpoint the harness serves on loopback (it knows
//! which tokens are valid, for whom and until when). Dovecot logs the SASL mechanism
//! of every login (`method=OAUTHBEARER`), which shows which one the gateway chose.

mod common;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::process::GatewayProcess;
use common::{standard_users, Auth, Gateway};
use dovecot_harness::oauth::Introspection;
use dovecot_harness::sink::SmtpSink;
use dovecot_harness::{Dovecot, OAuth2, Options};
use imap_gateway::config::Config;
use serde_json::{json, Value};

const HOUR: Duration = Duration::from_secs(3600);

/// Bind every field by name: `let Setup { gateway, .. } = ...` would drop Dovecot.
struct Setup {
    introspection: Introspection,
    dovecot: Dovecot,
    gateway: Gateway,
}

fn dovecot_with(introspection: &Introspection, mechanisms: &str, sink: Option<u16>) -> Dovecot {
    Dovecot::start(Options {
        users: standard_users(),
        oauth2: Some(OAuth2 {
            introspection_url: introspection.url(),
            mechanisms: mechanisms.to_owned(),
        }),
        submission_relay: sink,
        ..Options::default()
    })
}

async fn setup_with(mechanisms: &str, configure: impl FnOnce(&mut Config)) -> Setup {
    let introspection = Introspection::start();
    let dovecot = dovecot_with(&introspection, mechanisms, None);
    let mut config = common::config_for(&dovecot);
    configure(&mut config);
    let gateway = Gateway::start(config).await;
    Setup {
        introspection,
        dovecot,
        gateway,
    }
}

async fn exchange(gateway: &Gateway, body: Value) -> common::Reply {
    gateway.post("/v1/auth/token", &Auth::None, body).await
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The SASL mechanisms of the successful logins Dovecot logged for `user`, in order.
fn login_methods(dovecot: &Dovecot, service: &str, user: &str) -> Vec<String> {
    dovecot
        .logs()
        .lines()
        .filter(|l| l.contains(&format!("{service}: Info: Login: user=<{user}>")))
        .filter_map(|l| l.split("method=").nth(1))
        .map(|rest| rest.split([',', ' ']).next().unwrap_or_default().to_owned())
        .collect()
}

/// Asserts the answer for a refused access token: 401, its own problem type, the
/// RFC 6750 challenge that tells a client to get a new token, and no token text.
#[track_caller]
fn assert_token_rejected(reply: &common::Reply, access_token: &str) {
    let problem = reply.problem(401);
    assert_eq!(
        problem["type"], "urn:imap-gateway:problem:oauth2-token-rejected",
        "{problem}"
    );
    let challenges: Vec<&str> = reply
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        challenges.contains(&"Bearer realm=\"imap-gateway\", error=\"invalid_token\""),
        "{challenges:?}"
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("new access token"), "{detail}");
    assert!(!reply.text.contains(access_token), "the token is echoed");
}

#[tokio::test]
async fn an_access_token_signs_in_with_oauthbearer_and_its_sessions_are_pooled() {
    let Setup {
        introspection,
        dovecot,
        gateway,
    } = setup_with("oauthbearer xoauth2", |_| {}).await;
    let access_token = introspection.issue("alice", HOUR);
    let reply = exchange(
        &gateway,
        json!({"username": "alice", "access_token": access_token, "expires_in": 120, "scope": "read"}),
    )
    .await;
    let body = reply.ok(200);
    // The gateway token never outlives the access token.
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["scope"], "read");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&token);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        120
    );
    assert_eq!(claims["cred_type"], "oauth2");
    assert!(!token.contains(&access_token) && !claims.to_string().contains(&access_token));
    assert_eq!(
        login_methods(&dovecot, "imap-login", "alice"),
        ["OAUTHBEARER"]
    );
    assert_eq!(introspection.asked(), std::slice::from_ref(&access_token));

    // The gateway token works, on the session the exchange opened: no new login.
    let bearer = Auth::Bearer(token.clone());
    for _ in 0..3 {
        let names = gateway.mailbox_names(&bearer).await;
        assert!(names.contains(&"Archive".to_owned()), "{names:?}");
    }
    assert_eq!(introspection.requests(), 1, "pooled sessions are reused");
    assert_eq!(dovecot.sessions_opened("alice"), 1);
    // Scopes hold as for a password token.
    gateway
        .post("/v1/mailboxes", &bearer, json!({"name": "Nope"}))
        .await
        .problem(403);

    // A second access token for the same user is another identity with its own pool.
    let refreshed = introspection.issue("alice", HOUR);
    let second = exchange(
        &gateway,
        json!({"username": "alice", "access_token": refreshed, "expires_in": 3599}),
    )
    .await;
    let second = second.ok(200)["access_token"].as_str().unwrap().to_owned();
    assert_eq!(gateway.state.pools.stats().pools, 2);
    gateway.mailbox_names(&Auth::Bearer(second)).await;
    assert_eq!(introspection.requests(), 2);
    // Password sign-in works beside it (default IMAP_GATEWAY_AUTH_MECHANISMS).
    gateway.mailbox_names(&Auth::alice()).await;
    assert_eq!(
        login_methods(&dovecot, "imap-login", "alice"),
        ["OAUTHBEARER", "OAUTHBEARER", "PLAIN"]
    );
}

#[tokio::test]
async fn xoauth2_is_used_when_the_server_offers_only_it_also_after_starttls_and_for_long_tokens() {
    let introspection = Introspection::start();
    let dovecot = dovecot_with(&introspection, "xoauth2", None);
    // STARTTLS: the capabilities come from a CAPABILITY command after TLS.
    let mut config = common::config_for(&dovecot);
    config.imap_url = dovecot.starttls_url().parse().unwrap();
    config.imap_ca_file = Some(dovecot.ca_file());
    let gateway = Gateway::start(config).await;

    let short = introspection.issue("alice", HOUR);
    // Longer than a SASL-IR line the gateway sends: goes in a continuation instead.
    let long = format!("eyJ0eXAiOiJKV1Qi.{}.sig", "A".repeat(3000));
    introspection.register(&long, "alice", HOUR);
    for access_token in [&short, &long] {
        let reply = exchange(
            &gateway,
            json!({"username": "alice", "access_token": access_token}),
        )
        .await;
        let token = reply.ok(200)["access_token"].as_str().unwrap().to_owned();
        let names = gateway.mailbox_names(&Auth::Bearer(token)).await;
        assert!(names.contains(&"INBOX".to_owned()));
    }
    assert_eq!(
        login_methods(&dovecot, "imap-login", "alice"),
        ["XOAUTH2", "XOAUTH2"]
    );
    assert_eq!(introspection.asked(), [short, long]);
}

#[tokio::test]
async fn the_gateway_setting_limits_mechanisms_and_can_turn_passwords_off() {
    let Setup {
        introspection,
        dovecot,
        gateway,
    } = setup_with("oauthbearer xoauth2", |config| {
        config.auth_mechanisms = imap_gateway::sasl::Mechanisms::parse("xoauth2").unwrap();
    })
    .await;
    let access_token = introspection.issue("alice", HOUR);
    let reply = exchange(
        &gateway,
        json!({"username": "alice", "access_token": access_token}),
    )
    .await;
    let token = reply.ok(200)["access_token"].as_str().unwrap().to_owned();
    gateway.mailbox_names(&Auth::Bearer(token)).await;
    assert_eq!(login_methods(&dovecot, "imap-login", "alice"), ["XOAUTH2"]);

    // No password sign-in: Basic and the password exchange are refused before IMAP.
    let basic = gateway.get("/v1/mailboxes", &Auth::alice()).await;
    let problem = basic.problem(401);
    assert!(problem["detail"].as_str().unwrap().contains("disabled"));
    let password = exchange(
        &gateway,
        json!({"username": "alice", "password": "alice-pw"}),
    )
    .await;
    let problem = password.problem(422);
    assert_eq!(problem["errors"][0]["field"], "password");
    assert_eq!(login_methods(&dovecot, "imap-login", "alice"), ["XOAUTH2"]);
}

#[tokio::test]
async fn expired_revoked_and_foreign_tokens_answer_a_distinct_401_and_never_lock_the_user_out() {
    let Setup {
        introspection,
        dovecot,
        gateway,
    } = setup_with("oauthbearer xoauth2", |config| {
        config.login_failures_per_user = 2;
        config.login_failures_per_client = 100;
    })
    .await;
    let expired = introspection.issue_expired("alice");
    let revoked = introspection.issue("alice", HOUR);
    introspection.revoke(&revoked);
    let bobs = introspection.issue("bob", HOUR);
    let unknown = "ya29.never-issued".to_owned();
    for access_token in [&expired, &revoked, &bobs, &unknown] {
        let reply = exchange(
            &gateway,
            json!({"username": "alice", "access_token": access_token}),
        )
        .await;
        assert_token_rejected(&reply, access_token);
    }
    // A wrong password is the other 401: a different problem type.
    let wrong = exchange(&gateway, json!({"username": "alice", "password": "nope"})).await;
    assert_eq!(
        wrong.problem(401)["type"],
        "urn:imap-gateway:problem:unauthorized"
    );
    // Four refused tokens, more than the two failures a user name may have: they count
    // against the client address only, so alice can still sign in both ways.
    let valid = introspection.issue("alice", HOUR);
    exchange(
        &gateway,
        json!({"username": "alice", "access_token": valid}),
    )
    .await
    .ok(200);
    exchange(
        &gateway,
        json!({"username": "alice", "password": "alice-pw"}),
    )
    .await
    .ok(200);
    assert_eq!(
        gateway.state.pools.stats().pools,
        2,
        "failed identities keep no pool"
    );
    assert_eq!(dovecot.connections("alice"), 2);
}

#[tokio::test]
async fn refused_tokens_count_against_the_client_address() {
    let Setup {
        introspection,
        gateway,
        dovecot: _dovecot,
    } = setup_with("oauthbearer", |config| {
        config.login_failures_per_user = 100;
        config.login_failures_per_client = 3;
    })
    .await;
    for _ in 0..3 {
        let bad = introspection.issue_expired("alice");
        let reply = exchange(&gateway, json!({"username": "alice", "access_token": bad})).await;
        assert_token_rejected(&reply, &bad);
    }
    let asked = introspection.requests();
    let valid = introspection.issue("alice", HOUR);
    let reply = exchange(
        &gateway,
        json!({"username": "alice", "access_token": valid}),
    )
    .await;
    reply.problem(429);
    assert!(reply.headers.contains_key("retry-after"));
    assert_eq!(
        introspection.requests(),
        asked,
        "nothing reached the server"
    );
}

#[tokio::test]
async fn a_token_revoked_after_the_exchange_works_on_its_pooled_session_until_a_new_login() {
    let Setup {
        introspection,
        dovecot,
        gateway,
    } = setup_with("oauthbearer xoauth2", |_| {}).await;
    let access_token = introspection.issue("alice", HOUR);
    let reply = exchange(
        &gateway,
        json!({"username": "alice", "access_token": access_token}),
    )
    .await;
    let bearer = Auth::Bearer(reply.ok(200)["access_token"].as_str().unwrap().to_owned());
    introspection.revoke(&access_token);
    // IMAP checks a token at login only: the open session still answers.
    gateway.get("/v1/mailboxes", &bearer).await.ok(200);
    // Once the server ends the session, the next login with the revoked token fails
    // with the answer that tells the client to get a new token.
    dovecot.kick("alice");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = gateway.get("/v1/mailboxes", &bearer).await;
        if reply.status == 401 {
            assert_token_rejected(&reply, &access_token);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {}: {}",
            reply.status,
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sessions_of_an_expired_access_token_are_closed() {
    let Setup {
        introspection,
        dovecot,
        gateway,
    } = setup_with("oauthbearer", |_| {}).await;
    let short_lived = introspection.issue("alice", HOUR);
    let reply = exchange(
        &gateway,
        json!({"username": "alice", "access_token": short_lived, "expires_in": 2}),
    )
    .await;
    let body = reply.ok(200);
    assert_eq!(body["expires_in"], 2);
    let short = Auth::Bearer(body["access_token"].as_str().unwrap().to_owned());
    gateway.get("/v1/mailboxes", &short).await.ok(200);
    // The refreshed token's sessions stay.
    let refreshed = introspection.issue("alice", HOUR);
    let reply = exchange(
        &gateway,
        json!({"username": "alice", "access_token": refreshed}),
    )
    .await;
    let fresh = Auth::Bearer(reply.ok(200)["access_token"].as_str().unwrap().to_owned());
    assert_eq!(dovecot.connections("alice"), 2);
    // Its session is logged out once the token has expired (the evictor runs every 5 s).
    let deadline = Instant::now() + Duration::from_secs(12);
    while dovecot.connections("alice") != 1 {
        assert!(
            Instant::now() < deadline,
            "the expired token's session stays open"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(gateway.state.pools.stats().pools, 1);
    // The gateway token has expired with the access token (verification allows 5 s of
    // clock skew between instances).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let expired = gateway.get("/v1/mailboxes", &short).await;
    assert!(expired.problem(401)["detail"]
        .as_str()
        .unwrap()
        .contains("expired"));
    gateway.get("/v1/mailboxes", &fresh).await.ok(200);
}

#[tokio::test]
async fn an_authorisation_server_outage_is_a_503_not_a_refused_token() {
    let Setup {
        introspection,
        gateway,
        dovecot: _dovecot,
    } = setup_with("oauthbearer", |_| {}).await;
    let access_token = introspection.issue("alice", HOUR);
    introspection.set_down(true);
    let reply = exchange(
        &gateway,
        json!({"username": "alice", "access_token": access_token}),
    )
    .await;
    let problem = reply.problem(503);
    assert_eq!(problem["type"], "urn:imap-gateway:problem:backend-busy");
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    introspection.set_down(false);
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    exchange(
        &gateway,
        json!({"username": "alice", "access_token": access_token}),
    )
    .await
    .ok(200);
}

#[tokio::test]
async fn malformed_exchanges_are_refused_before_anything_reaches_the_server() {
    let Setup {
        introspection,
        gateway,
        dovecot: _dovecot,
    } = setup_with("oauthbearer xoauth2", |_| {}).await;
    let valid = introspection.issue("alice", HOUR);
    let cases = [
        (
            json!({"username": "alice", "access_token": "tok\r\nA1 LOGOUT"}),
            400,
            "access_token",
        ),
        (
            json!({"username": "alice", "access_token": "tok\u{1}auth=Bearer x"}),
            400,
            "access_token",
        ),
        (
            json!({"username": "alice", "access_token": "a b"}),
            400,
            "access_token",
        ),
        (
            json!({"username": "alice", "access_token": "x".repeat(5000)}),
            400,
            "access_token",
        ),
        (
            json!({"username": "al\r\nice", "access_token": valid}),
            400,
            "username",
        ),
        (
            json!({"username": "alice", "access_token": valid, "password": "alice-pw"}),
            422,
            "access_token",
        ),
        (json!({"username": "alice"}), 422, "password"),
        (
            json!({"username": "alice", "access_token": valid, "expires_in": 0}),
            422,
            "expires_in",
        ),
        (
            json!({"username": "alice", "password": "alice-pw", "expires_in": 60}),
            422,
            "expires_in",
        ),
    ];
    for (body, status, field) in cases {
        let reply = exchange(&gateway, body.clone()).await;
        let problem = reply.problem(status);
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    // An expired JWT is refused from its own `exp`, without asking the server.
    let past = format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
        URL_SAFE_NO_PAD.encode(r#"{"exp":1000000000}"#)
    );
    let reply = exchange(&gateway, json!({"username": "alice", "access_token": past})).await;
    assert_token_rejected(&reply, &past);
    assert_eq!(introspection.requests(), 0);
}

#[tokio::test]
async fn sending_authenticates_to_smtp_with_the_access_token() {
    let introspection = Introspection::start();
    let sink = SmtpSink::start();
    let dovecot = dovecot_with(&introspection, "oauthbearer xoauth2", Some(sink.port));
    let mut config = common::config_for(&dovecot);
    config.smtp_url = Some(dovecot.submission_plain_url().parse().unwrap());
    let gateway = Gateway::start(config).await;
    let access_token = introspection.issue("alice", HOUR);
    let reply = exchange(
        &gateway,
        json!({"username": "alice", "access_token": access_token, "scope": "read write send"}),
    )
    .await;
    let bearer = Auth::Bearer(reply.ok(200)["access_token"].as_str().unwrap().to_owned());
    let message = json!({
        "from": "alice@example.org",
        "to": ["carol@example.org"],
        "subject": "Signed in with OAuth2",
        "text": "hello",
    });
    let sent = gateway.post("/v1/send", &bearer, message.clone()).await;
    assert_eq!(sent.ok(200)["accepted"], json!(["carol@example.org"]));
    assert_eq!(sink.received().len(), 1);
    assert_eq!(
        login_methods(&dovecot, "submission-login", "alice"),
        ["OAUTHBEARER"]
    );
    // Revoked at the provider: the pooled IMAP session still works, the submission
    // server refuses the token, and the client is told to get a new one.
    introspection.revoke(&access_token);
    let refused = gateway.post("/v1/send", &bearer, message).await;
    assert_token_rejected(&refused, &access_token);
    assert!(
        refused.text.contains("submission server"),
        "{}",
        refused.text
    );
    assert_eq!(sink.received().len(), 1, "nothing more was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_never_appear_in_logs_metrics_or_errors() {
    let introspection = Introspection::start();
    let dovecot = dovecot_with(&introspection, "oauthbearer xoauth2", None);
    let mut gateway = GatewayProcess::start(
        &dovecot.plain_url(),
        &[("RUST_LOG", "trace,async_imap=trace,imap_proto=trace")],
    )
    .await;
    let client = reqwest::Client::new();
    let base = gateway.base.clone();
    let good = introspection.issue("alice", HOUR);
    let refused = introspection.issue_expired("alice");
    let exchange = |access_token: String| {
        client
            .post(format!("{base}/v1/auth/token"))
            .json(&json!({"username": "alice", "access_token": access_token}))
            .send()
    };
    let issued: Value = exchange(good.clone()).await.unwrap().json().await.unwrap();
    let token = issued["access_token"].as_str().unwrap().to_owned();
    let listed = client
        .get(format!("{base}/v1/mailboxes"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let error = exchange(refused.clone()).await.unwrap();
    assert_eq!(error.status(), 401);
    let error = error.text().await.unwrap();
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("imap_logins_total"), "{metrics}");
    gateway.stop();
    let logs = gateway.logs();
    assert!(logs.contains("IMAP login rejected"), "{logs}");
    let sealed = claims_of(&token)["cred"].as_str().unwrap().to_owned();
    for (what, value) in [
        ("access token", &good),
        ("refused access token", &refused),
        ("gateway token", &token),
        ("sealed credential", &sealed),
    ] {
        for (place, text) in [("logs", &logs), ("metrics", &metrics), ("error", &error)] {
            assert!(
                !text.contains(value.as_str()),
                "the {what} is in the {place}"
            );
        }
    }
}
