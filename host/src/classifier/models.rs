//! Each project's trained model: trained off the request path when its intents change, kept on
//! disk so a restart reads it instead of training, bounded in memory.
//!
//! A chat never waits for a retraining: the project's previous model answers until the new one
//! is ready. Only a project with no model at all (its first intents, or a model evicted from
//! memory) waits, briefly, for the first one; past that the caller uses its own stand-in. Edits
//! that come in bursts (a project file applied intent by intent) are coalesced: a retraining
//! starts after a quiet moment, and a newer set cancels a training of an older one between
//! epochs. Trainings run one at a time on a thread of lowered priority, so a tenant's big
//! project slows other tenants' trainings, never their chats.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use quick_cache::Weighter;
use quick_cache::sync::Cache;
use tokio::sync::{Semaphore, watch};

use super::codec;
use super::lexical::LexicalModel;
use super::training_set::{ModelDigest, TrainingSet};
use crate::metrics::Metrics;

/// A retraining starts once the intents have been quiet this long.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// Training sets past these are not trained (the stand-in matcher answers); the API refuses to
/// grow a project past them, so only a race can get here.
pub const MAX_TRAINING_INTENTS: usize = 1000;
pub const MAX_TRAINING_EXAMPLES: usize = 50_000;

/// A model ready to answer, and where it came from.
#[derive(Debug)]
pub struct Trained {
    pub digest: ModelDigest,
    pub model: LexicalModel,
    /// When it was trained (RFC 3339), kept in its file's modification time.
    pub trained_at: String,
    /// How long training took; `None` if read from disk.
    pub training_ms: Option<u64>,
    pub examples: usize,
}

/// What the API says of a project's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelState {
    /// No intents: nothing to train, every message goes to the fallback.
    Empty,
    /// The current intents' model answers.
    Trained,
    /// A model of the current intents is being made; an older model (if any) answers meanwhile.
    Training,
    /// More intents or examples than a model is trained for.
    TooLarge,
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<String, Arc<Trained>> for ByBytes {
    fn weight(&self, _project: &String, trained: &Arc<Trained>) -> u64 {
        trained.model.approx_bytes() as u64 + 256
    }
}

/// A training or load in flight for one project.
struct Job {
    digest: ModelDigest,
    cancelled: Arc<AtomicBool>,
    done: watch::Receiver<bool>,
}

pub struct Models {
    dir: Option<PathBuf>,
    memory: Cache<String, Arc<Trained>, ByBytes>,
    jobs: Mutex<HashMap<String, Job>>,
    trainings: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl Models {
    /// Models kept in `dir` (none on disk if `None`), about `memory_bytes` of them in memory.
    pub fn new(dir: Option<PathBuf>, memory_bytes: u64, metrics: Arc<Metrics>) -> Arc<Self> {
        if let Some(dir) = &dir
            && let Err(error) = std::fs::create_dir_all(dir)
        {
            tracing::warn!(dir = %dir.display(), %error, "intent models will not be kept on disk");
        }
        Arc::new(Self {
            dir,
            memory: Cache::with_weighter(1024, memory_bytes.max(1), ByBytes),
            jobs: Mutex::new(HashMap::new()),
            trainings: Arc::new(Semaphore::new(1)),
            metrics,
        })
    }

    /// The project's model in memory, whichever intents it was trained on.
    pub fn current(&self, project: &str) -> Option<Arc<Trained>> {
        self.memory.get(project)
    }

    /// The state of `project`'s model for the training set it has now.
    pub fn state(&self, project: &str, set: &TrainingSet, digest: &ModelDigest) -> ModelState {
        if set.is_empty() {
            ModelState::Empty
        } else if too_large(set) {
            ModelState::TooLarge
        } else if self.current(project).is_some_and(|trained| trained.digest == *digest) {
            ModelState::Trained
        } else {
            ModelState::Training
        }
    }

    /// Makes sure a model of `set` is (being) made for `project`. Cheap when it is: one map
    /// lookup. Returns a receiver that turns `true` when the job ends, if one is running.
    pub fn ensure(
        self: &Arc<Self>,
        project: &str,
        set: &Arc<TrainingSet>,
        digest: ModelDigest,
    ) -> Option<watch::Receiver<bool>> {
        let current = self.current(project);
        if current.as_ref().is_some_and(|trained| trained.digest == digest)
            || set.is_empty()
            || too_large(set)
        {
            return None;
        }
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(job) = jobs.get(project) {
            if job.digest == digest {
                return Some(job.done.clone());
            }
            job.cancelled.store(true, Ordering::Relaxed);
        }
        let cancelled = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = watch::channel(false);
        jobs.insert(project.to_owned(), Job { digest, cancelled: cancelled.clone(), done: done.clone() });
        drop(jobs);
        let models = self.clone();
        let project = project.to_owned();
        let set = set.clone();
        // A project that has a model keeps answering with it, so its retraining can wait for
        // the burst of edits to end; a project without one should get its first at once.
        let debounce = if current.is_some() { DEBOUNCE } else { Duration::ZERO };
        tokio::spawn(async move {
            tokio::time::sleep(debounce).await;
            if !cancelled.load(Ordering::Relaxed) {
                models.run(&project, set, digest, cancelled.clone()).await;
            }
            let mut jobs = models.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            if jobs.get(&project).is_some_and(|job| Arc::ptr_eq(&job.cancelled, &cancelled)) {
                jobs.remove(&project);
            }
            let _ = done_tx.send(true);
        });
        Some(done)
    }

    /// Reads the model from disk or trains it, then puts it in memory.
    async fn run(
        &self,
        project: &str,
        set: Arc<TrainingSet>,
        digest: ModelDigest,
        cancelled: Arc<AtomicBool>,
    ) {
        let path = self.path(project);
        let Ok(_permit) = self.trainings.clone().acquire_owned().await else { return };
        if cancelled.load(Ordering::Relaxed) {
            return;
        }
        let project_name = project.to_owned();
        let work = move || -> Option<Trained> {
            if let Some(trained) = path.as_ref().and_then(|path| read(path, &digest, set.examples())) {
                return Some(trained);
            }
            lower_priority();
            let started = Instant::now();
            let model = LexicalModel::train(&set, || !cancelled.load(Ordering::Relaxed))?;
            // Cancelled during the last epoch: a newer set or a deleted project; keep nothing.
            if cancelled.load(Ordering::Relaxed) {
                return None;
            }
            let training_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(
                project = %project_name,
                intents = set.intents().len(),
                examples = set.examples(),
                training_ms,
                "intent model trained"
            );
            // The file's time is the model's: read back after a restart, it says the same.
            let mut trained_at = std::time::SystemTime::now();
            if let Some(path) = &path {
                match write(path, &digest, &model) {
                    Ok(written) => trained_at = written,
                    Err(error) => {
                        tracing::warn!(project = %project_name, %error, "intent model not kept on disk")
                    }
                }
            }
            Some(Trained {
                digest,
                model,
                trained_at: rfc3339(trained_at),
                training_ms: Some(training_ms),
                examples: set.examples(),
            })
        };
        // A thread of its own: its priority is lowered for the training, which must not carry
        // over to a pooled thread that later serves something else.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new().name("intent-training".into()).spawn(move || {
            let _ = tx.send(work());
        });
        if spawned.is_err() {
            tracing::warn!(%project, "no thread for intent training");
            return;
        }
        if let Ok(Some(trained)) = rx.await
            && !cancelled_now(&self.jobs, project, &trained.digest)
        {
            self.metrics.record_intent_model(trained.training_ms.map(Duration::from_millis));
            self.memory.insert(project.to_owned(), Arc::new(trained));
        }
    }

    fn path(&self, project: &str) -> Option<PathBuf> {
        let safe = !project.is_empty()
            && project.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        Some(self.dir.as_ref()?.join(format!("{}.model", if safe { project } else { return None })))
    }

    /// Forgets a deleted project's model, in memory and on disk, and stops a training of it so
    /// the model does not come back when it ends.
    pub fn forget(&self, project: &str) {
        if let Some(job) = self.jobs.lock().unwrap_or_else(PoisonError::into_inner).remove(project) {
            job.cancelled.store(true, Ordering::Relaxed);
        }
        self.memory.remove(project);
        if let Some(path) = self.path(project) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether `project`'s job for `digest` was forgotten while it ran (a read from disk is not
/// checked against its cancel flag, so the registry's word is asked here).
fn cancelled_now(jobs: &Mutex<HashMap<String, Job>>, project: &str, digest: &ModelDigest) -> bool {
    let jobs = jobs.lock().unwrap_or_else(PoisonError::into_inner);
    !jobs.get(project).is_some_and(|job| job.digest == *digest && !job.cancelled.load(Ordering::Relaxed))
}

fn too_large(set: &TrainingSet) -> bool {
    set.intents().len() > MAX_TRAINING_INTENTS || set.examples() > MAX_TRAINING_EXAMPLES
}

fn read(path: &std::path::Path, digest: &ModelDigest, examples: usize) -> Option<Trained> {
    let bytes = std::fs::read(path).ok()?;
    let model = match codec::decode(&bytes, digest) {
        Ok(model) => model,
        Err(codec::DecodeError::OtherDigest) => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "stored intent model unreadable; training again");
            return None;
        }
    };
    let trained_at =
        std::fs::metadata(path).and_then(|meta| meta.modified()).map(rfc3339).unwrap_or_default();
    Some(Trained { digest: *digest, model, trained_at, training_ms: None, examples })
}

fn rfc3339(moment: std::time::SystemTime) -> String {
    let at: time::OffsetDateTime = moment.into();
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Writes through a temporary file and a rename, so a crash never leaves half a model.
fn write(
    path: &std::path::Path,
    digest: &ModelDigest,
    model: &LexicalModel,
) -> std::io::Result<std::time::SystemTime> {
    let temporary = path.with_extension("model.tmp");
    std::fs::write(&temporary, codec::encode(digest, model))?;
    std::fs::rename(&temporary, path)?;
    std::fs::metadata(path)?.modified()
}

/// Nice 10 for this thread (Linux schedules threads on their own), so training yields the
/// cores to requests.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread's own id; failing only leaves the
    // priority as it is.
    unsafe {
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, 10);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn set(intents: &[(&str, &[&str])]) -> Arc<TrainingSet> {
        Arc::new(TrainingSet::new(
            intents
                .iter()
                .map(|(id, examples)| ((*id).to_owned(), examples.iter().map(|e| (*e).to_owned()).collect()))
                .collect(),
        ))
    }

    fn hours() -> Arc<TrainingSet> {
        set(&[("hours", &["when do you open", "opening hours"]), ("greet", &["hello", "hi there"])])
    }

    async fn trained(models: &Arc<Models>, project: &str, set: &Arc<TrainingSet>) -> Arc<Trained> {
        if let Some(mut done) = models.ensure(project, set, set.digest()) {
            done.wait_for(|done| *done).await.unwrap();
        }
        let current = models.current(project).unwrap();
        assert_eq!(current.digest, set.digest());
        current
    }

    #[tokio::test]
    async fn the_old_model_answers_until_the_new_one_is_ready() {
        let models = Models::new(None, 1 << 30, Arc::default());
        let first = trained(&models, "p", &hours()).await;
        assert!(first.training_ms.is_some());
        let edited =
            set(&[("hours", &["when do you open", "opening hours"]), ("bye", &["goodbye", "see you"])]);
        let mut done = models.ensure("p", &edited, edited.digest()).unwrap();
        // The retraining waits for the edits to settle: the first model still answers.
        assert!(Arc::ptr_eq(&models.current("p").unwrap(), &first));
        assert_eq!(models.state("p", &edited, &edited.digest()), ModelState::Training);
        done.wait_for(|done| *done).await.unwrap();
        assert_eq!(models.current("p").unwrap().digest, edited.digest());
        assert_eq!(models.state("p", &edited, &edited.digest()), ModelState::Trained);
        // Asking again for the model it has starts nothing.
        assert!(models.ensure("p", &edited, edited.digest()).is_none());
    }

    #[tokio::test]
    async fn a_newer_set_replaces_a_waiting_one() {
        let models = Models::new(None, 1 << 30, Arc::default());
        trained(&models, "p", &hours()).await;
        let a = set(&[("a", &["alpha"])]);
        let b = set(&[("b", &["beta"])]);
        let mut first = models.ensure("p", &a, a.digest()).unwrap();
        let mut second = models.ensure("p", &b, b.digest()).unwrap();
        first.wait_for(|done| *done).await.unwrap();
        second.wait_for(|done| *done).await.unwrap();
        assert_eq!(models.current("p").unwrap().digest, b.digest());
    }

    #[tokio::test]
    async fn a_restart_reads_the_model_from_disk_and_a_bad_file_is_trained_again() {
        let dir = tempfile::tempdir().unwrap();
        let set = hours();
        let first =
            trained(&Models::new(Some(dir.path().to_owned()), 1 << 30, Arc::default()), "p", &set).await;
        let again =
            trained(&Models::new(Some(dir.path().to_owned()), 1 << 30, Arc::default()), "p", &set).await;
        assert_eq!(again.training_ms, None, "read back, not trained");
        assert_eq!(again.model, first.model);

        std::fs::write(dir.path().join("p.model"), b"FBHMODEL garbage").unwrap();
        let retrained =
            trained(&Models::new(Some(dir.path().to_owned()), 1 << 30, Arc::default()), "p", &set).await;
        assert!(retrained.training_ms.is_some());
        assert_eq!(retrained.model, first.model, "training is deterministic");
        // And the good file is back.
        let read =
            trained(&Models::new(Some(dir.path().to_owned()), 1 << 30, Arc::default()), "p", &set).await;
        assert_eq!(read.training_ms, None);
    }

    #[tokio::test]
    async fn a_forgotten_project_keeps_no_model() {
        let dir = tempfile::tempdir().unwrap();
        let models = Models::new(Some(dir.path().to_owned()), 1 << 30, Arc::default());
        let set = hours();
        let mut done = models.ensure("p", &set, set.digest()).unwrap();
        models.forget("p");
        done.wait_for(|done| *done).await.unwrap();
        assert!(models.current("p").is_none());
        assert!(!dir.path().join("p.model").exists());
    }

    #[tokio::test]
    async fn empty_and_oversized_sets_are_not_trained() {
        let models = Models::new(None, 1 << 30, Arc::default());
        let empty = set(&[]);
        assert!(models.ensure("p", &empty, empty.digest()).is_none());
        assert_eq!(models.state("p", &empty, &empty.digest()), ModelState::Empty);
        let many: Vec<(String, Vec<String>)> =
            (0..=MAX_TRAINING_INTENTS).map(|i| (format!("i{i}"), vec!["x".to_owned()])).collect();
        let many = Arc::new(TrainingSet::new(many));
        assert!(models.ensure("p", &many, many.digest()).is_none());
        assert_eq!(models.state("p", &many, &many.digest()), ModelState::TooLarge);
    }
}
