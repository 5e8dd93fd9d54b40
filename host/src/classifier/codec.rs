//! A trained model as bytes on disk, so a restart reads it instead of training again.
//!
//! Little-endian, length-prefixed: a magic, the model format, the digest of what it was trained
//! on, the intents, the vocabulary, the weights. Reading checks every length against what is
//! left of the file and every count against the others, so a truncated, corrupt or foreign file
//! is an error (and the model is trained again), never a panic or a huge allocation.

use super::features::Vocabulary;
use super::lexical::LexicalModel;
use super::train::Model;
use super::training_set::{MODEL_FORMAT, ModelDigest};

const MAGIC: &[u8; 8] = b"FBHMODEL";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("not a model file")]
    Magic,
    #[error("model format {0}, this host reads {MODEL_FORMAT}")]
    Format(u32),
    #[error("the file ends early")]
    Truncated,
    #[error("the file's parts do not fit together")]
    Inconsistent,
    #[error("trained on other intents than expected")]
    OtherDigest,
}

pub fn encode(digest: &ModelDigest, model: &LexicalModel) -> Vec<u8> {
    let (classes, features, weights, bias) = model.model().parts();
    let (words, chars) = model.vocabulary().entries();
    let mut out = Vec::with_capacity(64 + (weights.len() + bias.len()) * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&MODEL_FORMAT.to_le_bytes());
    out.extend_from_slice(&digest.0);
    put_len(&mut out, model.intents().len());
    for intent in model.intents() {
        put_str(&mut out, intent);
    }
    for entries in [words, chars] {
        put_len(&mut out, entries.len());
        for (term, id, idf) in entries {
            put_str(&mut out, term);
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&idf.to_le_bytes());
        }
    }
    put_len(&mut out, classes);
    put_len(&mut out, features);
    for value in weights.iter().chain(bias) {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out
}

/// The model in `bytes`, if they hold one trained on `expected`.
pub fn decode(bytes: &[u8], expected: &ModelDigest) -> Result<LexicalModel, DecodeError> {
    let mut reader = Reader(bytes);
    if reader.take(MAGIC.len())? != MAGIC {
        return Err(DecodeError::Magic);
    }
    let format = reader.u32()?;
    if format != MODEL_FORMAT {
        return Err(DecodeError::Format(format));
    }
    if reader.take(32)? != expected.0 {
        return Err(DecodeError::OtherDigest);
    }
    let count = reader.len(4)?;
    let intents = (0..count).map(|_| reader.string()).collect::<Result<Vec<_>, _>>()?;
    let mut families = Vec::with_capacity(2);
    for _ in 0..2 {
        let count = reader.len(12)?;
        let entries = (0..count)
            .map(|_| Ok((reader.string()?, reader.u32()?, reader.f32()?)))
            .collect::<Result<Vec<_>, DecodeError>>()?;
        families.push(entries);
    }
    let chars = families.pop().ok_or(DecodeError::Inconsistent)?;
    let words = families.pop().ok_or(DecodeError::Inconsistent)?;
    let vocabulary = Vocabulary::from_entries(words, chars).ok_or(DecodeError::Inconsistent)?;
    let classes = reader.len(0)?;
    let features = reader.len(0)?;
    let weights = features.checked_mul(classes).ok_or(DecodeError::Inconsistent)?;
    let values = weights.checked_add(classes).ok_or(DecodeError::Inconsistent)?;
    if values.checked_mul(4) != Some(reader.0.len()) {
        return Err(DecodeError::Truncated);
    }
    let mut floats = (0..values).map(|_| reader.f32()).collect::<Result<Vec<_>, _>>()?;
    let bias = floats.split_off(weights);
    let model = Model::from_parts(classes, features, floats, bias).ok_or(DecodeError::Inconsistent)?;
    LexicalModel::from_parts(intents, vocabulary, model).ok_or(DecodeError::Inconsistent)
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&(len as u64).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| DecodeError::Truncated)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn f32(&mut self) -> Result<f32, DecodeError> {
        Ok(f32::from_le_bytes(self.array()?))
    }

    /// A count of items each at least `min_item_bytes` long, refused if the rest of the file
    /// could not hold that many (so a corrupt count never reserves memory).
    fn len(&mut self, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let len = usize::try_from(u64::from_le_bytes(self.array()?)).map_err(|_| DecodeError::Truncated)?;
        if len.saturating_mul(min_item_bytes) > self.0.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(len)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.len(1)?;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| DecodeError::Inconsistent)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::classifier::training_set::TrainingSet;

    fn trained() -> (ModelDigest, LexicalModel) {
        let set = TrainingSet::new(vec![
            ("hours".into(), vec!["when do you open".into(), "opening hours".into()]),
            ("greet".into(), vec!["hello".into(), "hi there".into()]),
        ]);
        (set.digest(), LexicalModel::train(&set, || true).unwrap())
    }

    #[test]
    fn round_trips() {
        let (digest, model) = trained();
        assert_eq!(decode(&encode(&digest, &model), &digest).unwrap(), model);
    }

    #[test]
    fn every_truncation_and_other_digests_are_errors() {
        let (digest, model) = trained();
        let bytes = encode(&digest, &model);
        // Every cut in the header and the first entries, then cuts spread over the rest.
        let stride = (bytes.len() / 500).max(1);
        for end in (0..bytes.len()).filter(|end| *end < 300 || end % stride == 0) {
            assert!(decode(&bytes[..end], &digest).is_err(), "{end}");
        }
        assert_eq!(decode(&bytes, &ModelDigest([7; 32])), Err(DecodeError::OtherDigest));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer, &digest).is_err());
        let mut huge_count = bytes;
        let at = MAGIC.len() + 4 + 32;
        huge_count[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(decode(&huge_count, &digest), Err(DecodeError::Truncated));
    }
}
