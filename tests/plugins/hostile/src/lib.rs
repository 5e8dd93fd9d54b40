//! hostile-plugin: a guest that misbehaves on request, so the host's tests can prove each limit
//! (time, memory, output, stack, WASI access) holds and the host carries on.
//!
//! `plugin_config`: `{"mode": ".."}` picks what `extract` does and `{"format_mode": ".."}` what
//! `format` does; both default to `ok`. A mode of `message` takes it from the user's message
//! instead: its first word for `extract`, its second (default `ok`) for `format`, so one webhook
//! can be driven through every mode from the chat. See README.md for the modes.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use guest_sdk::serde::Deserialize;
use guest_sdk::{Context, Plugin, PluginError, Reply, Response, Variables, export_plugin, log};

const MIB: usize = 1 << 20;
const KIB_LINE: usize = 1024;

#[derive(Debug, Deserialize)]
#[serde(crate = "guest_sdk::serde", default)]
struct Config {
    mode: String,
    format_mode: String,
}

impl Default for Config {
    fn default() -> Self {
        Self { mode: "ok".to_string(), format_mode: "ok".to_string() }
    }
}

/// What a mode that returns at all hands back.
enum Outcome {
    Variables(Variables),
    Replies(Vec<Reply>),
}

fn behave(mode: &str) -> Result<Outcome, PluginError> {
    let vars = match mode {
        "ok" => {
            log::info("hostile ok");
            ok()
        }
        "loop" => spin(),
        "grow" => grow(),
        "panic" => panic!("hostile plugin panicked on purpose"),
        "huge-output" => Variables::new().with("reply", "x".repeat(8 * MIB)),
        "many-variables" => (0..100_000).map(|i| (format!("v{i}"), "x")).collect(),
        "log-flood" => {
            let line = "l".repeat(KIB_LINE);
            for _ in 0..10_000 {
                log::info(&line);
            }
            ok()
        }
        "stdout-flood" => {
            let line = "o".repeat(KIB_LINE);
            let mut stdout = std::io::stdout().lock();
            for _ in 0..10_000 {
                // Keep flooding even if the host starts refusing writes: that is the attack.
                let _ = writeln!(stdout, "{line}");
            }
            let _ = stdout.flush();
            ok()
        }
        "stdout" => {
            println!("hello from stdout");
            eprintln!("hello from stderr");
            ok()
        }
        "recursion" => Variables::new().with("depth", recurse(0).to_string()),
        "read-file" => Variables::new()
            .with("file", report(std::fs::read_to_string("/etc/passwd").map(|text| text.len())))
            .with("dir", report(std::fs::read_dir(".").map(|entries| entries.count()))),
        "read-env" => Variables::new()
            .with("env_count", std::env::vars().count().to_string())
            .with("home", report(std::env::var("HOME")))
            .with("args", std::env::args().count().to_string()),
        "sleep" => {
            std::thread::sleep(Duration::from_secs(3600));
            ok()
        }
        "plugin-error" => return Err(PluginError::new("hostile refuses")),
        "reply-buttons" => return Ok(Outcome::Replies(vec![Reply::text("pick").button("A", "a")])),
        // Floods of empty items: only a count, or each item's overhead, can stop them.
        "empty-replies" => return Ok(Outcome::Replies(vec![Reply::text(""); 200_000])),
        "empty-buttons" => {
            let mut reply = Reply::text("pick");
            reply.buttons = vec![guest_sdk::Button::new("", ""); 200_000];
            return Ok(Outcome::Replies(vec![reply]));
        }
        // More than the host will lift out of the guest at all (24 MB of host-side elements).
        "lift-bomb" => return Ok(Outcome::Replies(vec![Reply::text(""); 500_000])),
        "empty-variables" => (0..100_000).map(|i| (format!("v{i}"), "")).collect(),
        "log-calls" => {
            for _ in 0..10_000_000 {
                log::info("");
            }
            ok()
        }
        "newlines" => {
            let newlines = vec![b'\n'; 1_000_000];
            let _ = std::io::stdout().lock().write_all(&newlines);
            ok()
        }
        // Text that would forge a line of the host's log, in each place a plugin controls.
        "forge-log" => {
            log::warn(FORGED);
            ok()
        }
        "forge-error" => return Err(PluginError::new(FORGED)),
        "forge-panic" => panic!("{FORGED}"),
        "bad-name" => Variables::new().with("reply", "ok").with("a.b", "dotted"),
        // Just within every limit, in control characters (six bytes each in JSON): the test
        // console must still answer small, and the chat whole.
        "control-max" => {
            let line = "\u{1}".repeat(50);
            for _ in 0..900 {
                log::info(&line);
            }
            let value = "\u{1}".repeat(250);
            let mut vars: Variables = (0..200).map(|i| (format!("c{i}"), value.clone())).collect();
            vars.insert("reply", "ok from hostile");
            vars
        }
        "control-replies" => {
            let label = "\u{1}".repeat(100);
            let reply =
                (0..5).fold(Reply::text("\u{1}".repeat(5000)), |reply, _| reply.button(&label, &label));
            return Ok(Outcome::Replies(vec![reply; 10]));
        }
        other => return Err(PluginError::new(format!("hostile: unknown mode `{other}`"))),
    };
    Ok(Outcome::Variables(vars))
}

/// A newline then a fake host log line, coloured red by an ANSI escape.
const FORGED: &str = "hostile\n2026-01-01T00:00:00.000000Z  INFO fallback_host: FORGED-LINE \x1b[31mred";

fn ok() -> Variables {
    Variables::new().with("reply", "ok from hostile")
}

fn report<T: std::fmt::Debug, E: std::fmt::Display>(result: Result<T, E>) -> String {
    match result {
        Ok(value) => format!("ok: {value:?}"),
        Err(err) => format!("error: {err}"),
    }
}

fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Touches every page so the memory is really committed, not just reserved.
fn grow() -> ! {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; MIB];
        for byte in chunk.iter_mut().step_by(4096) {
            *byte = 1;
        }
        chunks.push(black_box(chunk));
    }
}

/// Not a tail call, and the frame holds a buffer the optimizer must keep.
#[allow(unconditional_recursion, reason = "exhausting the stack is the point")]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    let below = recurse(black_box(depth + 1));
    below.wrapping_add(frame[(depth % 32) as usize])
}

pub struct Hostile;

impl Plugin for Hostile {
    fn extract(_response: &Response, ctx: &Context) -> Result<Variables, PluginError> {
        let config: Config = ctx.config()?;
        let mode = match config.mode.as_str() {
            "message" => ctx.latest_message().split_whitespace().next().unwrap_or("ok"),
            mode => mode,
        };
        match behave(mode)? {
            Outcome::Variables(vars) => Ok(vars),
            Outcome::Replies(_) => Err(PluginError::new("hostile: `reply-buttons` is a format_mode")),
        }
    }

    /// `ok` defers to the template; modes that yield variables answer them as `name=value` replies,
    /// so oversized and numerous outputs can be aimed at the reply cap too.
    fn format(_variables: &Variables, ctx: &Context) -> Result<Option<Vec<Reply>>, PluginError> {
        let config: Config = ctx.config()?;
        let mode = match config.format_mode.as_str() {
            "message" => ctx.latest_message().split_whitespace().nth(1).unwrap_or("ok"),
            mode => mode,
        };
        if mode == "ok" {
            return Ok(None);
        }
        match behave(mode)? {
            Outcome::Replies(replies) => Ok(Some(replies)),
            Outcome::Variables(vars) => {
                Ok(Some(vars.iter().map(|(name, value)| Reply::text(format!("{name}={value}"))).collect()))
            }
        }
    }
}

export_plugin!(Hostile);

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(mode: &str) -> Result<Variables, PluginError> {
        Hostile::extract(
            &Response::new(200, ""),
            &Context::default().with_config(format!(r#"{{"mode":"{mode}"}}"#)),
        )
    }

    fn format(mode: &str) -> Result<Option<Vec<Reply>>, PluginError> {
        let ctx = Context::default().with_config(format!(r#"{{"format_mode":"{mode}"}}"#));
        Hostile::format(&Variables::new(), &ctx)
    }

    #[test]
    fn bounded_modes_return_what_the_host_tests_expect() {
        assert_eq!(extract("ok").unwrap().get("reply"), Some("ok from hostile"));
        assert_eq!(
            Hostile::extract(&Response::new(200, ""), &Context::default()).unwrap().get("reply"),
            Some("ok from hostile")
        );
        assert_eq!(extract("plugin-error").unwrap_err().message(), "hostile refuses");
        assert!(extract("nope").unwrap_err().message().contains("unknown mode `nope`"));
        assert_eq!(extract("huge-output").unwrap().get("reply").map(str::len), Some(8 * MIB));
        assert_eq!(extract("many-variables").unwrap().len(), 100_000);
        let vars = extract("read-env").unwrap();
        assert!(vars.get("home").is_some() && vars.get("env_count").is_some() && vars.get("args").is_some());
    }

    #[test]
    fn format_modes() {
        assert_eq!(format("ok").unwrap(), None);
        assert_eq!(format("reply-buttons").unwrap(), Some(vec![Reply::text("pick").button("A", "a")]));
        assert_eq!(format("plugin-error").unwrap_err().message(), "hostile refuses");
        assert!(extract("reply-buttons").is_err());
        assert_eq!(format("empty-replies").unwrap().map(|r| r.len()), Some(200_000));
        assert_eq!(format("empty-buttons").unwrap().map(|r| r[0].buttons.len()), Some(200_000));
        assert_eq!(extract("empty-variables").unwrap().len(), 100_000);
        assert_eq!(extract("forge-error").unwrap_err().message(), FORGED);
        assert!(extract("bad-name").unwrap().get("a.b").is_some());
    }

    #[test]
    fn the_message_can_pick_both_modes() {
        let ctx = Context::default()
            .with_config(r#"{"mode":"message","format_mode":"message"}"#)
            .with_latest_message("bad-name reply-buttons");
        assert!(Hostile::extract(&Response::new(200, ""), &ctx).unwrap().get("a.b").is_some());
        assert_eq!(Hostile::format(&Variables::new(), &ctx).unwrap().map(|r| r.len()), Some(1));
    }
}
