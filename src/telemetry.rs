//! Logging: `tracing` with a pretty or JSON formatter, filtered by `RUST_LOG`
//! (default `info`). async-imap's `log` records are bridged in, so
//! `RUST_LOG=async_imap=trace` shows the protocol (which includes message data:
//! debugging only, never in production).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Log targets that are always off, whatever `RUST_LOG` says: async-imap traces every
/// command and response verbatim, which includes LOGIN passwords and message bodies.
/// The gateway's own `imap command` events (at debug) say what ran without the data.
const NEVER_LOGGED: [&str; 2] = ["async_imap=off", "imap_proto=off"];

/// The filter from `RUST_LOG` (default `info`), with [`NEVER_LOGGED`] forced off.
pub fn filter() -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for directive in NEVER_LOGGED {
        filter = filter.add_directive(directive.parse().expect("a valid static directive"));
    }
    filter
}

/// Installs the global subscriber.
pub fn init(format: LogFormat) {
    let filter = filter();
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        // Colours only on a terminal: escape codes in a log file are noise.
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init(),
    };
    if let Err(err) = result {
        eprintln!("logging was already initialised: {err}");
    }
}

/// Latency buckets (seconds) for HTTP requests, IMAP commands and pool waits:
/// sub-millisecond IMAP round trips up to 30 s timeouts.
const BUCKETS: [f64; 16] = [
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
];

/// The process-wide Prometheus recorder, installed on first use. Metric labels are
/// bounded: route templates, methods, status codes, IMAP command names and response
/// codes, never mailbox or user names.
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS)
            .expect("BUG: the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (embedding); ours still renders
        // what it records then, which is nothing, rather than failing start-up.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}
