//! When an outbound call is tried again, and how long to wait first.
//!
//! Only idempotent methods are retried: repeating a POST could act twice upstream (an order placed
//! twice). Waits are exponential with full jitter so many webhooks failing together against one
//! upstream do not come back in lockstep.

use std::time::Duration;

use http::Method;
use rand::Rng;

/// The first wait's ceiling; doubled each attempt up to `MAX_BACKOFF`.
const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Methods RFC 9110 calls idempotent (TRACE excluded: it has no business in a webhook).
pub fn is_idempotent(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::PUT, Method::DELETE, Method::OPTIONS].contains(method)
}

/// Statuses that say "try again later": overloaded, unavailable or rate-limited.
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// A random wait in `[0, min(MAX, BASE * 2^attempt)]` before attempt `attempt + 1` (0-based).
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = BASE_BACKOFF.saturating_mul(1u32 << attempt.min(16)).min(MAX_BACKOFF);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotent_methods_retry() {
        for m in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE, Method::OPTIONS] {
            assert!(is_idempotent(&m), "{m}");
        }
        for m in [Method::POST, Method::PATCH, Method::CONNECT, Method::TRACE] {
            assert!(!is_idempotent(&m), "{m}");
        }
    }

    #[test]
    fn retryable_statuses() {
        assert!(is_retryable_status(429));
        assert!(is_retryable_status(500));
        assert!(is_retryable_status(503));
        assert!(!is_retryable_status(200));
        assert!(!is_retryable_status(302));
        assert!(!is_retryable_status(404));
    }

    #[test]
    fn backoff_is_bounded_by_an_exponential_ceiling() {
        for _ in 0..200 {
            assert!(backoff(0) <= Duration::from_millis(100));
            assert!(backoff(2) <= Duration::from_millis(400));
            assert!(backoff(30) <= MAX_BACKOFF);
        }
    }
}
