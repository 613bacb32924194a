//! Counting a server's syscalls while it serves a load, to get syscalls per
//! message: the figure behind the project's stance "match the syscall count
//! of the best hand-written loop per message".
//!
//! Two counters, both attached to the server's pid (all its threads):
//! - `perf stat` on the syscall tracepoints: nearly free, so the count is
//!   taken at full speed, the same load as the throughput runs.
//! - `strace -c -f`: a full per-syscall table, but ptrace stops the server
//!   twice per call, so it runs at a fixed, modest rate (`--rate`), where
//!   every server sees the same arrival pattern.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a counter may take to attach before the run is abandoned.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);

/// The syscalls an echo loop makes per message, counted one by one by perf
/// (the rest are reported together as "other"): plain and socket-flavoured
/// read/write (std's TcpStream uses recvfrom/sendto), the epoll family, and
/// the multi-thread runtime's futex/sched_yield.
const PERF_SYSCALLS: [&str; 14] = [
    "read",
    "write",
    "recvfrom",
    "sendto",
    "readv",
    "writev",
    "recvmsg",
    "sendmsg",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_ctl",
    "futex",
    "sched_yield",
];

/// Which counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_*`.
    Perf,
    /// `strace -c -f`.
    Strace,
}

impl Tool {
    /// Whether the tool exists and can count here (perf needs tracepoint
    /// access, which some containers lack even when hardware counters
    /// are missing, or the reverse).
    pub fn works(self) -> bool {
        let status = match self {
            Tool::Perf => Command::new("perf")
                .args(["stat", "-e", "raw_syscalls:sys_enter", "true"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
            Tool::Strace => Command::new("strace")
                .args(["-c", "-o", "/dev/null", "true"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
        };
        status.is_ok_and(|s| s.success())
    }
}

/// Syscall counts over one run: `total` and per syscall name.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Every syscall the process made while attached.
    pub total: f64,
    /// Calls per syscall name (perf: the [`PERF_SYSCALLS`]; strace: all).
    pub by_name: BTreeMap<String, f64>,
}

impl Counts {
    /// "3.02/msg: epoll_wait 1.00, read 1.01, ...", the largest first.
    pub fn per_message(&self, messages: f64) -> String {
        let mut named: Vec<_> = self.by_name.iter().filter(|(_, n)| **n > 0.0).collect();
        named.sort_by(|a, b| b.1.total_cmp(a.1));
        let listed: f64 = named.iter().map(|(_, n)| **n).sum();
        let mut parts: Vec<String> = named
            .iter()
            .map(|(name, n)| format!("{name} {:.2}", **n / messages))
            .filter(|part| !part.ends_with(" 0.00"))
            .collect();
        let other = (self.total - listed) / messages;
        if other >= 0.005 {
            parts.push(format!("other {other:.2}"));
        }
        format!("{:.2}/msg: {}", self.total / messages, parts.join(", "))
    }
}

/// A counter attached to a server process; killed on drop.
pub struct Attached {
    tool: Tool,
    child: Child,
    out: PathBuf,
}

impl Attached {
    /// Attaches `tool` to `pid` and returns once it is counting.
    pub fn start(tool: Tool, pid: u32, out: &Path) -> Result<Attached, String> {
        let mut cmd = match tool {
            Tool::Perf => {
                let events: Vec<String> = std::iter::once("raw_syscalls:sys_enter".to_string())
                    .chain(
                        PERF_SYSCALLS
                            .iter()
                            .map(|s| format!("syscalls:sys_enter_{s}")),
                    )
                    .collect();
                let mut cmd = Command::new("perf");
                // -I 100: a line every 100 ms; the first one proves it is counting.
                cmd.args(["stat", "-x", ",", "-I", "100", "-e", &events.join(",")]);
                cmd
            }
            Tool::Strace => {
                let mut cmd = Command::new("strace");
                cmd.args(["-c", "-f"]);
                cmd
            }
        };
        cmd.arg("-o")
            .arg(out)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("spawn {tool:?}: {e}"))?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let attached = Attached {
            tool,
            child,
            out: out.to_path_buf(),
        };
        // strace says "Process N attached" on stderr; perf writes its first
        // interval to the output file. Either means counting has begun.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("attached") {
                    let _ = tx.send(());
                }
            }
        });
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        while Instant::now() < deadline {
            let ready = match tool {
                Tool::Strace => rx.recv_timeout(Duration::from_millis(20)).is_ok(),
                Tool::Perf => {
                    std::thread::sleep(Duration::from_millis(20));
                    fs::read_to_string(out).is_ok_and(|t| t.contains("raw_syscalls"))
                }
            };
            if ready {
                return Ok(attached);
            }
        }
        Err(format!("{tool:?} did not attach to pid {pid}"))
    }

    /// Stops counting (SIGINT, as at a terminal) and reads the counts.
    pub fn stop(mut self) -> Result<Counts, String> {
        // SAFETY: signals our own child, which has not been waited for yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return Err(format!("{:?} did not stop", self.tool)),
            }
        }
        let text = fs::read_to_string(&self.out).map_err(|e| e.to_string())?;
        match self.tool {
            Tool::Perf => parse_perf(&text),
            Tool::Strace => parse_strace(&text),
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        // Our own child; it may already have exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sums `perf stat -x, -I` lines: `TIME,COUNT,UNIT,EVENT,...`.
fn parse_perf(text: &str) -> Result<Counts, String> {
    let mut counts = Counts::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (Some(count), Some(event)) = (fields.get(1), fields.get(3)) else {
            continue;
        };
        // "<not counted>" in intervals with no syscalls at all.
        let Ok(count) = count.parse::<f64>() else {
            continue;
        };
        if *event == "raw_syscalls:sys_enter" {
            counts.total += count;
        } else if let Some(name) = event.strip_prefix("syscalls:sys_enter_") {
            *counts.by_name.entry(name.to_string()).or_default() += count;
        }
    }
    if counts.total == 0.0 {
        return Err(format!("no syscall counts in perf output: {text:?}"));
    }
    Ok(counts)
}

/// Reads `strace -c` table rows: `%time seconds usecs/call calls [errors] name`.
fn parse_strace(text: &str) -> Result<Counts, String> {
    let mut counts = Counts::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(calls), Some(name)) = (fields.get(3), fields.last()) else {
            continue;
        };
        // Header and dashed lines do not parse as a count.
        let Ok(calls) = calls.parse::<f64>() else {
            continue;
        };
        if *name == "total" {
            counts.total = calls;
        } else {
            counts.by_name.insert(name.to_string(), calls);
        }
    }
    if counts.total == 0.0 {
        return Err(format!("no total in strace -c output: {text:?}"));
    }
    Ok(counts)
}
