//! Message → intent or fallback → replies. The product's main job, with no HTTP types: the API
//! calls it, and so could any other front end.

mod console;
mod execute;
mod host_log;
mod matching;
mod plugin_source;
mod respond;
mod stage;
mod trace;

use serde::Serialize;

use std::sync::Arc;

use crate::catalog::{Catalog, ProjectView, WebhookError};
use crate::classifier::Models;
use crate::config::Limits;
use crate::metrics::Metrics;
use crate::model::Reply;
use crate::outbound::OutboundClient;
use crate::plugin::{LoadedPlugin, PluginError, PluginRuntime};
use crate::quota::{KeyedSlots, RateLimiter, RetryAfter};
use crate::store::{Fallback, SharedStore, StoreError, Turn};
use crate::webhook::{FieldError, ValidationLimits, WebhookSpec};

pub use console::CONSOLE_ANSWER_BYTES;
use execute::Detail;
pub use host_log::GUEST_LOG;
pub use matching::{Decision, decide};
pub use respond::{Answer, Asked, PluginPart, ReadyPlugin, Responded, StageTimes, call_limits, respond};
pub use stage::Stage;
pub use trace::{Outcome, TraceError, WebhookTrace};

/// Said when a project has no fallback configured: the user still gets an answer.
pub const NO_FALLBACK_TEXT: &str = "Sorry, I didn't understand that.";

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored webhook {webhook} is unreadable")]
    CorruptWebhook {
        webhook: String,
        #[source]
        cause: serde_json::Error,
    },
    /// A stored webhook that no longer passes validation, e.g. after the operator lowered a limit.
    #[error("stored webhook {webhook} is no longer valid: {}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidWebhook { webhook: String, errors: Vec<FieldError> },
    #[error("stored plugin of webhook {webhook} failed to load")]
    PluginLoad {
        webhook: String,
        #[source]
        cause: PluginError,
    },
    #[error("background task failed")]
    Task(#[from] tokio::task::JoinError),
    /// The project is over its request rate: nothing was done.
    #[error("too many requests for this project: retry in {} s", retry_after.seconds())]
    RateLimited { retry_after: RetryAfter },
}

/// The answer to one chat message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChatAnswer {
    pub send_id: String,
    pub replies: Vec<Reply>,
    pub intent: Option<String>,
    /// The best intent's confidence, a probability in [0, 1]: the intent answered if it reached
    /// the project's `match_threshold`, the fallback otherwise. Absent when the project has no
    /// intents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    pub fallback: bool,
    pub outcome: Outcome,
}

pub struct Pipeline {
    store: SharedStore,
    runtime: PluginRuntime,
    outbound: OutboundClient,
    limits: Limits,
    metrics: Arc<Metrics>,
    catalog: Arc<Catalog>,
    models: Arc<Models>,
    /// Webhook executions in flight, per project and in all.
    in_flight: KeyedSlots,
    /// Chat and test-console requests per project.
    rate: RateLimiter,
}

impl Pipeline {
    pub fn new(
        store: SharedStore,
        catalog: Arc<Catalog>,
        models: Arc<Models>,
        runtime: PluginRuntime,
        outbound: OutboundClient,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        let in_flight =
            KeyedSlots::new(limits.webhook_max_in_flight_per_project, limits.webhook_max_in_flight);
        let rate = RateLimiter::new(limits.chat_rate_per_second, limits.chat_rate_burst);
        Self { store, catalog, models, runtime, outbound, limits, metrics, in_flight, rate }
    }

    /// Answers one user message and records the turn in the conversation.
    pub async fn chat(
        &self,
        project: &str,
        send_id: &str,
        message: &str,
    ) -> Result<ChatAnswer, PipelineError> {
        self.admit(project)?;
        let view = self.view(project).await?;
        let decision = decide(&self.models, &view, message).await;
        let answer = match decision.intent {
            Some(intent) => {
                let reply = view.intents.response(&intent).unwrap_or_else(|| NO_FALLBACK_TEXT.to_string());
                ChatAnswer {
                    send_id: send_id.to_string(),
                    replies: vec![Reply::text(reply)],
                    intent: Some(intent),
                    confidence: decision.confidence,
                    fallback: false,
                    outcome: Outcome::Matched,
                }
            }
            None => ChatAnswer {
                confidence: decision.confidence,
                ..self.fallback(&view, send_id, message).await?
            },
        };
        let turn = Turn {
            at: now_rfc3339(),
            message: message.to_string(),
            replies: serde_json::to_value(&answer.replies).unwrap_or_default(),
            intent: answer.intent.clone(),
            fallback: answer.fallback,
            outcome: answer.outcome.as_str().to_string(),
        };
        self.store.append_turn(project, send_id, turn, self.limits.conversation_max_turns).await?;
        Ok(answer)
    }

    async fn fallback(
        &self,
        view: &ProjectView,
        send_id: &str,
        message: &str,
    ) -> Result<ChatAnswer, PipelineError> {
        let (replies, outcome) = match &view.fallback {
            Some(Fallback::Text(text)) => (vec![Reply::text(text.clone())], Outcome::Success),
            Some(Fallback::Webhook(webhook)) => {
                let started = std::time::Instant::now();
                let mut trace = self.execute(view, webhook, message, send_id, Detail::Replies).await?;
                let failure = trace.error.as_ref().map(|error| (error.stage.as_str(), error.code.as_str()));
                self.metrics.record_webhook(started.elapsed(), failure);
                // The end user sees (and the conversation keeps) no more than the console does:
                // an upstream or a plugin that echoes a secret shows its placeholder instead.
                // Only the replies leave this function, so only they are scrubbed.
                trace::scrub_replies(&trace::Scrubber::new(&view.secrets), &mut trace.replies);
                (trace.replies, trace.outcome)
            }
            None => (vec![Reply::text(NO_FALLBACK_TEXT)], Outcome::Failure),
        };
        Ok(ChatAnswer {
            send_id: send_id.to_string(),
            replies,
            intent: None,
            confidence: None,
            fallback: true,
            outcome,
        })
    }

    /// The test console: runs the webhook as a fallback would, records nothing, and answers
    /// the whole trace with secrets scrubbed, each part cut to fit `CONSOLE_ANSWER_BYTES`.
    pub async fn test_webhook(
        &self,
        project: &str,
        webhook: &str,
        latest_message: &str,
        send_id: &str,
    ) -> Result<WebhookTrace, PipelineError> {
        self.admit(project)?;
        let view = self.view(project).await?;
        let mut trace = self.execute(&view, webhook, latest_message, send_id, Detail::Trace).await?;
        trace.scrub(&view.secrets);
        trace.fit_for_console();
        Ok(trace)
    }

    /// The project's trained models, for the API's model status.
    pub fn models(&self) -> &Arc<Models> {
        &self.models
    }

    /// The project's view, with a training of its model started if its intents changed: called
    /// after every write to the intents, so the model is being made before the next chat asks.
    pub async fn refresh_model(&self, project: &str) -> Result<Arc<ProjectView>, PipelineError> {
        let view = self.view(project).await?;
        self.models.ensure(project, &view.intents.training, view.intents.digest);
        Ok(view)
    }

    /// The project as requests read it, or `NotFound`.
    pub async fn view(&self, project: &str) -> Result<Arc<ProjectView>, PipelineError> {
        self.catalog
            .project(project)
            .await?
            .ok_or_else(|| PipelineError::NotFound(format!("project {project}")))
    }

    /// The project's request rate, checked before any work: past it the caller is told when
    /// to come back.
    fn admit(&self, project: &str) -> Result<(), PipelineError> {
        self.rate.check(project).map_err(|retry_after| {
            self.metrics.record_rate_limited();
            PipelineError::RateLimited { retry_after }
        })
    }

    /// Checks a webhook definition against the operator's limits before it is saved.
    pub fn validate_webhook(&self, spec: &WebhookSpec) -> Result<(), Vec<FieldError>> {
        crate::webhook::validate(spec, &ValidationLimits::from(&self.limits))
    }

    /// Validates and compiles an upload under the runtime's compile bounds (warming its
    /// cache). The loaded plugin carries the digest the store keys the upload by.
    pub async fn validate_plugin(&self, wasm: bytes::Bytes) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.runtime.load_upload(wasm).await
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl From<WebhookError> for PipelineError {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::NotFound(webhook) => PipelineError::NotFound(format!("webhook {webhook}")),
            WebhookError::Store(error) => PipelineError::Store(error),
            WebhookError::Corrupt { webhook, cause } => PipelineError::CorruptWebhook { webhook, cause },
            WebhookError::Invalid { webhook, errors } => PipelineError::InvalidWebhook { webhook, errors },
        }
    }
}
