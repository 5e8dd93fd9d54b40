//! The threads plugin guests run on: a runtime of their own, at a lower OS priority than the
//! host's, so guests get the CPU the host's own work (requests, upstream calls, the store)
//! leaves free, and a looping guest never delays another tenant's request handling.
//!
//! On an idle host a guest still gets a whole core: the priority only matters under contention.

use std::future::Future;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// The nice value of the plugin threads (the host's are 0): under contention the scheduler gives
/// them about a tenth of what a host thread gets.
#[cfg(target_os = "linux")]
const PLUGIN_NICE: libc::c_int = 10;

pub(crate) struct Executor {
    /// `Option` only so `Drop` can take it: a runtime must not be dropped inside async code.
    runtime: Option<Runtime>,
}

impl Executor {
    /// One worker thread per core.
    pub fn new() -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("plugin")
            .enable_all()
            .on_thread_start(lower_priority)
            .build()?;
        Ok(Self { runtime: Some(runtime) })
    }

    /// Runs `future` on the plugin threads. Dropping the returned future (the request went
    /// away) aborts the task, so it never outlives the slot its caller holds. `None` if the
    /// task panicked.
    pub async fn run<F>(&self, future: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = self.runtime.as_ref()?;
        let mut task = AbortOnDrop(runtime.spawn(future));
        (&mut task.0).await.ok()
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Lowers the calling thread's priority. Best effort: a failure leaves it at the host's.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `gettid` has no preconditions; `setpriority` only reads its arguments. On
        // Linux, `PRIO_PROCESS` with a thread id sets that one thread's nice value.
        let result = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, PLUGIN_NICE)
        };
        if result != 0 {
            tracing::debug!("could not lower the plugin thread's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Executor;

    #[tokio::test]
    async fn runs_on_its_own_threads_and_drops_inside_async_code() {
        let executor = Executor::new().expect("executor");
        let name = executor.run(async { std::thread::current().name().map(str::to_owned) }).await;
        assert_eq!(name.flatten().as_deref(), Some("plugin"));
        drop(executor);
    }
}
