//! Shared integration-test set-up: a real Dovecot per test (started by
//! `dovecot-harness`) and a gateway served on a free loopback port in-process.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::net::SocketAddr;

use base64::Engine as _;
use imap_gateway::config::Config;
use imap_gateway::imap::BackendUrl;
use imap_gateway::AppState;
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub mod corpus;
pub mod process;
pub mod sse;

pub use dovecot_harness::{Dovecot, Options, SeedMessage, User};

/// The server secret every test gateway uses (so tokens can be minted in tests).
pub const SECRET: &str = "integration-test-secret-0123456789abcdef";

/// alice: INBOX with three messages (one seen, one flagged), `Archive` with two,
/// `Entwürfe` and `Projects/2026` seeded by their modified UTF-7 names on disk.
/// bob: an INBOX with one message and a private `Bob-Only` mailbox.
pub fn standard_users() -> Vec<User> {
    vec![
        User::new("alice", "alice-pw")
            .with_mailbox(
                "INBOX",
                vec![
                    SeedMessage::text("carol@example.org", "alice@example.org", "Hello", "one")
                        .with_flags("S"),
                    SeedMessage::text("dave@example.org", "alice@example.org", "Invoice", "two")
                        .with_flags("F"),
                    SeedMessage::text("erin@example.org", "alice@example.org", "Lunch?", "three"),
                ],
            )
            .with_mailbox(
                "Archive",
                vec![
                    SeedMessage::text("a@example.org", "alice@example.org", "Old 1", "x")
                        .with_flags("S"),
                    SeedMessage::text("b@example.org", "alice@example.org", "Old 2", "y")
                        .with_flags("S"),
                ],
            )
            .with_mailbox("Entw&APw-rfe", Vec::new())
            .with_mailbox("Projects/2026", Vec::new()),
        User::new("bob", "bob-pw")
            .with_mailbox(
                "INBOX",
                vec![SeedMessage::text(
                    "x@example.org",
                    "bob@example.org",
                    "For Bob",
                    "b",
                )],
            )
            .with_mailbox("Bob-Only", Vec::new()),
    ]
}

/// Starts Dovecot with the standard users.
pub fn dovecot() -> Dovecot {
    Dovecot::start(Options {
        users: standard_users(),
        ..Options::default()
    })
}

/// A gateway configuration for `dovecot` over plain loopback IMAP.
pub fn config_for(dovecot: &Dovecot) -> Config {
    let url: BackendUrl = dovecot.plain_url().parse().unwrap();
    Config::new(url, SECRET)
}

/// How a test request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No Authorization header.
    None,
    /// `Authorization: Basic`.
    Basic(&'static str, &'static str),
    /// `Authorization: Bearer`.
    Bearer(String),
    /// A raw Authorization header value.
    Raw(String),
}

impl Auth {
    pub fn alice() -> Self {
        Self::Basic("alice", "alice-pw")
    }

    pub fn bob() -> Self {
        Self::Basic("bob", "bob-pw")
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// Asserts an RFC 9457 problem with `status`, and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.headers[CONTENT_TYPE], "application/problem+json",
            "problem responses are problem+json"
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:imap-gateway:problem:"));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        assert_eq!(
            self.body["request_id"].as_str(),
            self.headers["x-request-id"].to_str().ok(),
            "problem bodies carry the request id"
        );
        &self.body
    }

    /// Asserts `status` and returns the JSON body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        &self.body
    }
}

/// A gateway serving on a free loopback port until dropped (or [`Gateway::stop`]ped).
pub struct Gateway {
    pub base: String,
    pub state: AppState,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gateway {
    /// Serves `config` on 127.0.0.1 with a free port.
    pub async fn start(config: Config) -> Self {
        Self::start_at(config, "127.0.0.1:0".parse().unwrap()).await
    }

    /// Shuts down gracefully, as on SIGTERM: event streams end, requests finish,
    /// pooled sessions are logged out; the port is free afterwards.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
    }

    /// Serves `config` on `addr` (port 0: a free one).
    pub async fn start_at(config: Config, addr: SocketAddr) -> Self {
        // `TEST_LOG=debug cargo test ...` shows the gateway's logs for a failing test.
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let state = AppState::build(config).expect("gateway state");
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let serve_state = state.clone();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stop = async move {
                let _ = stop.await;
            };
            imap_gateway::serve(listener, serve_state, stop)
                .await
                .unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            state,
            http: reqwest::Client::new(),
            task,
            shutdown: Some(shutdown),
        }
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
    ) -> Reply {
        self.request(method, path, auth, &[], body).await
    }

    /// [`Self::send`] with extra request headers.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request = match auth {
            Auth::None => request,
            Auth::Basic(user, password) => {
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                request.header(AUTHORIZATION, format!("Basic {encoded}"))
            }
            Auth::Bearer(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
            Auth::Raw(value) => request.header(AUTHORIZATION, value.as_str()),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("HTTP request failed");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Reply {
        self.send(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> Reply {
        self.send(Method::POST, path, auth, Some(body)).await
    }

    pub async fn patch(&self, path: &str, auth: &Auth, body: Value) -> Reply {
        self.send(Method::PATCH, path, auth, Some(body)).await
    }

    pub async fn delete(&self, path: &str, auth: &Auth) -> Reply {
        self.send(Method::DELETE, path, auth, None).await
    }

    pub async fn put(&self, path: &str, auth: &Auth, body: Value) -> Reply {
        self.send(Method::PUT, path, auth, Some(body)).await
    }

    /// A GET returning the raw body bytes and headers.
    pub async fn get_bytes(
        &self,
        path: &str,
        auth: &Auth,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Auth::Basic(user, password) = auth {
            request = request.basic_auth(user, Some(password));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("HTTP request failed");
        let status = response.status();
        let headers = response.headers().clone();
        (status, headers, response.bytes().await.unwrap().to_vec())
    }

    /// A request with a raw body and content type.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Auth::Basic(user, password) = auth {
            request = request.basic_auth(user, Some(password));
        }
        if let Auth::Bearer(token) = auth {
            request = request.bearer_auth(token);
        }
        let response = request
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("HTTP request failed");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// Issues a token through the API.
    pub async fn token(&self, user: &str, password: &str, scope: Option<&str>) -> String {
        let mut body = serde_json::json!({"username": user, "password": password});
        if let Some(scope) = scope {
            body["scope"] = scope.into();
        }
        let reply = self.post("/v1/auth/token", &Auth::None, body).await;
        reply.ok(200)["access_token"].as_str().unwrap().to_owned()
    }

    /// Names of the caller's mailboxes, as the API lists them.
    pub async fn mailbox_names(&self, auth: &Auth) -> Vec<String> {
        let reply = self.get("/v1/mailboxes?status=false", auth).await;
        reply.ok(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Percent-encodes a mailbox name as one path segment.
pub fn enc(name: &str) -> String {
    let mut out = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
