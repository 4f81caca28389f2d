//! Measures event latency (another IMAP client's APPEND to the SSE `message.created`,
//! median of 20) and the gateway's memory with 200 open event streams (20 users x
//! 10 streams), against the release binary in its own process.
//!
//! `cargo build --release --bins --examples && target/release/examples/measure_events`

use std::time::{Duration, Instant};

use dovecot_harness::{Dovecot, Options, User};
use futures::StreamExt as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

async fn append(port: u16, user: &str, subject: &str) {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    stream.read_line(&mut line).await.unwrap();
    let message = format!("Subject: {subject}\r\n\r\nx\r\n");
    let script = format!(
        "a LOGIN {user} pw\r\nb APPEND INBOX {{{}+}}\r\n{message}\r\nc LOGOUT\r\n",
        message.len()
    );
    stream.get_mut().write_all(script.as_bytes()).await.unwrap();
    loop {
        line.clear();
        if stream.read_line(&mut line).await.unwrap() == 0 || line.starts_with("c ") {
            break;
        }
    }
}

async fn open_stream(
    base: &str,
    user: &str,
) -> futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>> {
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/events"))
        .basic_auth(user, Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream().boxed();
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("stream.ready"));
    body
}

#[tokio::main]
async fn main() {
    let binary = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("imap-gateway");
    assert!(
        binary.exists(),
        "build the gateway first: cargo build --release --bins --examples"
    );
    let users: Vec<User> = (0..20).map(|i| User::new(&format!("u{i}"), "pw")).collect();
    let dovecot = Dovecot::start(Options {
        users,
        rawlog: false,
        ..Options::default()
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(&binary)
        .arg("--dev")
        .env("IMAP_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("IMAP_GATEWAY_IMAP_URL", dovecot.plain_url())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle_rss = rss_kib(child.id());

    // Latency: one stream, 20 appends by another client.
    let mut stream = open_stream(&base, "u0").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        append(dovecot.imap_port, "u0", &format!("latency {i}")).await;
        loop {
            let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if String::from_utf8_lossy(&chunk).contains("message.created") {
                break;
            }
        }
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    latencies.sort();
    drop(stream);

    // Memory: 200 streams, 10 per user for 20 users (20 watchers).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(child.id());
    let mut streams = Vec::new();
    for i in 0..200 {
        streams.push(open_stream(&base, &format!("u{}", i % 20)).await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with_streams = rss_kib(child.id());
    println!(
        "event latency APPEND -> SSE message.created over 20: median {:.0} ms, min {:.0} ms, max {:.0} ms",
        latencies[10].as_secs_f64() * 1e3,
        latencies[0].as_secs_f64() * 1e3,
        latencies[19].as_secs_f64() * 1e3
    );
    println!(
        "gateway RSS: idle {} KiB; before streams {} KiB; with 200 open streams (20 users, 20 IDLE watchers) {} KiB (+{} KiB, {:.1} KiB per stream)",
        idle_rss,
        before,
        with_streams,
        with_streams.saturating_sub(before),
        with_streams.saturating_sub(before) as f64 / 200.0
    );
    drop(streams);
    let _ = child.kill();
    let _ = child.wait();
}
