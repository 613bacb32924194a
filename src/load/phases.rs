//! The run's phases and its clock-driven chores, for the loop in
//! `engine.rs`: pacing the ramp-up's connects and expiring slow ones,
//! opening and closing the measured window (and its CPU measurement), the
//! drain, stopping when no connection is left, signals, the one-second
//! tick, and the final accounting.

use super::engine::{CONNECT_BATCH, Engine, Phase, TICK, ns};
use super::live::{Progress, Stage};
use super::measurements::Measurements;
use std::time::Duration;

/// The report's error reason when the run stopped because every
/// connection had failed or been closed.
pub const STOPPED_NO_CONNECTION: &str = "stopped early: no connection left";

impl Engine {
    /// The one place the phase changes (traced): `until` is when it ends
    /// by the clock (unused for [`Phase::Done`]).
    pub(super) fn set_phase(&mut self, next: Phase, until: u64) {
        log::trace!(
            "phase {:?} -> {next:?} at {:.3} s",
            self.phase,
            self.now as f64 / 1e9
        );
        self.phase = next;
        self.phase_since = self.now;
        self.phase_until = until;
    }

    /// When connect number `connects_started` is due (ramp start = 0).
    pub(super) fn next_connect_at(&self) -> u64 {
        if self.cfg.connect_rate > 0.0 {
            (self.connects_started as f64 * 1e9 / self.cfg.connect_rate) as u64
        } else {
            self.now
        }
    }

    /// Starts the connects that are due, at most [`CONNECT_BATCH`] a turn.
    pub(super) fn start_due_connects(&mut self) {
        for _ in 0..CONNECT_BATCH {
            if self.connects_started >= self.cfg.conns || self.next_connect_at() > self.now {
                return;
            }
            let index = self.connects_started;
            self.connects_started += 1;
            if self.is_udp() {
                self.open_udp(index);
            } else {
                self.start_tcp_connect(index);
            }
        }
    }

    /// Fails connects that outlived `--connect-timeout`.
    pub(super) fn expire_connects(&mut self) {
        let limit = ns(self.cfg.connect_timeout);
        while let Some(&(key, started)) = self.connecting.front() {
            if started + limit > self.now {
                break;
            }
            self.connecting.pop_front();
            self.connect_timed_out(key, started);
        }
    }

    /// SIGINT/SIGTERM: stop early but still report. A second one ends now.
    pub(super) fn on_signal(&mut self) {
        let got = self.signals.pending().count();
        if got == 0 {
            return;
        }
        eprintln!("sockloop load: interrupted, finishing");
        self.rec.m.error("interrupted");
        match self.phase {
            Phase::Ramp | Phase::Drain | Phase::Done => {
                self.end_window();
                self.set_phase(Phase::Done, self.now);
            }
            Phase::Hold | Phase::Measure => {
                self.end_window();
                self.enter_drain();
            }
        }
    }

    /// Ramp-up is over: the measured window starts now.
    pub(super) fn begin_window(&mut self) {
        self.window_start = self.now;
        self.rec.m.ramp_secs = self.now as f64 / 1e9;
        self.window_open = true;
        self.cpu_at_start = cpu_seconds();
        self.rec.in_window = true;
        // Align the ticks (and HdrHistogram intervals) with the window.
        self.rec.fold();
        self.last_tick = self.now;
        self.next_tick = self.now + ns(TICK);
        if self.rec.open_now == 0 {
            return self.stop_no_connection_left();
        }
        let until = self.now + ns(self.cfg.duration);
        if self.cfg.idle {
            self.set_phase(Phase::Hold, until);
        } else {
            self.set_phase(Phase::Measure, until);
            self.start_requests();
        }
    }

    /// Every connection failed or was closed: says so and ends the run now,
    /// instead of idling through the rest of the window and the drain.
    pub(super) fn stop_no_connection_left(&mut self) {
        let m = &self.rec.m;
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
        self.rec.m.error(STOPPED_NO_CONNECTION);
        self.end_window();
        self.set_phase(Phase::Done, self.now);
    }

    /// Leaves the window (once): its length and the CPU spent in it.
    pub(super) fn end_window(&mut self) {
        if !self.window_open {
            return;
        }
        self.window_open = false;
        self.rec.in_window = false;
        self.rec.m.window_secs = (self.now - self.window_start) as f64 / 1e9;
        self.rec.m.cpu_secs = (cpu_seconds() - self.cpu_at_start).max(0.0);
    }

    /// No more new requests; wait for those in flight.
    pub(super) fn enter_drain(&mut self) {
        // What is left of the current interval belongs to the window: it is
        // shown and logged as the window's, so no interval mixes the two.
        // (A window of whole seconds has just had its tick: nothing left.)
        if self.now > self.last_tick {
            self.end_interval().show(self.cfg.live);
        }
        self.set_phase(Phase::Drain, self.now + ns(self.cfg.drain_timeout));
        self.pacer.clear();
    }

    /// The one-second tick: the live line and HdrHistogram interval.
    pub(super) fn tick(&mut self) {
        self.end_interval().show(self.cfg.live);
        // On a fixed grid from the window's start (no drift), unless the loop
        // fell a whole tick behind.
        self.next_tick = (self.next_tick + ns(TICK)).max(self.now + 1);
        if self.next_tick + ns(TICK) <= self.now {
            self.next_tick = self.now + ns(TICK);
        }
    }

    /// Ends the current interval: logs it, folds it into the total, and
    /// returns what it measured, labelled with the phase it belongs to.
    pub(super) fn end_interval(&mut self) -> Progress {
        let secs = (self.now - self.last_tick) as f64 / 1e9;
        let (stage, since) = match self.phase {
            Phase::Ramp => (Stage::Ramp, 0),
            Phase::Hold | Phase::Measure => (Stage::Window, self.window_start),
            Phase::Drain | Phase::Done => (Stage::Drain, self.phase_since),
        };
        let at_secs = self.now.saturating_sub(since) as f64 / 1e9;
        let (start, length) = (self.last_tick, self.now - self.last_tick);
        let hdr = if self.phase == Phase::Ramp {
            None
        } else {
            self.hdr.as_mut()
        };
        let progress = self.rec.tick(stage, at_secs, secs, |h| {
            if let Some(log) = hdr {
                log.interval(h, Duration::from_nanos(start), Duration::from_nanos(length));
            }
        });
        self.last_tick = self.now;
        progress
    }

    /// Closes the books: unanswered requests, the last interval.
    pub(super) fn finish(mut self) -> Measurements {
        self.count_unanswered();
        // The last, partial interval goes to the log but not to the screen:
        // its rates over a few milliseconds would only mislead.
        if self.now > self.last_tick {
            self.end_interval();
        }
        if let Some(log) = self.hdr.as_mut() {
            log.finish();
        }
        self.rec.fold();
        std::mem::take(&mut self.rec.m)
    }
}

/// The process's CPU time so far (user + system), in seconds.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: see above; RUSAGE_SELF is always valid.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
