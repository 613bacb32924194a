//! One TCP connection's state as the event loop sees it, and its [`Phase`].
//!
//! A [`Conn`] owns its socket, its protocol [`Session`], and two buffers
//! that exist only while they hold something: `input` (a partial line, or
//! lines held back by backpressure) and `out` (an [`OutBuf`]: reply bytes
//! the kernel has not taken yet). An idle connection holds neither, so it
//! costs only this struct in the slab (at most 128 bytes, held to that by a
//! unit test in `server/mod.rs`; RSS per idle connection is in
//! docs/benchmarks.md).
//!
//! The phase is private: it changes only through [`Conn::set_phase`], which
//! traces every change (`conn #K: Open -> Closing(peer)`). The socket calls
//! and their edge-triggered rules are `crate::readiness`'s; what to do with
//! the bytes is `server::tcp`'s.

use crate::config::ServeConfig;
use crate::protocol::metrics::HEAD_TIMEOUT_MS;
use crate::protocol::{CloseReason, Ctx, Fed, Session, Verdict};
use crate::readiness::OutBuf;
use mio::net::TcpStream;
use std::fmt;

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
    /// An event reported input a short read can leave behind with no new
    /// edge to come (the peer's FIN, or a TCP urgent mark:
    /// `readiness::must_drain`): read until `Ok(0)` or `WouldBlock`, which
    /// clears it (`read_some`'s `drain_fully`).
    pub drain_fully: bool,
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
            drain_fully: false,
        }
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
    /// replies going to `reply`; `config` gives `--max-line` and the output
    /// cap, which bounds the replies pending plus this answer. Keeps what
    /// the protocol did not consume: a partial line, or lines held back
    /// because the output budget ran out.
    pub fn feed(
        &mut self,
        new: &[u8],
        ctx: &mut Ctx<'_>,
        reply: &mut Vec<u8>,
        config: &ServeConfig,
        now: u64,
    ) -> Fed {
        let budget = config.output_cap.saturating_sub(self.out.pending());
        let max_line = config.max_line;
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

    /// Whether `input` holds a whole line held back by backpressure: an
    /// answer the kernel will announce no edge for.
    pub fn holds_a_line(&self) -> bool {
        memchr::memchr(b'\n', &self.input).is_some()
    }

    /// When this connection must next be looked at by the timer, if ever
    /// (a held one: at the end of its hold, armed by `Server::hold`).
    pub fn deadline(&self, idle_timeout_ms: Option<u64>, linger_ms: u64) -> Option<u64> {
        let idle = idle_timeout_ms.map(|t| self.last_active + t);
        match self.phase {
            Phase::Lingering(_) => Some(self.last_active + linger_ms),
            // A scrape: the head within HEAD_TIMEOUT_MS of the accept (its
            // lines are not activity), then as long again per write that
            // makes progress; sooner if the idle timeout is shorter.
            Phase::Open | Phase::Closing(_) if matches!(self.session, Session::Metrics(_)) => {
                let head = self.last_active + HEAD_TIMEOUT_MS;
                Some(idle.map_or(head, |idle| idle.min(head)))
            }
            Phase::Open | Phase::Closing(_) => idle,
        }
    }
}
