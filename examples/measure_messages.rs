//! Measures the newest page of 50 summaries in a 1,000- and a 100,000-message mailbox
//! through the gateway, against the same FETCH over a persistent raw IMAP connection,
//! interleaved in one run on one Dovecot.
//!
//! `cargo run --release --example measure_messages [iterations]`

use std::time::{Duration, Instant};

use dovecot_harness::{Dovecot, Options, SeedMessage, User};
use imap_gateway::config::Config;
use imap_gateway::AppState;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

const PAGE: u32 = 50;
const ITEMS: &str = "(UID FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER] MODSEQ)";

struct RawImap {
    stream: BufReader<TcpStream>,
    tag: u32,
}

impl RawImap {
    async fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut raw = Self {
            stream: BufReader::new(stream),
            tag: 0,
        };
        let mut greeting = String::new();
        raw.stream.read_line(&mut greeting).await.unwrap();
        raw.command("LOGIN bench bench-pw").await;
        raw
    }

    /// Sends a command and reads to its tagged OK, skipping literals; returns the
    /// number of untagged FETCH responses and the last EXISTS seen.
    async fn command(&mut self, command: &str) -> (usize, u32) {
        self.tag += 1;
        let tag = format!("r{}", self.tag);
        self.stream
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .unwrap();
        let (mut fetches, mut exists) = (0, 0);
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            if line.starts_with(&tag) {
                assert!(line[tag.len()..].starts_with(" OK"), "{line}");
                return (fetches, exists);
            }
            if line.contains(" FETCH ") {
                fetches += 1;
            }
            if let Some(n) = line
                .strip_prefix("* ")
                .and_then(|l| l.strip_suffix(" EXISTS\r\n"))
            {
                exists = n.parse().unwrap();
            }
            // A literal `{n}` at the end of the line: skip its bytes.
            if let Some(size) = line
                .trim_end()
                .strip_suffix('}')
                .and_then(|l| l.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok())
            {
                let mut skip = vec![0u8; size];
                self.stream.read_exact(&mut skip).await.unwrap();
            }
        }
    }
}

fn p(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
}

fn mailbox(count: usize) -> Vec<SeedMessage> {
    (0..count)
        .map(|i| {
            let mut m = SeedMessage::text(
                "Sender <s@example.org>",
                "bench@example.org",
                &format!("Message {i}"),
                "Body text.",
            );
            m.internal_date = 1_700_000_000 + i as u64;
            m
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let seeding = Instant::now();
    let dovecot = Dovecot::start(Options {
        users: vec![User::new("bench", "bench-pw")
            .with_mailbox("Small", mailbox(1_000))
            .with_mailbox("Large", mailbox(100_000))],
        rawlog: false,
        special_use: false,
        ..Options::default()
    });
    eprintln!(
        "seeded 101,000 messages in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let state = AppState::build(Config::new(
        dovecot.plain_url().parse().unwrap(),
        "measure-secret-measure-secret-measure-00",
    ))
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(imap_gateway::serve(listener, state, std::future::pending()));
    let http = reqwest::Client::new();

    println!("newest page of {PAGE} summaries, {iterations} interleaved iterations, sequential");
    for name in ["Small", "Large"] {
        let mut raw = RawImap::connect(dovecot.imap_port).await;
        let warm = Instant::now();
        let (_, exists) = raw.command(&format!("EXAMINE {name}")).await;
        let fetch = format!("FETCH {}:{exists} {ITEMS}", exists - PAGE + 1);
        let url = format!("{base}/v1/mailboxes/{name}/messages?limit={PAGE}");
        let get = || http.get(&url).basic_auth("bench", Some("bench-pw")).send();
        let body: serde_json::Value = get().await.unwrap().json().await.unwrap();
        assert_eq!(body["items"].as_array().unwrap().len(), PAGE as usize);
        assert_eq!(body["total"], exists);
        eprintln!(
            "{name}: first EXAMINE + page {:.0} ms (index build)",
            warm.elapsed().as_secs_f64() * 1e3
        );
        for _ in 0..20 {
            raw.command(&fetch).await;
            get().await.unwrap().bytes().await.unwrap();
        }
        let (mut raw_t, mut gw_t) = (Vec::new(), Vec::new());
        for _ in 0..iterations {
            let t = Instant::now();
            let (fetches, _) = raw.command(&fetch).await;
            raw_t.push(t.elapsed());
            assert_eq!(fetches, PAGE as usize);
            let t = Instant::now();
            let response = get().await.unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap();
            gw_t.push(t.elapsed());
        }
        raw_t.sort();
        gw_t.sort();
        println!(
            "{name:>5} ({exists:>6} msgs): raw FETCH p50 {:.3} ms p99 {:.3} ms | gateway p50 {:.3} ms p99 {:.3} ms | ratio p50 {:.2}x",
            p(&raw_t, 0.5),
            p(&raw_t, 0.99),
            p(&gw_t, 0.5),
            p(&gw_t, 0.99),
            p(&gw_t, 0.5) / p(&raw_t, 0.5)
        );
    }
}
