//! The README's and `docs/`'s shell blocks, kept true: each says how a test runs it, and the
//! blocks marked `run` are run here, in order, by `bash` against a real host and upstream.
//!
//! Every ```` ```sh ```` block must follow one marker line:
//! - `<!-- doc-test: run -->`: run here. The blocks of one document share one shell, in a scratch
//!   directory, with `fallback-host` on the `PATH`, `$FALLBACK_URL` (a running host),
//!   `$FALLBACK_ADMIN_TOKEN`, `$UPSTREAM` (a real answer API whose `/chat` answers
//!   `{"message": …}`), `$REPO` (this repository) and the json-reply plugin as `json_reply.wasm`;
//! - `<!-- doc-test: covered-by PATH -->`: run by that file (long-running commands such as
//!   `serve` and `demo`, builds that need node or Python, the plugins' own builds by
//!   `tests/build.rs`), which must exist and name each `fallback-host` subcommand the block uses;
//! - `<!-- doc-test: install -->`: installs a tool (every line is `apt-get`, `pip`, `npm`,
//!   `rustup` or `export DEBIAN_FRONTEND`), which CI's own script does instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use fallback_tests::host::{ADMIN_TOKEN, TestHost};
use fallback_tests::tools;
use fallback_tests::upstream::Upstream;
use fallback_tests::wasm;

/// How a block is kept true.
#[derive(Debug, PartialEq)]
enum Marker {
    Run,
    CoveredBy(PathBuf),
    Install,
}

#[derive(Debug)]
struct Block {
    file: PathBuf,
    line: usize,
    marker: Option<Marker>,
    text: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the repository")
        .to_path_buf()
}

/// README.md and every Markdown file under docs/ and plugins/*/.
fn documents() -> Vec<PathBuf> {
    let root = repo();
    let mut files = vec![root.join("README.md")];
    let mut push_markdown = |dir: &Path| {
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
                .collect();
            found.sort();
            files.extend(found);
        }
    };
    push_markdown(&root.join("docs"));
    if let Ok(entries) = std::fs::read_dir(root.join("plugins")) {
        let mut dirs: Vec<PathBuf> =
            entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect();
        dirs.sort();
        for dir in dirs {
            push_markdown(&dir);
        }
    }
    files
}

fn parse_marker(line: &str) -> Option<Marker> {
    let inner = line.trim().strip_prefix("<!-- doc-test:")?.strip_suffix("-->")?.trim();
    if inner == "run" {
        Some(Marker::Run)
    } else if inner == "install" {
        Some(Marker::Install)
    } else {
        inner.strip_prefix("covered-by ").map(|path| Marker::CoveredBy(PathBuf::from(path.trim())))
    }
}

/// The ```` ```sh ```` blocks of one document, each with the marker on the line before it.
fn blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let fence = lines[index].trim_start();
        if fence == "```sh" || fence == "```bash" || fence == "```shell" || fence == "```console" {
            let start = index;
            let marker = lines[..start]
                .iter()
                .rev()
                .find(|line| !line.trim().is_empty())
                .and_then(|line| parse_marker(line));
            let mut body = String::new();
            index += 1;
            while index < lines.len() && !lines[index].trim_start().starts_with("```") {
                body.push_str(lines[index]);
                body.push('\n');
                index += 1;
            }
            found.push(Block { file: file.to_path_buf(), line: start + 1, marker, text: body });
        }
        index += 1;
    }
    found
}

fn all_blocks() -> Vec<Block> {
    documents().iter().flat_map(|file| blocks(file)).collect()
}

fn place(block: &Block) -> String {
    let relative = block.file.strip_prefix(repo()).unwrap_or(&block.file);
    format!("{}:{}", relative.display(), block.line)
}

/// The `fallback-host` subcommands a block uses (`plugin new`, `export`, `demo`, …).
fn subcommands(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (at, word) in words.iter().enumerate() {
            let starts_subcommand =
                *word == "fallback-host" || (*word == "--" && words[..at].contains(&"fallback-host"));
            if !starts_subcommand {
                continue;
            }
            let after = at + 1;
            let is_subcommand = |sub: &&&str| {
                sub.starts_with(|c: char| c.is_ascii_lowercase())
                    && sub.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            };
            if let Some(sub) = words.get(after).filter(is_subcommand) {
                found.push((*sub).to_string());
            }
        }
    }
    found
}

const INSTALL_PREFIXES: [&str; 7] =
    ["apt-get ", "sudo apt-get ", "pip ", "pip3 ", "npm ", "rustup ", "export DEBIAN_FRONTEND"];

#[test]
fn every_shell_block_says_how_a_test_runs_it() {
    let mut problems = Vec::new();
    for block in all_blocks() {
        match &block.marker {
            None => problems.push(format!(
                "{}: a shell block without a `<!-- doc-test: run | covered-by PATH | install -->` line before it",
                place(&block)
            )),
            Some(Marker::Run) => {}
            Some(Marker::Install) => {
                for line in block.text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')) {
                    if !INSTALL_PREFIXES.iter().any(|prefix| line.starts_with(prefix)) {
                        problems.push(format!("{}: `{line}` is not an install command", place(&block)));
                    }
                }
            }
            Some(Marker::CoveredBy(path)) => {
                let covering = repo().join(path);
                match std::fs::read_to_string(&covering) {
                    Err(error) => problems.push(format!("{}: covered by {}: {error}", place(&block), path.display())),
                    Ok(source) => {
                        for sub in subcommands(&block.text) {
                            if !source.contains(&format!("\"{sub}\"")) {
                                problems.push(format!(
                                    "{}: {} never runs `fallback-host {sub}` (no \"{sub}\" argument in it)",
                                    place(&block),
                                    path.display()
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "documentation blocks not kept true by a test:\n{}", problems.join("\n"));
}

#[test]
fn subcommands_are_found_where_a_reader_types_them() {
    assert_eq!(subcommands("cargo run -p fallback-host -- demo"), ["demo"]);
    assert_eq!(subcommands("fallback-host plugin new shout --lang rust"), ["plugin"]);
    assert_eq!(subcommands("fallback-host export demo --out demo.toml"), ["export"]);
    assert!(subcommands("curl -s $FALLBACK_URL/healthz").is_empty());
    assert_eq!(
        parse_marker("<!-- doc-test: covered-by tests/tests/demo.rs -->"),
        Some(Marker::CoveredBy("tests/tests/demo.rs".into()))
    );
    assert_eq!(parse_marker("<!-- doc-test: run -->"), Some(Marker::Run));
    assert_eq!(parse_marker("<!-- a comment -->"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocks_marked_run_work_as_written() {
    let runnable: Vec<Block> =
        all_blocks().into_iter().filter(|block| block.marker == Some(Marker::Run)).collect();
    if runnable.is_empty() {
        return;
    }
    for tool in ["bash", "curl", "jq"] {
        if tools::available(tools::require_tool(tool, &format!("apt-get install -y {tool}"))).is_none() {
            return;
        }
    }
    let bin = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fallback-host-cli"), bin.path().join("fallback-host"))
        .expect("symlink");
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());

    let mut by_file: Vec<(PathBuf, Vec<Block>)> = Vec::new();
    for block in runnable {
        match by_file.last_mut() {
            Some((file, blocks)) if *file == block.file => blocks.push(block),
            _ => by_file.push((block.file.clone(), vec![block])),
        }
    }
    for (file, blocks) in by_file {
        // A host and an upstream of its own for each document: its blocks start from nothing.
        let host = TestHost::start().await;
        let upstream = Upstream::start().await;
        let scratch = tempfile::tempdir().expect("tempdir");
        // The example plugin the API guide uploads, built from source like every test plugin.
        std::fs::copy(wasm::JSON_REPLY, scratch.path().join("json_reply.wasm"))
            .expect("copy json_reply.wasm");
        let mut script = String::from("set -euo pipefail\n");
        for block in &blocks {
            script.push_str(&format!("echo '>>> {}' >&2\n", place(block)));
            script.push_str(&block.text);
        }
        let mut command = Command::new("bash");
        command
            .args(["-c", &script])
            .current_dir(scratch.path())
            .env("PATH", &path)
            .env("FALLBACK_URL", format!("http://{}", host.addr))
            .env("FALLBACK_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("UPSTREAM", upstream.url(""))
            .env("REPO", repo())
            .env_remove("FALLBACK_DATABASE_URL");
        // Blocking: run it off the runtime that serves the host.
        let output =
            tokio::task::spawn_blocking(move || command.output()).await.expect("joins").expect("bash runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{}: a block failed (the last `>>>` line names it)\n--- stdout\n{}\n--- stderr\n{stderr}",
            file.display(),
            String::from_utf8_lossy(&output.stdout)
        );
        eprintln!("{}: {} block(s) ran", file.display(), blocks.len());
    }
}
