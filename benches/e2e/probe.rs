//! What the benchmark reads about a server process from /proc: CPU time,
//! unique resident memory (RssAnon) and open descriptors. Linux only, like
//! sockloop.

use std::fs;
use std::io;

/// CPU time a process has used so far, all threads, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct CpuTime {
    /// In user space (utime): the program's own work.
    pub user: f64,
    /// In the kernel on its behalf (stime): syscalls and, on loopback, the
    /// TCP stack work that a send triggers.
    pub system: f64,
}

/// The process's user and system CPU time so far (all threads).
pub fn cpu_time(pid: u32) -> io::Result<CpuTime> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces; proc(5) numbers utime and stime 14 and 15, i.e. the 12th and
    // 13th after the `)`.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))
    };
    let per_second = clock_ticks_per_second();
    Ok(CpuTime {
        user: field(11)? as f64 / per_second,
        system: field(12)? as f64 / per_second,
    })
}

/// `sysconf(_SC_CLK_TCK)`: the unit of utime and stime.
fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // 100 is the value on every Linux; used only if sysconf fails.
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The process's unique resident memory (RssAnon: heap, stacks, written
/// pages), in bytes. Not VmRSS: that also counts the binary's file pages,
/// shared with every other process running it (issue 15).
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    sockloop::memory::rss_anon(pid)
        .ok_or_else(|| io::Error::other("no RssAnon in /proc/PID/status"))
}

/// How many descriptors the process has open.
pub fn fd_count(pid: u32) -> io::Result<usize> {
    Ok(fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}
