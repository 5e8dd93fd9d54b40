//! Tuning aid, not a test of behaviour: with `FALLBACK_EVAL_FILE` pointing at a BANKING77-OOS
//! style file, trains on `train` and prints in-scope accuracy and out-of-scope recall on `test`
//! and `oos_test` over a range of thresholds. Skipped without the variable.

use std::collections::BTreeMap;

use super::features::Vocabulary;
use super::train::{TrainOptions, train};

#[test]
fn evaluate_on_a_file() {
    let Ok(path) = std::env::var("FALLBACK_EVAL_FILE") else {
        eprintln!("skipped: set FALLBACK_EVAL_FILE to a BANKING77-OOS style JSON file");
        return;
    };
    let data: BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let per_intent: usize =
        std::env::var("FALLBACK_EVAL_PER_INTENT").ok().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let train_set: Vec<&(String, String)> = data["train"]
        .iter()
        .filter(|(_, intent)| {
            let n = seen.entry(intent.as_str()).or_default();
            *n += 1;
            *n <= per_intent
        })
        .collect();
    let intents: Vec<&str> = seen.keys().copied().collect();
    let started = std::time::Instant::now();
    let vocabulary = Vocabulary::learn(train_set.iter().map(|(text, _)| text.as_str()));
    let examples: Vec<_> = train_set
        .iter()
        .map(|(text, intent)| (vocabulary.vectorize(text), intents.binary_search(&intent.as_str()).unwrap()))
        .collect();
    let l2: f32 = std::env::var("FALLBACK_EVAL_L2").ok().and_then(|v| v.parse().ok()).unwrap_or(1e-5);
    let epochs: usize = std::env::var("FALLBACK_EVAL_EPOCHS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let options = TrainOptions { l2, epochs, ..TrainOptions::default() };
    let model = train(&examples, intents.len(), vocabulary.len(), options, || true).unwrap();
    eprintln!(
        "trained on {} examples, {} intents, {} features in {:?}",
        examples.len(),
        intents.len(),
        vocabulary.len(),
        started.elapsed()
    );
    let score = |split: &str| -> Vec<(Option<usize>, usize, f32)> {
        data[split]
            .iter()
            .map(|(text, intent)| {
                let p = model.probabilities(&vocabulary.vectorize(text));
                let (best, confidence) = p
                    .iter()
                    .enumerate()
                    .fold((0, 0.0f32), |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc });
                (intents.binary_search(&intent.as_str()).ok(), best, confidence)
            })
            .collect()
    };
    for (inscope, oos) in [("val", "oos_val"), ("test", "oos_test")] {
        let (a, b) = (score(inscope), score(oos));
        for threshold in [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5] {
            let right = a.iter().filter(|(label, best, c)| *label == Some(*best) && *c >= threshold).count();
            let fired = b.iter().filter(|(_, _, c)| *c < threshold).count();
            eprintln!(
                "{inscope:5} threshold {threshold:.2}: in-scope {:.1}%, out-of-scope recall {:.1}%",
                100.0 * right as f64 / a.len() as f64,
                100.0 * fired as f64 / b.len() as f64
            );
        }
    }
}
