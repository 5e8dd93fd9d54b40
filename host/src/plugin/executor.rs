//! The threads plugin guests run on: a runtime of their own, at a lower OS priority than the
//! host's, so guests get the CPU the host's own work (requests, upstream calls, the store)
//! leaves free, and a looping guest never delays another tenant's request handling.
//!
//! On an idle host a guest still gets a whole core: the priority only matters under contention.
//!
//! A call's first slice runs on the caller's thread, though: a typical call (a Rust plugin:
//! instantiate, `extract`, `format`) finishes in microseconds, less than handing it to another
//! thread and back costs (two wake-ups and two context switches, measured at about 40% of a
//! json-reply call; far more while the plugin threads wait behind other work at their lower
//! priority). Only a call still running at its first yield point moves to the plugin threads;
//! `call::INLINE_FUEL` bounds how much guest code that first slice can run.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::Poll;

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

    /// Polls `future` (boxed by the caller, so a large state is never moved) once here and, if it is not done by then (it yielded: a fuel interval, an
    /// epoch tick, a host call that waits), runs the rest on the plugin threads. Dropping the
    /// returned future (the request went away) aborts the task, so it never outlives the slot
    /// its caller holds. `None` if the future panicked.
    pub async fn run<F>(&self, mut future: Pin<Box<F>>) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // A panic in the first slice is reported as one on the plugin threads would be.
        let first = std::future::poll_fn(|cx| {
            Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))))
        })
        .await;
        match first {
            Ok(Poll::Ready(output)) => return Some(output),
            Ok(Poll::Pending) => {}
            Err(_) => return None,
        }
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

    fn thread_name() -> Option<String> {
        std::thread::current().name().map(str::to_owned)
    }

    #[tokio::test]
    async fn a_future_that_yields_moves_to_its_own_threads_and_drops_inside_async_code() {
        let executor = Executor::new().expect("executor");
        let name = executor
            .run(Box::pin(async {
                tokio::task::yield_now().await;
                thread_name()
            }))
            .await;
        assert_eq!(name.flatten().as_deref(), Some("plugin"));
        drop(executor);
    }

    #[tokio::test]
    async fn a_future_done_in_its_first_poll_never_leaves_the_caller() {
        let executor = Executor::new().expect("executor");
        let caller = thread_name();
        assert_eq!(executor.run(Box::pin(async { thread_name() })).await, Some(caller));
    }

    #[tokio::test]
    async fn a_panic_in_the_first_slice_or_later_is_none() {
        let executor = Executor::new().expect("executor");
        assert_eq!(executor.run(Box::pin(async { panic!("first slice") })).await, None::<()>);
        let later = async {
            tokio::task::yield_now().await;
            panic!("on the plugin threads")
        };
        assert_eq!(executor.run(Box::pin(later)).await, None::<()>);
    }
}
