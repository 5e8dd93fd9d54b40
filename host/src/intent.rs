//! Similarity matching: which of a project's intents a user message resembles most, the stand-in
//! while a project's first trained model is made (see `classifier`), and the text normalisation
//! both share (no HTTP, no store).
//!
//! Each example utterance becomes two TF-IDF vectors, one over words and one over character
//! trigrams; a message scores against an example by the average of the two cosines, and against
//! an intent by its best example. Words reward the right vocabulary; trigrams forgive typos,
//! inflections ("opening"/"open") and scripts written without spaces. Common English function
//! words count for little, so "what is…" alone does not make a match. It is deterministic: the
//! same index and message always give the same score, ties going to the smaller intent id.

use std::collections::{BTreeMap, HashMap};

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Weight of the word cosine; the trigram cosine gets the rest.
const WORD_WEIGHT: f64 = 0.5;

/// The intent a message matched and how well, in `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentMatch {
    pub intent: String,
    pub score: f64,
}

/// A project's intents, vectorised once so matching a message is a few sparse dot products.
#[derive(Debug, Clone, Default)]
pub struct IntentIndex {
    /// Sorted by id so ties resolve to the smaller id.
    intents: Vec<IndexedIntent>,
    words: Vocabulary,
    trigrams: Vocabulary,
}

#[derive(Debug, Clone)]
struct IndexedIntent {
    id: String,
    examples: Vec<ExampleVectors>,
}

#[derive(Debug, Clone)]
struct ExampleVectors {
    words: SparseVector,
    trigrams: SparseVector,
}

impl IntentIndex {
    /// Builds the index from `(intent id, example utterances)`. Examples that normalise to
    /// nothing (only punctuation, say) are ignored; an intent without usable examples never matches.
    pub fn build(intents: &[(String, Vec<String>)]) -> Self {
        let mut sorted: Vec<&(String, Vec<String>)> = intents.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));

        // Terms borrow from their padded texts, so those are made first.
        let padded: Vec<(&str, Vec<Padded>)> = sorted
            .iter()
            .map(|(id, examples)| {
                let texts = examples
                    .iter()
                    .map(|example| normalize(example))
                    .filter(|text| !text.is_empty())
                    .map(|text| Padded::of(&text))
                    .collect();
                (id.as_str(), texts)
            })
            .collect();
        let tokenized: Vec<(&str, Vec<Terms<'_>>)> =
            padded.iter().map(|(id, texts)| (*id, texts.iter().map(Padded::terms).collect())).collect();

        let all_terms = || tokenized.iter().flat_map(|(_, examples)| examples.iter());
        let words = Vocabulary::build(all_terms().map(|t| &t.words));
        let trigrams = Vocabulary::build(all_terms().map(|t| &t.trigrams));
        let intents = tokenized
            .iter()
            .map(|(id, examples)| IndexedIntent {
                id: (*id).to_owned(),
                examples: examples
                    .iter()
                    .map(|terms| ExampleVectors {
                        words: words.vectorize(&terms.words),
                        trigrams: trigrams.vectorize(&terms.trigrams),
                    })
                    .collect(),
            })
            .collect();
        Self { intents, words, trigrams }
    }

    /// The best-scoring intent if it reaches `threshold`. A score of zero (nothing in common)
    /// is never a match, whatever the threshold.
    pub fn best_match(&self, message: &str, threshold: f64) -> Option<IntentMatch> {
        let text = normalize(message);
        if text.is_empty() {
            return None;
        }
        let padded = Padded::of(&text);
        let terms = padded.terms();
        let words = self.words.vectorize(&terms.words);
        let trigrams = self.trigrams.vectorize(&terms.trigrams);

        let mut best: Option<(&str, f64)> = None;
        for intent in &self.intents {
            let score = intent
                .examples
                .iter()
                .map(|example| {
                    WORD_WEIGHT * words.dot(&example.words)
                        + (1.0 - WORD_WEIGHT) * trigrams.dot(&example.trigrams)
                })
                .fold(0.0_f64, f64::max)
                .clamp(0.0, 1.0);
            // Intents are sorted by id, so a strict `>` keeps the smaller id on ties.
            if best.is_none_or(|(_, top)| score > top) {
                best = Some((&intent.id, score));
            }
        }
        best.filter(|(_, score)| *score > 0.0 && *score >= threshold)
            .map(|(intent, score)| IntentMatch { intent: intent.to_owned(), score })
    }
}

/// Canonical form of a message for matching: NFKC (full-width letters and ligatures become
/// plain ones), Unicode lower case, diacritics stripped from Latin, Greek and Cyrillic letters,
/// apostrophes dropped (`what's` → `whats`), every other non-letter/digit a space, whitespace
/// collapsed.
///
/// Diacritics are stripped because chat users often type without them ("cafe" for "café"); the
/// rare word pairs this merges matter less than the misses it avoids. Marks on other scripts
/// (Devanagari vowel signs, Thai, …) are kept: there they are letters, not decoration.
pub fn normalize(text: &str) -> String {
    if text.is_ascii() { normalize_ascii(text) } else { normalize_unicode(text) }
}

fn normalize_unicode(text: &str) -> String {
    let lowered: String = text.nfkc().collect::<String>().to_lowercase();
    let mut stripped = String::with_capacity(lowered.len());
    let mut base: Option<char> = None;
    for c in lowered.nfd() {
        if is_combining_mark(c) {
            if base.is_some_and(strips_marks) {
                continue;
            }
        } else {
            base = Some(c);
        }
        stripped.push(c);
    }

    let mut out = String::with_capacity(stripped.len());
    let mut pending_space = false;
    for c in stripped.nfc() {
        if matches!(c, '\'' | '\u{2019}' | '\u{02bc}') {
            continue;
        }
        if c.is_alphanumeric() || is_combining_mark(c) {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else {
            pending_space = true;
        }
    }
    out
}

/// [`normalize`] for ASCII text, which every normal form leaves as it is and which has no marks:
/// what most chat messages are, in one pass and one allocation.
fn normalize_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for byte in text.bytes() {
        if byte == b'\'' {
            continue;
        }
        if byte.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(char::from(byte.to_ascii_lowercase()));
        } else {
            pending_space = true;
        }
    }
    out
}

/// Latin, Greek and Cyrillic letters (their basic and extended blocks), whose accents are optional
/// in everyday typing.
fn strips_marks(base: char) -> bool {
    matches!(base, '\u{0000}'..='\u{052f}' | '\u{1e00}'..='\u{1fff}')
}

/// How much a function word counts next to a content word. Not zero: a message made only of
/// them ("how are you") must still match an example made of them.
const FUNCTION_WORD_WEIGHT: f64 = 0.2;

/// Frequent English function words. In a small index idf cannot learn that "what", "my" or "how
/// do i" say nothing about the intent, so without this "how do i reset my password" scores close
/// to "how do i get my money back". Other languages still match, on plain TF-IDF.
const FUNCTION_WORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can", "could",
    "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "his", "how", "i", "if", "im",
    "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "please", "she", "should", "so", "that",
    "the", "their", "them", "there", "they", "this", "to", "us", "was", "we", "were", "what", "whats",
    "when", "where", "wheres", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// A normalised text's words, each with a space before and after it (`" open  hours "`):
/// the text every term of [`Terms`] is a slice of, so no term is allocated on its own.
struct Padded {
    text: String,
    /// Each word's padded span in `text`.
    words: Vec<(usize, usize)>,
}

impl Padded {
    fn of(normalized: &str) -> Self {
        let mut text = String::with_capacity(normalized.len() * 2 + 2);
        let mut words = Vec::new();
        for word in normalized.split(' ') {
            let start = text.len();
            text.push(' ');
            text.push_str(word);
            text.push(' ');
            words.push((start, text.len()));
        }
        Self { text, words }
    }

    /// The text's weighted word and trigram counts (a function word's occurrence counts
    /// `FUNCTION_WORD_WEIGHT`, and so do its trigrams).
    fn terms(&self) -> Terms<'_> {
        let mut words = Vec::new();
        let mut trigrams = Vec::new();
        for &(start, end) in &self.words {
            // Padding makes word starts and ends n-grams of their own ("ope" vs " op").
            let padded = &self.text[start..end];
            let word = &padded[1..padded.len() - 1];
            let weight = if FUNCTION_WORDS.contains(&word) { FUNCTION_WORD_WEIGHT } else { 1.0 };
            if word.chars().any(is_unspaced_script) {
                // Chinese and Japanese run words together, and most of their words are one or
                // two characters: a run is a phrase, so its character bigrams stand in for words
                // and its single characters for trigrams.
                words.extend(grams(padded, 2).map(|gram| (gram, weight)));
                trigrams.extend(grams(word, 1).map(|gram| (gram, weight)));
            } else {
                words.push((word, weight));
                trigrams.extend(grams(padded, 3).map(|gram| (gram, weight)));
            }
        }
        Terms { words: counted(words), trigrams: counted(trigrams) }
    }
}

/// Every run of `n` characters of `text`, in order (none when it is shorter).
fn grams(text: &str, n: usize) -> impl Iterator<Item = &str> {
    let bounds = || text.char_indices().map(|(at, _)| at).chain(std::iter::once(text.len()));
    bounds().zip(bounds().skip(n)).map(move |(start, end)| &text[start..end])
}

/// Occurrences merged into one weight per term, sorted by term; each term's weights are added
/// in the order they occur, so every float sum runs in a fixed order.
fn counted(mut occurrences: Vec<(&str, f64)>) -> Vec<(&str, f64)> {
    occurrences.sort_by(|a, b| a.0.cmp(b.0));
    let mut merged: Vec<(&str, f64)> = Vec::with_capacity(occurrences.len());
    for (term, weight) in occurrences {
        match merged.last_mut() {
            Some((last, total)) if *last == term => *total += weight,
            _ => merged.push((term, weight)),
        }
    }
    merged
}

/// A normalised text's terms with their weighted counts, sorted by term.
struct Terms<'a> {
    words: Vec<(&'a str, f64)>,
    trigrams: Vec<(&'a str, f64)>,
}

/// Han ideographs and kana: scripts written without spaces between words.
fn is_unspaced_script(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30ff}'   // hiragana, katakana
        | '\u{3400}'..='\u{4dbf}' // CJK extension A
        | '\u{4e00}'..='\u{9fff}' // CJK unified ideographs
        | '\u{f900}'..='\u{faff}' // CJK compatibility ideographs
        | '\u{20000}'..='\u{2ffff}' // CJK extensions B and later
    )
}

/// Term ids and inverse document frequencies (documents = example utterances).
#[derive(Debug, Clone, Default)]
struct Vocabulary {
    ids: HashMap<String, u32>,
    idf: Vec<f64>,
    /// The idf of a term no example has: the highest, so unknown words dilute a match.
    unseen_idf: f64,
}

impl Vocabulary {
    /// Ids follow the terms' sorted order, so they (and every sum over them) do not depend on
    /// the order intents and examples were given in.
    fn build<'a>(documents: impl Iterator<Item = &'a Vec<(&'a str, f64)>>) -> Self {
        let mut df: BTreeMap<&str, u32> = BTreeMap::new();
        let mut count = 0u32;
        for doc in documents {
            count += 1;
            for (term, _) in doc {
                *df.entry(term).or_insert(0) += 1;
            }
        }
        // Smoothed idf (as scikit-learn's): never zero, so a word every example shares still counts.
        let idf_of = |df: u32| ((1.0 + f64::from(count)) / (1.0 + f64::from(df))).ln() + 1.0;
        let ids = df.keys().zip(0u32..).map(|(term, id)| ((*term).to_owned(), id)).collect();
        Self { ids, idf: df.values().map(|&d| idf_of(d)).collect(), unseen_idf: idf_of(0) }
    }

    /// Sublinear tf (`ln(1 + weighted count)`) × idf, L2-normalised; unknown terms count
    /// towards the norm only.
    fn vectorize(&self, terms: &[(&str, f64)]) -> SparseVector {
        let mut entries = Vec::with_capacity(terms.len());
        let mut norm = 0.0;
        for &(term, tf) in terms {
            let tf = tf.ln_1p();
            let id = self.ids.get(term).copied();
            let weight = tf * id.and_then(|i| self.idf.get(i as usize)).unwrap_or(&self.unseen_idf);
            norm += weight * weight;
            if let Some(id) = id {
                entries.push((id, weight));
            }
        }
        let norm = norm.sqrt();
        if norm > 0.0 {
            entries.iter_mut().for_each(|(_, w)| *w /= norm);
        }
        entries.sort_by_key(|&(id, _)| id);
        SparseVector { entries }
    }
}

/// Unit-length (or empty) vector as `(term id, weight)` sorted by id.
#[derive(Debug, Clone, Default)]
struct SparseVector {
    entries: Vec<(u32, f64)>,
}

impl SparseVector {
    fn dot(&self, other: &SparseVector) -> f64 {
        let (mut i, mut j, mut sum) = (0, 0, 0.0);
        while let (Some(&(a, wa)), Some(&(b, wb))) = (self.entries.get(i), other.entries.get(j)) {
            match a.cmp(&b) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += wa * wb;
                    i += 1;
                    j += 1;
                }
            }
        }
        sum
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn index(intents: &[(&str, &[&str])]) -> IntentIndex {
        let owned: Vec<(String, Vec<String>)> = intents
            .iter()
            .map(|(id, examples)| (id.to_string(), examples.iter().map(|e| e.to_string()).collect()))
            .collect();
        IntentIndex::build(&owned)
    }

    /// The threshold these tests were calibrated at, when this index was the matcher.
    const DEFAULT_THRESHOLD: f64 = 0.45;

    fn bot() -> IntentIndex {
        index(&[
            ("greeting", &["hello", "hi there", "good morning"]),
            ("opening_hours", &["what are your opening hours", "when are you open"]),
            ("order_status", &["where is my order", "track my package", "has my order shipped"]),
            ("refund", &["i want a refund", "how do i get my money back"]),
            ("thanks", &["thank you", "thanks a lot"]),
        ])
    }

    fn matched(index: &IntentIndex, message: &str) -> Option<(String, f64)> {
        index.best_match(message, DEFAULT_THRESHOLD).map(|m| (m.intent, m.score))
    }

    #[test]
    fn the_ascii_fast_path_normalises_as_the_unicode_path_does() {
        let every_printable: String = (0x20u8..0x7f).map(char::from).collect();
        for text in [
            every_printable.as_str(),
            "  What's   the WEATHER like?? ",
            "it's-a_test\tof\nlines\r\n'quoted'",
            "",
            "'''",
            "A1 b2-C3",
        ] {
            assert_eq!(normalize_ascii(text), normalize_unicode(text), "{text:?}");
        }
    }

    #[test]
    fn grams_are_the_character_windows() {
        for (text, n) in [(" hello ", 3), (" 你好吗 ", 2), ("你好", 1), (" a ", 3), ("ab", 3), (" héllo ", 3)]
        {
            let chars: Vec<char> = text.chars().collect();
            let windows: Vec<String> = chars.windows(n).map(|w| w.iter().collect()).collect();
            assert_eq!(grams(text, n).collect::<Vec<_>>(), windows, "{text:?} {n}");
        }
    }

    #[test]
    fn normalize_folds_case_width_accents_and_punctuation() {
        assert_eq!(normalize("  HÉLLO,   Wörld!! "), "hello world");
        assert_eq!(normalize("ｆｕｌｌ　ｗｉｄｔｈ！"), "full width");
        assert_eq!(normalize("What's up?"), "whats up");
        assert_eq!(normalize("ﬁle №5"), "file no5");
        assert_eq!(normalize("İstanbul ΆΘΗΝΑ"), "istanbul αθηνα");
        assert_eq!(normalize("👍 ok ✔ -- $100"), "ok 100");
        assert_eq!(normalize("tab\tand\nnewline"), "tab and newline");
        assert_eq!(normalize("?!… "), "");
        // Marks that are letters in their script survive.
        assert_eq!(normalize("नमस्ते!"), "नमस्ते");
    }

    #[test]
    fn an_exact_example_scores_one() {
        let bot = bot();
        for (message, intent) in
            [("where is my order", "order_status"), ("hello", "greeting"), ("i want a refund", "refund")]
        {
            let (got, score) = matched(&bot, message).unwrap();
            assert_eq!(got, intent);
            assert!((score - 1.0).abs() < 1e-9, "{message}: {score}");
        }
    }

    #[test]
    fn case_punctuation_whitespace_and_unicode_variants_match() {
        let bot = bot();
        for message in ["HELLO!!", "  hello ,", "Héllo?", "ｈｅｌｌｏ", "HeLLo\u{301}"] {
            let (intent, score) = matched(&bot, message).unwrap();
            assert_eq!(intent, "greeting", "{message}");
            assert!(score > 0.999, "{message}: {score}");
        }
        let accented = index(&[("cafe", &["le café est ouvert"]), ("other", &["autre chose"])]);
        assert_eq!(matched(&accented, "LE CAFE EST OUVERT").unwrap().0, "cafe");
    }

    #[test]
    fn paraphrases_match_the_right_intent_among_several() {
        let bot = bot();
        for (message, intent) in [
            ("what time do you open", "opening_hours"),
            ("are you open on sundays", "opening_hours"),
            ("where's my order?", "order_status"),
            ("has my package shipped yet", "order_status"),
            ("my order is wrong", "order_status"),
            ("can i get a refund please", "refund"),
            ("i would like my money back", "refund"),
            ("thx a lot", "thanks"),
            ("thank you for the refund", "thanks"),
        ] {
            let got = matched(&bot, message);
            assert_eq!(got.as_ref().map(|m| m.0.as_str()), Some(intent), "{message}: {got:?}");
        }
    }

    #[test]
    fn unrelated_sentences_match_nothing() {
        let bot = bot();
        for message in [
            "what is the weather like today",
            "tell me a joke",
            "what is your name",
            "how do i reset my password",
            "where is the nearest station",
            "do you sell shoes",
            "what are your prices",
            "i like trains",
        ] {
            let score = bot.best_match(message, 0.0).map_or(0.0, |m| m.score);
            assert!(score < 0.2, "{message}: {score}");
            assert_eq!(matched(&bot, message), None, "{message}");
        }
    }

    #[test]
    fn scripts_without_spaces_match_on_character_ngrams() {
        let idx = index(&[("hours", &["营业时间是什么时候"]), ("order", &["我的订单在哪里"])]);
        assert_eq!(matched(&idx, "订单在哪").unwrap().0, "order");
        assert_eq!(matched(&idx, "今天天气怎么样"), None);
    }

    #[test]
    fn empty_inputs_match_nothing() {
        let bot = bot();
        assert_eq!(bot.best_match("", 0.0), None);
        assert_eq!(bot.best_match("  ?!  ", 0.0), None);
        assert_eq!(IntentIndex::build(&[]).best_match("hello", 0.0), None);
        let hollow = index(&[("punctuation", &["!!!", ""]), ("none", &[])]);
        assert_eq!(hollow.best_match("hello", 0.0), None);
        assert_eq!(bot.best_match("zzz qqq", 0.0), None, "nothing in common is never a match");
    }

    #[test]
    fn the_threshold_is_respected() {
        let bot = bot();
        let score = bot.best_match("what time do you open", 0.0).unwrap().score;
        assert!(bot.best_match("what time do you open", score).is_some());
        assert!(bot.best_match("what time do you open", score + 1e-9).is_none());
    }

    #[test]
    fn ties_go_to_the_smaller_id_and_scores_do_not_depend_on_order() {
        let forwards = index(&[("b_intent", &["same words"]), ("a_intent", &["same words"])]);
        let backwards = index(&[("a_intent", &["same words"]), ("b_intent", &["same words"])]);
        assert_eq!(forwards.best_match("same words", 0.0).unwrap().intent, "a_intent");
        assert_eq!(backwards.best_match("same words", 0.0).unwrap().intent, "a_intent");

        let shuffled = index(&[
            ("thanks", &["thanks a lot", "thank you"]),
            ("refund", &["how do i get my money back", "i want a refund"]),
            ("greeting", &["good morning", "hello", "hi there"]),
        ]);
        let ordered = index(&[
            ("greeting", &["good morning", "hello", "hi there"]),
            ("refund", &["how do i get my money back", "i want a refund"]),
            ("thanks", &["thanks a lot", "thank you"]),
        ]);
        for message in ["thank you so much", "money back please", "good evening"] {
            let a = shuffled.best_match(message, 0.0).unwrap();
            let b = ordered.best_match(message, 0.0).unwrap();
            assert_eq!(a.intent, b.intent);
            assert_eq!(a.score.to_bits(), b.score.to_bits(), "{message}");
        }
    }
}
