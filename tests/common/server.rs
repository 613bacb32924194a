//! A running `sockloop serve`: its addresses, its stderr log, signals and
//! exit, and what /proc says about it (RSS, descriptors).

use super::spawn::Builder;
use super::{IO_TIMEOUT, UDP_RESEND};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A running `sockloop serve`; killed when dropped.
#[derive(Debug)]
pub struct Server {
    pub(super) child: Child,
    pub(super) addrs: HashMap<String, SocketAddr>,
    pub(super) stderr_path: PathBuf,
    /// Lines the child printed on stdout after its `listening` lines.
    pub(super) stdout: Receiver<String>,
}

/// How a server process ended.
#[derive(Debug)]
pub struct Exited {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// Everything it wrote to stdout (for [`Server`]: after the `listening` lines).
    pub stdout: String,
}

impl Server {
    /// A server with every service on `127.0.0.1:0`, customised from here.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Every service on `127.0.0.1:0` plus `args`.
    #[track_caller]
    pub fn start(args: &[&str]) -> Server {
        Builder::default().args(args).spawn()
    }

    /// The address `service` listens on.
    #[track_caller]
    pub fn addr(&self, service: &str) -> SocketAddr {
        *self
            .addrs
            .get(service)
            .unwrap_or_else(|| panic!("{service} is not enabled"))
    }

    /// The next line the server printed on stdout after its service
    /// `listening` lines (e.g. `listening metrics tcp ADDR`).
    #[track_caller]
    pub fn next_stdout_line(&self) -> String {
        self.stdout
            .recv_timeout(IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("no further stdout line ({e}); stderr:\n{}", self.stderr()))
    }

    /// The metrics endpoint's address: the next stdout line must be its
    /// `listening metrics tcp ADDR` (started with `--metrics`).
    #[track_caller]
    pub fn metrics_addr(&self) -> SocketAddr {
        let line = self.next_stdout_line();
        line.strip_prefix("listening metrics tcp ")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("expected the metrics listening line, got {line:?}"))
    }

    /// The TCP echo address.
    pub fn echo(&self) -> SocketAddr {
        self.addr("echo")
    }

    /// The greet address.
    pub fn greet(&self) -> SocketAddr {
        self.addr("greet")
    }

    /// The login address.
    pub fn login(&self) -> SocketAddr {
        self.addr("login")
    }

    /// The command address.
    pub fn command(&self) -> SocketAddr {
        self.addr("command")
    }

    /// The UDP echo address.
    pub fn udp_echo(&self) -> SocketAddr {
        self.addr("udp-echo")
    }

    /// The UDP log address.
    pub fn udp_log(&self) -> SocketAddr {
        self.addr("udp-log")
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server has written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Polls the stderr log until a line contains `needle`; returns that line.
    /// Panics after [`IO_TIMEOUT`]. (Log output has no reply to wait on, so
    /// this polls with a deadline; it never assumes a delay is enough.)
    #[track_caller]
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.log_line_within(needle, IO_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "no log line containing {needle:?}; stderr:\n{}",
                self.stderr()
            )
        })
    }

    /// [`Server::wait_for_log`] for a line caused by a datagram, which UDP
    /// may drop (e.g. when a burst has filled the server's receive queue):
    /// calls `send` at the start and again every [`UDP_RESEND`] until the
    /// line appears. Panics after [`IO_TIMEOUT`].
    #[track_caller]
    pub fn wait_for_log_resending(&self, needle: &str, send: impl Fn()) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        while Instant::now() < deadline {
            send();
            if let Some(line) = self.log_line_within(needle, UDP_RESEND) {
                return line;
            }
        }
        panic!(
            "no log line containing {needle:?}; stderr:\n{}",
            self.stderr()
        )
    }

    /// Polls the stderr log for up to `within` until a line contains `needle`.
    fn log_line_within(&self, needle: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let log = self.stderr();
            if let Some(line) = log.lines().find(|l| l.contains(needle)) {
                return Some(line.to_owned());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory effects; the pid is our own child, not
        // yet reaped (we hold the Child), so it cannot name another process.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal})");
    }

    /// Stops the child (SIGSTOP) and waits until /proc says it is stopped
    /// (state `T`): nothing it has not read yet is read until
    /// [`Server::resume`]. Panics after [`IO_TIMEOUT`].
    #[track_caller]
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
        let deadline = Instant::now() + IO_TIMEOUT;
        while Instant::now() < deadline {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
                .expect("the server's /proc/PID/stat");
            // The state follows the command name, which is in parentheses.
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            if state.is_some_and(|s| s.starts_with('T')) {
                return;
            }
            std::thread::yield_now();
        }
        panic!("the server did not stop");
    }

    /// Lets a [`Server::pause`]d child go on (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Sends SIGTERM and waits for the exit.
    #[track_caller]
    pub fn terminate(self) -> Exited {
        self.stop_with(libc::SIGTERM)
    }

    /// Sends `signal` and waits for the exit.
    #[track_caller]
    pub fn stop_with(self, signal: libc::c_int) -> Exited {
        self.signal(signal);
        self.wait_exit()
    }

    /// Waits (up to [`IO_TIMEOUT`]) for the child to exit by itself.
    #[track_caller]
    pub fn wait_exit(mut self) -> Exited {
        let status = wait_with_deadline(&mut self.child)
            .unwrap_or_else(|| panic!("server did not exit; stderr:\n{}", self.stderr()));
        // The child is gone, so its stdout is at EOF: collect what is left.
        let stdout: String = self.stdout.iter().map(|l| l + "\n").collect();
        Exited {
            status,
            stderr: self.stderr(),
            stdout,
        }
    }

    /// The child's resident set size in KiB (VmRSS in /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS")
    }

    /// The most the child's resident set has ever been, in KiB (VmHWM, the
    /// kernel's high-water mark): a peak that a sample taken afterwards
    /// could miss.
    pub fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmHWM")
    }

    /// Number of the child's open file descriptors numbered below `limit`
    /// (/proc/PID/fd). Descriptors the child inherited above its
    /// RLIMIT_NOFILE (e.g. a jobserver pipe) stay open but are not counted.
    pub fn open_fds_below(&self, limit: usize) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<usize>().ok())
            .filter(|&fd| fd < limit)
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already reaped (terminate/wait_exit) or still running: either way
        // make sure no server outlives its test.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

/// One `kB` field of /proc/`pid`/status, e.g. `VmRSS`; usable from any
/// thread (a [`Server`] cannot be shared between threads).
#[track_caller]
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    let line = status
        .lines()
        .find(|l| {
            l.strip_prefix(field)
                .is_some_and(|rest| rest.starts_with(':'))
        })
        .unwrap_or_else(|| panic!("no {field} line in /proc/{pid}/status"));
    line.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("bad {field} line: {line:?}"))
}

/// Waits up to [`IO_TIMEOUT`] for `child` to exit; `None` if it did not.
pub(super) fn wait_with_deadline(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Exited {
    /// Asserts a clean exit (status 0, no signal).
    #[track_caller]
    pub fn assert_success(&self) {
        assert!(
            self.status.success(),
            "status {:?} (signal {:?}); stderr:\n{}",
            self.status.code(),
            self.status.signal(),
            self.stderr
        );
    }
}

/// The pids whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Field 4 is the ppid; the command name (field 2) may hold spaces,
        // so count from the closing parenthesis.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if after.split_whitespace().nth(1) == Some(&parent.to_string()) {
            kids.push(pid);
        }
    }
    kids
}
