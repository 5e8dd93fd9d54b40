//! The lexical matcher: TF-IDF features of a project's examples and a logistic regression over
//! its intents plus the "none" class, pruned to the features that carry weight.

use std::collections::HashSet;

use super::background;
use super::features::Vocabulary;
use super::train::{Model, TrainOptions, train};
use super::training_set::TrainingSet;
use crate::intent::normalize;

/// Features whose largest weight is under this are dropped after training: they cannot move a
/// probability by more than a fraction of a percent, and most of a vocabulary is such
/// character n-grams.
const PRUNE_BELOW: f32 = 0.02;

/// The best intent for a message and its probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Guess<'a> {
    pub intent: &'a str,
    pub confidence: f64,
}

/// A trained model: intents in class order (the "none" class is the last class).
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalModel {
    intents: Vec<String>,
    vocabulary: Vocabulary,
    model: Model,
}

impl LexicalModel {
    /// Trains on `set`; `None` if `keep_going` said stop (a newer set is waiting).
    pub fn train(set: &TrainingSet, keep_going: impl FnMut() -> bool) -> Option<Self> {
        let intents: Vec<String> = set.intents().iter().map(|(id, _)| id.clone()).collect();
        let own: HashSet<String> =
            set.intents().iter().flat_map(|(_, examples)| examples.iter().map(|e| normalize(e))).collect();
        let background: Vec<&str> = background::SENTENCES
            .iter()
            .copied()
            .filter(|sentence| !own.contains(&normalize(sentence)))
            .collect();
        let texts = set
            .intents()
            .iter()
            .flat_map(|(_, examples)| examples.iter().map(String::as_str))
            .chain(background.iter().copied());
        let vocabulary = Vocabulary::learn(texts);
        let none = intents.len();
        let mut examples: Vec<_> = set
            .intents()
            .iter()
            .enumerate()
            .flat_map(|(class, (_, examples))| examples.iter().map(move |example| (example, class)))
            .map(|(example, class)| (vocabulary.vectorize(example), class))
            .collect();
        examples.extend(background.iter().map(|sentence| (vocabulary.vectorize(sentence), none)));
        examples.push((Vec::new(), none));
        let model = train(&examples, none + 1, vocabulary.len(), TrainOptions::default(), keep_going)?;
        let keep: Vec<bool> =
            model.feature_strengths().iter().map(|strength| *strength >= PRUNE_BELOW).collect();
        Some(Self {
            intents,
            vocabulary: vocabulary.select_features(&keep),
            model: model.select_features(&keep),
        })
    }

    pub fn from_parts(intents: Vec<String>, vocabulary: Vocabulary, model: Model) -> Option<Self> {
        let (classes, features, _, _) = model.parts();
        (classes == intents.len() + 1 && features == vocabulary.len()).then_some(Self {
            intents,
            vocabulary,
            model,
        })
    }

    pub fn intents(&self) -> &[String] {
        &self.intents
    }

    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The most probable intent and its probability; `None` for a model without intents. The
    /// "none" class is never the answer, but the mass it takes lowers every intent's confidence.
    pub fn classify(&self, message: &str) -> Option<Guess<'_>> {
        let probabilities = self.model.probabilities(&self.vocabulary.vectorize(message));
        let (index, confidence) = probabilities[..self.intents.len().min(probabilities.len())]
            .iter()
            .enumerate()
            // A strict `>` keeps the smaller id (intents are sorted) on ties.
            .fold(None, |best: Option<(usize, f32)>, (index, &p)| match best {
                Some((_, top)) if p <= top => best,
                _ => Some((index, p)),
            })?;
        Some(Guess { intent: &self.intents[index], confidence: f64::from(confidence) })
    }

    /// Bytes the model holds in memory, roughly.
    pub fn approx_bytes(&self) -> usize {
        let (_, _, weights, bias) = self.model.parts();
        self.vocabulary.approx_bytes()
            + (weights.len() + bias.len()) * 4
            + self.intents.iter().map(|intent| intent.len() + 24).sum::<usize>()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn bot() -> TrainingSet {
        let intent =
            |id: &str, examples: &[&str]| (id.to_owned(), examples.iter().map(|e| (*e).to_owned()).collect());
        TrainingSet::new(vec![
            intent("hours", &["what are your opening hours", "when do you open", "are you open on sunday"]),
            intent("greet", &["hello", "hi there", "good morning"]),
            intent("name", &["what is your name", "who are you"]),
            intent("card_lost", &["i lost my card", "my card was stolen", "block my card please"]),
        ])
    }

    #[test]
    fn paraphrases_match_and_near_misses_score_low() {
        let model = LexicalModel::train(&bot(), || true).unwrap();
        let guess = model.classify("When do you open on Sundays?").unwrap();
        assert_eq!(guess.intent, "hours");
        assert!(guess.confidence > 0.5, "{guess:?}");
        let guess = model.classify("somebody stole my card").unwrap();
        assert_eq!(guess.intent, "card_lost");
        assert!(guess.confidence > 0.5, "{guess:?}");
        for off_topic in ["do you sell shoes", "what is the weather in paris", "zzzz"] {
            let guess = model.classify(off_topic).unwrap();
            assert!(guess.confidence < 0.3, "{off_topic}: {guess:?}");
        }
    }

    #[test]
    fn a_single_intent_does_not_take_every_message() {
        let set = TrainingSet::new(vec![("hours".into(), vec!["when do you open".into()])]);
        let model = LexicalModel::train(&set, || true).unwrap();
        assert!(model.classify("when do you open").unwrap().confidence > 0.5);
        assert!(model.classify("tell me about your shoes").unwrap().confidence < 0.3);
    }

    #[test]
    fn pruning_keeps_the_answers() {
        let model = LexicalModel::train(&bot(), || true).unwrap();
        assert_eq!(model.vocabulary().len(), model.model().parts().1);
        assert!(model.vocabulary().len() > 10);
        assert_eq!(model.classify("hello").unwrap().intent, "greet");
    }
}
