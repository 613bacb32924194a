//! One TCP connection's state as the event loop sees it, and its [`Phase`].
//!
//! A [`Conn`] owns its socket, its protocol [`Session`], and two buffers
//! that exist only while they hold something: `input` (a partial line, or
//! lines held back because their replies would not fit the socket) and
//! `out` (an [`OutBuf`]: reply bytes the kernel has not taken yet). An idle
//! connection holds neither, so it costs only this struct in the slab (at
//! most 128 bytes, held to that by a unit test in `server/mod.rs`; RSS per
//! idle connection is in docs/benchmarks.md).
//!
//! How big those buffers may get is decided here, by [`Conn::read_limit`]:
//! a read takes no more than the socket's send buffer can take back
//! (`readiness::SendRoom`), so a client that never reads leaves at most
//! one small read's reply behind (the rules are `server::tcp`'s).
//!
//! The phase is private: it changes only through [`Conn::set_phase`], which
//! traces every change (`conn #K: Open -> Closing(peer)`). The socket calls
//! and their edge-triggered rules are `crate::readiness`'s; what to do with
//! the bytes is `server::tcp`'s.

use super::READ_CHUNK;
use crate::protocol::metrics::HEAD_TIMEOUT_MS;
use crate::protocol::{CloseReason, Ctx, Fed, Session, Verdict};
use crate::readiness::{OutBuf, ReadOutcome, read_some};
use mio::net::TcpStream;
use std::fmt;
use std::io;

/// The smallest read, made even when the send buffer has no room at all
/// (`SendRoom::read_limit` says why a read is still needed then). It is
/// what a client that never reads leaves in `out`: 1 KiB holds a typical
/// request line and its reply, and costs a stalled echo connection 1 KiB.
pub const MIN_READ: usize = 1024;

/// The most reply bytes one answer of a line service produces (more
/// lines wait in `input` for the next turn): four reads' worth of lines
/// that each get a slightly longer reply (greet's `Hi `), yet no single
/// connection's pipeline of `T`s (30 bytes for 2) fills the shared reply
/// buffer with hundreds of kilobytes in one turn.
pub const REPLY_BATCH: usize = 4 * LINE_READ;

/// The largest read of the line services (greet, login, command and the
/// metrics endpoint's request head). Their replies can be longer than the
/// request (`T` gets a 30-byte time), so lines read but not yet answered
/// wait in `input` while the socket is full: this bounds them. 4 KiB is
/// `--max-line`'s default and still 60-odd pipelined 64-byte lines per
/// read; echo, whose reply is its request, reads up to [`READ_CHUNK`].
pub const LINE_READ: usize = 4096;

/// Where a connection is in its life:
/// `Open -> Closing(reason) -> [Lingering(reason)] -> closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading requests and writing replies.
    Open,
    /// No more reading: flush `out`, then close (or linger) for this reason.
    Closing(CloseReason),
    /// Output flushed and our write side shut (FIN sent); reading and
    /// discarding until the peer's FIN or the linger deadline. Closing with
    /// unread input sends RST instead of FIN (`tcp_close`), and an RST
    /// destroys what our kernel has not delivered yet: the part of the last
    /// reply (e.g. `ERR line too long`) still in its send queue. What the
    /// client's kernel already holds survives (`tcp_reset` purges only the
    /// sender's side). nginx's "lingering close" avoids the same trap. The
    /// deadline counts from handing the reply to the kernel, not from the
    /// client reading it.
    Lingering(CloseReason),
}

impl Phase {
    /// Whether a connection may go from `self` to `next`. Closing may be
    /// entered again: a shutdown turns any close into `Closing(shutdown)`.
    pub fn may_become(self, next: Phase) -> bool {
        match (self, next) {
            (Phase::Open, Phase::Closing(_)) => true,
            (Phase::Closing(_), Phase::Closing(_) | Phase::Lingering(_)) => true,
            // Nothing reopens, and lingering only ends in the close itself.
            (Phase::Open | Phase::Closing(_) | Phase::Lingering(_), _) => false,
        }
    }
}

impl fmt::Display for Phase {
    /// As the trace prints it: `Open`, `Closing(bye)`, `Lingering(bye)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Open => f.write_str("Open"),
            Phase::Closing(reason) => write!(f, "Closing({})", reason.name()),
            Phase::Lingering(reason) => write!(f, "Lingering({})", reason.name()),
        }
    }
}

/// Marks "no deadline armed" in [`Conn::armed_at`].
pub const NOT_ARMED: u64 = u64::MAX;

/// A TCP connection in the slab.
#[derive(Debug)]
pub struct Conn {
    /// The socket, registered once, edge-triggered (`readiness::TCP_INTEREST`).
    pub stream: TcpStream,
    /// The protocol state machine.
    pub session: Session,
    /// Unconsumed input; empty (and unallocated) most of the time.
    pub input: Vec<u8>,
    /// Reply bytes the kernel has not accepted yet; unallocated unless a
    /// write came up short.
    pub out: OutBuf,
    /// Where the connection is in its life; see [`Conn::set_phase`].
    phase: Phase,
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
    /// What the kernel may hold that no new edge will announce; see
    /// [`Unread`]. Changed by [`Conn::note_input`] and [`Conn::read`].
    unread: Unread,
}

/// Input the kernel may hold for a connection that no new edge will
/// announce (edge-triggered: an edge reports *new* input only). One byte,
/// ordered: a later event can only raise it, and reads lower it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unread {
    /// The last read was short or said `WouldBlock`: the receive queue was
    /// empty then, and whatever came since raised its own edge.
    Nothing,
    /// An event said READABLE and we have not read since (output was
    /// pending, or a hold), or the last read filled its buffer: read
    /// before waiting for the next edge.
    Waiting,
    /// As `Waiting`, and an event reported input a short read can leave
    /// behind (the peer's FIN, or a TCP urgent mark:
    /// `readiness::must_drain`): read until `Ok(0)` or `WouldBlock`
    /// (`read_some`'s `drain_fully`).
    DrainFully,
}

/// The timeouts a connection's deadline is made of, in loop milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// `--idle-timeout`, if any.
    pub idle_ms: Option<u64>,
    /// `--send-timeout`, if any.
    pub send_ms: Option<u64>,
    /// How long a lingering close waits for the peer's FIN.
    pub linger_ms: u64,
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
            unread: Unread::Nothing,
        }
    }

    /// An event reported input (`drain_fully`: one a short read can leave
    /// behind, `readiness::must_drain`). Noted before anything is read, so
    /// that a read that cannot happen now (output pending, a hold) is
    /// remembered: this edge will not come again.
    pub fn note_input(&mut self, drain_fully: bool) {
        let now = if drain_fully {
            Unread::DrainFully
        } else {
            Unread::Waiting
        };
        self.unread = self.unread.max(now);
    }

    /// What the kernel may still hold unannounced.
    #[cfg(test)]
    pub fn unread(&self) -> Unread {
        self.unread
    }

    /// Whether input may wait that no edge will announce.
    pub fn input_waiting(&self) -> bool {
        self.unread != Unread::Nothing
    }

    /// One read into `buf` (`readiness::read_some`, whose rules apply),
    /// keeping [`Conn::unread`] up to date.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<ReadOutcome> {
        let mut drain_fully = self.unread == Unread::DrainFully;
        let outcome = read_some(&mut self.stream, buf, &mut drain_fully)?;
        self.unread = match outcome {
            // Stopped before `WouldBlock`: more may wait.
            ReadOutcome::More(_) if drain_fully => Unread::DrainFully,
            ReadOutcome::More(_) => Unread::Waiting,
            // Short read (the queue was empty) or `WouldBlock`.
            ReadOutcome::Drained(_) | ReadOutcome::Empty => Unread::Nothing,
            // After the FIN every read says `Ok(0)`: nothing new will come.
            ReadOutcome::Eof => Unread::Nothing,
        };
        Ok(outcome)
    }

    /// While output is pending, how long it has gone without progress, at
    /// `now` (for `--send-timeout` and `--output-budget`). `last_active` is
    /// that clock then: `Server::output_changed` sets it when output becomes
    /// pending, and nothing is read while it is, so only a write that makes
    /// progress moves it.
    pub fn stalled_for(&self, now: u64) -> u64 {
        now.saturating_sub(self.last_active)
    }

    /// How many bytes the next read may take: no more than the socket can
    /// take back now (at least [`MIN_READ`]), at most [`READ_CHUNK`] for
    /// echo and [`LINE_READ`] for the line services.
    pub fn read_limit(&mut self) -> usize {
        let max = match self.session {
            Session::Echo => READ_CHUNK,
            Session::Greet | Session::Login(_) | Session::Command | Session::Metrics(_) => {
                LINE_READ
            }
        };
        let Conn { out, stream, .. } = self;
        out.room().read_limit(stream, MIN_READ, max)
    }

    /// How many reply bytes one answer may produce before the rest of its
    /// lines wait in `input`: what the socket can take (at least
    /// [`MIN_READ`], at most [`REPLY_BATCH`]), asking the kernel if the
    /// credit is lower. The metrics endpoint's response is made whole, at
    /// its blank line, whatever this says.
    pub fn reply_budget(&mut self) -> usize {
        let Conn { out, stream, .. } = self;
        out.room().read_limit(stream, MIN_READ, REPLY_BATCH)
    }

    /// Where the connection is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The one place the phase changes; traced as `conn #K: OLD -> NEW`.
    pub fn set_phase(&mut self, key: usize, next: Phase) {
        debug_assert!(
            self.phase.may_become(next),
            "conn #{key}: {} -> {next} is not a transition",
            self.phase
        );
        log::trace!("conn #{key}: {} -> {next}", self.phase);
        self.phase = next;
    }

    /// Hands `new` bytes, behind any held-back input, to the session, its
    /// replies going to `reply`, up to about `budget` bytes of them
    /// ([`Conn::reply_budget`]); `max_line` is `--max-line`. Keeps what the
    /// protocol did not consume: a partial line, or lines held back because
    /// the budget ran out.
    pub fn feed(
        &mut self,
        new: &[u8],
        ctx: &mut Ctx<'_>,
        reply: &mut Vec<u8>,
        (max_line, budget): (usize, usize),
        now: u64,
    ) -> Fed {
        let fed = if self.input.is_empty() {
            // The common case: the bytes just read are not copied.
            let fed = self.session.feed(new, ctx, reply, max_line, budget);
            self.input.extend_from_slice(&new[fed.consumed..]);
            fed
        } else {
            let mut input = std::mem::take(&mut self.input);
            input.extend_from_slice(new);
            let fed = self.session.feed(&input, ctx, reply, max_line, budget);
            input.drain(..fed.consumed);
            if !input.is_empty() {
                self.input = input;
            }
            fed
        };
        // Only complete requests count as activity: a slowloris client
        // dripping bytes into a line that never ends is idle, and the idle
        // timeout closes it. A metrics request's lines never do: its whole
        // head must arrive within `HEAD_TIMEOUT_MS` of the accept.
        if fed.consumed > 0 && !matches!(self.session, Session::Metrics(_)) {
            self.last_active = now;
        }
        fed
    }

    /// The peer closed its side: hands the session what input is left (a
    /// final line without its `\n`) to answer into `reply`.
    pub fn finish(&mut self, ctx: &mut Ctx<'_>, reply: &mut Vec<u8>) -> Verdict {
        let rest = std::mem::take(&mut self.input);
        self.session.finish(&rest, ctx, reply)
    }

    /// Whether `input` holds a whole line held back (its reply would not
    /// have fit the socket, [`Conn::reply_budget`]): an answer the kernel
    /// will announce no edge for.
    pub fn holds_a_line(&self) -> bool {
        memchr::memchr(b'\n', &self.input).is_some()
    }

    /// When this connection must next be looked at by the timer, if ever,
    /// and why it would be closed then (a held one: at the end of its hold,
    /// armed by `Server::hold`). The earliest of:
    /// - lingering: the end of the linger (under its original reason);
    /// - output pending (and not held back by a hold): `--send-timeout`
    ///   after it became pending or last made progress (`last_active`, see
    ///   [`Conn::stalled_for`]);
    /// - `--idle-timeout` after the last activity; a scrape's head within
    ///   `HEAD_TIMEOUT_MS` of the accept (its lines are not activity), then
    ///   as long again per write that makes progress.
    pub fn deadline(&self, t: Timeouts) -> Option<(u64, CloseReason)> {
        let idle = t
            .idle_ms
            .map(|ms| (self.last_active + ms, CloseReason::Idle));
        let send = t
            .send_ms
            .filter(|_| !self.out.is_empty() && !self.session.is_held())
            .map(|ms| (self.last_active + ms, CloseReason::SendTimeout));
        let idle = match self.phase {
            Phase::Lingering(reason) => return Some((self.last_active + t.linger_ms, reason)),
            Phase::Open | Phase::Closing(_) if matches!(self.session, Session::Metrics(_)) => {
                let head = (self.last_active + HEAD_TIMEOUT_MS, CloseReason::Idle);
                Some(idle.map_or(head, |idle| if idle.0 < head.0 { idle } else { head }))
            }
            Phase::Open | Phase::Closing(_) => idle,
        };
        // The earlier one; at the same time, the send timeout names it.
        match (idle, send) {
            (Some(i), Some(s)) if i.0 < s.0 => Some(i),
            (i, None) => i,
            (_, s) => s,
        }
    }
}
