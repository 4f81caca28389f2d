//! Logging: `tracing` with a pretty or JSON formatter, filtered by `RUST_LOG`
//! (default `info`). async-imap's `log` records are bridged in, so
//! `RUST_LOG=async_imap=trace` shows the protocol (which includes message data:
//! debugging only, never in production).

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
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
