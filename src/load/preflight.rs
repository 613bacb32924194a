//! The preflight: before a run opens anything, will its connections fit in
//! this host's memory and file table? [`estimate`] is a pure function of
//! the run ([`Run`]) and what /proc says about the host ([`Host`], read by
//! [`Host::read`]); `load::run` calls it in the parent (or the one
//! process), refuses a run that does not fit with the numbers, and runs it
//! anyway with `--force`. `--preflight` prints the estimate and exits
//! (`scripts/hold.sh` asks it before it starts anything).
//!
//! The model, with the constants measured on the project's machine
//! (docs/load-testing.md, "How many connections fit in N GiB"):
//!
//! ```text
//! sockets = conns x (2 if the target is on this host, else 1)
//! memory  = sockets x KERNEL_BYTES_PER_SOCKET
//!         + conns x USER_BYTES_PER_CONN x (sides on this host)
//!         + processes x PROCESS_BYTES
//! fits if memory <= MemAvailable x USABLE_PERCENT / 100
//!     and sockets + processes x FD_RESERVE <= fs.file-max - files open
//! ```
//!
//! A target on this host is one on a loopback address: its server is then
//! assumed to be `sockloop serve --workers`, one process per
//! `RLIMIT_NOFILE - FD_RESERVE` connections.

use super::config::FD_RESERVE;
use std::fmt;

/// Kernel memory per idle TCP socket: `tcp_sock`, inode, dentry, file,
/// epoll item, bind bucket and their slab overhead. Measured here as the
/// growth of `Slab` (/proc/meminfo) over the sockets a run held:
/// 4,455-5,079 B at 100,000 loopback connections, 5,016 B at 1,000,000
/// (docs/benchmarks.md, issue 15), rounded up to 5 KiB. (`MemAvailable`
/// falls by less: it counts the sockets' inodes and dentries as
/// reclaimable, which they are not while the sockets are open.)
pub const KERNEL_BYTES_PER_SOCKET: u64 = 5_120;

/// User-space memory per idle connection, each side: the target; the
/// measured `RssAnon` per connection is 129-140 B (generator) and
/// 131-132 B (server).
pub const USER_BYTES_PER_CONN: u64 = 150;

/// Memory per process beyond its connections: an idle worker's `RssAnon`
/// (380 kB server, 436 kB generator; more with the final requests'
/// buffers and histograms) and the kernel's share of a process (page
/// tables, kernel stack, epoll instance), rounded up.
pub const PROCESS_BYTES: u64 = 1 << 20;

/// The share of `MemAvailable` a run may take. The rest is the margin for
/// the other processes on the machine, for page cache the kernel cannot
/// give back at once, and for the estimate's own error (the slab per
/// socket was 4.5-5.0 KB between runs).
pub const USABLE_PERCENT: u64 = 85;

/// The run being planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Connections to hold.
    pub conns: u64,
    /// Generator processes (`--workers`).
    pub generators: u64,
    /// The target is on this host (loopback): its sockets and processes
    /// count here too.
    pub target_here: bool,
}

/// What the host has, from /proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// `MemAvailable` (bytes).
    pub mem_available: u64,
    /// `fs.file-max`.
    pub file_max: u64,
    /// Files open now, all processes (`fs.file-nr`).
    pub files_open: u64,
    /// Descriptors per process (the hard RLIMIT_NOFILE).
    pub nofile: u64,
}

impl Host {
    /// This host now, with `nofile` descriptors per process; `None` where
    /// /proc does not say (not Linux): no preflight then.
    pub fn read(nofile: u64) -> Option<Host> {
        Some(Host {
            mem_available: crate::memory::meminfo("MemAvailable")?,
            file_max: crate::memory::file_max()?,
            files_open: crate::memory::files_open()?,
            nofile,
        })
    }
}

/// What a run needs, against what the host has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// The run.
    pub run: Run,
    /// The host.
    pub host: Host,
    /// TCP sockets on this host.
    pub sockets: u64,
    /// Server processes on this host (0 for a remote target).
    pub servers: u64,
    /// Kernel memory of the sockets (bytes).
    pub kernel: u64,
    /// The generator's user-space memory (bytes).
    pub generator: u64,
    /// The server's, if on this host (bytes).
    pub server: u64,
    /// All of it.
    pub total: u64,
    /// What the run may take: `MemAvailable` x [`USABLE_PERCENT`].
    pub usable: u64,
    /// Descriptors, all processes.
    pub files_needed: u64,
    /// `fs.file-max` minus the files open now.
    pub files_free: u64,
}

/// What `run` needs on `host`.
pub fn estimate(run: Run, host: Host) -> Estimate {
    let per_process = host.nofile.saturating_sub(FD_RESERVE).max(1);
    let servers = if run.target_here {
        run.conns.div_ceil(per_process)
    } else {
        0
    };
    let sides = if run.target_here { 2 } else { 1 };
    let sockets = run.conns.saturating_mul(sides);
    let kernel = sockets.saturating_mul(KERNEL_BYTES_PER_SOCKET);
    let user = |conns: u64, processes: u64| {
        conns
            .saturating_mul(USER_BYTES_PER_CONN)
            .saturating_add(processes.saturating_mul(PROCESS_BYTES))
    };
    let generator = user(run.conns, run.generators);
    let server = if run.target_here {
        user(run.conns, servers)
    } else {
        0
    };
    let processes = run.generators + servers;
    Estimate {
        run,
        host,
        sockets,
        servers,
        kernel,
        generator,
        server,
        total: kernel.saturating_add(generator).saturating_add(server),
        usable: host.mem_available / 100 * USABLE_PERCENT,
        files_needed: sockets.saturating_add(processes.saturating_mul(FD_RESERVE)),
        files_free: host.file_max.saturating_sub(host.files_open),
    }
}

impl Estimate {
    /// Memory and descriptors both fit.
    pub fn fits(&self) -> bool {
        self.total <= self.usable && self.files_needed <= self.files_free
    }

    /// The largest connection count that fits this host, by the same model
    /// (with the same processes per connection).
    pub fn most_that_fit(&self) -> u64 {
        self.most(Estimate::fits)
    }

    /// The same, for memory alone (`fs.file-max` can be raised, and
    /// `scripts/hold.sh` does).
    pub fn most_for_memory(&self) -> u64 {
        self.most(|e| e.total <= e.usable)
    }

    /// The largest count whose estimate passes `ok` (a binary search).
    fn most(&self, ok: impl Fn(&Estimate) -> bool) -> u64 {
        let (mut low, mut high) = (0, self.run.conns.max(1).saturating_mul(64));
        while low < high {
            let mid = low + (high - low).div_ceil(2);
            let generators = self
                .run
                .generators
                .min(mid.max(1))
                .max(mid.div_ceil(self.host.nofile.max(1)));
            let run = Run {
                conns: mid,
                generators,
                ..self.run
            };
            if ok(&estimate(run, self.host)) {
                low = mid;
            } else {
                high = mid - 1;
            }
        }
        low
    }
}

/// Bytes as GiB with two decimals.
fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / f64::from(1u32 << 30))
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (run, host) = (self.run, self.host);
        let verdict = if self.fits() { "fits" } else { "does not fit" };
        writeln!(
            f,
            "preflight: {} connections need about {} of memory and {} files; \
             this host has {} usable ({USABLE_PERCENT}% of MemAvailable {}) and {} files free: {verdict}",
            run.conns,
            gib(self.total),
            self.files_needed,
            gib(self.usable),
            gib(host.mem_available),
            self.files_free,
        )?;
        let here = if run.target_here {
            "both ends on this host"
        } else {
            "the target's are elsewhere"
        };
        writeln!(
            f,
            "  kernel     {} sockets x {KERNEL_BYTES_PER_SOCKET} B = {} ({here})",
            self.sockets,
            gib(self.kernel)
        )?;
        let side = |name: &str, processes: u64, bytes: u64| {
            format!(
                "  {name:<10} {} conns x {USER_BYTES_PER_CONN} B + {processes} processes x {} KiB = {}",
                run.conns,
                PROCESS_BYTES / 1024,
                gib(bytes)
            )
        };
        writeln!(f, "{}", side("generator", run.generators, self.generator))?;
        if run.target_here {
            writeln!(f, "{}", side("server", self.servers, self.server))?;
        }
        writeln!(
            f,
            "  files      {} needed; fs.file-max {} with {} open",
            self.files_needed, host.file_max, host.files_open
        )?;
        if self.total > self.usable {
            writeln!(
                f,
                "  over       memory: {} needed, {} usable",
                gib(self.total),
                gib(self.usable)
            )?;
        }
        if self.files_needed > self.files_free {
            writeln!(
                f,
                "  over       files: {} needed, {} free (raise fs.file-max)",
                self.files_needed, self.files_free
            )?;
        }
        write!(
            f,
            "  at most    {} connections fit ({} by memory alone)",
            self.most_that_fit(),
            self.most_for_memory()
        )
    }
}

#[cfg(test)]
mod tests;
