//! (placeholder: tests support)
