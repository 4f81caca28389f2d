//! Authentication and isolation under attack: forged and tampered tokens, one user's
//! token never reaching another's mail (also under concurrency), and secrets never
//! appearing in the logs at any level.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::process::GatewayProcess;
use common::{dovecot, Auth, Dovecot, Gateway, Options, SeedMessage, User, SECRET};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{json, Value};

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// The claims of a token, decoded without verification.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Signs `claims` with HS256 under the gateway's real signing key: what an attacker
/// who somehow had the key could do. The sealed credential must still stop them.
fn sign_with_real_key(claims: &Value) -> String {
    let key = imap_gateway::auth::token::signing_key(&SecretString::from(SECRET.to_owned()));
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(&key),
    )
    .unwrap()
}

fn unsigned(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    )
}

#[tokio::test]
async fn forged_tampered_and_misdirected_tokens_are_all_401() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let good = gateway.token("alice", "alice-pw", None).await;
    gateway
        .get("/v1/mailboxes", &Auth::Bearer(good.clone()))
        .await
        .ok(200);
    let claims = claims_of(&good);
    let signature = good.rsplit('.').next().unwrap().to_owned();
    let with = |field: &str, value: Value| {
        let mut changed = claims.clone();
        changed[field] = value;
        changed
    };
    let mut cred = URL_SAFE_NO_PAD
        .decode(claims["cred"].as_str().unwrap())
        .unwrap();
    let last = cred.len() - 1;
    cred[last] ^= 1;
    let flipped_cred = URL_SAFE_NO_PAD.encode(&cred);
    let other_key = EncodingKey::from_secret(b"not-the-gateway-key-not-the-gateway-key");

    let cases: Vec<(&str, String)> = vec![
        (
            "alg none, no signature",
            unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims, ""),
        ),
        (
            "alg none, original signature",
            unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims, &signature),
        ),
        (
            "signed with a different HMAC key",
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &other_key).unwrap(),
        ),
        ("HS512 under the real key", {
            let key =
                imap_gateway::auth::token::signing_key(&SecretString::from(SECRET.to_owned()));
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS512),
                &claims,
                &EncodingKey::from_secret(&key),
            )
            .unwrap()
        }),
        (
            "RS256 header over an HMAC signature (algorithm confusion)",
            unsigned(&json!({"alg": "RS256", "typ": "JWT"}), &claims, &signature),
        ),
        (
            "payload changed, signature kept",
            unsigned(
                &json!({"alg": "HS256", "typ": "JWT"}),
                &with("scope", json!("read write delete admin")),
                &signature,
            ),
        ),
        (
            "sub changed to bob, re-signed with the real key",
            sign_with_real_key(&with("sub", json!("bob"))),
        ),
        (
            "cred tampered, re-signed with the real key",
            sign_with_real_key(&with("cred", json!(flipped_cred))),
        ),
        (
            "jti changed (the credential is bound to it), re-signed",
            sign_with_real_key(&with("jti", json!("another-id"))),
        ),
        (
            "wrong audience, re-signed",
            sign_with_real_key(&with("aud", json!("imap://other.example:993"))),
        ),
        (
            "wrong issuer, re-signed",
            sign_with_real_key(&with("iss", json!("someone-else"))),
        ),
        (
            "expired an hour ago, re-signed",
            sign_with_real_key(&with("exp", json!(now() - 3600))),
        ),
        (
            "not valid for another hour, re-signed",
            sign_with_real_key(&with("nbf", json!(now() + 3600))),
        ),
        ("no exp claim, re-signed", {
            let mut missing = claims.clone();
            missing.as_object_mut().unwrap().remove("exp");
            sign_with_real_key(&missing)
        }),
        ("truncated", good[..good.len() - 10].to_owned()),
        ("two parts", good.rsplit_once('.').unwrap().0.to_owned()),
    ];
    for (label, token) in &cases {
        let reply = gateway
            .get("/v1/mailboxes", &Auth::Bearer(token.clone()))
            .await;
        assert_eq!(reply.status, 401, "{label}: {}", reply.text);
        reply.problem(401);
        assert!(
            reply.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("Bearer"),
            "{label}"
        );
    }
    // The sub-swapped token did not reach bob's mail, and nothing was logged in as bob.
    assert_eq!(dovecot.sessions_opened("bob"), 0);
    println!("{} forged or tampered tokens refused", cases.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_never_reach_each_others_mail_even_under_concurrency() {
    let dovecot = dovecot();
    let gateway = Arc::new(Gateway::start(common::config_for(&dovecot)).await);
    let alice = Auth::Bearer(gateway.token("alice", "alice-pw", None).await);
    let bob = Auth::Bearer(gateway.token("bob", "bob-pw", None).await);
    let mut tasks = Vec::new();
    for i in 0..120 {
        let gateway = gateway.clone();
        let (who, auth) = match i % 4 {
            0 => ("alice", alice.clone()),
            1 => ("bob", bob.clone()),
            2 => ("alice", Auth::alice()),
            _ => ("bob", Auth::bob()),
        };
        tasks.push(tokio::spawn(async move {
            let path = if i % 3 == 0 {
                "/v1/mailboxes?status=false"
            } else {
                "/v1/mailboxes/INBOX/messages"
            };
            (who, path, gateway.get(path, &auth).await)
        }));
    }
    for task in tasks {
        let (who, path, reply) = task.await.unwrap();
        let body = reply.ok(200).to_string();
        let (own, foreign) = if who == "alice" {
            (["Archive", "Hello"], ["Bob-Only", "For Bob"])
        } else {
            (["Bob-Only", "For Bob"], ["Archive", "Hello"])
        };
        let own_marker = if path.contains("messages") {
            own[1]
        } else {
            own[0]
        };
        assert!(body.contains(own_marker), "{who} {path}: {body}");
        assert!(
            foreign.iter().all(|m| !body.contains(m)),
            "{who} saw the other user's mail: {body}"
        );
    }
    // Cross-user paths are refused, not served from the other pool.
    gateway
        .get("/v1/mailboxes/Bob-Only", &alice)
        .await
        .problem(404);
    gateway
        .get("/v1/mailboxes/Archive", &bob)
        .await
        .problem(404);
    // Two identities, two separate pools: the sessions each user opened logged in as
    // that user only (rawlogs are per user).
    assert!(dovecot.sessions_opened("alice") >= 1 && dovecot.sessions_opened("bob") >= 1);
    assert_eq!(gateway.state.pools.stats().pools, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_token_or_message_body_is_logged_at_any_level() {
    const PASSWORD: &str = "Pw-9f8e7d6c5b4a-secret";
    const BODY_MARKER: &str = "BODY-MARKER-5c1e0f";
    const APPEND_MARKER: &str = "APPEND-MARKER-77ab3d";
    let dovecot = Dovecot::start(Options {
        users: vec![User::new("logged", PASSWORD).with_mailbox(
            "INBOX",
            vec![SeedMessage::text(
                "a@example.org",
                "logged@example.org",
                "Private",
                &format!("the body says {BODY_MARKER}"),
            )],
        )],
        ..Options::default()
    });
    for format in ["json", "pretty"] {
        let mut gateway = GatewayProcess::start(
            &dovecot.plain_url(),
            &[
                // Asking for async-imap explicitly must not turn its raw traffic on.
                ("RUST_LOG", "trace,async_imap=trace,imap_proto=trace"),
                ("IMAP_GATEWAY_LOG_FORMAT", format),
            ],
        )
        .await;
        let client = reqwest::Client::new();
        let base = &gateway.base;
        let token: Value = client
            .post(format!("{base}/v1/auth/token"))
            .json(&json!({"username": "logged", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        let message: Value = client
            .get(format!("{base}/v1/mailboxes/INBOX/messages/1"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(message.to_string().contains(BODY_MARKER));
        let raw = client
            .get(format!("{base}/v1/mailboxes/INBOX/messages/1/raw"))
            .basic_auth("logged", Some(PASSWORD))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(raw.contains(BODY_MARKER));
        let appended = client
            .post(format!("{base}/v1/mailboxes/INBOX/messages"))
            .bearer_auth(&token)
            .json(&json!({
                "from": "logged@example.org",
                "to": ["x@example.org"],
                "subject": "s",
                "text": format!("new {APPEND_MARKER}"),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(appended.status(), 201);
        // A wrong password and a bad token are logged as failures, without values.
        let wrong = client
            .get(format!("{base}/v1/mailboxes"))
            .basic_auth("logged", Some("Wrong-Guess-31337"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        gateway.stop();

        let logs = gateway.logs();
        assert!(
            logs.contains("imap command") && logs.contains("request"),
            "debug events were logged: {logs}"
        );
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("logged:{PASSWORD}"));
        let claims = claims_of(&token);
        let secrets = [
            ("password", PASSWORD.to_owned()),
            ("wrong password", "Wrong-Guess-31337".to_owned()),
            ("Basic credentials", basic),
            ("token", token.clone()),
            (
                "token signature",
                token.rsplit('.').next().unwrap().to_owned(),
            ),
            (
                "sealed credential",
                claims["cred"].as_str().unwrap().to_owned(),
            ),
            ("message body", BODY_MARKER.to_owned()),
            ("appended body", APPEND_MARKER.to_owned()),
            ("server secret", SECRET.to_owned()),
        ];
        for (what, value) in secrets {
            if std::env::var("SHOW_LEAKS").is_ok() {
                for line in logs.lines().filter(|l| l.contains(&value)) {
                    eprintln!("LEAK {what}: {}", &line[..line.len().min(400)]);
                }
            }
            assert!(
                !logs.contains(&value),
                "{format} logs at trace contain the {what}"
            );
        }
        println!(
            "{format}: {} log lines at trace, none with a secret",
            logs.lines().count()
        );
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}
