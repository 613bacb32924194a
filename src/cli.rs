//! The command line: `sockloop serve`, `sockloop client`, `sockloop load`.
//!
//! clap parses the flags into the `*Args` structs here; [`run`] turns them
//! into a config and hands over to the server, client or load generator.
//! `main.rs` only sets up logging and calls [`run`].

use crate::config::{ServeConfig, default_max_conns};
use crate::framing::DEFAULT_MAX_LINE;
use crate::protocol::{Credentials, Service};
use clap::{Args, Parser, Subcommand};
use std::fmt;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

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

/// A service address on the command line: `IP:PORT`, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint(pub Option<SocketAddr>);

impl fmt::Display for Endpoint {
    /// The form [`parse_endpoint`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("off"),
        }
    }
}

/// Parses `IP:PORT` (IPv4 or `[IPv6]:PORT`) or `off`.
pub fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(Endpoint(None));
    }
    s.parse()
        .map(|a| Endpoint(Some(a)))
        .map_err(|_| format!("'{s}' is not IP:PORT (e.g. 127.0.0.1:7000 or [::1]:7000) or off"))
}

/// `--idle-timeout`'s default, as text for clap (config::DEFAULT_IDLE_TIMEOUT_SECS).
const DEFAULT_IDLE_TIMEOUT_STR: &str = "300";

/// Parses seconds, fractions allowed (`0.5`).
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a valid duration"))
}

/// `sockloop serve`: flags for every service address and limit.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TCP echo address, or off.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000", value_parser = parse_endpoint)]
    pub echo: Endpoint,
    /// TCP greet address, or off.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7001", value_parser = parse_endpoint)]
    pub greet: Endpoint,
    /// TCP login address, or off.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7002", value_parser = parse_endpoint)]
    pub login: Endpoint,
    /// TCP command address, or off.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7003", value_parser = parse_endpoint)]
    pub command: Endpoint,
    /// UDP echo address, or off.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000", value_parser = parse_endpoint)]
    pub udp_echo: Endpoint,
    /// UDP log address, or off.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7004", value_parser = parse_endpoint)]
    pub udp_log: Endpoint,
    /// Prometheus metrics (GET /metrics) address, or off. With --workers,
    /// worker N listens on PORT+N (or its own free port for port 0).
    #[arg(long, value_name = "ADDR", default_value = "off", value_parser = parse_endpoint)]
    pub metrics: Endpoint,
    /// Log one stats line at info this often (seconds; 0 = never).
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = parse_secs)]
    pub stats_interval: Duration,
    /// Connections served at once; more get `ERR server full`.
    /// Default: the open-file limit minus a reserve of 64.
    #[arg(long, value_name = "N")]
    pub max_conns: Option<usize>,
    /// Longest line accepted by greet, login and command (bytes).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE)]
    pub max_line: usize,
    /// Close connections idle this long (seconds, fractions allowed; 0 = never).
    #[arg(long, value_name = "SECS", default_value = DEFAULT_IDLE_TIMEOUT_STR, value_parser = parse_secs)]
    pub idle_timeout: Duration,
    /// Accepted login NAME:PASSWORD (repeatable); replaces admin:12345.
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// Let the command `E` stop the whole server, not just its connection.
    #[arg(long)]
    pub allow_remote_shutdown: bool,
    /// Worker processes, each a single-threaded loop sharing every port
    /// with SO_REUSEPORT (1 = this process serves, no parent).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,
    /// Bind with SO_REUSEPORT (set by the worker parent).
    #[arg(long, hide = true)]
    pub reuse_port: bool,
    /// Print `stats JSON` on stdout at exit (set by the worker parent).
    #[arg(long, hide = true)]
    pub report_stats: bool,
    /// Serve on a socket inherited from the worker parent instead of
    /// binding: SERVICE=FD, once per listener (set by the worker parent).
    #[arg(long = "listen-fd", hide = true, value_name = "SERVICE=FD", value_parser = crate::serve::parse_listen_fd)]
    pub listen_fds: Vec<(Service, std::os::fd::RawFd)>,
}

impl ServeArgs {
    /// The server configuration these flags describe.
    pub fn to_config(&self) -> Result<ServeConfig, String> {
        let addrs = [
            self.echo,
            self.greet,
            self.login,
            self.command,
            self.udp_echo,
            self.udp_log,
        ];
        let listeners = Service::ALL
            .iter()
            .zip(addrs)
            .chain([(&Service::Metrics, self.metrics)])
            .filter_map(|(&service, Endpoint(addr))| addr.map(|a| (service, a)))
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
            ..ServeConfig::defaults()
        })
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

/// Prints one clear error line and returns a failing exit status.
pub fn fail(message: &str) -> ExitCode {
    eprintln!("sockloop: error: {message}");
    ExitCode::FAILURE
}
