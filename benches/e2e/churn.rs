//! The connection-churn half of the end-to-end benchmark: new connections
//! per second (CPS) that sockloop's echo takes, against the tokio
//! current-thread echo and the C epoll echo (`benches/ref/epoll_echo.c`),
//! all driven by the same `sockloop load --requests-per-conn 1` (each
//! connection: connect, one 64-byte echo, close by the generator, a new
//! one in its place), -c [`CONNS`] at a time, from the 8 source addresses
//! of [`SOURCES`].
//!
//! As in the UDP half, the server runs pinned to [`SERVER_CPU`] and the
//! generator to [`GENERATOR_CPU`], rounds alternate the servers (each
//! started fresh), and the table shows medians and ratios. The server's CPU
//! per connection is its CPU time over the run (/proc) divided by the
//! connections that came up. `SOCKLOOP_BENCH_ONLY=churn` runs this half
//! alone (`SOCKLOOP_BENCH_CHURN_SECS`, default 3 s per run).

use crate::drive::{self, Settings};
use crate::report::{Metric, Results};
use crate::servers::{self, Kind, Server};
use crate::udp::{GENERATOR_CPU, SERVER_CPU, cpus};
use std::path::Path;

/// Connections open (or opening) at once: enough that the generator always
/// has a connect or a reply to work on while others are in flight, well
/// below the listen backlogs (1,024 for the C and tokio servers).
pub const CONNS: usize = 32;

/// Where the generator connects from: 8 loopback addresses. From one, the
/// rate stops at about 14,400 connections a second for every server
/// alike (measured here: `--close fin` from one address, 14,358-14,427
/// per second in every second of 6 s runs; `--close reset`, which leaves no
/// TIME_WAIT, 44,000-52,000): the generator's local ports, each held in
/// TIME_WAIT until loopback's `tcp_tw_reuse` lets a connect take it again.
/// Eight addresses, eight port ranges, and the close stays a FIN.
const SOURCES: &str = "127.0.0.2-127.0.0.9";

/// The servers to compare; the C one only if it compiles here.
fn kinds(work: &Path, notes: &mut Vec<String>) -> Vec<Kind> {
    let mut kinds = vec![Kind::Sockloop, Kind::TokioCt];
    match servers::build_c(work, "epoll_echo") {
        Ok(exe) => kinds.push(Kind::EpollC(exe)),
        Err(e) => notes.push(format!("C epoll reference skipped: {e}")),
    }
    kinds
}

/// `rounds` alternating rounds of `secs`-second churn runs; the figures.
pub fn run(rounds: usize, secs: f64, work: &Path) -> Result<Results, String> {
    let mut results = Results::default();
    results.generator_cpu_runs = "every churn run";
    let (server_cpu, generator_cpu) = cpus(&mut results.notes);
    let kinds = kinds(work, &mut results.notes);
    let settings = Settings {
        service: "echo",
        cpu: generator_cpu,
        conns: CONNS,
        depth: 1,
        size: 64,
        secs,
        rate: None,
        requests_per_conn: Some(1),
        source: Some(SOURCES),
    };
    for round in 1..=rounds {
        results.round = round;
        for kind in &kinds {
            let server = Server::start_on(kind, server_cpu)?;
            let tag = format!("round {round}/{rounds} {} churn", server.name);
            match drive::throughput(&server, &settings, work) {
                Ok(t) => {
                    let r = t.report;
                    // Per connection: with one request each, the messages
                    // and the connections are the same count, give or take
                    // the ones still connecting at the end.
                    let per_conn = r.completed / r.opened.max(1.0);
                    let cpu = t.cpu_us_per_msg * per_conn;
                    let user = t.user_us_per_msg * per_conn;
                    let connect_p99 = r.connect_p99_us.unwrap_or(f64::NAN);
                    eprintln!(
                        "{tag}: {:.0} conns/s, server {cpu:.2} µs/conn ({user:.2} user), \
                         connect p99 {connect_p99:.0} µs, generator {:.0}% cpu{}",
                        r.conns_per_sec,
                        r.generator_cpu_percent,
                        if r.saturated { " (saturated)" } else { "" }
                    );
                    results.add(server.name, Metric::Cps, r.conns_per_sec);
                    results.add(server.name, Metric::CpuPerConn, cpu);
                    results.add(server.name, Metric::UserPerConn, user);
                    if let Some(p99) = r.connect_p99_us {
                        results.add(server.name, Metric::ConnectP99, p99);
                    }
                    results.add_generator(server.name, r.saturated, Some(r.generator_cpu_percent));
                }
                Err(e) => results.notes.push(format!("{tag}: FAILED: {e}")),
            }
        }
    }
    results.notes.push(format!(
        "server on CPU {SERVER_CPU}, generator on CPU {GENERATOR_CPU}: `sockloop load \
         --requests-per-conn 1 -c {CONNS} --size 64 --source {SOURCES} -d {secs}`"
    ));
    Ok(results)
}
