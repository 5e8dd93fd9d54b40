//! What `apply` would change, computed by comparing a checked file with the project as the API
//! has it: one `Change` per resource, in the order they can be made (webhooks before the
//! fallback that names them, the fallback before the webhooks it stops naming are deleted).

use std::fmt;

use bytes::Bytes;
use serde_json::Value;

use super::check::Checked;
use super::remote::Remote;
use crate::api::IntentBody;
use crate::store::Fallback;
use crate::webhook::WebhookSpec;

#[derive(Debug)]
pub enum Change {
    CreateProject { id: String, name: String, match_threshold: f64 },
    SetThreshold { from: f64, to: f64 },
    PutWebhook { id: String, spec: Box<WebhookSpec>, changed: Option<Vec<String>> },
    UploadPlugin { webhook: String, file: String, sha256: String, wasm: Bytes },
    ActivatePlugin { webhook: String, version: u32, sha256: String },
    DetachPlugin { webhook: String },
    SetFallback { fallback: Fallback, new: bool },
    PutIntent { id: String, body: IntentBody, new: bool },
    DeleteIntent { id: String },
    DeleteWebhook { id: String },
}

/// What `apply` cannot or will not do, said beside the changes.
#[derive(Debug)]
pub enum Note {
    /// Named in the file, not set on the project: values never travel in the file.
    MissingSecret { project: String, name: String },
    /// The API cannot rename a project.
    Name { file: String, project: String },
    /// The API cannot remove a fallback, only replace it.
    FallbackKept(Fallback),
}

#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub notes: Vec<Note>,
}

/// The changes that make `remote` (absent: not created yet) match `local`, aimed at `project`.
pub fn plan(local: &Checked, project: &str, remote: Option<&Remote>) -> Plan {
    let file = &local.file;
    let mut plan = Plan::default();
    let changes = &mut plan.changes;
    match remote {
        None => changes.push(Change::CreateProject {
            id: project.to_owned(),
            name: file.name.clone(),
            match_threshold: file.match_threshold,
        }),
        Some(remote) => {
            if remote.project.match_threshold != file.match_threshold {
                changes.push(Change::SetThreshold {
                    from: remote.project.match_threshold,
                    to: file.match_threshold,
                });
            }
            if remote.project.name != file.name {
                plan.notes.push(Note::Name { file: file.name.clone(), project: remote.project.name.clone() });
            }
        }
    }
    for (id, spec) in &file.webhooks {
        let before = remote.and_then(|remote| remote.webhooks.get(id));
        let changed = match before {
            None => None,
            Some(before) => match changed_fields(before, spec) {
                fields if fields.is_empty() => continue,
                fields => Some(fields),
            },
        };
        changes.push(Change::PutWebhook { id: id.clone(), spec: Box::new(spec.clone()), changed });
    }
    for (webhook, plugin) in &local.plugins {
        let versions = remote.and_then(|remote| remote.plugins.get(webhook));
        if remote.and_then(|remote| remote.active_sha256(webhook)) == Some(plugin.sha256.as_str()) {
            continue;
        }
        let stored =
            versions.and_then(|versions| versions.versions.iter().find(|v| v.sha256 == plugin.sha256));
        changes.push(match stored {
            Some(stored) => Change::ActivatePlugin {
                webhook: webhook.clone(),
                version: stored.version,
                sha256: plugin.sha256.clone(),
            },
            None => Change::UploadPlugin {
                webhook: webhook.clone(),
                file: plugin.shown.clone(),
                sha256: plugin.sha256.clone(),
                wasm: plugin.wasm.clone(),
            },
        });
    }
    if let Some(remote) = remote {
        for webhook in remote.plugins.keys() {
            let kept = file.webhooks.contains_key(webhook) && !local.plugins.contains_key(webhook);
            if kept && remote.active_sha256(webhook).is_some() {
                changes.push(Change::DetachPlugin { webhook: webhook.clone() });
            }
        }
    }
    let current = remote.and_then(|remote| remote.fallback.as_ref());
    match (&file.fallback, current) {
        (Some(wanted), Some(current)) if wanted == current => {}
        (Some(wanted), current) => {
            changes.push(Change::SetFallback { fallback: wanted.clone(), new: current.is_none() })
        }
        (None, Some(current)) => plan.notes.push(Note::FallbackKept(current.clone())),
        (None, None) => {}
    }
    for (id, body) in &file.intents {
        let before = remote.and_then(|remote| remote.intents.get(id));
        if before != Some(body) {
            changes.push(Change::PutIntent { id: id.clone(), body: body.clone(), new: before.is_none() });
        }
    }
    if let Some(remote) = remote {
        for id in remote.intents.keys().filter(|id| !file.intents.contains_key(*id)) {
            changes.push(Change::DeleteIntent { id: id.clone() });
        }
        for id in remote.webhooks.keys().filter(|id| !file.webhooks.contains_key(*id)) {
            changes.push(Change::DeleteWebhook { id: id.clone() });
        }
    }
    let set = remote.map(|remote| remote.secrets.as_slice()).unwrap_or_default();
    for name in file.secrets.iter().filter(|name| !set.contains(name)) {
        plan.notes.push(Note::MissingSecret { project: project.to_owned(), name: name.clone() });
    }
    plan
}

/// The top-level fields of a webhook that differ, compared as the API's JSON.
fn changed_fields(before: &WebhookSpec, after: &WebhookSpec) -> Vec<String> {
    let as_map = |spec: &WebhookSpec| match serde_json::to_value(spec) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (before, after) = (as_map(before), as_map(after));
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|key| before.get(*key) != after.get(*key)).cloned().collect()
}

impl Change {
    fn sign(&self) -> char {
        match self {
            Change::CreateProject { .. } | Change::UploadPlugin { .. } => '+',
            Change::PutWebhook { changed: None, .. }
            | Change::PutIntent { new: true, .. }
            | Change::SetFallback { new: true, .. } => '+',
            Change::DeleteIntent { .. } | Change::DeleteWebhook { .. } | Change::DetachPlugin { .. } => '-',
            _ => '~',
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.sign())?;
        match self {
            Change::CreateProject { id, name, match_threshold } => {
                write!(f, "project {id} (name {name:?}, match_threshold {match_threshold})")
            }
            Change::SetThreshold { from, to } => write!(f, "match_threshold {from} -> {to}"),
            Change::PutWebhook { id, changed: None, .. } => write!(f, "webhook {id}"),
            Change::PutWebhook { id, changed: Some(fields), .. } => {
                write!(f, "webhook {id} ({})", fields.join(", "))
            }
            Change::UploadPlugin { webhook, file, sha256, wasm } => {
                write!(f, "plugin {webhook}: upload {file} ({} bytes, sha256 {})", wasm.len(), short(sha256))
            }
            Change::ActivatePlugin { webhook, version, sha256 } => {
                write!(f, "plugin {webhook}: activate stored version {version} (sha256 {})", short(sha256))
            }
            Change::DetachPlugin { webhook } => write!(f, "plugin {webhook}: detach"),
            Change::SetFallback { fallback, .. } => write!(f, "fallback: {}", describe(fallback)),
            Change::PutIntent { id, .. } => write!(f, "intent {id}"),
            Change::DeleteIntent { id } => write!(f, "intent {id}"),
            Change::DeleteWebhook { id } => write!(f, "webhook {id}"),
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::MissingSecret { project, name } => write!(
                f,
                "! secret {name} is named in the file but not set: PUT /v1/projects/{project}/secrets/{name} with {{\"value\": …}}"
            ),
            Note::Name { file, project } => write!(
                f,
                "! name: the file says {file:?}, the project is named {project:?} (the API cannot rename a project)"
            ),
            Note::FallbackKept(current) => write!(
                f,
                "! fallback: the file has none; the project keeps {} (the API can replace a fallback, not remove it)",
                describe(current)
            ),
        }
    }
}

fn describe(fallback: &Fallback) -> String {
    match fallback {
        Fallback::Webhook(webhook) => format!("webhook {webhook}"),
        Fallback::Text(text) => format!("text {text:?}"),
    }
}

fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}
