//! The generator's event loop: one thread, one `mio::Poll`, one `Slab` of
//! connections (or UDP sockets), the same edge-triggered rules as the server,
//! from the same readiness layer (`crate::readiness`: `read_some`, `OutBuf`,
//! the ready queue, `poll_events`).
//!
//! Every socket is registered once for READABLE | WRITABLE, edge-triggered:
//! no `reregister` syscalls; WRITABLE means "connect finished" while
//! connecting and "room for pending requests" after, and is ignored
//! otherwise. One turn of the loop:
//!
//! 1. [`Engine::advance`]: the run's phase moves on when its time (or its
//!    condition) comes; connects due are started; connects past
//!    `--connect-timeout`, pacing timers, UDP loss and the one-second tick
//!    fire;
//! 2. `poll` sleeps until an event or the nearest of those deadlines (not at
//!    all if the ready queue has work);
//! 3. each event goes to its socket's handler (`tcp.rs`, `udp.rs`);
//! 4. the ready queue is served once (sockets that stopped before
//!    `WouldBlock`).
//!
//! Time is read from the monotonic clock once per turn and once per read
//! event (the send time of the requests a reply triggers is the time that
//! reply was read), never per message.

use super::config::LoadConfig;
use super::conn::Conn;
use super::hdr_log::HdrLog;
use super::measurements::Measurements;
use super::pacing::Pacer;
use super::scenario::udp::UdpEcho;
use super::scenario::{Pattern, Workload, echo, login};
use super::stats::Recorder;
use super::udp::UdpConn;
use crate::readiness::{Queueable, ReadyQueue, poll_events};
use mio::{Events, Interest, Poll, Token};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

/// Default `--drain-timeout`: how long the drain after the window waits for
/// replies still in flight. Well above any healthy loopback latency and
/// above the UDP loss timeout, short enough that a server that stopped
/// answering fails the run quickly. (A million `--idle` connections all
/// answering at once on two cores need longer: raise it there.)
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// A UDP datagram unanswered this long is lost (loopback round trips take
/// microseconds; a second is forever, and keeps a dropped datagram from
/// holding its slot, or the run, hostage).
pub const UDP_LOSS_TIMEOUT: Duration = Duration::from_secs(1);

/// How often UDP slots are checked for loss.
const UDP_LOSS_CHECK: Duration = Duration::from_millis(100);

/// The loop's one read buffer, and the fairness cap: a connection whose read
/// fills it is requeued behind the others. 64 KiB also holds any datagram.
pub const READ_CHUNK: usize = 64 * 1024;

/// Unpaced connects started per turn, so connect completions and events are
/// served between batches instead of after thousands of `connect()` calls.
pub const CONNECT_BATCH: usize = 256;

/// Events taken from the kernel per `poll`.
const EVENTS_CAPACITY: usize = 1024;

/// The live line and HdrHistogram interval period.
pub(super) const TICK: Duration = Duration::from_secs(1);

/// The signal pipe's token: outside the slab's key range.
const SIGNALS: Token = Token(usize::MAX);

/// The pacing timerfd's token: outside the slab's key range.
const PACER: Token = Token(usize::MAX - 1);

/// Nanoseconds of a duration, saturating.
pub(super) fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One socket of the generator.
#[derive(Debug)]
pub(super) enum Entry {
    /// A TCP connection.
    Tcp(Conn),
    /// A UDP socket connected to the target.
    Udp(UdpConn),
}

impl Queueable for Entry {
    fn queued(&mut self) -> &mut bool {
        match self {
            Entry::Tcp(c) => &mut c.queued,
            Entry::Udp(u) => &mut u.queued,
        }
    }
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Opening connections; nothing is sent.
    Ramp,
    /// `--idle`: connections open, silent until `phase_until`.
    Hold,
    /// The measured window, until `phase_until`.
    Measure,
    /// No new requests; waiting for replies until `phase_until`.
    Drain,
    /// Finished.
    Done,
}

/// The generator: loop state, sockets, and what was measured so far.
pub struct Engine {
    pub(super) poll: Poll,
    pub(super) entries: Slab<Entry>,
    /// Sockets that stopped before `WouldBlock` (see module docs).
    pub(super) ready: ReadyQueue,
    pub(super) scratch: Box<[u8]>,
    /// Where requests are built before their one write.
    pub(super) out: Vec<u8>,
    /// `--depth` send-time slots per connection, at `key * depth` (ns; the
    /// intended time in open loop). Preallocated: no allocation per request.
    pub(super) send_times: Box<[u64]>,
    pub(super) workload: Workload,
    pub(super) udp_echo: UdpEcho,
    pub(super) cfg: LoadConfig,
    pub(super) clock: Instant,
    /// Nanoseconds since `clock`, refreshed each turn and each read.
    pub(super) now: u64,
    /// Where the run is; changed only by `set_phase` (phases.rs).
    pub(super) phase: Phase,
    /// When the phase began (ns): the drain's live-line label counts from it.
    pub(super) phase_since: u64,
    pub(super) phase_until: u64,
    /// Open loop: nanoseconds between a connection's requests.
    pub(super) interval_ns: Option<u64>,
    /// Open-loop pacing: due times, one per connection, and their timer.
    pub(super) pacer: Pacer,
    pub(super) connects_started: usize,
    /// Connects in progress, in start order = deadline order: (key, start).
    /// Entries of connects that finished stay until their deadline passes
    /// (bounded by `--conns`); `pending_connects` is the true count.
    pub(super) connecting: VecDeque<(usize, u64)>,
    pub(super) pending_connects: usize,
    pub(super) rec: Recorder,
    pub(super) rng: SmallRng,
    pub(super) signals: Signals,
    pub(super) window_open: bool,
    pub(super) window_start: u64,
    pub(super) cpu_at_start: f64,
    pub(super) last_tick: u64,
    pub(super) next_tick: u64,
    pub(super) next_loss_check: u64,
    pub(super) hdr: Option<HdrLog>,
}

impl Engine {
    /// Sets up the poll, signals, scenario and the `--hdr-log` file.
    pub fn new(cfg: LoadConfig) -> Result<Engine, String> {
        let poll = Poll::new().map_err(|e| format!("cannot create the poll: {e}"))?;
        let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("signals: {e}"))?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(|e| format!("signals: {e}"))?;
        let hdr = match &cfg.hdr_log {
            Some(path) => Some(
                HdrLog::create(path).map_err(|e| format!("--hdr-log {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let mut rng = SmallRng::from_rng(&mut rand::rng());
        let pattern = Pattern::from_seed(rng.next_u64());
        let workload = match cfg.service {
            super::LoadService::Greet => Workload::Greet,
            super::LoadService::Command => Workload::Command,
            super::LoadService::Login => {
                Workload::Login(login::Login::new(&cfg.user.0, &cfg.user.1))
            }
            super::LoadService::Echo | super::LoadService::UdpEcho => {
                Workload::Echo(echo::Echo::new(pattern.clone(), cfg.size))
            }
        };
        let slots = cfg.conns.saturating_mul(cfg.depth as usize);
        let pacer = Pacer::new(cfg.rate.is_some(), poll.registry(), PACER);
        Ok(Engine {
            poll,
            entries: Slab::with_capacity(cfg.conns.min(65_536)),
            ready: ReadyQueue::default(),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            out: Vec::new(),
            send_times: vec![0; slots].into_boxed_slice(),
            workload,
            udp_echo: UdpEcho::new(pattern, cfg.size),
            interval_ns: cfg.rate.map(|r| ((1e9 / r) as u64).max(1)),
            cfg,
            clock: Instant::now(),
            now: 0,
            phase: Phase::Ramp,
            phase_since: 0,
            phase_until: 0,
            pacer,
            connects_started: 0,
            connecting: VecDeque::new(),
            pending_connects: 0,
            rec: Recorder::default(),
            rng,
            signals,
            window_open: false,
            window_start: 0,
            cpu_at_start: 0.0,
            last_tick: 0,
            next_tick: ns(TICK),
            next_loss_check: 0,
            hdr,
        })
    }

    /// Nanoseconds since the run started.
    pub(super) fn clock_ns(&self) -> u64 {
        ns(self.clock.elapsed())
    }

    pub(super) fn is_udp(&self) -> bool {
        self.cfg.service == super::LoadService::UdpEcho
    }

    /// Runs ramp-up, window and drain; returns what was measured.
    pub fn run(mut self) -> io::Result<Measurements> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            self.advance();
            if self.phase == Phase::Done {
                break;
            }
            let timeout = self.poll_timeout();
            self.pacer.arm(self.clock_ns());
            poll_events(&mut self.poll, &mut events, timeout)?;
            self.now = self.clock_ns();
            for event in events.iter() {
                self.dispatch(event);
            }
            self.serve_ready_queue();
        }
        Ok(self.finish())
    }

    /// Moves the run along: the tick, phase changes, connects, timers.
    fn advance(&mut self) {
        self.now = self.clock_ns();
        // The tick first: an interval that ends as its phase ends (the
        // window's last second) is labelled with the phase it measured.
        if self.now >= self.next_tick {
            self.tick();
        }
        match self.phase {
            Phase::Ramp => {
                self.start_due_connects();
                self.expire_connects();
                if self.connects_started == self.cfg.conns && self.pending_connects == 0 {
                    // Free it, not just empty it: it held one entry per connection.
                    self.connecting = VecDeque::new();
                    self.begin_window();
                }
            }
            // Every connection failed or was closed: nothing is left to
            // measure, and nothing can be in flight to wait for.
            Phase::Hold | Phase::Measure if self.rec.open_now == 0 => {
                self.stop_no_connection_left();
            }
            Phase::Hold if self.now >= self.phase_until => {
                self.send_idle_requests();
                self.enter_drain();
            }
            Phase::Measure => {
                self.fire_pacing();
                if self.now >= self.phase_until {
                    self.end_window();
                    self.enter_drain();
                }
            }
            Phase::Drain if self.rec.outstanding == 0 || self.now >= self.phase_until => {
                self.end_window();
                self.set_phase(Phase::Done, self.now);
            }
            Phase::Hold | Phase::Drain | Phase::Done => {}
        }
        if self.is_udp() && self.now >= self.next_loss_check {
            self.next_loss_check = self.now + ns(UDP_LOSS_CHECK);
            self.check_udp_loss();
        }
    }

    /// How long `poll` may sleep: not at all with queued work, else until
    /// the nearest deadline.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        let mut at = self.next_tick;
        if self.phase != Phase::Ramp {
            at = at.min(self.phase_until);
        } else if self.connects_started < self.cfg.conns {
            at = at.min(self.next_connect_at());
        }
        if let Some(&(_, started)) = self.connecting.front() {
            at = at.min(started + ns(self.cfg.connect_timeout));
        }
        if !self.pacer.precise()
            && let Some(due) = self.pacer.next_at()
        {
            at = at.min(due);
        }
        if self.is_udp() && self.rec.outstanding > 0 {
            at = at.min(self.next_loss_check);
        }
        // mio rounds the timeout up to whole milliseconds, so we never wake
        // early and spin.
        Some(Duration::from_nanos(at.saturating_sub(self.now)))
    }

    /// Routes one event to its socket's handler.
    fn dispatch(&mut self, event: &mio::event::Event) {
        if event.token() == SIGNALS {
            return self.on_signal();
        }
        if event.token() == PACER {
            // advance() sends what is due at the start of the next turn.
            return self.pacer.on_timer();
        }
        let key = event.token().0;
        match self.entries.get_mut(key) {
            // Stale token: closed earlier in this batch of events. Harmless;
            // if the key was reused, the handlers find nothing to do.
            None => {}
            Some(Entry::Tcp(conn)) => {
                if event.is_read_closed() {
                    conn.peer_closed_seen = true;
                }
                self.tcp_event(key, event);
            }
            Some(Entry::Udp(_)) => self.udp_event(key, event),
        }
    }

    /// Puts a socket on the ready queue (once) to be served next turn. Used
    /// wherever we stop before `WouldBlock`: no new edge will report the
    /// data already waiting.
    pub(super) fn requeue(&mut self, key: usize) {
        self.ready.push(&mut self.entries, key);
    }

    /// Serves each socket queued before this pass once; those requeued
    /// during the pass wait for the next turn (fairness).
    fn serve_ready_queue(&mut self) {
        let mut pass = self.ready.start_pass();
        while let Some(key) = self.ready.next(&mut pass, &mut self.entries) {
            match self.entries.get(key) {
                Some(Entry::Tcp(_)) => self.tcp_read(key),
                Some(Entry::Udp(_)) => self.udp_read(key),
                // `next` returns only keys in the slab.
                None => {}
            }
        }
    }
}
