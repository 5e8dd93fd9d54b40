//! What every handler shares: settings, the store, the operator's token hash, the pipeline, metrics.

use std::sync::Arc;

use crate::auth::AdminToken;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::store::SharedStore;

use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: SharedStore,
    /// What requests read of each project, from memory.
    pub catalog: Arc<Catalog>,
    pub admin: Arc<AdminToken>,
    pub pipeline: Arc<Pipeline>,
    pub metrics: Arc<Metrics>,
}
