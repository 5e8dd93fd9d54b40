//! Outbound HTTP for webhooks: the network policy, the vetting resolver, timeouts, retries and size caps.
//!
//! The webhook layer builds an [`OutboundRequest`] from its templates; [`OutboundClient::send`]
//! is the only way the host talks to an upstream, so every call gets the same protections.

mod client;
mod error;
mod policy;
mod resolver;
mod retry;
mod roots;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::time::Duration;

pub use client::OutboundClient;
pub use error::OutboundError;
pub use policy::{NetworkPolicy, PolicyError, is_forbidden};
pub use roots::{CaFileError, client_config as tls_client_config, load_ca_file};

/// Client-wide settings, fixed when the client is built (from `config::Limits`).
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Response bodies past this fail with `BodyTooLarge` rather than being truncated, so a
    /// plugin never parses half a JSON document.
    pub max_body_bytes: usize,
    pub connect_timeout: Duration,
    pub user_agent: String,
    /// Roots trusted for https on top of Mozilla's: the operator's private CA (`extra_ca_file`,
    /// read with [`load_ca_file`]).
    pub extra_roots: Vec<rustls::pki_types::TrustAnchor<'static>>,
}

/// One webhook call, already templated.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub method: http::Method,
    pub url: String,
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Content type and bytes; the content type is sent unless `headers` already set one.
    pub body: Option<(String, bytes::Bytes)>,
    /// Total deadline: every attempt, backoff wait and the body read included.
    pub timeout: Duration,
    /// A lower body cap than the client's for this call (a webhook's own limit); never raises it.
    pub max_body_bytes: Option<usize>,
    /// Extra attempts for idempotent methods on connect errors, 5xx and 429.
    pub retries: u32,
}
