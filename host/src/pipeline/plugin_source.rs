//! Where a webhook's plugin comes from at each execution: the runtime's memory, else its
//! compiled artifact on disk, else the store's bytes compiled again; and the sweep of artifacts
//! no stored version uses any more.

use std::sync::Arc;

use crate::catalog::PluginRef;
use crate::plugin::{LoadedPlugin, PluginError};
use crate::store::StoreError;

use super::Pipeline;

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

impl Pipeline {
    /// The plugin to run: from the runtime's memory, else its artifact on disk, else compiled
    /// again from the store's bytes (read only then: megabytes for a JS or Python component).
    /// The runtime makes concurrent first loads of one digest load once.
    pub(super) async fn loaded_plugin(
        &self,
        plugin: &PluginRef,
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
}
