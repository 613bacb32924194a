//! `sockloop serve`: one process, or a supervisor of `--workers N`.
//!
//! One process: bind, print the `listening` lines, run the loop. With
//! `--workers N > 1` this process becomes the parent described in
//! [`crate::workers`] and each worker runs the one-process path with
//! SO_REUSEPORT.

use crate::cli::ServeArgs;
use crate::flags::{Endpoint, fail, show_secs};
use crate::protocol::Service;
use crate::server::{Server, Stats};
use crate::workers::{Pool, RESTART_INTERVAL, WorkerLine};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long the parent waits for a worker's `listening` lines.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `serve` with the given flags.
pub fn run(args: &ServeArgs) -> ExitCode {
    let (old, soft, hard) = crate::limits::raise_nofile();
    log::info!("open-file limit: soft {old} -> {soft}, hard {hard}");
    if args.workers > 1 {
        return supervise(args);
    }
    let mut config = match args.to_config() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    config.reuse_port = args.reuse_port;
    log::info!(
        "max-conns {}, max-line {}, idle-timeout {}",
        config.max_conns,
        config.max_line,
        config.idle_timeout.map_or("never".to_owned(), show_secs)
    );
    let server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string()),
    };
    let mut stdout = std::io::stdout().lock();
    for (service, addr) in server.listening() {
        // The exact format tests, scripts and the worker parent wait for.
        let _ = writeln!(stdout, "listening {} {} {}", service, service.proto(), addr);
    }
    let _ = stdout.flush();
    drop(stdout);
    match server.run() {
        Ok(stats) => {
            if args.report_stats {
                // For the worker parent: one machine-readable line at exit.
                if let Ok(json) = serde_json::to_string(&stats) {
                    println!("stats {json}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("event loop failed: {e}")),
    }
}

/// The worker parent: start, print, supervise, stop, sum.
fn supervise(args: &ServeArgs) -> ExitCode {
    let config = match args.to_config() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    // Fail in the parent, once, with the same message a single process gives.
    if let Err(e) = config.validate() {
        return fail(&e.to_string());
    }
    let mut pool = match Pool::new() {
        Ok(p) => p,
        Err(e) => return fail(&format!("cannot set up workers: {e}")),
    };
    let expected = config.listeners.len();
    // Worker 0 resolves port 0; the others bind what it got.
    if let Err(e) = pool.spawn(0, &worker_args(args, &config.listeners, 0)) {
        return fail(&format!("cannot start worker 0: {e}"));
    }
    let Some(listening) = await_listening(&pool, expected) else {
        pool.stop_all();
        return fail("worker 0 did not start (see its error above)");
    };
    // Every worker's metrics endpoint is its own; the service ports are shared.
    let mut printed = listening.clone();
    for index in 1..usize::from(args.workers) {
        if let Err(e) = pool.spawn(index, &worker_args(args, &listening, index)) {
            pool.stop_all();
            return fail(&format!("cannot start worker {index}: {e}"));
        }
        let Some(lines) = await_listening(&pool, expected) else {
            pool.stop_all();
            return fail(&format!(
                "worker {index} did not start (see its error above)"
            ));
        };
        printed.extend(lines.into_iter().filter(|(s, _)| *s == Service::Metrics));
    }
    let mut stdout = std::io::stdout().lock();
    for (service, addr) in &printed {
        let _ = writeln!(stdout, "listening {} {} {}", service, service.proto(), addr);
    }
    let _ = stdout.flush();
    drop(stdout);
    log::info!("{} workers serving", args.workers);

    let mut totals = Stats::default();
    while !pool.stop_requested() {
        if let Some(WorkerLine::Line(_, line)) = pool.next_line(Duration::from_millis(100)) {
            add_stats_line(&mut totals, &line);
        }
        let mut remote_shutdown = false;
        for (index, status) in pool.reap() {
            if status.success() {
                // Only `E` with --allow-remote-shutdown ends a worker with 0.
                log::info!("worker {index} stopped on request: stopping all workers");
                remote_shutdown = true;
                continue;
            }
            log::warn!("worker {index} exited ({status}); restarting it");
            let recently = pool
                .workers
                .iter()
                .find(|w| w.index == index)
                .is_some_and(|w| w.started.elapsed() < RESTART_INTERVAL);
            if recently {
                // A worker that dies at once would otherwise restart in a tight loop.
                std::thread::sleep(RESTART_INTERVAL);
            }
            if let Err(e) = pool.spawn(index, &worker_args(args, &listening, index)) {
                log::error!("cannot restart worker {index}: {e}");
            }
        }
        if remote_shutdown {
            break;
        }
    }
    let killed = pool.stop_all();
    // Collect the workers' final `stats` lines.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut closed = 0;
    while closed < pool.workers.len() && Instant::now() < deadline {
        match pool.next_line(Duration::from_millis(100)) {
            Some(WorkerLine::Line(_, line)) => add_stats_line(&mut totals, &line),
            Some(WorkerLine::Closed(_)) => closed += 1,
            None => {}
        }
    }
    log::info!(
        "shutdown complete ({} workers, {killed} killed): {totals}",
        args.workers
    );
    ExitCode::SUCCESS
}

/// Reads `listening SERVICE PROTO ADDR` lines until `expected` arrived.
fn await_listening(pool: &Pool, expected: usize) -> Option<Vec<(Service, SocketAddr)>> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut found = Vec::new();
    while found.len() < expected && Instant::now() < deadline {
        match pool.next_line(Duration::from_millis(100))? {
            WorkerLine::Line(_, line) => found.extend(parse_listening(&line)),
            WorkerLine::Closed(_) => return None,
        }
    }
    (found.len() == expected).then_some(found)
}

/// Parses one `listening SERVICE PROTO ADDR` line.
pub fn parse_listening(line: &str) -> Option<(Service, SocketAddr)> {
    let mut words = line.split_whitespace();
    if words.next()? != "listening" {
        return None;
    }
    let name = words.next()?;
    let service = Service::ALL
        .into_iter()
        .chain([Service::Metrics])
        .find(|s| s.name() == name)?;
    let _proto = words.next()?;
    Some((service, words.next()?.parse().ok()?))
}

fn add_stats_line(totals: &mut Stats, line: &str) {
    if let Some(json) = line.strip_prefix("stats ") {
        match serde_json::from_str::<Stats>(json) {
            Ok(stats) => totals.add(&stats),
            Err(e) => log::warn!("unreadable worker stats: {e}"),
        }
    }
}

/// The command line for worker `index`: the parent's settings, the given
/// service addresses, its own metrics port, SO_REUSEPORT, and a stats line
/// at exit.
fn worker_args(args: &ServeArgs, listeners: &[(Service, SocketAddr)], index: usize) -> Vec<String> {
    let mut out = vec!["serve".to_string()];
    for service in Service::ALL {
        let addr = listeners
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, a)| *a);
        out.push(format!("--{}", service.name()));
        out.push(Endpoint(addr).to_string());
    }
    // PORT+index, so worker N's counters are always at a known place.
    let metrics = args.metrics.0.map(|a| match a.port() {
        0 => a,
        port => SocketAddr::new(a.ip(), port.saturating_add(index as u16)),
    });
    out.extend(["--metrics".into(), Endpoint(metrics).to_string()]);
    out.extend([
        "--stats-interval".into(),
        args.stats_interval.as_secs_f64().to_string(),
    ]);
    if let Some(n) = args.max_conns {
        out.extend(["--max-conns".into(), n.to_string()]);
    }
    out.extend(["--max-line".into(), args.max_line.to_string()]);
    out.extend([
        "--idle-timeout".into(),
        args.idle_timeout.as_secs_f64().to_string(),
    ]);
    for user in &args.users {
        out.extend(["--user".into(), user.clone()]);
    }
    if args.allow_remote_shutdown {
        out.push("--allow-remote-shutdown".into());
    }
    out.extend(["--reuse-port".into(), "--report-stats".into()]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines_parse_back() {
        assert_eq!(
            parse_listening("listening udp-echo udp 127.0.0.1:7000"),
            Some((Service::UdpEcho, "127.0.0.1:7000".parse().unwrap()))
        );
        assert_eq!(
            parse_listening("listening echo tcp [::1]:9"),
            Some((Service::Echo, "[::1]:9".parse().unwrap()))
        );
        assert_eq!(parse_listening("stats {}"), None);
        assert_eq!(parse_listening("listening nope tcp 1.2.3.4:5"), None);
    }
}
