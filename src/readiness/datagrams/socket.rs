//! A UDP socket's accounting, for both loops: the datagrams the kernel
//! dropped on it ([`drop_count_now`], [`KernelDrops`]) and its buffers
//! ([`set_buffers`], `--udp-buffer`). Part of [`super`], re-exported there.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// The socket's drop count now (`SK_MEMINFO_DROPS` of SO_MEMINFO, read by
/// [`crate::readiness::room::meminfo`]): datagrams the kernel threw away
/// because the receive queue was full, the `drops` column of
/// `/proc/net/udp`. A 32-bit counter that wraps: see [`KernelDrops`].
pub fn drop_count_now(socket: &impl AsRawFd) -> io::Result<u32> {
    let (info, fields) = crate::readiness::room::meminfo(socket)?;
    let drops = libc::SK_MEMINFO_DROPS as usize;
    if fields < drops + 1 {
        return Err(io::Error::other("SO_MEMINFO without a drop count"));
    }
    Ok(info[drops])
}

/// One socket's datagrams dropped by the kernel (its receive queue was
/// full), as read so far ([`drop_count_now`]) from a counter that only
/// grows, 32 bits wide, so it wraps. Only a reading ahead of the last one
/// counts, by serial-number arithmetic (RFC 1982), which gets the wrap
/// right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelDrops {
    last: u32,
}

impl KernelDrops {
    /// Counting from `count` on: drops before it are not ours to report
    /// (e.g. a worker taking over the socket of one that died).
    pub fn starting_at(count: u32) -> KernelDrops {
        KernelDrops { last: count }
    }

    /// Takes a reading; how many drops are new since the last one.
    pub fn observe(&mut self, count: u32) -> u64 {
        let ahead = count.wrapping_sub(self.last);
        if ahead == 0 || ahead > u32::MAX / 2 {
            return 0;
        }
        self.last = count;
        u64::from(ahead)
    }
}

/// What the kernel made of a `--udp-buffer` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffers {
    /// Bytes asked for, for each of SO_RCVBUF and SO_SNDBUF.
    pub asked: usize,
    /// SO_RCVBUF as the kernel reports it afterwards.
    pub receive: usize,
    /// SO_SNDBUF as the kernel reports it afterwards.
    pub send: usize,
}

impl Buffers {
    /// Whether the kernel gave less than asked. Linux doubles what it is
    /// asked for (the other half pays for its bookkeeping, socket(7)) and
    /// caps the request at `net.core.rmem_max` / `wmem_max` first.
    pub fn clamped(&self) -> bool {
        let wanted = self.asked.saturating_mul(2);
        self.receive < wanted || self.send < wanted
    }

    /// The one-line report: what was granted, and if less than asked, the
    /// sysctl that raises the cap.
    pub fn describe(&self, what: &str) -> String {
        let granted = format!(
            "{what}: socket buffers: asked {} bytes each, the kernel reports SO_RCVBUF {} \
             and SO_SNDBUF {} (Linux doubles a request for its bookkeeping)",
            self.asked, self.receive, self.send
        );
        if !self.clamped() {
            return granted;
        }
        format!(
            "{granted}; CLAMPED by the kernel's cap: raise it with \
             `sysctl -w net.core.rmem_max={0} net.core.wmem_max={0}`",
            self.asked
        )
    }

    /// Logs [`Buffers::describe`]: at info, or as a warning if clamped.
    pub fn log(&self, what: &str) {
        if self.clamped() {
            log::warn!("{}", self.describe(what));
        } else {
            log::info!("{}", self.describe(what));
        }
    }
}

/// Sets SO_RCVBUF and SO_SNDBUF to `bytes` and reads back what the kernel
/// made of them.
///
/// Plain SO_RCVBUF, never SO_RCVBUFFORCE, even as root: the caps
/// (`net.core.rmem_max`, `wmem_max`) are the administrator's memory policy
/// for every socket of the machine, and a server that overrides them
/// because it happens to run as root surprises whoever set them. A clamped
/// request is logged with the sysctl to raise ([`Buffers::log`]).
pub fn set_buffers(socket: &impl AsFd, bytes: usize) -> io::Result<Buffers> {
    let s = socket2::SockRef::from(socket);
    s.set_recv_buffer_size(bytes)?;
    s.set_send_buffer_size(bytes)?;
    Ok(Buffers {
        asked: bytes,
        receive: s.recv_buffer_size()?,
        send: s.send_buffer_size()?,
    })
}
