//! (placeholder: store)
