//! # imap-gateway
//!
//! A JSON/HTTP API in front of any IMAP server: live, pooled, stateless.
//!
//! ## Layout
//! - [`config`]: CLI flags and `IMAP_GATEWAY_*` variables, validated once.
//! - [`telemetry`]: logging and metrics set-up.
//! - [`server`]: the HTTP accept loop (header deadline, graceful shutdown).
//! - [`error`]: [`error::ApiError`], RFC 9457 problem responses, the IMAP → HTTP table.
//! - [`auth`]: tokens, Basic credentials, scopes, login throttling, client addresses.
//! - [`http`]: router, middleware, handlers (one file per resource), OpenAPI. A
//!   handler extracts the request, validates it, checks out a session, calls one
//!   [`mail`] operation and renders the answer.
//! - [`mail`]: the service layer: what the API does in mail terms (list pages and
//!   cursors, reading, downloads, flags, transfers, storing, changes, signed tokens),
//!   with its own error, [`mail::MailError`].
//! - [`model`]: JSON request/response types and their translation from `imap` values.
//! - [`imap`]: validated IMAP types, command rendering (`command/`, private: the one
//!   place user text becomes IMAP), the response loops (`exchange.rs`), sessions and
//!   their operations (`session/`), the server profile where server differences are
//!   decided (`profile.rs`: capabilities, NAMESPACE naming, change reporting),
//!   pools, watchers.
//! - [`state`]: the shared [`state::AppState`] (configuration, pools, token codec).
//!
//! Dependencies point down: `http` → `state` → `error` → `mail` → `model`, `auth` →
//! `imap` (`config` uses `auth` for the trusted-proxy list). `http` uses only validated values from `imap` (names, UIDs, part numbers)
//! and never an IMAP command, FETCH item or capability; `imap` knows nothing of HTTP.
//! No module imports one that imports it back.

#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod imap;
pub mod mail;
pub mod model;
pub mod sasl;
pub mod server;
pub mod smtp;
pub mod state;
pub mod telemetry;
pub mod transport;

use std::future::Future;
use std::time::Duration;

pub use http::router as app;
pub use state::AppState;

/// Serves the API on `listener` until `shutdown` completes, then logs out the pooled
/// IMAP sessions.
///
/// # Errors
/// I/O errors from the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app(state.clone());
    let signal_state = state.clone();
    let shutdown = async move {
        shutdown.await;
        // End event streams, which never finish by themselves; other requests
        // complete normally.
        signal_state.shutting_down.send_replace(true);
    };
    let header_timeout = state.config.http_header_timeout;
    let shutdown_timeout = state.config.shutdown_timeout;
    server::run(listener, router, header_timeout, shutdown_timeout, shutdown).await;
    state.pools.close(Duration::from_secs(5)).await;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
