//! Admission bounds that keep one tenant from taking everyone's share: work in flight per key
//! and in all, and request rates per key. No queues: past a bound the caller is refused at once.

mod in_flight;
mod rate;

pub use in_flight::{Full, KeyedSlots, Slot};
pub use rate::{RateLimiter, RetryAfter};
