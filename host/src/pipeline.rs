//! (placeholder: pipeline)
