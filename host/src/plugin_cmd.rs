//! `fallback-host plugin check|run`: a plugin author's offline loop, through the same runtime
//! and default limits as the server (and, like the plugin itself, without network).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::log_text::LogText;
use crate::model::{LogLevel, LogLine, PluginContext, Reply, UpstreamResponse, Variables};
use crate::plugin::{
    CallLimits, Hook, LoadedPlugin, PluginCall, PluginRun, PluginRuntime, PluginTimings, RuntimeOptions,
};

#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Validate a plugin against the world: prints its sha256, size and exports.
    Check {
        /// The component (.wasm), built with --target wasm32-wasip2.
        file: PathBuf,
    },
    /// Run extract and format on a sample upstream response; prints variables and replies.
    /// With --webhook, the webhook's mapping runs first and its success template answers when
    /// format gives no replies, exactly as on the host.
    Run {
        file: PathBuf,
        /// The upstream response body (for example a JSON file).
        #[arg(long)]
        response: PathBuf,
        /// The webhook the plugin serves, as the JSON `PUT …/webhooks/{w}` takes: validated as
        /// the API does; its mapping, templates, plugin_config and limits apply.
        #[arg(long)]
        webhook: Option<PathBuf>,
        /// The webhook's plugin_config, as JSON [default: the webhook's, else {}].
        #[arg(long)]
        config: Option<String>,
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
pub(crate) enum CommandError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("--config is not valid JSON: {0}")]
    Config(serde_json::Error),
    #[error("{0}")]
    Plugin(#[from] crate::plugin::PluginError),
    /// A run without --webhook that failed; in format, most likely for want of a mapped variable.
    #[error("{error}")]
    Unmapped { error: crate::plugin::PluginError, hint: bool },
    #[error("{path}: not a webhook: {source}")]
    WebhookJson { path: PathBuf, source: serde_json::Error },
    /// Every problem, each naming its field, as the API's 422 `invalid_webhook` does.
    #[error("{path}: invalid webhook: {}", errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    InvalidWebhook { path: PathBuf, errors: Vec<crate::webhook::FieldError> },
    /// The webhook answered its failure text: the stage and code the host's trace would show.
    #[error("{stage} failed ({code}): {message}")]
    Webhook { stage: crate::pipeline::Stage, code: String, message: String, failure: String },
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl CommandError {
    /// A second line for the author: what to try, or what the user would have been answered.
    fn hint(&self) -> Option<String> {
        match self {
            CommandError::Unmapped { hint: true, .. } => Some(
                "hint: without --webhook no declarative mapping runs, so format sees no mapped \
                 variables (such as `reply`); --webhook webhook.json applies the webhook's \
                 response.extract first, as the host does"
                    .to_owned(),
            ),
            CommandError::Webhook { failure, .. } => {
                Some(format!("the user would get the failure text: {:?}", failure))
            }
            _ => None,
        }
    }
}

pub fn execute(cmd: PluginCommand) -> ExitCode {
    let outcome = match cmd {
        PluginCommand::CompileWorker => return crate::plugin::compile_worker_main(),
        PluginCommand::New(args) => return crate::plugin_new::execute(args),
        PluginCommand::Check { file } => check(&file),
        PluginCommand::Run { file, response, webhook, config, message, status, content_type } => {
            let sample = Sample { response, message, status, content_type };
            match webhook {
                Some(webhook) => crate::plugin_run::run(&file, &webhook, &sample, config),
                None => run(&file, &sample, config.unwrap_or_else(|| "{}".to_owned())),
            }
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
            if let Some(hint) = error.hint() {
                eprintln!("{}", LogText(&hint));
            }
            ExitCode::FAILURE
        }
    }
}

/// What was printed so far, and the error that ended the command.
pub(crate) type Failure = (String, CommandError);

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, CommandError> {
    std::fs::read(path).map_err(|source| CommandError::Read { path: path.to_owned(), source })
}

pub(crate) fn load(file: &Path) -> Result<(PluginRuntime, Arc<LoadedPlugin>), CommandError> {
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

/// The sample upstream answer and user message a local run works on.
pub(crate) struct Sample {
    pub response: PathBuf,
    pub message: String,
    pub status: u16,
    pub content_type: String,
}

impl Sample {
    pub(crate) fn upstream(&self) -> Result<UpstreamResponse, CommandError> {
        Ok(UpstreamResponse {
            status: self.status,
            headers: vec![("content-type".to_owned(), self.content_type.clone())],
            body: read(&self.response)?.into(),
        })
    }
}

fn run(file: &Path, sample: &Sample, config: String) -> Result<String, Failure> {
    let fail = |e| (String::new(), e);
    serde_json::from_str::<serde_json::Value>(&config).map_err(|e| fail(CommandError::Config(e)))?;
    let response = sample.upstream().map_err(fail)?;
    let (runtime, plugin) = load(file).map_err(fail)?;
    let call = PluginCall {
        response,
        context: PluginContext {
            project: "cli".to_owned(),
            webhook: "cli".to_owned(),
            send_id: "cli".to_owned(),
            latest_message: sample.message.clone(),
            plugin_config: config,
        },
        variables: Default::default(),
    };
    let limits = CallLimits::default();
    let tokio = current_thread().map_err(fail)?;
    let outcome = tokio.block_on(runtime.run(&plugin, call, &limits));
    let mut report = String::new();
    let PluginRun { logs, result, timings } = outcome;
    match result {
        Ok(output) => {
            write_variables(&mut report, &output.variables);
            match &output.replies {
                None => report.push_str("replies: none (the webhook's success template is used)\n"),
                Some(replies) => write_replies(&mut report, "replies:", replies),
            }
            write_logs(&mut report, &logs);
            write_timings(&mut report, &timings);
            Ok(report)
        }
        Err(error) => {
            write_logs(&mut report, &logs);
            write_timings(&mut report, &timings);
            // Without a webhook no mapping ran, so a format that reads a mapped variable
            // (`reply`) finds none: say how to run the mapping too.
            let hint = matches!(error.hook(), Some(Hook::Format));
            Err((report, CommandError::Unmapped { error, hint }))
        }
    }
}

pub(crate) fn current_thread() -> Result<tokio::runtime::Runtime, CommandError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CommandError::Runtime)
}

pub(crate) fn write_variables(report: &mut String, variables: &Variables) {
    report.push_str("variables:\n");
    for (name, value) in variables {
        let _ = writeln!(report, "  {name} = {value:?}");
    }
}

pub(crate) fn write_replies(report: &mut String, heading: &str, replies: &[Reply]) {
    report.push_str(heading);
    report.push('\n');
    for (i, reply) in replies.iter().enumerate() {
        let _ = writeln!(report, "  {}. {:?}", i + 1, reply.text);
        for button in &reply.buttons {
            let _ = writeln!(report, "     [{}] -> {:?}", LogText(&button.label), button.payload);
        }
    }
}

pub(crate) fn write_timings(report: &mut String, timings: &PluginTimings) {
    let _ = writeln!(
        report,
        "timings: instantiate {:?}, extract {:?}, format {:?}",
        timings.instantiate, timings.extract, timings.format
    );
}

pub(crate) fn write_logs(report: &mut String, logs: &[LogLine]) {
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
