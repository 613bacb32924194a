//! One TCP connection's state as the event loop sees it.
//!
//! A [`Conn`] owns its socket, its protocol [`Session`], and two buffers
//! that exist only while they hold something: `input` (a partial line, or
//! lines held back by backpressure) and `output` (reply bytes the kernel has
//! not taken yet). An idle connection holds neither, so it costs only this
//! struct in the slab (128 bytes, held to that by a unit test in
//! `server/mod.rs`; RSS per idle connection is in docs/benchmarks.md).
//!
//! The socket calls themselves live here too ([`read_some`], and
//! [`Conn::flush`] over `crate::readiness::write_some`) so each readiness rule is implemented, and commented, in
//! exactly one place. Deciding what to do with the bytes is `server::tcp`'s.

use crate::protocol::{CloseReason, Session};
use crate::readiness::write_some;
use mio::net::TcpStream;
use std::io::{self, ErrorKind, Read as _};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading requests and writing replies.
    Open,
    /// No more reading: flush `output`, then close (or linger) for this reason.
    Closing(CloseReason),
    /// Output flushed and our write side shut (FIN sent); reading and
    /// discarding until the peer's FIN or the linger deadline. Closing with
    /// unread input would send RST, which can destroy the last reply (e.g.
    /// `ERR line too long`) before the client reads it; nginx's
    /// "lingering close" avoids the same trap.
    Lingering(CloseReason),
}

/// Marks "no deadline armed" in [`Conn::armed_at`].
pub const NOT_ARMED: u64 = u64::MAX;

/// A TCP connection in the slab.
#[derive(Debug)]
pub struct Conn {
    /// The socket, registered for READABLE | WRITABLE once (edge-triggered).
    pub stream: TcpStream,
    /// The protocol state machine.
    pub session: Session,
    /// Unconsumed input; empty (and unallocated) most of the time.
    pub input: Vec<u8>,
    /// Reply bytes the kernel has not accepted yet; `output[written..]` is
    /// pending. Empty and unallocated unless a write came up short.
    pub output: Vec<u8>,
    /// How much of `output` has been written.
    pub written: usize,
    /// Where the connection is in its life.
    pub phase: Phase,
    /// Distinguishes this connection from a later one with the same key.
    pub serial: u32,
    /// Last activity, in loop milliseconds, for the idle timeout: a complete
    /// request answered (for echo: any read) or output that made progress.
    /// While lingering: when lingering started.
    pub last_active: u64,
    /// The deadline currently armed in the timer heap, or [`NOT_ARMED`].
    pub armed_at: u64,
    /// Already in the loop's ready queue.
    pub queued: bool,
    /// An event said the peer closed its side: keep reading until `Ok(0)`,
    /// the short-read shortcut does not apply (see [`read_some`]).
    pub peer_closed_seen: bool,
}

impl Conn {
    /// A new, open connection.
    pub fn new(stream: TcpStream, session: Session, serial: u32, now: u64) -> Conn {
        Conn {
            stream,
            session,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            phase: Phase::Open,
            serial,
            last_active: now,
            armed_at: NOT_ARMED,
            queued: false,
            peer_closed_seen: false,
        }
    }

    /// Reply bytes waiting for the kernel.
    pub fn pending(&self) -> usize {
        self.output.len() - self.written
    }

    /// Queues reply bytes behind what is already pending.
    pub fn queue_output(&mut self, bytes: &[u8]) {
        if self.written > 0 {
            // Reclaim the written prefix before growing, so `output` never
            // holds more than the pending bytes plus this append.
            self.output.drain(..self.written);
            self.written = 0;
        }
        self.output.extend_from_slice(bytes);
    }

    /// Writes pending output until done or the kernel's buffer is full.
    /// Returns the bytes written; frees the buffer once it is empty.
    pub fn flush(&mut self) -> io::Result<usize> {
        let n = write_some(&mut self.stream, &self.output[self.written..])?;
        self.written += n;
        if self.written == self.output.len() {
            // Idle connections hold no buffers.
            self.output = Vec::new();
            self.written = 0;
        }
        Ok(n)
    }

    /// When this connection must next be looked at by the timer, if ever.
    pub fn deadline(&self, idle_timeout_ms: Option<u64>, linger_ms: u64) -> Option<u64> {
        match self.phase {
            Phase::Lingering(_) => Some(self.last_active + linger_ms),
            Phase::Open | Phase::Closing(_) => idle_timeout_ms.map(|t| self.last_active + t),
        }
    }
}

/// The outcome of one [`read_some`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// `n` bytes arrived and the socket is drained: wait for the next event.
    Drained(usize),
    /// `n` bytes filled the whole buffer: more may be waiting. The caller
    /// must requeue the connection, because edge-triggered readiness will
    /// not report data that was already there.
    Full(usize),
    /// Nothing to read now (`WouldBlock`): a spurious or already-served event.
    Empty,
    /// `Ok(0)`: the peer closed its side.
    Eof,
}

/// One read into `buf`: the loop's read for every connection.
///
/// Readiness rules:
/// - `Interrupted` is retried.
/// - A read that fills `buf` may leave more behind: [`ReadOutcome::Full`].
/// - A read shorter than `buf` on a stream socket means the receive queue
///   was empty at that instant (epoll(7): "if read returns a lower number of
///   bytes ... you can be sure of having exhausted the read I/O space"); any
///   byte arriving after it raises a new edge. So we stop without the extra
///   read that would only say `WouldBlock`, saving one syscall per message,
///   as hand-written C epoll loops do. Exception: if an event already said
///   the peer closed (`peer_closed_seen`), its FIN will raise no new edge,
///   so keep reading until `Ok(0)`.
pub fn read_some(conn: &mut Conn, buf: &mut [u8]) -> io::Result<ReadOutcome> {
    loop {
        match conn.stream.read(buf) {
            Ok(0) => return Ok(ReadOutcome::Eof),
            Ok(n) if n == buf.len() => return Ok(ReadOutcome::Full(n)),
            Ok(n) if conn.peer_closed_seen => {
                // The FIN is behind these bytes; report them as "more waiting"
                // so the caller comes back for the Ok(0).
                return Ok(ReadOutcome::Full(n));
            }
            Ok(n) => return Ok(ReadOutcome::Drained(n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(ReadOutcome::Empty),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}
