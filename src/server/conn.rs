//! One TCP connection's state as the event loop sees it.
//!
//! A [`Conn`] owns its socket, its protocol [`Session`], and two buffers
//! that exist only while they hold something: `input` (a partial line, or
//! lines held back by backpressure) and `out` (an [`OutBuf`]: reply bytes
//! the kernel has not taken yet). An idle connection holds neither, so it
//! costs only this struct in the slab (128 bytes, held to that by a unit
//! test in `server/mod.rs`; RSS per idle connection is in
//! docs/benchmarks.md).
//!
//! The socket calls and their edge-triggered rules are
//! `crate::readiness`'s; deciding what to do with the bytes is
//! `server::tcp`'s.

use crate::protocol::{CloseReason, Session};
use crate::readiness::OutBuf;
use mio::net::TcpStream;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading requests and writing replies.
    Open,
    /// No more reading: flush `out`, then close (or linger) for this reason.
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
    /// Reply bytes the kernel has not accepted yet; unallocated unless a
    /// write came up short.
    pub out: OutBuf,
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
    /// An event said the peer closed its side: keep reading until `Ok(0)`
    /// (`read_some`'s `drain_fully`: the FIN raises no new edge).
    pub peer_closed_seen: bool,
}

impl Conn {
    /// A new, open connection.
    pub fn new(stream: TcpStream, session: Session, serial: u32, now: u64) -> Conn {
        Conn {
            stream,
            session,
            input: Vec::new(),
            out: OutBuf::default(),
            phase: Phase::Open,
            serial,
            last_active: now,
            armed_at: NOT_ARMED,
            queued: false,
            peer_closed_seen: false,
        }
    }

    /// When this connection must next be looked at by the timer, if ever.
    pub fn deadline(&self, idle_timeout_ms: Option<u64>, linger_ms: u64) -> Option<u64> {
        match self.phase {
            Phase::Lingering(_) => Some(self.last_active + linger_ms),
            Phase::Open | Phase::Closing(_) => idle_timeout_ms.map(|t| self.last_active + t),
        }
    }
}
