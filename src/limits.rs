//! The process's open-file limit (RLIMIT_NOFILE).
//!
//! Every connection is a file descriptor, so this limit is the hard ceiling
//! on connections per process. `serve` and `load` raise the soft limit to
//! the hard one at start and size `--max-conns` from it.

/// `(soft, hard)` RLIMIT_NOFILE. Falls back to the common default of 1024
/// if the call fails (it cannot, for this resource, on Linux).
pub fn nofile() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 1024,
        rlim_max: 1024,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc != 0 {
        return (1024, 1024);
    }
    (lim.rlim_cur, lim.rlim_max)
}

/// Raises the soft limit to the hard limit; returns `(old_soft, new_soft, hard)`.
pub fn raise_nofile() -> (u64, u64, u64) {
    let (soft, hard) = nofile();
    if soft < hard {
        let lim = libc::rlimit {
            rlim_cur: hard as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        if rc == 0 {
            return (soft, hard, hard);
        }
    }
    (soft, soft, hard)
}
