//! IMAP ID (RFC 2971): the gateway names itself before LOGIN on servers that
//! advertise ID, and with `IMAP_GATEWAY_IMAP_FORWARD_CLIENT_IP` tells the server which
//! HTTP client the session is for, so a Dovecot that trusts the gateway
//! (`login_trusted_networks`) records, and penalises, that client instead of the
//! gateway's own address.

mod common;

use std::time::{Duration, Instant};

use common::{Auth, Dovecot, Gateway, Options, User};
use imap_gateway::auth::client_addr::TrustedProxies;

fn dovecot() -> Dovecot {
    Dovecot::start(Options {
        users: vec![User::new("alice", "alice-pw"), User::new("bob", "bob-pw")],
        extra_config: "imap_id_log = *\nlogin_trusted_networks = 127.0.0.1\n".to_owned(),
        ..Options::default()
    })
}

/// Waits until Dovecot's log has a line containing every one of `parts`.
fn logged(dovecot: &Dovecot, parts: &[&str]) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let logs = dovecot.logs();
        if let Some(line) = logs.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return Some(line.to_owned());
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn the_gateway_identifies_itself_and_forwards_the_client_only_when_asked() {
    let dovecot = dovecot();
    let version = env!("CARGO_PKG_VERSION");

    // Forwarding on, behind a trusted proxy that names the client.
    let mut config = common::config_for(&dovecot);
    config.imap_forward_client_ip = true;
    config.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
    let forwarding = Gateway::start(config).await;
    let (status, _, _) = forwarding
        .get_bytes(
            "/v1/mailboxes",
            &Auth::Basic("alice", "alice-pw"),
            &[("x-forwarded-for", "203.0.113.9")],
        )
        .await;
    assert_eq!(status, 200);
    let id = logged(
        &dovecot,
        &[
            "ID sent: name=imap-gateway",
            &format!("version={version}"),
            "x-originating-ip=203.0.113.9",
        ],
    );
    assert!(
        id.is_some(),
        "no ID with the client's address:\n{}",
        dovecot.logs()
    );
    let login = logged(&dovecot, &["Login: user=<alice>", "rip=203.0.113.9"]);
    assert!(
        login.is_some(),
        "the login was not attributed to the client:\n{}",
        dovecot.logs()
    );

    // Forwarding off (the default): the gateway still names itself, the address the
    // server sees is the gateway's.
    let plain = Gateway::start(common::config_for(&dovecot)).await;
    let (status, _, _) = plain
        .get_bytes(
            "/v1/mailboxes",
            &Auth::Basic("bob", "bob-pw"),
            &[("x-forwarded-for", "203.0.113.10")],
        )
        .await;
    assert_eq!(status, 200);
    let login = logged(&dovecot, &["Login: user=<bob>", "rip=127.0.0.1"]);
    assert!(login.is_some(), "{}", dovecot.logs());
    assert!(
        !dovecot.logs().contains("203.0.113.10"),
        "an address was forwarded without the setting"
    );
}
