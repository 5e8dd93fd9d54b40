//! The HTTP API (v1): routes, auth, body handling and the error contract of DESIGN.md.
//!
//! Handlers are thin: they check input, call the store or the pipeline, and shape the answer.

mod auth;
mod body;
mod chat;
mod console;
mod error;
mod intents;
pub mod metrics;
mod plugins;
mod projects;
mod settings;
pub mod state;
mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use auth::new_project_key;
pub use error::ApiError;
pub use intents::{IntentBody, InvalidIntent};
pub use state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the whole API over shared state.
pub fn router(state: AppState) -> Router {
    let limits = &state.config.limits;
    let plugin_routes = Router::new()
        .route(
            "/v1/projects/{project}/webhooks/{webhook}/plugin",
            put(plugins::upload).get(plugins::versions).delete(plugins::detach),
        )
        .layer(DefaultBodyLimit::max(limits.plugin_upload_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), upload_deadline));

    let api = Router::new()
        .route("/v1/projects", post(projects::create).get(projects::list))
        .route("/v1/projects/{project}", get(projects::get).patch(projects::update).delete(projects::delete))
        .route("/v1/projects/{project}/key", post(projects::rotate_key))
        .route("/v1/projects/{project}/intents", get(intents::list))
        .route(
            "/v1/projects/{project}/intents/{intent}",
            put(intents::put).get(intents::get).delete(intents::delete),
        )
        .route("/v1/projects/{project}/webhooks", get(webhooks::list))
        .route(
            "/v1/projects/{project}/webhooks/{webhook}",
            put(webhooks::put).get(webhooks::get).delete(webhooks::delete),
        )
        .route("/v1/projects/{project}/webhooks/{webhook}/plugin/rollback", post(plugins::rollback))
        .route("/v1/projects/{project}/webhooks/{webhook}/plugin/versions/{version}", get(plugins::download))
        .route("/v1/projects/{project}/webhooks/{webhook}/test", post(chat::test_webhook))
        .route("/v1/projects/{project}/fallback", put(settings::put_fallback).get(settings::get_fallback))
        .route("/v1/projects/{project}/secrets", get(settings::list_secrets))
        .route(
            "/v1/projects/{project}/secrets/{name}",
            put(settings::put_secret).delete(settings::delete_secret),
        )
        .route("/v1/projects/{project}/chat", post(chat::chat))
        .route("/v1/projects/{project}/conversations/{send_id}", get(chat::conversation))
        .route("/console", get(console::index))
        .route("/console/", get(console::index))
        .route("/console/{file}", get(console::asset))
        .route("/healthz", get(metrics::healthz))
        .route("/readyz", get(metrics::readyz))
        .route("/metrics", get(metrics::metrics))
        .layer(DefaultBodyLimit::max(limits.request_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), deadline));

    api.merge(plugin_routes)
        .fallback(error::unknown_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), count_responses))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request.headers().get(REQUEST_ID).and_then(|value| value.to_str().ok()).unwrap_or("-");
            // The path only: a query string could carry anything.
            tracing::info_span!("request", id, method = %request.method(), path = request.uri().path())
        }).on_response(DefaultOnResponse::new().level(tracing::Level::DEBUG)))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

async fn count_responses(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    state.metrics.record_response(response.status().as_u16());
    response
}

/// Every request answers within `http_request_timeout`: past it the work is dropped and the
/// client gets 503 `timeout`, so no request holds a connection (and its slot) forever.
async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    within(state.config.limits.http_request_timeout, request, next).await
}

/// Plugin routes get the request deadline or, when longer, what an upload may take to be
/// compiled or refused (a compile turn and the compile's own bound): a 20 MB Python component
/// on a busy host may compile for longer than an ordinary request may last, and answering 503
/// while the compile goes on would throw its result away.
async fn upload_deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limits = &state.config.limits;
    let compile = crate::plugin::upload_wall_bound(limits.plugin_compile_timeout) + Duration::from_secs(5);
    within(limits.http_request_timeout.max(compile), request, next).await
}

async fn within(limit: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit).into_response(),
    }
}
