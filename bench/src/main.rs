//! The benchmark: imap-gateway against the raw-IMAP floor, measured in one run on one
//! Dovecot with seeded data, printing a table and writing `bench-results.json`.
//!
//! `cargo run --release -p bench` (full, a few minutes) or `-- --quick` (smaller data).
//!
//! The gateway runs in a child process (this binary re-executed with `gateway`), so its
//! memory is measured alone; it is the same library the `imap-gateway` binary serves.
//! Raw baselines use persistent IMAP connections with hand-written commands — the same
//! commands the gateway sends — interleaved with the gateway requests, which the
//! sequential rows send over one keep-alive HTTP/1.1 connection (`http1.rs`); the
//! concurrent rows use `reqwest`.

mod cost;
mod http1;
mod smtp;

use std::time::{Duration, Instant};

use dovecot_harness::raw::RawImap;
use dovecot_harness::sink::SmtpSink;
use dovecot_harness::{Dovecot, Options, SeedMessage, User};
use futures::StreamExt as _;
use serde_json::{json, Value};

/// The allocator the `imap-gateway` binary ships with, so the gateway child measures
/// what users run.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub(crate) const PAGE: u32 = 50;
/// Mailboxes of the account-wide search's user, one match in each.
const SEARCH_MAILBOXES: usize = 20;

pub(crate) const SUMMARY: &str =
    "(UID FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER] MODSEQ)";

struct Sizes {
    inbox: usize,
    big: usize,
    users: usize,
    attachment: usize,
    iterations: usize,
}

fn sizes(quick: bool) -> Sizes {
    if quick {
        Sizes {
            inbox: 2_000,
            big: 20_000,
            users: 100,
            attachment: 10 << 20,
            iterations: 60,
        }
    } else {
        Sizes {
            inbox: 10_000,
            big: 100_000,
            users: 1_000,
            attachment: 50 << 20,
            iterations: 200,
        }
    }
}

/// Deterministic bytes.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect()
}

fn b64_lines(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .as_bytes()
        .chunks(76)
        .map(|l| format!("{}\r\n", std::str::from_utf8(l).unwrap()))
        .collect()
}

/// Realistic INBOX: 2-50 KB, every fifth message multipart with an attachment.
fn inbox(count: usize) -> Vec<SeedMessage> {
    (0..count)
        .map(|i| {
            let size = 2_000 + (i * 7_919) % 48_000;
            let line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n";
            let text: String = line.repeat(size / line.len() + 2);
            let raw = if i % 5 == 0 {
                let attachment = noise(size / 2, i as u32);
                format!(
                    "From: Sender {i} <s{i}@example.org>\r\nTo: bench@example.org\r\nSubject: Report {i}\r\nDate: Thu, 26 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"r{i}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--b--\r\n",
                    &text[..size / 2],
                    b64_lines(&attachment)
                )
            } else {
                format!(
                    "From: Sender {i} <s{i}@example.org>\r\nTo: bench@example.org\r\nSubject: Message {i}\r\nDate: Thu, 26 Nov 2026 09:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
                    &text[..size]
                )
            };
            SeedMessage { raw: raw.into_bytes(), flags: if i % 3 == 0 { "S".into() } else { String::new() }, internal_date: 1_700_000_000 + i as u64 * 60 }
        })
        .collect()
}

fn small(count: usize, prefix: &str) -> Vec<SeedMessage> {
    (0..count)
        .map(|i| SeedMessage {
            internal_date: 1_700_000_000 + i as u64,
            ..SeedMessage::text(
                "Sender <s@example.org>",
                "bench@example.org",
                &format!("{prefix} {i}"),
                "Short body.",
            )
        })
        .collect()
}

fn attachment_message(len: usize) -> (Vec<u8>, usize) {
    let content = noise(len, 42);
    let raw = format!(
        "From: big@example.org\r\nTo: bench@example.org\r\nSubject: Big attachment\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nLarge file.\r\n--big\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--big--\r\n",
        b64_lines(&content)
    );
    (raw.into_bytes(), len)
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort();
    samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
}

struct Results {
    rows: Vec<Value>,
}

impl Results {
    fn latency(&mut self, name: &str, raw: &mut [Duration], gateway: &mut [Duration]) -> f64 {
        let (r50, r99, g50, g99) = (
            percentile(raw, 0.5),
            percentile(raw, 0.99),
            percentile(gateway, 0.5),
            percentile(gateway, 0.99),
        );
        let ratio = g50 / r50;
        println!("{name:<44} raw p50 {r50:>8.3} p99 {r99:>8.3} | gateway p50 {g50:>8.3} p99 {g99:>8.3} ms | ratio {ratio:>5.2}x");
        self.rows.push(json!({"operation": name, "raw_p50_ms": r50, "raw_p99_ms": r99, "gateway_p50_ms": g50, "gateway_p99_ms": g99, "ratio_p50": ratio}));
        ratio
    }

    fn note(&mut self, name: &str, value: Value, text: String) {
        println!("{name:<44} {text}");
        self.rows.push(json!({"operation": name, "result": value}));
    }
}

/// The raw-IMAP counterpart of a filtered page: a plain UID SEARCH, then a UID FETCH
/// of the newest [`PAGE`] matches.
async fn raw_filtered_page(raw: &mut RawImap, criteria: &str) {
    let uids = raw.search(criteria).await;
    let page: Vec<String> = uids
        .iter()
        .rev()
        .take(PAGE as usize)
        .map(u32::to_string)
        .collect();
    raw.ok(&format!("UID FETCH {} {SUMMARY}", page.join(",")))
        .await;
}

/// Runs the gateway in this process (the child side of the benchmark).
fn run_gateway(listen: &str, imap_url: &str, smtp_url: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut config = imap_gateway::config::Config::new(
            imap_url.parse().unwrap(),
            "bench-secret-bench-secret-bench-secret-00",
        );
        config.listen = listen.parse().unwrap();
        config.max_sessions = 5_000;
        config.smtp_url = Some(smtp_url.parse().unwrap());
        let state = imap_gateway::AppState::build(config).unwrap();
        let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
        imap_gateway::serve(listener, state, imap_gateway::shutdown_signal())
            .await
            .unwrap();
    });
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("gateway") {
        // Leave the async main's runtime alone: run the server on its own.
        let (listen, url, smtp) = (args[2].clone(), args[3].clone(), args[4].clone());
        tokio::task::spawn_blocking(move || run_gateway(&listen, &url, &smtp))
            .await
            .unwrap();
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let sizes = sizes(quick);
    let started = Instant::now();
    let mut results = Results { rows: Vec::new() };

    // Data.
    let (big_raw, attachment_len) = attachment_message(sizes.attachment);
    let mut bench = User::new("bench", "pw")
        .with_mailbox("INBOX", inbox(sizes.inbox))
        .with_mailbox("Big", small(sizes.big, "Big"))
        .with_mailbox("Sent", Vec::new())
        .with_mailbox(
            "Large",
            vec![SeedMessage {
                raw: big_raw,
                flags: String::new(),
                internal_date: 1_700_000_000,
            }],
        );
    for i in 0..50 {
        bench = bench.with_mailbox(&format!("Folder-{i:02}"), small(20, "Folder"));
    }
    // An account of 20 mailboxes with one match each, for the account-wide search.
    let mut searcher = User::new("searcher", "pw").with_mailbox("INBOX", Vec::new());
    for i in 0..SEARCH_MAILBOXES {
        let mut messages = small(200, "Message");
        messages[100] = SeedMessage {
            internal_date: 1_700_000_100 + i as u64,
            ..SeedMessage::text(
                "Sender <s@example.org>",
                "searcher@example.org",
                &format!("Needle {i}"),
                "Short body.",
            )
        };
        searcher = searcher.with_mailbox(&format!("Box-{i:02}"), messages);
    }
    let mut users = vec![bench, searcher];
    for i in 0..sizes.users {
        users.push(User::new(&format!("user{i}"), "pw").with_mailbox("INBOX", small(5, "Hi")));
    }
    let mut options = Options {
        users,
        rawlog: false,
        special_use: false,
        ..Options::default()
    };
    options.max_userip_connections = 5_000;
    // Sending: Dovecot's submission service relaying to a sink.
    let sink = SmtpSink::start();
    options.submission_relay = Some(sink.port);
    options.max_sessions = Some(sizes.users as u32 + 200);
    let dovecot = Dovecot::start(options);
    println!(
        "seeded {} + {} messages, 50 folders, {} users in {:.1} s",
        sizes.inbox,
        sizes.big,
        sizes.users,
        started.elapsed().as_secs_f64()
    );

    // Gateway child process.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "gateway",
            &listen,
            &dovecot.plain_url(),
            &dovecot.submission_plain_url(),
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let base = format!("http://{listen}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let idle_rss = rss_kib(pid, "VmRSS:");
    let get = |url: String| {
        let http = http.clone();
        async move {
            let response = http
                .get(url)
                .basic_auth("bench", Some("pw"))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            response.bytes().await.unwrap()
        }
    };

    // Warm-up: indexes and the pool.
    let mut h1 = http1::Http1::connect(&listen, "bench", "pw").await;
    let mut raw = RawImap::login(dovecot.imap_port, "bench", "pw").await;
    for mailbox in ["INBOX", "Big"] {
        raw.ok(&format!("EXAMINE {mailbox}")).await;
        get(format!("{base}/v1/mailboxes/{mailbox}/messages?limit=1")).await;
        h1.get(&format!("/v1/mailboxes/{mailbox}/messages?limit=1"))
            .await;
    }
    let n = sizes.iterations;
    println!("\nsequential latency, {n} interleaved iterations each (ms)");

    // Mailboxes.
    let list = "LIST \"\" \"*\" RETURN (SUBSCRIBED SPECIAL-USE CHILDREN STATUS (MESSAGES UNSEEN UIDNEXT UIDVALIDITY HIGHESTMODSEQ))";
    let (mut r, mut g) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        raw.ok(list).await;
        r.push(t.elapsed());
        let t = Instant::now();
        h1.get("/v1/mailboxes").await;
        g.push(t.elapsed());
    }
    results.latency("GET /v1/mailboxes (54 mailboxes, counters)", &mut r, &mut g);

    // Newest page, 10k and 100k.
    let mut newest = Vec::new();
    for (mailbox, count) in [("INBOX", sizes.inbox), ("Big", sizes.big)] {
        raw.ok(&format!("EXAMINE {mailbox}")).await;
        let fetch = format!("FETCH {}:{count} {SUMMARY}", count as u32 - PAGE + 1);
        let (mut r, mut g) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let t = Instant::now();
            raw.ok(&fetch).await;
            r.push(t.elapsed());
            let t = Instant::now();
            h1.get(&format!("/v1/mailboxes/{mailbox}/messages?limit={PAGE}"))
                .await;
            g.push(t.elapsed());
        }
        let g50 = percentile(&mut g.clone(), 0.5);
        results.latency(
            &format!("newest page of {PAGE}, {count} messages"),
            &mut r,
            &mut g,
        );
        newest.push(g50);
    }
    results.note(
        "newest page: large / small mailbox",
        json!(newest[1] / newest[0]),
        format!(
            "{:.2}x (gateway p50 {:.3} vs {:.3} ms)",
            newest[1] / newest[0],
            newest[1],
            newest[0]
        ),
    );

    // Next page by cursor.
    let first: Value = serde_json::from_slice(
        &h1.get(&format!("/v1/mailboxes/INBOX/messages?limit={PAGE}"))
            .await,
    )
    .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let anchor = first["items"][PAGE as usize - 1]["uid"].as_u64().unwrap() as u32;
    raw.ok("EXAMINE INBOX").await;
    let (mut r, mut g) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        raw.ok(&format!(
            "UID SEARCH UID {}:{}",
            anchor - 2 * PAGE,
            anchor - 1
        ))
        .await;
        raw.ok(&format!(
            "UID FETCH {}:{} {SUMMARY}",
            anchor - PAGE,
            anchor - 1
        ))
        .await;
        r.push(t.elapsed());
        let t = Instant::now();
        h1.get(&format!(
            "/v1/mailboxes/INBOX/messages?limit={PAGE}&cursor={cursor}"
        ))
        .await;
        g.push(t.elapsed());
    }
    results.latency("next page by cursor", &mut r, &mut g);

    // One message: parsed and raw (a 20-30 KB text message).
    let uid = 7u32;
    let (mut r, mut g) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        raw.ok(&format!("UID FETCH {uid} (UID FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER] MODSEQ)")).await;
        raw.ok(&format!("UID FETCH {uid} (UID BODY.PEEK[1])")).await;
        r.push(t.elapsed());
        let t = Instant::now();
        h1.get(&format!("/v1/mailboxes/INBOX/messages/{uid}")).await;
        g.push(t.elapsed());
    }
    results.latency("one parsed message (20-50 KB)", &mut r, &mut g);
    let (mut rr, mut gr2) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        raw.ok(&format!("UID FETCH {uid} (UID RFC822.SIZE)")).await;
        raw.ok(&format!("UID FETCH {uid} (BODY.PEEK[]<0.1048576>)"))
            .await;
        rr.push(t.elapsed());
        let t = Instant::now();
        h1.get(&format!("/v1/mailboxes/INBOX/messages/{uid}/raw"))
            .await;
        gr2.push(t.elapsed());
    }
    results.latency("raw message (20-50 KB)", &mut rr, &mut gr2);

    // Filtered search.
    let (mut r, mut g) = (Vec::new(), Vec::new());
    for _ in 0..n.min(50) {
        let t = Instant::now();
        raw_filtered_page(&mut raw, "UNSEEN SUBJECT \"Report 1\"").await;
        r.push(t.elapsed());
        let t = Instant::now();
        h1.get(&format!(
            "/v1/mailboxes/INBOX/messages?unseen=true&subject=Report%201&limit={PAGE}"
        ))
        .await;
        g.push(t.elapsed());
    }
    results.latency("filtered search (unseen + subject)", &mut r, &mut g);

    // ESEARCH (RFC 4731) against a plain SEARCH on the 100,000-message mailbox, over
    // raw IMAP: UNSEEN matches all 100,000 (one UID range); a cheap search for the
    // server with a large answer, as `?unseen=true` on a big mailbox is.
    {
        raw.ok("EXAMINE Big").await;
        let (mut plain, mut extended) = (Vec::new(), Vec::new());
        let (mut plain_bytes, mut extended_bytes) = (0usize, 0usize);
        for _ in 0..n.min(50) {
            let t = Instant::now();
            let lines = raw.ok("UID SEARCH UNSEEN").await;
            plain.push(t.elapsed());
            plain_bytes = lines.iter().map(String::len).sum();
            let t = Instant::now();
            let lines = raw.ok("UID SEARCH RETURN (ALL) UNSEEN").await;
            extended.push(t.elapsed());
            extended_bytes = lines.iter().map(String::len).sum();
        }
        let ratio = results.latency(
            "100k mailbox, UNSEEN (100,000 matches): ESEARCH (vs SEARCH)",
            &mut plain,
            &mut extended,
        );
        results.note(
            "100k mailbox search answer size",
            json!({"search_bytes": plain_bytes, "esearch_bytes": extended_bytes, "time_ratio": ratio}),
            format!("SEARCH {plain_bytes} bytes, ESEARCH {extended_bytes} bytes"),
        );
        // The gateway's unseen page there (NOOP, STATUS, ESEARCH, UID FETCH of 50),
        // against the same page over raw IMAP with a plain SEARCH.
        let (mut r, mut g) = (Vec::new(), Vec::new());
        for _ in 0..n.min(50) {
            let t = Instant::now();
            raw_filtered_page(&mut raw, "UNSEEN").await;
            r.push(t.elapsed());
            let t = Instant::now();
            h1.get(&format!(
                "/v1/mailboxes/Big/messages?subject=Big%209&limit={PAGE}"
            ))
            .await;
            g.push(t.elapsed());
        }
        results.latency(
            "unseen page, 100k mailbox (vs SEARCH + FETCH)",
            &mut r,
            &mut g,
        );
        raw.ok("EXAMINE INBOX").await;
    }

    // Account-wide search: 20 mailboxes, one match each. Raw: the same searches one
    // after the other on one session (EXAMINE, UID SEARCH, UID FETCH per mailbox).
    {
        let mut h1 = http1::Http1::connect(&listen, "searcher", "pw").await;
        let mut raw = RawImap::login(dovecot.imap_port, "searcher", "pw").await;
        let boxes: Vec<String> = (0..SEARCH_MAILBOXES)
            .map(|i| format!("Box-{i:02}"))
            .collect();
        let (mut r, mut g) = (Vec::new(), Vec::new());
        for _ in 0..n.min(100) {
            let t = Instant::now();
            for mailbox in boxes.iter().chain(std::iter::once(&"INBOX".to_owned())) {
                raw.ok(&format!("EXAMINE {mailbox}")).await;
                let uids = raw.search("SUBJECT \"Needle\"").await;
                if !uids.is_empty() {
                    let list: Vec<String> = uids.iter().map(u32::to_string).collect();
                    raw.ok(&format!("UID FETCH {} {SUMMARY}", list.join(",")))
                        .await;
                }
            }
            r.push(t.elapsed());
            let t = Instant::now();
            let body = h1
                .get(&format!("/v1/messages?subject=Needle&limit={PAGE}"))
                .await;
            g.push(t.elapsed());
            assert!(
                body.windows(8).filter(|w| w == b"\"Needle ").count() == SEARCH_MAILBOXES,
                "the account search finds one match per mailbox"
            );
        }
        results.latency(
            "account search, 20 mailboxes (vs the same searches)",
            &mut r,
            &mut g,
        );
    }

    // Flag update.
    raw.ok("SELECT INBOX").await;
    let (mut r, mut g) = (Vec::new(), Vec::new());
    for i in 0..n {
        let t = Instant::now();
        raw.ok(&format!(
            "UID STORE 11 {}FLAGS ($Bench)",
            if i % 2 == 0 { "+" } else { "-" }
        ))
        .await;
        r.push(t.elapsed());
        let t = Instant::now();
        let body = if i % 2 == 0 {
            json!({"add": ["$Gw"]})
        } else {
            json!({"remove": ["$Gw"]})
        };
        h1.request(
            hyper::Method::PATCH,
            "/v1/mailboxes/INBOX/messages/12/flags",
            Some(&body),
        )
        .await;
        g.push(t.elapsed());
    }
    results.latency("flag update", &mut r, &mut g);

    // Sending: the raw SMTP transaction (new connection, AUTH, one recipient) against
    // POST /v1/send, with and without the Sent copy.
    let submission_port = dovecot.submission_port.expect("submission runs");
    let sends = n.min(100);
    let text = "From: bench@example.org\r\nTo: x@example.org\r\nSubject: Bench\r\n\r\nHello";
    let (mut r, mut g, mut g_copy) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sends {
        let t = Instant::now();
        smtp::send_raw(submission_port, "bench", "pw", "x@example.org", text).await;
        r.push(t.elapsed());
        let body = json!({"from": "bench@example.org", "to": ["x@example.org"], "subject": "Bench", "text": "Hello"});
        let t = Instant::now();
        h1.request(hyper::Method::POST, "/v1/send?sent_copy=never", Some(&body))
            .await;
        g.push(t.elapsed());
        let t = Instant::now();
        let answer = h1
            .request(hyper::Method::POST, "/v1/send", Some(&body))
            .await;
        g_copy.push(t.elapsed());
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert!(
            answer["sent_copy"]["uid"].is_u64(),
            "no Sent copy: {answer}"
        );
    }
    results.latency("send, no Sent copy (vs raw SMTP)", &mut r.clone(), &mut g);
    results.latency("send + Sent copy (vs raw SMTP)", &mut r, &mut g_copy);
    assert_eq!(sink.received().len(), 3 * sends, "every send arrived");

    println!(
        "\nIMAP cost per request, {n} sequential requests each (raw phase, then gateway phase)"
    );
    for (name, value, text) in cost::run(&mut h1, &dovecot, pid, &mut raw, sizes.inbox, n).await {
        results.note(&name, value, text);
    }
    let (name, value, text) = cost::cancelled_burst(&http, &base).await;
    results.note(&name, value, text);

    // Concurrency on one user (default pool of 4) vs 4 raw sessions.
    println!("\nthroughput, newest page of {PAGE} in INBOX, one user");
    let raw_rps = {
        let duration = Duration::from_secs(if quick { 2 } else { 5 });
        let fetch = format!(
            "FETCH {}:{} {SUMMARY}",
            sizes.inbox as u32 - PAGE + 1,
            sizes.inbox
        );
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let fetch = fetch.clone();
            let port = dovecot.imap_port;
            tasks.push(tokio::spawn(async move {
                let mut session = RawImap::login(port, "bench", "pw").await;
                session.ok("EXAMINE INBOX").await;
                let end = Instant::now() + duration;
                let mut count = 0u64;
                while Instant::now() < end {
                    session.ok(&fetch).await;
                    count += 1;
                }
                count
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        total as f64 / duration.as_secs_f64()
    };
    results.note(
        "raw: 4 persistent sessions",
        json!(raw_rps),
        format!("{raw_rps:.0} req/s"),
    );
    for clients in [16usize, 64] {
        let duration = Duration::from_secs(if quick { 2 } else { 5 });
        let end = Instant::now() + duration;
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let http = http.clone();
            let url = format!("{base}/v1/mailboxes/INBOX/messages?limit={PAGE}");
            tasks.push(tokio::spawn(async move {
                let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
                while Instant::now() < end {
                    let t = Instant::now();
                    match http.get(&url).basic_auth("bench", Some("pw")).send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            ok += 1;
                        }
                        _ => errors += 1,
                    }
                    latencies.push(t.elapsed());
                }
                (ok, errors, latencies)
            }));
        }
        let (mut ok, mut errors, mut latencies) = (0, 0, Vec::new());
        for task in tasks {
            let (o, e, l) = task.await.unwrap();
            ok += o;
            errors += e;
            latencies.extend(l);
        }
        let rps = ok as f64 / duration.as_secs_f64();
        let (p50, p99) = (
            percentile(&mut latencies, 0.5),
            percentile(&mut latencies, 0.99),
        );
        results.note(
            &format!("gateway: {clients} concurrent clients"),
            json!({"rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors, "ratio_to_raw": rps / raw_rps}),
            format!("{rps:.0} req/s ({:.0}% of raw), p50 {p50:.2} ms, p99 {p99:.2} ms, {errors} errors", 100.0 * rps / raw_rps),
        );
    }

    // Many users: first request (LOGIN) then warm.
    // Memory after the load: the pools stay warm (4 sessions of one user, about 90
    // KiB), everything the requests allocated should be back with the kernel.
    let loaded_rss = rss_kib(pid, "VmRSS:");
    let settle = Duration::from_secs(if quick { 5 } else { 30 });
    tokio::time::sleep(settle).await;
    let settled_rss = rss_kib(pid, "VmRSS:");
    results.note(
        "gateway RSS after the load",
        json!({"idle_kib": idle_rss, "right_after_kib": loaded_rss, "settled_kib": settled_rss, "settle_s": settle.as_secs()}),
        format!(
            "idle {idle_rss} KiB, right after {loaded_rss} KiB, {} s later {settled_rss} KiB ({:+} KiB vs idle)",
            settle.as_secs(),
            settled_rss as i64 - idle_rss as i64
        ),
    );

    println!("\n{} distinct users", sizes.users);
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for round in 0..2 {
        let mut tasks = Vec::new();
        for chunk in (0..sizes.users)
            .collect::<Vec<_>>()
            .chunks(sizes.users.div_ceil(16))
        {
            let http = http.clone();
            let base = base.clone();
            let chunk = chunk.to_vec();
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::new();
                for i in chunk {
                    let t = Instant::now();
                    let response = http
                        .get(format!("{base}/v1/mailboxes/INBOX/messages?limit=5"))
                        .basic_auth(format!("user{i}"), Some("pw"))
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_success());
                    response.bytes().await.unwrap();
                    times.push(t.elapsed());
                }
                times
            }));
        }
        for task in tasks {
            let times = task.await.unwrap();
            if round == 0 {
                cold.extend(times)
            } else {
                warm.extend(times)
            }
        }
    }
    let (c50, c99, w50, w99) = (
        percentile(&mut cold, 0.5),
        percentile(&mut cold, 0.99),
        percentile(&mut warm, 0.5),
        percentile(&mut warm, 0.99),
    );
    results.note(
        "first request per user (LOGIN)",
        json!({"p50_ms": c50, "p99_ms": c99}),
        format!("p50 {c50:.2} ms, p99 {c99:.2} ms"),
    );
    results.note(
        "warm request per user",
        json!({"p50_ms": w50, "p99_ms": w99}),
        format!("p50 {w50:.2} ms, p99 {w99:.2} ms"),
    );
    let warm_rss = rss_kib(pid, "VmRSS:");
    let pooled = sizes.users + 4;
    results.note(
        "gateway RSS with warm pools",
        json!({"idle_kib": idle_rss, "warm_kib": warm_rss, "sessions": pooled, "kib_per_session": (warm_rss.saturating_sub(idle_rss)) as f64 / pooled as f64}),
        format!("idle {} KiB, with {} warm user pools {} KiB ({:.1} KiB per pooled session)", idle_rss, sizes.users, warm_rss, (warm_rss.saturating_sub(idle_rss)) as f64 / pooled as f64),
    );

    // The big attachment: raw FETCH vs gateway download, and peak RSS.
    raw.ok("EXAMINE Large").await;
    let t = Instant::now();
    let mut offset = 0u64;
    let part_size: u64 = 4 * (attachment_len as u64).div_ceil(3) * 78 / 76;
    while offset < part_size {
        raw.ok(&format!("UID FETCH 1 (BODY.PEEK[2]<{offset}.1048576>)"))
            .await;
        offset += 1_048_576;
    }
    let raw_secs = t.elapsed().as_secs_f64();
    let before = rss_kib(pid, "VmHWM:");
    let t = Instant::now();
    let response = http
        .get(format!(
            "{base}/v1/mailboxes/Large/messages/1/attachments/2"
        ))
        .basic_auth("bench", Some("pw"))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut received = 0usize;
    while let Some(chunk) = stream.next().await {
        received += chunk.unwrap().len();
    }
    let gw_secs = t.elapsed().as_secs_f64();
    assert_eq!(received, attachment_len);
    let peak = rss_kib(pid, "VmHWM:");
    let mib = attachment_len as f64 / 1048576.0;
    // The same message undecoded, to tell IMAP transfer from base64 decoding.
    let t = Instant::now();
    let response = http
        .get(format!("{base}/v1/mailboxes/Large/messages/1/raw"))
        .basic_auth("bench", Some("pw"))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut raw_bytes = 0usize;
    while let Some(chunk) = stream.next().await {
        raw_bytes += chunk.unwrap().len();
    }
    let raw_mib = raw_bytes as f64 / 1048576.0;
    results.note(
        "raw download of that message",
        json!({"gateway_mib_s": raw_mib / t.elapsed().as_secs_f64()}),
        format!(
            "{:.0} MiB in {:.0} MiB/s (undecoded)",
            raw_mib,
            raw_mib / t.elapsed().as_secs_f64()
        ),
    );
    results.note(
        &format!("{mib:.0} MiB attachment"),
        json!({"raw_mib_s": mib / raw_secs, "gateway_mib_s": mib / gw_secs, "throughput_ratio": raw_secs / gw_secs, "peak_rss_growth_kib": peak.saturating_sub(before)}),
        format!(
            "raw FETCH {:.0} MiB/s, gateway {:.0} MiB/s ({:.0}% of raw), peak RSS +{} KiB",
            mib / raw_secs,
            mib / gw_secs,
            100.0 * raw_secs / gw_secs,
            peak.saturating_sub(before)
        ),
    );

    let report = json!({
        "quick": quick,
        "machine": {"cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)},
        "sizes": {"inbox": sizes.inbox, "big": sizes.big, "users": sizes.users, "attachment_bytes": sizes.attachment, "iterations": sizes.iterations},
        "results": results.rows,
        "seconds": started.elapsed().as_secs_f64(),
    });
    std::fs::write(
        "bench-results.json",
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    println!(
        "\nwrote bench-results.json; total {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let _ = child.kill();
    let _ = child.wait();
}
