//! The OpenAPI 3.1 document of the HTTP API and `GET /v1/openapi.json`, which serves it.
//!
//! The paths come from the handlers' own `#[utoipa::path]` annotations, collected by the same
//! `routes!` lists that build the router; this module adds the frame (info, tags, the two bearer
//! schemes), the responses every route shares, the error body and its codes, and the examples.

mod codes;
mod common;
pub mod examples;
pub mod params;
pub mod schemas;

use std::sync::Arc;

use axum::Extension;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

use super::error::ApiError;
use common::SecuritySchemes;

/// The document's frame; `finish` completes it once the routes have added their paths.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Fallback Host",
        description = "The fallback pipeline of a conversational platform: projects, intents, webhooks, \
            sandboxed WebAssembly plugins and chat. JSON in and out; every error is \
            `{\"error\": {\"code\", \"message\"}}` (see `ErrorBody`). The guide is docs/api.md beside \
            this document in the repository.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "projects", description = "Projects and their keys (the operator creates, lists, deletes and rotates)."),
        (name = "intents", description = "Example utterances and the answers given when a message matches one."),
        (name = "webhooks", description = "The outbound requests a fallback makes, and the test console."),
        (name = "plugins", description = "A webhook's WebAssembly plugin: upload, versions, rollback, detach."),
        (name = "fallback", description = "What a project answers when no intent matches."),
        (name = "secrets", description = "Values templates name as `{secret.NAME}`; write-only."),
        (name = "chat", description = "The end user's surface: a message in, the bot's replies out; conversations."),
        (name = "operations", description = "Liveness, readiness, metrics and this document; open to anyone."),
        (name = "console", description = "The bot builder's web console: static pages that speak this API."),
    ),
    components(schemas(schemas::ErrorBody, schemas::ErrorDetail, schemas::FieldError, codes::ErrorCode)),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// The document as served: the routes' paths plus the responses every route shares.
#[derive(Clone)]
pub struct Served(Arc<utoipa::openapi::OpenApi>);

impl Served {
    pub fn new(mut document: utoipa::openapi::OpenApi) -> Self {
        common::add_shared_responses(&mut document);
        Self(Arc::new(document))
    }
}

/// This document, so clients and generators need nothing but a running host.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", body = Object)),
)]
pub async fn serve(Extension(served): Extension<Served>) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(&*served.0).map_err(ApiError::internal)?;
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}
