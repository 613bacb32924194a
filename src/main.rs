//! The `sockloop` binary: logging setup, then the library's command line.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Logs go to stderr; stdout carries only the `listening` lines (serve),
    // replies (client) or the JSON report (load).
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    sockloop::cli::run(sockloop::cli::Cli::parse())
}
