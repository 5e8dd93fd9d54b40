//! (placeholder: intent)
