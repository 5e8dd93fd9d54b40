//! The DNS resolver the HTTP connector uses: resolves, then hands it only addresses the policy allows.
//!
//! Vetting inside the resolver (rather than before the request) means the connector connects to
//! exactly the addresses that were checked, so a name that resolves to a public address at check
//! time and to 127.0.0.1 at connect time (DNS rebinding) cannot slip through.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

use super::policy::NetworkPolicy;

/// Why a name yielded nothing to connect to. Travels through hyper's connect error as its source,
/// and is recovered from there to become the matching `OutboundError`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    #[error("could not resolve {host}")]
    Dns {
        host: String,
        #[source]
        cause: Arc<io::Error>,
    },
    #[error("{host} resolves only to forbidden addresses (first: {addr})")]
    Forbidden { host: String, addr: IpAddr },
}

/// A `tower::Service<Name>` resolving with tokio and filtering through the policy.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: Arc<NetworkPolicy>,
}

impl PolicyResolver {
    pub fn new(policy: Arc<NetworkPolicy>) -> Self {
        Self { policy }
    }
}

impl tower::Service<Name> for PolicyResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ResolveError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ResolveError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // Port 0: the connector puts the URL's port on each address afterwards.
            let resolved = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|cause| ResolveError::Dns { host: host.clone(), cause: Arc::new(cause) })?;
            vet(&policy, &host, resolved.collect()).map(Vec::into_iter)
        })
    }
}

/// Keeps the allowed addresses; an allow-listed host name keeps them all.
pub fn vet(
    policy: &NetworkPolicy,
    host: &str,
    resolved: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let Some(first) = resolved.first().map(SocketAddr::ip) else {
        return Err(ResolveError::Dns {
            host: host.to_owned(),
            cause: Arc::new(io::Error::new(io::ErrorKind::NotFound, "no addresses")),
        });
    };
    if policy.allows_host(host) {
        return Ok(resolved);
    }
    let allowed: Vec<SocketAddr> = resolved.into_iter().filter(|addr| policy.allows_ip(addr.ip())).collect();
    if allowed.is_empty() {
        return Err(ResolveError::Forbidden { host: host.to_owned(), addr: first });
    }
    Ok(allowed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| SocketAddr::new(s.parse().unwrap(), 0)).collect()
    }

    #[test]
    fn forbidden_addresses_are_dropped_and_public_ones_kept() {
        let policy = NetworkPolicy::default();
        let kept = vet(&policy, "mixed.example", addrs(&["10.0.0.1", "93.184.216.34"])).unwrap();
        assert_eq!(kept, addrs(&["93.184.216.34"]));
        match vet(&policy, "evil.example", addrs(&["169.254.169.254", "::1"])) {
            Err(ResolveError::Forbidden { host, addr }) => {
                assert_eq!(host, "evil.example");
                assert_eq!(addr, "169.254.169.254".parse::<IpAddr>().unwrap());
            }
            other => panic!("expected Forbidden, got {other:?}"),
        }
        assert!(matches!(vet(&policy, "none.example", Vec::new()), Err(ResolveError::Dns { .. })));
    }

    #[test]
    fn allow_listed_host_keeps_every_address() {
        let policy = NetworkPolicy::from_allow_list(&["localhost".to_owned()]).unwrap();
        let all = addrs(&["127.0.0.1", "::1"]);
        assert_eq!(vet(&policy, "LOCALHOST", all.clone()).unwrap(), all);
        assert!(vet(&policy, "other.test", all).is_err());
    }
}
