//! `sockloop load` flags and the settings they turn into, checked once.
//!
//! Every limit here bounds a buffer or queue of the generator; each says
//! where its value comes from.

use super::live::LiveTo;
use crate::cli::parse_secs;
use crate::protocol::Service;
use clap::{Args, ValueEnum};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Requests in flight per connection at most. Each costs 8 bytes of send
/// time per connection, preallocated; deeper pipelines measure the kernel's
/// socket buffers rather than the server.
pub const MAX_DEPTH: u32 = 1024;

/// Largest `--size` for TCP echo (1 MiB): one message must fit comfortably
/// in memory many times over (depth x conns).
pub const MAX_SIZE: usize = 1 << 20;

/// Largest burst of request bytes per connection (`--depth` x request size),
/// which is also the most output a connection ever keeps pending: 4 MiB.
pub const MAX_BURST_BYTES: usize = 4 << 20;

/// Largest `--source` range: one /16 worth of addresses.
pub const MAX_SOURCES: usize = 65_536;

/// Longest `--duration` and `--connect-timeout`: a week. Bounds the
/// arithmetic on nanosecond deadlines; no load test runs longer.
pub const MAX_SECS: u64 = 7 * 24 * 3600;

/// `--rate` bounds (per connection per second): from one request every
/// 1000 s to one every 100 ns (faster than any connection is answered).
pub const RATE_RANGE: std::ops::RangeInclusive<f64> = 0.001..=10_000_000.0;

/// File descriptors kept back besides one per connection: epoll, the signal
/// pipe, stdio, the HdrHistogram log.
pub const FD_RESERVE: u64 = 32;

/// The services `load` can drive (udp-log sends no replies to verify).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoadService {
    /// TCP echo.
    Echo,
    /// TCP greet.
    Greet,
    /// TCP login, then commands.
    Login,
    /// TCP command.
    Command,
    /// UDP echo.
    UdpEcho,
}

impl LoadService {
    /// The server-side service.
    pub fn service(self) -> Service {
        match self {
            LoadService::Echo => Service::Echo,
            LoadService::Greet => Service::Greet,
            LoadService::Login => Service::Login,
            LoadService::Command => Service::Command,
            LoadService::UdpEcho => Service::UdpEcho,
        }
    }
}

/// `sockloop load`: flags.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The service to load.
    #[arg(long, value_enum, default_value_t = LoadService::Echo)]
    pub service: LoadService,
    /// IP:PORT (or HOST:PORT, or just IP) of the target; default 127.0.0.1
    /// and the service's default port.
    #[arg(long, value_name = "ADDR")]
    pub target: Option<String>,
    /// Connections (UDP: sockets) to open.
    #[arg(short = 'c', long = "conns", value_name = "N", default_value_t = 10)]
    pub conns: usize,
    /// New connections per second during ramp-up (0 = as fast as possible).
    #[arg(long, value_name = "N", default_value_t = 0.0)]
    pub connect_rate: f64,
    /// A connect not completed within this many seconds fails.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    pub connect_timeout: Duration,
    /// How long to wait for replies still in flight after the window.
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = parse_secs)]
    pub drain_timeout: Duration,
    /// Length of the measured window, after ramp-up (seconds, fractions ok).
    #[arg(short = 'd', long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    pub duration: Duration,
    /// Requests in flight per connection (pipelining); the cap in open loop.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub depth: u32,
    /// Open loop: requests per second per connection on a fixed schedule.
    #[arg(long, value_name = "N", conflicts_with = "idle")]
    pub rate: Option<f64>,
    /// Echo and udp-echo message size in bytes (udp-echo: at least 8).
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    pub size: usize,
    /// Login credentials.
    #[arg(
        long = "user",
        value_name = "NAME:PASSWORD",
        default_value = "admin:12345"
    )]
    pub user: String,
    /// Local IPv4 address or range (A-B) to spread connections over.
    #[arg(long, value_name = "ADDR[-ADDR]")]
    pub source: Option<String>,
    /// Hold mode: connect, stay silent for --duration, then one request each.
    #[arg(long)]
    pub idle: bool,
    /// Print the final report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write request latencies as an HdrHistogram interval log (1 s intervals).
    /// With --workers, worker N writes FILE.N.
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,
    /// Generator processes, each a single-threaded loop with a share of the
    /// connections; the report merges them (1 = this process, no parent).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,
    /// Print `measurements JSON` on stdout instead of a report (set by the
    /// worker parent).
    #[arg(long, hide = true)]
    pub report_measurements: bool,
}

/// The checked settings of a run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The service.
    pub service: LoadService,
    /// Where to connect.
    pub target: SocketAddr,
    /// Connections or UDP sockets.
    pub conns: usize,
    /// Connects per second, 0 = unpaced.
    pub connect_rate: f64,
    /// Per-connect deadline.
    pub connect_timeout: Duration,
    /// The measured window.
    pub duration: Duration,
    /// The wait for replies in flight after the window.
    pub drain_timeout: Duration,
    /// Requests in flight per connection at most.
    pub depth: u32,
    /// Open loop: requests per second per connection.
    pub rate: Option<f64>,
    /// Echo/udp-echo message size.
    pub size: usize,
    /// Login user and password.
    pub user: (String, String),
    /// Local addresses to bind, round-robin; empty = the kernel chooses.
    pub sources: Vec<IpAddr>,
    /// Hold mode.
    pub idle: bool,
    /// JSON report.
    pub json: bool,
    /// HdrHistogram log path.
    pub hdr_log: Option<PathBuf>,
    /// Where the one-second live line goes: stderr, or (a worker) the parent.
    pub live: LiveTo,
}

impl LoadConfig {
    /// Checks the flags.
    pub fn from_args(a: &LoadArgs) -> Result<LoadConfig, String> {
        let port = a.service.service().default_port();
        let target = match &a.target {
            None => SocketAddr::from(([127, 0, 0, 1], port)),
            Some(t) => parse_target(t, port)?,
        };
        if a.conns == 0 {
            return Err("--conns must be at least 1".into());
        }
        if !(1..=MAX_DEPTH).contains(&a.depth) {
            return Err(format!("--depth must be 1..={MAX_DEPTH}"));
        }
        if !(a.connect_rate >= 0.0 && a.connect_rate.is_finite()) {
            return Err("--connect-rate must be a number >= 0".into());
        }
        if let Some(r) = a.rate
            && !RATE_RANGE.contains(&r)
        {
            return Err(format!(
                "--rate must be {}..={} requests/s",
                RATE_RANGE.start(),
                RATE_RANGE.end()
            ));
        }
        if a.duration.as_secs() > MAX_SECS || a.connect_timeout.as_secs() > MAX_SECS {
            return Err(format!(
                "--duration and --connect-timeout must be at most {MAX_SECS} s"
            ));
        }
        let max_size = match a.service {
            LoadService::UdpEcho => crate::protocol::udp::MAX_DATAGRAM,
            _ => MAX_SIZE,
        };
        if !(1..=max_size).contains(&a.size) {
            return Err(format!("--size must be 1..={max_size}"));
        }
        if a.depth as usize * a.size > MAX_BURST_BYTES {
            return Err(format!(
                "--depth x --size must be at most {MAX_BURST_BYTES} bytes"
            ));
        }
        let user = parse_user(&a.user)?;
        let sources = match &a.source {
            None => Vec::new(),
            Some(s) => parse_sources(s)?,
        };
        if sources
            .first()
            .is_some_and(|s| s.is_ipv4() != target.is_ipv4())
        {
            return Err("--source and --target must both be IPv4 or both IPv6".into());
        }
        Ok(LoadConfig {
            service: a.service,
            target,
            conns: a.conns,
            connect_rate: a.connect_rate,
            connect_timeout: a.connect_timeout,
            duration: a.duration,
            drain_timeout: a.drain_timeout,
            depth: a.depth,
            rate: a.rate,
            size: a.size,
            user,
            sources,
            idle: a.idle,
            json: a.json,
            hdr_log: a.hdr_log.clone(),
            // A worker's second is only its share: the parent merges them all
            // into the one line it prints.
            live: if a.report_measurements {
                LiveTo::Parent
            } else {
                LiveTo::Stderr
            },
        })
    }
}

/// `IP:PORT`, `HOST:PORT`, or a bare IP (with the service's default port).
pub fn parse_target(s: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("--target '{s}' is not IP:PORT, HOST:PORT or IP"))
}

/// `NAME:PASSWORD` (split at the first colon).
pub fn parse_user(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, password))
            if !name.trim().is_empty() && name.len() <= 200 && !s.contains(['\n', '\r']) =>
        {
            Ok((name.trim().to_owned(), password.to_owned()))
        }
        _ => Err(format!("--user '{s}' is not NAME:PASSWORD")),
    }
}

/// `A` or `A-B` (IPv4, inclusive, A <= B).
pub fn parse_sources(s: &str) -> Result<Vec<IpAddr>, String> {
    let bad = || format!("--source '{s}' is not an IPv4 address or range A-B");
    let (first, last) = match s.split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    };
    let first: Ipv4Addr = first.parse().map_err(|_| bad())?;
    let last: Ipv4Addr = last.parse().map_err(|_| bad())?;
    let (lo, hi) = (u32::from(first), u32::from(last));
    if lo > hi {
        return Err(bad());
    }
    if (hi - lo) as usize >= MAX_SOURCES {
        return Err(format!("--source covers more than {MAX_SOURCES} addresses"));
    }
    Ok((lo..=hi).map(|a| IpAddr::V4(Ipv4Addr::from(a))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ranges() {
        let r = parse_sources("127.0.0.2-127.0.0.4").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[2], "127.0.0.4".parse::<IpAddr>().unwrap());
        assert_eq!(parse_sources("127.0.0.9").unwrap().len(), 1);
        assert!(parse_sources("127.0.0.9-127.0.0.2").is_err());
        assert!(parse_sources("::1").is_err());
        assert!(parse_sources("10.0.0.0-10.2.0.0").is_err());
    }

    #[test]
    fn targets_and_users() {
        assert_eq!(
            parse_target("127.0.0.1", 7001).unwrap(),
            "127.0.0.1:7001".parse().unwrap()
        );
        assert_eq!(
            parse_target("[::1]:9", 7).unwrap(),
            "[::1]:9".parse().unwrap()
        );
        assert!(parse_target("no such thing", 7).is_err());
        assert_eq!(
            parse_user("bob:pa:ss").unwrap(),
            ("bob".into(), "pa:ss".into())
        );
        assert!(parse_user("bob").is_err());
        assert!(parse_user(":pw").is_err());
    }
}
