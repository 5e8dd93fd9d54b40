//! (placeholder: auth)
