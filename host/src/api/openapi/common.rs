//! What every route shares in the document: the two bearer schemes, and the error responses the
//! extractors and middleware give whatever the handler (auth, ids, bodies, the deadline, the store).
//!
//! A handler's annotation lists its own answers; the shared ones are added here unless the
//! handler already says more about that status.

use serde_json::json;
use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Components, ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

/// The operator's token: every route.
pub const ADMIN: &str = "admin_token";
/// A project's key: that project's routes.
pub const PROJECT: &str = "project_key";

/// Adds the bearer schemes to the frame.
pub struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, document: &mut OpenApi) {
        let components = document.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            ADMIN,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator's admin token (`FALLBACK_ADMIN_TOKEN`, or generated at first start into \
                         `DATA_DIR/admin_token`). Grants every route.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            PROJECT,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("fbk_<project>.<secret>")
                    .description(Some(
                        "A project's key, returned when the project is created or its key rotated. Grants that \
                         project's routes; another project's resources answer 404.",
                    ))
                    .build(),
            ),
        );
    }
}

/// A shared response: its name under `components.responses`, and the statuses it stands for.
struct Shared {
    name: &'static str,
    status: &'static str,
    description: &'static str,
    example: fn() -> serde_json::Value,
}

const BAD_REQUEST: Shared = Shared {
    name: "BadRequest",
    status: "400",
    description: "Bad input: an invalid id (`invalid_id`), or a body that is not JSON (`malformed_json`), \
                  has an unknown or mistyped field (`invalid_body`) or cannot be read (`unreadable_body`).",
    example: || error("invalid_id", "invalid project id \"Demo\": ids match [a-z0-9][a-z0-9_-]{0,63}"),
};
const UNAUTHORIZED: Shared = Shared {
    name: "Unauthorized",
    status: "401",
    description: "No bearer token, or one that grants nothing here (`unauthorized`); answered with \
                  `WWW-Authenticate: Bearer`.",
    example: || error("unauthorized", "missing or invalid credentials"),
};
const NOT_FOUND: Shared = Shared {
    name: "NotFound",
    status: "404",
    description: "The project does not exist, or the key is another project's (`not_found`).",
    example: || error("not_found", "project demo not found"),
};
const TOO_LARGE: Shared = Shared {
    name: "PayloadTooLarge",
    status: "413",
    description: "The body is over `request_body_bytes` (1 MiB by default) (`payload_too_large`).",
    example: || error("payload_too_large", "request body too large"),
};
const MEDIA_TYPE: Shared = Shared {
    name: "UnsupportedMediaType",
    status: "415",
    description: "The body's Content-Type is not `application/json` (`unsupported_media_type`).",
    example: || error("unsupported_media_type", "expected Content-Type application/json, got text/plain"),
};
const INTERNAL: Shared = Shared {
    name: "Internal",
    status: "500",
    description: "A fault of the host, never of the input (`internal`); the cause is in the host's log.",
    example: || error("internal", "internal error"),
};
const UNAVAILABLE: Shared = Shared {
    name: "Unavailable",
    status: "503",
    description: "Retry shortly: the request's deadline passed (`timeout`), the database does not answer \
                  (`store_unavailable`), or the host is busy (`busy`).",
    example: || error("timeout", "the request did not complete within 60000 ms"),
};

fn error(code: &str, message: &str) -> serde_json::Value {
    json!({ "error": { "code": code, "message": message } })
}

/// Registers the shared responses and refers every operation to those it can answer.
pub fn add_shared_responses(document: &mut OpenApi) {
    let all = [BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, TOO_LARGE, MEDIA_TYPE, INTERNAL, UNAVAILABLE];
    let components = document.components.get_or_insert_with(Components::new);
    for shared in &all {
        components.responses.insert(shared.name.to_string(), RefOr::T(response(shared)));
    }
    for (path, item) in document.paths.paths.iter_mut() {
        for operation in operations(item) {
            drop_repeated_parameters(operation);
            for shared in &all {
                if applies(shared, path, operation) {
                    operation
                        .responses
                        .responses
                        .entry(shared.status.to_string())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(shared.name)));
                }
            }
        }
    }
}

/// utoipa adds a bare parameter for each `{name}` of the path beside the described ones that
/// `params(..)` gives; a parameter may appear once, so the described one (first) stays.
fn drop_repeated_parameters(operation: &mut Operation) {
    if let Some(parameters) = &mut operation.parameters {
        let mut seen = Vec::new();
        parameters.retain(|parameter| {
            let key = (parameter.name.clone(), parameter.parameter_in.clone());
            let first = !seen.contains(&key);
            seen.push(key);
            first
        });
    }
}

/// Which extractor or middleware can give this answer on this operation.
fn applies(shared: &Shared, path: &str, operation: &Operation) -> bool {
    let project_route = path.starts_with("/v1/projects");
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| body.content.keys().any(|content_type| content_type == "application/json"));
    let any_body = operation.request_body.is_some();
    let path_ids = operation
        .parameters
        .iter()
        .flatten()
        .any(|parameter| matches!(parameter.parameter_in, ParameterIn::Path));
    match shared.status {
        "400" => any_body || (project_route && path_ids),
        "401" => secured(operation),
        "404" => path.starts_with("/v1/projects/{project}"),
        "413" => any_body,
        "415" => json_body,
        "500" => project_route,
        // Every request runs under the deadline.
        "503" => true,
        _ => false,
    }
}

/// True when the operation asks for a bearer token.
fn secured(operation: &Operation) -> bool {
    operation.security.iter().flatten().any(|requirement| {
        serde_json::to_value(requirement)
            .is_ok_and(|value| value.as_object().is_some_and(|map| !map.is_empty()))
    })
}

fn response(shared: &Shared) -> Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .example(Some((shared.example)()))
        .build();
    ResponseBuilder::new().description(shared.description).content("application/json", content).build()
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}
