//! What each route costs the IMAP server, next to the raw floor: IMAP commands per
//! request (from the gateway's own `/metrics`) and Dovecot CPU per request (from
//! `/proc/<pid>/schedstat` of the user's `imap` processes), in separate raw and
//! gateway phases so each phase's CPU is its own.

use std::collections::BTreeMap;
use std::time::Instant;

use dovecot_harness::raw::RawImap;
use dovecot_harness::Dovecot;
use serde_json::{json, Value};

use crate::http1::Http1;
use crate::{PAGE, SUMMARY};

/// The gateway's `/metrics` text.
async fn metrics(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The gateway's IMAP commands so far, by command name.
async fn command_counts(h1: &mut Http1) -> BTreeMap<String, u64> {
    let text = String::from_utf8_lossy(&h1.get("/metrics").await).into_owned();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("imap_command_duration_seconds_count{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let command = labels
            .split("command=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_owned();
        *counts.entry(command).or_default() += value.trim().parse::<f64>().unwrap_or(0.0) as u64;
    }
    counts
}

/// A gateway counter from `/metrics` (summed over its label sets).
pub async fn counter(http: &reqwest::Client, base: &str, name: &str) -> u64 {
    let text = metrics(http, base).await;
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// CPU time (ns) of `user`'s Dovecot `imap` processes so far.
fn dovecot_cpu_ns(dovecot: &Dovecot, user: &str) -> u64 {
    dovecot
        .session_pids(user)
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// CPU time of every thread of process `pid` so far (ns), from `/proc/<pid>/task/*/schedstat`.
fn process_cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
                .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

/// One route and the raw commands that do the same.
struct Case {
    name: &'static str,
    /// Sent once on the raw session before the raw phase.
    raw_setup: &'static str,
    /// The raw commands of request `i` in a mailbox of `inbox` messages.
    raw: fn(usize, usize) -> Vec<String>,
    /// The gateway request `i`: method, path, JSON body.
    gateway: fn(usize) -> (hyper::Method, String, Option<Value>),
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "newest page of 50, INBOX",
            raw_setup: "EXAMINE INBOX",
            raw: |_, inbox| {
                vec![format!(
                    "FETCH {}:{inbox} {SUMMARY}",
                    inbox + 1 - PAGE as usize
                )]
            },
            gateway: |_| {
                (
                    hyper::Method::GET,
                    format!("/v1/mailboxes/INBOX/messages?limit={PAGE}"),
                    None,
                )
            },
        },
        Case {
            name: "GET /v1/mailboxes (counters)",
            raw_setup: "EXAMINE INBOX",
            raw: |_, _| {
                vec!["LIST \"\" \"*\" RETURN (SUBSCRIBED SPECIAL-USE CHILDREN STATUS (MESSAGES UNSEEN UIDNEXT UIDVALIDITY HIGHESTMODSEQ))".to_owned()]
            },
            gateway: |_| (hyper::Method::GET, "/v1/mailboxes".to_owned(), None),
        },
        Case {
            name: "one parsed message",
            raw_setup: "EXAMINE INBOX",
            raw: |_, _| {
                vec![
                    "UID FETCH 7 (UID FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER] MODSEQ)".to_owned(),
                    "UID FETCH 7 (UID BODY.PEEK[1])".to_owned(),
                ]
            },
            gateway: |_| {
                (
                    hyper::Method::GET,
                    "/v1/mailboxes/INBOX/messages/7".to_owned(),
                    None,
                )
            },
        },
        Case {
            name: "flag update",
            raw_setup: "SELECT INBOX",
            raw: |i, _| {
                vec![format!(
                    "UID STORE 11 {}FLAGS ($Cost)",
                    if i % 2 == 0 { "+" } else { "-" }
                )]
            },
            gateway: |i| {
                let body = if i % 2 == 0 {
                    json!({"add": ["$CostGw"]})
                } else {
                    json!({"remove": ["$CostGw"]})
                };
                (
                    hyper::Method::PATCH,
                    "/v1/mailboxes/INBOX/messages/12/flags".to_owned(),
                    Some(body),
                )
            },
        },
    ]
}

/// Runs every case `n` times raw, then `n` times through the gateway (one client,
/// sequential, after a warm-up request); returns (name, JSON, text) rows.
pub async fn run(
    h1: &mut Http1,
    dovecot: &Dovecot,
    gateway_pid: u32,
    raw: &mut RawImap,
    inbox: usize,
    n: usize,
) -> Vec<(String, Value, String)> {
    let mut rows = Vec::new();
    for case in cases() {
        raw.ok(case.raw_setup).await;
        let send = async |h1: &mut Http1, i: usize| {
            let (method, path, body) = (case.gateway)(i);
            h1.request(method, &path, body.as_ref()).await;
        };
        send(h1, 0).await;
        let cpu = dovecot_cpu_ns(dovecot, "bench");
        let started = Instant::now();
        for i in 0..n {
            for command in (case.raw)(i, inbox) {
                raw.ok(&command).await;
            }
        }
        let raw_wall = started.elapsed().as_secs_f64() * 1e3 / n as f64;
        let raw_cpu = (dovecot_cpu_ns(dovecot, "bench") - cpu) as f64 / 1e6 / n as f64;
        let raw_commands = (case.raw)(0, inbox).len();
        let before = command_counts(h1).await;
        let cpu = dovecot_cpu_ns(dovecot, "bench");
        let own_cpu = process_cpu_ns(gateway_pid);
        let started = Instant::now();
        for i in 0..n {
            send(h1, i + 1).await;
        }
        let gateway_wall = started.elapsed().as_secs_f64() * 1e3 / n as f64;
        let gateway_cpu = (dovecot_cpu_ns(dovecot, "bench") - cpu) as f64 / 1e6 / n as f64;
        let own_cpu = (process_cpu_ns(gateway_pid) - own_cpu) as f64 / 1e6 / n as f64;
        let after = command_counts(h1).await;
        let mut sent: Vec<String> = Vec::new();
        let mut total = 0u64;
        for (command, count) in &after {
            let delta = count - before.get(command).copied().unwrap_or(0);
            if delta > 0 {
                total += delta;
                sent.push(format!("{command} {:.2}", delta as f64 / n as f64));
            }
        }
        let per_request = total as f64 / n as f64;
        let text = format!(
            "commands/req raw {raw_commands} gateway {per_request:.2} ({}) | Dovecot CPU/req raw {raw_cpu:.3} gateway {gateway_cpu:.3} ms ({:.2}x) | gateway's own CPU/req {own_cpu:.3} ms | mean latency raw {raw_wall:.3} gateway {gateway_wall:.3} ms",
            sent.join(", "),
            gateway_cpu / raw_cpu
        );
        rows.push((
            format!("IMAP cost: {}", case.name),
            json!({
                "raw_commands_per_request": raw_commands,
                "gateway_commands_per_request": per_request,
                "gateway_commands": sent,
                "raw_dovecot_cpu_ms": raw_cpu,
                "gateway_dovecot_cpu_ms": gateway_cpu,
                "cpu_ratio": gateway_cpu / raw_cpu,
                "gateway_own_cpu_ms": own_cpu,
                "raw_mean_ms": raw_wall,
                "gateway_mean_ms": gateway_wall,
            }),
            text,
        ));
    }
    rows
}

/// A burst of clients that give up mid-request (20 ms client timeout on a 500-message
/// page of the 100,000-message mailbox), then 50 ordinary requests: how many LOGINs
/// the gateway sent afterwards, and what became of the cut-off sessions.
pub async fn cancelled_burst(http: &reqwest::Client, base: &str) -> (String, Value, String) {
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(20))
        .build()
        .unwrap();
    let logins = |http: reqwest::Client| async move {
        counter(&http, base, "imap_logins_total{outcome=\"ok\"}").await
    };
    let before = logins(http.clone()).await;
    let recovered_before = counter(
        http,
        base,
        "imap_cancelled_commands_total{outcome=\"recovered\"}",
    )
    .await;
    let discarded_before = counter(
        http,
        base,
        "imap_cancelled_commands_total{outcome=\"discarded\"}",
    )
    .await;
    let url = format!("{base}/v1/mailboxes/Big/messages?limit=500");
    let cut = futures::future::join_all(
        (0..100).map(|_| impatient.get(&url).basic_auth("bench", Some("pw")).send()),
    )
    .await
    .iter()
    .filter(|r| r.is_err())
    .count();
    // Sessions the burst opened count as the burst's; what matters is the next
    // requests, once the cut-off commands have been read to their end.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let burst_logins = logins(http.clone()).await - before;
    let before = logins(http.clone()).await;
    for _ in 0..50 {
        let response = http
            .get(format!("{base}/v1/mailboxes/INBOX/messages?limit={PAGE}"))
            .basic_auth("bench", Some("pw"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        response.bytes().await.unwrap();
    }
    let new_logins = logins(http.clone()).await - before;
    let recovered = counter(
        http,
        base,
        "imap_cancelled_commands_total{outcome=\"recovered\"}",
    )
    .await
        - recovered_before;
    let discarded = counter(
        http,
        base,
        "imap_cancelled_commands_total{outcome=\"discarded\"}",
    )
    .await
        - discarded_before;
    (
        "cancelled burst (100 clients give up)".to_owned(),
        json!({"cut_off": cut, "logins_during_burst": burst_logins, "logins_after": new_logins, "sessions_recovered": recovered, "sessions_discarded": discarded}),
        format!(
            "{cut} cut off ({burst_logins} LOGINs while it lasted); cut-off sessions finished and kept {recovered}, discarded {discarded}; LOGINs for the next 50 requests: {new_logins}"
        ),
    )
}
