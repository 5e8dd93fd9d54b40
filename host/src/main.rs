//! The `fallback-host` binary: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    fallback_host::cli::main()
}
