//! The command line: `serve`, `demo`, `plugin check`, `plugin run`.

use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "fallback-host", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Check or try a plugin offline.
    #[command(subcommand)]
    Plugin(crate::plugin_cmd::PluginCommand),
}

pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Plugin(cmd) => crate::plugin_cmd::execute(cmd),
    }
}
