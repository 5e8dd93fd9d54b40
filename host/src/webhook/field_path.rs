//! How a field of a webhook is named in errors: `headers.Host`, `body.content["a b"]`.
//!
//! Shared by validation and request building, which both name the field at fault.

use serde_json::Value;

use crate::varname::VarName;

/// `.name` for names that read as one, `["…"]` otherwise, so a field path stays unambiguous.
pub(crate) fn path_key(key: &str) -> String {
    if VarName::is_valid(key) { format!(".{key}") } else { format!("[{}]", Value::String(key.to_owned())) }
}
