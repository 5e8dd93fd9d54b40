//! The README's first command, `fallback-host demo`, as a newcomer runs it: every `curl` it prints
//! is run as printed, through a shell and the real `curl`, and answers what the demo promises.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fallback_tests::tools;
use serde_json::Value;

/// A running demo and the commands it printed before "Press Ctrl-C to stop."
struct Demo {
    child: Child,
    console: String,
    commands: Vec<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_demo() -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fallback-host-cli"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env_remove("FALLBACK_ADMIN_TOKEN")
        .env_remove("FALLBACK_DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut demo = Demo { child, console: String::new(), commands: Vec::new() };
    let mut lines = BufReader::new(stdout).lines();
    let mut pending: Option<String> = None;
    loop {
        let line = match lines.next() {
            Some(Ok(line)) => line,
            other => panic!("the demo stopped before printing its instructions: {other:?}"),
        };
        let trimmed = line.trim();
        if let Some(command) = pending.as_mut() {
            command.push('\n');
            command.push_str(&line);
        } else if trimmed.starts_with("curl ") {
            pending = Some(line.clone());
        } else if trimmed.starts_with("http://") && trimmed.ends_with("/console") {
            demo.console = trimmed.to_string();
        }
        if pending.is_some() && !trimmed.ends_with('\\') {
            demo.commands.extend(pending.take());
        }
        if trimmed == "Press Ctrl-C to stop." {
            break;
        }
    }
    // Keep reading so the demo never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    demo
}

/// Runs one printed command through `sh`, as a reader pasting it would, and parses its JSON.
fn run(command: &str) -> Value {
    let output = Command::new("sh").args(["-c", command]).output().expect("sh runs");
    assert!(output.status.success(), "{command}\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!("{command}\nanswered no JSON ({error}): {}", String::from_utf8_lossy(&output.stdout))
    })
}

#[test]
fn every_command_the_demo_prints_answers_as_described() {
    // The same skip-or-fail-under-CI rule as every test that needs a tool outside Rust.
    if tools::available(tools::require_tool("curl", "apt-get install -y curl")).is_none() {
        return;
    }
    let demo = start_demo();
    assert_eq!(demo.commands.len(), 4, "the demo prints four commands: {:#?}", demo.commands);

    let matched = run(&demo.commands[0]);
    assert_eq!(matched["outcome"], "matched", "{matched}");
    assert_eq!(matched["intent"], "greeting", "{matched}");

    let fallback = run(&demo.commands[1]);
    assert_eq!(fallback["outcome"], "success", "{fallback}");
    assert_eq!(fallback["fallback"], true, "{fallback}");
    let reply = fallback["replies"][0]["text"].as_str().unwrap_or_default();
    assert!(reply.contains("sunny"), "the example answer API's forecast reaches the user: {fallback}");

    let trace = run(&demo.commands[2]);
    assert_eq!(trace["outcome"], "success", "{trace}");
    let trace_text = trace.to_string();
    assert!(trace_text.contains("light attracts bugs"), "the trace shows the upstream's joke: {trace}");

    let conversation = run(&demo.commands[3]);
    let turns = conversation["turns"].as_array().expect("turns");
    assert_eq!(turns.len(), 2, "alice's two chats, oldest first: {conversation}");

    let page =
        Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &demo.console]).output();
    let status = page.map(|output| String::from_utf8_lossy(&output.stdout).into_owned()).unwrap_or_default();
    assert_eq!(status, "200", "the console's address answers: {}", demo.console);
}
