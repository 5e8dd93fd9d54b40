//! What a model is trained on: a project's intents and their examples, in a canonical order,
//! with the digest that names the model trained from them.

use sha2::{Digest, Sha256};

/// Bumped whenever the features, the trainer or its options change, so models stored by an
/// older host are retrained instead of read with another meaning.
pub const MODEL_FORMAT: u32 = 1;

/// Intents sorted by id, each with its examples as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrainingSet {
    intents: Vec<(String, Vec<String>)>,
}

impl TrainingSet {
    pub fn new(mut intents: Vec<(String, Vec<String>)>) -> Self {
        intents.sort_by(|a, b| a.0.cmp(&b.0));
        Self { intents }
    }

    /// `(intent id, examples)`, by id.
    pub fn intents(&self) -> &[(String, Vec<String>)] {
        &self.intents
    }

    pub fn examples(&self) -> usize {
        self.intents.iter().map(|(_, examples)| examples.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.intents.is_empty()
    }

    /// SHA-256 over the model format and every id and example, each length-prefixed so no two
    /// different sets share an input.
    pub fn digest(&self) -> ModelDigest {
        let mut hash = Sha256::new();
        hash.update(MODEL_FORMAT.to_le_bytes());
        for (id, examples) in &self.intents {
            hash.update((id.len() as u64).to_le_bytes());
            hash.update(id.as_bytes());
            hash.update((examples.len() as u64).to_le_bytes());
            for example in examples {
                hash.update((example.len() as u64).to_le_bytes());
                hash.update(example.as_bytes());
            }
        }
        ModelDigest(hash.finalize().into())
    }
}

/// Names a model by what it was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelDigest(pub [u8; 32]);

impl ModelDigest {
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(intents: &[(&str, &[&str])]) -> TrainingSet {
        TrainingSet::new(
            intents
                .iter()
                .map(|(id, examples)| ((*id).to_owned(), examples.iter().map(|e| (*e).to_owned()).collect()))
                .collect(),
        )
    }

    #[test]
    fn the_digest_ignores_intent_order_and_sees_every_change() {
        let a = set(&[("hours", &["when do you open"]), ("name", &["who are you"])]);
        let b = set(&[("name", &["who are you"]), ("hours", &["when do you open"])]);
        assert_eq!(a.digest(), b.digest());
        assert_ne!(
            a.digest(),
            set(&[("hours", &["when do you open"]), ("name", &["who are you?"])]).digest()
        );
        // Moving a boundary between strings changes the digest too.
        assert_ne!(set(&[("ab", &["c"])]).digest(), set(&[("a", &["bc"])]).digest());
        assert_ne!(set(&[("a", &["b", "c"])]).digest(), set(&[("a", &["bc"])]).digest());
    }
}
