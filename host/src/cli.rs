//! The command line: `serve`, `demo`, `migrate`, `db copy`, `plugin check`, `plugin run`, `export`, `apply`. Parses, sets up logging and
//! hands over to the library; errors are printed with their causes and exit 1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::db_cmd::DbCommand;
use crate::plugin_cmd::PluginCommand;
use crate::project_file::{ApiClient, ApplyArgs, ExportArgs};

#[derive(Debug, Parser)]
#[command(name = "fallback-host", version, about = "The fallback pipeline of a conversational platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the host: the HTTP API on SQLite in the data dir, or on PostgreSQL (database_url).
    #[command(long_about = SERVE_ABOUT)]
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Where the database, the admin token and compiled plugins live [default: ./data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A TOML file of settings; every key can also be set as FALLBACK_<KEY>.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the host with a demo project, a local example answer API and a plugin.
    Demo {
        /// Address of the host [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Keep the demo's data here instead of a temporary directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Apply the store's pending schema migrations and exit (serve also applies them at start).
    Migrate {
        /// Where the SQLite database lives, when no database_url is set [default: ./data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A TOML file of settings; every key can also be set as FALLBACK_<KEY>.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Operate on stores: copy one into another.
    #[command(subcommand)]
    Db(DbCommand),
    /// Check or try a plugin offline: the plugin author's local loop.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Measure the intent matcher on a benchmark file.
    #[command(subcommand)]
    Intents(crate::intents_cmd::IntentsCommand),
    /// Write a project as one TOML file (intents, webhooks, fallback, plugins by path and sha256).
    Export {
        /// The project's id.
        project: String,
        #[command(flatten)]
        api: ApiArgs,
        /// The file to write [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Where the active plugins are written [default: plugins/ beside the file].
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
    },
    /// Make a project match a project file; prints the changes (+ added, ~ changed, - removed).
    Apply {
        /// The project file (TOML, `version = 1`).
        file: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
        /// Print the changes without making them.
        #[arg(long)]
        dry_run: bool,
        /// Apply to this project instead of the file's `project` (created when the token is the
        /// operator's and it does not exist).
        #[arg(long)]
        project: Option<String>,
    },
}

/// Which host `export` and `apply` talk to, and as whom.
#[derive(Debug, clap::Args)]
struct ApiArgs {
    /// The host's address, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// The project's key or the operator's token.
    #[arg(long, env = "FALLBACK_TOKEN", hide_env_values = true)]
    token: String,
}

/// `serve --help`: what an operator needs to know about the secret key, including rotation.
const SERVE_ABOUT: &str = "Run the host: the HTTP API with its embedded SQLite store, or on
PostgreSQL when FALLBACK_DATABASE_URL (config key database_url) is set: then any number of nodes
share the database, and each needs the same FALLBACK_SECRET_KEY and FALLBACK_ADMIN_TOKEN.

Project secrets are sealed at rest (XChaCha20-Poly1305) under the secret key: FALLBACK_SECRET_KEY
(64 hex digits or base64 of 32 bytes, e.g. from `openssl rand -hex 32`) or, when it is unset, the
key file `secret_key` that the first start generates in the data dir (mode 0600; back it up with
the database: without it the secrets cannot be read). A wrong key stops the start with an error.

Rotating the key: stop the host, then start it once with the new key in FALLBACK_SECRET_KEY and
the old one in FALLBACK_SECRET_KEY_PREVIOUS (for a generated key, the content of the key file).
At start every secret is re-sealed under the new key in one transaction; from then on the
previous key is no longer needed and FALLBACK_SECRET_KEY_PREVIOUS can be removed.";

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Serve { listen, data_dir, config } => serve(listen, data_dir, config),
        Command::Demo { listen, data_dir } => demo(listen, data_dir),
        Command::Migrate { data_dir, config } => migrate(data_dir, config),
        Command::Db(command) => db(command),
        Command::Plugin(command) => return crate::plugin_cmd::execute(command),
        Command::Intents(command) => {
            runtime().and_then(|rt| rt.block_on(crate::intents_cmd::execute(command)))
        }
        Command::Export { project, api, out, plugins_dir } => export(&project, &api, out, plugins_dir),
        Command::Apply { file, api, dry_run, project } => apply(&file, &api, dry_run, project.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    config_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut config = Config::load(config_file.as_deref(), |name| std::env::var(name).ok())?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    if let Some(data_dir) = data_dir {
        config.data_dir = data_dir;
    }
    config.plugin_compile_worker = compile_worker();
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", config.listen))?;
        crate::server::run(listener, config, crate::server::shutdown_signal()).await?;
        Ok(())
    })
}

fn demo(listen: Option<SocketAddr>, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let mut config = Config::load(None, |name| std::env::var(name).ok())?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    config.plugin_compile_worker = compile_worker();
    runtime()?.block_on(crate::demo::run(config, data_dir))
}

fn migrate(data_dir: Option<PathBuf>, config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let mut config = Config::load(config_file.as_deref(), |name| std::env::var(name).ok())?;
    if let Some(data_dir) = data_dir {
        config.data_dir = data_dir;
    }
    runtime()?.block_on(crate::db_cmd::migrate(&config))
}

fn db(command: DbCommand) -> anyhow::Result<()> {
    let config = Config::load(None, |name| std::env::var(name).ok())?;
    runtime()?.block_on(crate::db_cmd::execute(command, &config))
}

fn export(
    project: &str,
    api: &ApiArgs,
    out: Option<PathBuf>,
    plugins_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let client = ApiClient::new(&api.url, &api.token)?;
    let args = ExportArgs { project, out: out.as_deref(), plugins_dir: plugins_dir.as_deref() };
    let exported = runtime()?.block_on(crate::project_file::export(&client, args))?;
    for note in &exported.notes {
        eprintln!("! {note}");
    }
    match out {
        Some(out) => eprintln!("wrote {}", out.display()),
        None => print!("{}", exported.text),
    }
    Ok(())
}

fn apply(file: &Path, api: &ApiArgs, dry_run: bool, project: Option<&str>) -> anyhow::Result<()> {
    let client = ApiClient::new(&api.url, &api.token)?;
    let args = ApplyArgs { file, project, dry_run };
    let report = runtime()?.block_on(crate::project_file::apply(&client, args))?;
    print!("{report}");
    Ok(())
}

/// This very executable compiles uploads as a child process (`plugin compile-worker`), so
/// compilation is bounded in time and memory. Without it the host compiles in-process.
fn compile_worker() -> Option<PathBuf> {
    match std::env::current_exe() {
        Ok(path) => Some(path),
        Err(error) => {
            tracing::warn!(%error, "cannot locate this executable: compiling plugins in-process");
            None
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
