//! Settings and their defaults: listen address, data dir, admin token, network allow-list, limits.
//!
//! Defaults are DESIGN.md's. A webhook may lower a limit, never raise it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Everything the host needs to run; built by `cli` from flags, a config file and the environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `FALLBACK_ADMIN_TOKEN`; when unset one is generated at first start and kept in the data dir.
    pub admin_token: Option<String>,
    /// `FALLBACK_ALLOW_NETWORKS`: CIDRs or host names outbound calls may reach despite the policy.
    pub allow_networks: Vec<String>,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            admin_token: None,
            allow_networks: Vec::new(),
            limits: Limits::default(),
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
        }
    }
}
