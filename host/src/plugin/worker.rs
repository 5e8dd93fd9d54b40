//! The compile worker: a child process (`fallback-host plugin compile-worker`) that compiles
//! one component, so compilation is really bounded. The kernel caps its memory
//! (`RLIMIT_DATA`) and its CPU time (`RLIMIT_CPU`, the compile timeout), the parent kills it
//! at a wall-clock backstop, and whatever it does (abort, crash, exhaust memory) the host's
//! own memory and threads are untouched.
//!
//! Time is bounded in CPU seconds rather than wall seconds so that a legitimate compile on a
//! busy machine is not refused for the machine's load: an 18 MB Python component needed 73 s
//! of wall time at a load average of 8 on two cores, against 14 s on a quiet one. The wall
//! backstop (`WALL_FACTOR` times the timeout) still ends a worker that waits instead of
//! computing.
//!
//! Protocol: the worker builds the compiler of its tier (`Tier::ENV`, set by the parent; Cranelift
//! without it), then reads the wasm on stdin; on success it exits 0 with the serialized artifact
//! on stdout; otherwise with an exit code naming the failure and its message on stderr. One
//! process per job: `spare` starts the next one ahead of time.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::PluginError;
use super::compile::{CompileBounds, classify, is_out_of_memory};
use super::engine::Tier;

/// Exit codes of the worker, beside 0.
const EXIT_INVALID: u8 = 2;
const EXIT_COMPILE: u8 = 3;
const EXIT_MEMORY: u8 = 4;
const EXIT_IO: u8 = 5;

/// How much of the worker's stderr is kept for the error message.
const STDERR_BYTES: u64 = 16 * 1024;

/// The wall-clock backstop, as a multiple of the compile timeout (which bounds CPU time).
const WALL_FACTOR: u32 = 3;

/// The longest an upload can take to be compiled or refused: a wait for a compile turn (at most
/// the timeout) and two workers' wall-clock backstops (the baseline compile, then the optimized
/// one when the baseline failed for a reason other than time). The API gives uploads this long.
pub fn upload_wall_bound(compile_timeout: Duration) -> Duration {
    compile_timeout.saturating_mul(2 * WALL_FACTOR + 1)
}

/// How often the parent checks whether a worker that closed its output has exited.
const POLL: Duration = Duration::from_micros(200);

/// Runs one job on `child`, a worker from `spawn` (started just now, or earlier and idle since:
/// its stdin is the job). Blocking: call it from `spawn_blocking`. The wall-clock backstop
/// counts from here, so a worker started ahead of its job gets the whole of it.
pub(super) fn compile(mut child: Child, wasm: Bytes, bounds: &CompileBounds) -> Result<Vec<u8>, PluginError> {
    let deadline = Instant::now() + bounds.timeout.saturating_mul(WALL_FACTOR);
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        kill(&mut child);
        return Err(PluginError::CompileWorker("the worker's pipes were not set up".into()));
    };
    // Each pipe has its own thread so a worker that fills one while the parent writes or
    // reads another cannot deadlock them.
    let writer = thread::spawn(move || {
        // A worker that dies early closes its stdin: the exit status says why.
        let _ = stdin.write_all(&wasm);
    });
    // The artifact can be no larger than what the worker may allocate.
    let artifact_cap = bounds.memory_bytes;
    let (artifact_tx, artifact_rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut artifact = Vec::new();
        let read = stdout.take(artifact_cap.saturating_add(1)).read_to_end(&mut artifact);
        // The receiver only goes once it stopped waiting: nothing is lost then.
        let _ = artifact_tx.send(read.map(|_| artifact));
    });
    let errors = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.take(STDERR_BYTES).read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });

    // The end of its output is the sign the worker is done: no polling while it compiles.
    let artifact = artifact_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    let status = wait(&mut child, deadline);
    let _ = writer.join();
    let _ = reader.join();
    let stderr = errors.join().unwrap_or_default();
    let Some(status) = status? else {
        return Err(PluginError::CompileTimeout { limit: bounds.timeout });
    };
    let artifact = match artifact {
        Ok(Ok(artifact)) => artifact,
        Ok(Err(e)) => return Err(PluginError::CompileWorker(format!("reading its output: {e}"))),
        Err(_) => return Err(PluginError::CompileWorker("the output reader ended without an answer".into())),
    };
    outcome(status, artifact, stderr.trim(), bounds)
}

/// Starts a worker: it builds the compiler of `tier`, then waits for its job on stdin.
pub(super) fn spawn(worker: &Path, bounds: &CompileBounds, tier: Tier) -> Result<Child, PluginError> {
    let mut command = std::process::Command::new(worker);
    command
        .args(["plugin", "compile-worker"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "error")
        .env(Tier::ENV, tier.as_str());
    limit_child(&mut command, bounds);
    command.spawn().map_err(|e| PluginError::CompileWorker(format!("cannot start {}: {e}", worker.display())))
}

/// Caps the child's memory and CPU time, disables its core dumps and, on Linux, ties its
/// life to this process so a host that dies does not leave compilers running.
#[cfg(unix)]
fn limit_child(command: &mut std::process::Command, bounds: &CompileBounds) {
    use std::os::unix::process::CommandExt;
    let memory = libc::rlim_t::try_from(bounds.memory_bytes).unwrap_or(libc::RLIM_INFINITY);
    // Whole seconds, rounded up: SIGXCPU at the timeout, SIGKILL a second later.
    let seconds = bounds.timeout.as_secs() + u64::from(bounds.timeout.subsec_nanos() > 0);
    let cpu_soft = libc::rlim_t::try_from(seconds.max(1)).unwrap_or(libc::RLIM_INFINITY);
    let pre_exec = move || {
        let data = libc::rlimit { rlim_cur: memory, rlim_max: memory };
        let cpu = libc::rlimit { rlim_cur: cpu_soft, rlim_max: cpu_soft.saturating_add(1) };
        let core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: setrlimit and prctl are async-signal-safe and only read the structs above,
        // which live on this stack frame for the duration of each call.
        unsafe {
            if libc::setrlimit(libc::RLIMIT_DATA, &data) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::setrlimit(libc::RLIMIT_CPU, &cpu) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::setrlimit(libc::RLIMIT_CORE, &core);
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
        Ok(())
    };
    // SAFETY: the closure only makes async-signal-safe calls and allocates nothing.
    unsafe {
        command.pre_exec(pre_exec);
    }
}

#[cfg(not(unix))]
fn limit_child(_command: &mut std::process::Command, _bounds: &CompileBounds) {}

/// Lowers an idle worker's CPU priority before its job, for compiles nobody waits for (the
/// optimized code of a plugin already answering on its baseline code): uploads, chats and their
/// plugin calls come first. Its compiler threads start with the job, and inherit the priority.
#[cfg(unix)]
pub(super) fn lower_priority(child: &Child) {
    const NICE: libc::c_int = 10;
    // SAFETY: a plain system call on our own child's id; failing only leaves the priority as is.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, child.id(), NICE);
    }
}

#[cfg(not(unix))]
pub(super) fn lower_priority(_child: &Child) {}

/// The worker's exit status, or `None` once it was killed at the deadline.
fn wait(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>, PluginError> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Some(status)),
            Ok(None) if Instant::now() >= deadline => {
                kill(child);
                return Ok(None);
            }
            Ok(None) => thread::sleep(POLL),
            Err(e) => {
                kill(child);
                return Err(PluginError::CompileWorker(format!("waiting for it: {e}")));
            }
        }
    }
}

pub(super) fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn outcome(
    status: ExitStatus,
    artifact: Vec<u8>,
    stderr: &str,
    bounds: &CompileBounds,
) -> Result<Vec<u8>, PluginError> {
    let memory = || PluginError::CompileMemory { limit: bounds.memory_bytes };
    if status.success() {
        if artifact.len() as u64 > bounds.memory_bytes {
            return Err(memory());
        }
        return Ok(artifact);
    }
    let message = || anyhow::anyhow!("{}", stderr.lines().last().unwrap_or("no message"));
    match status.code().and_then(|code| u8::try_from(code).ok()) {
        Some(EXIT_INVALID) => Err(PluginError::InvalidComponent(message())),
        Some(EXIT_COMPILE) => Err(PluginError::Compile(message())),
        Some(EXIT_MEMORY) => Err(memory()),
        // The kernel ends a worker past its CPU time with SIGXCPU (then SIGKILL).
        _ if cpu_exhausted(status) => Err(PluginError::CompileTimeout { limit: bounds.timeout }),
        // An abort on a failed allocation (Rust's `handle_alloc_error`) is the memory bound.
        _ if is_out_of_memory(stderr) => Err(memory()),
        _ => Err(PluginError::CompileWorker(format!("{status}: {}", last_line(stderr)))),
    }
}

#[cfg(unix)]
fn cpu_exhausted(status: ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(libc::SIGXCPU)
}

#[cfg(not(unix))]
fn cpu_exhausted(_status: ExitStatus) -> bool {
    false
}

fn last_line(text: &str) -> &str {
    text.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("no message")
}

/// The worker's side: builds its compiler first (a worker is started ahead of its job, so this
/// is off the upload's path), then reads wasm from stdin and writes the artifact to stdout.
pub fn worker_main() -> ExitCode {
    let engine = match super::engine::compile_engine(Tier::from_env()) {
        Ok(engine) => engine,
        Err(e) => {
            let text = format!("{e:#}").replace('\n', " ");
            eprintln!("{text}");
            return ExitCode::from(if is_out_of_memory(&text) { EXIT_MEMORY } else { EXIT_COMPILE });
        }
    };
    let mut wasm = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut wasm) {
        eprintln!("reading the component: {e}");
        return ExitCode::from(EXIT_IO);
    }
    match engine.precompile_component(&wasm) {
        Ok(artifact) => {
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(&artifact).and_then(|()| stdout.flush()) {
                eprintln!("writing the artifact: {e}");
                return ExitCode::from(EXIT_IO);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let error = anyhow::Error::from(e);
            eprintln!("{}", format!("{error:#}").replace('\n', " "));
            match classify(error, 0) {
                PluginError::InvalidComponent(_) => ExitCode::from(EXIT_INVALID),
                PluginError::CompileMemory { .. } => ExitCode::from(EXIT_MEMORY),
                _ => ExitCode::from(EXIT_COMPILE),
            }
        }
    }
}
