//! Each project's configuration as requests read it: from memory, loaded from the store in one
//! snapshot on first use and dropped whenever the store says the project changed.
//!
//! A chat or an authenticated request then reads nothing from the database. The store tells the
//! catalog of every committed write through [`crate::store::Changes`], the one invalidation
//! interface, so a write is never followed by a stale read on this node; a backend shared by
//! several nodes feeds the other nodes' writes through the same interface.
//!
//! The memory is bounded by an estimate of each project's size (its texts, secrets and index);
//! past it the least useful projects go and are read again when next asked for. Loads of one
//! project are single-flight: a burst of first requests reads it once.

mod view;
mod webhook;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::store::{Change, ChangeListener, SharedStore, StoreError};
use crate::webhook::ValidationLimits;

pub use view::{Intents, ProjectView};
pub use webhook::{PluginRef, PreparedWebhook, WebhookError};

/// Projects the cache sizes its tables for at first; it grows past it as needed.
const ESTIMATED_PROJECTS: usize = 10_000;

#[derive(Clone)]
struct ByWeight;

impl Weighter<String, Arc<ProjectView>> for ByWeight {
    fn weight(&self, _project: &String, view: &Arc<ProjectView>) -> u64 {
        view.weight()
    }
}

pub struct Catalog {
    store: SharedStore,
    limits: ValidationLimits,
    views: Cache<String, Arc<ProjectView>, ByWeight>,
    /// Bumped by every change. A load keeps what it read only if no change happened since it
    /// began: otherwise it may have read the state before the change after the change's
    /// invalidation had already run.
    generation: AtomicU64,
    /// Makes "check the generation, then insert" and "bump, then remove" exclusive.
    order: Mutex<()>,
}

impl Catalog {
    /// A catalog of `store`'s projects holding about `capacity_bytes`, subscribed to the
    /// store's changes.
    pub fn new(store: SharedStore, limits: ValidationLimits, capacity_bytes: u64) -> Arc<Self> {
        let catalog = Arc::new(Self {
            store: store.clone(),
            limits,
            views: Cache::with_weighter(ESTIMATED_PROJECTS, capacity_bytes.max(1), ByWeight),
            generation: AtomicU64::new(0),
            order: Mutex::new(()),
        });
        let listener: Arc<dyn ChangeListener> = catalog.clone();
        store.changes().subscribe(&listener);
        catalog
    }

    /// The project's view, or `None` if there is no such project (not cached: the next ask
    /// reads again, so a project created elsewhere is seen at once).
    pub async fn project(&self, id: &str) -> Result<Option<Arc<ProjectView>>, StoreError> {
        let guard = match self.views.get_value_or_guard_async(id).await {
            Ok(view) => return Ok(Some(view)),
            Err(guard) => guard,
        };
        let generation = self.generation.load(Ordering::Acquire);
        let Some(config) = self.store.project_config(id).await? else { return Ok(None) };
        let view = Arc::new(ProjectView::build(config));
        let _order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) == generation {
            let _ = guard.insert(view.clone());
        }
        Ok(Some(view))
    }

    /// The project's webhook ready to run, compiled once per change of the project.
    pub async fn webhook(&self, view: &ProjectView, id: &str) -> Result<Arc<PreparedWebhook>, WebhookError> {
        if let Some(prepared) = view.webhook(id) {
            return Ok(prepared);
        }
        let prepared = Arc::new(webhook::load(&self.store, &self.limits, &view.project.id, id).await?);
        view.keep_webhook(id, prepared.clone());
        Ok(prepared)
    }

    fn forget(&self, change: &Change) {
        let _order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        match change {
            Change::Project(project) => {
                self.views.remove(project.as_str());
            }
            Change::Everything => self.views.clear(),
        }
    }
}

impl ChangeListener for Catalog {
    fn changed(&self, change: &Change) {
        self.forget(change);
    }
}
