//! One generator TCP connection's state ([`Conn`]) and its socket calls
//! that are the generator's own: the connect (`start_connect`,
//! `connect_outcome`), and the close with an RST (`abort_on_close`). The
//! report's names for socket errors are `causes.rs`'s. The read, the output
//! buffer and their readiness rules are the shared ones (`crate::readiness`).
//!
//! A [`Conn`] is what an idle connection costs in user space: this struct
//! in the slab (about 120 bytes) plus its `--depth` send-time slots in the
//! table's shared array (8 bytes each). Its two buffers exist only while
//! they hold something: `out` (request bytes the kernel has not taken) and
//! the scenario's partial reply line.

use super::causes::error_name;
use super::clock::Clock;
use super::scenario::Talk;
use crate::readiness::OutBuf;
use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, ErrorKind};
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
    /// The socket, registered once, edge-triggered (`readiness::TCP_INTEREST`).
    pub stream: TcpStream,
    /// The protocol side (sans-IO).
    pub talk: Talk,
    /// Request bytes the kernel has not accepted yet. Unallocated unless a
    /// write came up short; at most one burst's rest (`--depth` x `--size`,
    /// config::MAX_BURST_BYTES at most): no request is queued behind
    /// pending ones (`Engine::refill`), so a server that stops reading
    /// cannot make it grow.
    pub out: OutBuf,
    /// When `connect()` was called (ns since the run started).
    pub connect_at: u64,
    /// Open loop: the intended send time of the next request (ns).
    pub next_intended: u64,
    /// Requests sent and not yet answered (<= --depth).
    pub in_flight: u32,
    /// Index (mod depth) of the oldest in-flight request's send time.
    ring_head: u32,
    /// Connecting or open; changed by the table (`Conns::connected`).
    pub state: State,
    /// Already in the loop's ready queue.
    pub queued: bool,
    /// An event reported input a short read can leave behind (the peer's
    /// FIN, or a TCP urgent mark: `readiness::must_drain`): read until
    /// `Ok(0)` or `WouldBlock` (`read_some`'s `drain_fully`).
    pub drain_fully: bool,
    /// Open loop: a pacing wake-up is armed for this connection.
    pub timer_armed: bool,
}

impl Conn {
    /// A connection whose `connect()` was just issued at `now`.
    pub fn connecting(stream: TcpStream, talk: Talk, now: u64) -> Conn {
        Conn {
            stream,
            talk,
            out: OutBuf::default(),
            connect_at: now,
            next_intended: 0,
            in_flight: 0,
            ring_head: 0,
            state: State::Connecting,
            queued: false,
            drain_fully: false,
            timer_armed: false,
        }
    }

    /// Free `--depth` slots, of `times.len()`.
    pub fn free(&self, times: &[u64]) -> u32 {
        times.len() as u32 - self.in_flight
    }

    /// A request went out, sent (or intended) at `at`: its time goes in the
    /// next slot of `times`, this connection's `--depth` send-time slots.
    pub fn stamp_sent(&mut self, times: &mut [u64], at: u64) {
        let depth = times.len() as u32;
        times[((self.ring_head + self.in_flight) % depth) as usize] = at;
        self.in_flight += 1;
    }

    /// The oldest request in flight was answered: its send time. Replies
    /// come in request order on a stream, so the oldest is the one.
    pub fn take_answered(&mut self, times: &[u64]) -> u64 {
        let at = times[self.ring_head as usize];
        self.ring_head = (self.ring_head + 1) % times.len() as u32;
        self.in_flight -= 1;
        at
    }
}

/// Starts a non-blocking connect to `target`, from `source` if given;
/// the stream and when `connect()` was called (by `clock`).
///
/// The connect's latency counts from the `connect()` call itself, read just
/// before it: creating and setting up the socket is the generator's work,
/// not the handshake's. (This is the one clock read outside the loop's turn,
/// `clock.rs`.)
///
/// With a source address, the socket is bound to `source:0` with
/// IP_BIND_ADDRESS_NO_PORT first, so the kernel picks the local port at
/// connect time, unique per 4-tuple, instead of reserving one per address
/// at bind time: that is what lets each source address reach ~28k
/// connections to the same target instead of sharing one port range.
///
/// An error is the report's key for it: `connect: NAME` ([`error_name`],
/// which `causes::cause_of` reads back), or, for the socket's setup and the
/// bind to `source`, the step and the system's message (a source address
/// that is not on this host is EADDRNOTAVAIL at the bind: a mistake in
/// `--source`, not ports running out). No address in the key: one key per
/// cause, however many addresses `--source` covers.
pub fn start_connect(
    target: SocketAddr,
    source: Option<IpAddr>,
    clock: &Clock,
) -> Result<(TcpStream, u64), String> {
    let setup = |e: io::Error| format!("socket: {e}");
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(setup)?;
    socket.set_nonblocking(true).map_err(setup)?;
    // Requests are written in whole bursts; Nagle would only delay them.
    socket.set_tcp_nodelay(true).map_err(setup)?;
    if let Some(ip) = source {
        bind_address_no_port(&socket).map_err(setup)?;
        socket
            .bind(&SocketAddr::new(ip, 0).into())
            .map_err(|e| format!("bind --source: {e}"))?;
    }
    let target = target.into();
    let started = clock.now();
    match socket.connect(&target) {
        Ok(()) => {}
        // The normal case for a non-blocking connect: the outcome comes
        // later, as WRITABLE (or an error event).
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(format!("connect: {}", error_name(&e))),
    }
    Ok((TcpStream::from_std(socket.into()), started))
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

/// Closes `stream` with an RST instead of a FIN (`--close reset`): with
/// SO_LINGER 0, `close()` aborts the connection, so neither side keeps it
/// in TIME_WAIT. Dropping the stream then closes it.
pub fn abort_on_close(stream: &TcpStream) -> io::Result<()> {
    socket2::SockRef::from(stream).set_linger(Some(std::time::Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory budget of an idle connection (<= 256 bytes in user space)
    /// is mostly this struct's slab slot; keep it from creeping up. 136
    /// bytes is what it was when the engine was split into its parts (issue
    /// 10), and the README's figure: it must not grow.
    #[test]
    fn an_idle_connection_stays_small() {
        let slot = std::mem::size_of::<super::super::table::Entry>();
        assert!(slot <= 136, "slab slot is {slot} bytes");
        eprintln!(
            "Conn {} bytes, slab slot {slot}",
            std::mem::size_of::<Conn>()
        );
    }
}
