//! `GET /healthz` (the process is up) and `GET /readyz` (the IMAP backend answers).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ProblemDetails};
use crate::state::AppState;

/// Health answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// Readiness: the IMAP backend accepts a connection and sends its greeting
/// (after the TLS handshake for TLS backends), and so does the SMTP server when
/// sending is configured.
///
/// The servers are probed at most once per `IMAP_GATEWAY_READINESS_INTERVAL`
/// (default 5 s); calls in between get the last probe's answer, so calling this
/// costs the mail servers nothing more however often it is called.
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses(
        (status = 200, description = "The IMAP (and SMTP) server answered the last probe", body = Health),
        (status = 503, description = "A server did not answer the last probe; `Retry-After` says when the next one is made", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state
        .readiness
        .check(state.pools.backend(), state.smtp.as_ref())
        .await
        .map_err(|not_ready| ApiError::Unavailable {
            detail: format!(
                "the {} server did not answer the readiness probe ({})",
                not_ready.server, not_ready.reason
            ),
            retry_after: not_ready.retry_after,
        })?;
    Ok(Json(Health {
        status: "ready".to_owned(),
    }))
}
