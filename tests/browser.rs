//! The reference web inbox (`web/`) in real headless Chromium, on another origin than
//! the gateway: a page signs in, lists and reads mail (sanitised HTML in a sandboxed
//! frame), flags, saves a draft, moves and deletes, and receives a message another
//! client delivers through the browser's native EventSource (with an event ticket),
//! and, after the gateway restarts, the message delivered while it was down.
//! `tests/browser/driver.html` drives the inbox like a user and reports each step
//! here; afterwards the mail on the server is checked over raw IMAP.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use axum::extract::State;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::Gateway;
use dovecot_harness::raw::RawImap;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tower_http::services::ServeDir;

/// A step the page reported, and how to answer it.
type Step = (Value, oneshot::Sender<Value>);

async fn report(State(steps): State<mpsc::Sender<Step>>, Json(step): Json<Value>) -> Json<Value> {
    let (reply, answer) = oneshot::channel();
    if steps.send((step, reply)).await.is_err() {
        return Json(json!({}));
    }
    Json(answer.await.unwrap_or_default())
}

/// Chromium, which `scripts/ensure-deps.sh` installs for the tests.
fn chromium() -> &'static str {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(candidate).exists() {
            return candidate;
        }
    }
    panic!(
        "the browser test needs Chromium: run scripts/test.sh as root, or \
         `apt-get install --no-install-recommends chromium`"
    );
}

const HOSTILE: &str = "From: Mallory <mallory@example.org>\r\nTo: alice@example.org\r\n\
    Subject: Hostile\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
    <p onmouseover=\"steal()\">Dear user<script>parent.document.title='owned'</script></p>\
    <img src=x onerror=\"parent.document.title='owned'\">\
    <img src=\"https://tracker.example/open.gif\"><a href=\"javascript:alert(1)\">click</a>\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reference_inbox_works_in_chromium_from_another_origin() {
    let chromium = chromium();
    let dovecot = common::dovecot();
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    raw.append_message("INBOX", "", HOSTILE.as_bytes()).await;

    // The page's origin: another port than the gateway's, so every call is CORS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_origin = format!("http://{}", listener.local_addr().unwrap());
    let mut config = common::config_for(&dovecot);
    config.cors_origins = vec![page_origin.clone()];
    let mut gateway = Some(Gateway::start(config.clone()).await);
    let base = gateway.as_ref().unwrap().base.clone();
    let gateway_addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let (steps, mut reported) = mpsc::channel::<Step>(8);
    let pages = Router::new()
        .nest_service(
            "/inbox",
            ServeDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/web")),
        )
        .route(
            "/driver.html",
            get(|| async { Html(include_str!("browser/driver.html")) }),
        )
        .route("/report", post(report))
        .with_state(steps);
    tokio::spawn(async move { axum::serve(listener, pages).await });

    // Another "gateway" that records the Authorization of every request it gets and
    // allows any origin, so a page that sent it the stored token would succeed.
    let elsewhere_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere = format!("http://{}", elsewhere_listener.local_addr().unwrap());
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let record = received.clone();
    let recorder = Router::new()
        .fallback(move |headers: axum::http::HeaderMap| {
            let record = record.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap_or("?").to_owned());
                record.lock().unwrap().push(auth.unwrap_or_default());
                Json(json!({}))
            }
        })
        .layer(tower_http::cors::CorsLayer::very_permissive());
    tokio::spawn(async move { axum::serve(elsewhere_listener, recorder).await });

    let profile = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let mut browser = Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!(
            "{page_origin}/driver.html?gateway={base}&elsewhere={elsewhere}"
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some((step, reply)) = reported.recv().await {
            match step["step"].as_str() {
                Some("append") => {
                    // Another client delivers a message while the page is open.
                    let mut other = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
                    other.append("INBOX", "Live arrival").await;
                    let _ = reply.send(json!({}));
                }
                Some("restart") => {
                    // The gateway goes down (its event streams end), a message is
                    // delivered meanwhile, and a gateway with the same secret comes
                    // back on the same address.
                    if let Some(running) = gateway.take() {
                        running.stop().await;
                    }
                    let mut other = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
                    other.append("INBOX", "While you were away").await;
                    gateway = Some(Gateway::start_at(config.clone(), gateway_addr).await);
                    let _ = reply.send(json!({}));
                }
                _ => {
                    let _ = reply.send(json!({}));
                    return step;
                }
            }
        }
        json!({"ok": false, "error": "the page stopped reporting"})
    })
    .await;
    let _ = browser.kill();
    let _ = browser.wait();
    let outcome = outcome.expect("the page did not finish within 120 s");
    eprintln!(
        "browser test: {:.1} s, steps {}",
        started.elapsed().as_secs_f64(),
        outcome["steps"]
    );
    assert_eq!(outcome["ok"], true, "{outcome:#}");

    let step = |name: &str| {
        outcome["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no step {name}: {outcome:#}"))
    };
    // Alice's INBOX: two unseen messages of the seed plus the hostile one.
    let signed_in = step("signed in");
    assert_eq!(signed_in["unread"], "3");
    // Only the sign-in form shows before, only the inbox after (no compose form).
    assert_eq!(signed_in["before"], json!({"app": false, "signin": true}));
    assert_eq!(
        signed_in["after"],
        json!({"app": true, "signin": false, "compose": false})
    );
    assert_eq!(step("listed")["rows"], 4);
    let read = step("read");
    assert_eq!(read["script"], false, "{read}");
    assert_eq!(read["tracker"], false, "{read}");
    assert_eq!(read["imagesNote"], true, "{read}");
    assert_eq!(
        read["sandbox"], "",
        "the frame has every sandbox restriction"
    );
    assert_eq!(read["seen"], true, "reading marks it seen");
    assert_eq!(
        read["titles"],
        json!(["inbox driver", "imap-gateway inbox"]),
        "the message's script did not run"
    );
    step("resumed");
    assert_eq!(outcome["error"], "", "the inbox showed an error");
    // Observation 9 of issue 23: `?gateway=` naming another origin made the page
    // call it with the stored Bearer token. Now it shows the sign-in form and sends
    // nothing there.
    assert_eq!(step("elsewhere")["signin"], true);
    let leaked: Vec<String> = received.lock().unwrap().clone();
    assert!(
        leaked.iter().all(|auth| auth.is_empty()),
        "the token went to another gateway: {leaked:?}"
    );

    // What changed on the server.
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    raw.ok("EXAMINE INBOX").await;
    assert!(raw.search("SUBJECT \"Hostile\"").await.is_empty());
    assert!(raw.search("SUBJECT \"Live arrival\"").await.is_empty());
    assert_eq!(raw.search("SUBJECT \"While you were away\"").await.len(), 1);
    raw.ok("EXAMINE Archive").await;
    assert_eq!(raw.search("SUBJECT \"Live arrival\"").await.len(), 1);
    raw.ok("EXAMINE Trash").await;
    let trashed = raw.search("SUBJECT \"Hostile\"").await;
    assert_eq!(trashed.len(), 1);
    let flags = raw.flags(trashed[0]).await;
    assert!(
        flags.contains("\\Flagged") && flags.contains("\\Seen"),
        "{flags}"
    );
    raw.ok("EXAMINE Drafts").await;
    let drafts = raw.search("SUBJECT \"Browser draft\" DRAFT").await;
    assert_eq!(drafts.len(), 1);
}
