//! `/healthz`, `/readyz` and `/metrics`: liveness, readiness and the Prometheus text, open to anyone.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::openapi::schemas::{Health, Readiness};
use super::state::AppState;

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "The Prometheus text exposition format: requests by status, chats by outcome, webhook and \
        plugin counters, compilations, cache evictions, refusals, open connections.",
    responses((status = 200, description = "The metrics.", content_type = "text/plain", body = String)),
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], state.metrics.render())
}

#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    summary = "Liveness",
    responses((status = 200, description = "The process is up.", body = Health, example = json!({"status": "ok"}))),
)]
pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// How long the store may take to answer before the node counts as not ready.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// 200 while the store answers, 503 otherwise: a load balancer takes the node out of rotation
/// while its database is unreachable, and back when it answers again. The cause goes to the log.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    summary = "Readiness",
    description = "Whether the store answers within a second: a load balancer takes the node out of rotation \
        while it does not.",
    responses(
        (status = 200, description = "Ready.", body = Readiness, example = json!({"status": "ready"})),
        (status = 503, description = "The store does not answer.", body = Readiness,
            example = json!({"status": "unavailable"})),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let problem = match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(_) => Some(format!("no answer within {} ms", READY_TIMEOUT.as_millis())),
    };
    match problem {
        None => (StatusCode::OK, axum::Json(serde_json::json!({ "status": "ready" }))),
        Some(problem) => {
            tracing::warn!(problem = %crate::log_text::LogText(&problem), "not ready: the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({ "status": "unavailable" })))
        }
    }
}
