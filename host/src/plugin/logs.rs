//! A call's log: `host.log` lines, stdout and stderr in the order written, under one byte budget
//! and one line count, both checked at every line so a flood ends at the first line past either.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use super::limits::ITEM_OVERHEAD_BYTES;
use crate::model::{LogLevel, LogLine};

/// Raised as a trap from `host.log` or a stdout/stderr write once a budget is spent, so the
/// call fails with `PluginError::LogTooLarge` or `TooManyLogLines` instead of the guest seeing a
/// write error it could ignore.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogBudgetExceeded {
    #[error("plugin logs exceeded the {limit}-byte limit")]
    Bytes { limit: usize },
    #[error("plugin logged more than {limit} lines")]
    Lines { limit: usize },
}

/// How Rust's panic messages begin, whoever prints them.
const PANIC_MARKER: &str = "panicked at";

/// Shared by the store (for `host.log`) and the guest's stdout/stderr streams.
#[derive(Clone)]
pub(crate) struct CallLog(Arc<Mutex<LogBuffer>>);

struct LogBuffer {
    lines: Vec<LogLine>,
    used: usize,
    limit: usize,
    max_lines: usize,
    /// Bytes after the last newline, per stream.
    stdout_tail: Vec<u8>,
    stderr_tail: Vec<u8>,
    /// Everything written to stderr, to recover a guest's panic message.
    stderr: String,
    /// The first logged line that reports a panic (the guest SDK logs panics via `host.log`).
    logged_panic: Option<String>,
}

#[derive(Clone, Copy)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl CallLog {
    /// `limit` bytes (each line also costing `ITEM_OVERHEAD_BYTES`) and `max_lines` lines.
    pub fn new(limit: usize, max_lines: usize) -> Self {
        CallLog(Arc::new(Mutex::new(LogBuffer {
            lines: Vec::new(),
            used: 0,
            limit,
            max_lines,
            stdout_tail: Vec::new(),
            stderr_tail: Vec::new(),
            stderr: String::new(),
            logged_panic: None,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, LogBuffer> {
        // A panic while holding the lock leaves plain data behind: still safe to read.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn log(&self, level: LogLevel, message: String) -> Result<(), LogBudgetExceeded> {
        let mut buf = self.lock();
        buf.new_line()?;
        buf.spend(message.len())?;
        if buf.logged_panic.is_none() && message.contains(PANIC_MARKER) {
            buf.logged_panic = Some(message.clone());
        }
        buf.lines.push(LogLine { level, message });
        Ok(())
    }

    /// Each line is charged as its newline is met (count, overhead and bytes), so one write of
    /// 64 KiB of bare newlines stops at the line limit rather than making 65,536 lines first.
    pub fn write(&self, stream: Stream, bytes: &[u8]) -> Result<(), LogBudgetExceeded> {
        let mut buf = self.lock();
        let buf = &mut *buf;
        let level = match stream {
            Stream::Stdout => LogLevel::Info,
            Stream::Stderr => LogLevel::Warn,
        };
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            buf.new_line()?;
            buf.spend(end + 1)?;
            buf.keep_stderr(stream, &rest[..=end]);
            let tail = buf.tail(stream);
            tail.extend_from_slice(&rest[..end]);
            let line = std::mem::take(tail);
            rest = &rest[end + 1..];
            let message = String::from_utf8_lossy(&line).trim_end_matches('\r').to_owned();
            buf.lines.push(LogLine { level, message });
        }
        buf.spend(rest.len())?;
        buf.keep_stderr(stream, rest);
        buf.tail(stream).extend_from_slice(rest);
        Ok(())
    }

    /// The lines logged so far, with any unterminated stdout/stderr line last.
    pub fn take_lines(&self) -> Vec<LogLine> {
        let mut buf = self.lock();
        let buf = &mut *buf;
        for (tail, level) in [(&mut buf.stdout_tail, LogLevel::Info), (&mut buf.stderr_tail, LogLevel::Warn)]
        {
            // Its bytes were charged as written; past the line count it is dropped, not added.
            if !tail.is_empty() && buf.lines.len() < buf.max_lines {
                let message = String::from_utf8_lossy(tail).into_owned();
                buf.lines.push(LogLine { level, message });
            }
            tail.clear();
        }
        std::mem::take(&mut buf.lines)
    }

    /// Forgets every line and refills the budget (for an instance called more than once).
    pub fn clear(&self) {
        let mut buf = self.lock();
        buf.lines.clear();
        buf.used = 0;
        buf.stdout_tail.clear();
        buf.stderr_tail.clear();
        buf.stderr.clear();
        buf.logged_panic = None;
    }

    /// A Rust guest's panic message ("panicked at src/lib.rs:1:2: why"), if it logged one or
    /// printed one to stderr (std's default panic hook).
    pub fn panic_message(&self) -> Option<String> {
        let buf = self.lock();
        let text = buf.logged_panic.as_deref().unwrap_or(&buf.stderr);
        let text = &text[text.find(PANIC_MARKER)?..];
        let text = text.split("\nnote:").next().unwrap_or(text);
        Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    pub fn stream(&self, stream: Stream) -> GuestOutput {
        GuestOutput { log: self.clone(), stream }
    }
}

impl LogBuffer {
    fn spend(&mut self, bytes: usize) -> Result<(), LogBudgetExceeded> {
        let used = self.used.saturating_add(bytes);
        if used > self.limit {
            return Err(LogBudgetExceeded::Bytes { limit: self.limit });
        }
        self.used = used;
        Ok(())
    }

    /// Bytes after the last newline of `stream`.
    fn tail(&mut self, stream: Stream) -> &mut Vec<u8> {
        match stream {
            Stream::Stdout => &mut self.stdout_tail,
            Stream::Stderr => &mut self.stderr_tail,
        }
    }

    /// Keeps what stderr received (already charged to the budget) for `panic_message`.
    fn keep_stderr(&mut self, stream: Stream, bytes: &[u8]) {
        if let Stream::Stderr = stream {
            self.stderr.push_str(&String::from_utf8_lossy(bytes));
        }
    }

    /// Charges one more line: its place in the count and its overhead in bytes.
    fn new_line(&mut self) -> Result<(), LogBudgetExceeded> {
        if self.lines.len() >= self.max_lines {
            return Err(LogBudgetExceeded::Lines { limit: self.max_lines });
        }
        self.spend(ITEM_OVERHEAD_BYTES)
    }
}

/// The guest's stdout or stderr: every write lands in the call's log.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    log: CallLog,
    stream: Stream,
}

/// Largest single write offered to the guest; bounds what one write can make the host copy.
const WRITE_PERMIT: usize = 64 * 1024;

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.log.write(self.stream, &bytes).map_err(|e| StreamError::Trap(e.into()))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(
            self.log
                .write(self.stream, bytes)
                .map(|()| bytes.len())
                .map_err(|e| io::Error::new(io::ErrorKind::StorageFull, e)),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_order_and_partial_lines_are_kept() {
        let log = CallLog::new(1024, 100);
        log.write(Stream::Stdout, b"one\ntw").expect("within budget");
        log.log(LogLevel::Debug, "between".into()).expect("within budget");
        log.write(Stream::Stdout, b"o\nthree").expect("within budget");
        let lines: Vec<_> = log.take_lines().into_iter().map(|l| l.message).collect();
        assert_eq!(lines, ["one", "between", "two", "three"]);
    }

    #[test]
    fn the_budget_covers_logs_and_output_with_each_lines_overhead() {
        let log = CallLog::new(ITEM_OVERHEAD_BYTES + 10, 100);
        log.log(LogLevel::Info, "12345".into()).expect("within budget");
        log.write(Stream::Stderr, b"12345").expect("within budget");
        assert!(log.write(Stream::Stdout, b"x").is_err());
        assert!(log.log(LogLevel::Info, String::new()).is_err(), "an empty line still costs its overhead");
    }

    #[test]
    fn empty_lines_and_bare_newlines_stop_at_the_line_count() {
        let log = CallLog::new(1 << 20, 3);
        for _ in 0..3 {
            log.log(LogLevel::Info, String::new()).expect("within the count");
        }
        assert!(matches!(log.log(LogLevel::Info, String::new()), Err(LogBudgetExceeded::Lines { limit: 3 })));

        let log = CallLog::new(64 * 1024, 1000);
        let newlines = vec![b'\n'; 64 * 1024];
        let error = log.write(Stream::Stdout, &newlines).expect_err("one write of newlines is cut");
        assert!(matches!(error, LogBudgetExceeded::Lines { limit: 1000 }), "{error:?}");
        assert_eq!(log.take_lines().len(), 1000);
    }

    #[test]
    fn the_panic_message_is_recovered_from_stderr() {
        let log = CallLog::new(1024, 100);
        log.write(
            Stream::Stderr,
            b"\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n",
        )
        .expect("within budget");
        assert_eq!(log.panic_message().as_deref(), Some("panicked at src/lib.rs:3:5: boom"));
    }

    #[test]
    fn a_logged_panic_message_is_preferred() {
        let log = CallLog::new(1024, 100);
        log.write(Stream::Stderr, b"unrelated\n").expect("within budget");
        log.log(LogLevel::Error, "plugin panicked at src/lib.rs:3:5:\nboom".into()).expect("within budget");
        assert_eq!(log.panic_message().as_deref(), Some("panicked at src/lib.rs:3:5: boom"));
    }
}
