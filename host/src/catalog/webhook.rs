//! A webhook ready to run: its spec compiled against the operator's limits, and which plugin
//! version it runs.

use crate::store::{SharedStore, StoreError};
use crate::webhook::{CompiledWebhook, FieldError, ValidationLimits, WebhookSpec};

/// A webhook ready to run.
pub struct PreparedWebhook {
    pub compiled: CompiledWebhook,
    pub plugin: Option<PluginRef>,
}

/// Which plugin version a webhook runs, by digest. The plugin itself is asked of the runtime at
/// each execution: the runtime's cache is bounded by bytes, and holding plugins here would pin
/// evicted ones.
pub struct PluginRef {
    pub version: u32,
    pub sha256: String,
    /// The upload's size in bytes.
    pub size: usize,
}

/// Why a stored webhook cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored webhook {webhook} is unreadable")]
    Corrupt {
        webhook: String,
        #[source]
        cause: serde_json::Error,
    },
    /// A stored webhook that no longer passes validation, e.g. after the operator lowered a limit.
    #[error("stored webhook {webhook} is no longer valid")]
    Invalid { webhook: String, errors: Vec<FieldError> },
}

/// Reads and compiles the webhook: two reads, done once per change of its project.
pub(super) async fn load(
    store: &SharedStore,
    limits: &ValidationLimits,
    project: &str,
    webhook: &str,
) -> Result<PreparedWebhook, WebhookError> {
    let record = store
        .get_webhook(project, webhook)
        .await?
        .ok_or_else(|| WebhookError::NotFound(webhook.to_owned()))?;
    let spec: WebhookSpec = serde_json::from_str(&record.spec)
        .map_err(|cause| WebhookError::Corrupt { webhook: webhook.to_owned(), cause })?;
    let compiled = CompiledWebhook::compile(&spec, limits)
        .map_err(|errors| WebhookError::Invalid { webhook: webhook.to_owned(), errors })?;
    let plugin = store.active_plugin_version(project, webhook).await?.map(|active| PluginRef {
        version: active.version,
        sha256: active.sha256,
        size: usize::try_from(active.size).unwrap_or(usize::MAX),
    });
    Ok(PreparedWebhook { compiled, plugin })
}
