//! Cross-node invalidation: one connection per node `LISTEN`s on the channel every write
//! `NOTIFY`s with its project, and republishes each notification to the node's
//! [`Changes`]. When the connection drops, nothing cached can be trusted: the node forgets
//! everything, reconnects with backoff, and forgets everything once more when listening again
//! (changes made while it was away were never told).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::super::changes::{Change, Changes};

/// The channel writes notify, with the changed project's id as the payload.
pub(super) const CHANNEL: &str = "fallback_changes";
/// How often the listening connection is checked: a half-open TCP connection tells nothing.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a heartbeat may take before the connection counts as gone.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Listens until the task is aborted (the store dropped), reconnecting for ever.
pub(super) async fn run(config: tokio_postgres::Config, tls: MakeRustlsConnect, changes: Arc<Changes>) {
    let mut backoff = BACKOFF_MIN;
    loop {
        match listen(&config, tls.clone(), &changes).await {
            Ok(()) => backoff = BACKOFF_MIN,
            Err(error) => {
                tracing::warn!(%error, "store change listener lost its connection; reconnecting");
            }
        }
        changes.publish(&Change::Everything);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection's life: subscribe, then forward notifications until it fails. `Ok` when it
/// had been listening (the backoff starts over), `Err` when it never got that far.
async fn listen(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
    changes: &Changes,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tls).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    // The connection makes progress only while `messages` is polled, including for LISTEN itself.
    let sql = format!("LISTEN {CHANNEL}");
    let subscribe = client.batch_execute(&sql);
    tokio::pin!(subscribe);
    loop {
        tokio::select! {
            done = &mut subscribe => { done?; break; }
            message = messages.next() => match message {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    }
    // Anything written before LISTEN took effect may have been cached already.
    changes.publish(&Change::Everything);
    tracing::debug!("store change listener subscribed");
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = messages.next() => if !forward(message, changes) { return Ok(()); },
            _ = heartbeat.tick() => {
                let check = client.simple_query("");
                tokio::pin!(check);
                let deadline = tokio::time::sleep(HEARTBEAT_TIMEOUT);
                tokio::pin!(deadline);
                // Keep draining notifications while the heartbeat is in flight.
                loop {
                    tokio::select! {
                        result = &mut check => {
                            if let Err(error) = result {
                                tracing::warn!(%error, "store change listener heartbeat failed");
                                return Ok(());
                            }
                            break;
                        }
                        message = messages.next() => if !forward(message, changes) { return Ok(()); },
                        () = &mut deadline => {
                            tracing::warn!("store change listener heartbeat timed out");
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

/// Republishes a notification to this node; `false` once the connection failed or ended.
fn forward(message: Option<Result<AsyncMessage, tokio_postgres::Error>>, changes: &Changes) -> bool {
    match message {
        Some(Ok(AsyncMessage::Notification(notification))) => {
            changes.publish(&Change::Project(notification.payload().to_owned()));
            true
        }
        Some(Ok(_)) => true,
        Some(Err(error)) => {
            tracing::warn!(%error, "store change listener failed");
            false
        }
        None => false,
    }
}
