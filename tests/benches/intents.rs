//! What the intent classifier costs: matching one message against 50 and 150 intents (criterion),
//! and training time for 10 intents × 10 examples, BANKING77-OOS's 50 × ~118, and 150 × 100
//! (printed once, each with the same-run cost of normalising the training texts as a baseline).
//!
//! The 150-intent set is made from the repository's BANKING77-OOS texts (every split), dealt out
//! round-robin to 150 synthetic intents: real sentences, a realistic vocabulary, and as many
//! classes as a large bot has.
//!
//! `cargo bench -p fallback-tests --bench intents -- --warm-up-time 1 --measurement-time 3`

use std::collections::BTreeMap;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use fallback_host::classifier::eval::Dataset;
use fallback_host::classifier::{LexicalModel, TrainingSet};

fn dataset() -> Dataset {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/banking77-oos.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("datasets/banking77-oos.json")).expect("json")
}

/// `intents` synthetic intents of `per_intent` examples, dealt from every text of the dataset.
fn synthetic(data: &Dataset, intents: usize, per_intent: usize) -> TrainingSet {
    let texts: Vec<&String> = [&data.train, &data.val, &data.test, &data.oos_val, &data.oos_test]
        .into_iter()
        .flatten()
        .map(|(text, _)| text)
        .collect();
    let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (at, text) in texts.iter().cycle().take(intents * per_intent).enumerate() {
        sets.entry(format!("intent_{:03}", at % intents)).or_default().push((*text).clone());
    }
    TrainingSet::new(sets.into_iter().collect())
}

fn time_training(name: &str, set: &TrainingSet) -> LexicalModel {
    let started = Instant::now();
    for (_, examples) in set.intents() {
        for example in examples {
            std::hint::black_box(fallback_host::intent::normalize(example));
        }
    }
    let baseline = started.elapsed();
    let started = Instant::now();
    let model = LexicalModel::train(set, || true).expect("trained");
    let took = started.elapsed();
    println!(
        "training {name}: {} examples in {:.3} s ({:.0}× normalising them once, {:.1} ms); model {:.1} MB",
        set.examples(),
        took.as_secs_f64(),
        took.as_secs_f64() / baseline.as_secs_f64().max(1e-9),
        baseline.as_secs_f64() * 1e3,
        model.approx_bytes() as f64 / 1e6,
    );
    model
}

fn intents(c: &mut Criterion) {
    let data = dataset();
    time_training("10 × 10", &synthetic(&data, 10, 10));
    let banking = TrainingSet::new(data.intents(None).into_iter().collect());
    let banking_model = time_training("BANKING77-OOS 50 intents", &banking);
    let large_model = time_training("150 × 100", &synthetic(&data, 150, 100));

    let messages: Vec<&str> = data.test.iter().take(200).map(|(text, _)| text.as_str()).collect();
    let mut group = c.benchmark_group("classify");
    group.bench_function("normalise only (baseline)", |b| {
        let mut at = 0;
        b.iter(|| {
            at = (at + 1) % messages.len();
            fallback_host::intent::normalize(messages[at])
        })
    });
    for (name, model) in [("50 intents", &banking_model), ("150 intents", &large_model)] {
        group.bench_function(name, |b| {
            let mut at = 0;
            b.iter(|| {
                at = (at + 1) % messages.len();
                model.classify(messages[at]).map(|guess| guess.confidence)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, intents);
criterion_main!(benches);
