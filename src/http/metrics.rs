//! `GET /metrics`: Prometheus text format (on unless `IMAP_GATEWAY_METRICS=false`),
//! never to web pages (a request with `Origin` gets 403), and only with the bearer
//! token when `IMAP_GATEWAY_METRICS_TOKEN` is set.
//!
//! Counters and histograms are recorded where things happen (HTTP middleware, IMAP
//! commands, pool checkouts, logins); gauges of pools and watchers are read at scrape
//! time. Labels are bounded sets: no mailbox or user names.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret as _;
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;
use crate::state::AppState;

/// Prometheus metrics: HTTP requests by route and status, request durations, IMAP
/// command durations by command and outcome, pool sessions and wait time, logins,
/// event-stream watchers.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 401, description = "IMAP_GATEWAY_METRICS_TOKEN is set and the request does not carry it", body = crate::error::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The request came from a web page (it has an `Origin` header)", body = crate::error::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Metrics are disabled", body = crate::error::ProblemDetails, content_type = "application/problem+json"),
    ))]
pub async fn get_metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !state.config.metrics {
        return Err(ApiError::NotFound {
            detail: "metrics are disabled (IMAP_GATEWAY_METRICS=false)".to_owned(),
        });
    }
    // A browser names the page's origin on every cross-origin request; no web page
    // has business reading the gateway's metrics, whatever CORS allows the API.
    if headers.contains_key(header::ORIGIN) {
        return Err(ApiError::Forbidden {
            detail: "metrics are not served to web pages".to_owned(),
        });
    }
    if let Some(token) = &state.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let expected = token.expose_secret().as_bytes();
        if !bool::from(given.as_bytes().ct_eq(expected)) {
            return Err(ApiError::Unauthorized {
                detail: "metrics need `Authorization: Bearer` with IMAP_GATEWAY_METRICS_TOKEN"
                    .to_owned(),
                bearer_error: Some("invalid_token"),
            });
        }
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
