//! Text to sparse TF-IDF features: word 1–2-grams and character 2–5-grams of the normalised
//! text, over a vocabulary learned from a project's examples.
//!
//! Words carry the meaning; character n-grams forgive typos, inflections and unspaced scripts.
//! Each family is weighted sublinearly (1 + ln tf) by its idf and L2-normalised on its own, so
//! neither outweighs the other by sheer count; the two halves are then scaled to unit length
//! together. Ids follow the terms' sorted order, so a vocabulary does not depend on the order
//! examples came in.

use std::collections::{BTreeMap, HashMap};

use crate::intent::normalize;

/// The word and character n-gram lengths, as the baseline used them.
const WORD_NGRAMS: std::ops::RangeInclusive<usize> = 1..=2;
const CHAR_NGRAMS: std::ops::RangeInclusive<usize> = 2..=5;

/// A sparse vector: `(feature id, value)` sorted by id.
pub type Sparse = Vec<(u32, f32)>;

/// The id of a term kept only for its idf: pruned from the model, it still counts in a vector's
/// length, so the features that remain get the values they were trained with.
const NORM_ONLY: u32 = u32::MAX;

/// A stored vocabulary term: `(term, feature id, idf)`.
pub type Entry<'a> = (&'a str, u32, f32);

/// One family's terms (words or character n-grams) with their counts.
type Counts = BTreeMap<String, u32>;

/// Term ids and idf weights learned from the training texts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vocabulary {
    words: HashMap<String, (u32, f32)>,
    chars: HashMap<String, (u32, f32)>,
    size: u32,
}

impl Vocabulary {
    /// Learns the terms of `texts` (already normalised or not: they are normalised here) and
    /// their idf, `ln((1 + n) / (1 + df)) + 1` as is usual.
    pub fn learn<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut word_df: BTreeMap<String, u32> = BTreeMap::new();
        let mut char_df: BTreeMap<String, u32> = BTreeMap::new();
        let mut documents = 0u32;
        for text in texts {
            let (words, chars) = terms(&normalize(text));
            documents += 1;
            for term in words.into_keys() {
                *word_df.entry(term).or_default() += 1;
            }
            for term in chars.into_keys() {
                *char_df.entry(term).or_default() += 1;
            }
        }
        let idf = |df: u32| ((1.0 + f64::from(documents)) / (1.0 + f64::from(df))).ln() as f32 + 1.0;
        let mut size = 0u32;
        let mut number = |df: BTreeMap<String, u32>| -> HashMap<String, (u32, f32)> {
            df.into_iter()
                .map(|(term, df)| {
                    let id = size;
                    size += 1;
                    (term, (id, idf(df)))
                })
                .collect()
        };
        let words = number(word_df);
        let chars = number(char_df);
        Self { words, chars, size }
    }

    /// The vocabulary as stored: `(words, chars)`, each `(term, id, idf)` in id order.
    pub fn entries(&self) -> (Vec<Entry<'_>>, Vec<Entry<'_>>) {
        fn list(map: &HashMap<String, (u32, f32)>) -> Vec<Entry<'_>> {
            let mut entries: Vec<Entry<'_>> =
                map.iter().map(|(term, (id, idf))| (term.as_str(), *id, *idf)).collect();
            entries.sort_unstable_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
            entries
        }
        (list(&self.words), list(&self.chars))
    }

    /// A vocabulary from stored entries; `None` unless the feature ids are exactly `0..n`, each
    /// once (beside terms kept only for their idf).
    pub fn from_entries(words: Vec<(String, u32, f32)>, chars: Vec<(String, u32, f32)>) -> Option<Self> {
        let features = words.iter().chain(&chars).filter(|(_, id, _)| *id != NORM_ONLY).count();
        let size = u32::try_from(features).ok()?;
        let mut seen = vec![false; size as usize];
        for (_, id, _) in words.iter().chain(&chars).filter(|(_, id, _)| *id != NORM_ONLY) {
            let slot = seen.get_mut(*id as usize)?;
            if std::mem::replace(slot, true) {
                return None;
            }
        }
        let map = |entries: Vec<(String, u32, f32)>| -> Option<HashMap<String, (u32, f32)>> {
            let count = entries.len();
            let map: HashMap<_, _> = entries.into_iter().map(|(term, id, idf)| (term, (id, idf))).collect();
            (map.len() == count).then_some(map)
        };
        Some(Self { words: map(words)?, chars: map(chars)?, size })
    }

    /// The vocabulary keeping only the features `keep` says yes to, renumbered in order as
    /// [`super::train::Model::select_features`] renumbers the weights; the others stay for
    /// their idf alone.
    pub fn select_features(&self, keep: &[bool]) -> Self {
        let mut new_ids = Vec::with_capacity(keep.len());
        let mut next = 0u32;
        for &kept in keep {
            new_ids.push(kept.then(|| {
                next += 1;
                next - 1
            }));
        }
        let select = |map: &HashMap<String, (u32, f32)>| -> HashMap<String, (u32, f32)> {
            map.iter()
                .map(|(term, (id, idf))| {
                    let id = new_ids.get(*id as usize).copied().flatten().unwrap_or(NORM_ONLY);
                    (term.clone(), (id, *idf))
                })
                .collect()
        };
        Self { words: select(&self.words), chars: select(&self.chars), size: next }
    }

    /// Bytes this vocabulary holds, roughly: its terms and the maps' entries.
    pub fn approx_bytes(&self) -> usize {
        self.words.iter().chain(&self.chars).map(|(term, _)| term.len() + 48).sum()
    }

    /// Features in this vocabulary: `0..len()`.
    pub fn len(&self) -> usize {
        self.size as usize
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The text's features; terms the vocabulary never saw are dropped. Empty when nothing of
    /// the text is known.
    ///
    /// On every chat, so it allocates no term: each n-gram is a slice of the normalised text
    /// (word n-grams are, as normalising leaves single spaces), looked up as it is.
    pub fn vectorize(&self, text: &str) -> Sparse {
        let normalized = normalize(text);
        let mut words = Vec::new();
        let tokens: Vec<(usize, usize)> = normalized
            .split(' ')
            .filter(|token| !token.is_empty())
            .map(|token| {
                let start = token.as_ptr() as usize - normalized.as_ptr() as usize;
                (start, start + token.len())
            })
            .collect();
        for n in WORD_NGRAMS {
            for window in tokens.windows(n) {
                let (Some(first), Some(last)) = (window.first(), window.last()) else { continue };
                if let Some(&hit) = self.words.get(&normalized[first.0..last.1]) {
                    words.push(hit);
                }
            }
        }
        let mut chars = Vec::new();
        if !tokens.is_empty() {
            let padded = format!(" {normalized} ");
            let bounds: Vec<usize> =
                padded.char_indices().map(|(at, _)| at).chain(std::iter::once(padded.len())).collect();
            for n in CHAR_NGRAMS {
                for window in bounds.windows(n + 1) {
                    let (Some(start), Some(end)) = (window.first(), window.last()) else { continue };
                    if let Some(&hit) = self.chars.get(&padded[*start..*end]) {
                        chars.push(hit);
                    }
                }
            }
        }
        let mut vector = weigh_hits(words);
        vector.extend(weigh_hits(chars));
        to_unit_length(&mut vector);
        vector.retain(|(id, _)| *id != NORM_ONLY);
        vector.sort_unstable_by_key(|(id, _)| *id);
        vector
    }
}

/// One family's TF-IDF weights from its terms' `(id, idf)`, one per occurrence, unit length.
fn weigh_hits(mut hits: Vec<(u32, f32)>) -> Sparse {
    hits.sort_unstable_by_key(|(id, _)| *id);
    let mut vector: Sparse = Vec::with_capacity(hits.len());
    let mut at = 0;
    while let Some(&(id, idf)) = hits.get(at) {
        let count = hits[at..].iter().take_while(|(other, _)| *other == id).count();
        vector.push((id, (1.0 + (count as f32).ln()) * idf));
        at += count;
    }
    to_unit_length(&mut vector);
    vector
}

/// Scales `vector` to length 1 (an empty or all-zero one stays as it is).
fn to_unit_length(vector: &mut Sparse) {
    let norm = vector.iter().map(|(_, value)| value * value).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, value) in vector.iter_mut() {
            *value /= norm;
        }
    }
}

/// The normalised text's word n-grams and character n-grams (of the text with a space at each
/// end, so word boundaries are features of their own).
fn terms(normalized: &str) -> (Counts, Counts) {
    let mut words = Counts::new();
    let tokens: Vec<&str> = normalized.split(' ').filter(|token| !token.is_empty()).collect();
    for n in WORD_NGRAMS {
        for window in tokens.windows(n) {
            *words.entry(window.join(" ")).or_default() += 1;
        }
    }
    let mut chars = Counts::new();
    if !tokens.is_empty() {
        let padded: Vec<char> = std::iter::once(' ').chain(normalized.chars()).chain([' ']).collect();
        for n in CHAR_NGRAMS {
            for window in padded.windows(n) {
                *chars.entry(window.iter().collect()).or_default() += 1;
            }
        }
    }
    (words, chars)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_length_sorted_and_ignore_unknown_terms() {
        let vocabulary =
            Vocabulary::learn(["Where is my card?", "I lost my card", "what is the exchange rate"]);
        let vector = vocabulary.vectorize("WHERE is my card");
        let norm: f32 = vector.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        assert!(vector.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(vocabulary.vectorize("zzzz qqqq").is_empty() || vocabulary.vectorize("zzzz qqqq").len() < 3);
        assert!(vocabulary.vectorize("").is_empty());
    }

    /// The allocation-free path gives what weighing [`terms`] gives.
    #[test]
    fn vectors_are_those_of_the_terms() {
        let vocabulary =
            Vocabulary::learn(["Where is my card?", "I lost my card", "café au lait, s'il vous plaît"]);
        for text in ["where is my card card", "Café!", "lost lost my  card?", "x", "", "plaît s il"] {
            let (words, chars) = terms(&normalize(text));
            let hits = |counts: &Counts, map: &HashMap<String, (u32, f32)>| -> Vec<(u32, f32)> {
                counts
                    .iter()
                    .filter_map(|(term, count)| {
                        map.get(term).map(|hit| std::iter::repeat_n(*hit, *count as usize))
                    })
                    .flatten()
                    .collect()
            };
            let mut expected = weigh_hits(hits(&words, &vocabulary.words));
            expected.extend(weigh_hits(hits(&chars, &vocabulary.chars)));
            to_unit_length(&mut expected);
            expected.sort_unstable_by_key(|(id, _)| *id);
            assert_eq!(vocabulary.vectorize(text), expected, "{text}");
        }
    }

    #[test]
    fn the_vocabulary_does_not_depend_on_example_order() {
        let a = Vocabulary::learn(["one two", "three four"]);
        let b = Vocabulary::learn(["three four", "one two"]);
        assert_eq!(a, b);
        assert_eq!(a.vectorize("two three"), b.vectorize("two three"));
    }
}
