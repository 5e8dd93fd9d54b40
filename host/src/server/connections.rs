//! The HTTP/1.1 accept loop, bounded: at most `http_max_connections` open (past it the loop
//! stops accepting, so new clients wait in the kernel's listen backlog), each connection under
//! its header-read and idle deadlines (see `watchdog`), and a drain deadline at shutdown after
//! which the connections still open are dropped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::watchdog::{Activity, Timeouts, Watched};
use crate::config::Limits;
use crate::metrics::Metrics;

/// After an accept error such as EMFILE, wait this long before trying again rather than spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The bounds the loop enforces, from the operator's [`Limits`].
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub timeouts: Timeouts,
    pub max_connections: usize,
    pub drain: Duration,
}

impl From<&Limits> for Bounds {
    fn from(limits: &Limits) -> Self {
        Self {
            timeouts: Timeouts {
                header_read: limits.http_header_read_timeout,
                keep_alive_idle: limits.http_keep_alive_idle,
            },
            max_connections: limits.http_max_connections,
            drain: limits.shutdown_drain,
        }
    }
}

/// One open connection's slot: gives the permit back and updates the gauge when dropped.
struct Slot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.metrics.connection_closed();
    }
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting (the listener
/// is closed at once), lets every connection finish its request in flight, and after
/// `bounds.drain` drops those still open.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    bounds: Bounds,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(bounds.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        // A slot first: while every slot is taken nothing is accepted, so a flood waits in the
        // listen backlog (and past it is refused by the kernel) instead of costing memory here.
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        // Finished connections stay in the set until joined: reap them, or a long-running
        // host would keep one task allocation per connection it ever served.
        while connections.try_join_next().is_some() {}
        metrics.connection_opened();
        let slot = Slot { _permit: permit, metrics: Arc::clone(&metrics) };
        connections.spawn(connection(stream, router.clone(), bounds.timeouts, stopping.clone(), slot));
    }
    drop(listener);
    let _ = stop.send(true);
    let drained =
        tokio::time::timeout(bounds.drain, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            drain_ms = bounds.drain.as_millis(),
            "drain deadline passed: dropping the connections still open"
        );
        connections.shutdown().await;
    }
}

async fn connection(
    stream: TcpStream,
    router: Router,
    timeouts: Timeouts,
    mut stopping: watch::Receiver<bool>,
    _slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity)));
    let service = service_fn({
        let activity = Arc::clone(&activity);
        move |request: Request<Incoming>| {
            let router = router.clone();
            let busy = activity.request_started();
            async move {
                let response = router.oneshot(request).await;
                drop(busy);
                response
            }
        }
    });
    let mut builder = http1::Builder::new();
    // The watchdog owns the head and idle deadlines (hyper's would also cut idle keep-alive
    // connections at the head deadline).
    builder.timer(TokioTimer::new()).header_read_timeout(None).keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = *stopping.borrow();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            expiry = activity.expired(timeouts) => {
                tracing::debug!(?expiry, "closing a connection past its deadline");
                return;
            }
            _ = stopping.changed(), if !draining => {
                draining = true;
                // Finishes the request in flight, if any, then closes.
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
