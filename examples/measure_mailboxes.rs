//! Measures `GET /v1/mailboxes` (with counters) for a user with 50 mailboxes against
//! the raw-IMAP floor: the same `LIST ... RETURN (... STATUS (...))` over a persistent
//! plain IMAP connection, interleaved in the same run on the same Dovecot.
//!
//! `cargo run --release --example measure_mailboxes [iterations]`

use std::time::{Duration, Instant};

use dovecot_harness::{Dovecot, Options, SeedMessage, User};
use imap_gateway::config::Config;
use imap_gateway::AppState;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

const MAILBOXES: usize = 50;
const MESSAGES_PER_MAILBOX: usize = 20;

struct RawImap {
    stream: BufReader<TcpStream>,
    tag: u32,
}

impl RawImap {
    async fn connect(port: u16, user: &str, password: &str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut raw = Self {
            stream: BufReader::new(stream),
            tag: 0,
        };
        let mut greeting = String::new();
        raw.stream.read_line(&mut greeting).await.unwrap();
        raw.command(&format!("LOGIN {user} {password}")).await;
        raw
    }

    /// Sends a command and reads up to its tagged OK; returns the untagged line count.
    async fn command(&mut self, command: &str) -> usize {
        self.tag += 1;
        let tag = format!("r{}", self.tag);
        self.stream
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .unwrap();
        let mut lines = 0;
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            if line.starts_with(&tag) {
                assert!(line[tag.len()..].starts_with(" OK"), "{line}");
                return lines;
            }
            lines += 1;
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    println!(
        "{name:<42} p50 {:>8.3} ms   p90 {:>8.3} ms   p99 {:>8.3} ms",
        p50.as_secs_f64() * 1e3,
        percentile(&samples, 0.9).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3
    );
    p50
}

#[tokio::main]
async fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let mut user = User::new("bench", "bench-pw");
    for i in 0..MAILBOXES {
        let messages = (0..MESSAGES_PER_MAILBOX)
            .map(|m| {
                SeedMessage::text(
                    "a@example.org",
                    "bench@example.org",
                    &format!("m{m}"),
                    "body",
                )
            })
            .collect();
        user = user.with_mailbox(&format!("Folder-{i:02}"), messages);
    }
    let dovecot = Dovecot::start(Options {
        users: vec![user],
        rawlog: false,
        special_use: false,
        ..Options::default()
    });
    let state = AppState::build(Config::new(
        dovecot.plain_url().parse().unwrap(),
        "measure-secret-measure-secret-measure-00",
    ))
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(imap_gateway::serve(listener, state, std::future::pending()));
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/mailboxes");

    let list = "LIST \"\" \"*\" RETURN (SUBSCRIBED SPECIAL-USE CHILDREN STATUS (MESSAGES UNSEEN UIDNEXT UIDVALIDITY HIGHESTMODSEQ))";
    let mut raw = RawImap::connect(dovecot.imap_port, "bench", "bench-pw").await;
    let lines = raw.command(list).await;
    assert_eq!(
        lines,
        2 * (MAILBOXES + 1),
        "LIST + STATUS per mailbox incl. INBOX"
    );
    let body: serde_json::Value = http
        .get(&url)
        .basic_auth("bench", Some("bench-pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], MAILBOXES + 1);

    for _ in 0..30 {
        raw.command(list).await;
        http.get(&url)
            .basic_auth("bench", Some("bench-pw"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let (mut raw_samples, mut gateway_samples) = (Vec::new(), Vec::new());
    for _ in 0..iterations {
        let started = Instant::now();
        raw.command(list).await;
        raw_samples.push(started.elapsed());
        let started = Instant::now();
        let response = http
            .get(&url)
            .basic_auth("bench", Some("bench-pw"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        gateway_samples.push(started.elapsed());
    }
    println!("{MAILBOXES} mailboxes x {MESSAGES_PER_MAILBOX} messages, {iterations} interleaved iterations, sequential");
    let raw_p50 = summary("raw IMAP LIST-STATUS (persistent session)", raw_samples);
    let gateway_p50 = summary("gateway GET /v1/mailboxes (keep-alive)", gateway_samples);
    println!(
        "ratio gateway/raw at p50: {:.2}x",
        gateway_p50.as_secs_f64() / raw_p50.as_secs_f64()
    );
}
