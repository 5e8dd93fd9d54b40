//! (placeholder: guest-sdk)
