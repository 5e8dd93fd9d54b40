//! Settings and their defaults: listen address, data dir, admin token, network allow-list, limits.
//!
//! Defaults are DESIGN.md's. A webhook may lower a limit, never raise it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::secret_key::SecretKey;
use crate::store::DatabaseUrl;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const DAY_SECS: u64 = 24 * 3600;

/// Everything the host needs to run; built by `cli` from flags, a config file and the environment.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `FALLBACK_ADMIN_TOKEN`; when unset one is generated at first start and kept in the data dir.
    pub admin_token: Option<String>,
    /// `FALLBACK_ALLOW_NETWORKS`: CIDRs or host names outbound calls may reach despite the policy.
    pub allow_networks: Vec<String>,
    /// `FALLBACK_EXTRA_CA_FILE`: a PEM file of root certificates that webhooks over https trust
    /// on top of the public (Mozilla) roots, for upstreams behind a private CA. Read at start; an
    /// unreadable file or one without a valid certificate stops the start.
    pub extra_ca_file: Option<PathBuf>,
    pub limits: Limits,
    // --- issue 7, slice A: compile bounds ---
    /// The `fallback-host` executable run as the compile worker (`plugin compile-worker`):
    /// `serve` and `demo` set it to themselves. `None` compiles inside the host process, with
    /// the structural check and the concurrency bound but no memory or time bound.
    pub plugin_compile_worker: Option<PathBuf>,
    // --- issue 7 slice D: secrets at rest ---
    /// `FALLBACK_SECRET_KEY`: the key project secrets are sealed with. When unset, a key file is
    /// generated at first start in the data dir (mode 0600) and used from then on.
    pub secret_key: Option<SecretKey>,
    /// `FALLBACK_SECRET_KEY_PREVIOUS`: during a key rotation, the key the secrets were sealed
    /// with; at start every secret it opens is re-sealed under `secret_key`.
    pub secret_key_previous: Option<SecretKey>,
    /// `FALLBACK_DATABASE_URL`: PostgreSQL shared by every node; unset, SQLite in the data dir.
    pub database_url: Option<DatabaseUrl>,
    /// How many projects (the first seen since start) get chat series labelled with their id;
    /// 0, the default, labels none. Each costs 66 series, so it is bounded.
    pub metrics_project_labels: usize,
}

/// Written by hand so that the admin token never reaches a log or a panic message.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .field("allow_networks", &self.allow_networks)
            .field("extra_ca_file", &self.extra_ca_file)
            .field("limits", &self.limits)
            .field("plugin_compile_worker", &self.plugin_compile_worker)
            .field("secret_key", &self.secret_key)
            .field("secret_key_previous", &self.secret_key_previous)
            .field("database_url", &self.database_url)
            .field("metrics_project_labels", &self.metrics_project_labels)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            admin_token: None,
            allow_networks: Vec::new(),
            extra_ca_file: None,
            limits: Limits::default(),
            plugin_compile_worker: None,
            secret_key: None,
            secret_key_previous: None,
            database_url: None,
            metrics_project_labels: 0,
        }
    }
}

/// Operator-set ceilings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A plugin upload past this answers 413. JavaScript and Python components are 12–19 MB.
    pub plugin_upload_bytes: usize,
    /// Linear memory per plugin instance.
    pub plugin_memory_bytes: usize,
    /// Wall time per hook call, enforced by epoch interruption.
    pub plugin_call_timeout: Duration,
    /// Fuel per hook call: a deterministic bound beside the wall clock.
    pub plugin_fuel: u64,
    /// Variables, replies and logs: each capped at this many bytes per call.
    pub plugin_output_bytes: usize,
    pub plugin_log_bytes: usize,
    pub upstream_timeout_default: Duration,
    pub upstream_timeout_max: Duration,
    pub upstream_body_bytes: usize,
    /// API request bodies (plugin uploads have their own cap).
    pub request_body_bytes: usize,
    /// Turns kept per conversation; older ones are dropped.
    pub conversation_max_turns: usize,
    /// Plugin instances alive at once across all tenants; more wait their turn.
    pub plugin_max_concurrent: u32,
    // Concurrency and rates (issue 7, fairness): each project bounded so one cannot take the
    // others' share. Past a bound the chat answers the webhook's failure text at once (`busy`).
    /// Webhook executions in flight for one project.
    pub webhook_max_in_flight_per_project: usize,
    /// Webhook executions in flight across all projects.
    pub webhook_max_in_flight: usize,
    /// Plugin instances one project may run at once, out of `plugin_max_concurrent`, once half
    /// the pool is in use (below that a busy project borrows idle instances): what a looping
    /// tenant can burn under contention is its share, and never more than half the pool.
    pub plugin_slots_per_project: u32,
    /// Chat and test-console requests per second per project (token bucket); 0 turns it off.
    pub chat_rate_per_second: u32,
    /// Requests a project may save up; 0 means one second's worth of the rate.
    pub chat_rate_burst: u32,
    // -- Plugin output counted by structure (issue 7, outputs and logs): each item also costs
    // -- `plugin::ITEM_OVERHEAD_BYTES` against `plugin_output_bytes` / `plugin_log_bytes`.
    /// Variables one `extract` may return.
    pub plugin_max_variables: usize,
    /// Replies one `format` may return.
    pub plugin_max_replies: usize,
    /// Buttons on one reply.
    pub plugin_max_buttons: usize,
    /// Log lines (`host.log` calls and stdout/stderr lines together) per call.
    pub plugin_max_log_lines: usize,
    // --- issue 7, slice A: compile bounded, plugin cache, versions ---
    // The structural defaults leave room for real components: an 18 MB componentize-py 0.25.1
    // plugin has 13,355 functions, 6.3 MiB of code, a 417 KiB largest body, at most 271
    // locals and 781 nested blocks in a function, and 14 core modules. 200,000 empty
    // functions took a compiler 40 s and 1.2 GB; 100,000 stay inside the compile bounds.
    /// Functions defined in an upload, over all its core modules.
    pub plugin_max_functions: u64,
    /// Bytes of function bodies in an upload.
    pub plugin_max_code_bytes: u64,
    /// Bytes of one function body.
    pub plugin_max_function_bytes: u64,
    /// Locals declared by one function: compile time grows steeply with them.
    pub plugin_max_locals: u64,
    /// Blocks open at once in one function.
    pub plugin_max_nesting: u64,
    /// Core modules in one component.
    pub plugin_max_modules: u64,
    /// CPU time of one compilation (so a busy machine does not refuse a legitimate upload;
    /// wall time is backstopped at three times it); past it the upload is refused
    /// (`compile_timeout`).
    pub plugin_compile_timeout: Duration,
    /// Memory of the compile worker; past it the upload is refused (`compile_memory`).
    pub plugin_compile_memory_bytes: u64,
    /// Compilations at once; more wait (up to the compile timeout) for a turn.
    pub plugin_compile_concurrency: u32,
    /// Bytes of compiled plugins kept in memory; least recently used evicted past it.
    pub plugin_cache_bytes: u64,
    /// Plugin versions kept per webhook; older ones are deleted, never the active one.
    pub plugin_versions_kept: u32,
    /// Estimated bytes of project configuration (settings, intents, secrets, webhooks) kept in
    /// memory for requests; past it the least used projects are read again when next asked for.
    pub project_cache_bytes: u64,
    /// Bytes of trained intent models kept in memory; past it the least used are read back
    /// from the data dir when next needed.
    pub intent_model_cache_bytes: u64,
    // --- issue 7 slice D: the HTTP server bounded, conversations expire ---
    /// Time a client has to send a whole request head, from its first byte (or from accept).
    pub http_header_read_timeout: Duration,
    /// Time a keep-alive connection may sit between requests before it is closed.
    pub http_keep_alive_idle: Duration,
    /// Connections open at once; past it new ones wait in the listen backlog.
    pub http_max_connections: usize,
    /// Deadline of every request, from its head to its answer: 503 `timeout` past it.
    pub http_request_timeout: Duration,
    /// At shutdown, how long in-flight requests may finish before their connections are dropped.
    pub shutdown_drain: Duration,
    /// A conversation is deleted this long after its last turn.
    pub conversation_retention: Duration,
    /// How often the sweeper looks for expired conversations.
    pub conversation_sweep_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            plugin_upload_bytes: 32 * MIB,
            plugin_memory_bytes: 64 * MIB,
            plugin_call_timeout: Duration::from_millis(100),
            plugin_fuel: 2_000_000_000,
            plugin_output_bytes: 64 * KIB,
            plugin_log_bytes: 64 * KIB,
            upstream_timeout_default: Duration::from_secs(5),
            upstream_timeout_max: Duration::from_secs(30),
            upstream_body_bytes: MIB,
            request_body_bytes: MIB,
            conversation_max_turns: 100,
            plugin_max_concurrent: 64,
            webhook_max_in_flight_per_project: 64,
            webhook_max_in_flight: 1024,
            plugin_slots_per_project: 8,
            chat_rate_per_second: 0,
            chat_rate_burst: 0,
            plugin_max_variables: 256,
            plugin_max_replies: 10,
            plugin_max_buttons: 10,
            plugin_max_log_lines: 1000,
            plugin_max_functions: 100_000,
            plugin_max_code_bytes: 64 * MIB as u64,
            plugin_max_function_bytes: 4 * MIB as u64,
            plugin_max_locals: 10_000,
            plugin_max_nesting: 10_000,
            plugin_max_modules: 100,
            plugin_compile_timeout: Duration::from_secs(60),
            plugin_compile_memory_bytes: 1024 * MIB as u64,
            plugin_compile_concurrency: 2,
            plugin_cache_bytes: 512 * MIB as u64,
            plugin_versions_kept: 10,
            project_cache_bytes: 256 * MIB as u64,
            intent_model_cache_bytes: 256 * MIB as u64,
            http_header_read_timeout: Duration::from_secs(10),
            http_keep_alive_idle: Duration::from_secs(60),
            http_max_connections: 10_000,
            http_request_timeout: Duration::from_secs(60),
            shutdown_drain: Duration::from_secs(30),
            conversation_retention: Duration::from_secs(30 * DAY_SECS),
            conversation_sweep_interval: Duration::from_secs(3600),
        }
    }
}

/// Why settings could not be read. Each names the key or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error("config file {path} is invalid")]
    Parse {
        path: PathBuf,
        #[source]
        cause: toml::de::Error,
    },
    #[error("environment variable {name}={value:?} is invalid: {problem}")]
    Env { name: String, value: String, problem: String },
    #[error("setting {key}: {problem}")]
    Invalid { key: &'static str, problem: String },
}

/// The config file: flat keys, each also settable as `FALLBACK_<KEY>` in the environment
/// (the environment wins over the file; command-line flags win over both).
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub admin_token: Option<String>,
    pub allow_networks: Option<Vec<String>>,
    pub extra_ca_file: Option<PathBuf>,
    pub plugin_upload_bytes: Option<usize>,
    pub plugin_memory_bytes: Option<usize>,
    pub plugin_call_timeout_ms: Option<u64>,
    pub plugin_fuel: Option<u64>,
    pub plugin_output_bytes: Option<usize>,
    pub plugin_log_bytes: Option<usize>,
    pub plugin_max_concurrent: Option<u32>,
    pub upstream_timeout_ms: Option<u64>,
    pub upstream_timeout_max_ms: Option<u64>,
    pub upstream_body_bytes: Option<usize>,
    pub request_body_bytes: Option<usize>,
    pub conversation_max_turns: Option<usize>,
    // Concurrency and rates (issue 7, fairness).
    pub webhook_max_in_flight_per_project: Option<usize>,
    pub webhook_max_in_flight: Option<usize>,
    pub plugin_slots_per_project: Option<u32>,
    pub chat_rate_per_second: Option<u32>,
    pub chat_rate_burst: Option<u32>,
    // Plugin output counted by structure.
    pub plugin_max_variables: Option<usize>,
    pub plugin_max_replies: Option<usize>,
    pub plugin_max_buttons: Option<usize>,
    pub plugin_max_log_lines: Option<usize>,
    // --- issue 7, slice A ---
    pub plugin_max_functions: Option<u64>,
    pub plugin_max_code_bytes: Option<u64>,
    pub plugin_max_function_bytes: Option<u64>,
    pub plugin_max_locals: Option<u64>,
    pub plugin_max_nesting: Option<u64>,
    pub plugin_max_modules: Option<u64>,
    pub plugin_compile_timeout_ms: Option<u64>,
    pub plugin_compile_memory_bytes: Option<u64>,
    pub plugin_compile_concurrency: Option<u32>,
    pub plugin_cache_bytes: Option<u64>,
    pub plugin_versions_kept: Option<u32>,
    pub project_cache_bytes: Option<u64>,
    pub intent_model_cache_bytes: Option<u64>,
    // --- issue 7 slice D ---
    pub http_header_read_timeout_ms: Option<u64>,
    pub http_keep_alive_idle_ms: Option<u64>,
    pub http_max_connections: Option<usize>,
    pub http_request_timeout_ms: Option<u64>,
    pub shutdown_drain_ms: Option<u64>,
    pub conversation_retention_days: Option<u64>,
    pub conversation_sweep_interval_ms: Option<u64>,
    pub secret_key: Option<SecretKey>,
    pub secret_key_previous: Option<SecretKey>,
    pub database_url: Option<DatabaseUrl>,
    pub metrics_project_labels: Option<usize>,
}

impl Config {
    /// Reads the optional file, then the environment (through `env`, so tests need not touch
    /// the process environment).
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|cause| ConfigError::Read { path: path.to_path_buf(), cause })?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|cause| ConfigError::Parse { path: path.to_path_buf(), cause })?
            }
            None => FileConfig::default(),
        };
        settings.apply_env(&env)?;
        settings.into_config()
    }
}

fn parsed<T: std::str::FromStr>(
    env: &impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match env(name) {
        None => Ok(None),
        Some(value) if value.trim().is_empty() => Ok(None),
        Some(value) => value.trim().parse::<T>().map(Some).map_err(|problem| ConfigError::Env {
            name: name.to_string(),
            value: value.clone(),
            problem: problem.to_string(),
        }),
    }
}

impl FileConfig {
    fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        macro_rules! from_env {
            ($($field:ident => $name:literal),* $(,)?) => {
                $( if let Some(value) = parsed(env, $name)? { self.$field = Some(value); } )*
            };
        }
        from_env!(
            listen => "FALLBACK_LISTEN",
            data_dir => "FALLBACK_DATA_DIR",
            extra_ca_file => "FALLBACK_EXTRA_CA_FILE",
            plugin_upload_bytes => "FALLBACK_PLUGIN_UPLOAD_BYTES",
            plugin_memory_bytes => "FALLBACK_PLUGIN_MEMORY_BYTES",
            plugin_call_timeout_ms => "FALLBACK_PLUGIN_CALL_TIMEOUT_MS",
            plugin_fuel => "FALLBACK_PLUGIN_FUEL",
            plugin_output_bytes => "FALLBACK_PLUGIN_OUTPUT_BYTES",
            plugin_log_bytes => "FALLBACK_PLUGIN_LOG_BYTES",
            plugin_max_concurrent => "FALLBACK_PLUGIN_MAX_CONCURRENT",
            upstream_timeout_ms => "FALLBACK_UPSTREAM_TIMEOUT_MS",
            upstream_timeout_max_ms => "FALLBACK_UPSTREAM_TIMEOUT_MAX_MS",
            upstream_body_bytes => "FALLBACK_UPSTREAM_BODY_BYTES",
            request_body_bytes => "FALLBACK_REQUEST_BODY_BYTES",
            conversation_max_turns => "FALLBACK_CONVERSATION_MAX_TURNS",
            // Concurrency and rates (issue 7, fairness).
            webhook_max_in_flight_per_project => "FALLBACK_WEBHOOK_MAX_IN_FLIGHT_PER_PROJECT",
            webhook_max_in_flight => "FALLBACK_WEBHOOK_MAX_IN_FLIGHT",
            plugin_slots_per_project => "FALLBACK_PLUGIN_SLOTS_PER_PROJECT",
            chat_rate_per_second => "FALLBACK_CHAT_RATE_PER_SECOND",
            chat_rate_burst => "FALLBACK_CHAT_RATE_BURST",
            plugin_max_variables => "FALLBACK_PLUGIN_MAX_VARIABLES",
            plugin_max_replies => "FALLBACK_PLUGIN_MAX_REPLIES",
            plugin_max_buttons => "FALLBACK_PLUGIN_MAX_BUTTONS",
            plugin_max_log_lines => "FALLBACK_PLUGIN_MAX_LOG_LINES",
        );
        // issue 7, slice A
        from_env!(
            plugin_max_functions => "FALLBACK_PLUGIN_MAX_FUNCTIONS",
            plugin_max_code_bytes => "FALLBACK_PLUGIN_MAX_CODE_BYTES",
            plugin_max_function_bytes => "FALLBACK_PLUGIN_MAX_FUNCTION_BYTES",
            plugin_max_locals => "FALLBACK_PLUGIN_MAX_LOCALS",
            plugin_max_nesting => "FALLBACK_PLUGIN_MAX_NESTING",
            plugin_max_modules => "FALLBACK_PLUGIN_MAX_MODULES",
            plugin_compile_timeout_ms => "FALLBACK_PLUGIN_COMPILE_TIMEOUT_MS",
            plugin_compile_memory_bytes => "FALLBACK_PLUGIN_COMPILE_MEMORY_BYTES",
            plugin_compile_concurrency => "FALLBACK_PLUGIN_COMPILE_CONCURRENCY",
            plugin_cache_bytes => "FALLBACK_PLUGIN_CACHE_BYTES",
            plugin_versions_kept => "FALLBACK_PLUGIN_VERSIONS_KEPT",
            project_cache_bytes => "FALLBACK_PROJECT_CACHE_BYTES",
            intent_model_cache_bytes => "FALLBACK_INTENT_MODEL_CACHE_BYTES",
            http_header_read_timeout_ms => "FALLBACK_HTTP_HEADER_READ_TIMEOUT_MS",
            http_keep_alive_idle_ms => "FALLBACK_HTTP_KEEP_ALIVE_IDLE_MS",
            http_max_connections => "FALLBACK_HTTP_MAX_CONNECTIONS",
            http_request_timeout_ms => "FALLBACK_HTTP_REQUEST_TIMEOUT_MS",
            shutdown_drain_ms => "FALLBACK_SHUTDOWN_DRAIN_MS",
            conversation_retention_days => "FALLBACK_CONVERSATION_RETENTION_DAYS",
            conversation_sweep_interval_ms => "FALLBACK_CONVERSATION_SWEEP_INTERVAL_MS",
            metrics_project_labels => "FALLBACK_METRICS_PROJECT_LABELS",
        );
        // Parsed by hand: the generic error would echo the value, and this one is a key.
        for (slot, name) in [
            (&mut self.secret_key, "FALLBACK_SECRET_KEY"),
            (&mut self.secret_key_previous, "FALLBACK_SECRET_KEY_PREVIOUS"),
        ] {
            if let Some(text) = env(name).filter(|text| !text.trim().is_empty()) {
                *slot = Some(SecretKey::parse(&text).map_err(|problem| ConfigError::Env {
                    name: name.to_string(),
                    value: "<redacted>".to_string(),
                    problem: problem.to_string(),
                })?);
            }
        }
        // By hand too: the generic error would echo a URL that may hold a password.
        if let Some(text) = env("FALLBACK_DATABASE_URL").filter(|text| !text.trim().is_empty()) {
            self.database_url =
                Some(text.parse().map_err(|problem: crate::store::DatabaseUrlError| ConfigError::Env {
                    name: "FALLBACK_DATABASE_URL".to_string(),
                    value: "<redacted>".to_string(),
                    problem: problem.to_string(),
                })?);
        }
        if let Some(token) = env("FALLBACK_ADMIN_TOKEN").filter(|token| !token.trim().is_empty()) {
            self.admin_token = Some(token.trim().to_string());
        }
        if let Some(list) = env("FALLBACK_ALLOW_NETWORKS") {
            self.allow_networks = Some(
                list.split(',').map(str::trim).filter(|entry| !entry.is_empty()).map(String::from).collect(),
            );
        }
        Ok(())
    }

    fn into_config(self) -> Result<Config, ConfigError> {
        let defaults = Config::default();
        let d = &defaults.limits;
        let ms = |value: Option<u64>, default: Duration| value.map(Duration::from_millis).unwrap_or(default);
        let limits = Limits {
            plugin_upload_bytes: self.plugin_upload_bytes.unwrap_or(d.plugin_upload_bytes),
            plugin_memory_bytes: self.plugin_memory_bytes.unwrap_or(d.plugin_memory_bytes),
            plugin_call_timeout: ms(self.plugin_call_timeout_ms, d.plugin_call_timeout),
            plugin_fuel: self.plugin_fuel.unwrap_or(d.plugin_fuel),
            plugin_output_bytes: self.plugin_output_bytes.unwrap_or(d.plugin_output_bytes),
            plugin_log_bytes: self.plugin_log_bytes.unwrap_or(d.plugin_log_bytes),
            upstream_timeout_default: ms(self.upstream_timeout_ms, d.upstream_timeout_default),
            upstream_timeout_max: ms(self.upstream_timeout_max_ms, d.upstream_timeout_max),
            upstream_body_bytes: self.upstream_body_bytes.unwrap_or(d.upstream_body_bytes),
            request_body_bytes: self.request_body_bytes.unwrap_or(d.request_body_bytes),
            conversation_max_turns: self.conversation_max_turns.unwrap_or(d.conversation_max_turns),
            plugin_max_concurrent: self.plugin_max_concurrent.unwrap_or(d.plugin_max_concurrent),
            // Concurrency and rates (issue 7, fairness).
            webhook_max_in_flight_per_project: self
                .webhook_max_in_flight_per_project
                .unwrap_or(d.webhook_max_in_flight_per_project),
            webhook_max_in_flight: self.webhook_max_in_flight.unwrap_or(d.webhook_max_in_flight),
            plugin_slots_per_project: self.plugin_slots_per_project.unwrap_or(d.plugin_slots_per_project),
            chat_rate_per_second: self.chat_rate_per_second.unwrap_or(d.chat_rate_per_second),
            chat_rate_burst: self.chat_rate_burst.unwrap_or(d.chat_rate_burst),
            plugin_max_variables: self.plugin_max_variables.unwrap_or(d.plugin_max_variables),
            plugin_max_replies: self.plugin_max_replies.unwrap_or(d.plugin_max_replies),
            plugin_max_buttons: self.plugin_max_buttons.unwrap_or(d.plugin_max_buttons),
            plugin_max_log_lines: self.plugin_max_log_lines.unwrap_or(d.plugin_max_log_lines),
            plugin_max_functions: self.plugin_max_functions.unwrap_or(d.plugin_max_functions),
            plugin_max_code_bytes: self.plugin_max_code_bytes.unwrap_or(d.plugin_max_code_bytes),
            plugin_max_function_bytes: self.plugin_max_function_bytes.unwrap_or(d.plugin_max_function_bytes),
            plugin_max_locals: self.plugin_max_locals.unwrap_or(d.plugin_max_locals),
            plugin_max_nesting: self.plugin_max_nesting.unwrap_or(d.plugin_max_nesting),
            plugin_max_modules: self.plugin_max_modules.unwrap_or(d.plugin_max_modules),
            plugin_compile_timeout: ms(self.plugin_compile_timeout_ms, d.plugin_compile_timeout),
            plugin_compile_memory_bytes: self
                .plugin_compile_memory_bytes
                .unwrap_or(d.plugin_compile_memory_bytes),
            plugin_compile_concurrency: self
                .plugin_compile_concurrency
                .unwrap_or(d.plugin_compile_concurrency),
            plugin_cache_bytes: self.plugin_cache_bytes.unwrap_or(d.plugin_cache_bytes),
            plugin_versions_kept: self.plugin_versions_kept.unwrap_or(d.plugin_versions_kept),
            project_cache_bytes: self.project_cache_bytes.unwrap_or(d.project_cache_bytes),
            intent_model_cache_bytes: self.intent_model_cache_bytes.unwrap_or(d.intent_model_cache_bytes),
            http_header_read_timeout: ms(self.http_header_read_timeout_ms, d.http_header_read_timeout),
            http_keep_alive_idle: ms(self.http_keep_alive_idle_ms, d.http_keep_alive_idle),
            http_max_connections: self.http_max_connections.unwrap_or(d.http_max_connections),
            http_request_timeout: ms(self.http_request_timeout_ms, d.http_request_timeout),
            shutdown_drain: ms(self.shutdown_drain_ms, d.shutdown_drain),
            conversation_retention: self
                .conversation_retention_days
                .map(|days| Duration::from_secs(days.saturating_mul(DAY_SECS)))
                .unwrap_or(d.conversation_retention),
            conversation_sweep_interval: ms(
                self.conversation_sweep_interval_ms,
                d.conversation_sweep_interval,
            ),
        };
        limits.check()?;
        Ok(Config {
            listen: self.listen.unwrap_or(defaults.listen),
            data_dir: self.data_dir.unwrap_or(defaults.data_dir),
            admin_token: self.admin_token,
            allow_networks: self.allow_networks.unwrap_or_default(),
            extra_ca_file: self.extra_ca_file,
            limits,
            plugin_compile_worker: None,
            secret_key: self.secret_key,
            secret_key_previous: self.secret_key_previous,
            database_url: self.database_url,
            metrics_project_labels: self.metrics_project_labels.unwrap_or(defaults.metrics_project_labels),
        })
    }
}

impl Limits {
    /// Refuses settings the host cannot honour, at start rather than on the first request.
    pub fn check(&self) -> Result<(), ConfigError> {
        let positive = [
            ("plugin_upload_bytes", self.plugin_upload_bytes),
            ("plugin_memory_bytes", self.plugin_memory_bytes),
            ("plugin_output_bytes", self.plugin_output_bytes),
            ("plugin_log_bytes", self.plugin_log_bytes),
            ("upstream_body_bytes", self.upstream_body_bytes),
            ("request_body_bytes", self.request_body_bytes),
            ("conversation_max_turns", self.conversation_max_turns),
            ("plugin_max_concurrent", self.plugin_max_concurrent as usize),
            // Concurrency (issue 7, fairness): a zero bound would refuse every chat.
            ("webhook_max_in_flight_per_project", self.webhook_max_in_flight_per_project),
            ("webhook_max_in_flight", self.webhook_max_in_flight),
            ("plugin_slots_per_project", self.plugin_slots_per_project as usize),
            ("plugin_max_variables", self.plugin_max_variables),
            ("plugin_max_replies", self.plugin_max_replies),
            ("plugin_max_log_lines", self.plugin_max_log_lines),
            ("http_max_connections", self.http_max_connections),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid { key, problem: "must be greater than 0".into() });
            }
        }
        // issue 7, slice A: a zero would refuse every plugin or keep none.
        let positive_u64 = [
            ("plugin_max_functions", self.plugin_max_functions),
            ("plugin_max_code_bytes", self.plugin_max_code_bytes),
            ("plugin_max_function_bytes", self.plugin_max_function_bytes),
            ("plugin_max_modules", self.plugin_max_modules),
            ("plugin_max_nesting", self.plugin_max_nesting),
            ("plugin_compile_memory_bytes", self.plugin_compile_memory_bytes),
            ("plugin_compile_concurrency", u64::from(self.plugin_compile_concurrency)),
            ("plugin_cache_bytes", self.plugin_cache_bytes),
            ("plugin_versions_kept", u64::from(self.plugin_versions_kept)),
            ("project_cache_bytes", self.project_cache_bytes),
            ("intent_model_cache_bytes", self.intent_model_cache_bytes),
            (
                "plugin_compile_timeout_ms",
                u64::try_from(self.plugin_compile_timeout.as_millis()).unwrap_or(1),
            ),
        ];
        for (key, value) in positive_u64 {
            if value == 0 {
                return Err(ConfigError::Invalid { key, problem: "must be greater than 0".into() });
            }
        }
        if self.plugin_call_timeout.is_zero() || self.plugin_fuel == 0 {
            return Err(ConfigError::Invalid {
                key: "plugin_call_timeout_ms",
                problem: "plugin time and fuel must be greater than 0".into(),
            });
        }
        if self.upstream_timeout_default.is_zero()
            || self.upstream_timeout_default > self.upstream_timeout_max
        {
            return Err(ConfigError::Invalid {
                key: "upstream_timeout_ms",
                problem: "must be greater than 0 and at most upstream_timeout_max_ms".into(),
            });
        }
        let durations = [
            ("http_header_read_timeout_ms", self.http_header_read_timeout),
            ("http_keep_alive_idle_ms", self.http_keep_alive_idle),
            ("http_request_timeout_ms", self.http_request_timeout),
            ("conversation_retention_days", self.conversation_retention),
            ("conversation_sweep_interval_ms", self.conversation_sweep_interval),
        ];
        for (key, value) in durations {
            if value.is_zero() {
                return Err(ConfigError::Invalid { key, problem: "must be greater than 0".into() });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "config_docs_tests.rs"]
mod docs_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = Config::load(None, |_| None).expect("defaults load");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.limits.plugin_upload_bytes, 32 * MIB);
        assert_eq!(config.limits.plugin_memory_bytes, 64 * MIB);
        assert_eq!(config.limits.plugin_call_timeout, Duration::from_millis(100));
        assert_eq!(config.limits.upstream_timeout_max, Duration::from_secs(30));
        assert_eq!(config.limits.webhook_max_in_flight_per_project, 64);
        assert_eq!(config.limits.webhook_max_in_flight, 1024);
        assert_eq!(config.limits.chat_rate_per_second, 0, "the rate limit is off by default");
        assert_eq!(config.limits.http_header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.limits.http_keep_alive_idle, Duration::from_secs(60));
        assert_eq!(config.limits.http_max_connections, 10_000);
        assert_eq!(config.limits.http_request_timeout, Duration::from_secs(60));
        assert_eq!(config.limits.conversation_retention, Duration::from_secs(30 * DAY_SECS));
        assert_eq!(config.secret_key, None);
        let limits = &config.limits;
        assert_eq!(
            (limits.plugin_max_variables, limits.plugin_max_replies, limits.plugin_max_buttons),
            (256, 10, 10)
        );
        assert_eq!(limits.plugin_max_log_lines, 1000);
    }

    #[test]
    fn concurrency_bounds_come_from_the_environment_and_refuse_zero() {
        let config = Config::load(None, |name| match name {
            "FALLBACK_PLUGIN_SLOTS_PER_PROJECT" => Some("2".into()),
            "FALLBACK_CHAT_RATE_PER_SECOND" => Some("5".into()),
            _ => None,
        })
        .expect("loads");
        assert_eq!(config.limits.plugin_slots_per_project, 2);
        assert_eq!(config.limits.chat_rate_per_second, 5);
        let error = Config::load(None, |name| {
            (name == "FALLBACK_WEBHOOK_MAX_IN_FLIGHT_PER_PROJECT").then(|| "0".to_string())
        })
        .expect_err("refused");
        assert!(error.to_string().contains("webhook_max_in_flight_per_project"), "{error}");
    }

    #[test]
    fn output_counts_are_settable_and_must_be_positive() {
        let config = Config::load(None, |name| (name == "FALLBACK_PLUGIN_MAX_REPLIES").then(|| "3".into()))
            .expect("loads");
        assert_eq!(config.limits.plugin_max_replies, 3);
        for key in
            ["FALLBACK_PLUGIN_MAX_VARIABLES", "FALLBACK_PLUGIN_MAX_REPLIES", "FALLBACK_PLUGIN_MAX_LOG_LINES"]
        {
            let error = Config::load(None, |name| (name == key).then(|| "0".into())).expect_err(key);
            assert!(error.to_string().contains(&key["FALLBACK_".len()..].to_lowercase()), "{error}");
        }
        // No buttons at all is a valid choice: replies are then text only.
        let config = Config::load(None, |name| (name == "FALLBACK_PLUGIN_MAX_BUTTONS").then(|| "0".into()))
            .expect("loads");
        assert_eq!(config.limits.plugin_max_buttons, 0);
    }

    #[test]
    fn secret_keys_come_from_the_environment_and_bad_ones_are_not_echoed() {
        let hex_key = "ab".repeat(32);
        let config = Config::load(None, |name| (name == "FALLBACK_SECRET_KEY").then(|| hex_key.clone()))
            .expect("loads");
        assert_eq!(config.secret_key.map(|key| key.to_hex()), Some(hex_key));
        let error = Config::load(None, |name| {
            (name == "FALLBACK_SECRET_KEY_PREVIOUS").then(|| "hunter2".to_string())
        })
        .expect_err("refused");
        let text = error.to_string();
        assert!(text.contains("FALLBACK_SECRET_KEY_PREVIOUS") && !text.contains("hunter2"), "{text}");
    }

    #[test]
    fn the_database_url_comes_from_the_environment_or_the_file_and_never_shows_its_password() {
        let url = "postgres://app:hunter2@db.internal:5432/fallback";
        let config = Config::load(None, |name| (name == "FALLBACK_DATABASE_URL").then(|| url.to_string()))
            .expect("loads");
        let loaded = config.database_url.clone().expect("set");
        assert_eq!(loaded.database(), Some("fallback"));
        assert!(!format!("{config:?}").contains("hunter2"), "{config:?}");
        let error = Config::load(None, |name| {
            (name == "FALLBACK_DATABASE_URL").then(|| "postgres://app:hunter2@db:port/x".to_string())
        })
        .expect_err("refused");
        assert!(!error.to_string().contains("hunter2"), "{error}");

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("config.toml");
        std::fs::write(&file, format!("database_url = \"{url}\"\n")).expect("config file");
        let config = Config::load(Some(&file), |_| None).expect("loads");
        assert_eq!(
            config.database_url.and_then(|url| url.database().map(str::to_owned)).as_deref(),
            Some("fallback")
        );
        // Unset: SQLite in the data dir.
        assert!(Config::load(None, |_| None).expect("loads").database_url.is_none());
    }

    #[test]
    fn zero_http_bounds_are_refused() {
        let error =
            Config::load(None, |name| (name == "FALLBACK_HTTP_MAX_CONNECTIONS").then(|| "0".to_string()))
                .expect_err("refused");
        assert!(error.to_string().contains("http_max_connections"), "{error}");
    }

    #[test]
    fn debug_output_never_shows_the_admin_token() {
        let config =
            Config::load(None, |name| (name == "FALLBACK_ADMIN_TOKEN").then(|| "fba_hunter2".into()))
                .expect("loads");
        let shown = format!("{config:?}");
        assert!(shown.contains("admin_token") && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nupstream_body_bytes = 2048\n").expect("write");
        let config = Config::load(Some(&path), |name| match name {
            "FALLBACK_UPSTREAM_BODY_BYTES" => Some("4096".into()),
            "FALLBACK_ALLOW_NETWORKS" => Some("127.0.0.0/8, ::1/128".into()),
            _ => None,
        })
        .expect("loads");
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.limits.upstream_body_bytes, 4096);
        assert_eq!(config.allow_networks, vec!["127.0.0.0/8", "::1/128"]);
    }

    #[test]
    fn extra_ca_file_comes_from_the_file_or_the_environment() {
        assert_eq!(Config::load(None, |_| None).expect("defaults load").extra_ca_file, None);

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host.toml");
        std::fs::write(&path, "extra_ca_file = \"/etc/fallback/file-ca.pem\"\n").expect("write");
        let from_file = Config::load(Some(&path), |_| None).expect("loads");
        assert_eq!(from_file.extra_ca_file, Some(PathBuf::from("/etc/fallback/file-ca.pem")));

        let from_env = Config::load(Some(&path), |name| {
            (name == "FALLBACK_EXTRA_CA_FILE").then(|| "/etc/fallback/env-ca.pem".to_string())
        })
        .expect("loads");
        assert_eq!(from_env.extra_ca_file, Some(PathBuf::from("/etc/fallback/env-ca.pem")));
    }

    #[test]
    fn bad_settings_name_their_key() {
        let error = Config::load(None, |name| (name == "FALLBACK_PLUGIN_FUEL").then(|| "lots".to_string()))
            .expect_err("refused");
        assert!(error.to_string().contains("FALLBACK_PLUGIN_FUEL"), "{error}");

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host.toml");
        std::fs::write(&path, "colour = \"blue\"\n").expect("write");
        let error = Config::load(Some(&path), |_| None).expect_err("unknown key refused");
        assert!(format!("{:#}", anyhow::Error::from(error)).contains("colour"));
    }
}
