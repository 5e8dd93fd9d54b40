//! (placeholder: plugin)
