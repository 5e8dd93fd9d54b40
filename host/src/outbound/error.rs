//! Why an outbound call failed, with a stable code for traces, metrics and the API.

use std::error::Error as StdError;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy;

use super::resolver::ResolveError;

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("invalid URL: {reason}")]
    InvalidUrl {
        reason: &'static str,
        #[source]
        cause: Option<http::uri::InvalidUri>,
    },
    #[error("{host} is a forbidden address ({addr}) under the outbound network policy")]
    ForbiddenAddress { host: String, addr: IpAddr },
    #[error("could not resolve {host}")]
    Dns {
        host: String,
        #[source]
        cause: Arc<std::io::Error>,
    },
    #[error("could not connect to the upstream")]
    Connect {
        #[source]
        cause: legacy::Error,
    },
    #[error("the upstream did not answer within {after:?}")]
    Timeout { after: Duration },
    #[error("the upstream response body exceeds {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("TLS with the upstream failed")]
    Tls {
        #[source]
        cause: legacy::Error,
    },
    #[error("the HTTP exchange with the upstream failed")]
    Http {
        #[source]
        cause: legacy::Error,
    },
    #[error("reading the upstream response body failed")]
    Body {
        #[source]
        cause: hyper::Error,
    },
    #[error("invalid {name} header value")]
    InvalidHeader {
        name: &'static str,
        #[source]
        cause: http::header::InvalidHeaderValue,
    },
    #[error("the TLS client could not be configured")]
    TlsSetup {
        #[source]
        cause: rustls::Error,
    },
}

impl OutboundError {
    /// Stable snake_case name: traces and metrics key on it, so it must never change meaning.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl { .. } => "invalid_url",
            Self::ForbiddenAddress { .. } => "forbidden_address",
            Self::Dns { .. } => "dns",
            Self::Connect { .. } => "connect",
            Self::Timeout { .. } => "timeout",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::Tls { .. } => "tls",
            Self::Http { .. } => "http",
            Self::Body { .. } => "body",
            Self::InvalidHeader { .. } => "invalid_header",
            Self::TlsSetup { .. } => "tls_setup",
        }
    }

    /// Worth another attempt: the upstream may have been briefly unreachable. Policy refusals,
    /// DNS failures and TLS failures will fail the same way again.
    pub(super) fn is_retryable(&self) -> bool {
        matches!(self, Self::Connect { .. })
    }

    /// Sorts a client error by what failed, digging the policy resolver's verdict or a TLS
    /// error out of hyper's connect error chain.
    pub(super) fn from_client(cause: legacy::Error) -> Self {
        if cause.is_connect() {
            let mut source = cause.source();
            while let Some(err) = source {
                if let Some(resolve) = err.downcast_ref::<ResolveError>() {
                    return match resolve.clone() {
                        ResolveError::Dns { host, cause } => Self::Dns { host, cause },
                        ResolveError::Forbidden { host, addr } => Self::ForbiddenAddress { host, addr },
                    };
                }
                if err.downcast_ref::<rustls::Error>().is_some() {
                    return Self::Tls { cause };
                }
                source = next_cause(err);
            }
            return Self::Connect { cause };
        }
        Self::Http { cause }
    }
}

/// The error under `err`. `io::Error::source` skips the error it wraps (it answers that error's
/// own source), and hyper-rustls wraps rustls errors in `io::Error`s, so unwrap those by hand.
fn next_cause<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match err.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
        Some(inner) => Some(inner as &(dyn StdError + 'static)),
        None => err.source(),
    }
}
