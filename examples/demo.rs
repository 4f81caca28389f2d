//! The demo: a real Dovecot with a seeded demo mailbox (user `demo`, password
//! `demo-password`, reached over implicit TLS with a generated certificate) and the
//! gateway on 127.0.0.1:8080 (or `IMAP_GATEWAY_LISTEN`). Ctrl-C stops both.
//!
//! Run it with `scripts/demo.sh`, which installs Dovecot first when it is missing.

use std::net::SocketAddr;

use dovecot_harness::{demo_users, Dovecot, Options};
use imap_gateway::config::Config;
use imap_gateway::{serve, shutdown_signal, telemetry, AppState};

#[tokio::main]
async fn main() {
    let listen: SocketAddr = std::env::var("IMAP_GATEWAY_LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:8080".to_owned())
        .parse()
        .expect("IMAP_GATEWAY_LISTEN must be an address like 127.0.0.1:8080");
    let dovecot = Dovecot::start(Options {
        users: demo_users(),
        ..Options::default()
    });
    let mut config = Config::new(
        dovecot.imaps_url().parse().expect("harness URL is valid"),
        "demo-secret-demo-secret-demo-secret-0000",
    );
    config.listen = listen;
    config.imap_ca_file = Some(dovecot.ca_file());
    config.cors_origins = vec!["*".to_owned()];
    telemetry::init(config.log_format);
    let state = AppState::build(config).expect("gateway state");
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {listen}: {e} (set IMAP_GATEWAY_LISTEN)"));
    println!(
        "\nimap-gateway demo is running.\n\
         \n  IMAP server : {} (Dovecot, TLS; data in {})\
         \n  Gateway     : http://{listen}\
         \n  API docs    : http://{listen}/docs\
         \n  Account     : demo / demo-password\
         \n\nTry:\n  curl -s -u demo:demo-password http://{listen}/v1/mailboxes\n\
         \nPress Ctrl-C to stop.\n",
        dovecot.imaps_url(),
        dovecot.dir().display()
    );
    serve(listener, state, shutdown_signal())
        .await
        .expect("server failed");
    drop(dovecot);
}
