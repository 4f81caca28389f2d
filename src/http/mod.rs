//! The HTTP API: router, middleware and the OpenAPI document.
//!
//! Layers, outermost first: request context (request id, access log, 5xx cause
//! logging), panic catcher, load shedding (503 + Retry-After beyond
//! `IMAP_GATEWAY_MAX_CONCURRENT_REQUESTS` requests at once) and the request deadline
//! (`IMAP_GATEWAY_REQUEST_TIMEOUT`, up to the response headers: a streamed body may
//! run longer), CORS (when configured), body-size limit. Unknown routes and wrong
//! methods answer problem+json like everything else.

/// Checks out the caller's session as `$session` (a `PooledSession`) and evaluates
/// `$body` (a `Result<_, MailError>` expression using it); when the server closed that
/// session (BYE, or the connection dropped), again on another session. For reads
/// and other requests that are safe to repeat: Dovecot ends a session whose selected
/// mailbox another client deleted with `* BYE ... Mailbox was deleted under us` in
/// answer to its next command, Cyrus closes it, and the request then deserves the
/// fresh session's answer (usually a 404 for the deleted mailbox), not a 502. Every
/// pooled session of the user may have been closed at once (all had the mailbox
/// selected), and each lost one is discarded, so up to one try more than the pool
/// holds reaches a new session. A macro rather than a function taking a closure: the
/// body borrows the session and the request's values, which a closure returning a
/// future cannot express without boxing every handler.
macro_rules! retry_after_bye {
    ($state:expr, $user:expr, |$session:ident| $body:expr) => {{
        let mut tries = 0;
        loop {
            tries += 1;
            let mut $session = $state.session($user).await?;
            match $body {
                Err(err) if crate::http::worth_another_session(&$state, tries, &err) => {
                    drop($session);
                }
                other => break other,
            }
        }
    }};
}

/// Whether a request that failed with `err` on its `tries`-th session should run
/// again on another (see `retry_after_bye!`): the server closed that session, and
/// the user's pool may still hold sessions it closed too.
pub(crate) fn worth_another_session(
    state: &crate::state::AppState,
    tries: usize,
    err: &crate::mail::MailError,
) -> bool {
    err.is_lost_session() && tries <= state.config.max_sessions_per_user
}

pub mod append;
pub mod auth;
pub mod authn;
pub mod changes;
pub mod downloads;
pub mod events;
pub mod extract;
pub mod flags;
pub mod health;
pub mod mailboxes;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod search;
pub mod send;
pub mod threads;
pub mod transfer;

use std::time::Instant;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument as _;
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{ApiError, LoggedError, RequestContext, REQUEST_CONTEXT};
use crate::state::AppState;

/// The request-id header, set on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Largest JSON request body accepted.
pub const MAX_JSON_BODY: usize = 64 * 1024;

use openapi::ApiDoc;
pub use openapi::ProblemResponses;

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::get_metrics))
        .routes(routes!(auth::create_token))
        .routes(routes!(
            mailboxes::list_mailboxes,
            mailboxes::create_mailbox
        ))
        .routes(routes!(
            mailboxes::get_mailbox,
            mailboxes::update_mailbox,
            mailboxes::delete_mailbox
        ))
        .routes(routes!(messages::list_messages))
        .routes(routes!(search::search_messages))
        .routes(routes!(threads::list_mailbox_threads))
        .routes(routes!(threads::get_mailbox_thread))
        .routes(routes!(changes::get_changes))
        .routes(routes!(events::stream_events))
        .routes(routes!(events::create_ticket))
        .routes(
            routes!(append::append_message).layer(DefaultBodyLimit::max(append::MAX_APPEND_BYTES)),
        )
        .routes(routes!(messages::get_message, transfer::delete_message))
        .routes(routes!(downloads::get_raw_message))
        .routes(routes!(downloads::get_attachment))
        .routes(routes!(
            flags::get_flags,
            flags::replace_flags,
            flags::update_flags
        ))
        .routes(routes!(send::send_message).layer(DefaultBodyLimit::max(send::MAX_SEND_BYTES)))
        .routes(routes!(send::send_draft))
        .routes(routes!(flags::bulk_update_flags))
        .routes(routes!(transfer::move_message))
        .routes(routes!(transfer::copy_message))
        .routes(routes!(transfer::bulk_move))
        .routes(routes!(transfer::bulk_copy))
        .routes(routes!(transfer::bulk_delete))
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(api_router().split_for_parts().1)
}

/// Builds the complete router.
pub fn router(state: AppState) -> Router {
    let (api, spec) = api_router().split_for_parts();
    let spec = openapi::finish(spec);
    let mut router = api
        .merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY));
    if let Some(cors) = cors_layer(&state.config.cors_origins) {
        router = router.layer(cors);
    }
    let limits = tower::ServiceBuilder::new()
        .layer(HandleErrorLayer::new(refused_by_limits))
        .load_shed()
        // Global: `Router::layer` wraps every route on its own, and a plain
        // concurrency limit would then count per route.
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            state.config.max_concurrent_requests,
        ))
        .timeout(state.config.request_timeout);
    router
        .layer(limits)
        // Inside the request context, so a panic's 500 carries the request id.
        .layer(CatchPanicLayer::custom(panic_to_problem))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_context,
        ))
        .with_state(state)
}

/// A panic in a handler (or in a dependency it calls: imap-proto 0.17 panics on some
/// malformed server responses, e.g. `INTERNALDATE NIL`, found by fuzzing) becomes a
/// logged 500 problem instead of a dropped connection. The IMAP session in use is
/// dropped mid-command during unwinding and is therefore discarded, not pooled.
fn panic_to_problem(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "request handler panicked");
    axum::response::IntoResponse::into_response(ApiError::Internal(anyhow::anyhow!(
        "handler panicked"
    )))
}

/// The answer when the gateway's own limits refuse a request: 503 + Retry-After, in
/// the gateway's words. A request cut off by the deadline drops its handler, and
/// with it any IMAP command under way (the pool reads its answer to the end or
/// discards the session).
async fn refused_by_limits(err: tower::BoxError) -> ApiError {
    let retry_after = std::time::Duration::from_secs(1);
    if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::Unavailable {
            detail: "the request did not complete within the gateway's request deadline".to_owned(),
            retry_after,
        }
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        ApiError::Unavailable {
            detail: "the gateway is serving as many requests as it allows; retry shortly"
                .to_owned(),
            retry_after,
        }
    } else {
        ApiError::Internal(anyhow::anyhow!("request limits: {err}"))
    }
}

/// The method as a metric label: the ones the API serves, and `other` for the rest,
/// so invented methods cannot add label values (each would be a new series forever).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound {
        detail: "there is no such route".to_owned(),
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                axum::http::header::IF_MATCH,
                HeaderName::from_static("last-event-id"),
            ])
            // What a frontend reads: the flags' ETag for If-Match, a download's
            // file name and range, where a new message or mailbox is, when to retry,
            // the request id for support, and why a request was refused.
            .expose_headers([
                REQUEST_ID,
                axum::http::header::ETAG,
                axum::http::header::CONTENT_DISPOSITION,
                axum::http::header::CONTENT_RANGE,
                axum::http::header::LOCATION,
                axum::http::header::RETRY_AFTER,
                axum::http::header::WWW_AUTHENTICATE,
            ]),
    )
}

/// A client-supplied request id is kept only when short and plain; otherwise a UUID.
fn request_id_from(request: &Request) -> String {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Sets the request id (request and response header, log span, problem bodies),
/// writes the access log line and logs the cause of 5xx answers.
async fn request_context(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request_id_from(&request);
    let header_value =
        HeaderValue::from_str(&request_id).expect("BUG: request ids are plain ASCII");
    request
        .headers_mut()
        .insert(REQUEST_ID, header_value.clone());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let context = RequestContext {
        request_id: request_id.clone(),
        path: request.uri().path().to_owned(),
        basic_auth: state.config.basic_auth,
    };
    // Span fields: never the raw path (it holds mailbox names) nor any header value.
    let span = tracing::info_span!("request", request_id = %request_id, %method, route = %route);
    let mut response = REQUEST_CONTEXT
        .scope(context, next.run(request))
        .instrument(span.clone())
        .await;
    response.headers_mut().insert(REQUEST_ID, header_value);
    let _enter = span.enter();
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    let elapsed_ms = elapsed * 1000.0;
    // Labels are bounded: route template, method (known ones, else `other`), status.
    let method = method_label(&method);
    ::metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    ::metrics::histogram!("http_request_duration_seconds", "route" => route.clone(), "method" => method)
        .record(elapsed);
    if let Some(LoggedError(cause)) = response.extensions().get::<LoggedError>() {
        tracing::error!(status, elapsed_ms, cause = %cause, "request failed");
    } else {
        tracing::info!(status, elapsed_ms, "request");
    }
    response
}
