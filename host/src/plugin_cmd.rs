//! `fallback-host plugin check|run`: a plugin author's offline loop, through the same runtime
//! and default limits as the server (and, like the plugin itself, without network).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::log_text::LogText;
use crate::model::{LogLevel, LogLine, PluginContext, UpstreamResponse};
use crate::plugin::{
    CallLimits, LoadedPlugin, PluginCall, PluginRun, PluginRuntime, PluginTimings, RuntimeOptions,
};

#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Validate a plugin against the world: prints its sha256, size and exports.
    Check {
        /// The component (.wasm), built with --target wasm32-wasip2.
        file: PathBuf,
    },
    /// Run extract and format on a sample upstream response; prints variables and replies.
    Run {
        file: PathBuf,
        /// The upstream response body (for example a JSON file).
        #[arg(long)]
        response: PathBuf,
        /// The webhook's plugin_config, as JSON.
        #[arg(long, default_value = "{}")]
        config: String,
        /// The user's message, as `latest_message`.
        #[arg(long, default_value = "hello")]
        message: String,
        /// The upstream status code.
        #[arg(long, default_value_t = 200)]
        status: u16,
        /// The upstream Content-Type header.
        #[arg(long, default_value = "application/json")]
        content_type: String,
    },
    /// Scaffold a plugin project (Rust, JavaScript or Python) that builds, tests and runs as it stands.
    New(crate::plugin_new::NewArgs),
    /// The host's compile worker: wasm on stdin, the compiled artifact on stdout.
    #[command(hide = true)]
    CompileWorker,
}

/// Why a command failed, printed as one `error:` line.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("--config is not valid JSON: {0}")]
    Config(serde_json::Error),
    #[error("{0}")]
    Plugin(#[from] crate::plugin::PluginError),
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
}

pub fn execute(cmd: PluginCommand) -> ExitCode {
    let outcome = match cmd {
        PluginCommand::CompileWorker => return crate::plugin::compile_worker_main(),
        PluginCommand::New(args) => return crate::plugin_new::execute(args),
        PluginCommand::Check { file } => check(&file),
        PluginCommand::Run { file, response, config, message, status, content_type } => {
            run(&file, &response, config, message, status, content_type)
        }
    };
    match outcome {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err((report, error)) => {
            print!("{report}");
            // The error may quote the plugin's own text: shown escaped, on one line.
            eprintln!("error: {}", LogText(&error.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// What was printed so far, and the error that ended the command.
type Failure = (String, CommandError);

fn read(path: &Path) -> Result<Vec<u8>, CommandError> {
    std::fs::read(path).map_err(|source| CommandError::Read { path: path.to_owned(), source })
}

fn load(file: &Path) -> Result<(PluginRuntime, Arc<LoadedPlugin>), CommandError> {
    let wasm = read(file)?;
    let runtime = PluginRuntime::new(RuntimeOptions::default())?;
    let plugin = runtime.load(&wasm)?;
    Ok((runtime, plugin))
}

fn check(file: &Path) -> Result<String, Failure> {
    let (_, plugin) = load(file).map_err(|e| (String::new(), e))?;
    Ok(describe(&plugin))
}

fn describe(plugin: &LoadedPlugin) -> String {
    format!(
        "ok: implements fallback:plugin/plugin\nsha256:  {}\nsize:    {} bytes\nexports: {}\nimports: {}\n",
        plugin.sha256_hex(),
        plugin.size(),
        plugin.exports().join(", "),
        plugin.imports().join(", "),
    )
}

fn run(
    file: &Path,
    response: &Path,
    config: String,
    message: String,
    status: u16,
    content_type: String,
) -> Result<String, Failure> {
    let fail = |e| (String::new(), e);
    serde_json::from_str::<serde_json::Value>(&config).map_err(|e| fail(CommandError::Config(e)))?;
    let body = read(response).map_err(fail)?;
    let (runtime, plugin) = load(file).map_err(fail)?;
    let call = PluginCall {
        response: UpstreamResponse {
            status,
            headers: vec![("content-type".to_owned(), content_type)],
            body: body.into(),
        },
        context: PluginContext {
            project: "cli".to_owned(),
            webhook: "cli".to_owned(),
            send_id: "cli".to_owned(),
            latest_message: message,
            plugin_config: config,
        },
        variables: Default::default(),
    };
    let limits = CallLimits::default();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(CommandError::Runtime(e)))?;
    let outcome = tokio.block_on(runtime.run(&plugin, call, &limits));
    let mut report = String::new();
    let PluginRun { logs, result, timings } = outcome;
    match result {
        Ok(output) => {
            report.push_str("variables:\n");
            for (name, value) in &output.variables {
                let _ = writeln!(report, "  {name} = {value:?}");
            }
            match &output.replies {
                None => report.push_str("replies: none (the webhook's success template is used)\n"),
                Some(replies) => {
                    report.push_str("replies:\n");
                    for (i, reply) in replies.iter().enumerate() {
                        let _ = writeln!(report, "  {}. {:?}", i + 1, reply.text);
                        for button in &reply.buttons {
                            let _ =
                                writeln!(report, "     [{}] -> {:?}", LogText(&button.label), button.payload);
                        }
                    }
                }
            }
            write_logs(&mut report, &logs);
            write_timings(&mut report, &timings);
            Ok(report)
        }
        Err(error) => {
            write_logs(&mut report, &logs);
            write_timings(&mut report, &timings);
            Err((report, error.into()))
        }
    }
}

fn write_timings(report: &mut String, timings: &PluginTimings) {
    let _ = writeln!(
        report,
        "timings: instantiate {:?}, extract {:?}, format {:?}",
        timings.instantiate, timings.extract, timings.format
    );
}

fn write_logs(report: &mut String, logs: &[LogLine]) {
    if logs.is_empty() {
        return;
    }
    report.push_str("logs:\n");
    for line in logs {
        let level = match line.level {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        // Continuation lines indented, every other control character escaped: a plugin's text
        // must not drive the author's terminal.
        let shown: Vec<String> = line.message.split('\n').map(|part| LogText(part).to_string()).collect();
        let _ = writeln!(report, "  [{level}] {}", shown.join("\n    "));
    }
}
