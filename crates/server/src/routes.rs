//! The HTTP routes.

use std::sync::Arc;
use std::time::Duration;

use crate::report::Report;
use axum::body::Bytes;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use creative_feedback_core::{Decision, ExplorationRecord, Rejected};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::health::HealthReport;
use crate::live::StepSample;
use crate::service::{MetricsReport, Service, UpdateError};

const DASHBOARD: &str = include_str!("dashboard.html");

/// An error answer: always `{"error": …}` (plus the offending `fields` for a rejected state)
/// with `Content-Type: application/json`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    rejected: Option<Rejected>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            rejected: None,
        }
    }
}

impl From<UpdateError> for ApiError {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::Unreadable(why) => Self::new(StatusCode::BAD_REQUEST, why),
            UpdateError::Rejected(r) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: String::new(),
                rejected: Some(r),
            },
            UpdateError::Session(e) => Self::new(
                match e {
                    creative_feedback_sessions::Error::InvalidId { .. } => StatusCode::BAD_REQUEST,
                    creative_feedback_sessions::Error::Full { .. } => {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                },
                e.to_string(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.rejected {
            Some(rejected) => (self.status, Json(rejected)).into_response(),
            None => (
                self.status,
                Json(serde_json::json!({ "error": self.message })),
            )
                .into_response(),
        }
    }
}

/// Turns the plain-text refusals axum makes itself (405, 413, 415, a bad query string, …) into
/// the same JSON error shape as the service's own.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let reason = status.canonical_reason().unwrap_or("error");
    let message = match text.trim() {
        "" => reason.to_lowercase(),
        detail => format!("{}: {detail}", reason.to_lowercase()),
    };
    let mut json = ApiError::new(status, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name, value.clone());
        }
    }
    json
}

/// A body declared larger than the limit is refused at once, without waiting for it.
async fn declared_size(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is {n} bytes; the limit is {limit} (--body-limit)"),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route; see docs/sidecar.md for the API",
    )
}

/// Checks the bearer token of a mutating request; the refusal to send otherwise.
pub(crate) fn authorized(service: &Service, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(token) = &service.settings().token else {
        return Ok(());
    };
    // The scheme is case-insensitive (RFC 9110, section 11.1); the token is not.
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim_start());
    // Compare every byte so the time taken does not reveal how much of the token matched.
    let ok = given.is_some_and(|g| {
        g.len() == token.len()
            && g.bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if ok {
        Ok(())
    } else {
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token: send `Authorization: Bearer <token>`",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        Err(Box::new(response))
    }
}

/// A body declared as something other than JSON is refused (415): a web page can send
/// `text/plain` or form data to a loopback sidecar without asking, but not JSON. A request
/// with no `Content-Type` is read as JSON.
fn json_body(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(header::CONTENT_TYPE) {
        None => Ok(()),
        Some(v)
            if v.to_str().is_ok_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            }) =>
        {
            Ok(())
        }
        Some(v) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the body is declared as {}; send it as Content-Type: application/json",
                String::from_utf8_lossy(v.as_bytes())
            ),
        )),
    }
}

/// The checks of a request that changes state and carries JSON: the token, then the body's
/// declared type; the refusal to send otherwise.
pub(crate) fn mutating(service: &Service, headers: &HeaderMap) -> Result<(), Box<Response>> {
    authorized(service, headers)?;
    json_body(headers).map_err(|e| Box::new(e.into_response()))
}

async fn update(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Decision>, Response> {
    mutating(&service, &headers).map_err(|refused| *refused)?;
    service.update(&body).map(Json).map_err(|e| match e {
        UpdateError::Session(e) => crate::session_routes::session_error(e),
        e => ApiError::from(e).into_response(),
    })
}

async fn metrics_json(State(service): State<Arc<Service>>) -> Json<MetricsReport> {
    Json(service.metrics())
}

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<usize>,
}

async fn history(
    State(service): State<Arc<Service>>,
    Query(q): Query<HistoryQuery>,
) -> Json<Vec<ExplorationRecord>> {
    Json(service.history(q.limit.unwrap_or(20)))
}

async fn samples(State(service): State<Arc<Service>>) -> Json<Vec<StepSample>> {
    Json(service.samples())
}

async fn report(State(service): State<Arc<Service>>) -> Json<Report> {
    Json(service.report())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolloutBody {
    percent: u32,
}

#[derive(Serialize)]
struct RolloutState<'a> {
    group: &'a str,
    percent: u32,
}

fn no_rollout() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no rollout is configured (start with --rollout-percent)",
    )
}

async fn set_rollout(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = mutating(&service, &headers) {
        return *refused;
    }
    let Some(rollout) = service.rollout() else {
        return no_rollout().into_response();
    };
    let body: RolloutBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"percent\": 0..100}}: {e}"),
            )
            .into_response()
        }
    };
    match rollout.set_percent(body.percent) {
        Ok(()) => Json(RolloutState {
            group: rollout.group(),
            percent: rollout.percent(),
        })
        .into_response(),
        Err(e) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).into_response(),
    }
}

async fn get_rollout(State(service): State<Arc<Service>>) -> Response {
    match service.rollout() {
        Some(r) => Json(RolloutState {
            group: r.group(),
            percent: r.percent(),
        })
        .into_response(),
        None => no_rollout().into_response(),
    }
}

async fn prometheus(State(service): State<Arc<Service>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        service.prometheus(),
    )
        .into_response()
}

async fn health(State(service): State<Arc<Service>>) -> Json<HealthReport> {
    Json(service.health())
}

/// Readiness: 200 while the service takes updates and can keep its state; 503 (JSON, with
/// `Retry-After`) while it shuts down or its state folder fails. `/healthz` stays liveness.
async fn readyz(State(service): State<Arc<Service>>) -> Response {
    match service.ready() {
        Ok(()) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(why) => {
            let mut response =
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}"))
                    .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn dashboard() -> Html<&'static str> {
    Html(DASHBOARD)
}

/// The stream is server-to-client: what a client may send is capped at a few KiB.
const MAX_INBOUND: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    session: Option<String>,
}

async fn stream(
    State(service): State<Arc<Service>>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Some(id) = &q.session {
        if let Err(e) = creative_feedback_sessions::validate_id(id) {
            return crate::session_routes::session_error(e);
        }
    }
    // A page from another site may not read the stream: its Origin must name this server.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, host)| host.trim_end_matches('/'));
        if !host.is_some_and(|h| service.host_allowed(h)) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "WebSocket connections from origin {} are not allowed; add its host with --allowed-host",
                    String::from_utf8_lossy(origin.as_bytes())
                ),
            )
            .into_response();
        }
    }
    let rx = service.subscribe();
    let watch = q
        .session
        .map(|id| (service.watch(&id), Arc::<str>::from(id)));
    upgrade
        .max_message_size(MAX_INBOUND)
        .max_frame_size(MAX_INBOUND)
        .on_upgrade(move |socket| forward(socket, rx, watch))
}

/// Refuses requests whose `Host` is not this server's (DNS rebinding: a foreign name resolved
/// to 127.0.0.1 would otherwise reach a loopback sidecar from a web page).
async fn known_host(State(service): State<Arc<Service>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if service.host_allowed(host) {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("requests for host {host:?} are not allowed: use 127.0.0.1 or localhost, or start with --allowed-host {host}"),
        )
        .into_response()
    }
}

/// Forwards the broadcast to one client (only one session's messages when it watches one). A
/// client that falls behind the broadcast's buffer, or takes more than a second to accept a
/// frame, is disconnected: it never slows the loop.
async fn forward(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<crate::live::Streamed>,
    watch: Option<(crate::live::WatchGuard, Arc<str>)>,
) {
    let only = watch.as_ref().map(|(_, id)| Arc::clone(id));
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Ok((session, _)) if only.is_some() && session != only => {}
                Ok((_, text)) => {
                    let send = socket.send(WsMessage::Text(text.as_ref().into()));
                    if !matches!(tokio::time::timeout(Duration::from_secs(1), send).await, Ok(Ok(()))) {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let _ = socket.send(WsMessage::Close(None)).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "the request took too long").into_response()
        }
    }
}

/// The router: mount it in your own axum app, or serve it with `crefl serve`.
///
/// | route | |
/// |---|---|
/// | `POST /v1/update` | one state (JSON) of the session `default` → the decision; 400 unreadable, 422 invalid, 401 without the token |
/// | `GET /v1/metrics` | the metrics snapshot and the sinks' statistics |
/// | `GET /v1/history?limit=N` | recent explorations, oldest first (default 20) |
/// | `GET /v1/samples` | the most recent step samples (for charts that open with data) |
/// | `GET /v1/report` | the quality model's out-of-sample fit, the learned selector's arms, and the A/B report (with `--ab`) |
/// | `GET`, `PUT /v1/rollout` | the rollout percentage, `{"percent": P}` (404 without a rollout) |
/// | `GET /metrics` | Prometheus exposition |
/// | `GET /health/creativity` | health, mode, gain, explorations, last exploration |
/// | `GET /healthz` | liveness |
/// | `GET /readyz` | readiness: 503 while shutting down or while the state folder fails |
/// | `GET /v1/stream?session=ID` | WebSocket: every event, snapshot and step sample, each with its `session` (only that session's with `?session=`) |
/// | `POST /v1/sessions/{id}/update` | one state of session `id` → the decision; created on first use; 400 bad id, 422 invalid (with `session`), 503 full |
/// | `GET /v1/sessions/{id}` | a session's metrics, exploration in progress and recent explorations; 404 unknown |
/// | `DELETE /v1/sessions/{id}` | forgets a session (memory and state folder); 404 unknown, 409 for `default` |
/// | `GET /v1/sessions?limit=&offset=` | resident sessions, most recently updated first |
/// | `GET /v1/pool` | sessions by mode, evictions, reloads, the shared model's and selector's state |
/// | `GET /` | the live dashboard |
///
/// Every error answer, whatever its status, is `{"error": …}` as `application/json`.
pub fn router(service: Arc<Service>) -> Router {
    let limit = service.settings().body_limit;
    let deadline = service.settings().request_timeout;
    let app = Router::new()
        .route("/", get(dashboard))
        .route("/v1/update", post(update))
        .route("/v1/metrics", get(metrics_json))
        .route("/v1/history", get(history))
        .route("/v1/samples", get(samples))
        .route("/v1/report", get(report))
        .route("/v1/rollout", put(set_rollout).get(get_rollout))
        .route("/v1/stream", get(stream))
        .route("/metrics", get(prometheus))
        .route("/health/creativity", get(health))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::session_routes::routes());
    #[cfg(feature = "redis")]
    let app = app.merge(crate::fleet::routes());
    app.fallback(not_found)
        .layer(middleware::from_fn_with_state(service.clone(), known_host))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(limit, declared_size))
        .layer(middleware::from_fn_with_state(deadline, timeout))
        .layer(middleware::from_fn(json_errors))
        .with_state(service)
}
