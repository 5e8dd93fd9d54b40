//! The opt-in per-project chat series (`metrics_project_labels`): a project label on chat counts
//! and latencies for an operator who asks, bounded to the first N projects seen since start.
//!
//! A project id is tenant-chosen and unbounded in number, so labelling by it without a bound would
//! let tenants grow `/metrics` (and the scraper's memory) without end. Past N, chats count under
//! `project="_other"`; a deleted project keeps its slot until restart.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{Buckets, buckets};
use crate::pipeline::Outcome;

/// The label of every project past the first N: not a valid project id, so never a real one.
pub const OTHER: &str = "_other";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectLabels {
    project: String,
    outcome: &'static str,
}

pub(super) struct ProjectSeries {
    limit: usize,
    /// The projects that have their own label.
    labelled: Mutex<HashSet<String>>,
    chats: Family<ProjectLabels, Counter>,
    seconds: Family<ProjectLabels, Histogram, Buckets>,
}

impl ProjectSeries {
    /// Registers the two families; `limit` projects at most get a label of their own.
    pub(super) fn register(registry: &mut Registry, limit: usize) -> Self {
        let chats = Family::<ProjectLabels, Counter>::default();
        registry.register(
            "fallback_project_chats",
            "Chat messages by project and outcome (opt-in: metrics_project_labels)",
            chats.clone(),
        );
        let seconds = Family::new_with_constructor(Buckets(buckets::CHAT));
        registry.register(
            "fallback_project_chat_seconds",
            "Time to answer a chat message, by project and outcome (opt-in: metrics_project_labels)",
            seconds.clone(),
        );
        Self { limit, labelled: Mutex::new(HashSet::new()), chats, seconds }
    }

    pub(super) fn record(&self, project: &str, outcome: Outcome, elapsed: Duration) {
        let labels = ProjectLabels { project: self.label(project), outcome: outcome.as_str() };
        self.chats.get_or_create(&labels).inc();
        self.seconds.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// The project's own label while there is room for it, else `OTHER`. The lock is held for
    /// one set lookup (never across an await).
    fn label(&self, project: &str) -> String {
        let Ok(mut labelled) = self.labelled.lock() else { return OTHER.to_string() };
        if labelled.contains(project) {
            return project.to_string();
        }
        if labelled.len() < self.limit {
            labelled.insert(project.to_string());
            return project.to_string();
        }
        OTHER.to_string()
    }
}
