//! The OpenAPI document (`/v1/openapi.json`) against the real host: the committed copy is what the
//! host serves, every route is in it, every example fits its schema, the request examples sent in
//! order to a real host and upstream get the documented statuses and answers of the documented
//! shapes, and the document is OpenAPI 3.1 in shape.
//!
//! Regenerate `docs/openapi.json` after changing the API:
//! `FALLBACK_WRITE_OPENAPI=1 cargo test -p fallback-tests --test openapi`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use fallback_tests::host::{ADMIN_TOKEN, TestHost};
use fallback_tests::upstream::Upstream;
use fallback_tests::wasm;
use serde_json::Value;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// Where the examples' webhook sends its requests; the story replaces it with a real upstream.
const EXAMPLE_UPSTREAM: &str = "http://localhost:8081";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

async fn served(host: &TestHost) -> Value {
    let (status, document) = host.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(status, 200, "{document}");
    document
}

/// One operation of the document.
struct Operation<'a> {
    method: &'static str,
    path: &'a str,
    body: &'a Value,
}

impl Operation<'_> {
    fn id(&self) -> &str {
        self.body["operationId"].as_str().unwrap_or("")
    }

    /// The operation's parameters, `$ref`s resolved.
    fn parameters<'d>(&'d self, document: &'d Value) -> Vec<&'d Value> {
        self.body["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|parameter| resolve(document, parameter))
            .collect()
    }

    /// The security schemes it accepts, by name; empty for an open route.
    fn schemes(&self) -> BTreeSet<String> {
        self.body["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|requirement| requirement.keys().cloned())
            .collect()
    }
}

fn operations(document: &Value) -> Vec<Operation<'_>> {
    let paths = document["paths"].as_object().expect("paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(body) = item.get(method) {
                found.push(Operation { method, path, body });
            }
        }
    }
    found
}

/// Follows a local `$ref` (one level: the document's references point at definitions).
fn resolve<'d>(document: &'d Value, value: &'d Value) -> &'d Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => document
            .pointer(reference.strip_prefix('#').unwrap_or(reference))
            .unwrap_or_else(|| panic!("unresolved $ref {reference}")),
        None => value,
    }
}

/// Every object schema in `schema` closed to properties it does not name, so an answer with an
/// undocumented field fails validation (utoipa leaves a struct's schema open unless it denies
/// unknown fields).
fn closed(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut map: serde_json::Map<String, Value> =
                map.iter().map(|(key, value)| (key.clone(), closed(value))).collect();
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".to_string(), Value::Bool(false));
            }
            Value::Object(map)
        }
        Value::Array(items) => Value::Array(items.iter().map(closed).collect()),
        other => other.clone(),
    }
}

/// Checks `instance` against `schema`, whose `$ref`s point into the document's components.
fn check(document: &Value, schema: &Value, instance: &Value, what: &str) -> Result<(), String> {
    let mut root = closed(schema);
    let Some(object) = root.as_object_mut() else {
        return Err(format!("{what}: the schema is not an object: {schema}"));
    };
    object.insert("components".to_string(), closed(&document["components"]));
    let validator =
        jsonschema::draft202012::new(&root).map_err(|error| format!("{what}: bad schema: {error}"))?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: {instance} does not fit its schema {schema}:\n  {}", errors.join("\n  ")))
    }
}

#[tokio::test]
async fn the_committed_document_is_the_served_one() {
    let host = TestHost::start().await;
    let document = served(&host).await;
    let path = repo().join("docs/openapi.json");
    let text = serde_json::to_string_pretty(&document).expect("serialises") + "\n";
    if std::env::var_os("FALLBACK_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, text).expect("writing docs/openapi.json");
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let committed: Value = serde_json::from_str(&committed).unwrap_or(Value::Null);
    assert!(
        committed == document,
        "docs/openapi.json is not what the host serves at /v1/openapi.json; regenerate it with \
         `FALLBACK_WRITE_OPENAPI=1 cargo test -p fallback-tests --test openapi` and commit it"
    );
}

/// The router and the document come from the same `routes!` lists in `host/src/api/mod.rs`; a
/// route added any other way (`.route(..)`, `.nest(..)`, a second router) would escape the
/// document, so none may be.
#[test]
fn routes_are_added_only_through_the_documented_lists() {
    let mut sources = Vec::new();
    collect_rust_files(&repo().join("host/src/api"), &mut sources);
    collect_rust_files(&repo().join("host/src/server"), &mut sources);
    sources.push(repo().join("host/src/server.rs"));
    let forbidden = [
        ".route(",
        ".route_service(",
        ".nest(",
        ".nest_service(",
        ".fallback_service(",
        "Router::new()",
        "routing::",
    ];
    let mut found = Vec::new();
    for source in &sources {
        let text = std::fs::read_to_string(source).expect("reading a source");
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            let line = &line.replace("OpenApiRouter::new()", "");
            for pattern in forbidden {
                if line.contains(pattern) {
                    found.push(format!("{}:{}: {}", source.display(), number + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "routes added outside `routes!(..)` are not in the OpenAPI document; annotate the handler with \
         #[utoipa::path] and add it with `.routes(routes!(..))`:\n{}",
        found.join("\n")
    );
    let mod_rs = std::fs::read_to_string(repo().join("host/src/api/mod.rs")).expect("api/mod.rs");
    assert!(
        mod_rs.contains(".routes(routes!("),
        "the router is no longer built from routes!: update this test"
    );
}

fn collect_rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rust_files(&path, into);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            into.push(path);
        }
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_in_shape() {
    let host = TestHost::start().await;
    let document = served(&host).await;
    let version = document["openapi"].as_str().unwrap_or("");
    assert!(version.starts_with("3.1."), "openapi: {version:?}");
    assert!(document["info"]["title"].as_str().is_some_and(|title| !title.is_empty()));
    assert!(document["info"]["version"].as_str().is_some_and(|version| !version.is_empty()));

    let mut references = Vec::new();
    collect_references(&document, &mut references);
    assert!(!references.is_empty());
    for reference in &references {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("a non-local $ref: {reference}"));
        assert!(document.pointer(pointer).is_some(), "unresolved $ref {reference}");
    }

    let schemes: BTreeSet<&String> =
        document["components"]["securitySchemes"].as_object().expect("securitySchemes").keys().collect();
    let tags: BTreeSet<&str> =
        document["tags"].as_array().expect("tags").iter().filter_map(|tag| tag["name"].as_str()).collect();
    let mut ids = BTreeSet::new();
    let operations = operations(&document);
    assert!(!operations.is_empty());
    for operation in &operations {
        let what = format!("{} {}", operation.method, operation.path);
        assert!(operation.path.starts_with('/'), "{what}");
        assert!(ids.insert(operation.id().to_string()) && !operation.id().is_empty(), "{what}: operationId");
        assert!(
            operation.body["summary"].as_str().is_some_and(|summary| !summary.is_empty()),
            "{what}: summary"
        );
        for tag in operation.body["tags"].as_array().expect("tags") {
            assert!(tags.contains(tag.as_str().unwrap_or("")), "{what}: undeclared tag {tag}");
        }
        for scheme in operation.schemes() {
            assert!(schemes.contains(&scheme), "{what}: unknown security scheme {scheme}");
        }
        let templated: BTreeSet<&str> = operation
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let mut names: Vec<(&Value, &Value)> = operation
            .parameters(&document)
            .into_iter()
            .map(|parameter| (&parameter["name"], &parameter["in"]))
            .collect();
        let count = names.len();
        names.sort_by_key(|(name, place)| format!("{name}{place}"));
        names.dedup();
        assert_eq!(names.len(), count, "{what}: a parameter is declared twice");
        let declared: BTreeSet<&str> = operation
            .parameters(&document)
            .into_iter()
            .filter(|parameter| parameter["in"] == "path")
            .inspect(|parameter| {
                assert_eq!(parameter["required"], true, "{what}: path parameters are required")
            })
            .filter_map(|parameter| parameter["name"].as_str())
            .collect();
        assert_eq!(templated, declared, "{what}: the path's parameters and the declared ones");
        let responses = operation.body["responses"].as_object().expect("responses");
        assert!(responses.keys().any(|status| status.starts_with('2')), "{what}: no success response");
        for (status, response) in responses {
            assert!(status.len() == 3 && status.parse::<u16>().is_ok(), "{what}: status {status}");
            let response = resolve(&document, response);
            assert!(response["description"].as_str().is_some_and(|text| !text.is_empty()), "{what} {status}");
            if status.starts_with('4') || status.starts_with('5') {
                let json = &response["content"]["application/json"]["schema"];
                assert!(!json.is_null(), "{what} {status}: an error answers JSON");
            }
        }
    }
    for (name, schema) in document["components"]["schemas"].as_object().expect("schemas") {
        assert!(
            jsonschema::draft202012::meta::is_valid(schema),
            "components.schemas.{name} is not a valid JSON Schema"
        );
    }
}

fn collect_references(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                into.push(reference.to_string());
            }
            map.values().for_each(|value| collect_references(value, into));
        }
        Value::Array(items) => items.iter().for_each(|value| collect_references(value, into)),
        _ => {}
    }
}

#[tokio::test]
async fn every_example_fits_its_schema() {
    let host = TestHost::start().await;
    let document = served(&host).await;
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut verify = |schema: &Value, instance: &Value, what: String| {
        checked += 1;
        if let Err(failure) = check(&document, schema, instance, &what) {
            failures.push(failure);
        }
    };

    for (name, schema) in document["components"]["schemas"].as_object().expect("schemas") {
        for_each_schema_example(schema, &format!("components.schemas.{name}"), &mut verify);
    }
    for (name, response) in document["components"]["responses"].as_object().expect("responses") {
        for_each_media_example(&response["content"], &format!("components.responses.{name}"), &mut verify);
    }
    for operation in operations(&document) {
        let id = operation.id();
        for parameter in operation.parameters(&document) {
            if let Some(example) = parameter.get("example") {
                verify(&parameter["schema"], example, format!("{id}: parameter {}", parameter["name"]));
            }
        }
        for_each_media_example(
            &operation.body["requestBody"]["content"],
            &format!("{id}: request"),
            &mut verify,
        );
        for (status, response) in operation.body["responses"].as_object().expect("responses") {
            for_each_media_example(&response["content"], &format!("{id}: {status}"), &mut verify);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(checked > 40, "only {checked} examples: are they still in the document?");
}

/// A media type's `example` and each of its named `examples`, against its schema.
fn for_each_media_example(content: &Value, what: &str, verify: &mut impl FnMut(&Value, &Value, String)) {
    for (media_type, media) in content.as_object().into_iter().flatten() {
        if let Some(example) = media.get("example") {
            verify(&media["schema"], example, format!("{what} {media_type}"));
        }
        for (name, example) in media["examples"].as_object().into_iter().flatten() {
            verify(&media["schema"], &example["value"], format!("{what} {media_type} example {name}"));
        }
    }
}

/// The examples of a schema and of the schemas inside it.
fn for_each_schema_example(schema: &Value, what: &str, verify: &mut impl FnMut(&Value, &Value, String)) {
    let Some(map) = schema.as_object() else { return };
    if let Some(example) = map.get("example") {
        verify(schema, example, format!("{what} example"));
    }
    for (index, example) in map.get("examples").and_then(Value::as_array).into_iter().flatten().enumerate() {
        verify(schema, example, format!("{what} examples[{index}]"));
    }
    for (name, property) in map.get("properties").and_then(Value::as_object).into_iter().flatten() {
        for_each_schema_example(property, &format!("{what}.{name}"), verify);
    }
    for keyword in ["items", "additionalProperties"] {
        if let Some(inner) = map.get(keyword) {
            for_each_schema_example(inner, &format!("{what}.{keyword}"), verify);
        }
    }
    for keyword in ["allOf", "anyOf", "oneOf", "prefixItems"] {
        for (index, inner) in map.get(keyword).and_then(Value::as_array).into_iter().flatten().enumerate() {
            for_each_schema_example(inner, &format!("{what}.{keyword}[{index}]"), verify);
        }
    }
}

/// The examples' story, in order: each step is an operation and, where its request body has
/// several named examples, which one. Every operation and every named example is in it.
const STORY: &[(&str, Option<&str>)] = &[
    ("healthz", None),
    ("readyz", None),
    ("metrics", None),
    ("openapi", None),
    ("console", None),
    ("console_slash", None),
    ("console_file", None),
    ("create_project", None),
    ("list_projects", None),
    ("get_project", None),
    ("update_project", None),
    ("put_intent", None),
    ("list_intents", None),
    ("get_intent", None),
    ("get_model", None),
    ("put_secret", None),
    ("list_secrets", None),
    ("put_webhook", None),
    ("list_webhooks", None),
    ("get_webhook", None),
    ("put_fallback", Some("webhook")),
    ("get_fallback", None),
    ("test_webhook", None),
    ("chat", None),
    ("get_conversation", None),
    ("upload_plugin", None),
    ("plugin_versions", None),
    ("download_plugin_version", None),
    ("rollback_plugin", None),
    ("detach_plugin", None),
    ("rotate_project_key", None),
    ("put_fallback", Some("text")),
    ("delete_webhook", None),
    ("delete_secret", None),
    ("delete_intent", None),
    ("delete_project", None),
];

/// The request examples, sent in the story's order to a real host whose webhook calls a real
/// upstream, each get the operation's success status, with an answer of the documented content
/// type and schema (closed: no undocumented field).
#[tokio::test]
async fn the_request_examples_get_their_documented_answers() {
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;
    let document = served(&host).await;
    let operations = operations(&document);
    let by_id: BTreeMap<&str, &Operation> =
        operations.iter().map(|operation| (operation.id(), operation)).collect();

    let told: BTreeSet<&str> = STORY.iter().map(|(id, _)| *id).collect();
    let documented: BTreeSet<&str> = by_id.keys().copied().collect();
    assert_eq!(told, documented, "the story must run every documented operation, and only those");

    let real_upstream = format!("http://{}", upstream.addr);
    let mut project_key: Option<String> = None;
    for (id, example_name) in STORY {
        let operation = by_id[id];
        let what = format!("{id} ({} {})", operation.method.to_uppercase(), operation.path);
        let url = host.url(&fill_path(&document, operation));
        let method = reqwest::Method::from_bytes(operation.method.to_uppercase().as_bytes()).expect("method");
        let mut request = host.client.request(method, url);

        let schemes = operation.schemes();
        if schemes.contains("project_key") {
            request =
                request.bearer_auth(project_key.as_deref().expect("a project key: create the project first"));
        } else if schemes.contains("admin_token") {
            request = request.bearer_auth(ADMIN_TOKEN);
        }
        if let Some(content) = operation.body["requestBody"]["content"].as_object() {
            let (media_type, media) = content.iter().next().expect("a request content type");
            let body = match media_type.as_str() {
                "application/wasm" => wasm::read(wasm::JSON_REPLY),
                "application/json" => {
                    let example = match example_name {
                        Some(name) => &media["examples"][*name]["value"],
                        None => &media["example"],
                    };
                    assert!(!example.is_null(), "{what}: no request example {example_name:?}");
                    let text = example.to_string().replace(EXAMPLE_UPSTREAM, &real_upstream);
                    text.into_bytes()
                }
                other => panic!("{what}: a request of {other}: teach this test to send one"),
            };
            request = request.header("content-type", media_type.as_str()).body(body);
        } else {
            assert!(example_name.is_none(), "{what}: no request body to choose an example of");
        }

        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16().to_string();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let bytes = response.bytes().await.expect("body");
        let text = String::from_utf8_lossy(&bytes);

        let responses = operation.body["responses"].as_object().expect("responses");
        let success: Vec<&String> = responses.keys().filter(|status| status.starts_with('2')).collect();
        assert_eq!(success.len(), 1, "{what}: one success status");
        assert_eq!(&status, success[0], "{what}: answered {status}: {text}");

        let documented = resolve(&document, &responses[&status]);
        match documented["content"].as_object() {
            None => assert!(bytes.is_empty(), "{what}: {status} is documented without a body: {text}"),
            Some(content) => {
                let content_type = content_type.unwrap_or_else(|| panic!("{what}: no Content-Type"));
                let media = content
                    .get(&content_type)
                    .unwrap_or_else(|| panic!("{what}: answered {content_type}, not documented"));
                if content_type == "application/json" {
                    let body: Value = serde_json::from_slice(&bytes).expect("a JSON answer");
                    if let Err(failure) = check(&document, &media["schema"], &body, &what) {
                        panic!("{failure}");
                    }
                    if let Some(key) = body["api_key"].as_str() {
                        project_key = Some(key.to_string());
                    }
                }
            }
        }
    }
}

/// The operation's path with each parameter's example, percent-encoded.
fn fill_path(document: &Value, operation: &Operation) -> String {
    let mut path = operation.path.to_string();
    for parameter in operation.parameters(document) {
        if parameter["in"] != "path" {
            continue;
        }
        let name = parameter["name"].as_str().expect("a parameter name");
        let example = parameter["example"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no example for {name}", operation.id()));
        path = path.replace(&format!("{{{name}}}"), &percent_encode(example));
    }
    path
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// Every code a handler can answer is in the document's `ErrorCode` enum, and the guide explains
/// every code of the enum.
#[tokio::test]
async fn every_error_code_is_documented() {
    let host = TestHost::start().await;
    let document = served(&host).await;
    let documented: BTreeSet<&str> = document["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();

    let mut sources = Vec::new();
    collect_rust_files(&repo().join("host/src/api"), &mut sources);
    let mut given = BTreeSet::new();
    for source in &sources {
        let text = std::fs::read_to_string(source).expect("reading a source");
        for opening in ["bad_request(", "unprocessable(", "code: "] {
            for (at, _) in text.match_indices(opening) {
                let rest = text[at + opening.len()..].trim_start();
                if let Some(quoted) = rest.strip_prefix('"') {
                    given.insert(quoted.split('"').next().unwrap_or("").to_string());
                }
            }
        }
    }
    // The fixed codes of `ApiError`'s variants.
    let error_rs = std::fs::read_to_string(repo().join("host/src/api/error.rs")).expect("error.rs");
    for line in error_rs.lines().filter(|line| line.contains("=> (StatusCode::")) {
        if let Some((_, rest)) = line.rsplit_once(", \"") {
            given.insert(rest.split('"').next().unwrap_or("").to_string());
        }
    }
    assert!(given.len() > 15, "found only {given:?}: has the error code idiom changed?");
    let missing: Vec<&String> = given.iter().filter(|code| !documented.contains(code.as_str())).collect();
    assert!(
        missing.is_empty(),
        "codes the handlers give that the ErrorCode enum (host/src/api/openapi/codes.rs) lacks: {missing:?}"
    );

    let guide = std::fs::read_to_string(repo().join("docs/api.md")).expect("docs/api.md");
    let unexplained: Vec<&&str> =
        documented.iter().filter(|code| !guide.contains(&format!("`{code}`"))).collect();
    assert!(unexplained.is_empty(), "docs/api.md does not explain {unexplained:?}");
}

/// The guide links the document beside it, and nothing outside the repository.
#[test]
fn the_guide_stays_inside_the_repository() {
    let guide = std::fs::read_to_string(repo().join("docs/api.md")).expect("docs/api.md");
    assert!(guide.contains("(openapi.json)"), "docs/api.md links openapi.json");
    for outside in ["DESIGN.md", "../shared", "/work/", "](../../"] {
        assert!(!guide.contains(outside), "docs/api.md points outside the repository: {outside}");
    }
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    assert!(readme.contains("docs/api.md"), "the README points to docs/api.md");
}
