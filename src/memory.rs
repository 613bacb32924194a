//! What /proc says about memory and descriptors, read the one way every
//! caller needs: a process's **unique** memory (`RssAnon`, the pages only it
//! holds), never `VmRSS` (which counts the binary's shared file pages again
//! in every process: about 4.5 MB each here, 1 GB over 225 workers that
//! exist once), and the host's `MemAvailable`, `fs.file-max` and open files.
//!
//! A leaf: used by the load generator's preflight (`load/preflight.rs`) and
//! the benchmarks. Linux only, like sockloop; each reader returns `None`
//! where the file or the field is missing.

use std::fs;

/// The number of a `Name:   1234 kB` line of a /proc file, in bytes (or
/// as given, when the line has no `kB`).
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?.trim();
        match rest.strip_suffix("kB") {
            Some(kib) => kib.trim().parse::<u64>().ok().map(|k| k * 1024),
            None => rest.parse().ok(),
        }
    })
}

/// A process's anonymous resident memory (`RssAnon` of /proc/PID/status):
/// its heap, stacks and the pages it wrote, which no other process shares.
pub fn rss_anon(pid: u32) -> Option<u64> {
    field(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        "RssAnon",
    )
}

/// A process's proportional set size (`Pss` of /proc/PID/smaps_rollup):
/// every page divided by the number of processes that map it, so summed
/// over processes it counts shared pages once.
pub fn pss(pid: u32) -> Option<u64> {
    field(
        &fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?,
        "Pss",
    )
}

/// A field of /proc/meminfo (`MemAvailable`, `Slab`...), in bytes.
pub fn meminfo(name: &str) -> Option<u64> {
    field(&fs::read_to_string("/proc/meminfo").ok()?, name)
}

/// `fs.file-max`: open files the kernel allows, all processes together.
pub fn file_max() -> Option<u64> {
    fs::read_to_string("/proc/sys/fs/file-max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Files open now, all processes together: the first field of
/// /proc/sys/fs/file-nr (allocated handles; the second is always 0 since
/// Linux 2.6, the third is `fs.file-max`).
pub fn files_open() -> Option<u64> {
    fs::read_to_string("/proc/sys/fs/file-nr")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_in_bytes_by_exact_name() {
        let status =
            "VmRSS:\t    6328 kB\nRssAnon:\t    1784 kB\nRssFile:\t    4544 kB\nThreads:\t2\n";
        assert_eq!(field(status, "RssAnon"), Some(1784 * 1024));
        assert_eq!(field(status, "Rss"), None, "a prefix is not the field");
        assert_eq!(field(status, "Threads"), Some(2), "no unit: as given");
        assert_eq!(field(status, "Missing"), None);
        assert_eq!(field("RssAnon: lots kB\n", "RssAnon"), None);
    }

    #[test]
    fn this_process_and_host_are_readable() {
        let me = std::process::id();
        let anon = rss_anon(me).expect("RssAnon of this process");
        assert!(anon > 0);
        assert!(pss(me).expect("Pss of this process") >= anon / 2);
        assert!(meminfo("MemAvailable").expect("MemAvailable") > 0);
        let (max, open) = (file_max().unwrap(), files_open().unwrap());
        assert!(open > 0 && open <= max, "{open} of {max}");
    }
}
