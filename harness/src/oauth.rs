//! An OAuth 2.0 token introspection endpoint (RFC 7662) on loopback, for Dovecot's
//! `oauth2` passdb: the test decides which access tokens exist, for whom and until
//! when, and the endpoint answers Dovecot's `POST token=...` with
//! `{"active": true, "username": ..., "exp": ...}` or `{"active": false}` (an
//! unknown, expired or revoked token), as a real authorisation server does.
//!
//! Dovecot 2.3 is configured with `introspection_mode = post`, `username_attribute =
//! username`, `active_attribute = active`, `active_value = true` (see
//! [`crate::Options::oauth2`]): it refuses an inactive token and one whose user name
//! differs from the one the client authenticates as.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
struct Grant {
    user: String,
    expires_at: u64,
    revoked: bool,
}

#[derive(Debug, Default)]
struct Shared {
    grants: Mutex<HashMap<String, Grant>>,
    requests: AtomicUsize,
    /// Answer 503 to every request (an authorisation server outage).
    down: AtomicBool,
    /// Every token the endpoint was asked about, in order.
    asked: Mutex<Vec<String>>,
}

/// A running introspection endpoint; stops accepting when dropped.
pub struct Introspection {
    port: u16,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A random token in the alphabet of RFC 6750's `b64token`, shaped like a provider's.
fn random_token() -> String {
    let mut text = String::from("ya29.");
    for _ in 0..4 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(now());
        text.push_str(&format!("{:016x}", hasher.finish()));
    }
    text
}

impl Introspection {
    /// Starts the endpoint on a free loopback port.
    ///
    /// # Panics
    /// When no port can be bound.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind introspection endpoint");
        let port = listener.local_addr().expect("local addr").port();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        {
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let shared = shared.clone();
                            std::thread::spawn(move || serve(stream, &shared));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        Self { port, shared, stop }
    }

    /// The URL Dovecot posts to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/introspect", self.port)
    }

    /// Issues a new access token for `user`, valid for `valid_for`.
    pub fn issue(&self, user: &str, valid_for: Duration) -> String {
        let token = random_token();
        self.register(&token, user, valid_for);
        token
    }

    /// Makes `token` (any text the test chooses, e.g. a very long one) valid for
    /// `user` for `valid_for`.
    pub fn register(&self, token: &str, user: &str, valid_for: Duration) {
        let grant = Grant {
            user: user.to_owned(),
            expires_at: now() + valid_for.as_secs(),
            revoked: false,
        };
        self.lock().insert(token.to_owned(), grant);
    }

    /// Issues a token for `user` that expired a minute ago.
    pub fn issue_expired(&self, user: &str) -> String {
        let token = random_token();
        let grant = Grant {
            user: user.to_owned(),
            expires_at: now().saturating_sub(60),
            revoked: false,
        };
        self.lock().insert(token.clone(), grant);
        token
    }

    /// Revokes `token`: from now on it is inactive.
    pub fn revoke(&self, token: &str) {
        if let Some(grant) = self.lock().get_mut(token) {
            grant.revoked = true;
        }
    }

    /// While `down`, every introspection request answers 503.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// How many introspection requests arrived (one per OAuth2 authentication).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The tokens introspected so far, in order.
    pub fn asked(&self) -> Vec<String> {
        self.shared
            .asked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Grant>> {
        self.shared.grants.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Introspection {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Answers one connection's requests (Dovecot's HTTP client may keep it open).
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut writer = writer;
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length.min(1 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        shared.requests.fetch_add(1, Ordering::SeqCst);
        let (status, json) = if shared.down.load(Ordering::SeqCst) {
            (
                "503 Service Unavailable",
                r#"{"error":"temporarily_unavailable"}"#.to_owned(),
            )
        } else {
            let token = form_value(&String::from_utf8_lossy(&body), "token").unwrap_or_default();
            shared
                .asked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(token.clone());
            let grant = shared
                .grants
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&token)
                .cloned();
            let json = match grant {
                Some(g) if !g.revoked && g.expires_at > now() => format!(
                    r#"{{"active":true,"username":"{}","exp":{},"scope":"mail","token_type":"Bearer"}}"#,
                    g.user, g.expires_at
                ),
                _ => r#"{"active":false}"#.to_owned(),
            };
            ("200 OK", json)
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// The percent-decoded value of `name` in an `application/x-www-form-urlencoded` body.
fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                if let Ok(byte) = u8::from_str_radix(hex, 16) {
                    out.push(byte);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
