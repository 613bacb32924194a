//! One generator connection's state, and the socket calls, each readiness
//! rule implemented (and commented) in exactly one place.
//!
//! A [`Conn`] is what an idle connection costs in user space: this struct
//! in the slab (about 120 bytes) plus its `--depth` send-time slots in the
//! engine's shared array (8 bytes each). Its two buffers exist only while
//! they hold something: `pending` (request bytes the kernel has not taken)
//! and the scenario's partial reply line.

use super::scenario::Talk;
use crate::readiness::write_some;
use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, ErrorKind, Read as _};
use std::net::{IpAddr, SocketAddr};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// `connect()` issued; waiting for WRITABLE to learn the outcome.
    Connecting,
    /// Up.
    Open,
}

/// A TCP connection of the generator.
#[derive(Debug)]
pub struct Conn {
    /// The socket, registered once for READABLE | WRITABLE, edge-triggered.
    pub stream: TcpStream,
    /// The protocol side (sans-IO).
    pub talk: Talk,
    /// Request bytes the kernel has not accepted yet: `pending[written..]`.
    /// Unallocated unless a write came up short. At most one burst of
    /// requests (config::MAX_BURST_BYTES).
    pub pending: Vec<u8>,
    /// How much of `pending` has been written.
    pub written: usize,
    /// When `connect()` was called (ns since the run started).
    pub connect_at: u64,
    /// Open loop: the intended send time of the next request (ns).
    pub next_intended: u64,
    /// Requests sent and not yet answered (<= --depth).
    pub in_flight: u32,
    /// Index (mod depth) of the oldest in-flight request's send time.
    pub ring_head: u32,
    /// Connecting or open.
    pub state: State,
    /// Already in the loop's ready queue.
    pub queued: bool,
    /// An event said the peer closed: read until `Ok(0)` (see [`read_some`]).
    pub peer_closed_seen: bool,
    /// Open loop: a pacing timer entry is armed for this connection.
    pub timer_armed: bool,
}

impl Conn {
    /// A connection whose `connect()` was just issued at `now`.
    pub fn connecting(stream: TcpStream, talk: Talk, now: u64) -> Conn {
        Conn {
            stream,
            talk,
            pending: Vec::new(),
            written: 0,
            connect_at: now,
            next_intended: 0,
            in_flight: 0,
            ring_head: 0,
            state: State::Connecting,
            queued: false,
            peer_closed_seen: false,
            timer_armed: false,
        }
    }

    /// Request bytes waiting for the kernel.
    pub fn pending_len(&self) -> usize {
        self.pending.len() - self.written
    }

    /// Writes `bytes` now if nothing is pending, keeping any rest for the
    /// WRITABLE edge; or queues them behind pending bytes to keep the order.
    /// Returns the bytes the kernel took.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.pending_len() > 0 {
            self.pending.drain(..self.written);
            self.written = 0;
            self.pending.extend_from_slice(bytes);
            return Ok(0);
        }
        let n = write_some(&mut self.stream, bytes)?;
        if n < bytes.len() {
            // Short write: keep the rest; WRITABLE will fire when there is room.
            self.pending.clear();
            self.written = 0;
            self.pending.extend_from_slice(&bytes[n..]);
        }
        Ok(n)
    }

    /// WRITABLE: writes pending bytes; frees the buffer once it is empty.
    /// WRITABLE only matters while bytes are pending; otherwise a no-op.
    pub fn flush(&mut self) -> io::Result<usize> {
        if self.pending_len() == 0 {
            return Ok(0);
        }
        let n = write_some(&mut self.stream, &self.pending[self.written..])?;
        self.written += n;
        if self.written == self.pending.len() {
            // Idle connections hold no buffers.
            self.pending = Vec::new();
            self.written = 0;
        }
        Ok(n)
    }
}

/// Starts a non-blocking connect to `target`, from `source` if given.
///
/// With a source address, the socket is bound to `source:0` with
/// IP_BIND_ADDRESS_NO_PORT first, so the kernel picks the local port at
/// connect time, unique per 4-tuple, instead of reserving one per address
/// at bind time: that is what lets each source address reach ~28k
/// connections to the same target instead of sharing one port range.
pub fn start_connect(target: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    // Requests are written in whole bursts; Nagle would only delay them.
    socket.set_tcp_nodelay(true)?;
    if let Some(ip) = source {
        bind_address_no_port(&socket)?;
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    match socket.connect(&target.into()) {
        Ok(()) => {}
        // The normal case for a non-blocking connect: the outcome comes
        // later, as WRITABLE (or an error event).
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// Sets IP_BIND_ADDRESS_NO_PORT (socket2 has no setter for it).
#[cfg(target_os = "linux")]
fn bind_address_no_port(socket: &Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `&on`, which
    // lives across the call; the descriptor is owned by `socket`.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere the option does not exist; binding still works, it just
/// reserves a port per bind.
#[cfg(not(target_os = "linux"))]
fn bind_address_no_port(_socket: &Socket) -> io::Result<()> {
    Ok(())
}

/// The outcome of a pending connect, asked on its first event.
#[derive(Debug)]
pub enum ConnectOutcome {
    /// Spurious wakeup: still in progress, wait for the next edge.
    Pending,
    /// Connected.
    Up,
    /// Refused, unreachable, reset...
    Failed(io::Error),
}

/// Checks a connect after an event, as mio documents: `take_error()` for
/// the failure (SO_ERROR), then `peer_addr()`, which fails with
/// `NotConnected` while the handshake is still in progress.
pub fn connect_outcome(stream: &TcpStream) -> ConnectOutcome {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return ConnectOutcome::Failed(e),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => ConnectOutcome::Up,
        Err(e) if e.kind() == ErrorKind::NotConnected => ConnectOutcome::Pending,
        Err(e) => ConnectOutcome::Failed(e),
    }
}

/// The outcome of one [`read_some`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// `n` bytes and the socket is drained: wait for the next edge.
    Drained(usize),
    /// `n` bytes and more may be waiting: the caller must requeue, because
    /// edge-triggered readiness will not report data already there.
    More(usize),
    /// `WouldBlock`: a spurious or already-served event.
    Empty,
    /// `Ok(0)`: the server closed its side.
    Eof,
}

/// One read into `buf`.
///
/// Readiness rules (as the server's `read_some`):
/// - `Interrupted` is retried.
/// - A read that fills `buf` may leave more behind: [`ReadOutcome::More`].
/// - A shorter read means the receive queue was empty at that instant
///   (epoll(7)); a later byte raises a new edge, so the extra read that would
///   only say `WouldBlock` is skipped: one syscall saved per event.
///   Exception: after an event reported the peer's close, its FIN raises no
///   new edge, so keep reading until `Ok(0)`.
pub fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    peer_closed_seen: bool,
) -> io::Result<ReadOutcome> {
    loop {
        match stream.read(buf) {
            Ok(0) => return Ok(ReadOutcome::Eof),
            Ok(n) if n == buf.len() || peer_closed_seen => return Ok(ReadOutcome::More(n)),
            Ok(n) => return Ok(ReadOutcome::Drained(n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(ReadOutcome::Empty),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A short, stable description of a socket error for the report's keys.
pub fn error_name(e: &io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::ConnectionReset => "connection reset".into(),
        ErrorKind::BrokenPipe => "broken pipe".into(),
        ErrorKind::TimedOut => "timed out".into(),
        ErrorKind::AddrNotAvailable => "address not available (local ports exhausted?)".into(),
        ErrorKind::AddrInUse => "address in use".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory budget of an idle connection (<= 256 bytes in user space)
    /// is mostly this struct's slab slot; keep it from creeping up.
    #[test]
    fn an_idle_connection_stays_small() {
        let slot = std::mem::size_of::<super::super::engine::Entry>();
        assert!(slot <= 160, "slab slot is {slot} bytes");
        eprintln!(
            "Conn {} bytes, slab slot {slot}",
            std::mem::size_of::<Conn>()
        );
    }
}
