//! The run's phases ([`Phases`], the one place the phase changes) and what
//! moves them, for the loop in `engine.rs`: `advance` (once per turn), the
//! ramp-up's connects, opening and closing the measured window, the
//! window's first requests and `--idle`'s last ones, the drain (where the
//! open loop still sends what the window owes), stopping when no connection
//! is left, and signals. The final accounting is `tally.rs`.

use super::clock::ns;
use super::conn::State;
use super::engine::{CONNECT_BATCH, Engine, Phase, UDP_LOSS_CHECK};
use super::live::Stage;
use super::measurements::Measurements;
use super::schedule::Burst;
use super::series::Plan;
use super::stages::Profile;
use super::table::Entry;
use std::rc::Rc;

/// The report's error reason when the run stopped because every
/// connection had failed or been closed.
pub const STOPPED_NO_CONNECTION: &str = "stopped early: no connection left";

/// `--idle`: final requests sent per turn, so their replies are read
/// between batches and each request's stamp (the turn's `now`) is at most
/// one batch of writes old.
const IDLE_BATCH: usize = 256;

/// How late past `--start-at` a window may open before it is worth a
/// warning: a few loop turns (the window opens at the first turn after the
/// instant, and a turn may be a batch of events long).
const LATE_START_NS: u64 = 50_000_000;

/// Where the run is, since when, and until when.
#[derive(Debug)]
pub struct Phases {
    current: Phase,
    /// When the phase began (ns): the drain's live-line label counts from it.
    since: u64,
    /// When it ends by the clock (unused for [`Phase::Done`]).
    until: u64,
    /// `--idle`, after the hold: the next key to send the final request to.
    idle_cursor: usize,
    /// The earliest the measured window may open (ns; `--start-at`, else
    /// 0): ramp-up ends when its connects are done and this time has come.
    window_at: u64,
}

impl Phases {
    /// Ramp-up, with the window opening no earlier than `window_at`.
    pub fn new(window_at: u64) -> Phases {
        Phases {
            current: Phase::Ramp,
            since: 0,
            until: 0,
            idle_cursor: 0,
            window_at,
        }
    }

    /// When the window may open at the earliest (see `window_at`).
    pub fn window_at(&self) -> u64 {
        self.window_at
    }

    /// The phase now.
    pub fn current(&self) -> Phase {
        self.current
    }

    /// When it ends by the clock.
    pub fn until(&self) -> u64 {
        self.until
    }

    /// The one place the phase changes (traced).
    pub(super) fn set(&mut self, next: Phase, now: u64, until: u64) {
        log::trace!(
            "phase {:?} -> {next:?} at {:.3} s",
            self.current,
            now as f64 / 1e9
        );
        self.current = next;
        self.since = now;
        self.until = until;
    }
}

impl Engine {
    /// Moves the run along at `now`: the tick, phase changes, connects,
    /// timers.
    pub(super) fn advance(&mut self, now: u64) {
        // The tick first: an interval that ends as its phase ends (the
        // window's last second) is labelled with the phase it measured.
        let (stage, since) = self.label();
        self.meter.tick(now, stage, since);
        let until = self.phases.until;
        match self.phases.current {
            Phase::Ramp => {
                self.start_due_connects(now);
                self.expire_connects(now);
                // --start-at: every connection is up, and the window waits
                // for the agreed instant (unless none came up: nothing to
                // wait for, and `begin_window` says so at once; a hold whose
                // stages open the connections starts with none and waits).
                let none_up = self.meter.rec.open_now() == 0 && !self.conns_follow_stages();
                let due = now >= self.phases.window_at || none_up;
                if self.conns.ramp_done() && due {
                    self.begin_window(now);
                }
            }
            // Every connection failed or was closed: nothing is left to
            // measure, and nothing can be in flight to wait for.
            // (A hold that follows stages may have none on purpose; under
            // churn, a slot between its close and its replacement is not
            // gone.)
            Phase::Hold | Phase::Measure if self.no_connection_left() => {
                self.stop_no_connection_left(now);
            }
            Phase::Hold if now >= until => {
                if self.send_idle_requests(now) {
                    self.enter_drain(now);
                }
            }
            Phase::Hold if self.conns_follow_stages() => self.follow_stages(now),
            Phase::Measure => {
                self.churn_connects(now);
                self.send_paced(now);
                if now >= until {
                    self.meter.close_window(now);
                    self.enter_drain(now);
                }
            }
            // Nothing in flight: every connection with requests still owed
            // has a free slot, so it sent them when they fell due.
            Phase::Drain if self.meter.rec.outstanding() == 0 || now >= until => {
                self.meter.close_window(now);
                self.stop_sending();
                // A capacity search goes on with its next step, if any.
                if !self.next_step(now) {
                    self.phases.set(Phase::Done, now, now);
                }
            }
            // Open loop: requests the window owes still go out, until the
            // drain's middle.
            Phase::Drain if self.schedule.stop_due(now) => self.stop_sending(),
            Phase::Drain => self.send_paced(now),
            Phase::Hold | Phase::Done => {}
        }
        if self.is_udp() && now >= self.next_loss_check {
            self.next_loss_check = now + ns(UDP_LOSS_CHECK);
            self.check_udp_loss(now);
        }
    }

    /// Sends what the pacing wake-ups due at `now` make due.
    fn send_paced(&mut self, now: u64) {
        while let Some(key) = self.schedule.pop_due(now) {
            self.send_due(key, now);
        }
    }

    /// The live line's label for the current phase: its stage, and since
    /// when its seconds count (ramp: the run's start).
    fn label(&self) -> (Stage, u64) {
        match self.phases.current {
            Phase::Ramp => (Stage::Ramp, 0),
            Phase::Hold | Phase::Measure => (Stage::Window, self.meter.window_start()),
            Phase::Drain | Phase::Done => (Stage::Drain, self.phases.since),
        }
    }

    /// Starts the connects that are due, at most [`CONNECT_BATCH`] a turn.
    fn start_due_connects(&mut self, now: u64) {
        for _ in 0..CONNECT_BATCH {
            let Some(index) = self.conns.take_due_connect(now) else {
                return;
            };
            if self.is_udp() {
                self.open_udp(index);
            } else {
                self.start_tcp_connect(index);
            }
        }
    }

    /// SIGINT/SIGTERM: stop early but still report. A second one ends now.
    pub(super) fn on_signal(&mut self, now: u64) {
        let got = self.signals.pending().count();
        if got == 0 {
            return;
        }
        eprintln!("sockloop load: interrupted, finishing");
        self.meter.rec.error("interrupted");
        if let Some(steps) = self.steps.as_mut() {
            steps.interrupt();
        }
        self.meter.close_window(now);
        match self.phases.current {
            Phase::Ramp | Phase::Drain | Phase::Done => {
                self.stop_sending();
                self.phases.set(Phase::Done, now, now);
            }
            Phase::Hold | Phase::Measure => self.enter_drain(now),
        }
    }

    /// Ramp-up is over: the measured window starts now.
    fn begin_window(&mut self, now: u64) {
        let late = now.saturating_sub(self.phases.window_at);
        if self.cfg.start_at.is_some() && late > LATE_START_NS {
            log::warn!(
                "ramp-up ended {:.3} s after --start-at: this window opens late \
                 (start earlier, or raise --connect-rate)",
                late as f64 / 1e9
            );
        }
        self.meter.open_window(now, self.plan());
        if self.meter.rec.open_now() == 0 && !self.conns_follow_stages() {
            return self.stop_no_connection_left(now);
        }
        let until = now + ns(self.cfg.duration);
        if self.cfg.idle {
            self.phases.set(Phase::Hold, now, until);
        } else {
            self.phases.set(Phase::Measure, now, until);
            self.start_requests(now, until);
        }
    }

    /// What the window asks for, to label the series' seconds.
    fn plan(&self) -> Plan {
        let conns = self.conns.keys().len() as f64;
        if let Some(search) = &self.cfg.search {
            return Plan::Step {
                index: 0,
                rate: search.from,
            };
        }
        match (&self.cfg.stages, self.cfg.rate) {
            (Some(stages), _) => Plan::Stages {
                profile: Rc::new(Profile::new(stages)),
                rate: !self.cfg.idle,
            },
            (None, Some(rate)) if !self.cfg.idle => Plan::Even(rate * conns),
            _ => Plan::Closed,
        }
    }

    /// Window start, until `until`: every connection's first requests (open
    /// loop: first intended times spread over one interval).
    pub(super) fn start_requests(&mut self, now: u64, until: u64) {
        let keys = self.conns.keys();
        self.schedule.open(now, until, keys.len());
        for (i, &key) in keys.iter().enumerate() {
            let first = self.schedule.first_intended(now, i, keys.len());
            match self.conns.get_mut(key) {
                Some(Entry::Tcp(c)) => c.next_intended = first,
                Some(Entry::Udp(u)) => u.next_intended = first,
                None => continue,
            }
            self.send_due(key, now);
        }
    }

    /// `--idle`, end of the hold: exactly one request on every connection,
    /// [`IDLE_BATCH`] a turn. Whether all are sent.
    fn send_idle_requests(&mut self, now: u64) -> bool {
        for _ in 0..IDLE_BATCH {
            let Some(key) = self.conns.next_key(self.phases.idle_cursor) else {
                return true;
            };
            self.phases.idle_cursor = key + 1;
            match self.conns.get(key) {
                Some(Entry::Tcp(c)) if c.state == State::Open => {
                    self.send_requests(key, &Burst::now(1, now));
                }
                Some(Entry::Udp(_)) => {
                    self.udp_send_one(key, now, now);
                }
                // Every connect has finished by the end of the ramp-up.
                Some(Entry::Tcp(_)) | None => {}
            }
        }
        false
    }

    /// Every connection failed or was closed: says so and ends the run now,
    /// instead of idling through the rest of the window and the drain.
    fn stop_no_connection_left(&mut self, now: u64) {
        let m = self.meter.rec.totals();
        let conns = self.cfg.conns as u64;
        // Each connection ends one way: never up, closed by the server, or
        // closed by us after a wrong reply.
        let dropped = conns.saturating_sub(m.failed + m.closed_by_server);
        let ways: Vec<String> = [
            (m.failed, "could not connect"),
            (m.closed_by_server, "closed by the server"),
            (dropped, "dropped after a wrong reply"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, how)| format!("{n} {how}"))
        .collect();
        let worker = self
            .cfg
            .worker
            .map_or(String::new(), |i| format!("worker {i}: "));
        eprintln!(
            "sockloop load: {worker}all {conns} connections failed ({}); stopping",
            ways.join(", ")
        );
        self.meter.rec.error(STOPPED_NO_CONNECTION);
        self.meter.close_window(now);
        // The schedule ends with the window it stopped.
        self.schedule.end_window(now, 0);
        self.stop_sending();
        self.phases.set(Phase::Done, now, now);
    }

    /// No more new requests; wait for those in flight (and, open loop, send
    /// those the window owes).
    fn enter_drain(&mut self, now: u64) {
        // What is left of the current interval belongs to the window: it is
        // shown and logged as the window's, so no interval mixes the two.
        let (stage, since) = self.label();
        self.meter.cut_interval(now, stage, since);
        let drain = ns(self.cfg.drain_timeout);
        self.phases.set(Phase::Drain, now, now + drain);
        self.schedule.end_window(now, drain);
    }

    /// Closes the books at `now`: unsent and unanswered requests, the last
    /// interval.
    pub(super) fn finish(mut self, now: u64) -> Measurements {
        self.stop_sending();
        self.count_unanswered();
        self.count_udp_drops();
        let (stage, since) = self.label();
        let measured = self.meter.finish(now, stage, since);
        match self.steps.take() {
            Some(steps) => steps.finish(&measured),
            None => measured,
        }
    }
}
