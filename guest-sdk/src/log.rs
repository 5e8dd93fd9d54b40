//! `log`: lines for the call's log, shown in the test console and the host's logs.
//!
//! The host caps a call's log at 1,000 lines and 64 KiB (each line counting its message plus 16
//! bytes; stdout and stderr lines count too) and fails the call at the first line past either,
//! so log what helps a bot builder debug, not every byte. The host's own log shows the lines at
//! debug level with control characters escaped. Outside WebAssembly (a plugin's native unit
//! tests) lines go to stderr, which the test harness captures.

#[derive(Debug, Clone, Copy)]
enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

pub fn trace(message: impl AsRef<str>) {
    write(Level::Trace, message.as_ref());
}

pub fn debug(message: impl AsRef<str>) {
    write(Level::Debug, message.as_ref());
}

pub fn info(message: impl AsRef<str>) {
    write(Level::Info, message.as_ref());
}

pub fn warn(message: impl AsRef<str>) {
    write(Level::Warn, message.as_ref());
}

pub fn error(message: impl AsRef<str>) {
    write(Level::Error, message.as_ref());
}

#[cfg(target_arch = "wasm32")]
fn write(level: Level, message: &str) {
    use crate::bindings::fallback::plugin::host::{self, Level as WitLevel};
    let level = match level {
        Level::Trace => WitLevel::Trace,
        Level::Debug => WitLevel::Debug,
        Level::Info => WitLevel::Info,
        Level::Warn => WitLevel::Warn,
        Level::Error => WitLevel::Error,
    };
    host::log(level, message);
}

/// The generated import is `unreachable!()` off wasm, so native builds print instead.
#[cfg(not(target_arch = "wasm32"))]
fn write(level: Level, message: &str) {
    eprintln!("[plugin {level:?}] {message}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn logging_natively_does_not_call_the_wasm_import() {
        super::trace("t");
        super::debug("d");
        super::info(String::from("i"));
        super::warn("w");
        super::error("e");
    }
}
