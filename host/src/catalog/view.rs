//! One project's configuration ready for requests: settings, key hash, fallback, secrets and
//! the intent index built, plus its webhooks compiled as they are first run.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use crate::auth::verify_token;
use crate::intent::{IntentIndex, IntentMatch};
use crate::store::{Fallback, Project, ProjectConfig};

use super::webhook::PreparedWebhook;

/// Bytes a view is counted as beyond its text: the maps, the index and the allocations' own
/// overhead. A rough figure on purpose: the bound is on how many projects' worth of memory the
/// catalog holds, not an exact byte count.
const VIEW_OVERHEAD_BYTES: u64 = 2048;
/// Text bytes are counted this many times: the index keeps its own copy of every term.
const TEXT_FACTOR: u64 = 3;

/// A project's intents, ready to match, with their responses.
pub struct Intents {
    index: IntentIndex,
    responses: HashMap<String, Vec<String>>,
}

impl Intents {
    pub fn best_match(&self, message: &str, threshold: f64) -> Option<IntentMatch> {
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

/// What the catalog keeps of one project; replaced as a whole (never edited) when it changes.
pub struct ProjectView {
    pub project: Project,
    key_hash: String,
    pub fallback: Option<Fallback>,
    pub secrets: BTreeMap<String, String>,
    pub intents: Intents,
    /// Filled as webhooks are first run. A view is dropped from the catalog on any change to
    /// its project, so what is put here is never older than the view.
    pub(super) webhooks: Mutex<HashMap<String, Arc<PreparedWebhook>>>,
    weight: u64,
}

impl ProjectView {
    pub(super) fn build(config: ProjectConfig) -> Self {
        let ProjectConfig { project, key_hash, fallback, secrets, intents } = config;
        let text: usize = intents
            .iter()
            .map(|intent| {
                intent.id.len()
                    + intent.examples.iter().map(String::len).sum::<usize>()
                    + intent.responses.iter().map(String::len).sum::<usize>()
            })
            .sum::<usize>()
            + secrets.iter().map(|(name, value)| name.len() + value.len()).sum::<usize>();
        let weight = VIEW_OVERHEAD_BYTES
            .saturating_add(u64::try_from(text).unwrap_or(u64::MAX).saturating_mul(TEXT_FACTOR));
        let examples: Vec<(String, Vec<String>)> =
            intents.iter().map(|intent| (intent.id.clone(), intent.examples.clone())).collect();
        let responses = intents.into_iter().map(|intent| (intent.id, intent.responses)).collect();
        let intents = Intents { index: IntentIndex::build(&examples), responses };
        Self { project, key_hash, fallback, secrets, intents, webhooks: Mutex::default(), weight }
    }

    /// Whether `token` is this project's key (compared in constant time).
    pub fn key_matches(&self, token: &str) -> bool {
        verify_token(token, &self.key_hash)
    }

    pub(super) fn weight(&self) -> u64 {
        self.weight
    }

    pub(super) fn webhook(&self, id: &str) -> Option<Arc<PreparedWebhook>> {
        self.webhooks.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned()
    }

    pub(super) fn keep_webhook(&self, id: &str, prepared: Arc<PreparedWebhook>) {
        self.webhooks.lock().unwrap_or_else(PoisonError::into_inner).insert(id.to_owned(), prepared);
    }
}
