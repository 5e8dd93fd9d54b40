//! Per-connection timers hyper does not have: the header-read deadline counted from the first
//! byte of a request head (or from accept), and the idle keep-alive deadline counted from the
//! end of the last exchange.
//!
//! hyper's own `header_read_timeout` starts whenever it waits for a head, idle keep-alive
//! included, so it cannot tell "10 s to send a head" from "60 s between requests"; this module
//! can. The connection's reads, writes and requests report here; `expired` resolves when the
//! deadline in force passes, and the connection is then dropped.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Where a connection is between its requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a whole request head since `since` (accept, or the first byte after idling).
    AwaitingHead { since: Instant },
    /// A request is being answered: the request deadline governs, not these timers.
    Busy { in_flight: usize },
    /// Between requests since `since`.
    Idle { since: Instant },
}

/// Why a connection was closed by its watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    HeaderRead,
    Idle,
}

/// The two deadlines.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header_read: Duration,
    pub keep_alive_idle: Duration,
}

/// What one connection has been doing.
pub struct Activity {
    opened: Instant,
    phase: Mutex<Phase>,
    /// Milliseconds from `opened` to the last byte read or written.
    last_io_ms: AtomicU64,
    changed: Notify,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            opened: now,
            phase: Mutex::new(Phase::AwaitingHead { since: now }),
            last_io_ms: AtomicU64::new(0),
            changed: Notify::new(),
        })
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        *phase = change(*phase);
        drop(phase);
        // A stored permit if the watchdog is not waiting yet: no wake-up is lost.
        self.changed.notify_one();
    }

    fn touched(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_io_ms.store(ms, Ordering::Relaxed);
    }

    fn bytes_read(&self) {
        self.touched();
        let idle = matches!(*self.phase.lock().unwrap_or_else(PoisonError::into_inner), Phase::Idle { .. });
        if idle {
            self.update(|_| Phase::AwaitingHead { since: Instant::now() });
        }
    }

    /// A request head was read; the returned guard marks its end when dropped.
    pub fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.update(|phase| match phase {
            Phase::Busy { in_flight } => Phase::Busy { in_flight: in_flight + 1 },
            _ => Phase::Busy { in_flight: 1 },
        });
        RequestGuard(Arc::clone(self))
    }

    /// Resolves when the deadline of the phase in force has passed.
    pub async fn expired(&self, timeouts: Timeouts) -> Expiry {
        loop {
            let phase = *self.phase.lock().unwrap_or_else(PoisonError::into_inner);
            let deadline = match phase {
                Phase::AwaitingHead { since } => Some((since + timeouts.header_read, Expiry::HeaderRead)),
                Phase::Idle { since } => {
                    let last_io =
                        self.opened + Duration::from_millis(self.last_io_ms.load(Ordering::Relaxed));
                    Some((since.max(last_io) + timeouts.keep_alive_idle, Expiry::Idle))
                }
                Phase::Busy { .. } => None,
            };
            match deadline {
                Some((at, expiry)) if at <= Instant::now() => return expiry,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// Ends a request's busy phase when the service has answered (or was cancelled).
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.update(|phase| match phase {
            Phase::Busy { in_flight } if in_flight > 1 => Phase::Busy { in_flight: in_flight - 1 },
            _ => Phase::Idle { since: Instant::now() },
        });
    }
}

/// A stream that reports its reads and writes to an [`Activity`].
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            this.activity.touched();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            this.activity.touched();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts(header_ms: u64, idle_ms: u64) -> Timeouts {
        Timeouts {
            header_read: Duration::from_millis(header_ms),
            keep_alive_idle: Duration::from_millis(idle_ms),
        }
    }

    #[tokio::test]
    async fn a_fresh_connection_has_the_header_deadline() {
        let activity = Activity::new();
        assert_eq!(activity.expired(timeouts(20, 60_000)).await, Expiry::HeaderRead);
    }

    #[tokio::test]
    async fn after_a_request_the_idle_deadline_then_the_header_one_from_the_first_byte() {
        let activity = Activity::new();
        drop(activity.request_started());
        assert_eq!(activity.expired(timeouts(60_000, 20)).await, Expiry::Idle);

        let activity = Activity::new();
        drop(activity.request_started());
        activity.bytes_read();
        assert_eq!(activity.expired(timeouts(20, 60_000)).await, Expiry::HeaderRead);
    }

    #[tokio::test]
    async fn a_busy_connection_has_no_deadline_here() {
        let activity = Activity::new();
        let busy = activity.request_started();
        let watchdog = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move { activity.expired(timeouts(10, 10)).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!watchdog.is_finished(), "a request in flight is the request deadline's business");
        drop(busy);
        assert_eq!(watchdog.await.ok(), Some(Expiry::Idle));
    }
}
