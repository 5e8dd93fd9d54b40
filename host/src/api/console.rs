//! The bot builder's web console at `/console`: hand-written ES modules and CSS embedded in the
//! binary, served with a strict Content-Security-Policy. The console speaks the same HTTP API.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::openapi::params::ConsoleFile;
use super::openapi::schemas::ErrorBody;

/// No inline script or style, nothing from elsewhere: every text the console shows comes from
/// users, upstreams or plugins, and a slip that renders one as HTML must still run nothing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const CSP: HeaderName = HeaderName::from_static("content-security-policy");
const REFERRER_POLICY: HeaderName = HeaderName::from_static("referrer-policy");

/// One embedded file: its name under `/console/`, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("signin.js", JS),
    asset!("projects.js", JS),
    asset!("overview.js", JS),
    asset!("webhook.js", JS),
    asset!("plugins.js", JS),
    asset!("trace.js", JS),
    asset!("chat.js", JS),
];

/// Each asset's strong ETag (its sha256), computed once: the files cannot change while the
/// binary runs, so a browser revalidates with a 304 instead of downloading them again.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS.iter().map(|asset| format!("\"{}\"", &hex::encode(Sha256::digest(asset.body))[..32])).collect()
});

/// `/console`: the page shell.
#[utoipa::path(
    get,
    path = "/console",
    operation_id = "console",
    tag = "console",
    summary = "The web console's page",
    description = "Sign in with a project key, or with the admin token to manage projects. Served with a strict \
        Content-Security-Policy and an ETag; a request whose `If-None-Match` holds it gets 304.",
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 304, description = "Not modified since the ETag sent."),
    ),
)]
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `/console/`: the same page, for a link written with the slash.
#[utoipa::path(
    get,
    path = "/console/",
    operation_id = "console_slash",
    tag = "console",
    summary = "The web console's page (with a trailing slash)",
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 304, description = "Not modified since the ETag sent."),
    ),
)]
pub async fn index_slash(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `/console/{file}`: a module, the style sheet or the icon.
#[utoipa::path(
    get,
    path = "/console/{file}",
    operation_id = "console_file",
    tag = "console",
    summary = "A file of the web console",
    params(ConsoleFile),
    responses(
        (status = 200, description = "The file.", content(
            (String = "text/javascript"),
            (String = "text/css"),
            (String = "image/svg+xml"),
            (String = "text/html"),
        )),
        (status = 304, description = "Not modified since the ETag sent."),
        (status = 404, description = "No such file (`not_found`).", body = ErrorBody),
    ),
)]
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|asset| asset.name == name) else {
        return secured(ApiError::NotFound(format!("console file {name}")).into_response());
    };
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let fresh = request
        .get(IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(ETAG, value);
    }
    // Revalidate every time (a 304 costs a round trip, no body): the names carry no version,
    // so a longer lifetime would keep an upgraded host's console stale in the browser.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secured(response)
}

/// The security headers of every console response, error or not.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CSP, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_referenced_and_no_html_carries_inline_code() {
        let index = std::str::from_utf8(ASSETS[0].body).unwrap_or_default();
        assert!(index.contains("src=\"/console/app.js\""));
        assert!(!index.contains("<style"), "inline style");
        assert!(!index.contains("style="), "inline style attribute");
        assert!(!index.contains("<script>"), "inline script");
        for asset in ASSETS.iter().filter(|asset| asset.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).unwrap_or_default();
            assert!(text.starts_with("// "), "{} opens with a line saying its job", asset.name);
            assert!(!text.contains("innerHTML"), "{} must render text with textContent", asset.name);
            assert!(!text.contains("outerHTML") && !text.contains("insertAdjacentHTML"), "{}", asset.name);
            assert!(!text.contains("eval("), "{}", asset.name);
        }
    }

    #[test]
    fn etags_are_distinct_per_asset() {
        let mut tags = ETAGS.clone();
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }
}
