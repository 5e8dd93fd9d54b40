//! A real `fallback-host serve` process, for tests about the process itself: a `kill -9` in
//! the middle of work, a restart on the same data dir.
//!
//! `TestHost` runs the server inside the test's runtime, which cannot be killed abruptly; this
//! is the operator's binary, started as a child and stopped with SIGKILL when asked (or dropped).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

/// A running `serve` child and the address it said it listens on.
pub struct ServeProcess {
    child: Child,
    pub addr: SocketAddr,
}

impl ServeProcess {
    /// Starts `exe serve --listen 127.0.0.1:0 --data-dir DATA_DIR` with `envs` added to its
    /// environment, and waits until its log says where it listens. The CLI binary's path comes
    /// from the caller (`env!("CARGO_BIN_EXE_fallback-host-cli")`): only integration tests know it.
    pub fn start(exe: &Path, data_dir: &Path, envs: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut command = Command::new(exe);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().with_context(|| format!("starting {}", exe.display()))?;
        match listening_address(&mut child) {
            Ok(addr) => Ok(Self { child, addr }),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(error)
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash or the OOM killer would: no drain, no shutdown hook, nothing flushed.
    /// Returns once the process is gone.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().context("SIGKILL")?;
        self.child.wait().context("waiting for the killed process")?;
        Ok(())
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the child's log up to the `fallback host listening address=…` line, then keeps draining
/// it on a thread so the server never blocks on a full pipe.
fn listening_address(child: &mut Child) -> anyhow::Result<SocketAddr> {
    let stderr = child.stderr.take().context("stderr piped")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let Some(line) = lines.next() else {
            bail!("serve ended before it listened:\n{}", seen.join("\n"));
        };
        let line = line.context("reading serve's log")?;
        if let Some(at) = line.find("address=") {
            let text = line[at + "address=".len()..].split_whitespace().next().unwrap_or_default();
            break text.parse().with_context(|| format!("listening address in {line:?}"))?;
        }
        seen.push(line);
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(addr)
}
