//! `fallback-host intents eval FILE.json`: how well the intent matcher decides when the fallback
//! fires, measured on a benchmark file through the code path a chat takes (store, catalog,
//! background training, the chat's decision), in a throwaway project.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::catalog::Catalog;
use crate::classifier::eval::{
    Dataset, Scored, best_threshold, calibration_error, in_scope_accuracy, out_of_scope_recall,
    threshold_within,
};
use crate::classifier::{DEFAULT_THRESHOLD, ModelState, Models};
use crate::config::Limits;
use crate::pipeline::decide;
use crate::store::{NewIntent, NewProject, SharedStore, SqliteStore};
use crate::webhook::ValidationLimits;

#[derive(Debug, Subcommand)]
pub enum IntentsCommand {
    /// Train on a benchmark file's `train` split in a throwaway project and print in-scope
    /// accuracy and out-of-scope recall on `test` and `oos_test`, at the default threshold and
    /// at the threshold best on `val` and `oos_val`, with training and matching times.
    ///
    /// The file: {"train": [[text, intent], …], "val": …, "test": …, "oos_val": …, "oos_test": …}
    /// (datasets/banking77-oos.json is one).
    Eval {
        /// The benchmark file.
        file: PathBuf,
        /// Also train on only the first N examples of each intent, as bot builders often have;
        /// 0 skips it.
        #[arg(long, default_value_t = 10)]
        few: usize,
        /// Skip the run on all examples.
        #[arg(long)]
        few_only: bool,
        /// Also print both figures on val and test for every threshold from 0.05 to 0.95.
        #[arg(long)]
        curve: bool,
    },
}

pub async fn execute(command: IntentsCommand) -> anyhow::Result<()> {
    match command {
        IntentsCommand::Eval { file, few, few_only, curve } => eval(&file, few, few_only, curve).await,
    }
}

async fn eval(file: &Path, few: usize, few_only: bool, curve: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let data: Dataset =
        serde_json::from_str(&text).with_context(|| format!("{} is not a benchmark file", file.display()))?;
    if few_only && few == 0 {
        bail!("--few-only needs --few N with N > 0");
    }
    if data.train.is_empty() || data.test.is_empty() || data.oos_test.is_empty() {
        bail!("{}: train, test and oos_test must not be empty", file.display());
    }
    println!(
        "{}: {} intents; test: {} in scope, {} out of scope",
        file.display(),
        data.intents(None).len(),
        data.test.len(),
        data.oos_test.len()
    );
    let mut runs = if few_only { Vec::new() } else { vec![None] };
    if few > 0 {
        runs.push(Some(few));
    }
    for per_intent in runs {
        let run = Run::train(&data, per_intent).await?;
        let scores = run.score_all(&data).await;
        let balanced = best_threshold(&scores.val, &scores.oos_val);
        let careful = threshold_within(&scores.val, 0.04);
        println!();
        println!(
            "lexical, {}: {} examples, trained in {:.2} s; {:.0} µs per message; model {:.1} MB",
            match per_intent {
                Some(n) => format!("first {n} examples per intent"),
                None => "all examples".to_string(),
            },
            run.examples,
            run.training.as_secs_f64(),
            scores.per_message.as_secs_f64() * 1e6,
            run.model_bytes as f64 / 1e6,
        );
        let mean_confidence =
            scores.test.iter().map(|scored| scored.confidence).sum::<f64>() / scores.test.len().max(1) as f64;
        println!(
            "  best intent right on test (in scope, any confidence): {:.1}%, mean confidence {:.2}; calibration error {:.3}",
            100.0 * in_scope_accuracy(&scores.test, 0.0),
            mean_confidence,
            calibration_error(&scores.test)
        );
        let choices = [
            ("default", DEFAULT_THRESHOLD),
            ("val: in-scope within 4 points of its best", careful),
            ("val: best harmonic mean", balanced),
        ];
        for (label, threshold) in choices {
            println!(
                "  threshold {threshold:.2} ({label}): in-scope accuracy {:.1}%, out-of-scope recall {:.1}%",
                100.0 * in_scope_accuracy(&scores.test, threshold),
                100.0 * out_of_scope_recall(&scores.oos_test, threshold),
            );
        }
        if curve {
            println!("  threshold: val in-scope / oos recall; test in-scope / oos recall");
            for step in (5..=95).step_by(5) {
                let threshold = f64::from(step) / 100.0;
                println!(
                    "  {threshold:.2}: {:.1}% / {:.1}%; {:.1}% / {:.1}%",
                    100.0 * in_scope_accuracy(&scores.val, threshold),
                    100.0 * out_of_scope_recall(&scores.oos_val, threshold),
                    100.0 * in_scope_accuracy(&scores.test, threshold),
                    100.0 * out_of_scope_recall(&scores.oos_test, threshold),
                );
            }
        }
    }
    Ok(())
}

/// A throwaway project holding the benchmark's intents, its model trained.
struct Run {
    _dir: tempfile::TempDir,
    models: Arc<Models>,
    view: Arc<crate::catalog::ProjectView>,
    examples: usize,
    training: Duration,
    model_bytes: usize,
}

struct Scores {
    val: Vec<Scored>,
    oos_val: Vec<Scored>,
    test: Vec<Scored>,
    oos_test: Vec<Scored>,
    per_message: Duration,
}

const PROJECT: &str = "eval";

impl Run {
    async fn train(data: &Dataset, per_intent: Option<usize>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let store: SharedStore = Arc::new(SqliteStore::open(dir.path())?);
        let catalog = Catalog::new(store.clone(), ValidationLimits::from(&Limits::default()), u64::MAX / 4);
        let models = Models::new(Some(dir.path().join("intent-models")), u64::MAX / 4, Arc::default());
        // The smallest threshold there is: every message gets its best intent, and the
        // thresholds are applied here, to the confidences.
        let project = NewProject {
            id: PROJECT.into(),
            name: PROJECT.into(),
            key_hash: String::new(),
            match_threshold: f64::MIN_POSITIVE,
        };
        store.create_project(project).await?;
        let intents: BTreeMap<String, Vec<String>> = data.intents(per_intent);
        let examples = intents.values().map(Vec::len).sum();
        for (id, examples) in intents {
            store.put_intent(PROJECT, NewIntent { id, examples, responses: vec!["-".into()] }).await?;
        }
        let view = catalog.project(PROJECT).await?.context("the throwaway project is gone")?;
        let started = Instant::now();
        if let Some(mut done) = models.ensure(PROJECT, &view.intents.training, view.intents.digest) {
            done.wait_for(|done| *done).await?;
        }
        let training = started.elapsed();
        if models.state(PROJECT, &view.intents.training, &view.intents.digest) != ModelState::Trained {
            bail!(
                "the model was not trained (over {} examples?)",
                crate::classifier::models::MAX_TRAINING_EXAMPLES
            );
        }
        let model_bytes = models.current(PROJECT).map(|trained| trained.model.approx_bytes()).unwrap_or(0);
        Ok(Self { _dir: dir, models, view, examples, training, model_bytes })
    }

    async fn score(&self, split: &[(String, String)], in_scope: bool) -> Vec<Scored> {
        let mut scored = Vec::with_capacity(split.len());
        for (text, intent) in split {
            let decision = decide(&self.models, &self.view, text).await;
            scored.push(Scored {
                expected: in_scope.then(|| intent.clone()),
                best: decision.intent,
                confidence: decision.confidence.unwrap_or(0.0),
            });
        }
        scored
    }

    async fn score_all(&self, data: &Dataset) -> Scores {
        let started = Instant::now();
        let test = self.score(&data.test, true).await;
        let per_message = started.elapsed() / u32::try_from(data.test.len().max(1)).unwrap_or(u32::MAX);
        Scores {
            val: self.score(&data.val, true).await,
            oos_val: self.score(&data.oos_val, false).await,
            test,
            oos_test: self.score(&data.oos_test, false).await,
            per_message,
        }
    }
}
