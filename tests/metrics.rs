//! `GET /metrics`: Prometheus text with bounded labels (no user or mailbox names).

mod common;

use common::{dovecot, Auth, Gateway};

#[tokio::test]
async fn metrics_cover_http_imap_pool_and_logins_with_bounded_labels() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    assert_eq!(
        gateway.get("/v1/mailboxes", &Auth::alice()).await.status,
        200
    );
    assert_eq!(
        gateway
            .get("/v1/mailboxes/Archive", &Auth::alice())
            .await
            .status,
        200
    );
    gateway
        .get("/v1/mailboxes/Nope", &Auth::alice())
        .await
        .problem(404);
    gateway
        .get("/v1/mailboxes", &Auth::Basic("alice", "wrong"))
        .await
        .problem(401);
    let response = reqwest::get(format!("{}/metrics", gateway.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for needle in [
        r#"http_requests_total{route="/v1/mailboxes",method="GET",status="200"}"#,
        r#"http_requests_total{route="/v1/mailboxes/{mailbox}",method="GET",status="404"}"#,
        r#"http_request_duration_seconds_bucket{route="/v1/mailboxes",method="GET""#,
        r#"imap_command_duration_seconds_bucket{command="LIST",outcome="OK""#,
        r#"imap_logins_total{outcome="ok"}"#,
        r#"imap_logins_total{outcome="rejected"}"#,
        r#"imap_pool_sessions{state="idle"}"#,
        "imap_pool_wait_seconds_bucket",
        "imap_watchers",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    for secret in ["alice", "Archive", "Nope", "wrong"] {
        assert!(!text.contains(secret), "metrics must not carry {secret:?}");
    }
    let mut config = common::config_for(&dovecot);
    config.metrics = false;
    let quiet = Gateway::start(config).await;
    quiet.get("/metrics", &Auth::None).await.problem(404);
}

/// Observation 3 of issue 23: 200 requests with invented methods added 4,000 series.
/// Methods outside the API's fold into one label value, so the series stay the same
/// whatever is invented.
#[tokio::test]
async fn invented_methods_add_no_series() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let client = reqwest::Client::new();
    let scrape = || async {
        reqwest::get(format!("{}/metrics", gateway.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let series = || async {
        let mut names: Vec<String> = scrape()
            .await
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                l.rsplit_once(' ')
                    .map_or(l, |(series, _)| series)
                    .to_owned()
            })
            .collect();
        names.sort();
        names
    };
    let invent = |n: usize| {
        let method = reqwest::Method::from_bytes(format!("X{n:04}Q").as_bytes()).unwrap();
        client
            .request(method, format!("{}/v1/mailboxes", gateway.base))
            .send()
    };
    assert_eq!(invent(0).await.unwrap().status(), 405);
    // The first scrape records its own series; count from the second.
    series().await;
    let before = series().await;
    for n in 1..=200 {
        assert_eq!(invent(n).await.unwrap().status(), 405);
    }
    let after = series().await;
    // The registry is shared by this binary's tests, so other series may appear;
    // but no method label beyond the API's own (and `other`), and no new `other`.
    let other = |series: &[String]| {
        series
            .iter()
            .filter(|s| s.contains(r#"method="other""#))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(other(&after), other(&before));
    for series in &after {
        if let Some(rest) = series.split("method=\"").nth(1) {
            let method = rest.split('"').next().unwrap();
            assert!(
                ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"]
                    .contains(&method),
                "{series}"
            );
        }
    }
    let text = scrape().await;
    assert!(text.contains(r#"method="other",status="405""#), "{text}");
    assert!(!text.contains("X0001Q"));
}
