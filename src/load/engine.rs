//! The generator's event loop ([`Engine`]): one thread, one `mio::Poll`,
//! the same edge-triggered rules as the server, from the same readiness
//! layer (`crate::readiness`: `read_some`, `OutBuf`, the ready queue,
//! `poll_events`).
//!
//! The engine composes parts that each own their state:
//! - `Conns` (`table.rs`): the sockets, the ready queue, the ramp-up's
//!   connects and their timeouts;
//! - `Clock` (`clock.rs`) and `Schedule` (`schedule.rs`, with the pacing
//!   timer in `pacing.rs`): the time, and which requests are due;
//! - `Meter` (`meter.rs`): what was measured, the tick, the live line and
//!   the `--hdr-log` file;
//!
//! and owns the loop, the run's phase (`phases.rs`) and the handlers
//! (`tcp.rs`, `udp.rs`). Every socket is registered once for READABLE |
//! WRITABLE: no `reregister` syscalls; WRITABLE means "connect finished"
//! while connecting and "room for pending requests" after, and is ignored
//! otherwise. One turn of the loop ([`Engine::run`]):
//!
//! 1. `advance`: the tick; the phase moves on when its time (or its
//!    condition) comes; connects due are started and expired; paced
//!    requests due are sent; UDP loss is checked;
//! 2. `poll` sleeps until an event or the nearest of those deadlines (not at
//!    all if the ready queue has work);
//! 3. the clock is read: the turn's `now`;
//! 4. each event goes to its socket's handler, which settles a connect or
//!    flushes, and queues the socket if there is anything to read;
//! 5. the ready-queue pass serves each queued socket once: read, verify,
//!    send what became due.
//!
//! Time is read once per turn, when `poll` returns, and passed to
//! everything until the next `poll`: every event that poll reports happened
//! before that reading. Replies are timed at it, requests sent in the pass
//! and in the `advance` that follows are stamped with it, and deadlines are
//! judged by it (so one fires at most one turn's work late, never early).
//! That is also why reads wait for the pass: a socket is read at most once
//! per reading, and sends come after its read, so no reply is timed with
//! the reading its request was stamped with (it would measure zero). The
//! one other clock read is a connect's start (`conn.rs`, `start_connect`).
//!
//! This differs from the server, which reads in `dispatch` and serves only
//! the leftovers in its pass: there a socket may be read twice in a turn.

use super::clock::{Clock, ns};
use super::config::LoadConfig;
use super::hdr_log::HdrLog;
use super::measurements::Measurements;
use super::meter::Meter;
use super::phases::Phases;
use super::scenario::udp::UdpEcho;
use super::scenario::{Pattern, Workload, echo, line, login};
use super::schedule::Schedule;
use super::table::{Conns, Entry};
use super::udp::UDP_BATCH;
use crate::readiness::datagrams::{RecvBatch, SendBatch};
use crate::readiness::poll_events;
use mio::{Events, Interest, Poll, Token};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::io;
use std::net::IpAddr;
use std::time::Duration;

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

/// How often UDP slots are checked for loss, which frees the slots of lost
/// datagrams. It decides nothing about replies: each is judged when it
/// arrives, by the same rule, so this period drops no latency samples.
pub(super) const UDP_LOSS_CHECK: Duration = Duration::from_millis(100);

/// The loop's one read buffer, and the fairness cap: a connection whose read
/// fills it is requeued behind the others. 64 KiB also holds any datagram.
pub const READ_CHUNK: usize = 64 * 1024;

/// Connects started per turn. One: a connect's completion is seen by the
/// `poll` that follows its own `connect()` call, so its latency is the
/// handshake, not the other connects issued in the same turn (at 256 per
/// turn, an unpaced ramp read p50 3,971 us against 70 us paced: issue 18).
/// The ramp pays one `epoll_wait` per connect for it (docs/benchmarks.md).
pub const CONNECT_BATCH: usize = 1;

/// Events taken from the kernel per `poll`.
const EVENTS_CAPACITY: usize = 1024;

/// The signal pipe's token: outside the slab's key range.
const SIGNALS: Token = Token(usize::MAX);

/// The pacing timerfd's token: outside the slab's key range.
const PACER: Token = Token(usize::MAX - 1);

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Opening connections; nothing is sent.
    Ramp,
    /// `--idle`: connections open, silent until the phase's end.
    Hold,
    /// The measured window, until the phase's end.
    Measure,
    /// No new requests; waiting for replies until the phase's end.
    Drain,
    /// Finished.
    Done,
}

/// The generator: the loop and the parts it composes.
pub struct Engine {
    pub(super) poll: Poll,
    pub(super) signals: Signals,
    pub(super) cfg: LoadConfig,
    pub(super) clock: Clock,
    /// The sockets.
    pub(super) conns: Conns,
    /// Which requests are due, and the pacing timer.
    pub(super) schedule: Schedule,
    /// What was measured.
    pub(super) meter: Meter,
    /// Where the run is; changed only through `Phases::set` (traced).
    pub(super) phases: Phases,
    /// What TCP connections say and expect back.
    pub(super) workload: Workload,
    /// What UDP sockets say and expect back.
    pub(super) udp_echo: UdpEcho,
    pub(super) rng: SmallRng,
    /// The loop's one read buffer ([`READ_CHUNK`]), made at the first read
    /// (`tcp_read`): a worker holding idle connections never needs it.
    pub(super) scratch: Box<[u8]>,
    /// Where requests are built before their one write (UDP: a batch of
    /// datagrams, back to back).
    pub(super) out: Vec<u8>,
    /// The loop's one batch of received datagrams (`udp.rs`).
    pub(super) udp_in: RecvBatch,
    /// The headers of one batch of datagrams to send.
    pub(super) udp_out: SendBatch,
    /// The target's kernel drop count before the run (`server_drops.rs`);
    /// `None` for TCP, or a target not on this host.
    pub(super) server_drops_before: Option<u32>,
    /// When UDP slots are next checked for loss.
    pub(super) next_loss_check: u64,
    /// `--find-max-rate`: the search in progress (`steps.rs`).
    pub(super) steps: Option<super::steps::Steps>,
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
            super::LoadService::Line => match &cfg.line {
                Some(spec) => Workload::Line(line::Line::new(
                    spec.send.clone(),
                    spec.expect.clone(),
                    rng.next_u64(),
                )),
                None => return Err("--service line needs --send and --expect".into()),
            },
        };
        let is_udp = cfg.service == super::LoadService::UdpEcho;
        let clock = Clock::start();
        // --start-at on this run's clock: the wall-clock wait from now.
        let window_at = cfg.start_at.map_or(0, |at| {
            let wait = at.duration_since(std::time::SystemTime::now());
            clock.now().saturating_add(wait.map_or(0, ns))
        });
        let mut conns = Conns::new(
            cfg.conns,
            cfg.depth,
            cfg.connect_rate,
            ns(cfg.connect_timeout),
        );
        if cfg.idle && cfg.stages.is_some() {
            // The stages open them (`conn_ramp.rs`), not a ramp-up.
            conns.want(0);
        }
        Ok(Engine {
            schedule: Schedule::new(cfg.rate, cfg.profile(), poll.registry(), PACER),
            poll,
            signals,
            conns,
            meter: Meter::new(hdr, cfg.live),
            phases: Phases::new(window_at),
            workload,
            udp_echo: UdpEcho::new(pattern, cfg.size),
            rng,
            scratch: Box::default(),
            out: Vec::new(),
            udp_in: RecvBatch::new(if is_udp { UDP_BATCH } else { 0 }),
            udp_out: SendBatch::default(),
            server_drops_before: is_udp
                .then(|| super::server_drops::target_drops(cfg.target))
                .flatten(),
            next_loss_check: 0,
            steps: cfg.search.as_ref().map(super::steps::Steps::new),
            clock,
            cfg,
        })
    }

    pub(super) fn is_udp(&self) -> bool {
        self.cfg.service == super::LoadService::UdpEcho
    }

    /// The source address of connection number `index` (`--source`).
    pub(super) fn source_for(&self, index: usize) -> Option<IpAddr> {
        let sources = &self.cfg.sources;
        (!sources.is_empty()).then(|| sources[index % sources.len()])
    }

    /// Runs ramp-up, window and drain; returns what was measured.
    pub fn run(mut self) -> io::Result<Measurements> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut now = self.clock.now();
        loop {
            self.advance(now);
            if self.phases.current() == Phase::Done {
                break;
            }
            let timeout = self.poll_timeout(now);
            self.schedule.arm_timer(&self.clock);
            poll_events(&mut self.poll, &mut events, timeout)?;
            now = self.clock.now();
            self.meter.rec.set_now(now);
            for event in events.iter() {
                self.dispatch(event, now);
            }
            self.serve_ready(now);
        }
        Ok(self.finish(now))
    }

    /// How long `poll` may sleep: not at all with queued work, else until
    /// the nearest deadline.
    fn poll_timeout(&self, now: u64) -> Option<Duration> {
        if self.conns.has_ready() {
            return Some(Duration::ZERO);
        }
        let phase = self.phases.current();
        // The last connection just failed (say churn's replacement connect,
        // in `advance`): stop now, not at the next deadline.
        if matches!(phase, Phase::Hold | Phase::Measure) && self.no_connection_left() {
            return Some(Duration::ZERO);
        }
        let mut at = self.meter.next_tick();
        if phase != Phase::Ramp {
            at = at.min(self.phases.until());
        } else if let Some(connect) = self.conns.next_connect_at(now) {
            at = at.min(connect);
        } else if self.phases.window_at() > now {
            // Every connect is started: wake for --start-at (once it has
            // passed, the window opens as the last connect settles).
            at = at.min(self.phases.window_at());
        }
        if phase == Phase::Hold && self.conns_follow_stages() {
            at = at.min(self.follow_deadline(now));
        }
        // Churn: the window's replacement connects (`churn.rs`).
        if phase == Phase::Measure
            && self.cfg.requests_per_conn.is_some()
            && let Some(connect) = self.conns.next_connect_at(now)
        {
            at = at.min(connect);
        }
        // No connect is timed out in the drain (none is started there; one
        // still in progress is left to finish or not): its deadline would
        // only spin the loop.
        if phase != Phase::Drain
            && let Some(timeout) = self.conns.connect_deadline()
        {
            at = at.min(timeout);
        }
        if let Some(due) = self.schedule.poll_deadline() {
            at = at.min(due);
        }
        if let Some(stop) = self.schedule.stop_deadline() {
            at = at.min(stop);
        }
        if self.is_udp() && self.meter.rec.outstanding() > 0 {
            at = at.min(self.next_loss_check);
        }
        // mio rounds the timeout up to whole milliseconds, so we never wake
        // early and spin.
        Some(Duration::from_nanos(at.saturating_sub(now)))
    }

    /// Routes one event to its socket's handler.
    fn dispatch(&mut self, event: &mio::event::Event, now: u64) {
        match event.token() {
            SIGNALS => self.on_signal(now),
            // advance() sends what is due at the start of the next turn.
            PACER => self.schedule.on_timer(),
            Token(key) => match self.conns.get(key) {
                // Stale token: closed earlier in this batch of events.
                // Harmless; if the key was reused, the pass finds nothing to
                // read.
                None => {}
                Some(Entry::Tcp(_)) => self.tcp_event(key, event, now),
                Some(Entry::Udp(_)) => self.udp_event(key, event),
            },
        }
    }

    /// The ready-queue pass: serves each socket queued before it once
    /// (this turn's events and last turn's leftovers); those queued during
    /// it wait for the next turn (fairness).
    fn serve_ready(&mut self, now: u64) {
        let mut pass = self.conns.start_pass();
        while let Some(key) = self.conns.next_ready(&mut pass) {
            match self.conns.get(key) {
                Some(Entry::Tcp(_)) => self.tcp_read(key, now),
                Some(Entry::Udp(_)) => self.udp_read(key, now),
                // `next_ready` returns only keys in the slab.
                None => {}
            }
        }
    }

    /// Sends what is due on `key` (TCP or UDP alike: the same schedule); its
    /// pacing wake-up, if it had one, has fired.
    pub(super) fn send_due(&mut self, key: usize, now: u64) {
        match self.conns.get_mut(key) {
            Some(Entry::Tcp(c)) => {
                c.timer_armed = false;
                self.refill(key, now, false);
            }
            Some(Entry::Udp(u)) => {
                u.timer_armed = false;
                self.udp_pump(key, now, false);
            }
            None => {}
        }
    }
}
