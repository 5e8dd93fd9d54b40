//! One project's configuration ready for requests: settings, key hash, fallback, secrets and
//! the intent index built, plus its webhooks compiled as they are first run.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::classifier::{ModelDigest, TrainingSet};
use crate::intent::{IntentIndex, IntentMatch};
use crate::store::{Fallback, Project, ProjectConfig};

use super::webhook::PreparedWebhook;

/// Bytes a view is counted as beyond its text: the maps, the index and the allocations' own
/// overhead. A rough figure on purpose: the bound is on how many projects' worth of memory the
/// catalog holds, not an exact byte count.
const VIEW_OVERHEAD_BYTES: u64 = 2048;
/// Text bytes are counted this many times: the index keeps its own copy of every term, and the
/// training set one of every example.
const TEXT_FACTOR: u64 = 4;

/// A stored key hash as bytes, if it is what `hash_token` writes: 64 lower-case hex digits.
fn decode_hash(hex_text: &str) -> Option<[u8; 32]> {
    let lower_hex = hex_text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let mut bytes = [0u8; 32];
    (lower_hex && hex::decode_to_slice(hex_text, &mut bytes).is_ok()).then_some(bytes)
}

/// A project's intents with their responses, what a model of them is trained on, and the
/// similarity index that answers until the first model is ready.
pub struct Intents {
    index: IntentIndex,
    responses: HashMap<String, Vec<String>>,
    pub training: Arc<TrainingSet>,
    pub digest: ModelDigest,
}

impl Intents {
    /// The similarity index's best match: the stand-in for a project without a trained model.
    pub fn similar(&self, message: &str, threshold: f64) -> Option<IntentMatch> {
        self.index.best_match(message, threshold)
    }

    /// Whether the project has this intent now (an older model may name one since deleted).
    pub fn has(&self, intent: &str) -> bool {
        self.responses.contains_key(intent)
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
    /// The key's SHA-256, decoded from the stored hex once; `None` if the stored hash is not
    /// lower-case hex of 32 bytes, which no key's hash can equal.
    key_hash: Option<[u8; 32]>,
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
        let index = IntentIndex::build(&examples);
        let training = Arc::new(TrainingSet::new(examples));
        let digest = training.digest();
        let intents = Intents { index, responses, training, digest };
        let key_hash = decode_hash(&key_hash);
        Self { project, key_hash, fallback, secrets, intents, webhooks: Mutex::default(), weight }
    }

    /// Whether `token` is this project's key (compared in constant time), as
    /// [`crate::auth::verify_token`] decides but without hex-encoding the token's hash on every
    /// request.
    pub fn key_matches(&self, token: &str) -> bool {
        let Some(key_hash) = &self.key_hash else { return false };
        Sha256::digest(token.as_bytes()).as_slice().ct_eq(key_hash).into()
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::{generate_token, hash_token, verify_token};

    #[test]
    fn a_key_matches_as_verify_token_says() {
        let key = generate_token("fbk_p.");
        let other = generate_token("fbk_p.");
        let stored = hash_token(&key);
        let view = |key_hash: &str| {
            ProjectView::build(ProjectConfig {
                project: Project {
                    id: "p".into(),
                    name: "p".into(),
                    match_threshold: 0.5,
                    created_at: String::new(),
                },
                key_hash: key_hash.to_owned(),
                fallback: None,
                secrets: BTreeMap::new(),
                intents: Vec::new(),
            })
        };
        assert!(view(&stored).key_matches(&key) && verify_token(&key, &stored));
        assert!(!view(&stored).key_matches(&other) && !verify_token(&other, &stored));
        assert!(!view(&stored).key_matches(""));
        for bad in [stored.to_uppercase(), stored[..62].to_owned(), String::new(), format!("{stored}00")] {
            assert_eq!(decode_hash(&bad), None, "{bad}");
            assert!(!view(&bad).key_matches(&key) && !verify_token(&key, &bad));
        }
    }
}
