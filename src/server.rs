//! The HTTP accept loop: HTTP/1.1 and HTTP/2 on one port, `TCP_NODELAY`, a deadline
//! for request headers, and graceful shutdown.
//!
//! Why not `axum::serve`: it sets no timer, so a client that opens a connection and
//! never finishes its headers (slowloris) or never sends anything holds a socket and
//! a task forever. Here such connections are closed after the header timeout
//! (`IMAP_GATEWAY_HTTP_HEADER_TIMEOUT`). They never held an IMAP session: sessions
//! are taken only once a request has been read and authenticated.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting
/// and waits for open connections to finish their requests, at most
/// `shutdown_timeout` (then the remaining connections are dropped).
pub async fn run(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    // Every connection's task, so those still open at the shutdown deadline can be
    // ended (dropping a task closes its connection).
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Reap finished connections as we go, so the set holds open ones only.
        while connections.try_join_next().is_some() {}
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: keep serving the open
                    // connections, try again shortly.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Nagle's algorithm delays the last small write of a streamed body by a
        // delayed-ACK round (40 ms): send segments at once.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(remote));
            router.clone().oneshot(request.map(Body::new))
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        connections.spawn(async move {
            // hyper's header timeout starts with the first byte; a client that sends
            // nothing at all would wait in protocol detection forever.
            // (`peek` waits for data; `readable` can report a fresh socket ready.)
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            // Errors here are the client's (reset, timeout, malformed request).
            let _ = watcher.watch(connection).await;
        });
    }
    drop(listener);
    if tokio::time::timeout(shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            after = ?shutdown_timeout,
            open = connections.len(),
            "shutdown deadline reached; closing the connections still open"
        );
        connections.abort_all();
    }
}
