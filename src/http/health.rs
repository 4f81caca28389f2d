//! `GET /healthz` (the process is up) and `GET /readyz` (the IMAP backend answers).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ProblemDetails};
use crate::mail::Op;
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
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses(
        (status = 200, description = "The IMAP backend is reachable", body = Health),
        (status = 503, description = "The IMAP backend is not reachable", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state
        .pools
        .backend()
        .probe()
        .await
        .map_err(|err| ApiError::imap(Op::Probe, err))?;
    if let Some(smtp) = state.smtp.as_ref() {
        smtp.probe().await.map_err(ApiError::Smtp)?;
    }
    Ok(Json(Health {
        status: "ready".to_owned(),
    }))
}
