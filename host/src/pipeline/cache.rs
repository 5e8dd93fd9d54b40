//! What the pipeline keeps between messages: each project's intent index and each webhook's
//! compiled form with its active plugin's digest, so a chat does no parsing or blob reads.
//!
//! The plugin itself is not kept here but asked of the runtime at each execution: the
//! runtime's cache is bounded by bytes, and holding plugins here would pin evicted ones.
//!
//! The API drops entries when it changes what they were built from. A generation counter stops
//! a load that raced with such a change from caching what it read before the change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::intent::IntentIndex;
use crate::plugin::{LoadedPlugin, PluginError};
use crate::store::StoreError;
use crate::webhook::{CompiledWebhook, ValidationLimits, WebhookSpec};

use super::{Pipeline, PipelineError};

/// A project's intents, ready to match, with their responses.
pub struct Intents {
    index: IntentIndex,
    responses: HashMap<String, Vec<String>>,
}

impl Intents {
    pub fn best_match(&self, message: &str, threshold: f64) -> Option<crate::intent::IntentMatch> {
        self.index.best_match(message, threshold)
    }

    /// One of the intent's responses, picked at random so a bot does not sound canned.
    pub fn response(&self, intent: &str) -> Option<String> {
        let responses = self.responses.get(intent)?;
        if responses.is_empty() {
            return None;
        }
        let index = rand::random_range(0..responses.len());
        responses.get(index).cloned()
    }
}

/// A webhook ready to run.
pub struct Prepared {
    pub compiled: CompiledWebhook,
    pub plugin: Option<ActivePlugin>,
}

/// Which plugin version a webhook runs, by digest; loaded from the runtime when it runs.
pub struct ActivePlugin {
    pub version: u32,
    pub sha256: String,
    /// The upload's size in bytes.
    pub size: usize,
}

/// Why a webhook's plugin could not be had for an execution.
#[derive(Debug, thiserror::Error)]
pub enum PluginUnavailable {
    #[error("cannot read the plugin from the store")]
    Store(#[from] StoreError),
    /// Its version was deleted (a newer upload pruned it) while the execution began.
    #[error("plugin {0} is no longer stored")]
    Gone(String),
    #[error(transparent)]
    Load(#[from] PluginError),
}

impl PluginUnavailable {
    pub fn code(&self) -> &'static str {
        match self {
            PluginUnavailable::Store(_) => "plugin_store",
            PluginUnavailable::Gone(_) => "plugin_gone",
            PluginUnavailable::Load(error) => error.code(),
        }
    }
}

#[derive(Default)]
pub struct Cache {
    generation: AtomicU64,
    intents: Mutex<HashMap<String, Arc<Intents>>>,
    webhooks: Mutex<HashMap<(String, String), Arc<Prepared>>>,
}

impl Cache {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn forget_intents(&self, project: &str) {
        self.bump();
        if let Ok(mut intents) = self.intents.lock() {
            intents.remove(project);
        }
    }

    pub fn forget_webhook(&self, project: &str, webhook: &str) {
        self.bump();
        if let Ok(mut webhooks) = self.webhooks.lock() {
            webhooks.remove(&(project.to_string(), webhook.to_string()));
        }
    }

    pub fn forget_project(&self, project: &str) {
        self.bump();
        if let Ok(mut intents) = self.intents.lock() {
            intents.remove(project);
        }
        if let Ok(mut webhooks) = self.webhooks.lock() {
            webhooks.retain(|(owner, _), _| owner != project);
        }
    }
}

impl Pipeline {
    /// The webhook's active plugin version, without loading it.
    async fn active_plugin(
        &self,
        project: &str,
        webhook: &str,
    ) -> Result<Option<ActivePlugin>, PipelineError> {
        let Some(active) = self.store.active_plugin_version(project, webhook).await? else {
            return Ok(None);
        };
        let size = usize::try_from(active.size).unwrap_or(usize::MAX);
        Ok(Some(ActivePlugin { version: active.version, sha256: active.sha256, size }))
    }

    /// The plugin to run: from the runtime's memory, else its artifact on disk, else compiled
    /// again from the store's bytes (read only then: megabytes for a JS or Python component).
    /// The runtime makes concurrent first loads of one digest load once.
    pub(super) async fn loaded_plugin(
        &self,
        plugin: &ActivePlugin,
    ) -> Result<Arc<LoadedPlugin>, PluginUnavailable> {
        if let Some(loaded) = self.runtime.load_stored(&plugin.sha256, plugin.size).await? {
            return Ok(loaded);
        }
        let wasm = self
            .store
            .plugin_wasm(&plugin.sha256)
            .await?
            .ok_or_else(|| PluginUnavailable::Gone(plugin.sha256.clone()))?;
        Ok(self.runtime.load_upload(wasm.into()).await?)
    }

    /// Deletes compiled artifacts that no stored plugin version uses any more. A failure only
    /// leaves files for the next pass.
    pub async fn collect_plugin_artifacts(&self, at_start: bool) {
        let keep = match self.store.plugin_digests().await {
            Ok(digests) => digests.into_iter().collect(),
            Err(error) => {
                tracing::warn!(error = %error, "cannot list stored plugins; artifacts kept");
                return;
            }
        };
        let runtime = self.runtime.clone();
        match tokio::task::spawn_blocking(move || runtime.collect_artifacts(&keep, at_start)).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "deleted unused plugin artifacts"),
            Err(error) => tracing::warn!(error = %error, "collecting plugin artifacts failed"),
        }
    }

    pub(super) async fn intent_index(&self, project: &str) -> Result<Arc<Intents>, PipelineError> {
        if let Some(found) = self.cache.intents.lock().ok().and_then(|map| map.get(project).cloned()) {
            return Ok(found);
        }
        let generation = self.cache.generation();
        let stored = self.store.list_intents(project).await?;
        let examples: Vec<(String, Vec<String>)> =
            stored.iter().map(|intent| (intent.id.clone(), intent.examples.clone())).collect();
        let responses = stored.into_iter().map(|intent| (intent.id, intent.responses)).collect();
        let built = Arc::new(Intents { index: IntentIndex::build(&examples), responses });
        if self.cache.generation() == generation
            && let Ok(mut map) = self.cache.intents.lock()
        {
            map.insert(project.to_string(), built.clone());
        }
        Ok(built)
    }

    pub(super) async fn prepared(
        &self,
        project: &str,
        webhook: &str,
    ) -> Result<Arc<Prepared>, PipelineError> {
        let key = (project.to_string(), webhook.to_string());
        if let Some(found) = self.cache.webhooks.lock().ok().and_then(|map| map.get(&key).cloned()) {
            return Ok(found);
        }
        let generation = self.cache.generation();
        let record = self
            .store
            .get_webhook(project, webhook)
            .await?
            .ok_or_else(|| PipelineError::NotFound(format!("webhook {webhook}")))?;
        let spec: WebhookSpec = serde_json::from_str(&record.spec)
            .map_err(|cause| PipelineError::CorruptWebhook { webhook: webhook.to_string(), cause })?;
        let limits = ValidationLimits::from(&self.limits);
        let compiled = CompiledWebhook::compile(&spec, &limits)
            .map_err(|errors| PipelineError::InvalidWebhook { webhook: webhook.to_string(), errors })?;
        let plugin = self.active_plugin(project, webhook).await?;
        let prepared = Arc::new(Prepared { compiled, plugin });
        if self.cache.generation() == generation
            && let Ok(mut map) = self.cache.webhooks.lock()
        {
            map.insert(key, prepared.clone());
        }
        Ok(prepared)
    }
}
