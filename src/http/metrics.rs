//! `GET /metrics`: Prometheus text format (on unless `IMAP_GATEWAY_METRICS=false`).
//!
//! Counters and histograms are recorded where things happen (HTTP middleware, IMAP
//! commands, pool checkouts, logins); gauges of pools and watchers are read at scrape
//! time. Labels are bounded sets: no mailbox or user names.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Prometheus metrics: HTTP requests by route and status, request durations, IMAP
/// command durations by command and outcome, pool sessions and wait time, logins,
/// event-stream watchers.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 404, description = "Metrics are disabled", body = crate::error::ProblemDetails, content_type = "application/problem+json"),
    ))]
pub async fn get_metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    if !state.config.metrics {
        return Err(ApiError::NotFound {
            detail: "metrics are disabled (IMAP_GATEWAY_METRICS=false)".to_owned(),
        });
    }
    let stats = state.pools.stats();
    metrics::gauge!("imap_pool_sessions", "state" => "idle").set(stats.idle as f64);
    metrics::gauge!("imap_pool_sessions", "state" => "in_use")
        .set(stats.sessions.saturating_sub(stats.idle) as f64);
    metrics::gauge!("imap_pool_identities").set(stats.pools as f64);
    metrics::gauge!("imap_watchers").set(state.watchers.running() as f64);
    let mut response = crate::telemetry::metrics().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}
