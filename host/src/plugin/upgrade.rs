//! The bookkeeping of tiered compilation: which plugins wait for their optimized code, the one
//! lane their compiles take turns in, and the uploads the optimized compiler refused after their
//! baseline code had been accepted.
//!
//! An upload is answered once its baseline (Winch) code is compiled and checked; its optimized
//! (Cranelift) code is compiled afterwards, off the upload's path, and replaces it. Pending
//! upgrades are bounded in number (each holds its upload's bytes): past the bound an upload is
//! compiled to optimized code at once, as before tiering, so a flood of uploads is paced by the
//! compile turns rather than queued without end.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::PluginError;
use super::cache::Digest;

/// Upgrades waiting or running at once. Each holds its upload's bytes (up to the upload limit),
/// so this bounds their memory; at one lane and ~0.4 s of CPU for a json-reply-sized plugin it
/// is also a few seconds of work, short enough that no plugin waits long on baseline code.
const MAX_PENDING: usize = 16;

/// Refusals remembered at once; past it the oldest is forgotten (its plugin is then compiled
/// again the next time it is loaded, and refused again).
const MAX_REFUSED: usize = 1024;

pub(super) struct Upgrades {
    pending: Arc<Mutex<HashSet<Digest>>>,
    /// One upgrade compiles at a time (besides taking a compile turn like any compile), so
    /// upgrades never hold every compile turn and an upload waits behind one at most.
    lane: Arc<Semaphore>,
    refused: Mutex<Refused>,
}

/// A digest's place in the upgrade queue; dropping it (the upgrade done, failed or abandoned)
/// frees the place.
pub(super) struct Ticket {
    sha256: Digest,
    pending: Arc<Mutex<HashSet<Digest>>>,
}

impl Ticket {
    pub fn sha256(&self) -> Digest {
        self.sha256
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        lock(&self.pending).remove(&self.sha256);
    }
}

#[derive(Default)]
struct Refused {
    errors: HashMap<Digest, PluginError>,
    /// Insertion order, oldest first, to forget past `MAX_REFUSED`.
    order: std::collections::VecDeque<Digest>,
}

impl Upgrades {
    pub fn new() -> Self {
        Self {
            pending: Arc::default(),
            lane: Arc::new(Semaphore::new(1)),
            refused: Mutex::new(Refused::default()),
        }
    }

    /// A place in the queue for `sha256`, unless it has one already or the queue is full.
    pub fn reserve(&self, sha256: Digest) -> Option<Ticket> {
        let mut pending = lock(&self.pending);
        if pending.len() >= MAX_PENDING || !pending.insert(sha256) {
            return None;
        }
        Some(Ticket { sha256, pending: self.pending.clone() })
    }

    /// The turn of the next upgrade.
    pub async fn lane(&self) -> Option<OwnedSemaphorePermit> {
        // The semaphore is never closed.
        self.lane.clone().acquire_owned().await.ok()
    }

    /// The error the optimized compile refused these bytes with, answered again for them.
    pub fn refusal(&self, sha256: &Digest) -> Option<PluginError> {
        lock(&self.refused).errors.get(sha256).and_then(PluginError::upload_error_copy)
    }

    /// Remembers that the optimized compile refused these bytes (an upload error).
    pub fn refuse(&self, sha256: Digest, error: PluginError) {
        let mut refused = lock(&self.refused);
        if refused.errors.insert(sha256, error).is_none() {
            refused.order.push_back(sha256);
        }
        while refused.order.len() > MAX_REFUSED {
            if let Some(oldest) = refused.order.pop_front() {
                refused.errors.remove(&oldest);
            }
        }
    }
}

/// Every lock here guards plain data a panic cannot leave half-changed: still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_digest_is_queued_once_and_the_queue_is_bounded() {
        let upgrades = Upgrades::new();
        let first = upgrades.reserve([0; 32]).expect("a place");
        assert!(upgrades.reserve([0; 32]).is_none(), "already queued");
        drop(first);
        let held: Vec<Ticket> = (0..MAX_PENDING as u8).filter_map(|n| upgrades.reserve([n; 32])).collect();
        assert_eq!(held.len(), MAX_PENDING);
        assert!(upgrades.reserve([255; 32]).is_none(), "full");
        drop(held);
        assert!(upgrades.reserve([255; 32]).is_some());
    }

    #[test]
    fn refusals_are_answered_again_and_bounded() {
        let upgrades = Upgrades::new();
        let limit = Duration::from_secs(1);
        upgrades.refuse([1; 32], PluginError::CompileTimeout { limit });
        assert!(
            matches!(upgrades.refusal(&[1; 32]), Some(PluginError::CompileTimeout { limit: l }) if l == limit)
        );
        assert!(upgrades.refusal(&[2; 32]).is_none());
        for n in 0..=MAX_REFUSED {
            let mut digest = [0; 32];
            digest[..8].copy_from_slice(&(n as u64).to_le_bytes());
            digest[31] = 9;
            upgrades.refuse(digest, PluginError::CompileMemory { limit: 1 });
        }
        assert!(upgrades.refusal(&[1; 32]).is_none(), "the oldest is forgotten");
    }
}
