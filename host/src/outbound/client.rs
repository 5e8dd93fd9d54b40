//! The pooled HTTP(S) client: one call = URL vetting, attempts with retries, a capped body read.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;
use tracing::{Instrument, field};

use super::error::OutboundError;
use super::policy::NetworkPolicy;
use super::resolver::PolicyResolver;
use super::retry::{backoff, is_idempotent, is_retryable_status};
use super::roots::client_config;
use super::{ClientOptions, OutboundRequest};
use crate::log_text::LogText;
use crate::model::UpstreamResponse;

type Connector = HttpsConnector<HttpConnector<PolicyResolver>>;

/// Idle pooled connections are dropped after this: long enough to serve a chat burst, short
/// enough not to hold sockets to upstreams that went quiet.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept per upstream host. Below the chats in flight to one upstream, every
/// burst closes connections only to open them again (measured: 16 at 32 chats in flight made
/// connects 5% of the host's CPU and cost the upstream a third more per request).
const POOL_MAX_IDLE_PER_HOST: usize = 128;

/// Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct OutboundClient {
    inner: Client<Connector, Full<Bytes>>,
    policy: Arc<NetworkPolicy>,
    max_body_bytes: usize,
    user_agent: HeaderValue,
}

impl std::fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundClient")
            .field("policy", &self.policy)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl OutboundClient {
    pub fn new(policy: NetworkPolicy, options: ClientOptions) -> Result<Self, OutboundError> {
        let user_agent = HeaderValue::from_str(&options.user_agent)
            .map_err(|cause| OutboundError::InvalidHeader { name: "user-agent", cause })?;
        let policy = Arc::new(policy);
        let mut http = HttpConnector::new_with_resolver(PolicyResolver::new(Arc::clone(&policy)));
        // The TLS layer wraps this connector and handles https itself.
        http.enforce_http(false);
        http.set_connect_timeout(Some(options.connect_timeout));
        http.set_nodelay(true);
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(
                client_config(&options.extra_roots).map_err(|cause| OutboundError::TlsSetup { cause })?,
            )
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .build(https);
        Ok(Self { inner, policy, max_body_bytes: options.max_body_bytes, user_agent })
    }

    /// Sends `req` within `req.timeout` (every attempt, wait and body read included). A 3xx is
    /// returned as it is: following it would reach a URL nobody vetted.
    pub async fn send(&self, req: OutboundRequest) -> Result<UpstreamResponse, OutboundError> {
        let (uri, host) = parse_url(&req.url)?;
        // Host only: the path and query may carry secrets, and so may the headers. Debug: at
        // the info level it cost 3% of a chat's CPU, and failures are logged by the pipeline.
        let span = tracing::debug_span!(
            "outbound",
            method = %req.method,
            host = %host,
            attempt = field::Empty,
            status = field::Empty,
            error = field::Empty,
        );
        async move {
            let result = match self.check_ip_literal(&host) {
                Err(refused) => Err(refused),
                Ok(()) => tokio::time::timeout(req.timeout, self.attempts(&req, uri))
                    .await
                    .unwrap_or(Err(OutboundError::Timeout { after: req.timeout })),
            };
            match &result {
                Ok(response) => {
                    tracing::Span::current().record("status", response.status);
                    tracing::debug!(bytes = response.body.len(), "upstream answered");
                }
                Err(err) => {
                    tracing::Span::current().record("error", err.code());
                    // The error may quote what the upstream sent.
                    tracing::debug!(error = %LogText(&err.to_string()), "outbound call failed");
                }
            }
            result
        }
        .instrument(span)
        .await
    }

    /// The connector skips the resolver for IP-literal hosts, so they are vetted here.
    fn check_ip_literal(&self, host: &str) -> Result<(), OutboundError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(addr) if !self.policy.allows_ip(addr) => {
                Err(OutboundError::ForbiddenAddress { host: host.to_owned(), addr })
            }
            _ => Ok(()),
        }
    }

    async fn attempts(&self, req: &OutboundRequest, uri: Uri) -> Result<UpstreamResponse, OutboundError> {
        let deadline = Instant::now() + req.timeout;
        let retries = if is_idempotent(&req.method) { req.retries } else { 0 };
        let mut attempt = 0;
        loop {
            tracing::Span::current().record("attempt", attempt + 1);
            let outcome = self.attempt(req, uri.clone()).await;
            let retryable = match &outcome {
                Ok(response) => is_retryable_status(response.status().as_u16()),
                Err(err) => err.is_retryable(),
            };
            let wait = backoff(attempt);
            if !retryable || attempt >= retries || Instant::now() + wait >= deadline {
                let response = outcome?;
                let status = response.status().as_u16();
                let headers = response
                    .headers()
                    .iter()
                    .map(|(name, value)| {
                        (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
                    })
                    .collect();
                let cap = req.max_body_bytes.map_or(self.max_body_bytes, |cap| cap.min(self.max_body_bytes));
                let body = read_capped(response.into_body(), cap).await?;
                return Ok(UpstreamResponse { status, headers, body });
            }
            match &outcome {
                Ok(response) => {
                    tracing::debug!(status = response.status().as_u16(), ?wait, "retrying")
                }
                Err(err) => tracing::debug!(error = err.code(), ?wait, "retrying"),
            }
            // Dropping an unread response closes its connection rather than reusing it: fine
            // for an upstream that is already failing.
            drop(outcome);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, req: &OutboundRequest, uri: Uri) -> Result<Response<Incoming>, OutboundError> {
        let body = req.body.as_ref().map(|(_, bytes)| bytes.clone()).unwrap_or_default();
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = req.method.clone();
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        for (name, value) in &req.headers {
            headers.append(name.clone(), value.clone());
        }
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.user_agent.clone());
        }
        if let Some((content_type, _)) = &req.body
            && !headers.contains_key(CONTENT_TYPE)
        {
            let value = HeaderValue::from_str(content_type)
                .map_err(|cause| OutboundError::InvalidHeader { name: "content-type", cause })?;
            headers.insert(CONTENT_TYPE, value);
        }
        self.inner.request(request).await.map_err(OutboundError::from_client)
    }
}

/// An absolute http(s) URL and its host as written (IPv6 literals keep their brackets).
fn parse_url(url: &str) -> Result<(Uri, String), OutboundError> {
    let uri: Uri = url
        .parse()
        .map_err(|cause| OutboundError::InvalidUrl { reason: "does not parse", cause: Some(cause) })?;
    let invalid = |reason| OutboundError::InvalidUrl { reason, cause: None };
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(invalid("the scheme must be http or https"));
    }
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("credentials in the URL are not supported; use a header"));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    let host = host.to_owned();
    Ok((uri, host))
}

/// Reads at most `limit` bytes, frame by frame, refusing as soon as the body goes past it (or
/// announces it will, through Content-Length) so a huge answer never sits in memory. A body
/// that comes in one frame (most small answers) is kept as it is rather than copied.
async fn read_capped(mut body: Incoming, limit: usize) -> Result<Bytes, OutboundError> {
    let too_large = OutboundError::BodyTooLarge { limit };
    if usize::try_from(body.size_hint().lower()).map_or(true, |announced| announced > limit) {
        return Err(too_large);
    }
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|cause| OutboundError::Body { cause })?;
        if let Ok(data) = frame.into_data() {
            let read = first.as_ref().map_or(0, Bytes::len) + buf.len();
            if read + data.len() > limit {
                return Err(too_large);
            }
            if read == 0 && first.is_none() {
                first = Some(data);
                continue;
            }
            if let Some(first) = first.take() {
                buf.extend_from_slice(&first);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_absolute_http_without_credentials() {
        assert_eq!(parse_url("http://example.com:8080/a?b=c").unwrap().1, "example.com");
        assert_eq!(parse_url("https://[::1]/").unwrap().1, "[::1]");
        for bad in
            ["/relative", "ftp://example.com/", "http://user:pw@example.com/", "not a url", "http:///x"]
        {
            let err = parse_url(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_url", "{bad}");
        }
    }
}
