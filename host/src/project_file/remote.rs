//! A project as the API has it now: what `export` writes and what `apply` compares a file with.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::client::{ApiClient, ClientError};
use crate::api::IntentBody;
use crate::store::{Fallback, Intent, PluginVersions, Project};
use crate::webhook::WebhookSpec;

#[derive(Debug)]
pub struct Remote {
    pub project: Project,
    pub intents: BTreeMap<String, IntentBody>,
    pub webhooks: BTreeMap<String, WebhookSpec>,
    /// Only webhooks that have (or had) a plugin.
    pub plugins: BTreeMap<String, PluginVersions>,
    pub fallback: Option<Fallback>,
    pub secrets: Vec<String>,
}

impl Remote {
    /// The sha256 of the plugin version a webhook runs, if any.
    pub fn active_sha256(&self, webhook: &str) -> Option<&str> {
        let versions = self.plugins.get(webhook)?;
        let active = versions.active?;
        versions.versions.iter().find(|v| v.version == active).map(|v| v.sha256.as_str())
    }
}

#[derive(Deserialize)]
struct Intents {
    intents: Vec<Intent>,
}

#[derive(Deserialize)]
struct Webhooks {
    webhooks: Vec<String>,
}

#[derive(Deserialize)]
struct Secrets {
    secrets: Vec<String>,
}

/// Reads the whole project, or `None` when it does not exist.
pub async fn read(client: &ApiClient, project: &str) -> Result<Option<Remote>, ClientError> {
    let base = format!("/v1/projects/{project}");
    let Some(found) = client.get_optional::<Project>(&base).await? else {
        return Ok(None);
    };
    let intents = client.get::<Intents>(&format!("{base}/intents")).await?.intents;
    let intents = intents
        .into_iter()
        .map(|intent| (intent.id, IntentBody { examples: intent.examples, responses: intent.responses }))
        .collect();
    let mut webhooks = BTreeMap::new();
    let mut plugins = BTreeMap::new();
    for id in client.get::<Webhooks>(&format!("{base}/webhooks")).await?.webhooks {
        let path = format!("{base}/webhooks/{id}");
        let mut value: Value = client.get(&path).await?;
        // The answer is the spec as saved plus its id.
        if let Value::Object(map) = &mut value {
            map.remove("id");
        }
        let spec: WebhookSpec = serde_json::from_value(value).map_err(|source| ClientError::Decode {
            method: http::Method::GET,
            path: path.clone(),
            source,
        })?;
        webhooks.insert(id.clone(), spec);
        let versions: PluginVersions = client.get(&format!("{path}/plugin")).await?;
        if !versions.versions.is_empty() {
            plugins.insert(id, versions);
        }
    }
    let fallback = client.get_optional::<Fallback>(&format!("{base}/fallback")).await?;
    let secrets = client.get::<Secrets>(&format!("{base}/secrets")).await?.secrets;
    Ok(Some(Remote { project: found, intents, webhooks, plugins, fallback, secrets }))
}
