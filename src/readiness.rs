//! The readiness layer: the socket calls both event loops (the server's
//! `server/` and the generator's `load/`) make, and the edge-triggered rules
//! that govern them, each implemented and commented once, here.
//!
//! - [`TCP_INTEREST`] and [`must_drain`]: how a TCP connection is
//!   registered, and which events a short read must not take for "drained".
//! - [`read_some`] and [`ReadOutcome`]: one read, and what it says about the
//!   socket's receive queue.
//! - [`write_some`] and [`OutBuf`]: a write that may come up short, and the
//!   buffer that keeps what the kernel did not take, in order.
//! - [`ReadyQueue`]: sockets that stopped before `WouldBlock` (a fairness
//!   cap, or a rule below), served once per turn after the new events.
//! - [`poll_events`]: `epoll_wait` through mio, with `EINTR` handled.
//! - [`datagrams`]: UDP in batches (`recvmmsg`/`sendmmsg`), the kernel's
//!   drop counter, and the socket buffers.
//! - [`room`]: how much a TCP socket's send buffer can take now
//!   ([`SendRoom`]), so that a read takes no more than its reply can
//!   leave behind.
//!
//! Every TCP connection is registered once, edge-triggered, for
//! [`TCP_INTEREST`]. An edge announces *new* readiness; nothing announces
//! readiness that was already there when we stopped. So whoever stops
//! before the kernel said `WouldBlock` must remember the socket itself:
//! that is the ready queue.
//!
//! Nothing here knows what the bytes mean, or which loop calls it.

pub mod datagrams;
pub mod room;

pub use room::SendRoom;

use mio::event::Event;
use mio::{Events, Interest, Poll};
use slab::Slab;
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::time::Duration;

/// The interest every TCP connection of both loops is registered with, once:
/// READABLE | WRITABLE, and on Linux PRIORITY (`EPOLLPRI`, "urgent data is
/// waiting": tcp(7), and `tcp_poll` in net/ipv4/tcp.c). PRIORITY costs no
/// syscall (it is one more bit in the one `epoll_ctl(ADD)`); it is asked
/// for only so that [`must_drain`] sees the urgent mark that stops a read
/// short (see [`read_some`]).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub const TCP_INTEREST: Interest = Interest::READABLE
    .add(Interest::WRITABLE)
    .add(Interest::PRIORITY);

/// Elsewhere mio has no PRIORITY interest.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub const TCP_INTEREST: Interest = Interest::READABLE.add(Interest::WRITABLE);

/// Whether `event` reported input that a short read can leave behind and
/// that no later edge will report: the caller sets its `drain_fully` flag
/// for [`read_some`]. Two such cases:
/// - read-closed: the peer's FIN sits behind the data (`Ok(0)` comes only
///   after it), and a FIN already queued raises no new edge;
/// - priority: TCP urgent data (`MSG_OOB`). A read stops at the urgent
///   mark, even with bytes queued behind it (tcp(7), SIOCATMARK: "a read
///   never reads across the urgent mark"; `tcp_recvmsg` in
///   net/ipv4/tcp.c), and those bytes, already queued, raise no new edge.
pub fn must_drain(event: &Event) -> bool {
    event.is_read_closed() || event.is_priority()
}

/// The outcome of one [`read_some`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// `n` bytes arrived, fewer than asked for, which is taken to mean the
    /// receive queue was empty after them (the short-read shortcut, see
    /// [`read_some`]): wait for the next edge.
    Drained(usize),
    /// `n` bytes arrived and more may be waiting. The caller must come back
    /// (requeue the socket): no new edge will report bytes already queued.
    More(usize),
    /// `WouldBlock`: nothing to read. A spurious event, or one whose data an
    /// earlier read already took.
    Empty,
    /// `Ok(0)`: the peer closed its side (FIN).
    Eof,
}

/// One read into `buf`: the read of every TCP connection in both loops.
///
/// Readiness rules:
/// - `Interrupted` is retried. It is not expected: a non-blocking read
///   never sleeps, and `EINTR` interrupts only a call that sleeps
///   (signal(7)); the retry costs nothing.
/// - A read that fills `buf` may leave more behind: [`ReadOutcome::More`].
/// - The short-read shortcut: a read shorter than `buf` is taken to mean
///   that the receive queue was empty ([`ReadOutcome::Drained`]), so we stop
///   without the extra read that would only say `WouldBlock`: one syscall
///   saved per message, as hand-written C epoll loops do. This relies on
///   epoll(7) (Q&A, "Do I need to continuously read/write a file descriptor
///   until EAGAIN ...?": for a stream socket, a read returning "a lower
///   number of bytes" than asked means the read space is exhausted) and on
///   Linux queueing the socket again on every new arrival (epoll(7):
///   "multiple events can be generated upon receipt of multiple chunks of
///   data"). mio promises less: its `Poll` docs ("Draining readiness")
///   guarantee a new event only after `WouldBlock` (mio issue #1611
///   discusses the shortcut).
/// - Except when `*drain_fully`: an event reported input a short read can
///   leave behind with no new edge to come ([`must_drain`]: the peer's FIN,
///   or the TCP urgent mark). Then a short read is reported as
///   [`ReadOutcome::More`] too, so the caller reads on until `Ok(0)` or
///   `WouldBlock`. `WouldBlock` means everything reported was read: it
///   clears `*drain_fully`, and the shortcut applies again. (After a FIN
///   no read says `WouldBlock`: they say `Ok(0)`.)
pub fn read_some(
    stream: &mut impl Read,
    buf: &mut [u8],
    drain_fully: &mut bool,
) -> io::Result<ReadOutcome> {
    loop {
        return match stream.read(buf) {
            Ok(0) => Ok(ReadOutcome::Eof),
            Ok(n) if n == buf.len() || *drain_fully => Ok(ReadOutcome::More(n)),
            Ok(n) => Ok(ReadOutcome::Drained(n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                *drain_fully = false;
                Ok(ReadOutcome::Empty)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
    }
}

/// Writes as much of `bytes` as the kernel takes now; returns how much.
///
/// Readiness rules: `Interrupted` is retried (as for [`read_some`]: not
/// expected from a non-blocking call); `WouldBlock` ends the attempt with a
/// short count (the caller keeps the rest, see [`OutBuf`], and waits for
/// WRITABLE: Linux wakes a writer for room only after a write found the
/// send buffer full, `SOCK_NOSPACE` and `tcp_check_space` in
/// net/ipv4/tcp_input.c); `Ok(0)` for a non-empty buffer means the socket
/// cannot take data and is reported as `WriteZero`.
pub fn write_some(stream: &mut impl Write, bytes: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < bytes.len() {
        match stream.write(&bytes[done..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Bytes for the kernel that it has not taken yet: `buf[written..]`, and
/// what the socket's send buffer can take, as far as this buffer's writes
/// tell ([`SendRoom`]: every write through it is charged there).
///
/// Allocated only while something is pending: an idle connection's
/// `OutBuf` is an empty `Vec`, an offset and a credit (32 bytes, no heap).
/// The bound on what may pend is the caller's (it stops producing; see
/// `server::tcp`'s read rules, `MAX_BURST_BYTES` in the generator); the
/// offset is 32 bits, so a caller must keep it under 4 GiB.
#[derive(Debug, Default)]
pub struct OutBuf {
    buf: Vec<u8>,
    written: u32,
    room: SendRoom,
}

impl OutBuf {
    /// Bytes waiting for the kernel.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.written as usize
    }

    /// Nothing waits for the kernel.
    pub fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    /// What the socket's send buffer can take, as this buffer's writes
    /// have charged it.
    pub fn room(&mut self) -> &mut SendRoom {
        &mut self.room
    }

    /// Queues `bytes` behind what is pending (the byte order is the
    /// stream's), without writing.
    pub fn queue(&mut self, bytes: &[u8]) {
        if self.written > 0 {
            // Reclaim the written prefix before growing, so the buffer never
            // holds more than the pending bytes plus this append.
            self.buf.drain(..self.written as usize);
            self.written = 0;
        }
        debug_assert!(self.buf.len() + bytes.len() <= u32::MAX as usize);
        self.buf.extend_from_slice(bytes);
    }

    /// Writes `bytes` now if nothing is pending, keeping what the kernel
    /// does not take (a short write); behind pending bytes, only queues
    /// them. Returns the bytes the kernel took.
    pub fn send(&mut self, stream: &mut impl Write, bytes: &[u8]) -> io::Result<usize> {
        if !self.is_empty() {
            self.queue(bytes);
            return Ok(0);
        }
        let n = write_some(stream, bytes)?;
        self.room.charge(n);
        if n < bytes.len() {
            // Short write: keep the rest; WRITABLE comes when there is room.
            self.queue(&bytes[n..]);
        }
        Ok(n)
    }

    /// Writes pending bytes until done or the kernel's buffer is full, and
    /// frees the buffer once it is empty. Returns the bytes written.
    ///
    /// WRITABLE matters only while bytes are pending: with nothing pending
    /// this makes no syscall, so a WRITABLE nobody waited for costs nothing.
    /// Those come from `epoll_ctl(ADD)` (a new socket has room), from riding
    /// along with another wake-up (an event carries the socket's whole
    /// current state), and from state changes such as our FIN being sent
    /// and ACKed; plain ACKs raise none (`tcp_check_space` wakes a writer
    /// only after a write found the buffer full).
    pub fn flush(&mut self, stream: &mut impl Write) -> io::Result<usize> {
        if self.is_empty() {
            return Ok(0);
        }
        let n = write_some(stream, &self.buf[self.written as usize..])?;
        self.room.charge(n);
        self.written += n as u32;
        if self.is_empty() {
            // Idle connections hold no buffers.
            self.buf = Vec::new();
            self.written = 0;
        }
        Ok(n)
    }
}

/// A slab entry that can wait in a [`ReadyQueue`]: it carries its own
/// "already queued" flag, so a socket is queued at most once.
pub trait Queueable {
    /// The entry's queued flag.
    fn queued(&mut self) -> &mut bool;
}

/// Slab keys of sockets with work left that no new event will announce:
/// they stopped before `WouldBlock` (a fairness cap filled, or a read rule
/// asked to come back).
///
/// Fairness rule: each turn serves the keys queued *before* the pass began
/// ([`ReadyQueue::start_pass`]), once each; a socket requeued during the
/// pass waits for the next turn, behind that turn's new events. One busy
/// socket therefore gets one bounded slice of work per turn, like everyone
/// else. At most one entry per live socket (the queued flag), so the queue
/// is bounded by the slab.
#[derive(Debug, Default)]
pub struct ReadyQueue {
    keys: VecDeque<usize>,
}

/// One fairness pass over a [`ReadyQueue`]: how many keys it may still take.
#[derive(Debug)]
pub struct Pass {
    left: usize,
}

impl ReadyQueue {
    /// Queues `key` unless it is already queued or no longer in `slab`.
    /// Returns whether it was added.
    pub fn push<E: Queueable>(&mut self, slab: &mut Slab<E>, key: usize) -> bool {
        let Some(entry) = slab.get_mut(key) else {
            return false;
        };
        let queued = entry.queued();
        if *queued {
            return false;
        }
        *queued = true;
        self.keys.push_back(key);
        true
    }

    /// Nothing is queued: `poll` may sleep.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Starts a pass over the keys queued so far.
    pub fn start_pass(&self) -> Pass {
        Pass {
            left: self.keys.len(),
        }
    }

    /// The next key of `pass` whose socket still exists, its queued flag
    /// cleared (so serving it may requeue it, for the next pass). Keys of
    /// sockets closed since they were queued are skipped. A key reused by a
    /// new socket meanwhile is served once for nothing: its read finds
    /// [`ReadOutcome::Empty`], which is harmless.
    pub fn next<E: Queueable>(&mut self, pass: &mut Pass, slab: &mut Slab<E>) -> Option<usize> {
        while pass.left > 0 {
            pass.left -= 1;
            let key = self.keys.pop_front()?;
            if let Some(entry) = slab.get_mut(key) {
                *entry.queued() = false;
                return Some(key);
            }
        }
        None
    }
}

/// Waits for events (`epoll_wait`) for at most `timeout`.
///
/// `epoll_wait` is the one call of the loop that sleeps, so it is the one
/// a signal interrupts: it fails with `EINTR` even under `SA_RESTART`
/// (signal(7)). That is not an error: it returns with no events, and the
/// loop goes on to its timers and computes a fresh timeout (retrying with
/// the old one could sleep past a deadline). Signals themselves arrive as
/// events on their own pipe (signal-hook-mio).
pub fn poll_events(
    poll: &mut Poll,
    events: &mut Events,
    timeout: Option<Duration>,
) -> io::Result<()> {
    match poll.poll(events, timeout) {
        Err(e) if e.kind() == ErrorKind::Interrupted => {
            events.clear();
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests;
