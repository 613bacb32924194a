//! Driving a server with `sockloop load` and turning its JSON report, plus
//! what /proc says about the server, into the benchmark's figures.
//!
//! Every load run is a child process with its output in files under the
//! work directory, and is killed if it outlives its duration by
//! [`GRACE`]: a stuck generator fails the run instead of hanging the bench.

use crate::probe;
use crate::servers::Server;
use serde_json::Value;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The generator: the same build of sockloop as the server under test.
const SOCKLOOP: &str = env!("CARGO_BIN_EXE_sockloop");

/// How long past its `-d` a load run may take (connecting, reporting).
const GRACE: Duration = Duration::from_secs(30);

/// How often /proc is polled while waiting for idle connections.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// One load run's settings: `sockloop load --service SERVICE -c CONNS
/// --depth DEPTH ...`.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `echo` or `udp-echo` (`--service`).
    pub service: &'static str,
    /// Run the generator on this CPU (`taskset -c`), or anywhere.
    pub cpu: Option<usize>,
    /// Connections (`-c`).
    pub conns: usize,
    /// Requests in flight per connection (`--depth`).
    pub depth: usize,
    /// Message size in bytes (`--size`).
    pub size: usize,
    /// Duration in seconds (`-d`).
    pub secs: f64,
    /// Open loop: messages per second per connection (`--rate`);
    /// `None` = closed loop, as fast as replies come.
    pub rate: Option<u64>,
    /// Churn: replies per connection before it is replaced
    /// (`--requests-per-conn`); `None` = the connections stay.
    pub requests_per_conn: Option<u64>,
    /// Local addresses to connect from (`--source`), or the kernel's choice.
    pub source: Option<&'static str>,
}

/// The figures taken from one `sockloop load --json` report.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// `throughput.msgs_per_sec`.
    pub msgs_per_sec: f64,
    /// `latency_us.p99`.
    pub p99_us: f64,
    /// `requests.completed`.
    pub completed: f64,
    /// `generator.saturated`.
    pub saturated: bool,
    /// `generator.cpu_percent`.
    pub generator_cpu_percent: f64,
    /// `udp.lost` (0 for TCP).
    pub udp_lost: f64,
    /// `udp.kernel_drops.server`, when known.
    pub server_drops: Option<f64>,
    /// `udp.kernel_drops.generator`.
    pub generator_drops: f64,
    /// `connections.opened`: every connection that came up.
    pub opened: f64,
    /// `churn.conns_per_sec` (0 without churn).
    pub conns_per_sec: f64,
    /// `connect_latency_us.p99`, when there were enough connects for it.
    pub connect_p99_us: Option<f64>,
}

/// Reads one number from the report at a JSON pointer.
fn number(json: &Value, pointer: &str) -> Result<f64, String> {
    json.pointer(pointer)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("load report has no number at {pointer}"))
}

impl Report {
    /// The figures, or an error if any reply was wrong or a connection failed.
    fn from_json(json: &Value) -> Result<Report, String> {
        let verify_errors = number(json, "/requests/verify_errors")?;
        let failed = number(json, "/connections/failed")?;
        let closed = number(json, "/connections/closed_by_server")?;
        if verify_errors > 0.0 || failed > 0.0 || closed > 0.0 {
            return Err(format!(
                "{verify_errors} verify errors, {failed} failed connections, {closed} closed \
                 by the server: {}",
                json.pointer("/errors")
                    .map_or(String::new(), Value::to_string)
            ));
        }
        Ok(Report {
            msgs_per_sec: number(json, "/throughput/msgs_per_sec")?,
            p99_us: number(json, "/latency_us/p99")?,
            completed: number(json, "/requests/completed")?,
            saturated: json
                .pointer("/generator/saturated")
                .and_then(Value::as_bool)
                .ok_or("load report has no generator.saturated")?,
            generator_cpu_percent: number(json, "/generator/cpu_percent")?,
            udp_lost: number(json, "/udp/lost")?,
            server_drops: json
                .pointer("/udp/kernel_drops/server")
                .and_then(Value::as_f64),
            generator_drops: number(json, "/udp/kernel_drops/generator")?,
            opened: number(json, "/connections/opened")?,
            conns_per_sec: number(json, "/churn/conns_per_sec").unwrap_or(0.0),
            connect_p99_us: number(json, "/connect_latency_us/p99").ok(),
        })
    }
}

/// A running `sockloop load`; killed on drop if still running.
pub struct LoadRun {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    deadline: Instant,
}

impl LoadRun {
    /// Starts `sockloop load --service SERVICE ARGS -d SECS --json` against
    /// `addr`, on CPU `cpu` if given.
    fn start(
        service: &str,
        addr: &str,
        args: &[String],
        secs: f64,
        cpu: Option<usize>,
        work: &Path,
    ) -> Result<LoadRun, String> {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let stdout = work.join(format!("load-{n}.json"));
        let stderr = work.join(format!("load-{n}.log"));
        let file = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
        let mut command = match cpu {
            Some(cpu) => {
                let mut pinned = Command::new("taskset");
                pinned.args(["-c", &cpu.to_string(), SOCKLOOP]);
                pinned
            }
            None => Command::new(SOCKLOOP),
        };
        let child = command
            .args(["load", "--service", service, "--target", addr])
            .args(args)
            .args(["-d", &secs.to_string(), "--json"])
            .env("RUST_LOG", "warn")
            .stdout(file(&stdout)?)
            .stderr(file(&stderr)?)
            .spawn()
            .map_err(|e| format!("spawn sockloop load: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs_f64(secs) + GRACE;
        Ok(LoadRun {
            child,
            stdout,
            stderr,
            deadline,
        })
    }

    /// `true` once the generator has exited.
    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the generator (bounded) and parses its JSON report.
    fn finish(mut self) -> Result<Value, String> {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < self.deadline => std::thread::sleep(POLL_EVERY),
                Ok(None) => return Err("sockloop load overran its duration".into()),
                Err(e) => return Err(format!("wait for sockloop load: {e}")),
            }
        };
        let log = fs::read_to_string(&self.stderr).unwrap_or_default();
        if !status.success() {
            return Err(format!("sockloop load: {status}: {}", log.trim()));
        }
        let text = fs::read_to_string(&self.stdout).map_err(|e| e.to_string())?;
        serde_json::from_str(text.trim())
            .map_err(|e| format!("sockloop load --json output: {e}: {text:?}"))
    }
}

impl Drop for LoadRun {
    fn drop(&mut self) {
        // Our own child; it may already have exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one load against `server` with `settings`; returns the report.
pub fn run(server: &Server, settings: &Settings, work: &Path) -> Result<Report, String> {
    let mut args = vec![
        "-c".to_string(),
        settings.conns.to_string(),
        "--depth".into(),
        settings.depth.to_string(),
        "--size".into(),
        settings.size.to_string(),
    ];
    if let Some(rate) = settings.rate {
        args.extend(["--rate".into(), rate.to_string()]);
    }
    if let Some(n) = settings.requests_per_conn {
        args.extend(["--requests-per-conn".into(), n.to_string()]);
    }
    if let Some(source) = settings.source {
        args.extend(["--source".into(), source.to_string()]);
    }
    let json = LoadRun::start(
        settings.service,
        &server.addr,
        &args,
        settings.secs,
        settings.cpu,
        work,
    )?
    .finish()?;
    Report::from_json(&json)
}

/// One throughput run's figures.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// What the generator saw.
    pub report: Report,
    /// The server's user + system CPU time per completed message, in µs.
    pub cpu_us_per_msg: f64,
    /// The user-space part of `cpu_us_per_msg`.
    pub user_us_per_msg: f64,
}

/// Runs one load and charges the server's CPU time to the messages.
pub fn throughput(server: &Server, settings: &Settings, work: &Path) -> Result<Throughput, String> {
    let cpu = || probe::cpu_time(server.pid()).map_err(|e| format!("/proc stat: {e}"));
    let before = cpu()?;
    let report = run(server, settings, work)?;
    let after = cpu()?;
    if report.completed <= 0.0 {
        return Err("no messages completed".into());
    }
    let per_msg = |seconds: f64| seconds * 1e6 / report.completed;
    let user = after.user - before.user;
    let system = after.system - before.system;
    Ok(Throughput {
        report,
        cpu_us_per_msg: per_msg(user + system),
        user_us_per_msg: per_msg(user),
    })
}

/// Unique memory per idle connection: RssAnon with `conns` idle
/// connections open minus RssAnon before, over `conns`, in bytes (the
/// server's base, RssAnon before, goes to stderr with it).
///
/// The connections open at `connect_rate` per second: all at once would
/// overflow a 1,024-deep listen queue (tokio's default), and the dropped
/// SYNs would retry after 1 s, 3 s, ... measuring TCP, not the server.
pub fn idle_rss_per_conn(
    server: &Server,
    conns: usize,
    connect_rate: u64,
    secs: f64,
    work: &Path,
) -> Result<f64, String> {
    let pid = server.pid();
    let proc_err = |e: std::io::Error| format!("/proc of {}: {e}", server.name);
    let fds_before = probe::fd_count(pid).map_err(proc_err)?;
    let rss_before = probe::rss_bytes(pid).map_err(proc_err)?;
    let args = [
        "--idle".to_string(),
        "-c".into(),
        conns.to_string(),
        "--connect-rate".into(),
        connect_rate.to_string(),
    ];
    let mut load = LoadRun::start("echo", &server.addr, &args, secs, None, work)?;
    // Wait until the server holds every connection (one descriptor each).
    loop {
        let open = probe::fd_count(pid).map_err(proc_err)?;
        if open >= fds_before + conns {
            break;
        }
        if load.exited() || Instant::now() > load.deadline {
            return Err(format!(
                "only {} of {conns} idle connections reached the server \
                 before the generator ended or the deadline passed",
                open.saturating_sub(fds_before)
            ));
        }
        std::thread::sleep(POLL_EVERY);
    }
    let rss_with = settled_rss(pid).map_err(proc_err)?;
    let failed = number(&load.finish()?, "/connections/failed")?;
    if failed > 0.0 {
        return Err(format!("{failed} idle connections failed"));
    }
    let per_conn = rss_with.saturating_sub(rss_before) as f64 / conns as f64;
    eprintln!(
        "e2e: {}: RssAnon {} kB with no connection, {per_conn:.0} B per idle connection",
        server.name,
        rss_before / 1024
    );
    Ok(per_conn)
}

/// RSS once it stops changing: the server may still be setting up the
/// last connections it accepted (tokio polls a new task after spawning it).
fn settled_rss(pid: u32) -> std::io::Result<u64> {
    const SETTLE_EVERY: Duration = Duration::from_millis(100);
    const MAX_READS: usize = 20;
    let mut last = probe::rss_bytes(pid)?;
    for _ in 0..MAX_READS {
        std::thread::sleep(SETTLE_EVERY);
        let now = probe::rss_bytes(pid)?;
        if now == last {
            break;
        }
        last = now;
    }
    Ok(last)
}
