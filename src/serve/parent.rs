//! The `serve --workers N` parent: binds every worker's sockets, starts
//! the workers on them, prints the `listening` lines once, supervises, and
//! sums the workers' counters at the end. It never touches a client socket;
//! starting and reaping processes is [`crate::workers::Pool`]'s.

use super::worker_flags::worker_args;
use super::{ServeArgs, credentials, privileges};
use crate::error::Error;
use crate::protocol::Service;
use crate::server::{BindError, Bound, Stats, bind_all, bind_shared};
use crate::workers::{EXIT_REMOTE_SHUTDOWN, Pool, RESTART_INTERVAL, WorkerLine, own_flags};
use std::ffi::OsString;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// How long the parent waits for a worker's `listening` lines.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The worker parent: start, print, supervise, stop, sum.
pub(super) fn supervise(args: &ServeArgs) -> Result<(), Error> {
    let config = args.to_config()?;
    // Fail in the parent, once, with the same message a single process gives.
    config.validate().map_err(|e| e.to_string())?;
    privileges::check_root(args, &config)?;
    credentials::warn_about_argv(args);
    // The workers' logins, in a memfd each inherits (never their argv).
    let users = match credentials::specs(args)? {
        Some(specs) => Some(
            credentials::for_workers(&specs)
                .map_err(|e| format!("cannot hand the logins to the workers: {e}"))?,
        ),
        None => None,
    };
    let workers = usize::from(args.workers);
    // Each worker's command line starts from this process's own flags.
    let parent_flags = own_flags();
    // Every socket is bound here, before any worker starts: a port in use
    // is one error line and exit status 1, as without workers.
    let sockets = bind_for_workers(&config.listeners, workers).map_err(|e| e.to_string())?;
    // Bound: root (if we had it and were told to) is no longer needed.
    privileges::drop_privileges(args)?;
    let mut pool = Pool::new().map_err(|e| format!("cannot set up workers: {e}"))?;
    let expected = config.listeners.len();
    let start = |pool: &mut Pool, own: &[Bound], index: usize| {
        start_worker(pool, &parent_flags, own, users.as_ref(), index)
    };
    for (index, own) in sockets.iter().enumerate() {
        if let Err(e) = start(&mut pool, own, index) {
            pool.stop_all();
            return Err(format!("cannot start worker {index}: {e}").into());
        }
        // Its `listening` lines say it took the sockets over and serves.
        if !await_listening(&pool, expected) {
            pool.stop_all();
            return Err(format!("worker {index} did not start (see its error above)").into());
        }
    }
    // The service ports are shared (print worker 0's); each worker's
    // metrics endpoint is its own.
    let printed = sockets.iter().enumerate().flat_map(|(index, own)| {
        own.iter()
            .filter(move |b| index == 0 || b.service() == Service::Metrics)
    });
    let mut stdout = std::io::stdout().lock();
    for bound in printed {
        if let Ok(addr) = bound.local_addr() {
            let service = bound.service();
            let _ = writeln!(stdout, "listening {} {} {}", service, service.proto(), addr);
        }
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
            // Stopping everything is explicit: only a worker stopped by a
            // remote shutdown says so, with its own status. Any other exit,
            // a clean one included (a signal sent to that worker alone),
            // restarts that worker and leaves the others serving.
            if status.code() == Some(i32::from(EXIT_REMOTE_SHUTDOWN)) {
                log::info!("worker {index} stopped for a remote shutdown: stopping all workers");
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
            // The same sockets again: what queued on them meanwhile is served.
            if let Err(e) = start(&mut pool, &sockets[index], index) {
                log::error!("cannot restart worker {index}: {e}");
            }
        }
        if remote_shutdown {
            break;
        }
    }
    // Close our copies first: once a stopping worker drops its listeners,
    // the kernel refuses new connections instead of queueing them on a
    // socket nobody will accept from.
    drop(sockets);
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
    Ok(())
}

/// Reads `listening SERVICE PROTO ADDR` lines until `expected` arrived;
/// `false` if the worker exited or stalled first.
fn await_listening(pool: &Pool, expected: usize) -> bool {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut found = 0;
    while found < expected && Instant::now() < deadline {
        match pool.next_line(Duration::from_millis(100)) {
            Some(WorkerLine::Line(_, line)) => {
                found += usize::from(parse_listening(&line).is_some());
            }
            Some(WorkerLine::Closed(_)) => return false,
            None => {}
        }
    }
    found == expected
}

/// Parses one `listening SERVICE PROTO ADDR` line.
pub fn parse_listening(line: &str) -> Option<(Service, SocketAddr)> {
    let mut words = line.split_whitespace();
    if words.next()? != "listening" {
        return None;
    }
    let service = Service::from_name(words.next()?)?;
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

/// Binds the sockets of `workers` worker processes, indexed by worker:
/// every service's port shared by all ([`bind_shared`]), and a metrics
/// endpoint of its own for each (PORT+index, so worker N's counters are
/// always at a known place; or a free port each for port 0).
pub fn bind_for_workers(
    listeners: &[(Service, SocketAddr)],
    workers: usize,
) -> Result<Vec<Vec<Bound>>, BindError> {
    let mut sockets: Vec<Vec<Bound>> = (0..workers).map(|_| Vec::new()).collect();
    for &(service, addr) in listeners {
        if service == Service::Metrics {
            for (index, own) in sockets.iter_mut().enumerate() {
                let port = match addr.port() {
                    0 => 0,
                    port => port.saturating_add(index as u16),
                };
                let addr = SocketAddr::new(addr.ip(), port);
                own.extend(bind_all(&[(service, addr)], false)?);
            }
        } else {
            for (own, bound) in sockets.iter_mut().zip(bind_shared(service, addr, workers)?) {
                own.push(bound);
            }
        }
    }
    Ok(sockets)
}

/// Starts (or restarts) worker `index` on its sockets `own`, with the
/// logins in `users` (inherited, `--user-fd`), if any.
fn start_worker(
    pool: &mut Pool,
    parent_flags: &[OsString],
    own: &[Bound],
    users: Option<&OwnedFd>,
    index: usize,
) -> io::Result<()> {
    let mut sockets = Vec::with_capacity(own.len());
    for bound in own {
        sockets.push((bound.service(), bound.local_addr()?, bound.raw_fd()));
    }
    let users = users.map(AsRawFd::as_raw_fd);
    let args = worker_args(parent_flags, &sockets, users, index).map_err(io::Error::other)?;
    let mut fds: Vec<RawFd> = own.iter().map(Bound::raw_fd).collect();
    fds.extend(users);
    pool.spawn_inheriting(index, &args, &fds)
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
