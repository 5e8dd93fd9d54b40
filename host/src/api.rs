//! (placeholder: api)
