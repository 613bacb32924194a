//! The command line: `sockloop serve`, `sockloop client`, `sockloop load`,
//! `sockloop report`.
//!
//! The top of the crate: nothing imports it. Each subcommand owns its flags
//! ([`ServeArgs`], [`ClientArgs`], [`LoadArgs`], [`ReportArgs`]); clap parses them here, and
//! [`run`] hands them over and is the one place that reports an error: one
//! line on stderr and exit status 1 (README, "Options and limits"). Flag
//! values are parsed and range-checked by the parsers in [`crate::flags`];
//! rules between several flags are checked afterwards
//! (`ServeConfig::validate`, `LoadConfig::from_args`). `main.rs` only sets up
//! logging and calls [`parse_args`] and [`run`].

use crate::client::ClientArgs;
use crate::error::Error;
use crate::load::LoadArgs;
use crate::results::ReportArgs;
use crate::serve::ServeArgs;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// sockloop: the socket tutorial's services on one mio event loop.
#[derive(Debug, Parser)]
#[command(name = "sockloop", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve echo, greet, login, command, udp-echo and udp-log.
    // Boxed, as `load`: these two have many times the flags of the others,
    // and clippy's large_enum_variant asks for it (the value is made once
    // per process).
    Serve(Box<ServeArgs>),
    /// Talk to one service: stdin lines out, replies to stdout.
    Client(ClientArgs),
    /// Generate load against a service and verify every reply.
    Load(Box<LoadArgs>),
    /// Merge the reports of a run's parts (hosts, workers) and show them:
    /// text, `--json`, or an HTML page with plots (`--html OUT`).
    Report(ReportArgs),
}

/// Parses the process's arguments. A bad flag or value prints clap's
/// message (naming the flag and what it accepts) with the `sockloop: `
/// prefix every error line has, and gives exit status 1, not clap's usual
/// 2: sockloop has one status for every error, as the README says. `--help`
/// and `--version` print to stdout and give 0.
pub fn parse_args() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|e| {
        if e.use_stderr() {
            // Plain text (clap's `error: ...`), so every error line reads
            // `sockloop: error: ...`.
            eprint!("sockloop: {}", e.render());
            ExitCode::FAILURE
        } else {
            // Printing fails only if stdout is gone: nothing to tell then.
            let _ = e.print();
            ExitCode::SUCCESS
        }
    })
}

impl Cli {
    /// The worker index a `--workers` parent gave this process, if any
    /// (`--worker-index`): `main.rs` tags every log line with it.
    pub fn worker_index(&self) -> Option<u16> {
        match &self.command {
            Command::Serve(args) => args.worker_index,
            Command::Load(args) => args.worker_index,
            Command::Client(_) | Command::Report(_) => None,
        }
    }
}

/// Runs the parsed command line; the process's exit status: 0, or 1 with
/// the error's one line on stderr.
pub fn run(cli: Cli) -> ExitCode {
    let result: Result<ExitCode, Error> = match cli.command {
        // A serve worker has a status of its own for a remote shutdown.
        Command::Serve(args) => crate::serve::run(&args),
        Command::Client(args) => crate::client::run(&args).map(|()| ExitCode::SUCCESS),
        // `load --html` draws its page with `results` (above `load`).
        Command::Load(args) => {
            crate::load::run(&args, crate::results::write_html_of_json).map(|()| ExitCode::SUCCESS)
        }
        Command::Report(args) => crate::results::run(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(status) => status,
        Err(e) => {
            // Queued log lines first, so the error line comes after them.
            crate::log_queue::flush();
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
