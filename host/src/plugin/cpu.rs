//! Who gets the CPU when guests run long: a call that keeps running past `LONG_RUN_TICKS` epoch
//! ticks must hold one of a few shared turns for each further tick, taken in FIFO order.
//!
//! Short calls (nearly all: a Rust plugin answers in well under a millisecond, a Python one
//! instantiates in ~6 ms) never wait for a turn. Long ones (a loop, a heavy computation) share at
//! most `turns` cores among themselves, round robin, so however many a tenant starts within its
//! instance share, the other cores stay free for everyone else's requests and short calls.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Ticks (about a millisecond each) a call runs freely before it needs a turn per tick.
const LONG_RUN_TICKS: u32 = 10;

/// The turns long-running calls share: one per core they may occupy at once.
#[derive(Debug, Clone)]
pub(crate) struct CpuTurns {
    turns: Arc<Semaphore>,
}

impl CpuTurns {
    /// One core fewer than the machine has (at least one), so a core is always left for the
    /// host's own work and for short calls.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores.saturating_sub(1).max(1))
    }

    pub fn new(turns: usize) -> Self {
        Self { turns: Arc::new(Semaphore::new(turns.max(1))) }
    }

    /// The per-call side, kept in the call's store.
    pub fn meter(&self) -> CpuMeter {
        CpuMeter { turns: Some(self.turns.clone()), ticks: 0, held: Arc::default() }
    }
}

/// What one call has run so far, and the turn it holds while it runs long.
pub(crate) struct CpuMeter {
    turns: Option<Arc<Semaphore>>,
    ticks: u32,
    /// Filled by the yield future, emptied at the next tick: the turn is held while the guest
    /// runs its slice and given back before it waits for the next one.
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

type Yield = Pin<Box<dyn Future<Output = ()> + Send>>;

impl CpuMeter {
    /// A meter that never waits: for the benchmark's reused instance.
    pub fn unmetered() -> Self {
        Self { turns: None, ticks: 0, held: Arc::default() }
    }

    /// Called at every epoch tick while the guest runs: what to await before it goes on.
    pub fn on_tick(&mut self) -> Yield {
        self.ticks = self.ticks.saturating_add(1);
        let Some(turns) = self.turns.clone().filter(|_| self.ticks > LONG_RUN_TICKS) else {
            return Box::pin(tokio::task::yield_now());
        };
        let held = self.held.clone();
        Box::pin(async move {
            // Give the turn back first, then queue for the next: round robin among long runners.
            drop(held.lock().unwrap_or_else(PoisonError::into_inner).take());
            tokio::task::yield_now().await;
            if let Ok(turn) = turns.acquire_owned().await {
                *held.lock().unwrap_or_else(PoisonError::into_inner) = Some(turn);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_runners_hold_one_of_the_turns_short_ones_none() {
        let turns = CpuTurns::new(1);
        let mut long = turns.meter();
        for _ in 0..LONG_RUN_TICKS {
            long.on_tick().await;
        }
        assert_eq!(turns.turns.available_permits(), 1, "a short call takes no turn");
        long.on_tick().await;
        assert_eq!(turns.turns.available_permits(), 0, "a long runner holds the one turn");

        let mut other = turns.meter();
        other.ticks = LONG_RUN_TICKS;
        let waiting = tokio::spawn(async move { other.on_tick().await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a second long runner waits for the turn");
        long.on_tick().await;
        // `long` gave its turn back and queued behind `other`, which now runs.
        waiting.await.expect("the waiting runner got the turn");
        drop(long);
    }
}
