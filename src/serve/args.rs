//! `sockloop serve`'s flags ([`ServeArgs`]) and the server configuration
//! they describe ([`ServeArgs::to_config`]).
//!
//! Each value is range-checked by its parser ([`crate::flags`]); the rules
//! between flags are [`ServeConfig::validate`]'s. The hidden flags at the
//! end are set only by a `--workers` parent for its workers.

use crate::config::{
    DEFAULT_OUTPUT_BUDGET, DEFAULT_UDP_BUFFER, MAX_LINE_LIMIT, MAX_OUTPUT_BUDGET, MAX_UDP_BUFFER,
    MIN_STATS_INTERVAL_SECS, ServeConfig, default_max_conns,
};
use crate::flags::{
    Endpoint, MAX_CONNS, MAX_WORKERS, TIMER_RESOLUTION_SECS, endpoint, int_in, secs_in,
};
use crate::framing::DEFAULT_MAX_LINE;
use crate::protocol::{Credentials, Service};
use clap::Args;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Duration;

/// The largest `--user-id`/`--group-id`: (uid_t)-1 means "unchanged" to
/// setresuid(2), so it cannot be a user.
const MAX_ID: u64 = u32::MAX as u64 - 1;

/// `--idle-timeout`'s default, as text for clap (config::DEFAULT_IDLE_TIMEOUT_SECS).
const DEFAULT_IDLE_TIMEOUT_STR: &str = "300";

/// `--send-timeout`'s default, as text for clap (config::DEFAULT_SEND_TIMEOUT_SECS).
const DEFAULT_SEND_TIMEOUT_STR: &str = "60";

/// `sockloop serve`: flags for every service address and limit.
#[derive(Debug, Args, PartialEq)]
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
    /// Close a connection whose pending replies make no progress this long:
    /// its client stopped reading (seconds, fractions allowed; 0 = never).
    #[arg(long, value_name = "SECS", default_value = DEFAULT_SEND_TIMEOUT_STR, allow_negative_numbers = true,
          value_parser = secs_in(TIMER_RESOLUTION_SECS, Some("never")))]
    pub send_timeout: Duration,
    /// Reply bytes that may wait for clients that do not read, across all
    /// connections; past it, those waiting longest without progress are
    /// closed (counted as slow_reader).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_OUTPUT_BUDGET, allow_negative_numbers = true,
          value_parser = int_in::<usize>(1..=MAX_OUTPUT_BUDGET))]
    pub output_budget: usize,
    /// Accepted login NAME:PASSWORD (repeatable); replaces admin:12345.
    /// Name and password are trimmed, as the login service trims its lines.
    /// Visible to every local user in /proc/PID/cmdline: prefer --user-file.
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// SO_RCVBUF and SO_SNDBUF of the UDP sockets, in bytes (0 = the
    /// kernel's defaults). The kernel caps it at net.core.rmem_max and
    /// wmem_max; a clamped request is logged with the sysctl to raise.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_UDP_BUFFER, allow_negative_numbers = true,
          value_parser = int_in::<usize>(0..=MAX_UDP_BUFFER))]
    pub udp_buffer: usize,
    /// Read the accepted logins from PATH, one NAME:PASSWORD a line (blank
    /// lines and lines starting with # ignored); replaces admin:12345. The
    /// file must not be accessible by group or others (chmod 600).
    #[arg(long, value_name = "PATH")]
    pub user_file: Option<PathBuf>,
    /// Let `E` stop the whole server, not just its connection: only in a
    /// logged-in login session, from a loopback peer, and refused unless
    /// login and command listen on loopback.
    #[arg(long)]
    pub allow_remote_shutdown: bool,
    /// Serve even when started as root (no default port needs root).
    #[arg(long)]
    pub allow_root: bool,
    /// Started as root: switch to this user id once every socket is bound.
    #[arg(long, value_name = "UID", allow_negative_numbers = true,
          value_parser = int_in::<u32>(0..=MAX_ID))]
    pub user_id: Option<u32>,
    /// With --user-id: the group id to switch to (default: the same number).
    #[arg(long, value_name = "GID", allow_negative_numbers = true,
          value_parser = int_in::<u32>(0..=MAX_ID))]
    pub group_id: Option<u32>,
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
    #[arg(long = "listen-fd", hide = true, value_name = "SERVICE=FD", value_parser = parse_listen_fd)]
    pub listen_fds: Vec<(Service, RawFd)>,
    /// Read the accepted logins from this inherited descriptor, as
    /// --user-file's lines (set by the worker parent: never a command line).
    #[arg(long, hide = true, value_name = "FD", value_parser = parse_fd)]
    pub user_fd: Option<RawFd>,
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
        let credentials = match super::credentials::specs(self)? {
            None => Credentials::default_tutorial(),
            Some(specs) => Credentials::from_specs(&specs).map_err(|e| format!("--user: {e}"))?,
        };
        Ok(ServeConfig {
            listeners,
            max_conns: self.max_conns.unwrap_or_else(default_max_conns),
            max_line: self.max_line,
            idle_timeout: (!self.idle_timeout.is_zero()).then_some(self.idle_timeout),
            send_timeout: (!self.send_timeout.is_zero()).then_some(self.send_timeout),
            output_budget: self.output_budget,
            credentials,
            allow_remote_shutdown: self.allow_remote_shutdown,
            stats_interval: (!self.stats_interval.is_zero()).then_some(self.stats_interval),
            udp_buffer: (self.udp_buffer > 0).then_some(self.udp_buffer),
            worker: self.worker_index,
            ..ServeConfig::defaults()
        })
    }
}

/// `SERVICE=FD` (the hidden `--listen-fd`): a socket inherited from the
/// worker parent.
pub fn parse_listen_fd(s: &str) -> Result<(Service, RawFd), String> {
    let (name, fd) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected SERVICE=FD"))?;
    let service = Service::from_name(name).ok_or_else(|| format!("{name:?}: not a service"))?;
    Ok((service, parse_fd(fd)?))
}

/// An inherited descriptor's number (above stdio's 0, 1 and 2).
pub fn parse_fd(fd: &str) -> Result<RawFd, String> {
    fd.parse::<RawFd>()
        .ok()
        .filter(|fd| *fd > 2)
        .ok_or_else(|| format!("{fd:?}: not a descriptor number above 2"))
}
