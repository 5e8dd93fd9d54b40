//! Counting slots per key and in all, taken without waiting: a key past its share, or the whole
//! set past its total, is refused at once rather than queued.
//!
//! A key's entry exists only while it holds a slot, so the map never holds more entries than
//! the total: a flood of distinct keys cannot grow it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Which bound refused a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Full {
    #[error("{limit} already in flight for this project")]
    PerKey { limit: usize },
    #[error("{limit} already in flight in all")]
    Total { limit: usize },
}

/// Slots per key (a project) and in all. Cheap to clone; clones share the counts.
#[derive(Debug, Clone)]
pub struct KeyedSlots {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    per_key: usize,
    total: usize,
    /// While fewer than this many slots are held in all, a key may go past its share: idle
    /// capacity is lent rather than wasted. 0 lends nothing.
    lend_below: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_key: HashMap<Arc<str>, usize>,
}

/// One slot held; dropping it gives it back (and forgets the key once it holds none).
#[derive(Debug)]
pub struct Slot {
    inner: Arc<Inner>,
    key: Arc<str>,
}

impl KeyedSlots {
    /// `per_key` is clamped to `total`; both are at least 1.
    pub fn new(per_key: usize, total: usize) -> Self {
        Self::lending(per_key, total, 0)
    }

    /// As `new`, but while fewer than `lend_below` slots are held in all a key may take more
    /// than its share. Under contention every key still has its share; when the host is quiet
    /// one busy tenant is not refused for capacity nobody else wants.
    pub fn lending(per_key: usize, total: usize, lend_below: usize) -> Self {
        let total = total.max(1);
        let per_key = per_key.clamp(1, total);
        let lend_below = lend_below.min(total);
        Self { inner: Arc::new(Inner { per_key, total, lend_below, counts: Mutex::new(Counts::default()) }) }
    }

    pub fn per_key(&self) -> usize {
        self.inner.per_key
    }

    pub fn total(&self) -> usize {
        self.inner.total
    }

    /// A slot for `key`, or which bound is reached.
    pub fn try_acquire(&self, key: &str) -> Result<Slot, Full> {
        let mut counts = self.inner.lock();
        if counts.total >= self.inner.total {
            return Err(Full::Total { limit: self.inner.total });
        }
        let held = counts.by_key.get(key).copied().unwrap_or(0);
        if !self.inner.admits(held, counts.total) {
            return Err(Full::PerKey { limit: self.inner.per_key });
        }
        let key: Arc<str> = match counts.by_key.get_key_value(key) {
            Some((existing, _)) => existing.clone(),
            None => Arc::from(key),
        };
        counts.by_key.insert(key.clone(), held + 1);
        counts.total += 1;
        Ok(Slot { inner: self.inner.clone(), key })
    }

    /// Slots held for `key` now.
    #[cfg(test)]
    pub fn held(&self, key: &str) -> usize {
        self.inner.lock().by_key.get(key).copied().unwrap_or(0)
    }

    /// Whether `key` could take a slot now (its share, or a lent one), without taking it.
    pub fn has_room(&self, key: &str) -> bool {
        let counts = self.inner.lock();
        let held = counts.by_key.get(key).copied().unwrap_or(0);
        counts.total < self.inner.total && self.inner.admits(held, counts.total)
    }

    /// Keys holding a slot now: at most `total`.
    pub fn keys(&self) -> usize {
        self.inner.lock().by_key.len()
    }
}

impl Inner {
    fn admits(&self, held: usize, total_held: usize) -> bool {
        held < self.per_key || total_held < self.lend_below
    }

    /// The counts stay consistent under a poisoned lock: every update is a single step.
    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.inner.lock();
        counts.total = counts.total.saturating_sub(1);
        let remaining = match counts.by_key.get_mut(&*self.key) {
            Some(held) => {
                *held = held.saturating_sub(1);
                *held
            }
            None => 0,
        };
        if remaining == 0 {
            counts.by_key.remove(&*self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_past_its_share_is_refused_while_others_go_on() {
        let slots = KeyedSlots::new(2, 3);
        let a1 = slots.try_acquire("a").expect("first");
        let _a2 = slots.try_acquire("a").expect("second");
        assert_eq!(slots.try_acquire("a").err(), Some(Full::PerKey { limit: 2 }));
        let _b = slots.try_acquire("b").expect("another key has its own share");
        assert_eq!(slots.try_acquire("c").err(), Some(Full::Total { limit: 3 }));
        drop(a1);
        assert!(slots.try_acquire("c").is_ok(), "a released slot is free again");
    }

    #[test]
    fn idle_capacity_is_lent_and_every_share_kept_under_contention() {
        let slots = KeyedSlots::lending(2, 10, 4);
        let a: Vec<_> = (0..4).map(|_| slots.try_acquire("a").expect("lent while quiet")).collect();
        assert_eq!(slots.try_acquire("a").err(), Some(Full::PerKey { limit: 2 }), "no more lent");
        assert!(!slots.has_room("a"));
        let b: Vec<_> = (0..2).map(|_| slots.try_acquire("b").expect("b's own share")).collect();
        assert!(slots.try_acquire("b").is_err(), "past its share while the set is busy");
        assert!(slots.has_room("c"), "an idle key still has its share");
        drop((a, b));
        assert_eq!(slots.keys(), 0);
    }

    #[test]
    fn keys_are_forgotten_once_idle() {
        let slots = KeyedSlots::new(4, 8);
        for round in 0..1000 {
            let held = slots.try_acquire(&format!("project-{round}")).expect("slot");
            assert_eq!(slots.keys(), 1);
            drop(held);
        }
        assert_eq!(slots.keys(), 0);
        assert_eq!(slots.held("project-1"), 0);
    }

    #[test]
    fn shares_are_clamped_to_the_total() {
        let slots = KeyedSlots::new(100, 2);
        assert_eq!((slots.per_key(), slots.total()), (2, 2));
        let zero = KeyedSlots::new(0, 0);
        assert_eq!((zero.per_key(), zero.total()), (1, 1));
    }
}
