//! The command line: `sockloop serve`, `sockloop client`, `sockloop load`.
//!
//! clap parses the flags into the `*Args` structs here; [`run`] turns them
//! into a config and hands over to the server, client or load generator.
//! `main.rs` only sets up logging and calls [`parse_args`] and [`run`].
//! Flag values are parsed and range-checked by the parsers in
//! [`crate::flags`]; rules between several flags are checked afterwards
//! (`ServeConfig::validate`, `LoadConfig::from_args`). Every error, clap's
//! included, exits with status 1.

use crate::config::{MAX_LINE_LIMIT, MIN_STATS_INTERVAL_SECS, ServeConfig, default_max_conns};
use crate::flags::{MAX_CONNS, MAX_WORKERS, TIMER_RESOLUTION_SECS, endpoint, int_in, secs_in};
use crate::framing::DEFAULT_MAX_LINE;
use crate::protocol::{Credentials, Service};
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use std::time::Duration;

// Re-exported: they lived here before `flags` existed, and callers outside
// the command line still name them `cli::fail` and `cli::Endpoint`.
pub use crate::flags::{Endpoint, fail};

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
    Serve(ServeArgs),
    /// Talk to one service: stdin lines out, replies to stdout.
    Client(crate::client::ClientArgs),
    /// Generate load against a service and verify every reply.
    Load(crate::load::LoadArgs),
}

/// `--idle-timeout`'s default, as text for clap (config::DEFAULT_IDLE_TIMEOUT_SECS).
const DEFAULT_IDLE_TIMEOUT_STR: &str = "300";

/// `sockloop serve`: flags for every service address and limit.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TCP echo address (`IP:PORT`, `[IPv6]:PORT`, `HOST:PORT`, or an IP
    /// for port 7000), or off.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000", value_parser = endpoint(Service::Echo.default_port()))]
    pub echo: Endpoint,
    /// TCP greet address (the port defaults to 7001), or off.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7001", value_parser = endpoint(Service::Greet.default_port()))]
    pub greet: Endpoint,
    /// TCP login address (the port defaults to 7002), or off.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7002", value_parser = endpoint(Service::Login.default_port()))]
    pub login: Endpoint,
    /// TCP command address (the port defaults to 7003), or off.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7003", value_parser = endpoint(Service::Command.default_port()))]
    pub command: Endpoint,
    /// UDP echo address (the port defaults to 7000), or off.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000", value_parser = endpoint(Service::UdpEcho.default_port()))]
    pub udp_echo: Endpoint,
    /// UDP log address (the port defaults to 7004), or off.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7004", value_parser = endpoint(Service::UdpLog.default_port()))]
    pub udp_log: Endpoint,
    /// Prometheus metrics (GET /metrics) address (the port defaults to
    /// 7005), or off. With --workers, worker N listens on PORT+N (or its own
    /// free port for port 0).
    #[arg(long, value_name = "ADDR", default_value = "off", value_parser = endpoint(Service::Metrics.default_port()))]
    pub metrics: Endpoint,
    /// Log one stats line at info this often (seconds; 0 = never).
    #[arg(long, value_name = "SECS", default_value = "0", allow_negative_numbers = true,
          value_parser = secs_in(MIN_STATS_INTERVAL_SECS, Some("off")))]
    pub stats_interval: Duration,
    /// Connections served at once; more get `ERR server full`.
    /// Default: the open-file limit minus a reserve of 64.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = int_in::<usize>(1..=MAX_CONNS))]
    pub max_conns: Option<usize>,
    /// Longest line accepted by greet, login and command (bytes).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE, allow_negative_numbers = true,
          value_parser = int_in::<usize>(1..=MAX_LINE_LIMIT))]
    pub max_line: usize,
    /// Close connections idle this long (seconds, fractions allowed; 0 = never).
    #[arg(long, value_name = "SECS", default_value = DEFAULT_IDLE_TIMEOUT_STR, allow_negative_numbers = true,
          value_parser = secs_in(TIMER_RESOLUTION_SECS, Some("never")))]
    pub idle_timeout: Duration,
    /// Accepted login NAME:PASSWORD (repeatable); replaces admin:12345.
    /// Name and password are trimmed, as the login service trims its lines.
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// Let the command `E` stop the whole server, not just its connection.
    #[arg(long)]
    pub allow_remote_shutdown: bool,
    /// Worker processes, each a single-threaded loop sharing every
    /// port with SO_REUSEPORT (1 = this process serves, no parent).
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true,
          value_parser = int_in::<u16>(1..=MAX_WORKERS))]
    pub workers: u16,
    /// Bind with SO_REUSEPORT (set by the worker parent).
    #[arg(long, hide = true)]
    pub reuse_port: bool,
    /// Print `stats JSON` on stdout at exit (set by the worker parent).
    #[arg(long, hide = true)]
    pub report_stats: bool,
    /// This process is worker N of a `--workers` parent (set by the parent).
    #[arg(long, hide = true, value_name = "N")]
    pub worker_index: Option<u16>,
    /// Serve on a socket inherited from the worker parent instead of
    /// binding: SERVICE=FD, once per listener (set by the worker parent).
    #[arg(long = "listen-fd", hide = true, value_name = "SERVICE=FD", value_parser = crate::serve::parse_listen_fd)]
    pub listen_fds: Vec<(Service, std::os::fd::RawFd)>,
}

impl ServeArgs {
    /// The server configuration these flags describe.
    pub fn to_config(&self) -> Result<ServeConfig, String> {
        // In `Service::ALL`'s order.
        let addrs = [
            self.echo,
            self.greet,
            self.login,
            self.command,
            self.udp_echo,
            self.udp_log,
            self.metrics,
        ];
        let listeners = Service::ALL
            .into_iter()
            .zip(addrs)
            .filter_map(|(service, Endpoint(addr))| addr.map(|a| (service, a)))
            .collect();
        let credentials = if self.users.is_empty() {
            Credentials::default_tutorial()
        } else {
            Credentials::from_specs(&self.users).map_err(|e| format!("--user: {e}"))?
        };
        Ok(ServeConfig {
            listeners,
            max_conns: self.max_conns.unwrap_or_else(default_max_conns),
            max_line: self.max_line,
            idle_timeout: (!self.idle_timeout.is_zero()).then_some(self.idle_timeout),
            credentials,
            allow_remote_shutdown: self.allow_remote_shutdown,
            stats_interval: (!self.stats_interval.is_zero()).then_some(self.stats_interval),
            worker: self.worker_index,
            ..ServeConfig::defaults()
        })
    }
}

/// Parses the process's arguments. A bad flag or value prints clap's
/// message (naming the flag and what it accepts) with the `sockloop: `
/// prefix of [`fail`], and gives exit status 1, not clap's usual 2:
/// sockloop has one status for every error, as the README says. `--help`
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
            Command::Client(_) => None,
        }
    }
}

/// Runs the parsed command line; the process's exit status.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => crate::serve::run(&args),
        Command::Client(args) => crate::client::run(&args),
        Command::Load(args) => crate::load::run(&args),
    }
}
