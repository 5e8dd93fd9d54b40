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

    /// Features in this vocabulary: `0..len()`.
    pub fn len(&self) -> usize {
        self.size as usize
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The text's features; terms the vocabulary never saw are dropped. Empty when nothing of
    /// the text is known.
    pub fn vectorize(&self, text: &str) -> Sparse {
        let (words, chars) = terms(&normalize(text));
        let mut vector = weigh(&words, &self.words);
        vector.extend(weigh(&chars, &self.chars));
        let norm = vector.iter().map(|(_, value)| value * value).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (_, value) in &mut vector {
                *value /= norm;
            }
        }
        vector.sort_unstable_by_key(|(id, _)| *id);
        vector
    }
}

/// One family's TF-IDF weights, unit length.
fn weigh(counts: &Counts, vocabulary: &HashMap<String, (u32, f32)>) -> Sparse {
    let mut vector: Sparse = counts
        .iter()
        .filter_map(|(term, count)| {
            let (id, idf) = vocabulary.get(term)?;
            Some((*id, (1.0 + (*count as f32).ln()) * idf))
        })
        .collect();
    let norm = vector.iter().map(|(_, value)| value * value).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, value) in &mut vector {
            *value /= norm;
        }
    }
    vector
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

    #[test]
    fn the_vocabulary_does_not_depend_on_example_order() {
        let a = Vocabulary::learn(["one two", "three four"]);
        let b = Vocabulary::learn(["three four", "one two"]);
        assert_eq!(a, b);
        assert_eq!(a.vectorize("two three"), b.vectorize("two three"));
    }
}
