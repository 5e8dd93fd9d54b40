//! Settings and their defaults: listen address, data dir, admin token, network allow-list, limits.
//!
//! Defaults are DESIGN.md's. A webhook may lower a limit, never raise it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::secret_key::SecretKey;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const DAY_SECS: u64 = 24 * 3600;

/// Everything the host needs to run; built by `cli` from flags, a config file and the environment.
#[derive(Debug, Clone)]
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
    // --- issue 7 slice D: secrets at rest ---
    /// `FALLBACK_SECRET_KEY`: the key project secrets are sealed with. When unset, a key file is
    /// generated at first start in the data dir (mode 0600) and used from then on.
    pub secret_key: Option<SecretKey>,
    /// `FALLBACK_SECRET_KEY_PREVIOUS`: during a key rotation, the key the secrets were sealed
    /// with; at start every secret it opens is re-sealed under `secret_key`.
    pub secret_key_previous: Option<SecretKey>,
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
            secret_key: None,
            secret_key_previous: None,
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
#[derive(Debug, Default, serde::Deserialize)]
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
            http_header_read_timeout_ms => "FALLBACK_HTTP_HEADER_READ_TIMEOUT_MS",
            http_keep_alive_idle_ms => "FALLBACK_HTTP_KEEP_ALIVE_IDLE_MS",
            http_max_connections => "FALLBACK_HTTP_MAX_CONNECTIONS",
            http_request_timeout_ms => "FALLBACK_HTTP_REQUEST_TIMEOUT_MS",
            shutdown_drain_ms => "FALLBACK_SHUTDOWN_DRAIN_MS",
            conversation_retention_days => "FALLBACK_CONVERSATION_RETENTION_DAYS",
            conversation_sweep_interval_ms => "FALLBACK_CONVERSATION_SWEEP_INTERVAL_MS",
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
            secret_key: self.secret_key,
            secret_key_previous: self.secret_key_previous,
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
            ("http_max_connections", self.http_max_connections),
        ];
        for (key, value) in positive {
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
        assert_eq!(config.limits.http_header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.limits.http_keep_alive_idle, Duration::from_secs(60));
        assert_eq!(config.limits.http_max_connections, 10_000);
        assert_eq!(config.limits.http_request_timeout, Duration::from_secs(60));
        assert_eq!(config.limits.conversation_retention, Duration::from_secs(30 * DAY_SECS));
        assert_eq!(config.secret_key, None);
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
    fn zero_http_bounds_are_refused() {
        let error =
            Config::load(None, |name| (name == "FALLBACK_HTTP_MAX_CONNECTIONS").then(|| "0".to_string()))
                .expect_err("refused");
        assert!(error.to_string().contains("http_max_connections"), "{error}");
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
