//! Worker processes: several single-threaded loops past one process's limits.
//!
//! nginx's model: `--workers N` starts N copies of this same binary, each
//! running the unchanged single-threaded loop and each binding every
//! listener with SO_REUSEPORT, so the kernel spreads new connections (and
//! datagrams) across them. This module is the parent: it starts the
//! workers, prints the `listening` lines once, forwards SIGINT/SIGTERM/
//! SIGHUP, restarts a worker that exits (unless it exited with
//! [`EXIT_REMOTE_SHUTDOWN`], which stops them all), and sums the workers'
//! counters at the end. It never signals a worker it has reaped.
//!
//! The parent is a plain supervisor with blocking calls and one reader
//! thread per worker's stdout; it never touches a client socket.
//!
//! Binding: the parent binds every worker's sockets before starting any
//! worker ([`crate::server::bind_shared`]: one exclusive bind, then
//! SO_REUSEPORT siblings on the port it got, so port 0 needs no special
//! case) and hands worker N its own through `exec`
//! ([`Pool::spawn_inheriting`]); a port in use is refused once, by the
//! parent, before anything starts. The parent keeps its copies while it
//! supervises (nginx does the same with `listen ... reuseport`): a worker
//! restarted after a crash takes over the same sockets, so connections that
//! queued on its socket meanwhile are served, not reset. It closes them
//! before stopping the workers, so a stopping server refuses new
//! connections instead of queueing them.
//!
//! A worker's command line is the parent's own flags passed through, with
//! the worker's own appended ([`worker_command_line`], `command_line.rs`).

mod command_line;

#[cfg(test)]
pub(crate) use command_line::testing;
pub use command_line::{own_flags, worker_command_line};

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader};
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

/// How long the parent waits for workers to exit after forwarding a signal
/// before killing them (the workers' own grace period is 2 s).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A worker that keeps dying is restarted at most this often.
pub const RESTART_INTERVAL: Duration = Duration::from_secs(1);

/// The exit status of a `serve` worker that stopped for a remote shutdown
/// (`E` after logging in, where allowed): the one status on which the
/// parent stops every worker. 0 is not it: a worker that exits 0 was
/// stopped by a signal someone sent it alone, and is restarted like one
/// that failed. 3: not 0, not 1 (every error), not 2 (clap's usage errors,
/// which sockloop turns into 1 anyway), and below 128 (killed by a signal).
pub const EXIT_REMOTE_SHUTDOWN: u8 = 3;

/// What a worker's stdout reader thread reports.
#[derive(Debug)]
pub enum WorkerLine {
    /// One line of the worker's stdout.
    Line(usize, String),
    /// The worker closed its stdout (it is exiting).
    Closed(usize),
}

/// One running worker.
#[derive(Debug)]
pub struct Worker {
    /// Its index, 0..N.
    pub index: usize,
    /// The child process.
    pub child: Child,
    /// When it was (re)started.
    pub started: Instant,
    /// Reaped already: its pid may now belong to another process, so it
    /// must never be signalled again.
    pub reaped: bool,
}

impl Worker {
    /// Sends SIGTERM, unless the worker was already reaped (its pid could
    /// have been reused by then). Returns whether a signal was sent.
    pub fn terminate(&self) -> bool {
        if self.reaped {
            return false;
        }
        terminate(&self.child);
        true
    }
}

/// The parent's view of its workers.
pub struct Pool {
    /// Running workers, by index.
    pub workers: Vec<Worker>,
    lines_tx: Sender<WorkerLine>,
    /// Every line every worker printed, in arrival order.
    pub lines: Receiver<WorkerLine>,
    stop: Arc<AtomicBool>,
}

impl Pool {
    /// A pool with no workers yet; SIGINT/SIGTERM/SIGHUP now set the stop flag.
    pub fn new() -> io::Result<Pool> {
        let stop = Arc::new(AtomicBool::new(false));
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            signal_hook::flag::register(signal, Arc::clone(&stop))?;
        }
        let (lines_tx, lines) = mpsc::channel();
        Ok(Pool {
            workers: Vec::new(),
            lines_tx,
            lines,
            stop,
        })
    }

    /// Whether a stop signal has arrived.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Starts worker `index` running this binary with `args`.
    pub fn spawn(&mut self, index: usize, args: &[OsString]) -> io::Result<()> {
        self.spawn_inheriting(index, args, &[])
    }

    /// Like [`Pool::spawn`], and the worker inherits the descriptors
    /// `inherit` under the same numbers (`args` must tell it which they are).
    pub fn spawn_inheriting(
        &mut self,
        index: usize,
        args: &[OsString],
        inherit: &[RawFd],
    ) -> io::Result<()> {
        let inherit = inherit.to_vec();
        let parent = std::process::id();
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        // Own process group: a terminal's Ctrl-C reaches only the parent,
        // which forwards one SIGTERM (a second signal means "stop now" to a
        // worker, so it must not get both).
        command.process_group(0);
        // SAFETY: the closure runs in the child between fork and exec and
        // only calls prctl(2), getppid(2) and fcntl(2), which are
        // async-signal-safe, and reads values copied before the fork.
        unsafe {
            command.pre_exec(move || {
                // If the parent dies without stopping us, stop anyway
                // rather than serve on as an orphan.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect: then
                // no signal will ever come (we were reparented already), so
                // do not start at all (prctl(2) recommends this check).
                if libc::getppid() as u32 != parent {
                    return Err(io::Error::other("the parent exited while starting"));
                }
                // Every descriptor is close-on-exec (std and socket2 open
                // them so); clear the flag on this worker's own sockets only,
                // in the child's copy of the descriptor table, so worker N
                // gets its sockets and not its siblings'.
                for &fd in &inherit {
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("worker stdout not captured"))?;
        let tx = self.lines_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(WorkerLine::Line(index, line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(WorkerLine::Closed(index));
        });
        let worker = Worker {
            index,
            child,
            started: Instant::now(),
            reaped: false,
        };
        match self.workers.iter_mut().find(|w| w.index == index) {
            Some(slot) => *slot = worker,
            None => self.workers.push(worker),
        }
        Ok(())
    }

    /// Waits for the next line from any worker, up to `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<WorkerLine> {
        // Timeout and "every reader thread gone" both mean: nothing to read.
        self.lines.recv_timeout(timeout).ok()
    }

    /// Workers that have exited since the last call, with their status.
    /// Each is reported once, and never signalled again.
    pub fn reap(&mut self) -> Vec<(usize, ExitStatus)> {
        let mut dead = Vec::new();
        for w in self.workers.iter_mut().filter(|w| !w.reaped) {
            if let Ok(Some(status)) = w.child.try_wait() {
                w.reaped = true;
                dead.push((w.index, status));
            }
        }
        dead
    }

    /// Sends SIGTERM to every worker not yet reaped, waits up to
    /// [`STOP_TIMEOUT`], then kills the stragglers. Returns how many had to
    /// be killed.
    pub fn stop_all(&mut self) -> usize {
        for w in &self.workers {
            w.terminate();
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut killed = 0;
        for w in self.workers.iter_mut().filter(|w| !w.reaped) {
            loop {
                match w.child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = w.child.kill();
                        let _ = w.child.wait();
                        killed += 1;
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        killed
    }
}

/// Sends SIGTERM to a child (std only offers SIGKILL). The caller must
/// know it has not been reaped ([`Worker::terminate`] does).
pub fn terminate(child: &Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a pid we spawned and have not yet reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once reaped, a worker's pid may be any process's: it is not
    /// signalled (before, `stop_all` sent SIGTERM to it all the same).
    #[test]
    fn a_reaped_worker_is_never_signalled() {
        let child = Command::new("true").spawn().expect("spawn true");
        let mut pool = Pool {
            workers: vec![Worker {
                index: 0,
                child,
                started: Instant::now(),
                reaped: false,
            }],
            lines_tx: mpsc::channel().0,
            lines: mpsc::channel().1,
            stop: Arc::new(AtomicBool::new(false)),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut reaped = Vec::new();
        while reaped.is_empty() && Instant::now() < deadline {
            reaped = pool.reap();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(reaped.len(), 1, "`true` exited");
        assert!(pool.reap().is_empty(), "reported once");
        assert!(!pool.workers[0].terminate(), "no signal to a reaped pid");
        assert_eq!(pool.stop_all(), 0);
    }
}
