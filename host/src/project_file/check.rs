//! A project file checked before anything is written: the API's own checks on every resource
//! (ids, intents, webhooks under the default limits, the fallback's webhook), and each plugin
//! file read and matched against its recorded sha256. Every problem is reported at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::format::ProjectFile;
use crate::api::InvalidIntent;
use crate::config::Limits;
use crate::model::is_valid_id;
use crate::store::Fallback;
use crate::webhook::{FieldError, ValidationLimits};

/// A file that passed every check, with its plugins' bytes.
#[derive(Debug)]
pub struct Checked {
    pub file: ProjectFile,
    pub plugins: BTreeMap<String, LocalPlugin>,
}

#[derive(Debug)]
pub struct LocalPlugin {
    /// As the file writes it.
    pub shown: String,
    pub sha256: String,
    pub wasm: Bytes,
}

/// One thing wrong with a project file, named by where it is.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("{what} id {id:?}: ids match [a-z0-9][a-z0-9_-]{{0,63}}")]
    Id { what: &'static str, id: String },
    #[error("name: 1 to 200 characters")]
    Name,
    #[error("match_threshold: a number in (0, 1]")]
    Threshold,
    #[error("intents.{id}.{error}")]
    Intent { id: String, error: InvalidIntent },
    #[error("webhooks.{id}.{}: {}", error.field, error.message)]
    Webhook { id: String, error: FieldError },
    #[error("fallback: webhook {0:?} is not among the file's webhooks")]
    FallbackWebhook(String),
    #[error("fallback: text must not be blank")]
    FallbackText,
    #[error("plugins.{0}: no such webhook in the file")]
    PluginWebhook(String),
    #[error("plugins.{id}.file: cannot read {}: {source}", path.display())]
    PluginRead { id: String, path: PathBuf, source: std::io::Error },
    #[error("plugins.{id}.sha256: the file says {recorded} but {} has {actual}: rebuild or update the sha256", path.display())]
    PluginDigest { id: String, path: PathBuf, recorded: String, actual: String },
}

/// Checks `file`, whose plugin paths are relative to `dir`.
pub fn check(file: ProjectFile, dir: &Path) -> Result<Checked, Vec<Problem>> {
    let mut problems = Vec::new();
    let id = |what: &'static str, id: &str, problems: &mut Vec<Problem>| {
        if !is_valid_id(id) {
            problems.push(Problem::Id { what, id: id.to_owned() });
        }
    };
    id("project", &file.project, &mut problems);
    let name = file.name.trim().chars().count();
    if name == 0 || name > 200 {
        problems.push(Problem::Name);
    }
    if !(file.match_threshold > 0.0 && file.match_threshold <= 1.0) {
        problems.push(Problem::Threshold);
    }
    for secret in &file.secrets {
        id("secret", secret, &mut problems);
    }
    for (intent, body) in &file.intents {
        id("intent", intent, &mut problems);
        if let Err(error) = body.check() {
            problems.push(Problem::Intent { id: intent.clone(), error });
        }
    }
    let limits = ValidationLimits::from(&Limits::default());
    for (webhook, spec) in &file.webhooks {
        id("webhook", webhook, &mut problems);
        if let Err(errors) = crate::webhook::validate(spec, &limits) {
            problems.extend(errors.into_iter().map(|error| Problem::Webhook { id: webhook.clone(), error }));
        }
    }
    match &file.fallback {
        Some(Fallback::Webhook(webhook)) if !file.webhooks.contains_key(webhook) => {
            problems.push(Problem::FallbackWebhook(webhook.clone()))
        }
        Some(Fallback::Text(text)) if text.trim().is_empty() => problems.push(Problem::FallbackText),
        _ => {}
    }
    let mut plugins = BTreeMap::new();
    for (webhook, plugin) in &file.plugins {
        if !file.webhooks.contains_key(webhook) {
            problems.push(Problem::PluginWebhook(webhook.clone()));
            continue;
        }
        let path = dir.join(&plugin.file);
        match std::fs::read(&path) {
            Err(source) => problems.push(Problem::PluginRead { id: webhook.clone(), path, source }),
            Ok(wasm) => {
                let actual = hex::encode(crate::plugin::sha256(&wasm));
                if actual != plugin.sha256.to_ascii_lowercase() {
                    let recorded = plugin.sha256.clone();
                    problems.push(Problem::PluginDigest { id: webhook.clone(), path, recorded, actual });
                } else {
                    let local = LocalPlugin { shown: plugin.file.clone(), sha256: actual, wasm: wasm.into() };
                    plugins.insert(webhook.clone(), local);
                }
            }
        }
    }
    if problems.is_empty() { Ok(Checked { file, plugins }) } else { Err(problems) }
}
