//! Datagrams in batches: `recvmmsg(2)` and `sendmmsg(2)` on a UDP socket,
//! the socket's kernel drop counter, and its buffers. Both loops use it: the server's udp-echo and udp-log
//! (`server/udp.rs`) and the generator's sockets (`load/udp.rs`). One call
//! moves up to [`MAX_BATCH`] datagrams; what each one means stays with the
//! caller, one datagram at a time.
//!
//! Why not a crate: quinn-udp, the obvious one, sends one `Transmit` per
//! call (one destination, GSO segments of one size), so echo replies to
//! many senders would still cost a syscall each; it logs and swallows send
//! errors other than `WouldBlock`, which the server must count; and it sets
//! options of its own on the socket (ECN, packet info, don't-fragment). What
//! is needed is two syscalls, so they are here, each behind one safe
//! function whose `unsafe` block says why it is sound.
//!
//! Readiness rules, as for TCP's `read_some`:
//! - `Interrupted` is retried.
//! - **The short-batch shortcut.** On a nonblocking socket, `recvmmsg`
//!   stops at the first datagram that would block and returns what it got
//!   (recvmmsg(2)). So a batch shorter than asked means the receive queue
//!   ran empty during the call, and any datagram queued after that raises a
//!   new edge: the caller stops without the call that would only say
//!   `WouldBlock`. A full batch may leave more behind: the caller requeues.
//!   (A batch can also end early on an error, which the kernel keeps for
//!   the next call; for a UDP socket that is an ICMP error, whose arrival
//!   raised its own event.)
//!
//! Drops: a datagram that finds the receive queue full is thrown away by
//! the kernel, which counts it (`sk_drops`). That counter is read at once
//! with SO_MEMINFO ([`drop_count_now`]; it is the `drops` column of
//! `/proc/net/udp`) whenever someone asks. Not with SO_RXQ_OVFL, which
//! would bring it with every datagram: that option makes the kernel build
//! every `recvmsg`'s control messages (`__sock_recv_cmsgs`), 2.6% of the
//! server's CPU in a profile at 64-byte datagrams, for a number read once a
//! second at most.

use std::io::{self, ErrorKind};
use std::mem::{offset_of, size_of};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

/// Datagrams per `recvmmsg`/`sendmmsg` call at most: the fairness bound of
/// both loops (`UDP_BATCH`), and the C reference's batch
/// (`benches/ref/udp_mmsg_echo.c`).
pub const MAX_BATCH: usize = 64;

/// Room for one datagram: any UDP payload fits (65,507 bytes over IPv4,
/// 65,527 over IPv6), so none is ever cut short.
pub const SLOT: usize = 64 * 1024;

/// A datagram's peer as the kernel writes and reads it (`msg_name`): a
/// `sockaddr_in6`, which also holds a `sockaddr_in` (the family and port
/// lie at the same offsets, and the IPv4 address where `sin6_flowinfo` is;
/// the asserts below check it). Kept in the kernel's form so that an echo
/// reply goes back to exactly the bytes the request came from.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct PeerName {
    raw: libc::sockaddr_in6,
    len: libc::socklen_t,
}

const _: () =
    assert!(offset_of!(libc::sockaddr_in, sin_port) == offset_of!(libc::sockaddr_in6, sin6_port));
const _: () = assert!(
    offset_of!(libc::sockaddr_in, sin_addr) == offset_of!(libc::sockaddr_in6, sin6_flowinfo)
);

impl PeerName {
    fn empty() -> PeerName {
        PeerName {
            raw: libc::sockaddr_in6 {
                sin6_family: 0,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: [0; 16] },
                sin6_scope_id: 0,
            },
            len: 0,
        }
    }

    /// The address, if the kernel wrote an IPv4 or IPv6 one (a UDP socket
    /// always does).
    pub fn addr(&self) -> Option<SocketAddr> {
        let port = u16::from_be(self.raw.sin6_port);
        let len = self.len as usize;
        match i32::from(self.raw.sin6_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // `sin_addr` is in network order: its bytes, as they lie.
                let ip = Ipv4Addr::from(self.raw.sin6_flowinfo.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(self.raw.sin6_addr.s6_addr),
                    port,
                    u32::from_be(self.raw.sin6_flowinfo),
                    self.raw.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// Buffers for receiving up to a batch of datagrams with one `recvmmsg`:
/// a [`SLOT`] per datagram (zeroed lazily by the allocator: only the pages
/// datagrams reach become resident) and its peer.
pub struct RecvBatch {
    data: Box<[u8]>,
    names: Box<[PeerName]>,
    iovecs: Box<[libc::iovec]>,
    headers: Box<[libc::mmsghdr]>,
    /// Datagrams the last call received.
    got: usize,
}

impl RecvBatch {
    /// Room for `capacity` datagrams per call (at most [`MAX_BATCH`]; 0 for
    /// a loop with no UDP socket).
    pub fn new(capacity: usize) -> RecvBatch {
        let capacity = capacity.min(MAX_BATCH);
        RecvBatch {
            data: vec![0; capacity * SLOT].into_boxed_slice(),
            names: vec![PeerName::empty(); capacity].into_boxed_slice(),
            iovecs: vec![empty_iovec(); capacity].into_boxed_slice(),
            headers: vec![empty_mmsghdr(); capacity].into_boxed_slice(),
            got: 0,
        }
    }

    /// Receives up to `max` datagrams in one `recvmmsg`; how many.
    /// `WouldBlock` if none was waiting. Fewer than `max` means the queue
    /// ran empty (the short-batch shortcut, above).
    pub fn recv(&mut self, socket: &impl AsRawFd, max: usize) -> io::Result<usize> {
        let n = max.min(self.headers.len());
        self.got = 0;
        if n == 0 {
            return Ok(0);
        }
        let data = self.data.as_mut_ptr();
        for i in 0..n {
            self.iovecs[i] = libc::iovec {
                iov_base: data.wrapping_add(i * SLOT).cast(),
                iov_len: SLOT,
            };
        }
        let (iovecs, names) = (self.iovecs.as_mut_ptr(), self.names.as_mut_ptr());
        for (i, header) in self.headers[..n].iter_mut().enumerate() {
            let m = &mut header.msg_hdr;
            m.msg_name = names.wrapping_add(i).cast();
            m.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            m.msg_iov = iovecs.wrapping_add(i);
            m.msg_iovlen = 1;
            m.msg_control = std::ptr::null_mut();
            m.msg_controllen = 0;
            m.msg_flags = 0;
            header.msg_len = 0;
        }
        let got = loop {
            // SAFETY: the first `n` headers point only into buffers this
            // batch owns, which live through the call and do not move: each
            // iovec at its own SLOT of `data`, each name at its own
            // element, with the lengths of those buffers; the
            // kernel writes within them and nowhere else. `headers` holds
            // at least `n` entries, and the descriptor is borrowed from a
            // live socket. A null timeout means none.
            let r = unsafe {
                libc::recvmmsg(
                    socket.as_raw_fd(),
                    self.headers.as_mut_ptr(),
                    n as libc::c_uint,
                    0,
                    std::ptr::null_mut(),
                )
            };
            match r {
                r if r >= 0 => break r as usize,
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() == ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(e);
                }
            }
        };
        for i in 0..got {
            self.names[i].len = self.headers[i].msg_hdr.msg_namelen;
        }
        self.got = got.min(n);
        Ok(self.got)
    }

    /// Datagram `i` of the last call (`i` below what it returned).
    pub fn get(&self, i: usize) -> &[u8] {
        let len = (self.headers[i].msg_len as usize).min(SLOT);
        &self.data[i * SLOT..i * SLOT + len]
    }

    /// Datagram `i`'s sender, in the kernel's form.
    pub fn peer(&self, i: usize) -> &PeerName {
        &self.names[i]
    }

    /// Datagram `i`'s sender.
    pub fn source(&self, i: usize) -> Option<SocketAddr> {
        self.names[i].addr()
    }

    /// Datagram `i` as a reply to its sender: the same bytes, back to the
    /// same name.
    pub fn echo(&self, i: usize) -> Outgoing<'_> {
        Outgoing {
            data: self.get(i),
            to: Some(self.peer(i)),
        }
    }
}

/// One datagram to send.
#[derive(Clone, Copy)]
pub struct Outgoing<'a> {
    /// Its payload.
    pub data: &'a [u8],
    /// Where to: `None` on a connected socket.
    pub to: Option<&'a PeerName>,
}

/// The headers for sending up to a batch of datagrams with one `sendmmsg`.
pub struct SendBatch {
    iovecs: Box<[libc::iovec]>,
    headers: Box<[libc::mmsghdr]>,
}

impl Default for SendBatch {
    fn default() -> SendBatch {
        SendBatch {
            iovecs: vec![empty_iovec(); MAX_BATCH].into_boxed_slice(),
            headers: vec![empty_mmsghdr(); MAX_BATCH].into_boxed_slice(),
        }
    }
}

impl SendBatch {
    /// Sends the first [`MAX_BATCH`] of `datagrams` in one `sendmmsg`;
    /// how many went out, in order. Fewer than given means the next one
    /// failed, and its error was lost (sendmmsg(2)): the caller sends again
    /// from there, and an error that persists is then returned. `WouldBlock`
    /// if the first would block.
    pub fn send<'a>(
        &mut self,
        socket: &impl AsRawFd,
        datagrams: impl IntoIterator<Item = Outgoing<'a>>,
    ) -> io::Result<usize> {
        let mut n = 0;
        for (i, (d, header)) in datagrams
            .into_iter()
            .zip(self.headers.iter_mut())
            .enumerate()
        {
            self.iovecs[i] = libc::iovec {
                // The kernel only reads what a send's iovec points to.
                iov_base: d.data.as_ptr().cast_mut().cast(),
                iov_len: d.data.len(),
            };
            let m = &mut header.msg_hdr;
            (m.msg_name, m.msg_namelen) = match d.to {
                Some(peer) => (std::ptr::from_ref(&peer.raw).cast_mut().cast(), peer.len),
                None => (std::ptr::null_mut(), 0),
            };
            m.msg_control = std::ptr::null_mut();
            m.msg_controllen = 0;
            m.msg_flags = 0;
            n = i + 1;
        }
        // Pointed at only now that every iovec is written.
        let iovecs = self.iovecs.as_mut_ptr();
        for (i, header) in self.headers[..n].iter_mut().enumerate() {
            header.msg_hdr.msg_iov = iovecs.wrapping_add(i);
            header.msg_hdr.msg_iovlen = 1;
        }
        if n == 0 {
            return Ok(0);
        }
        loop {
            // SAFETY: the first `n` headers were just filled from
            // `datagrams`, whose payloads and names are borrowed for the
            // whole call (lifetime 'a), with their own lengths; the kernel
            // only reads them. Each iovec is this batch's own element, and
            // the descriptor is borrowed from a live socket.
            let r = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    self.headers.as_mut_ptr(),
                    n as libc::c_uint,
                    0,
                )
            };
            if r >= 0 {
                return Ok((r as usize).min(n));
            }
            let e = io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

fn empty_iovec() -> libc::iovec {
    libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }
}

fn empty_mmsghdr() -> libc::mmsghdr {
    // SAFETY: a plain C struct of integers and pointers (some fields
    // private padding on some libcs): all zeros is a valid value, null
    // pointers and zero lengths.
    unsafe { std::mem::zeroed() }
}

mod socket;
pub use socket::{Buffers, KernelDrops, drop_count_now, set_buffers};

#[cfg(test)]
mod tests;
