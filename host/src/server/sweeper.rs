//! The conversation sweeper: deletes conversations whose last turn is older than the retention,
//! in small batches so it never holds the SQLite writer for long. Started with the server and
//! stopped with it.

use std::time::{Duration, SystemTime};

use crate::store::{SharedStore, StoreError};

/// Conversations deleted per transaction: with at most 100 turns each, a batch is at most a few
/// thousand row deletes, a few milliseconds of the writer.
pub const SWEEP_BATCH: usize = 64;

/// Runs [`sweep_once`] now and then every `interval`, until the task is aborted.
pub async fn run(store: SharedStore, retention: Duration, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match sweep_once(&store, retention, SystemTime::now()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "expired conversations deleted"),
            Err(error) => tracing::warn!(error = format!("{error:#}"), "conversation sweep failed"),
        }
    }
}

/// Deletes every conversation whose last turn is more than `retention` before `now`, batch by
/// batch; answers how many.
pub async fn sweep_once(
    store: &SharedStore,
    retention: Duration,
    now: SystemTime,
) -> Result<usize, StoreError> {
    let cutoff = now.checked_sub(retention).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut deleted = 0;
    loop {
        let batch = store.expire_conversations(cutoff, SWEEP_BATCH).await?;
        deleted += batch;
        if batch < SWEEP_BATCH {
            return Ok(deleted);
        }
        // Let the chats' own writes in between batches.
        tokio::task::yield_now().await;
    }
}
