//! The server's lifecycle: open the store, build the services, serve until shutdown, drain.
//!
//! `run(listener, config, shutdown)` takes a bound listener so tests bind `127.0.0.1:0` and
//! the command line binds the configured address.

mod connections;
pub mod sweeper;
mod watchdog;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::TrustAnchor;
use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::auth::{AuthError, load_or_create_admin_token};
use crate::catalog::Catalog;
use crate::classifier::Models;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::outbound::{
    CaFileError, ClientOptions, NetworkPolicy, OutboundClient, OutboundError, PolicyError, load_ca_file,
    tls_client_config,
};
use crate::pipeline::Pipeline;
use crate::plugin::{CallLimits, CompileBounds, PluginError, PluginRuntime, RuntimeOptions, StructureLimits};
use crate::secret_key::{KeySource, SecretKeyError, load_or_create_secret_key};
use crate::store::{DatabaseUrl, PgStore, SealError, SharedStore, SqliteStore, StoreError};
use crate::webhook::ValidationLimits;

/// Why the host could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open the store")]
    Store(#[from] StoreError),
    #[error("cannot open the database {url}")]
    Database {
        url: DatabaseUrl,
        #[source]
        cause: StoreError,
    },
    /// Nodes sharing a database must agree on these; one generated on a node's disk would not
    /// be shared.
    #[error(
        "with FALLBACK_DATABASE_URL set, every node needs the same {0}: set it in the environment or the config file"
    )]
    SharedSetting(&'static str),
    #[error("cannot set up the admin token")]
    Auth(#[from] AuthError),
    #[error("cannot start the plugin runtime")]
    Plugin(#[from] PluginError),
    #[error("invalid FALLBACK_ALLOW_NETWORKS")]
    Policy(#[from] PolicyError),
    #[error("cannot load the extra CA file {} (extra_ca_file)", .path.display())]
    ExtraCaFile {
        path: PathBuf,
        #[source]
        cause: CaFileError,
    },
    #[error("cannot build the outbound HTTP client")]
    Outbound(#[from] OutboundError),
    #[error("server I/O failed")]
    Io(#[from] std::io::Error),
    #[error("cannot set up the secret key")]
    SecretKey(#[from] SecretKeyError),
    /// The key in force does not open the stored secrets: starting anyway would send webhooks
    /// without their secrets.
    #[error(
        "the secret key from {from} does not decrypt the stored secrets: set FALLBACK_SECRET_KEY \
         (or restore the key file) to the key they were sealed with; to change keys, give the old one \
         as FALLBACK_SECRET_KEY_PREVIOUS"
    )]
    WrongSecretKey {
        from: KeySource,
        #[source]
        cause: SealError,
    },
    /// No key was configured and the data dir had no key file, but sealed secrets exist.
    #[error(
        "the store holds sealed secrets but no secret key was given: set FALLBACK_SECRET_KEY, or \
         restore the key file {}", .path.display()
    )]
    MissingSecretKey {
        path: PathBuf,
        #[source]
        cause: SealError,
    },
}

/// A host ready to serve, and the admin token if one was just generated (to show once).
pub struct Host {
    pub state: AppState,
    pub generated_admin_token: Option<String>,
}

impl Host {
    pub async fn build(config: Config) -> Result<Self, ServerError> {
        // First, so a bad file stops the start before anything is written to the data dir.
        let extra_roots = match &config.extra_ca_file {
            Some(path) => {
                load_ca_file(path).map_err(|cause| ServerError::ExtraCaFile { path: path.clone(), cause })?
            }
            None => Vec::new(),
        };
        let store = open_store(&config, &extra_roots).await?;
        let (admin, generated_admin_token) =
            load_or_create_admin_token(&config.data_dir, config.admin_token.as_deref())?;
        let metrics = Arc::new(Metrics::with_project_labels(config.metrics_project_labels));
        let runtime = PluginRuntime::new(runtime_options(&config, metrics.clone()))?;
        let outbound = OutboundClient::new(
            NetworkPolicy::from_allow_list(&config.allow_networks)?,
            ClientOptions {
                max_body_bytes: config.limits.upstream_body_bytes,
                connect_timeout: Duration::from_secs(5).min(config.limits.upstream_timeout_max),
                user_agent: concat!("fallback-host/", env!("CARGO_PKG_VERSION")).to_string(),
                extra_roots,
            },
        )?;
        let catalog = Catalog::new(
            store.clone(),
            ValidationLimits::from(&config.limits),
            config.limits.project_cache_bytes,
        );
        let models = Models::new(
            Some(config.data_dir.join("intent-models")),
            config.limits.intent_model_cache_bytes,
            metrics.clone(),
        );
        let pipeline = Pipeline::new(
            store.clone(),
            catalog.clone(),
            models,
            runtime,
            outbound,
            config.limits.clone(),
            metrics.clone(),
        );
        // Artifacts of plugins deleted while the host was down, and interrupted writes.
        pipeline.collect_plugin_artifacts(true).await;
        let state = AppState {
            config: Arc::new(config),
            store,
            catalog,
            admin: Arc::new(admin),
            pipeline: Arc::new(pipeline),
            metrics,
        };
        Ok(Self { state, generated_admin_token })
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let limits = &self.state.config.limits;
        let bounds = connections::Bounds::from(limits);
        let sweeper = tokio::spawn(sweeper::run(
            self.state.store.clone(),
            limits.conversation_retention,
            limits.conversation_sweep_interval,
        ));
        let metrics = self.state.metrics.clone();
        let router = api::router(self.state);
        connections::serve(listener, router, bounds, metrics, shutdown).await;
        sweeper.abort();
        Ok(())
    }
}

/// The plugin runtime as the operator configured it.
fn runtime_options(config: &Config, metrics: Arc<Metrics>) -> RuntimeOptions {
    let limits = &config.limits;
    RuntimeOptions {
        cache_dir: Some(config.data_dir.join("plugin-cache")),
        max_limits: CallLimits::from_config(limits),
        max_concurrent_instances: limits.plugin_max_concurrent,
        slots_per_project: limits.plugin_slots_per_project,
        structure: StructureLimits::from_config(limits),
        compile: CompileBounds {
            timeout: limits.plugin_compile_timeout,
            memory_bytes: limits.plugin_compile_memory_bytes,
            concurrency: limits.plugin_compile_concurrency,
            worker: config.plugin_compile_worker.clone(),
        },
        cache_bytes: usize::try_from(limits.plugin_cache_bytes).unwrap_or(usize::MAX),
        metrics,
    }
}

/// The configured backend: PostgreSQL when `database_url` is set, else SQLite in the data dir.
async fn open_store(
    config: &Config,
    extra_roots: &[TrustAnchor<'static>],
) -> Result<SharedStore, ServerError> {
    let Some(url) = &config.database_url else {
        return Ok(Arc::new(open_sqlite(config)?));
    };
    let key = config.secret_key.as_ref().ok_or(ServerError::SharedSetting("FALLBACK_SECRET_KEY"))?;
    if config.admin_token.is_none() {
        return Err(ServerError::SharedSetting("FALLBACK_ADMIN_TOKEN"));
    }
    let tls = tls_client_config(extra_roots).map_err(|cause| OutboundError::TlsSetup { cause })?;
    match PgStore::connect(url, key, config.secret_key_previous.as_ref(), tls).await {
        Ok((store, report)) => {
            if report.rotated > 0 {
                tracing::info!(rotated = report.rotated, "project secrets re-sealed");
            }
            tracing::info!(database = %url, "store: PostgreSQL");
            Ok(Arc::new(store))
        }
        Err(StoreError::Secret(cause @ SealError::Unreadable { .. })) => {
            Err(ServerError::WrongSecretKey { from: KeySource::Configured, cause })
        }
        Err(cause) => Err(ServerError::Database { url: url.clone(), cause }),
    }
}

/// Opens the SQLite store with the secret key in force, sealing legacy plaintext secrets and
/// finishing a key rotation; a key that opens no stored secret stops the start with what to do
/// about it.
fn open_sqlite(config: &Config) -> Result<SqliteStore, ServerError> {
    let (key, source) = load_or_create_secret_key(&config.data_dir, config.secret_key.as_ref())?;
    match SqliteStore::open_sealed(&config.data_dir, &key, config.secret_key_previous.as_ref()) {
        Ok((store, report)) => {
            if report.sealed > 0 || report.rotated > 0 {
                tracing::info!(sealed = report.sealed, rotated = report.rotated, "project secrets re-sealed");
            }
            Ok(store)
        }
        Err(StoreError::Secret(cause @ SealError::Unreadable { .. })) => match source {
            KeySource::Generated(path) => {
                // The key was made just now for a store that already has one: leave no wrong key behind.
                let _ = std::fs::remove_file(&path);
                Err(ServerError::MissingSecretKey { path, cause })
            }
            from => Err(ServerError::WrongSecretKey { from, cause }),
        },
        Err(other) => Err(other.into()),
    }
}

/// Builds the host from `config` and serves on `listener` until `shutdown`.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let data_dir = config.data_dir.clone();
    let host = Host::build(config).await?;
    if let Some(token) = &host.generated_admin_token {
        eprintln!(
            "Generated the admin token (shown once; kept in {}):\n  {token}",
            data_dir.join("admin_token").display()
        );
    }
    tracing::info!(address = %listener.local_addr()?, "fallback host listening");
    host.serve(listener, shutdown).await
}

/// Resolves on Ctrl-C or SIGTERM: what an operator or a process supervisor sends.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: draining in-flight requests");
}
