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
mod model;
mod openapi;
mod plugins;
mod projects;
mod settings;
pub mod state;
mod webhooks;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::new_project_key;
pub use error::ApiError;
pub use intents::{IntentBody, InvalidIntent};
pub use state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the whole API over shared state. The routes and the OpenAPI document come from the
/// same lists ([`routes`], [`plugin_routes`]), so a route cannot exist undocumented.
pub fn router(state: AppState) -> Router {
    let limits = &state.config.limits;
    let plugins = plugin_routes()
        .layer(DefaultBodyLimit::max(limits.plugin_upload_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), upload_deadline));
    let api = routes()
        .layer(DefaultBodyLimit::max(limits.request_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), deadline));
    let (router, document) = api.merge(plugins).split_for_parts();

    router
        .fallback(error::unknown_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(Extension(openapi::Served::new(document)))
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

/// Every route but the plugin's: one `routes!` per path, each handler annotated with
/// `#[utoipa::path]`. A plain `.route(..)` here would escape the document (the openapi test
/// refuses one).
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(projects::create, projects::list))
        .routes(routes!(projects::get, projects::update, projects::delete))
        .routes(routes!(projects::rotate_key))
        .routes(routes!(intents::list))
        .routes(routes!(intents::put, intents::get, intents::delete))
        .routes(routes!(model::get))
        .routes(routes!(webhooks::list))
        .routes(routes!(webhooks::put, webhooks::get, webhooks::delete))
        .routes(routes!(plugins::rollback))
        .routes(routes!(plugins::download))
        .routes(routes!(chat::test_webhook))
        .routes(routes!(settings::put_fallback, settings::get_fallback))
        .routes(routes!(settings::list_secrets))
        .routes(routes!(settings::put_secret, settings::delete_secret))
        .routes(routes!(chat::chat))
        .routes(routes!(chat::conversation))
        .routes(routes!(openapi::serve))
        .routes(routes!(console::index))
        .routes(routes!(console::index_slash))
        .routes(routes!(console::asset))
        .routes(routes!(metrics::healthz))
        .routes(routes!(metrics::readyz))
        .routes(routes!(metrics::metrics))
}

/// The plugin upload route, apart for its own body limit and deadline.
fn plugin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(plugins::upload, plugins::versions, plugins::detach))
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
