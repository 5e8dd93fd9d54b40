//! The closed set of error codes the API answers, each with its status and meaning: the
//! `ErrorCode` schema of the document.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// One code: what a client can branch on, the status it comes with, and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    pub status: u16,
    pub meaning: &'static str,
}

const fn code(code: &'static str, status: u16, meaning: &'static str) -> Code {
    Code { code, status, meaning }
}

/// Every code, by status. The openapi test checks that each code the handlers can give is here.
pub const CODES: &[Code] = &[
    code("invalid_id", 400, "an id in the path or body does not match `[a-z0-9][a-z0-9_-]{0,63}`"),
    code("invalid_send_id", 400, "a send id is empty, over 256 bytes, or holds control characters"),
    code("malformed_json", 400, "the body is not JSON"),
    code("invalid_body", 400, "the JSON has an unknown field, misses a required one, or has a wrong type"),
    code("unreadable_body", 400, "the body could not be read"),
    code("not_wasm", 400, "a plugin upload is not WebAssembly"),
    code(
        "unauthorized",
        401,
        "no bearer token, or one that is neither the admin token nor a valid project key",
    ),
    code("not_found", 404, "no such resource, or one of another project; also an unknown route"),
    code("method_not_allowed", 405, "the route exists, not with this method"),
    code("conflict", 409, "the project exists already, or the webhook is the project's fallback"),
    code(
        "payload_too_large",
        413,
        "the body is over `request_body_bytes` (a plugin over `plugin_upload_bytes`)",
    ),
    code(
        "unsupported_media_type",
        415,
        "the Content-Type is not `application/json` (`application/wasm` for a plugin)",
    ),
    code("invalid_name", 422, "a project name is blank or over 200 characters"),
    code("invalid_match_threshold", 422, "`match_threshold` is not in (0, 1]"),
    code("invalid_intent", 422, "examples or responses: 1 to 1000 entries of 1 to 2000 characters"),
    code("too_many_intents", 422, "a project would hold over 1000 intents or 50000 examples in all"),
    code("invalid_webhook", 422, "the webhook is refused; `details` names each field and what is wrong"),
    code("invalid_fallback", 422, "not exactly one of `webhook` or `text`, or a blank or too long text"),
    code("unknown_webhook", 422, "the fallback names a webhook the project does not have"),
    code("invalid_secret", 422, "a secret value is empty or over 8 KiB"),
    code("invalid_message", 422, "a chat or test message is blank or over 16 KiB"),
    code("core_module", 422, "a plugin upload is a core module, not a component"),
    code("invalid_component", 422, "a plugin upload is not a valid component"),
    code("wrong_world", 422, "a plugin upload does not implement the `fallback:plugin` world"),
    code("compile_failed", 422, "a plugin upload does not compile"),
    code("too_many_functions", 422, "a plugin upload is over `plugin_max_functions`"),
    code("code_too_large", 422, "a plugin upload is over `plugin_max_code_bytes`"),
    code("function_too_large", 422, "a plugin upload has a function over `plugin_max_function_bytes`"),
    code("too_many_locals", 422, "a plugin upload has a function over `plugin_max_locals`"),
    code("nesting_too_deep", 422, "a plugin upload nests blocks deeper than `plugin_max_nesting`"),
    code("too_many_modules", 422, "a plugin upload holds more than `plugin_max_modules` modules"),
    code("compile_timeout", 422, "compiling a plugin upload took longer than `plugin_compile_timeout_ms`"),
    code("compile_memory", 422, "compiling a plugin upload needed more than `plugin_compile_memory_bytes`"),
    code("rate_limited", 429, "over the project's chat rate; `Retry-After` says when to retry"),
    code("internal", 500, "a fault of the host (never bad input); the cause is in the host's log"),
    code("busy", 503, "the host's compile queue is full; retry shortly"),
    code(
        "store_unavailable",
        503,
        "the database does not answer; retry shortly (`/readyz` says when it is back)",
    ),
    code("timeout", 503, "the request did not complete within `http_request_timeout_ms`"),
];

/// `ErrorBody.error.code`: a string enum of [`CODES`], described by status.
pub struct ErrorCode;

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        let description = CODES
            .iter()
            .map(|code| format!("- `{}` ({}): {}", code.code, code.status, code.meaning))
            .collect::<Vec<_>>()
            .join("\n");
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "A stable code a client can branch on, with its status:\n\n{description}"
            )))
            .enum_values(Some(CODES.iter().map(|code| code.code)))
            .examples(["not_found"])
            .into()
    }
}

impl ToSchema for ErrorCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

#[cfg(test)]
mod tests {
    use super::CODES;
    use crate::plugin::{PluginError, StructureLimit};

    #[test]
    fn codes_are_unique() {
        let mut names: Vec<_> = CODES.iter().map(|code| code.code).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CODES.len());
    }

    /// A plugin upload answers the runtime's own code: each one it can refuse an upload with is
    /// documented, with the status `plugins::upload_error` gives it.
    #[test]
    fn every_upload_refusal_is_documented() {
        let anyhow = || anyhow::anyhow!("x");
        let mut refusals = vec![
            PluginError::NotWasm,
            PluginError::CoreModule,
            PluginError::InvalidComponent(anyhow()),
            PluginError::WrongWorld { detail: String::new() },
            PluginError::Compile(anyhow()),
            PluginError::CompileTimeout { limit: std::time::Duration::from_secs(1) },
            PluginError::CompileMemory { limit: 1 },
        ];
        for limit in [
            StructureLimit::Functions,
            StructureLimit::CodeBytes,
            StructureLimit::FunctionBytes,
            StructureLimit::Locals,
            StructureLimit::Nesting,
            StructureLimit::Modules,
        ] {
            refusals.push(PluginError::Structure { limit, found: 2, max: 1 });
        }
        for refusal in refusals {
            assert!(refusal.is_upload_error(), "{refusal:?}");
            let status = if refusal.code() == "not_wasm" { 400 } else { 422 };
            assert!(
                CODES.iter().any(|code| code.code == refusal.code() && code.status == status),
                "{} ({status}) is not in the document's error codes",
                refusal.code()
            );
        }
    }
}
