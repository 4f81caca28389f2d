//! [`ApiError`]: every failure a handler can answer with, rendered as RFC 9457
//! `application/problem+json`.
//!
//! IMAP outcomes are classified once, here, by the table of STYLE.md B3
//! ([`ApiError::status`] is a pure function with a table test). `detail` is always our
//! own text; the server's text is appended only to 4xx answers, and internal error
//! chains never leave the process: 5xx causes are attached to the response as an
//! extension ([`LoggedError`]) and logged by the request middleware in
//! `http/mod.rs`, which sees every response.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::MissingScope;
use crate::imap::error::SERVER_LIMIT_BACKOFF;
use crate::imap::{ImapError, PoolFailure, RespCode, ValidationError};
use crate::mail::changes::ChangesError;
use crate::mail::{MailError, Op};
use crate::smtp::{Reply, SmtpError};

tokio::task_local! {
    /// Per-request facts that error bodies need, set by the request-context middleware.
    pub static REQUEST_CONTEXT: RequestContext;
}

/// What an error response needs to know about the request it answers.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The `x-request-id`.
    pub request_id: String,
    /// The request path, used as the problem `instance`.
    pub path: String,
    /// Whether Basic auth is on (for `WWW-Authenticate`).
    pub basic_auth: bool,
}

/// RFC 9457 problem details, with the gateway's extension members.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ProblemDetails {
    /// A URI naming the problem type (`urn:imap-gateway:problem:<slug>`, see README).
    #[serde(rename = "type")]
    #[schema(example = "urn:imap-gateway:problem:not-found")]
    pub problem_type: String,
    /// Short summary of the problem type (the HTTP reason phrase).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence, in the gateway's words.
    pub detail: String,
    /// The request path this occurrence is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The IMAP response code behind the error (e.g. `NONEXISTENT`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_code: Option<String>,
    /// The SMTP reply code behind the error (e.g. 550), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_code: Option<u16>,
    /// The SMTP enhanced status code (RFC 3463, e.g. `5.1.1`), when the server gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_enhanced_code: Option<String>,
    /// The request id (also in the `x-request-id` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Field-level validation errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The resource's current state, for 412 answers (e.g. a message's flags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub current: Option<serde_json::Value>,
}

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct FieldError {
    /// The field, path or query parameter.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl From<ValidationError> for FieldError {
    fn from(err: ValidationError) -> Self {
        Self {
            field: err.field.to_owned(),
            message: err.message,
        }
    }
}

/// An error answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: syntactically bad input.
    #[error("bad request: {detail}")]
    BadRequest {
        /// Our explanation.
        detail: String,
        /// Per-field errors.
        errors: Vec<FieldError>,
    },
    /// 422: well-formed input that cannot be acted on.
    #[error("unprocessable: {detail}")]
    Unprocessable {
        /// Our explanation.
        detail: String,
        /// Per-field errors.
        errors: Vec<FieldError>,
    },
    /// 401 with `WWW-Authenticate`.
    #[error("unauthorized: {detail}")]
    Unauthorized {
        /// Our explanation.
        detail: String,
        /// RFC 6750 `error` for the Bearer challenge (`invalid_token`).
        bearer_error: Option<&'static str>,
    },
    /// 403: the token lacks a scope.
    #[error("forbidden: {detail}")]
    Forbidden {
        /// Our explanation.
        detail: String,
    },
    /// 404.
    #[error("not found: {detail}")]
    NotFound {
        /// Our explanation.
        detail: String,
    },
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: conflicts with the resource's state.
    #[error("conflict: {detail}")]
    Conflict {
        /// Our explanation.
        detail: String,
        /// The problem type slug (`conflict`, `cursor-expired`, ...).
        slug: &'static str,
    },
    /// 412: an `If-Match` precondition failed.
    #[error("precondition failed: {detail}")]
    PreconditionFailed {
        /// Our explanation.
        detail: String,
        /// The current state, returned so the client can merge.
        current: serde_json::Value,
    },
    /// 416 for a `Range` outside the body.
    #[error("range not satisfiable")]
    RangeNotSatisfiable {
        /// The body size, for `Content-Range: bytes */size`.
        size: u64,
    },
    /// 413.
    #[error("payload too large: {detail}")]
    PayloadTooLarge {
        /// Our explanation.
        detail: String,
    },
    /// 415.
    #[error("unsupported media type: {detail}")]
    UnsupportedMediaType {
        /// Our explanation.
        detail: String,
    },
    /// 429 + `Retry-After`.
    #[error("too many requests")]
    TooManyRequests {
        /// Our explanation.
        detail: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// 503 + `Retry-After`: the gateway itself cannot take the request now (over its
    /// concurrency limit, past its request deadline, shutting down, or the backend
    /// was found unreachable by the last readiness probe).
    #[error("unavailable: {detail}")]
    Unavailable {
        /// Our explanation.
        detail: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// An IMAP failure, classified by [`ApiError::status`].
    #[error("IMAP error while trying to {}: {source}", op.doing())]
    Imap {
        /// What we were doing.
        op: Op,
        /// What the server or connection said.
        #[source]
        source: ImapError,
    },
    /// An SMTP failure: 422 for a permanent refusal, 503 for a temporary one, 502
    /// or 504 when the server cannot be reached or does not answer.
    #[error("{0}")]
    Smtp(SmtpError),
    /// 501: the gateway is not set up for this (e.g. sending without an SMTP server).
    #[error("not implemented: {detail}")]
    NotImplemented {
        /// Our explanation.
        detail: String,
    },
    /// 500: a bug or an unexpected failure; details are logged, never sent.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// The HTTP status of an SMTP failure.
fn smtp_status(err: &SmtpError) -> StatusCode {
    match err {
        SmtpError::Refused(reply) if reply.is_permanent() => StatusCode::UNPROCESSABLE_ENTITY,
        SmtpError::Refused(_) => StatusCode::SERVICE_UNAVAILABLE,
        SmtpError::NoRecipient(refusals) if refusals.iter().any(|r| r.reply.is_permanent()) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        SmtpError::NoRecipient(_) => StatusCode::SERVICE_UNAVAILABLE,
        SmtpError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        SmtpError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        SmtpError::TokenRejected { .. } => StatusCode::UNAUTHORIZED,
        SmtpError::Connect(_)
        | SmtpError::Tls(_)
        | SmtpError::AuthFailed(_)
        | SmtpError::NoMechanism(_)
        | SmtpError::Protocol(_) => StatusCode::BAD_GATEWAY,
    }
}

/// The problem type of a refused OAuth2 access token: distinct from `unauthorized`
/// (a wrong password) because the fix is different: get a new access token from
/// the provider and exchange it again.
const TOKEN_REJECTED: &str = "oauth2-token-rejected";

/// Attached to 5xx responses so the request middleware (`http/mod.rs`) logs the cause.
#[derive(Debug, Clone)]
pub struct LoggedError(pub Arc<String>);

impl ApiError {
    /// 400 for one field.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::BadRequest {
            detail: format!("invalid {field}: {message}"),
            errors: vec![FieldError {
                field: field.to_owned(),
                message,
            }],
        }
    }

    /// 422 for one field.
    pub fn unprocessable_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Unprocessable {
            detail: format!("invalid {field}: {message}"),
            errors: vec![FieldError {
                field: field.to_owned(),
                message,
            }],
        }
    }

    /// 401 with an explanation.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Unauthorized {
            detail: detail.into(),
            bearer_error: None,
        }
    }

    /// Wraps an IMAP error with the operation it happened in (classified as
    /// [`MailError::imap`] does).
    pub fn imap(op: Op, source: ImapError) -> Self {
        MailError::imap(op, source).into()
    }

    /// The HTTP status, a pure function of the error (STYLE.md B3).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Imap { op, source } => imap_status(*op, source),
            Self::Smtp(err) => smtp_status(err),
            Self::NotImplemented { .. } => StatusCode::NOT_IMPLEMENTED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "invalid-request",
            Self::Unprocessable { .. } => "validation-failed",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden { .. } => "insufficient-scope",
            Self::NotFound { .. } => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict { slug, .. } => slug,
            Self::PreconditionFailed { .. } => "precondition-failed",
            Self::RangeNotSatisfiable { .. } => "range-not-satisfiable",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::UnsupportedMediaType { .. } => "unsupported-media-type",
            Self::TooManyRequests { .. } => "rate-limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Imap {
                source: ImapError::TokenRejected { .. },
                ..
            } => TOKEN_REJECTED,
            Self::Imap { .. } => match self.status().as_u16() {
                401 => "unauthorized",
                403 => "imap-forbidden",
                404 => "not-found",
                409 => "conflict",
                422 => "imap-refused",
                500 => "internal",
                501 => "not-supported",
                503 => "backend-busy",
                504 => "backend-timeout",
                507 => "over-quota",
                _ => "backend-error",
            },
            Self::Smtp(err) => match err {
                SmtpError::Refused(_) | SmtpError::NoRecipient(_) => {
                    if self.status() == StatusCode::UNPROCESSABLE_ENTITY {
                        "smtp-refused"
                    } else {
                        "smtp-deferred"
                    }
                }
                SmtpError::TooLarge { .. } => "payload-too-large",
                SmtpError::Timeout => "smtp-timeout",
                SmtpError::AuthFailed(_) => "smtp-auth-failed",
                SmtpError::TokenRejected { .. } => TOKEN_REJECTED,
                SmtpError::Connect(_)
                | SmtpError::Tls(_)
                | SmtpError::NoMechanism(_)
                | SmtpError::Protocol(_) => "smtp-unavailable",
            },
            Self::NotImplemented { .. } => "not-configured",
            Self::Internal(_) => "internal",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after, .. } | Self::Unavailable { retry_after, .. } => {
                Some(retry_after.as_secs().max(1))
            }
            Self::Imap {
                source: ImapError::Pool(PoolFailure::ServerLimit),
                ..
            } => Some(SERVER_LIMIT_BACKOFF.as_secs()),
            Self::Imap { .. } if self.status() == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            // A temporary SMTP refusal or an unreachable server: try again in a minute.
            Self::Smtp(_) if self.status() == StatusCode::SERVICE_UNAVAILABLE => Some(60),
            Self::Smtp(SmtpError::Connect(_)) => Some(60),
            _ => None,
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::BadRequest { detail, .. }
            | Self::Unprocessable { detail, .. }
            | Self::Unauthorized { detail, .. }
            | Self::Forbidden { detail }
            | Self::NotFound { detail }
            | Self::Conflict { detail, .. }
            | Self::PreconditionFailed { detail, .. }
            | Self::PayloadTooLarge { detail }
            | Self::UnsupportedMediaType { detail }
            | Self::NotImplemented { detail }
            | Self::TooManyRequests { detail, .. }
            | Self::Unavailable { detail, .. } => detail.clone(),
            Self::Smtp(err) => smtp_detail(err),
            Self::MethodNotAllowed => "this method is not allowed on this resource".to_owned(),
            Self::RangeNotSatisfiable { size } => {
                format!("the range is outside the {size}-byte body")
            }
            Self::Imap { op, source } => {
                let status = self.status();
                let reason = match status.as_u16() {
                    401 => "the IMAP server rejected the credentials",
                    403 => "the IMAP server denied permission",
                    404 => "the mailbox or message does not exist",
                    409 => "it conflicts with the mailbox's current state",
                    422 => "the IMAP server refused the request",
                    503 if matches!(source, ImapError::Pool(PoolFailure::ServerLimit)) => {
                        "the IMAP server allows no more sessions for this user right now; retry after the delay given"
                    }
                    501 => "the IMAP server does not support it",
                    503 => "the IMAP server or the session pool is busy; retry shortly",
                    504 => "the IMAP server did not answer in time",
                    507 => "the mailbox is over quota",
                    500 => "an internal error occurred",
                    _ => "the IMAP server failed",
                };
                match source {
                    ImapError::TokenRejected { status } => {
                        token_rejected_detail("IMAP", status.as_deref())
                    }
                    ImapError::Unsupported(what) => {
                        format!(
                            "could not {}: the IMAP server does not offer {what}",
                            op.doing()
                        )
                    }
                    // Server text only on 4xx (STYLE.md B3), and never for auth failures.
                    ImapError::No { text, .. }
                        if status.is_client_error()
                            && status != StatusCode::UNAUTHORIZED
                            && !text.is_empty() =>
                    {
                        format!("could not {}: {reason} (server said: {text})", op.doing())
                    }
                    _ => format!("could not {}: {reason}", op.doing()),
                }
            }
            Self::Internal(_) => "an internal error occurred".to_owned(),
        }
    }

    fn errors(&self) -> Vec<FieldError> {
        match self {
            Self::BadRequest { errors, .. } | Self::Unprocessable { errors, .. } => errors.clone(),
            _ => Vec::new(),
        }
    }

    /// The SMTP reply behind the error: code and enhanced status code.
    fn smtp_reply(&self) -> Option<&Reply> {
        match self {
            Self::Smtp(SmtpError::Refused(reply) | SmtpError::AuthFailed(reply)) => Some(reply),
            Self::Smtp(SmtpError::NoRecipient(refusals)) => refusals.first().map(|r| &r.reply),
            _ => None,
        }
    }

    fn imap_code(&self) -> Option<String> {
        match self {
            Self::Imap { source, .. } => source.code().map(|c| c.name().to_owned()),
            _ => None,
        }
    }
}

impl From<MissingScope> for ApiError {
    fn from(err: MissingScope) -> Self {
        Self::Forbidden {
            detail: err.to_string(),
        }
    }
}

/// The one rule for bad input (README, Errors): a value that is not a well-formed
/// instance of its type is 400 `invalid-request`.
impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self::bad_field(err.field, err.message)
    }
}

/// The service layer's errors, mapped in one place: [`MailError::Invalid`] is 400,
/// [`MailError::Unacceptable`] 422 (a well-formed request that cannot be acted on).
impl From<MailError> for ApiError {
    fn from(err: MailError) -> Self {
        match err {
            MailError::Smtp(err) => Self::Smtp(err),
            MailError::Invalid(v) => v.into(),
            MailError::Unacceptable(v) => Self::unprocessable_field(v.field, v.message),
            MailError::NotFound(detail) => Self::NotFound { detail },
            MailError::Conflict { detail, slug } => Self::Conflict { detail, slug },
            MailError::Changed { detail, current } => Self::PreconditionFailed { detail, current },
            MailError::Imap { op, source } => Self::Imap { op, source },
            MailError::Internal(err) => Self::Internal(err),
        }
    }
}

impl From<ChangesError> for ApiError {
    fn from(err: ChangesError) -> Self {
        MailError::from(err).into()
    }
}

/// STYLE.md B3: IMAP outcome → HTTP status.
fn imap_status(op: Op, err: &ImapError) -> StatusCode {
    match err {
        ImapError::No { code, .. } => match code {
            // EXPUNGEISSUED: another client expunged (some of) the messages meanwhile.
            Some(RespCode::NonExistent | RespCode::TryCreate | RespCode::ExpungeIssued) => {
                StatusCode::NOT_FOUND
            }
            Some(RespCode::AlreadyExists | RespCode::HasChildren) => StatusCode::CONFLICT,
            Some(RespCode::NoPerm | RespCode::AuthorizationFailed) => StatusCode::FORBIDDEN,
            Some(RespCode::AuthenticationFailed | RespCode::Expired) => StatusCode::UNAUTHORIZED,
            Some(RespCode::OverQuota) => StatusCode::INSUFFICIENT_STORAGE,
            Some(RespCode::Limit | RespCode::Cannot | RespCode::BadCharset) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Some(RespCode::InUse | RespCode::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
            Some(
                RespCode::ServerBug
                | RespCode::ContactAdmin
                | RespCode::Corruption
                | RespCode::PrivacyRequired,
            ) => StatusCode::BAD_GATEWAY,
            Some(RespCode::ClientBug) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => match op {
                Op::Select | Op::GetMailbox => StatusCode::NOT_FOUND,
                Op::CreateMailbox | Op::RenameMailbox => StatusCode::CONFLICT,
                Op::Login => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_GATEWAY,
            },
        },
        ImapError::Bad { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        ImapError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ImapError::Pool(_) => StatusCode::SERVICE_UNAVAILABLE,
        ImapError::Invalid(_) => StatusCode::BAD_REQUEST,
        ImapError::NotRepresentable(_) | ImapError::NotSelectable(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ImapError::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
        ImapError::TokenRejected { .. } => StatusCode::UNAUTHORIZED,
        // Turned into a `uid-validity-changed` conflict by `MailError::imap`.
        ImapError::UidValidityChanged { .. } => StatusCode::CONFLICT,
        ImapError::Bye { .. }
        | ImapError::ConnectionLost
        | ImapError::Io(_)
        | ImapError::Tls(_)
        | ImapError::Protocol(_) => match op {
            Op::Probe => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        },
    }
}

/// Builds a problem response with the current request's context.
fn problem_response(status: StatusCode, body: ProblemDetails) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let context = REQUEST_CONTEXT.try_with(Clone::clone).ok();
        let body = ProblemDetails {
            problem_type: format!("urn:imap-gateway:problem:{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            instance: context.as_ref().map(|c| c.path.clone()),
            imap_code: self.imap_code(),
            smtp_code: self.smtp_reply().map(|r| r.code),
            smtp_enhanced_code: self.smtp_reply().and_then(|r| r.enhanced.clone()),
            request_id: context.as_ref().map(|c| c.request_id.clone()),
            errors: self.errors(),
            current: match &self {
                Self::PreconditionFailed { current, .. } => Some(current.clone()),
                _ => None,
            },
        };
        let mut response = problem_response(status, body);
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Self::RangeNotSatisfiable { size } = &self {
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                headers.insert(header::CONTENT_RANGE, value);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            let bearer_error = match &self {
                Self::Unauthorized { bearer_error, .. } => *bearer_error,
                // The sealed access token no longer works: the client must refresh it.
                Self::Imap {
                    source: ImapError::TokenRejected { .. },
                    ..
                }
                | Self::Smtp(SmtpError::TokenRejected { .. }) => Some("invalid_token"),
                _ => None,
            };
            let bearer = match bearer_error {
                Some(error) => format!("Bearer realm=\"imap-gateway\", error=\"{error}\""),
                None => "Bearer realm=\"imap-gateway\"".to_owned(),
            };
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(&bearer).expect("BUG: challenge is ASCII"),
            );
            if context.as_ref().is_none_or(|c| c.basic_auth) {
                headers.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"imap-gateway\", charset=\"UTF-8\""),
                );
            }
        }
        if status.is_server_error() {
            response
                .extensions_mut()
                .insert(LoggedError(Arc::new(format!("{self:#}"))));
        }
        response
    }
}

/// What a refused access token means, and what to do: never the token itself.
fn token_rejected_detail(server: &str, status: Option<&str>) -> String {
    let reason = status.map_or_else(String::new, |s| format!(" (server said: {s})"));
    format!(
        "the {server} server refused the OAuth2 access token{reason}: it has expired, was revoked, \
         or is not for this user; get a new access token from the provider and exchange it \
         at POST /v1/auth/token"
    )
}

/// What an SMTP failure means for the client, with the server's words for refusals
/// (never for failed logins).
fn smtp_detail(err: &SmtpError) -> String {
    match err {
        SmtpError::Refused(reply) if reply.is_permanent() => format!(
            "the submission server refused the message; sending it again will fail the same way (server said: {} {})",
            reply.code, reply.text
        ),
        SmtpError::Refused(reply) => format!(
            "the submission server deferred the message; nothing was sent, try again later (server said: {} {})",
            reply.code, reply.text
        ),
        SmtpError::NoRecipient(refusals) => {
            let list: Vec<String> = refusals
                .iter()
                .map(|r| format!("{}: {} {}", r.address, r.reply.code, r.reply.text))
                .collect();
            format!(
                "the submission server refused every recipient; nothing was sent ({})",
                list.join("; ")
            )
        }
        SmtpError::AuthFailed(_) => {
            "the submission server refused the credentials that the IMAP server accepted".to_owned()
        }
        SmtpError::TokenRejected { status, .. } => {
            token_rejected_detail("submission", status.as_deref())
        }
        SmtpError::NoMechanism(what) => {
            format!("the submission server offers no {what}; nothing was sent")
        }
        SmtpError::TooLarge { size, limit } => format!(
            "the message is {size} bytes; the submission server takes at most {limit}; nothing was sent"
        ),
        SmtpError::Timeout => {
            "the submission server did not answer in time; the message may or may not have been sent".to_owned()
        }
        SmtpError::Connect(_) | SmtpError::Tls(_) => {
            "the submission server cannot be reached; nothing was sent".to_owned()
        }
        SmtpError::Protocol(_) => "the submission server failed; nothing was sent".to_owned(),
    }
}

#[cfg(test)]
mod tests;
