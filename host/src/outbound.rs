//! (placeholder: outbound)
