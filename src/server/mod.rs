//! The event loop: one thread, one `mio::Poll`, one `Slab` of sockets.
//!
//! Every socket the server owns (TCP listeners, UDP sockets, TCP
//! connections, refused connections still lingering) is an [`Entry`] in one
//! slab, and its slab key is its mio `Token`. One turn of the loop:
//!
//! 1. `poll` sleeps until an event or the nearest deadline (zero if the ready
//!    queue has work);
//! 2. each event is dispatched by token: accept, read/write, or recv;
//! 3. the ready queue is served once: sockets that stopped early (fairness
//!    cap, backpressure lifted) get their next chunk of work;
//! 4. due deadlines fire (idle timeout, send timeout, lingering close,
//!    accept back-off, shutdown grace).
//!
//! Connections are registered edge-triggered, once, for READABLE|WRITABLE
//! (and PRIORITY, for TCP urgent data: `readiness::TCP_INTEREST`): no
//! `reregister` syscalls, and WRITABLE is simply ignored unless output is
//! pending. While output is pending, nothing is read from that connection
//! (`tcp.rs`'s read rules). Listeners and UDP sockets are registered
//! READABLE only (a UDP reply that would block is dropped, never waited
//! for).
//!
//! The socket calls and the edge-triggered rules behind them (`read_some`,
//! `OutBuf`, the ready queue's fairness pass, `poll_events`) are
//! [`crate::readiness`]'s, shared with the load generator. The handlers
//! that use them are `accept.rs`, `tcp.rs` (with `conn.rs`, one
//! connection's state, and `budget.rs`, the output budget across them),
//! `refused.rs` and `udp.rs`; `deadlines.rs` (with `timers.rs`) owns time
//! and `shutdown.rs` the graceful stop. `setup.rs`
//! builds the server around the sockets `bind.rs` binds.

mod accept;
mod bind;
mod budget;
mod conn;
mod deadlines;
mod metrics;
mod refused;
mod setup;
mod shutdown;
pub mod stats;
mod tcp;
mod timers;
mod udp;

pub use accept::ERR_SERVER_FULL;
pub use bind::{BindError, Bound, LISTEN_BACKLOG, bind_all, bind_shared};
pub use refused::{REFUSED_LINGER_MAX, REFUSED_LINGER_MS};
pub use setup::ServerError;
pub use stats::Stats;

use crate::config::ServeConfig;
use crate::protocol::Service;
use crate::protocol::throttle::LoginThrottle;
use crate::protocol::udp::guard::UdpGuard;
use crate::readiness::datagrams::{KernelDrops, RecvBatch, SendBatch};
use crate::readiness::{Queueable, ReadyQueue, must_drain, poll_events};
use conn::Conn;
use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Poll, Token};
use rand::rngs::SmallRng;
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;
use timers::Timers;

/// Bytes read per connection per turn, and the size of the loop's one read
/// buffer. The fairness cap: a connection that fills it is requeued behind
/// the others instead of being drained in one go. 64 KiB also holds the
/// largest UDP datagram: 65,507 bytes over IPv4 (65,535 less the IPv4 and
/// UDP headers), 65,527 over IPv6 (its length field leaves out its own
/// header).
pub const READ_CHUNK: usize = 64 * 1024;

/// Connections accepted per listener per turn before others get a turn.
pub const ACCEPT_BATCH: usize = 128;

/// Datagrams received per UDP socket per call of `udp_ready`: one
/// `recvmmsg` (memcached yields a busy connection after 20 requests per
/// event; datagrams are cheaper). 64 is also where batching stops paying:
/// the syscall's fixed cost is already under 2% of a batch's.
pub const UDP_BATCH: usize = crate::readiness::datagrams::MAX_BATCH;

/// How long accepting pauses after EMFILE/ENFILE. nginx waits 500 ms; a
/// shorter pause resumes sooner when a load test frees descriptors, and at 10
/// tries a second costs nothing.
pub const ACCEPT_BACKOFF_MS: u64 = 100;

/// How long a lingering close waits for the peer's FIN (see `Phase::Lingering`).
pub const LINGER_MS: u64 = 2_000;

/// Events taken from the kernel per `poll`.
const EVENTS_CAPACITY: usize = 1024;

/// The signal pipe's token: outside the slab's key range in practice.
const SIGNALS: Token = Token(usize::MAX);

/// One socket in the slab.
#[derive(Debug)]
enum Entry {
    /// A TCP listener of one service.
    Listener {
        socket: TcpListener,
        service: Service,
        queued: bool,
    },
    /// A UDP socket of one service.
    Udp {
        socket: UdpSocket,
        service: Service,
        queued: bool,
        /// The kernel's drops on this socket, counted so far.
        drops: KernelDrops,
    },
    /// A TCP connection.
    Conn(Conn),
    /// A connection refused as full, lingering until its peer's FIN
    /// (`refused.rs`).
    Refused {
        stream: mio::net::TcpStream,
        serial: u32,
        queued: bool,
    },
}

impl Queueable for Entry {
    /// The ready-queue flag, so a socket is queued at most once.
    fn queued(&mut self) -> &mut bool {
        match self {
            Entry::Listener { queued, .. }
            | Entry::Udp { queued, .. }
            | Entry::Refused { queued, .. } => queued,
            Entry::Conn(c) => &mut c.queued,
        }
    }
}

/// The server: its loop state and every socket it owns.
pub struct Server {
    poll: Poll,
    entries: Slab<Entry>,
    /// Sockets with work left that no new event will announce.
    ready: ReadyQueue,
    timers: Timers,
    /// The loop's one read buffer, shared by every socket.
    scratch: Box<[u8]>,
    /// Where protocols write replies before they go to a socket.
    reply: Vec<u8>,
    /// The loop's one batch of received datagrams (`udp.rs`).
    udp_in: RecvBatch,
    /// The headers of one batch of datagrams to send.
    udp_out: SendBatch,
    /// Which datagrams of `udp_in` get an echo reply.
    udp_replies: Vec<usize>,
    config: ServeConfig,
    rng: SmallRng,
    signals: Signals,
    started: Instant,
    /// Milliseconds since `started`, read once per turn.
    now: u64,
    next_serial: u32,
    /// Refused connections lingering, oldest (and so soonest due) first.
    refusals: VecDeque<refused::Refusal>,
    /// The UDP loop guard and rate limits (knows our own UDP ports).
    udp_guard: UdpGuard,
    /// The login throttle's per-source records.
    logins: LoginThrottle,
    /// While set, accepting is paused after EMFILE (until this time).
    accept_paused_until: Option<u64>,
    /// While set, the server is shutting down; connections still flushing at
    /// this time are closed.
    shutdown_at: Option<u64>,
    /// When the next `--stats-interval` line is due.
    next_stats_at: Option<u64>,
    /// Over `--output-budget` with no slow reader old enough to close yet:
    /// look again next turn (`budget.rs`).
    budget_recheck: bool,
    listening: Vec<(Service, SocketAddr)>,
    stats: Stats,
}

impl Server {
    /// The bound services and addresses (port 0 resolved), in bind order.
    pub fn listening(&self) -> &[(Service, SocketAddr)] {
        &self.listening
    }

    /// Runs the loop until a graceful shutdown completes; returns the counters.
    pub fn run(mut self) -> io::Result<Stats> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let timeout = self.poll_timeout();
            let before = Instant::now();
            // A signal during epoll_wait is a wake-up with no events.
            poll_events(&mut self.poll, &mut events, timeout)?;
            let woke = Instant::now();
            self.now = woke.duration_since(self.started).as_millis() as u64;
            self.stats.loop_turns += 1;
            self.stats.poll_wait_ns += woke.duration_since(before).as_nanos() as u64;
            log::trace!(
                "poll: {} events after {:?} (timeout {:?})",
                events.iter().count(),
                woke.duration_since(before),
                timeout
            );
            for event in events.iter() {
                self.stats.events += 1;
                self.dispatch(event);
            }
            self.serve_ready_queue();
            self.fire_deadlines();
            self.stats.busy_ns += woke.elapsed().as_nanos() as u64;
            if self.shutdown_at.is_some() && self.stats.open_connections() == 0 {
                break;
            }
        }
        // The loop is over, so it may now wait (bounded) for the log
        // writer: that makes room for the summary in a queue a slow stderr
        // filled. Then the writer's count, for the summary.
        crate::log_queue::flush();
        self.stats.log_lines_dropped = crate::log_queue::dropped();
        log::info!("shutdown complete: {}", self.stats);
        Ok(self.stats)
    }

    /// Routes one event to its socket's handler.
    fn dispatch(&mut self, event: &mio::event::Event) {
        if event.token() == SIGNALS {
            return self.on_signal();
        }
        let key = event.token().0;
        if log::log_enabled!(log::Level::Trace) {
            self.trace_event(key, event);
        }
        match self.entries.get_mut(key) {
            // Stale token: the socket was closed earlier in this same batch of
            // events. Harmless; if its key was already reused by a new
            // connection, the handler below just finds nothing to read.
            None => log::trace!("event #{key}: stale token, ignored"),
            Some(Entry::Listener { .. }) => self.accept_ready(key),
            Some(Entry::Udp { .. }) => self.udp_ready(key),
            Some(Entry::Refused { .. }) => self.refused_ready(key),
            Some(Entry::Conn(conn)) => {
                // Input (or its end, or an error) to read: noted first, so a
                // read that cannot happen now (output pending, a hold) is
                // remembered, since this edge will not come again. A FIN or
                // an urgent mark that a short read can leave behind: read
                // until `WouldBlock` (`readiness::read_some`).
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                if readable || must_drain(event) {
                    conn.note_input(must_drain(event));
                }
                if event.is_writable() {
                    self.write_ready(key);
                }
                if readable {
                    self.read_ready(key);
                }
            }
        }
    }

    /// The trace line of one event: token, service, peer and readiness
    /// (the peer costs a syscall, so it is asked for only at trace level).
    fn trace_event(&self, key: usize, event: &mio::event::Event) {
        let (what, peer) = match self.entries.get(key) {
            None => ("stale".to_owned(), None),
            Some(Entry::Listener { service, .. }) => (format!("{service} listener"), None),
            Some(Entry::Udp { service, .. }) => (format!("{service} socket"), None),
            Some(Entry::Conn(c)) => (c.session.service().to_string(), c.stream.peer_addr().ok()),
            Some(Entry::Refused { stream, .. }) => ("refused".to_owned(), stream.peer_addr().ok()),
        };
        let peer = peer.map_or(String::new(), |p| format!(" from {p}"));
        let flags: Vec<&str> = [
            (event.is_readable(), "readable"),
            (event.is_writable(), "writable"),
            (event.is_priority(), "priority"),
            (event.is_read_closed(), "read-closed"),
            (event.is_write_closed(), "write-closed"),
            (event.is_error(), "error"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        log::trace!("event #{key} {what}{peer}: {}", flags.join(" "));
    }

    /// Puts a socket on the ready queue (once) to be served next turn. Used
    /// wherever we stop before `WouldBlock`: edge-triggered readiness will not
    /// report the work that is already waiting.
    fn requeue(&mut self, key: usize) {
        if self.ready.push(&mut self.entries, key) {
            log::trace!("requeue #{key}: work left that no new event will announce");
        }
    }

    /// Serves each socket that was queued before this pass once (the
    /// fairness rule is `ReadyQueue`'s).
    fn serve_ready_queue(&mut self) {
        let mut pass = self.ready.start_pass();
        while let Some(key) = self.ready.next(&mut pass, &mut self.entries) {
            match self.entries.get(key) {
                Some(Entry::Listener { .. }) => self.accept_ready(key),
                Some(Entry::Udp { .. }) => self.udp_ready(key),
                Some(Entry::Conn(_)) => self.read_ready(key),
                Some(Entry::Refused { .. }) => self.refused_ready(key),
                // `next` yields only keys still in the slab.
                None => log::trace!("requeue #{key}: closed meanwhile"),
            }
        }
    }

    /// Keys of the entries that match `pred`.
    fn keys(&self, pred: impl Fn(&Entry) -> bool) -> Vec<usize> {
        self.entries
            .iter()
            .filter(|(_, e)| pred(e))
            .map(|(k, _)| k)
            .collect()
    }
}

#[cfg(test)]
mod phase_tests;
#[cfg(test)]
mod stall_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory is a feature: an idle connection costs its slab entry and
    /// nothing else, so the entry's size is the per-connection bound
    /// (docs/benchmarks.md measures 137-156 B of RSS per idle connection).
    #[test]
    fn a_slab_entry_stays_within_128_bytes() {
        assert!(
            std::mem::size_of::<Entry>() <= 128,
            "Entry grew to {} bytes",
            std::mem::size_of::<Entry>()
        );
    }
}
