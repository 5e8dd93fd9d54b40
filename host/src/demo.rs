//! (placeholder: demo)
