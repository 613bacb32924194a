//! The UDP half of the end-to-end benchmark: sockloop's udp-echo against
//! two C loops, `benches/ref/udp_echo.c` (one `recvfrom` and one `sendto`
//! per datagram) and `benches/ref/udp_mmsg_echo.c` (64 datagrams per
//! `recvmmsg`/`sendmmsg`), all with 4 MiB socket buffers.
//!
//! Each server runs pinned to [`SERVER_CPU`] and the generator to
//! [`GENERATOR_CPU`] (`taskset -c`), so the server's CPU time is one core's
//! work and the two never compete for a core (other jobs on the machine
//! still may). Rounds alternate the servers, each started fresh, and each
//! round runs `sockloop load --service udp-echo -c 8 --depth 32` with 64-
//! and 1,400-byte datagrams.

use crate::drive::{self, Settings};
use crate::report::{Metric, Results};
use crate::servers::{self, Kind, Server};
use std::path::Path;
use std::process::{Command, Stdio};

/// The server's CPU.
pub const SERVER_CPU: usize = 0;
/// The generator's CPU.
pub const GENERATOR_CPU: usize = 1;

/// Sockets and datagrams in flight per socket: 256 in flight, the load the
/// issue's first measurement overflowed a 208 KiB receive buffer with.
const CONNS: usize = 8;
const DEPTH: usize = 32;

/// Datagram sizes, and the figures each fills.
const SIZES: [(usize, [Metric; 4]); 2] = [
    (
        64,
        [
            Metric::UdpRate64,
            Metric::UdpCpu64,
            Metric::UdpUser64,
            Metric::UdpLost64,
        ],
    ),
    (
        1400,
        [
            Metric::UdpRate1400,
            Metric::UdpCpu1400,
            Metric::UdpUser1400,
            Metric::UdpLost1400,
        ],
    ),
];

/// The servers to compare; the C ones only if they compile here.
pub fn kinds(work: &Path, notes: &mut Vec<String>) -> Vec<Kind> {
    let mut kinds = vec![Kind::SockloopUdp];
    for (name, kind) in [
        ("udp_echo", Kind::UdpC as fn(_) -> Kind),
        ("udp_mmsg_echo", Kind::UdpMmsgC),
    ] {
        match servers::build_c(work, name) {
            Ok(exe) => kinds.push(kind(exe)),
            Err(e) => notes.push(format!("C reference {name} skipped: {e}")),
        }
    }
    kinds
}

/// The CPUs to pin to, if this machine has two and `taskset` (also the
/// churn half's, `churn.rs`).
pub fn cpus(notes: &mut Vec<String>) -> (Option<usize>, Option<usize>) {
    let two = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    let taskset = Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if two && taskset {
        (Some(SERVER_CPU), Some(GENERATOR_CPU))
    } else {
        notes.push("runs not pinned: needs 2 CPUs and taskset".into());
        (None, None)
    }
}

/// Test mode: every UDP server starts and echoes 64 bytes.
pub fn smoke(work: &Path) -> Result<(), String> {
    let mut notes = Vec::new();
    for kind in kinds(work, &mut notes) {
        let server = Server::start(&kind)?;
        server.udp_echo_once(64)?;
        eprintln!("e2e smoke: {} at {} echoes UDP", server.name, server.addr);
    }
    notes.iter().for_each(|n| eprintln!("e2e smoke: {n}"));
    Ok(())
}

/// `rounds` alternating rounds of `secs`-second runs; the figures.
pub fn run(rounds: usize, secs: f64, work: &Path) -> Result<Results, String> {
    let mut results = Results::default();
    results.generator_cpu_runs = "every UDP run";
    let (server_cpu, generator_cpu) = cpus(&mut results.notes);
    let kinds = kinds(work, &mut results.notes);
    for round in 1..=rounds {
        results.round = round;
        for kind in &kinds {
            let server = Server::start_on(kind, server_cpu)?;
            for (size, [rate, cpu, user, lost]) in SIZES {
                let settings = Settings {
                    service: "udp-echo",
                    cpu: generator_cpu,
                    conns: CONNS,
                    depth: DEPTH,
                    size,
                    secs,
                    rate: None,
                    requests_per_conn: None,
                    source: None,
                };
                let tag = format!("round {round}/{rounds} {} udp {size} B", server.name);
                match drive::throughput(&server, &settings, work) {
                    Ok(t) => {
                        let r = t.report;
                        let drops = format!(
                            "lost {:.0} (kernel drops: server {}, generator {:.0})",
                            r.udp_lost,
                            r.server_drops.map_or("?".into(), |d| format!("{d:.0}")),
                            r.generator_drops
                        );
                        eprintln!(
                            "{tag}: {:.0} msgs/s, server {:.2} µs/dgram ({:.2} user), {drops}, \
                             generator {:.0}% cpu{}",
                            r.msgs_per_sec,
                            t.cpu_us_per_msg,
                            t.user_us_per_msg,
                            r.generator_cpu_percent,
                            if r.saturated { " (saturated)" } else { "" }
                        );
                        results.add(server.name, rate, r.msgs_per_sec);
                        results.add(server.name, cpu, t.cpu_us_per_msg);
                        results.add(server.name, user, t.user_us_per_msg);
                        results.add(server.name, lost, r.udp_lost);
                        results.add_generator(
                            server.name,
                            r.saturated,
                            Some(r.generator_cpu_percent),
                        );
                        if r.udp_lost > 0.0 {
                            results.notes.push(format!("{tag}: {drops}"));
                        }
                    }
                    Err(e) => results.notes.push(format!("{tag}: FAILED: {e}")),
                }
            }
        }
    }
    Ok(results)
}
