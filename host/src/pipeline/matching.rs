//! Which intent a chat message means: the project's trained model, or, until its first model is
//! ready, the similarity index.

use std::sync::Arc;
use std::time::Duration;

use crate::catalog::ProjectView;
use crate::classifier::Models;

/// How long a chat of a project that has no model at all waits for its first one (a small
/// project trains in milliseconds) before the similarity index answers instead.
const FIRST_MODEL_WAIT: Duration = Duration::from_secs(1);

/// The best intent and its confidence; `intent` is set only when the confidence reaches the
/// project's threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub intent: Option<String>,
    /// The best intent's probability (or, from the stand-in, its similarity); `None` when the
    /// project has no intents.
    pub confidence: Option<f64>,
}

pub async fn decide(models: &Arc<Models>, view: &ProjectView, message: &str) -> Decision {
    let project = view.project.id.as_str();
    let intents = &view.intents;
    let threshold = view.project.match_threshold;
    let trained = match models.current(project) {
        Some(trained) => {
            if trained.digest != intents.digest {
                models.ensure(project, &intents.training, intents.digest);
            }
            Some(trained)
        }
        None => match models.ensure(project, &intents.training, intents.digest) {
            Some(mut done) => {
                let _ = tokio::time::timeout(FIRST_MODEL_WAIT, done.wait_for(|done| *done)).await;
                models.current(project)
            }
            None => None,
        },
    };
    if let Some(trained) = trained {
        let Some(guess) = trained.model.classify(message) else {
            return Decision { intent: None, confidence: None };
        };
        let matched = guess.confidence >= threshold && intents.has(guess.intent);
        return Decision {
            intent: matched.then(|| guess.intent.to_owned()),
            confidence: Some(guess.confidence),
        };
    }
    match intents.similar(message, 0.0) {
        Some(found) => Decision {
            confidence: Some(found.score),
            intent: (found.score >= threshold).then_some(found.intent),
        },
        None => Decision { intent: None, confidence: (!intents.training.is_empty()).then_some(0.0) },
    }
}
