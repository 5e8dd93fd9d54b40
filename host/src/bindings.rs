//! (placeholder: bindings)
