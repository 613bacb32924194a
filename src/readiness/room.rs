//! How much a socket's send buffer can take right now, and the credit a
//! connection keeps so that it asks the kernel rarely ([`SendRoom`]).
//!
//! Why the server wants to know: a reply the kernel does not take must be
//! kept in user space ([`super::OutBuf`]) until the socket has room. A peer
//! that never reads leaves its last reply there for good. Reading no more
//! than the socket can take right now keeps that rest small: the kernel,
//! not the server, holds what a slow reader has not read, and the TCP
//! window then stops the sender. Part of [`super`], re-exported there.
//!
//! The figure is the kernel's own: `SO_MEMINFO`'s `SNDBUF - WMEM_QUEUED`,
//! exactly what `sk_stream_wspace` (include/net/sock.h) compares when it
//! decides whether a write may go on. It is counted in `truesize` (payload
//! plus the kernel's per-buffer overhead), so a write of that many payload
//! bytes can still come up a little short; the kernel also lets one write
//! overshoot it (a write allocates a whole new buffer while any room is
//! left: `sk_stream_memory_free` in `tcp_sendmsg_locked`).

use std::io;
use std::mem::size_of;
use std::os::fd::AsRawFd;

/// `SO_MEMINFO` (asm-generic/socket.h, Linux 4.7+).
pub const SO_MEMINFO: libc::c_int = 55;

/// A socket's `SO_MEMINFO` array (`SK_MEMINFO_*` indices) and how many of
/// its fields the kernel filled.
pub fn meminfo(socket: &impl AsRawFd) -> io::Result<([u32; 16], usize)> {
    // Newer kernels may add fields: room for them; the kernel copies at
    // most what we offer and says how much.
    let mut info = [0u32; 16];
    let mut len = size_of::<[u32; 16]>() as libc::socklen_t;
    // SAFETY: `info` and `len` are live locals, `len` is `info`'s size, and
    // the kernel writes at most `len` bytes into `info`.
    let r = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((info, len as usize / size_of::<u32>()))
}

/// Bytes the socket's send buffer can take now (`SNDBUF - WMEM_QUEUED`,
/// zero when full or over), or `None` where the kernel does not say.
pub fn send_room_now(socket: &impl AsRawFd) -> Option<usize> {
    let (info, fields) = meminfo(socket).ok()?;
    let (sndbuf, queued) = (
        libc::SK_MEMINFO_SNDBUF as usize,
        libc::SK_MEMINFO_WMEM_QUEUED as usize,
    );
    if fields <= sndbuf.max(queued) {
        return None;
    }
    Some(info[sndbuf].saturating_sub(info[queued]) as usize)
}

/// Whether the socket's send buffer still holds bytes (`WMEM_QUEUED`:
/// written but not yet acknowledged by the peer's kernel), or `None` where
/// the kernel does not say. Bytes that stay queued mean the peer's receive
/// window is closed: its application stopped reading.
pub fn send_queued(socket: &impl AsRawFd) -> Option<bool> {
    let (info, fields) = meminfo(socket).ok()?;
    let queued = libc::SK_MEMINFO_WMEM_QUEUED as usize;
    (fields > queued).then(|| info[queued] > 0)
}

/// What one write costs the send buffer beyond its payload, charged
/// against [`SendRoom`]'s credit: the `truesize` of a new buffer's head
/// (`SKB_TRUESIZE(MAX_TCP_HEADER)`: about 320 bytes of headers, 256 of
/// `struct sk_buff`, 320 of `skb_shared_info`), rounded up to 1 KiB so the
/// credit stays a lower bound when each write gets a buffer of its own.
pub const WRITE_OVERHEAD: usize = 1024;

/// A lower bound on what a socket's send buffer can take, kept per
/// connection so that the kernel is asked (one `getsockopt`) only when the
/// bound has run low: after a query it is the room the kernel reported,
/// and every write charges its payload plus [`WRITE_OVERHEAD`]. Only our
/// writes shrink the real room (ACKs and buffer autotuning grow it), so
/// the credit stays at or below it; the exception is global TCP memory
/// pressure, which can shrink a send buffer (`sk_stream_moderate_sndbuf`),
/// and then a write comes up short sooner and keeps a little more.
///
/// 4 bytes; zero (the start) means "ask".
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendRoom {
    credit: u32,
}

impl SendRoom {
    /// How many bytes to read now, between `min` and `max`: as many as the
    /// send buffer can take, as far as the credit knows; below `max`, the
    /// kernel is asked first. Where it does not say, `max`.
    ///
    /// Never less than `min`, even with no room at all: a read whose reply
    /// then finds the buffer full is what gets WRITABLE reported later
    /// (see [`super::write_some`]); with nothing read and nothing written,
    /// no edge would ever come, and the input would wait forever.
    pub fn read_limit(&mut self, socket: &impl AsRawFd, min: usize, max: usize) -> usize {
        if (self.credit as usize) < max {
            let room = send_room_now(socket).unwrap_or(max);
            self.credit = room.min(u32::MAX as usize) as u32;
        }
        (self.credit as usize).clamp(min, max)
    }

    /// `written` payload bytes went to the kernel in one write.
    pub fn charge(&mut self, written: usize) {
        if written > 0 {
            let cost = written.saturating_add(WRITE_OVERHEAD);
            self.credit = self
                .credit
                .saturating_sub(cost.min(u32::MAX as usize) as u32);
        }
    }

    /// The credit now (for tests and traces).
    pub fn credit(&self) -> usize {
        self.credit as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    #[test]
    fn a_fresh_socket_has_room_and_a_full_one_has_none() {
        let (mut server, _client) = pair();
        let fresh = send_room_now(&server).expect("Linux says");
        assert!(fresh > 0, "fresh socket: {fresh}");
        server.set_nonblocking(true).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        // The client never reads: fill both buffers until the kernel refuses.
        while server.write(&chunk).is_ok() {}
        assert_eq!(send_room_now(&server), Some(0));
    }

    #[test]
    fn bytes_the_peer_does_not_take_stay_queued() {
        let (mut server, mut client) = pair();
        assert_eq!(send_queued(&server), Some(false), "nothing written");
        server.set_nonblocking(true).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        // The client never reads: its window closes, the rest stays here.
        while server.write(&chunk).is_ok() {}
        assert_eq!(send_queued(&server), Some(true));
        // Read all, and the queue empties once the client's kernel has
        // acknowledged it (bounded: the client reads until nothing is left).
        client.set_nonblocking(true).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while send_queued(&server) == Some(true) {
            assert!(std::time::Instant::now() < until, "never acknowledged");
            let _ = std::io::Read::read(&mut client, &mut buf);
        }
    }

    #[test]
    fn the_credit_asks_when_low_and_is_charged_per_write() {
        let (server, _client) = pair();
        let mut room = SendRoom::default();
        assert_eq!(room.credit(), 0, "starts by asking");
        let limit = room.read_limit(&server, 1024, 64 * 1024);
        let asked = room.credit();
        assert!(asked > 0);
        assert_eq!(limit, asked.clamp(1024, 64 * 1024));
        // Plenty left: no new query, the same credit.
        room.charge(0);
        assert_eq!(room.credit(), asked, "a zero write costs nothing");
        room.charge(100);
        assert_eq!(room.credit(), asked.saturating_sub(100 + WRITE_OVERHEAD));
        room.charge(usize::MAX);
        assert_eq!(room.credit(), 0, "saturates");
    }

    #[test]
    fn an_outbufs_writes_charge_its_credit_and_survive_its_reset() {
        let (mut server, _client) = pair();
        let mut out = super::super::OutBuf::default();
        let asked = out.room().read_limit(&server, 1, usize::MAX);
        assert_eq!(out.send(&mut server, b"hello").unwrap(), 5);
        assert_eq!(out.room().credit(), asked - 5 - WRITE_OVERHEAD);
        out.queue(b"more");
        assert_eq!(out.flush(&mut server).unwrap(), 4);
        assert!(out.is_empty());
        assert_eq!(
            out.room().credit(),
            asked - 9 - 2 * WRITE_OVERHEAD,
            "freeing the buffer keeps the credit"
        );
    }

    #[test]
    fn with_no_room_the_read_is_the_minimum() {
        let (mut server, _client) = pair();
        server.set_nonblocking(true).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while server.write(&chunk).is_ok() {}
        let mut room = SendRoom::default();
        assert_eq!(room.read_limit(&server, 1024, 64 * 1024), 1024);
        assert_eq!(room.credit(), 0);
    }
}
