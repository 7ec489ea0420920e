//! The HTTP routes.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::service::{Service, UpdateOutcome};

const DASHBOARD: &str = include_str!("dashboard.html");

fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json(status, serde_json::json!({ "error": message }).to_string())
}

/// Checks the bearer token of a mutating request; the refusal to send otherwise.
fn authorized(service: &Service, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(token) = &service.settings().token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
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
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token: send `Authorization: Bearer <token>`",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        Err(Box::new(response))
    }
}

async fn update(State(service): State<Arc<Service>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(denied) = authorized(&service, &headers) {
        return *denied;
    }
    match service.update(&body) {
        UpdateOutcome::Decision(d) => json(StatusCode::OK, d),
        UpdateOutcome::Unreadable(why) => error(StatusCode::BAD_REQUEST, &why),
        UpdateOutcome::Rejected(r) => json(StatusCode::UNPROCESSABLE_ENTITY, r),
    }
}

async fn metrics_json(State(service): State<Arc<Service>>) -> Response {
    json(StatusCode::OK, service.metrics_json())
}

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<usize>,
}

async fn history(State(service): State<Arc<Service>>, Query(q): Query<HistoryQuery>) -> Response {
    let records = service.history(q.limit.unwrap_or(20));
    json(
        StatusCode::OK,
        serde_json::to_string(&records).unwrap_or_default(),
    )
}

async fn report(State(service): State<Arc<Service>>) -> Response {
    match service.report() {
        Some(r) => json(
            StatusCode::OK,
            serde_json::to_string(&r).unwrap_or_default(),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            "no A/B experiment is configured (start with --ab)",
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolloutBody {
    percent: u32,
}

async fn set_rollout(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(denied) = authorized(&service, &headers) {
        return *denied;
    }
    let Some(rollout) = service.rollout() else {
        return error(
            StatusCode::NOT_FOUND,
            "no rollout is configured (start with --rollout-percent)",
        );
    };
    let body: RolloutBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"percent\": 0..100}}: {e}"),
            )
        }
    };
    match rollout.set_percent(body.percent) {
        Ok(()) => json(
            StatusCode::OK,
            serde_json::json!({ "group": rollout.group(), "percent": rollout.percent() })
                .to_string(),
        ),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

async fn get_rollout(State(service): State<Arc<Service>>) -> Response {
    match service.rollout() {
        Some(r) => json(
            StatusCode::OK,
            serde_json::json!({ "group": r.group(), "percent": r.percent() }).to_string(),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            "no rollout is configured (start with --rollout-percent)",
        ),
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

async fn health(State(service): State<Arc<Service>>) -> Response {
    json(
        StatusCode::OK,
        serde_json::to_string(&service.health()).unwrap_or_default(),
    )
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn dashboard() -> Html<&'static str> {
    Html(DASHBOARD)
}

async fn stream(State(service): State<Arc<Service>>, upgrade: WebSocketUpgrade) -> Response {
    let rx = service.subscribe();
    upgrade.on_upgrade(move |socket| forward(socket, rx))
}

/// Forwards the broadcast to one client. A client that falls behind the broadcast's buffer, or
/// takes more than a second to accept a frame, is disconnected: it never slows the loop.
async fn forward(mut socket: WebSocket, mut rx: tokio::sync::broadcast::Receiver<Arc<str>>) {
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Ok(text) => {
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
        Err(_) => error(StatusCode::REQUEST_TIMEOUT, "the request took too long"),
    }
}

/// The router: mount it in your own axum app, or serve it with `crefl serve`.
///
/// | route | |
/// |---|---|
/// | `POST /v1/update` | one state (JSON) → the decision; 400 unreadable, 422 invalid, 401 without the token |
/// | `GET /v1/metrics` | the metrics snapshot and the sinks' statistics |
/// | `GET /v1/history?limit=N` | recent explorations, oldest first (default 20) |
/// | `GET /v1/report` | the A/B report (404 without an experiment) |
/// | `GET`, `PUT /v1/rollout` | the rollout percentage, `{"percent": P}` (404 without a rollout) |
/// | `GET /metrics` | Prometheus exposition |
/// | `GET /health/creativity` | health, mode, gain, explorations, last exploration |
/// | `GET /healthz` | liveness |
/// | `GET /v1/stream` | WebSocket: every event, snapshot and step sample |
/// | `GET /` | the live dashboard |
pub fn router(service: Arc<Service>) -> Router {
    let limit = service.settings().body_limit;
    let deadline = service.settings().request_timeout;
    Router::new()
        .route("/", get(dashboard))
        .route("/v1/update", post(update))
        .route("/v1/metrics", get(metrics_json))
        .route("/v1/history", get(history))
        .route("/v1/report", get(report))
        .route("/v1/rollout", put(set_rollout).get(get_rollout))
        .route("/v1/stream", get(stream))
        .route("/metrics", get(prometheus))
        .route("/health/creativity", get(health))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(deadline, timeout))
        .with_state(service)
}
