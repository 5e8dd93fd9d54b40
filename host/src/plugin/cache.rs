//! Where compiled plugins are kept: in memory in a byte-bounded LRU keyed by sha256, and on
//! disk as `<sha256>.cwasm` artifacts so a restart or an eviction does not recompile.
//!
//! Loads of one digest are single-flight: concurrent first chats of a plugin wait for one
//! load instead of each compiling it. A digest's entry and artifact hold its best code so far:
//! baseline code first for a fresh upload, replaced by the optimized code once it is compiled.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::PluginError;
use super::engine::Tier;
use super::loaded::LoadedPlugin;
use crate::metrics::Metrics;

pub(crate) type Digest = [u8; 32];

/// Compiled plugins by sha256, in memory (bounded) and (optionally) on disk.
pub(crate) struct PluginCache {
    dir: Option<PathBuf>,
    lru: Mutex<Lru>,
    /// One gate per digest being loaded.
    inflight: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
    /// Held while deleting unused artifacts and while replacing one with optimized code, so an
    /// artifact collected (its version pruned) is never written back by a late compile.
    files: Mutex<()>,
    metrics: Arc<Metrics>,
}

/// Least recently used first: `order` maps a use stamp to its digest.
struct Lru {
    capacity: usize,
    used: usize,
    clock: u64,
    entries: HashMap<Digest, (Arc<LoadedPlugin>, u64)>,
    order: BTreeMap<u64, Digest>,
}

impl Lru {
    fn get(&mut self, sha256: &Digest) -> Option<Arc<LoadedPlugin>> {
        self.clock += 1;
        let clock = self.clock;
        let (plugin, stamp) = self.entries.get_mut(sha256)?;
        self.order.remove(stamp);
        *stamp = clock;
        self.order.insert(clock, *sha256);
        Some(plugin.clone())
    }

    /// Inserts (or finds) the plugin, then evicts the least recently used past the bound,
    /// never the one just inserted. Answers the kept plugin and how many were evicted.
    fn insert(&mut self, plugin: Arc<LoadedPlugin>) -> (Arc<LoadedPlugin>, u64) {
        let sha256 = plugin.sha256();
        if let Some(found) = self.get(&sha256) {
            return (found, 0);
        }
        self.clock += 1;
        self.used += plugin.weight();
        self.entries.insert(sha256, (plugin.clone(), self.clock));
        self.order.insert(self.clock, sha256);
        let evicted = self.evict();
        (plugin, evicted)
    }

    /// Swaps the entry of `plugin`'s digest for it, if there is one; then evicts past the bound
    /// as `insert` does. Answers how many were evicted, or `None` when the digest was not kept.
    fn replace(&mut self, plugin: Arc<LoadedPlugin>) -> Option<u64> {
        let entry = self.entries.get_mut(&plugin.sha256())?;
        self.used = self.used.saturating_sub(entry.0.weight()).saturating_add(plugin.weight());
        entry.0 = plugin;
        Some(self.evict())
    }

    fn remove(&mut self, sha256: &Digest) {
        if let Some((gone, stamp)) = self.entries.remove(sha256) {
            self.order.remove(&stamp);
            self.used = self.used.saturating_sub(gone.weight());
        }
    }

    fn evict(&mut self) -> u64 {
        let mut evicted = 0;
        while self.used > self.capacity && self.entries.len() > 1 {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            if let Some((gone, _)) = self.entries.remove(&oldest) {
                self.used = self.used.saturating_sub(gone.weight());
                evicted += 1;
            }
        }
        evicted
    }
}

impl PluginCache {
    pub fn new(dir: Option<PathBuf>, capacity: usize, metrics: Arc<Metrics>) -> Result<Self, PluginError> {
        if let Some(dir) = &dir {
            fs::create_dir_all(dir).map_err(|e| PluginError::Engine(e.into()))?;
        }
        let lru = Lru { capacity, used: 0, clock: 0, entries: HashMap::new(), order: BTreeMap::new() };
        Ok(Self {
            dir,
            lru: Mutex::new(lru),
            inflight: Mutex::new(HashMap::new()),
            files: Mutex::new(()),
            metrics,
        })
    }

    /// A plugin loaded in this process, found by its digest; counts as a use.
    pub fn get(&self, sha256: &Digest) -> Option<Arc<LoadedPlugin>> {
        self.lru().get(sha256)
    }

    /// Keeps a freshly loaded plugin, evicting others past the byte bound.
    pub fn insert(&self, plugin: LoadedPlugin) -> Arc<LoadedPlugin> {
        let (kept, evicted, used) = {
            let mut lru = self.lru();
            let (kept, evicted) = lru.insert(Arc::new(plugin));
            (kept, evicted, lru.used)
        };
        self.metrics.record_plugin_evictions(evicted);
        self.metrics.set_plugin_cache_bytes(used);
        kept
    }

    /// Puts the optimized code of a plugin in place of its baseline code, in memory if it is
    /// still kept there (it is not loaded back otherwise), and on disk if its artifact is still
    /// there (not otherwise: its version was pruned meanwhile).
    pub fn upgrade(&self, plugin: LoadedPlugin, artifact: &[u8]) {
        if let Some(path) = self.artifact_path(&plugin.sha256()) {
            let _files = lock(&self.files);
            if path.exists() {
                store_artifact(artifact, &path);
            }
        }
        let replaced = {
            let mut lru = self.lru();
            lru.replace(Arc::new(plugin)).map(|evicted| (evicted, lru.used))
        };
        if let Some((evicted, used)) = replaced {
            self.metrics.record_plugin_evictions(evicted);
            self.metrics.set_plugin_cache_bytes(used);
        }
    }

    /// Forgets a plugin, in memory and on disk: its optimized compile refused it.
    pub fn forget(&self, sha256: &Digest) {
        let used = {
            let mut lru = self.lru();
            lru.remove(sha256);
            lru.used
        };
        self.metrics.set_plugin_cache_bytes(used);
        if let Some(path) = self.artifact_path(sha256) {
            let _files = lock(&self.files);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot delete plugin artifact"),
            }
        }
    }

    /// Whether the artifact of this digest is on disk; always true without a cache directory.
    pub fn has_artifact(&self, sha256: &Digest) -> bool {
        self.artifact_path(sha256).is_none_or(|path| path.exists())
    }

    /// The cached plugin, or the result of `load` run once however many callers ask at once;
    /// `load` answers `None` when it found nothing to load (nothing is cached then).
    pub async fn get_or_load<F, Fut>(
        &self,
        sha256: Digest,
        load: F,
    ) -> Result<Option<Arc<LoadedPlugin>>, PluginError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<LoadedPlugin>, PluginError>>,
    {
        if let Some(found) = self.get(&sha256) {
            return Ok(Some(found));
        }
        let gate = self.gates().entry(sha256).or_default().clone();
        let result = {
            let _turn = gate.lock().await;
            match self.get(&sha256) {
                Some(found) => Ok(Some(found)),
                None => load().await.map(|loaded| loaded.map(|plugin| self.insert(plugin))),
            }
        };
        // The gate goes once nobody else holds it; clones are only made under this lock.
        let mut gates = self.gates();
        if Arc::strong_count(&gate) <= 2 && gates.get(&sha256).is_some_and(|g| Arc::ptr_eq(g, &gate)) {
            gates.remove(&sha256);
        }
        result
    }

    pub fn artifact_path(&self, sha256: &Digest) -> Option<PathBuf> {
        self.dir.as_deref().map(|dir| dir.join(format!("{}.cwasm", hex::encode(sha256))))
    }

    /// Deletes every artifact whose digest is not in `keep` (the store's plugins), and at
    /// start the temporary files of writes a crash interrupted. Answers how many went.
    pub fn collect_artifacts(&self, keep: &HashSet<String>, at_start: bool) -> usize {
        let Some(dir) = &self.dir else { return 0 };
        let _files = lock(&self.files);
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot list plugin artifacts");
                return 0;
            }
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let stale = match name.strip_suffix(".cwasm") {
                Some(digest) => !keep.contains(digest),
                None => at_start && name.ends_with(".tmp"),
            };
            if stale {
                match fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!(file = name, error = %e, "cannot delete plugin artifact"),
                }
            }
        }
        removed
    }

    fn lru(&self) -> MutexGuard<'_, Lru> {
        lock(&self.lru)
    }

    fn gates(&self) -> MutexGuard<'_, HashMap<Digest, Arc<tokio::sync::Mutex<()>>>> {
        lock(&self.inflight)
    }
}

/// Every lock here guards plain data a panic cannot leave half-changed: still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An artifact one of these engines wrote earlier (tried in order), with its size and tier.
/// Anything unusable (corrupt, written by another wasmtime version or configuration, or of a
/// tier not given) is ignored so the caller recompiles it.
///
/// The file is read into memory rather than mapped: a mapped artifact truncated or rewritten
/// in place (by an operator, a backup restore) would crash the process with SIGBUS.
pub(super) fn from_disk(engines: &[(Tier, &Engine)], path: &Path) -> Option<(Component, usize, Tier)> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read plugin artifact");
            return None;
        }
    };
    let mut refusal = None;
    for (tier, engine) in engines {
        match deserialize(engine, &bytes) {
            Ok(component) => return Some((component, bytes.len(), *tier)),
            Err(e) => refusal = refusal.or(Some(e)),
        }
    }
    if let Some(e) = refusal {
        tracing::warn!(path = %path.display(), error = %e, "ignoring unusable plugin artifact");
    }
    None
}

/// An artifact from this engine's configuration: written by `store_artifact` or by the
/// compile worker, which builds its engine from the same code settings.
pub(super) fn deserialize(engine: &Engine, bytes: &[u8]) -> Result<Component, anyhow::Error> {
    // SAFETY: the bytes come from `Engine::precompile_component` of this build (this process
    // or its compile worker, the same executable) or from the cache directory that only
    // holds such artifacts; wasmtime checks the header, version and engine configuration.
    let component = unsafe { Component::deserialize(engine, bytes) }?;
    // From bytes in memory, wasmtime builds each memory's copy-on-write image (a memfd holding
    // the data segments) lazily, at the first instantiation: for a JavaScript or Python plugin
    // that is megabytes of interpreter heap copied inside the first call's timeout. Built here,
    // at load, every call instantiates from a ready image.
    component.initialize_copy_on_write_image()?;
    Ok(component)
}

/// Writes the artifact through a temporary file and a rename, so a concurrent reader never
/// sees half of it. A failure only costs a recompilation later.
pub(super) fn store_artifact(bytes: &[u8], path: &Path) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        tracing::warn!(path = %path.display(), error = %e, "could not cache plugin artifact");
    }
}
