//! What a committed write changed, told to whoever keeps copies of stored data in memory.
//!
//! This is the one seam between writes and caches. A backend publishes a [`Change`] after each
//! committed write, before the write's caller sees it succeed, so a node's own writes are never
//! followed by a stale read on that node. A backend shared by several nodes (PostgreSQL) also
//! publishes what other nodes wrote, as it hears of it, and [`Change::Everything`] when it may
//! have missed some (its listening connection dropped).

use std::sync::{Arc, PoisonError, RwLock, Weak};

/// What to forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Anything of this project: its settings, key, intents, webhooks, plugins, fallback or
    /// secrets, or the project itself (created or deleted).
    Project(String),
    /// Anything at all: nothing cached can be trusted any more.
    Everything,
}

/// Told of every change; called on the writer's thread, so it must be quick and not block.
pub trait ChangeListener: Send + Sync {
    fn changed(&self, change: &Change);
}

/// The listeners of one store.
#[derive(Default)]
pub struct Changes {
    /// Weak, so a listener that holds the store (the catalog does) does not keep it alive.
    listeners: RwLock<Vec<Weak<dyn ChangeListener>>>,
}

impl Changes {
    pub fn subscribe(&self, listener: &Arc<dyn ChangeListener>) {
        let mut listeners = self.listeners.write().unwrap_or_else(PoisonError::into_inner);
        listeners.retain(|listener| listener.strong_count() > 0);
        listeners.push(Arc::downgrade(listener));
    }

    pub fn publish(&self, change: &Change) {
        for listener in self.listeners.read().unwrap_or_else(PoisonError::into_inner).iter() {
            if let Some(listener) = listener.upgrade() {
                listener.changed(change);
            }
        }
    }

    pub fn project(&self, project: &str) {
        self.publish(&Change::Project(project.to_owned()));
    }
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.listeners.read().map(|listeners| listeners.len()).unwrap_or(0);
        f.debug_struct("Changes").field("listeners", &count).finish()
    }
}
