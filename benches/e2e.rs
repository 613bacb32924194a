//! End-to-end echo benchmark: sockloop against reference servers, each a
//! separate process, all driven by the same `sockloop load` settings.
//!
//! Servers: sockloop, tokio current-thread, tokio multi-thread (this binary
//! re-run with `SOCKLOOP_BENCH_ROLE`), and a hand-written C epoll loop
//! (`benches/ref/epoll_echo.c`, built with `cc -O2`; skipped without cc).
//! Rounds alternate the servers (A B C D A B C D ...) so drift on a shared
//! machine hits all alike; the table shows medians. Each server is started
//! fresh per round (idle-connection memory is measured in round 1 only),
//! then depth 1 and depth 16 runs.
//! A last phase counts syscalls per message with perf and strace.
//!
//! Then UDP (`e2e/udp.rs`): sockloop's udp-echo against a per-datagram C
//! loop and a `recvmmsg`/`sendmmsg` C loop, server and generator pinned to
//! one CPU each, alternating rounds, 64- and 1,400-byte datagrams; its own
//! table.
//!
//! Then connection churn (`e2e/churn.rs`): connections per second with one
//! echo each (`sockloop load --requests-per-conn 1`) against sockloop, the
//! tokio current-thread echo and the C epoll echo, pinned as the UDP half,
//! alternating rounds; its own table. `SOCKLOOP_BENCH_ONLY=tcp`, `=udp` or
//! `=churn` runs one part.
//!
//! Run: `cargo bench --bench e2e` (about 4 minutes). Shorter:
//! `SOCKLOOP_BENCH_SECS=2 SOCKLOOP_BENCH_ROUNDS=1 cargo bench --bench e2e`.
//! Under `cargo test --benches` (no `--bench` flag) it only checks that
//! every server starts and echoes, in about a second.
//! Results and their reading: docs/benchmarks.md.

// The crate root of a bench resolves `mod` paths beside itself; the parts
// live in benches/e2e/ so cargo does not take them for benches.
#[path = "e2e/churn.rs"]
mod churn;
#[path = "e2e/drive.rs"]
mod drive;
#[path = "e2e/probe.rs"]
mod probe;
#[path = "e2e/report.rs"]
mod report;
#[path = "e2e/servers.rs"]
mod servers;
#[path = "e2e/syscalls.rs"]
mod syscalls;
#[path = "e2e/udp.rs"]
mod udp;

use drive::Settings;
use report::{Metric, Results};
use servers::{Kind, ROLE_VAR, Server};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use syscalls::{Attached, Tool};

/// The run's shape, from `SOCKLOOP_BENCH_*` variables or the defaults.
struct Plan {
    /// `SOCKLOOP_BENCH_SECS`: seconds per throughput run (default 2).
    secs: f64,
    /// `SOCKLOOP_BENCH_ROUNDS`: rounds over all servers (default 8: the
    /// machine is shared and noisy, medians need several samples).
    rounds: usize,
    /// `SOCKLOOP_BENCH_IDLE_CONNS`: idle connections (default 10,000).
    idle_conns: usize,
    /// `SOCKLOOP_BENCH_IDLE_SECS`: how long the idle connections are held
    /// once all are open (default 3; RSS is read as soon as they are).
    idle_secs: f64,
    /// `SOCKLOOP_BENCH_CONNECT_RATE`: idle connections opened per second
    /// (default 5,000: 2 s for 10,000).
    connect_rate: u64,
    /// `SOCKLOOP_BENCH_SYSCALL_SECS`: seconds per counted run (default 2).
    syscall_secs: f64,
    /// `SOCKLOOP_BENCH_STRACE_RATE`: msgs/s under strace (default 2,000:
    /// low enough that no server saturates while ptrace stops every call).
    strace_rate: u64,
    /// `SOCKLOOP_BENCH_UDP_SECS`: seconds per UDP run (default 3, as the
    /// runs that first showed the loss).
    udp_secs: f64,
    /// `SOCKLOOP_BENCH_CHURN_SECS`: seconds per churn run (default 3).
    churn_secs: f64,
    /// `SOCKLOOP_BENCH_ONLY`: `tcp`, `udp` or `churn` runs only that part
    /// (default all).
    only: Option<String>,
}

/// Connections and message size of every throughput run.
const CONNS: usize = 100;
const MESSAGE_SIZE: usize = 64;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Plan {
    fn from_env() -> Plan {
        Plan {
            secs: env_or("SOCKLOOP_BENCH_SECS", 2.0),
            rounds: env_or("SOCKLOOP_BENCH_ROUNDS", 8),
            idle_conns: env_or("SOCKLOOP_BENCH_IDLE_CONNS", 10_000),
            idle_secs: env_or("SOCKLOOP_BENCH_IDLE_SECS", 3.0),
            connect_rate: env_or("SOCKLOOP_BENCH_CONNECT_RATE", 5_000),
            syscall_secs: env_or("SOCKLOOP_BENCH_SYSCALL_SECS", 2.0),
            strace_rate: env_or("SOCKLOOP_BENCH_STRACE_RATE", 2_000),
            udp_secs: env_or("SOCKLOOP_BENCH_UDP_SECS", 3.0),
            churn_secs: env_or("SOCKLOOP_BENCH_CHURN_SECS", 3.0),
            only: std::env::var("SOCKLOOP_BENCH_ONLY").ok(),
        }
    }

    /// Whether the part `name` (`tcp`, `udp`, `churn`) runs.
    fn runs(&self, name: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == name)
    }

    fn load(&self, depth: usize, secs: f64) -> Settings {
        Settings {
            service: "echo",
            cpu: None,
            conns: CONNS,
            depth,
            size: MESSAGE_SIZE,
            secs,
            rate: None,
            requests_per_conn: None,
            source: None,
        }
    }
}

fn main() -> ExitCode {
    if let Ok(role) = std::env::var(ROLE_VAR) {
        return match servers::run_tokio_role(&role) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    let result = if std::env::args().any(|a| a == "--bench") {
        run_all(&Plan::from_env())
    } else {
        smoke()
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("e2e: error: {message}");
    ExitCode::FAILURE
}

/// Where the C server and the load reports go: beside this binary.
fn work_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("no exe dir")?.join("e2e-work");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// The servers to compare; the C one only if it compiles here.
fn kinds(work: &Path, notes: &mut Vec<String>) -> Vec<Kind> {
    let mut kinds = vec![Kind::Sockloop, Kind::TokioCt, Kind::TokioMt];
    match servers::build_c(work, "epoll_echo") {
        Ok(exe) => kinds.push(Kind::EpollC(exe)),
        Err(e) => notes.push(format!("C epoll reference skipped: {e}")),
    }
    kinds
}

/// Test mode: every server starts, echoes 64 bytes, and is readable in /proc.
fn smoke() -> Result<(), String> {
    let work = work_dir()?;
    let mut notes = Vec::new();
    for kind in kinds(&work, &mut notes) {
        let server = Server::start(&kind)?;
        server.echo_once(MESSAGE_SIZE)?;
        let pid = server.pid();
        let rss = probe::rss_bytes(pid).map_err(|e| e.to_string())?;
        let fds = probe::fd_count(pid).map_err(|e| e.to_string())?;
        probe::cpu_time(pid).map_err(|e| e.to_string())?;
        eprintln!(
            "e2e smoke: {} at {} echoes; rss {rss} B, {fds} fds",
            server.name, server.addr
        );
    }
    notes.iter().for_each(|n| eprintln!("e2e smoke: {n}"));
    udp::smoke(&work)
}

/// The benchmark proper; prints the report on stdout.
fn run_all(plan: &Plan) -> Result<(), String> {
    let work = work_dir()?;
    if plan.runs("tcp") {
        run_tcp(plan, &work)?;
    }
    if plan.runs("udp") {
        let results = udp::run(plan.rounds, plan.udp_secs, &work)?;
        println!(
            "UDP echo, -c 8 --depth 32, server on CPU {} and generator on CPU {}:\n",
            udp::SERVER_CPU,
            udp::GENERATOR_CPU
        );
        println!("{}", results.render());
    }
    if plan.runs("churn") {
        let results = churn::run(plan.rounds, plan.churn_secs, &work)?;
        println!(
            "TCP connection churn, one 64-byte echo per connection, -c {}:\n",
            churn::CONNS
        );
        println!("{}", results.render());
    }
    Ok(())
}

/// TCP echo: the rounds, then the syscall counts; prints its table.
fn run_tcp(plan: &Plan, work: &Path) -> Result<(), String> {
    let mut results = Results::default();
    results.generator_cpu_runs = "depth 16";
    let kinds = kinds(work, &mut results.notes);
    for round in 1..=plan.rounds {
        results.round = round;
        for kind in &kinds {
            let server = Server::start(kind)?;
            let tag = format!("round {round}/{} {}", plan.rounds, server.name);
            // Idle memory does not vary between rounds (it is allocation,
            // not timing), so it is measured once, on the first fresh server.
            if round == 1 {
                measure_idle(plan, &server, &tag, work, &mut results);
            }
            measure_throughput(plan, &server, &tag, work, &mut results);
        }
    }
    results.round = 0;
    measure_syscalls(plan, &kinds, work, &mut results)?;
    println!("{}", results.render());
    Ok(())
}

/// Resident memory per idle connection on a fresh server. A failed
/// measurement is reported and left out, not fatal.
fn measure_idle(plan: &Plan, server: &Server, tag: &str, work: &Path, results: &mut Results) {
    let idle = drive::idle_rss_per_conn(
        server,
        plan.idle_conns,
        plan.connect_rate,
        plan.idle_secs,
        work,
    );
    match idle {
        Ok(bytes) => {
            eprintln!("{tag} idle: {bytes:.0} B/conn");
            results.add(server.name, Metric::IdleRss, bytes);
        }
        Err(e) => results.notes.push(format!("{tag} idle: FAILED: {e}")),
    }
}

/// Depth 1, then depth 16, with the server's CPU time charged to the
/// messages. A failed run is reported and left out, not fatal.
fn measure_throughput(plan: &Plan, server: &Server, tag: &str, work: &Path, results: &mut Results) {
    let name = server.name;
    let runs = [
        (
            1,
            Metric::RateD1,
            Metric::P99D1,
            Metric::CpuD1,
            Metric::UserD1,
        ),
        (
            16,
            Metric::RateD16,
            Metric::P99D16,
            Metric::CpuD16,
            Metric::UserD16,
        ),
    ];
    for (depth, rate, p99, cpu, user) in runs {
        match drive::throughput(server, &plan.load(depth, plan.secs), work) {
            Ok(t) => {
                let r = t.report;
                eprintln!(
                    "{tag} depth {depth}: {:.0} msgs/s, p99 {:.0} µs, server {:.2} µs/msg \
                     ({:.2} user), generator {:.0}% cpu{}",
                    r.msgs_per_sec,
                    r.p99_us,
                    t.cpu_us_per_msg,
                    t.user_us_per_msg,
                    r.generator_cpu_percent,
                    if r.saturated { " (saturated)" } else { "" }
                );
                results.add(name, rate, r.msgs_per_sec);
                results.add(name, p99, r.p99_us);
                results.add(name, cpu, t.cpu_us_per_msg);
                results.add(name, user, t.user_us_per_msg);
                let gen_cpu = (depth == 16).then_some(r.generator_cpu_percent);
                results.add_generator(name, r.saturated, gen_cpu);
            }
            Err(e) => results
                .notes
                .push(format!("{tag} depth {depth}: FAILED: {e}")),
        }
    }
}

/// Syscalls per message: perf at full speed (depth 1 and 16), strace -c at
/// a fixed rate, each on a fresh server.
fn measure_syscalls(
    plan: &Plan,
    kinds: &[Kind],
    work: &Path,
    results: &mut Results,
) -> Result<(), String> {
    let mut fixed_rate = plan.load(1, plan.syscall_secs);
    // `sockloop load --rate` is per connection.
    fixed_rate.rate = Some((plan.strace_rate / CONNS as u64).max(1));
    let mut runs = Vec::new();
    for tool in [Tool::Perf, Tool::Strace] {
        if !tool.works() {
            results
                .notes
                .push(format!("{tool:?} cannot count here: skipped"));
            continue;
        }
        match tool {
            Tool::Perf => {
                runs.push((tool, Metric::SysD1, plan.load(1, plan.syscall_secs)));
                runs.push((tool, Metric::SysD16, plan.load(16, plan.syscall_secs)));
            }
            Tool::Strace => runs.push((tool, Metric::SysStrace, fixed_rate)),
        }
    }
    for kind in kinds {
        let server = Server::start(kind)?;
        for (tool, metric, settings) in &runs {
            let out = work.join(format!("{}-{metric:?}.txt", server.name));
            let counted = Attached::start(*tool, server.pid(), &out).and_then(|attached| {
                let report = drive::run(&server, settings, work)?;
                Ok((report, attached.stop()?))
            });
            let what = format!(
                "{} {metric:?} ({tool:?}, depth {}",
                server.name, settings.depth
            );
            let what = match settings.rate {
                Some(rate) => format!("{what}, {} msgs/s)", rate * settings.conns as u64),
                None => format!("{what}, full speed)"),
            };
            match counted {
                Ok((report, counts)) => {
                    let line = format!("{what}: {}", counts.per_message(report.completed));
                    eprintln!("{line}");
                    results.add(server.name, *metric, counts.total / report.completed);
                    results.notes.push(line);
                }
                Err(e) => results.notes.push(format!("{what}: FAILED: {e}")),
            }
        }
    }
    Ok(())
}
