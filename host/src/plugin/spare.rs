//! A compile worker started ahead of its job, so an upload does not wait for the host to fork,
//! the worker to exec and its compiler to be built: it finds one idle on its stdin.
//!
//! Still one process per job, each started under the job's rlimits: taking the spare asks for
//! the next, which a thread of its own starts off every request's path. That thread lives as long
//! as the runtime because the kernel's parent-death signal (`PR_SET_PDEATHSIG`) follows the
//! thread that forked the worker, not the process: a worker forked by a short-lived thread (a
//! blocking-pool thread that retires when idle) would be killed with it.

use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;

use super::PluginError;
use super::compile::CompileBounds;
use super::engine::Tier;
use super::worker;

/// One spare per tier: a worker builds the compiler of its tier before its job arrives.
pub(super) struct SpareWorker {
    path: PathBuf,
    bounds: CompileBounds,
    tier: Tier,
    idle: Arc<Mutex<Option<Child>>>,
    /// Asks the starter thread for a spare; dropping it ends the thread.
    wanted: Sender<()>,
}

impl SpareWorker {
    /// Starts the starter thread, which starts the first spare at once.
    pub fn new(path: PathBuf, bounds: CompileBounds, tier: Tier) -> Result<Self, PluginError> {
        let idle: Arc<Mutex<Option<Child>>> = Arc::default();
        let (wanted, requests) = mpsc::channel::<()>();
        let (thread_path, thread_bounds, thread_idle) = (path.clone(), bounds.clone(), idle.clone());
        thread::Builder::new()
            .name(format!("spare-{}", tier.as_str()))
            .spawn(move || {
                for () in requests {
                    if lock(&thread_idle).is_some() {
                        continue;
                    }
                    // Started outside the lock, so a job never waits for a fork.
                    match worker::spawn(&thread_path, &thread_bounds, tier) {
                        Ok(child) => {
                            if let Some(mut extra) = lock(&thread_idle).replace(child) {
                                worker::kill(&mut extra);
                            }
                        }
                        Err(error) => tracing::warn!(%error, "cannot start a spare compile worker"),
                    }
                }
                if let Some(mut child) = lock(&thread_idle).take() {
                    worker::kill(&mut child);
                }
            })
            .map_err(|e| PluginError::Engine(e.into()))?;
        let spare = Self { path, bounds, tier, idle, wanted };
        spare.want();
        Ok(spare)
    }

    /// A worker waiting for its job: the spare if it is still alive, else one started now.
    /// Either way the next spare is asked for.
    pub fn take(&self) -> Result<Child, PluginError> {
        let spare = lock(&self.idle).take();
        self.want();
        match spare {
            Some(mut child) => match child.try_wait() {
                Ok(None) => Ok(child),
                // It died idle (killed, or it could not build its compiler): start one for this
                // job, whose outcome then says why.
                Ok(Some(_)) | Err(_) => {
                    worker::kill(&mut child);
                    worker::spawn(&self.path, &self.bounds, self.tier)
                }
            },
            None => worker::spawn(&self.path, &self.bounds, self.tier),
        }
    }

    fn want(&self) {
        // The thread only ends once this sender is gone.
        let _ = self.wanted.send(());
    }
}

impl Drop for SpareWorker {
    fn drop(&mut self) {
        if let Some(mut child) = lock(&self.idle).take() {
            worker::kill(&mut child);
        }
    }
}

fn lock(idle: &Mutex<Option<Child>>) -> MutexGuard<'_, Option<Child>> {
    // A panic while holding the lock leaves a plain `Option` behind: still usable.
    idle.lock().unwrap_or_else(PoisonError::into_inner)
}
