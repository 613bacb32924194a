//! `sockloop load` flags and the settings they turn into, checked once.
//!
//! Each value alone is range-checked by its clap parser ([`crate::flags`]);
//! [`LoadConfig::from_args`] checks the rules between flags. Every limit
//! here bounds a buffer or queue of the generator; each says where its value
//! comes from.

use super::live::LiveTo;
use super::scenario::udp::HEADER;
use super::search::{MAX_RATE, MAX_STEPS, MIN_RATE, Slo};
use super::stages::Stages;
use super::verdict::SATURATION_MIN_WINDOW_SECS;
use crate::config::{DEFAULT_UDP_BUFFER, MAX_UDP_BUFFER};
use crate::flags::{
    MAX_CONNS, MAX_WORKERS, TIMER_RESOLUTION_SECS, int_in, number_in, secs_between, secs_in,
};
use crate::protocol::Service;
use clap::{Args, ValueEnum};
pub use line_churn::{Close, LineSpec, MAX_REQUESTS_PER_CONN};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

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

/// `--rate` bounds (per connection per second): from one request every
/// 1000 s to one every 100 ns (faster than any connection is answered).
pub const RATE_RANGE: std::ops::RangeInclusive<f64> = 0.001..=10_000_000.0;

/// Longest `--drain-timeout`: one hour, the latency histograms' range
/// ([`super::measurements::HISTOGRAM_MAX_NS`]). A reply awaited longer could
/// not be recorded as what it took; a server that has not answered in an
/// hour is not going to.
pub const MAX_DRAIN_SECS: f64 = 3600.0;

/// Longest `--user` name: the welcome line `hello NAME, welcome to the
/// server` must fit the verifier's reply-line cap
/// ([`super::scenario::MAX_REPLY_LINE`], 256 bytes).
pub const MAX_USER_NAME: usize = 200;

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
    /// Any line-based TCP server: `--send` and `--expect` (needs `--target`).
    Line,
}

impl LoadService {
    /// The server-side service; `None` for `line` (any server).
    pub fn service(self) -> Option<Service> {
        match self {
            LoadService::Echo => Some(Service::Echo),
            LoadService::Greet => Some(Service::Greet),
            LoadService::Login => Some(Service::Login),
            LoadService::Command => Some(Service::Command),
            LoadService::UdpEcho => Some(Service::UdpEcho),
            LoadService::Line => None,
        }
    }

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        self.service().map_or("line", |s| s.name())
    }
}

/// `sockloop load`: flags.
#[derive(Debug, Args, PartialEq)]
pub struct LoadArgs {
    /// The service to load.
    #[arg(long, value_enum, default_value_t = LoadService::Echo)]
    pub service: LoadService,
    /// `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT` of the target; the port may be left
    /// out (the service's default port). Default: 127.0.0.1.
    #[arg(long, value_name = "ADDR")]
    pub target: Option<String>,
    /// Connections (UDP: sockets) to open.
    #[arg(short = 'c', long = "conns", value_name = "N", default_value_t = 10,
          allow_negative_numbers = true, value_parser = int_in::<usize>(1..=MAX_CONNS))]
    pub conns: usize,
    /// New connections per second during ramp-up and for churn's replacements
    /// (0 = as fast as possible).
    #[arg(long, value_name = "N", default_value_t = 0.0, allow_negative_numbers = true,
          value_parser = number_in(RATE_RANGE, Some("as fast as possible")))]
    pub connect_rate: f64,
    /// A connect not completed within this many seconds fails.
    #[arg(long, value_name = "SECS", default_value = "5", allow_negative_numbers = true,
          value_parser = secs_in(TIMER_RESOLUTION_SECS, None))]
    pub connect_timeout: Duration,
    /// How long to wait for replies still in flight after the window (and,
    /// open loop, to send the requests it still owes); 0 = count them as
    /// missing at once.
    #[arg(long, value_name = "SECS", default_value = "3", allow_negative_numbers = true,
          value_parser = secs_between(TIMER_RESOLUTION_SECS..=MAX_DRAIN_SECS, Some("no wait")))]
    pub drain_timeout: Duration,
    /// Length of the measured window, after ramp-up (seconds, fractions ok).
    #[arg(short = 'd', long, value_name = "SECS", default_value = "5", allow_negative_numbers = true,
          value_parser = secs_in(TIMER_RESOLUTION_SECS, None))]
    pub duration: Duration,
    /// Requests in flight per connection (pipelining); the cap in open loop.
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true,
          value_parser = int_in::<u32>(1..=u64::from(MAX_DEPTH)))]
    pub depth: u32,
    /// Open loop: requests per second per connection on a fixed schedule.
    #[arg(long, value_name = "N", conflicts_with = "idle", allow_negative_numbers = true,
          value_parser = number_in(RATE_RANGE, None))]
    pub rate: Option<f64>,
    /// Open loop: the TOTAL request rate (all connections and workers) ramps
    /// linearly from the previous target (0 at first) to each target over
    /// each stage, e.g. `10s:1000,30s:5000,10s:0`; the window lasts the
    /// stages. With --idle the targets are open connections instead.
    #[arg(long, value_name = "DUR:TARGET,...", conflicts_with_all = ["rate", "duration"],
          value_parser = Stages::parse)]
    pub stages: Option<Stages>,
    /// Search for the highest open-loop total rate whose step meets --slo
    /// with no error (one process only).
    #[arg(long, conflicts_with_all = ["rate", "stages", "idle"])]
    pub find_max_rate: bool,
    /// The objective of --find-max-rate: PERCENTILE=LIMIT, percentile p50,
    /// p90, p99 or p99.9, limit in s, ms, us or µs (e.g. `p99=5ms`).
    #[arg(long, value_name = "PCT=LIMIT", value_parser = Slo::parse)]
    pub slo: Option<Slo>,
    /// --find-max-rate: most steps [default: 12].
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = int_in::<u64>(1..=MAX_STEPS))]
    pub search_steps: Option<u64>,
    /// --find-max-rate: the first step's total rate [default: 100].
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = number_in(MIN_RATE..=MAX_RATE, None))]
    pub search_from: Option<f64>,
    /// --find-max-rate: each step's measured window [default: 5].
    #[arg(long, value_name = "SECS", allow_negative_numbers = true,
          value_parser = secs_between(SATURATION_MIN_WINDOW_SECS..=MAX_STEP_SECS, None))]
    pub step_duration: Option<Duration>,
    /// Echo and udp-echo message size in bytes (udp-echo: at least 8).
    #[arg(long, value_name = "BYTES", default_value_t = 64, allow_negative_numbers = true,
          value_parser = int_in::<usize>(1..=MAX_SIZE as u64))]
    pub size: usize,
    /// Login credentials, trimmed as `serve --user` trims them.
    #[arg(
        long = "user",
        value_name = "NAME:PASSWORD",
        default_value = "admin:12345"
    )]
    pub user: String,
    /// Local IPv4 address or range (A-B) to spread connections over.
    #[arg(long, value_name = "ADDR[-ADDR]")]
    pub source: Option<String>,
    /// udp-echo: SO_RCVBUF and SO_SNDBUF of each socket, in bytes (0 = the
    /// kernel's defaults). The kernel caps it at net.core.rmem_max and
    /// wmem_max; a clamped request is logged with the sysctl to raise.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_UDP_BUFFER, allow_negative_numbers = true,
          value_parser = int_in::<usize>(0..=MAX_UDP_BUFFER))]
    pub udp_buffer: usize,
    /// Hold mode: connect, stay silent for --duration, then one request
    /// each. With --stages, the number of open connections follows the
    /// stages.
    #[arg(long)]
    pub idle: bool,
    /// `--service line`: each request line, with {conn}, {seq}, {rand:N}
    /// (README, "Any line protocol").
    #[arg(long, value_name = "TEMPLATE")]
    pub send: Option<String>,
    /// `--service line`: what each reply line must be: exact, PREFIX*, or *
    /// (any line); may use {conn} and {seq}.
    #[arg(long, value_name = "PATTERN")]
    pub expect: Option<String>,
    /// Connection churn: close each connection after N verified replies and
    /// open a new one in its place (at --connect-rate, if set). Closed loop.
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          conflicts_with_all = ["idle", "rate", "stages", "find_max_rate"],
          value_parser = int_in::<u64>(1..=MAX_REQUESTS_PER_CONN))]
    pub requests_per_conn: Option<u64>,
    /// How churn closes a connection: fin (close(), TIME_WAIT on the
    /// generator) or reset (SO_LINGER 0: an RST, no TIME_WAIT anywhere).
    #[arg(long, value_enum, default_value_t = Close::Fin)]
    pub close: Close,
    /// Print the final report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write request latencies as an HdrHistogram interval log (1 s intervals).
    /// With --workers, worker N writes FILE.N.
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,
    /// Start the measured window at TIME (RFC 3339, or unix seconds), the same
    /// on every host: ramp-up happens before it. A TIME in the past is refused.
    #[arg(long, value_name = "TIME", value_parser = crate::flags::wall_time)]
    pub start_at: Option<SystemTime>,
    /// Names this run's part (e.g. the host) in the report (`label`), so
    /// `sockloop report` can tell merged parts apart.
    #[arg(long, value_name = "TEXT", value_parser = crate::flags::label)]
    pub label: Option<String>,
    /// Also write the report as one self-contained HTML page with plots.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Generator processes, each a single-threaded loop with a share of the
    /// connections; the report merges them (1 = this process, no parent).
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true,
          value_parser = int_in::<u16>(1..=MAX_WORKERS))]
    pub workers: u16,
    /// Run even if the preflight says the connections do not fit in this
    /// host's memory or file table.
    #[arg(long)]
    pub force: bool,
    /// Print the preflight's estimate (memory and files the run needs, what
    /// this host has) and exit: 0 if it fits, 1 if not. Opens nothing.
    #[arg(long)]
    pub preflight: bool,
    /// Print `measurements JSON` on stdout instead of a report (set by the
    /// worker parent).
    #[arg(long, hide = true)]
    pub report_measurements: bool,
    /// This process is worker N of a `--workers` parent (set by the parent).
    #[arg(long, hide = true, value_name = "N")]
    pub worker_index: Option<u16>,
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
    /// `--stages`: the profile (total rate, or with `idle` open
    /// connections); `duration` is its length.
    pub stages: Option<Stages>,
    /// `--find-max-rate`: the search; `duration` is one step's.
    pub search: Option<SearchConfig>,
    /// Echo/udp-echo message size.
    pub size: usize,
    /// Login user and password.
    pub user: (String, String),
    /// Local addresses to bind, round-robin; empty = the kernel chooses.
    pub sources: Vec<IpAddr>,
    /// SO_RCVBUF and SO_SNDBUF of UDP sockets; `None` = the kernel's.
    pub udp_buffer: Option<usize>,
    /// Hold mode.
    pub idle: bool,
    /// `--service line`: what to send and expect.
    pub line: Option<LineSpec>,
    /// Churn: replies per connection before it is replaced.
    pub requests_per_conn: Option<u64>,
    /// How churn closes a connection.
    pub close: Close,
    /// JSON report.
    pub json: bool,
    /// HdrHistogram log path.
    pub hdr_log: Option<PathBuf>,
    /// When the measured window starts (`--start-at`); `None`: as soon as
    /// ramp-up is over.
    pub start_at: Option<SystemTime>,
    /// This part's name in the report.
    pub label: Option<String>,
    /// The HTML report's path.
    pub html: Option<PathBuf>,
    /// Where the one-second live line goes: stderr, or (a worker) the parent.
    pub live: LiveTo,
    /// This process's index among the workers of `load --workers`
    /// (`--worker-index`); `None` for a single process.
    pub worker: Option<u16>,
}

impl LoadConfig {
    /// Whether requests go out on a schedule (`--rate`, `--stages` without
    /// `--idle`, `--find-max-rate`) rather than as replies free slots.
    pub fn open_loop(&self) -> bool {
        !self.idle && (self.rate.is_some() || self.stages.is_some() || self.search.is_some())
    }

    /// The profile the open loop's first window is paced by: the stages,
    /// or the search's first step; `None` for `--rate` and closed loop.
    pub fn profile(&self) -> Option<super::stages::Profile> {
        use super::stages::Profile;
        match (&self.stages, &self.search) {
            (Some(stages), _) if !self.idle => Some(Profile::new(stages)),
            (None, Some(search)) => {
                Some(Profile::constant(search.from, self.duration.as_secs_f64()))
            }
            _ => None,
        }
    }

    /// Checks the rules between flags (each value alone was range-checked
    /// by its parser) and resolves the target.
    pub fn from_args(a: &LoadArgs) -> Result<LoadConfig, String> {
        let port = a.service.service().map(Service::default_port);
        let target = match (&a.target, port) {
            (None, Some(port)) => SocketAddr::from(([127, 0, 0, 1], port)),
            (None, None) => return Err("--service line needs --target HOST:PORT".into()),
            (Some(t), _) => {
                crate::flags::connect_addr(t, port).map_err(|e| format!("--target: {e}"))?
            }
        };
        let line = line_churn::line_spec(a)?;
        check_size(a.service, a.size, a.depth)?;
        if let Some(spec) = &line {
            line_churn::check_line_burst(spec, a.depth)?;
        }
        check_workers(a)?;
        check_start_at(a.start_at, SystemTime::now())?;
        let search = check_search(a)?;
        if let Some(stages) = a.stages.as_ref().filter(|_| a.idle) {
            check_idle_stages(stages, a.conns)?;
        }
        let duration = match (&a.stages, &search) {
            (Some(stages), _) => Duration::from_secs_f64(stages.secs()),
            (None, Some(_)) => a
                .step_duration
                .unwrap_or(Duration::from_secs_f64(STEP_SECS)),
            (None, None) => a.duration,
        };
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
            duration,
            drain_timeout: a.drain_timeout,
            depth: a.depth,
            rate: a.rate,
            stages: a.stages.clone(),
            search,
            size: a.size,
            user,
            sources,
            udp_buffer: (a.udp_buffer > 0).then_some(a.udp_buffer),
            idle: a.idle,
            line,
            requests_per_conn: a.requests_per_conn,
            close: a.close,
            json: a.json,
            hdr_log: a.hdr_log.clone(),
            start_at: a.start_at,
            label: a.label.clone(),
            html: a.html.clone(),
            // A worker's second is only its share: the parent merges them all
            // into the one line it prints.
            live: if a.report_measurements {
                LiveTo::Parent
            } else {
                LiveTo::Stderr
            },
            worker: a.worker_index,
        })
    }
}

/// `--size` for the service: a udp-echo datagram starts with its 8-byte
/// sequence number and must fit one datagram; a burst (`--depth` x
/// `--size`) is bounded by [`MAX_BURST_BYTES`].
fn check_size(service: LoadService, size: usize, depth: u32) -> Result<(), String> {
    let udp_sizes = HEADER..=crate::protocol::udp::MAX_DATAGRAM;
    if service == LoadService::UdpEcho && !udp_sizes.contains(&size) {
        return Err(format!(
            "--size must be {}..={} for udp-echo (each datagram starts with its \
             {HEADER}-byte sequence number and must fit one datagram)",
            udp_sizes.start(),
            udp_sizes.end()
        ));
    }
    if depth as usize * size > MAX_BURST_BYTES {
        return Err(format!(
            "--depth x --size must be at most {MAX_BURST_BYTES} bytes"
        ));
    }
    Ok(())
}

/// `--workers` splits `--conns` and `--connect-rate`: every worker needs at
/// least one connection, and a paced share must stay within [`RATE_RANGE`].
fn check_workers(a: &LoadArgs) -> Result<(), String> {
    let workers = usize::from(a.workers);
    if workers > a.conns {
        return Err(format!(
            "--workers {workers} must be at most --conns ({}): each worker opens at least one",
            a.conns
        ));
    }
    let share = a.connect_rate / f64::from(a.workers);
    if a.connect_rate > 0.0 && share < *RATE_RANGE.start() {
        return Err(format!(
            "--connect-rate {} over --workers {workers} is below {} per worker",
            a.connect_rate,
            RATE_RANGE.start()
        ));
    }
    Ok(())
}

/// `--start-at` must lie after `now`: every host starts its window at it,
/// and one that has passed can no longer be kept.
fn check_start_at(start_at: Option<SystemTime>, now: SystemTime) -> Result<(), String> {
    match start_at.map(|t| t.duration_since(now)) {
        None | Some(Ok(_)) => Ok(()),
        Some(Err(past)) => Err(format!(
            "--start-at is {:.3} s in the past (now is {}): pick a time after the ramp-up",
            past.duration().as_secs_f64(),
            chrono::DateTime::<chrono::Utc>::from(now).to_rfc3339()
        )),
    }
}

/// `NAME:PASSWORD`, read by the same rule as `serve --user`
/// ([`crate::protocol::login::parse_user`]), with the name short enough for
/// the verifier ([`MAX_USER_NAME`]). The value is never echoed: it holds a
/// password.
pub fn parse_user(s: &str) -> Result<(String, String), String> {
    let (name, password) =
        crate::protocol::login::parse_user(s).map_err(|e| format!("--user: {e}"))?;
    if name.len() > MAX_USER_NAME {
        return Err(format!(
            "--user: the name must be at most {MAX_USER_NAME} bytes (the welcome line must \
             fit the reply verifier)"
        ));
    }
    Ok((name.to_owned(), password.to_owned()))
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

mod line_churn;
mod scenarios;

pub use scenarios::{MAX_STEP_SECS, SEARCH_FROM, SEARCH_STEPS, STEP_SECS, SearchConfig};
use scenarios::{check_idle_stages, check_search};

#[cfg(test)]
mod tests;
