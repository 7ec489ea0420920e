//! The routes of `/v1/sessions`: many sessions, one shared learning.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use creative_feedback_sessions::{Error as SessionError, PoolStats, SessionList};
use serde::Deserialize;

use crate::routes::{authorized, mutating, ApiError};
use crate::service::{Service, UpdateError};

/// A session error as its HTTP answer: 400 invalid id, 404 unknown, 409 the primary session,
/// 422 invalid state (naming the session and every field), 503 full (with `Retry-After`), 500
/// the store.
pub(crate) fn session_error(e: SessionError) -> Response {
    let status = match &e {
        SessionError::InvalidId { .. } => StatusCode::BAD_REQUEST,
        SessionError::Unknown { .. } => StatusCode::NOT_FOUND,
        SessionError::Primary { .. } => StatusCode::CONFLICT,
        SessionError::Full { .. } => StatusCode::SERVICE_UNAVAILABLE,
        SessionError::Rejected { id, rejected } => {
            let mut body = serde_json::to_value(rejected).unwrap_or_default();
            if let Some(map) = body.as_object_mut() {
                map.insert("session".into(), id.clone().into());
            }
            return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut response = ApiError::new(status, e.to_string()).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// In a fleet, a session not in memory is claimed from Redis first (409 when another
/// sidecar drives it, 503 when Redis cannot be asked); alone, there is nothing to claim.
async fn claim(service: &Service, id: &str) -> Result<(), Response> {
    #[cfg(feature = "redis")]
    return service.claim(id).await;
    #[cfg(not(feature = "redis"))]
    {
        let _ = (service, id);
        Ok(())
    }
}

async fn update(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = mutating(&service, &headers) {
        return *refused;
    }
    if let Err(refused) = claim(&service, &id).await {
        return refused;
    }
    match service.update_session(&id, &body) {
        Ok(decision) => Json(decision).into_response(),
        Err(UpdateError::Session(e)) => session_error(e),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn one(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    if let Err(refused) = claim(&service, &id).await {
        return refused;
    }
    match service.session(&id) {
        Ok(info) => Json(info).into_response(),
        Err(e) => session_error(e),
    }
}

async fn remove(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = authorized(&service, &headers) {
        return *denied;
    }
    if let Err(refused) = claim(&service, &id).await {
        return refused;
    }
    match service.remove_session(&id) {
        Ok(true) => Json(serde_json::json!({ "removed": id })).into_response(),
        Ok(false) => session_error(SessionError::Unknown { id }),
        Err(e) => session_error(e),
    }
}

/// The largest page of `GET /v1/sessions`.
const MAX_LIMIT: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
    offset: Option<usize>,
}

async fn list(
    State(service): State<Arc<Service>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<SessionList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if limit > MAX_LIMIT {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit is {limit}; the largest page is {MAX_LIMIT}: page with offset"),
        ));
    }
    Ok(Json(service.sessions(limit, q.offset.unwrap_or(0))))
}

async fn pool(State(service): State<Arc<Service>>) -> Json<PoolStats> {
    Json(service.pool().stats())
}

/// The session routes, to merge into the service's router.
pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/v1/sessions", get(list))
        .route("/v1/sessions/{id}", get(one).delete(remove))
        .route("/v1/sessions/{id}/update", post(update))
        .route("/v1/pool", get(pool))
}
