//! A token bucket per key (a project): `rate` tokens a second, at most `burst` saved up. Off
//! when the rate is 0.
//!
//! A bucket that has refilled is the same as no bucket, so idle ones are dropped: a sweep runs
//! whenever the map has doubled since the last one, or a refill time (`burst / rate`) has passed,
//! so it holds about the keys seen within the last refill time and its cost stays amortised.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long to wait before the next request can pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up and at least 1: the unit of the `Retry-After` header.
    pub fn seconds(self) -> u64 {
        let whole = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        whole.max(1)
    }
}

#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens per second; 0 turns the limiter off.
    rate: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    by_key: HashMap<String, Bucket>,
    /// The map's size after the last sweep, and when that was.
    swept_at: usize,
    swept: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Sweeps never run on a map smaller than this: a few idle buckets cost nothing.
const MIN_SWEEP: usize = 64;

impl RateLimiter {
    /// `burst` 0 means one second's worth of `rate` (and at least 1).
    pub fn new(rate_per_second: u32, burst: u32) -> Self {
        let rate = f64::from(rate_per_second);
        let burst = if burst == 0 { rate.max(1.0) } else { f64::from(burst) };
        Self { rate, burst, buckets: Mutex::new(Buckets::default()) }
    }

    pub fn is_enabled(&self) -> bool {
        self.rate > 0.0
    }

    /// Takes one token for `key`, or says how long until one is there.
    pub fn check(&self, key: &str) -> Result<(), RetryAfter> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), RetryAfter> {
        if !self.is_enabled() {
            return Ok(());
        }
        let mut buckets = self.lock();
        let len = buckets.by_key.len();
        let stale = buckets.swept.is_none_or(|at| now.saturating_duration_since(at) >= self.refill_time());
        if len >= MIN_SWEEP && (len >= buckets.swept_at * 2 || stale) {
            self.sweep(&mut buckets, now);
        }
        let fresh = Bucket { tokens: self.burst, updated: now };
        let bucket = match buckets.by_key.get_mut(key) {
            Some(bucket) => bucket,
            None => buckets.by_key.entry(key.to_owned()).or_insert(fresh),
        };
        bucket.tokens = self.refilled(bucket, now);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(RetryAfter(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate)))
        }
    }

    /// How long an empty bucket takes to fill up.
    fn refill_time(&self) -> Duration {
        Duration::from_secs_f64(self.burst / self.rate)
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.rate).min(self.burst)
    }

    /// Drops every bucket that is full again: it would behave exactly like a new one.
    fn sweep(&self, buckets: &mut Buckets, now: Instant) {
        buckets.by_key.retain(|_, bucket| self.refilled(bucket, now) < self.burst);
        buckets.swept_at = buckets.by_key.len();
        buckets.swept = Some(now);
    }

    fn lock(&self) -> MutexGuard<'_, Buckets> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default() {
        let limiter = RateLimiter::new(0, 0);
        for _ in 0..10_000 {
            assert!(limiter.check("a").is_ok());
        }
        assert_eq!(limiter.len(), 0);
    }

    #[test]
    fn a_burst_then_the_rate_with_a_retry_after() {
        let limiter = RateLimiter::new(2, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("a", start).is_ok());
        }
        let wait = limiter.check_at("a", start).expect_err("the burst is spent");
        assert_eq!(wait.0, Duration::from_millis(500));
        assert_eq!(wait.seconds(), 1);
        assert!(limiter.check_at("b", start).is_ok(), "each key has its own bucket");
        assert!(limiter.check_at("a", start + Duration::from_millis(500)).is_ok(), "refilled");
        assert!(limiter.check_at("a", start + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).seconds(), 1);
        assert_eq!(RetryAfter(Duration::from_millis(1001)).seconds(), 2);
        assert_eq!(RetryAfter(Duration::from_secs(3)).seconds(), 3);
        assert_eq!(RetryAfter(Duration::ZERO).seconds(), 1);
    }

    #[test]
    fn idle_buckets_are_dropped() {
        let limiter = RateLimiter::new(10, 10);
        let start = Instant::now();
        for key in 0..10_000 {
            assert!(limiter.check_at(&format!("p{key}"), start).is_ok());
        }
        // Each of those buckets is full again a second later: the next sweep drops them.
        let later = start + Duration::from_secs(2);
        for key in 0..(MIN_SWEEP * 4) {
            assert!(limiter.check_at(&format!("q{key}"), later).is_ok());
        }
        assert!(limiter.len() <= MIN_SWEEP * 4 + 1, "{} buckets kept", limiter.len());
    }
}
