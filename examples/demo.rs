//! The demo: a real Dovecot with a seeded demo mailbox (user `demo`, password
//! `demo-password`, reached over implicit TLS with a generated certificate) and the
//! gateway on 127.0.0.1:8080 (or `IMAP_GATEWAY_LISTEN`), allowing the origins of
//! `IMAP_GATEWAY_CORS_ORIGINS` (any, `*`, when unset), sending through Dovecot's
//! submission service to a local sink that writes each message to a temp directory,
//! and the reference web inbox (`web/`) on 127.0.0.1:8090 (or
//! `IMAP_GATEWAY_DEMO_INBOX`). Dovecot also accepts OAuth2 sign-in, checking access
//! tokens with a local introspection endpoint that knows one:
//! [`dovecot_harness::DEMO_ACCESS_TOKEN`]. Ctrl-C stops them.
//!
//! Run it with `scripts/demo.sh`, which installs Dovecot first when it is missing.

use std::net::SocketAddr;

use dovecot_harness::oauth::Introspection;
use dovecot_harness::sink::SmtpSink;
use dovecot_harness::{demo_users, Dovecot, OAuth2, Options, DEMO_ACCESS_TOKEN};
use imap_gateway::config::{parse_cors_origins, Config};
use imap_gateway::{serve, shutdown_signal, telemetry, AppState};

fn config_cors(raw: &str) -> &str {
    if raw.trim().is_empty() {
        "none (CORS off)"
    } else {
        raw
    }
}

#[tokio::main]
async fn main() {
    let listen: SocketAddr = std::env::var("IMAP_GATEWAY_LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:8080".to_owned())
        .parse()
        .expect("IMAP_GATEWAY_LISTEN must be an address like 127.0.0.1:8080");
    // Sent mail goes through Dovecot's submission service to a local sink that keeps
    // each message as a file, so nothing leaves the machine.
    let outbox = tempfile::Builder::new()
        .prefix("imap-gateway-demo-sent-")
        .tempdir()
        .expect("temp dir for sent mail");
    let sink = SmtpSink::start().saving_to(outbox.path().to_path_buf());
    // The OAuth2 provider's side, as Dovecot sees it: one valid token for the demo.
    let introspection = Introspection::start();
    introspection.register(
        DEMO_ACCESS_TOKEN,
        "demo",
        std::time::Duration::from_secs(30 * 24 * 3600),
    );
    let dovecot = Dovecot::start(Options {
        users: demo_users(),
        submission_relay: Some(sink.port),
        oauth2: Some(OAuth2::both(&introspection)),
        ..Options::default()
    });
    let mut config = Config::new(
        dovecot.imaps_url().parse().expect("harness URL is valid"),
        "demo-secret-demo-secret-demo-secret-0000",
    );
    config.listen = listen;
    config.imap_ca_file = Some(dovecot.ca_file());
    config.smtp_url = Some(
        dovecot
            .submission_starttls_url()
            .parse()
            .expect("harness URL is valid"),
    );
    // Any origin unless told otherwise: the demo is for trying the API from a page.
    let cors = std::env::var("IMAP_GATEWAY_CORS_ORIGINS").unwrap_or_else(|_| "*".to_owned());
    config.cors_origins = parse_cors_origins(&cors).unwrap_or_else(|err| {
        eprintln!("imap-gateway demo: {err}");
        std::process::exit(2);
    });
    telemetry::init(config.log_format);
    let state = AppState::build(config).expect("gateway state");
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {listen}: {e} (set IMAP_GATEWAY_LISTEN)"));
    // The reference web inbox, from its own origin like any frontend would be.
    let inbox: SocketAddr = std::env::var("IMAP_GATEWAY_DEMO_INBOX")
        .unwrap_or_else(|_| "127.0.0.1:8090".to_owned())
        .parse()
        .expect("IMAP_GATEWAY_DEMO_INBOX must be an address like 127.0.0.1:8090");
    let inbox_listener = tokio::net::TcpListener::bind(inbox)
        .await
        .unwrap_or_else(|e| {
            panic!("cannot serve the web inbox on {inbox}: {e} (set IMAP_GATEWAY_DEMO_INBOX)")
        });
    let pages = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/web"
    )));
    tokio::spawn(async move { axum::serve(inbox_listener, pages).await });
    println!(
        "\nimap-gateway demo is running.\n\
         \n  IMAP server : {} (Dovecot, TLS; data in {})\
         \n  Gateway     : http://{listen}\
         \n  API docs    : http://{listen}/docs\
         \n  Web inbox   : http://{inbox}/?gateway=http://{listen} (IMAP_GATEWAY_DEMO_INBOX)\
         \n  CORS origins: {cors} (IMAP_GATEWAY_CORS_ORIGINS)\
         \n  Account     : demo / demo-password\
         \n  OAuth2      : access token {DEMO_ACCESS_TOKEN} (OAUTHBEARER/XOAUTH2,\
         \n                checked by a local introspection endpoint at {introspection_url})\
         \n  Sending     : {smtp} (Dovecot submission, STARTTLS), relayed to a local sink:\
         \n                every sent message is written to {outbox}\
         \n\nTry:\n  curl -s -u demo:demo-password http://{listen}/v1/mailboxes\n\
         \nThe real binary against the same Dovecot (on another port):\
         \n  IMAP_GATEWAY_IMAP_URL={url} IMAP_GATEWAY_IMAP_CA_FILE={ca} \\\
         \n  IMAP_GATEWAY_LISTEN=127.0.0.1:8081 cargo run --release -- --dev\n\
         \nPress Ctrl-C to stop.\n",
        dovecot.imaps_url(),
        dovecot.dir().display(),
        cors = config_cors(&cors),
        smtp = dovecot.submission_starttls_url(),
        outbox = outbox.path().display(),
        url = dovecot.imaps_url(),
        ca = dovecot.ca_file().display(),
        introspection_url = introspection.url(),
    );
    serve(listener, state, shutdown_signal())
        .await
        .expect("server failed");
    drop(dovecot);
    drop(sink);
    drop(introspection);
}
