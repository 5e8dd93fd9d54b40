//! (placeholder: webhook)
