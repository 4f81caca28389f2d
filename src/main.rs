//! The `imap-gateway` binary: parse configuration, set up logging, serve until
//! SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser as _;
use imap_gateway::config::Cli;
use imap_gateway::{serve, shutdown_signal, telemetry, AppState};

/// jemalloc instead of glibc's malloc: glibc keeps the pages a burst of requests
/// freed in its per-thread arenas (RSS stayed 10-12 MiB above idle after 200 users
/// at once), while jemalloc's background thread hands them back within a second
/// (`dirty_decay_ms` in .cargo/config.toml): 3-4 MiB above idle in `tests/load.rs`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Stack of each runtime thread. imap-proto parses nested lists by recursion, about
/// 4 KiB a level in a release build (measured: 250 levels pass on Tokio's default
/// 2 MiB, 600 overflow); `imap/guard.rs` refuses responses nested deeper than its
/// `MAX_NESTING` (128), so 8 MiB leaves a wide margin for the rest of the stack.
const THREAD_STACK: usize = 8 << 20;

fn main() -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK)
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(err) => {
            eprintln!("imap-gateway: cannot start the runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let config = match Cli::parse().into_config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("imap-gateway: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    if config.secret_generated {
        tracing::warn!(
            "DEVELOPMENT MODE: using a random secret generated at start-up; tokens die with \
             this process and other instances will not accept them. Set IMAP_GATEWAY_SECRET \
             or IMAP_GATEWAY_SECRET_FILE in production."
        );
    }
    if config.is_plaintext_backend() {
        tracing::warn!(backend = %config.imap_url, "IMAP passwords travel UNENCRYPTED to the backend (tls=none)");
    }
    if let Some(smtp) = config.smtp_url.as_ref().filter(|url| url.is_plaintext()) {
        tracing::warn!(smtp = %smtp, "SMTP passwords and messages travel UNENCRYPTED to the submission server (tls=none)");
    }
    let listen = config.listen;
    let state = match AppState::build(config) {
        Ok(state) => state,
        Err(err) => {
            eprintln!("imap-gateway: invalid setting IMAP_GATEWAY_IMAP_CA_FILE: {err:#}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("imap-gateway: cannot listen on {listen} (IMAP_GATEWAY_LISTEN): {err}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(%listen, backend = %state.config.imap_url, "imap-gateway listening");
    match serve(listener, state, shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}
